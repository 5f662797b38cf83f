/* Says "ready" and waits for stdin.  A line "go": makes 50 getppid calls, says "done",
 * exits 0.  SIGHUP, SIGINT, SIGQUIT or SIGTERM while it waits: says "caught SIGNUM"
 * and exits 0.  The signals are blocked but while it waits (ppoll), so that one that
 * comes before the wait is not lost. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t caught;

static void on_signal(int sig) {
    caught = sig;
}

int main(void) {
    struct sigaction sa;
    sigset_t block, old;
    int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&block);
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        if (sigaction(sigs[i], &sa, NULL))
            return 1;
        sigaddset(&block, sigs[i]);
    }
    sigprocmask(SIG_BLOCK, &block, &old);
    printf("ready\n");
    fflush(stdout);
    struct pollfd in = {.fd = 0, .events = POLLIN};
    int n = ppoll(&in, 1, NULL, &old);
    if (n < 0 && errno == EINTR && caught) {
        printf("caught %d\n", (int)caught);
        return 0;
    }
    char buf[16];
    if (n != 1 || read(0, buf, sizeof buf) != 3 || memcmp(buf, "go\n", 3) != 0) {
        printf("bad wait %d\n", n);
        return 1;
    }
    for (int i = 0; i < 50; i++)
        syscall(SYS_getppid);
    printf("done\n");
    return 0;
}
