/* Attacks on the tracer, the program's parent under trace-run: attacks MODE, MODE one of
     ptrace_parent   ptrace(PTRACE_SEIZE, getppid()) then PTRACE_INTERRUPT
     kill_parent     kill(getppid(), SIGSTOP)
     signal_parent   tkill, tgkill and rt_sigqueueinfo with SIGSTOP, kill with SIGUSR1,
                     SIGTERM and SIGKILL, all at getppid()
     pidfd_parent    pidfd_open(getppid()), pidfd_send_signal(SIGSTOP) through an fd of
                     /proc/PPID, process_vm_readv and prlimit64 on getppid()
     sigterm_parent  kill(getppid(), SIGTERM) (trace-run runs with --detach-on-exit)
     kill0_tstp      kill(0, SIGTSTP) from a program that ignores SIGTSTP, with a child
                     that does not: the child must stop, trace-run must not
   Each attack's result is an "I" line; under the kernel alone (ESCAPE_ORACLE) the
   attacks on the parent are skipped.  Then the marker; exits 7. */
#include "escape.h"
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>

static void attack(const char *what, long rc) {
    say("I %s %s", what, rc < 0 ? strerrorname_np(errno) : "ok");
}

static int ptrace_parent(pid_t pp) {
    attack("ptrace-seize", ptrace(PTRACE_SEIZE, pp, 0, 0));
    attack("ptrace-interrupt", ptrace(PTRACE_INTERRUPT, pp, 0, 0));
    return 0;
}

static int signal_parent(pid_t pp) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    attack("tkill-stop", syscall(SYS_tkill, pp, SIGSTOP));
    attack("tgkill-stop", syscall(SYS_tgkill, pp, pp, SIGSTOP));
    attack("sigqueueinfo-stop", syscall(SYS_rt_sigqueueinfo, pp, SIGSTOP, &si));
    attack("kill-usr1", kill(pp, SIGUSR1));
    attack("kill-term", kill(pp, SIGTERM));
    attack("kill-kill", kill(pp, SIGKILL));
    attack("kill-zero", kill(pp, 0));
    return 0;
}

static int pidfd_parent(pid_t pp) {
    char path[64], buf[16];
    attack("pidfd-open", syscall(SYS_pidfd_open, pp, 0));
    snprintf(path, sizeof path, "/proc/%d", (int)pp);
    int dfd = open(path, O_RDONLY | O_DIRECTORY);
    attack("pidfd-send-stop", syscall(SYS_pidfd_send_signal, dfd, SIGSTOP, NULL, 0));
    struct iovec local = {buf, sizeof buf}, remote = {(void *)0x400000, sizeof buf};
    attack("vm-readv", syscall(SYS_process_vm_readv, pp, &local, 1, &remote, 1, 0));
    struct rlimit lim = {16, 16};
    attack("prlimit-set", syscall(SYS_prlimit64, pp, RLIMIT_NOFILE, &lim, NULL));
    attack("prlimit-get", syscall(SYS_prlimit64, pp, RLIMIT_NOFILE, NULL, &lim));
    return 0;
}

static int kill0_tstp(void) {
    signal(SIGTSTP, SIG_IGN);
    int gate[2];
    if (pipe(gate))
        return 95;
    pid_t child = fork();
    if (child == 0) {
        signal(SIGTSTP, SIG_DFL);
        close(gate[0]);
        if (write(gate[1], "r", 1) != 1)  /* ready: its disposition is the default */
            _exit(3);
        for (;;)
            pause();
    }
    char c;
    close(gate[1]);
    if (read(gate[0], &c, 1) != 1)
        return 94;
    attack("kill0-tstp", kill(0, SIGTSTP));
    int st;
    pid_t w;
    while ((w = waitpid(child, &st, WUNTRACED)) < 0 && errno == EINTR)
        ;
    say("M kill0-child %s", w == child && WIFSTOPPED(st) ? "stopped" : "not-stopped");
    kill(child, SIGKILL);
    kill(child, SIGCONT);
    while (waitpid(child, &st, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "";
    pid_t pp = getppid();
    int skip = oracle();
    if (!strcmp(m, "ptrace_parent")) { if (!skip) ptrace_parent(pp); }
    else if (!strcmp(m, "kill_parent")) { if (!skip) attack("kill-stop", kill(pp, SIGSTOP)); }
    else if (!strcmp(m, "signal_parent")) { if (!skip) signal_parent(pp); }
    else if (!strcmp(m, "pidfd_parent")) { if (!skip) pidfd_parent(pp); }
    else if (!strcmp(m, "sigterm_parent")) { if (!skip) attack("kill-term", kill(pp, SIGTERM)); }
    else if (!strcmp(m, "kill0_tstp")) kill0_tstp();
    else return 90;
    mark("after-attack");
    return 7;
}
