/* Parity case: signals to self.  A SIGUSR1 handler (kill + rt_sigreturn), SIGUSR2
 * blocked, raised, seen by rt_sigpending and delivered on unblock, SIGCHLD ignored for a
 * child that exits, then death by SIGTERM ("+++ killed by SIGTERM +++"). */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t hits;

static void on_signal(int sig) { hits += sig; }

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    kill(getpid(), SIGUSR1);

    sigset_t set, old, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, &old);
    kill(getpid(), SIGUSR2);
    sigpending(&pend);
    sigprocmask(SIG_SETMASK, &old, NULL);

    pid_t child = fork();
    if (child == 0)
        _exit(7);
    int status = 0;
    waitpid(child, &status, 0);
    signal(SIGTERM, SIG_DFL);
    kill(getpid(), SIGTERM);
    return 1;
}
