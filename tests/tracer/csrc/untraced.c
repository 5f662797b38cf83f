/* Children made with CLONE_UNTRACED, from several threads: raw clone, raw clone3 (and
   i386 clone and clone3 through int 0x80 from the main thread).  Each child writes its pid to a
   pipe and blocks in pause().  The parent prints "child PID" for each, then "ready",
   and blocks too, until it is killed. */
#define _GNU_SOURCE
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS 3
static int pipefd[2];

static void child(void) {
    pid_t pid = (pid_t)syscall(SYS_getpid);
    syscall(SYS_write, pipefd[1], &pid, sizeof pid);
    for (;;)
        syscall(SYS_pause);
}

static void with_clone(void) {
    long r = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0L, NULL, NULL, 0L);
    if (r == 0)
        child();
}

static void with_clone3(void) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_UNTRACED;
    args.exit_signal = SIGCHLD;
    long r = syscall(SYS_clone3, &args, sizeof args);
    if (r == 0)
        child();
}

static void with_int80_clone(void) {
    long r;
    /* i386 clone (120): flags in ebx, no new stack: fork-like, returns twice */
    __asm__ volatile("int $0x80" : "=a"(r)
                     : "a"(120L), "b"((long)(CLONE_UNTRACED | SIGCHLD)), "c"(0L), "d"(0L),
                       "S"(0L), "D"(0L)
                     : "memory");
    if (r == 0)
        child();
}

static void with_int80_clone3(void) {
    /* i386 clone3 (435): the struct below 4 GiB, as a 32-bit pointer must be */
    struct clone_args *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    long r;
    if (args == MAP_FAILED)
        return;
    args->flags = CLONE_UNTRACED;
    args->exit_signal = SIGCHLD;
    __asm__ volatile("int $0x80" : "=a"(r)
                     : "a"(435L), "b"((long)args), "c"((long)sizeof *args)
                     : "memory");
    if (r == 0)
        child();
}

static void *thread(void *arg) {
    (void)arg;
    with_clone();
    with_clone3();
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    int expected = THREADS * 2 + 2;
    if (pipe(pipefd))
        return 2;
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, thread, NULL);
    with_int80_clone();
    with_int80_clone3();
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < expected; i++) {
        pid_t pid;
        if (read(pipefd[0], &pid, sizeof pid) != sizeof pid)
            return 3;
        printf("child %d\n", pid);
    }
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
