/* A process to attach to: NTHREADS threads, each doing its share of work in two
 * phases, each phase started by a line on stdin.
 *
 *   prints "thread TID" for each thread, then "ready"; reads a line (go 1);
 *   phase 1: each thread makes NCALLS getppid calls and writes NCALLS numbers into a
 *   pipe the main thread reads and sums; the threads then block in read() for go 2
 *   (each thread on a pipe of its own, so that each does exactly its share);
 *   prints "phase 1 SUM" and blocks in read() on stdin (go 2);
 *   phase 2: the same again; prints "sum SUM ok" (or "... BAD") and exits 0 (1). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NTHREADS 4
#define NCALLS 200

static int data[2], go[NTHREADS][2];  /* a go pipe per thread */

static void die(const char *what) {
    printf("%s failed\n", what);
    fflush(stdout);
    exit(1);
}

static void wait_go(long t) {
    char c;
    if (read(go[t - 1][0], &c, 1) != 1)
        die("read go");
}

static void phase(long t) {
    for (long i = 0; i < NCALLS; i++) {
        long v = t * 1000 + i;
        syscall(SYS_getppid);
        if (write(data[1], &v, sizeof v) != sizeof v)
            die("write");
    }
}

static void *work(void *arg) {
    long t = (long)arg;
    printf("thread %ld\n", (long)syscall(SYS_gettid));
    fflush(stdout);
    for (int p = 0; p < 2; p++) {
        wait_go(t);
        phase(t);
    }
    return NULL;
}

static long collect(void) {
    long sum = 0;
    for (int n = 0; n < NTHREADS * NCALLS; n++) {
        long v;
        size_t got = 0;
        while (got < sizeof v) {     /* a pipe read may return part of a value */
            ssize_t r = read(data[0], (char *)&v + got, sizeof v - got);
            if (r <= 0)
                die("read data");
            got += (size_t)r;
        }
        sum += v;
    }
    return sum;
}

static void read_line(void) {
    char buf[64];
    ssize_t r = read(0, buf, sizeof buf);   /* blocks: the test writes "go\n" */
    if (r != 3 || memcmp(buf, "go\n", 3) != 0)
        die("read stdin");
}

int main(void) {
    pthread_t th[NTHREADS];
    if (pipe(data))
        die("pipe");
    for (int t = 0; t < NTHREADS; t++)
        if (pipe(go[t]))
            die("pipe");
    for (long t = 0; t < NTHREADS; t++)
        pthread_create(&th[t], NULL, work, (void *)(t + 1));
    /* the threads print their tid before their first read of go: wait for all 4 */
    printf("ready\n");
    fflush(stdout);
    long total = 0, want = 0;
    for (long t = 1; t <= NTHREADS; t++)
        want += 2 * (t * 1000 * NCALLS + (long)NCALLS * (NCALLS - 1) / 2);
    for (int p = 1; p <= 2; p++) {
        read_line();
        for (int t = 0; t < NTHREADS; t++)
            if (write(go[t][1], "g", 1) != 1)
                die("write go");
        total += collect();
        if (p == 1) {
            printf("phase 1 %ld\n", total);
            fflush(stdout);
        }
    }
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    printf("sum %ld %s\n", total, total == want ? "ok" : "BAD");
    return total == want ? 0 : 1;
}
