/* NTHREADS threads (argv[1]) each make NCALLS (argv[2]) getppid syscalls at once. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static int ncalls;
static pthread_barrier_t barrier;

static void *work(void *arg) {
    (void)arg;
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < ncalls; i++)
        syscall(SYS_getppid);
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4;
    ncalls = argc > 2 ? atoi(argv[2]) : 100;
    pthread_t t[64];
    pthread_barrier_init(&barrier, NULL, n);
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, work, NULL);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    printf("ok\n");
    return 0;
}
