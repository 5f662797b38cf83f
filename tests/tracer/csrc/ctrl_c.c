/* A program that cleans up on SIGINT: it installs a handler, says "ready", waits for
 * the signal (sigsuspend), then says "cleaned up" and exits 0.  Any other way out
 * exits 1. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_int(int sig) {
    (void)sig;
    got = 1;
}

int main(void) {
    struct sigaction sa;
    sigset_t block, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_int;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL))
        return 1;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);   /* no SIGINT lost between test and wait */
    printf("ready\n");
    fflush(stdout);
    while (!got)
        sigsuspend(&old);
    printf("cleaned up\n");
    fflush(stdout);
    return 0;
}
