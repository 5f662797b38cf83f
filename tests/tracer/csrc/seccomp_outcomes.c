/* seccomp's own outcomes, seen from the program: TRAP's SIGSYS siginfo and return
 * value, KILL_THREAD (only the thread dies), KILL_PROCESS.
 *
 *   seccomp_outcomes [kernel] trap|thread|process
 *
 * With "kernel" the program first installs a seccomp filter of its own giving the same
 * outcomes as tests/tracer/test_prefilter.py's profile (chdir: TRAP, rmdir:
 * KILL_THREAD, mkdir: KILL_PROCESS), so the kernel's answer can be compared with
 * trace-run's --policy run of the same program without it. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static void install(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_THREAD),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_chdir, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rmdir, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_THREAD),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mkdir, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof f / sizeof f[0], f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
        perror("seccomp");
        exit(100);
    }
}

static volatile long seen_rax, seen_r9, seen_nr, seen_code, seen_errno, seen_arch, seen_addr;

static void on_sigsys(int sig, siginfo_t *si, void *uc_)
{
    ucontext_t *uc = uc_;
    (void)sig;
    seen_code = si->si_code;
    seen_errno = si->si_errno;
    seen_nr = si->si_syscall;
    seen_arch = si->si_arch;
    seen_addr = (long)si->si_call_addr;
    seen_rax = uc->uc_mcontext.gregs[REG_RAX];
    seen_r9 = uc->uc_mcontext.gregs[REG_R9];
}

static void *thread_main(void *arg)
{
    (void)arg;
    syscall(SYS_rmdir, "/nonexistent-seccomp-outcomes");
    printf("thread survived\n");
    return NULL;
}

int main(int argc, char **argv)
{
    int a = 1;
    if (argc > 2 && strcmp(argv[1], "kernel") == 0) {
        install();
        a = 2;
    }
    if (a >= argc)
        return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (strcmp(argv[a], "trap") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigsys;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGSYS, &sa, NULL);
        /* a raw syscall with r9 set, to see that the program's own registers are kept */
        long ret;
        register long r9 __asm__("r9") = 0x1234;
        __asm__ volatile("syscall" : "=a"(ret) : "0"((long)SYS_chdir), "D"("/"), "r"(r9)
                         : "rcx", "r11", "memory");
        printf("code=%ld errno=%ld syscall=%ld arch=%#lx addr=%s rax=%ld r9=%#lx ret=%ld\n",
               seen_code, seen_errno, seen_nr, seen_arch, seen_addr ? "set" : "0",
               seen_rax, seen_r9, ret);
        return 0;
    }
    if (strcmp(argv[a], "thread") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, thread_main, NULL);
        pthread_join(t, NULL);
        printf("main survived\n");
        return 3;
    }
    if (strcmp(argv[a], "process") == 0) {
        syscall(SYS_mkdir, "/nonexistent-seccomp-outcomes/x", 0700);
        printf("process survived\n");
        return 4;
    }
    return 2;
}
