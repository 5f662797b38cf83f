/* A SIGUSR1 handler runs (raised by itself, then by the tracer if it sends one). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_usr1(int sig) {
    (void)sig;
    got++;
    write(1, "handled\n", 8);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("got %d\n", (int)got);
    return got == 1 ? 0 : 1;
}
