/* A non-leader thread calls execve: its tid becomes the process's pid. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *run(void *arg) {
    (void)arg;
    execl("/bin/sh", "sh", "-c", "echo exec-from-thread $$; exit 7", (char *)NULL);
    return NULL;
}

int main(void) {
    pthread_t t;
    printf("leader %d\n", getpid());
    fflush(stdout);
    pthread_create(&t, NULL, run, NULL);
    for (;;)
        pause();
}
