/* Syscalls on demand for the --compare table (tests/policy/test_compare.py).

   sc CALL...   each CALL is NR[:ARG...] (numbers in C notation, up to 6 arguments), run
                with syscall(2) in order; prints "NR=RET" or "NR=-ERRNONAME" per call.
   sc trap NR   a SIGSYS handler prints what it got (si_code, si_syscall, si_arch,
                si_errno) and the call's return value.
   sc thread NR the call is made by a second thread; main prints whether it survived.
   sc socketcall32   i386 socketcall(SYS_SOCKET, {AF_UNIX, SOCK_STREAM, 0}) via int 0x80.
   sc x32 NR    the call through the x32 ABI (__X32_SYSCALL_BIT).
   sc vsyscall  gettimeofday through the legacy vsyscall page. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static void show(long nr, long ret) {
    if (ret == -1)
        printf("%ld=-%s\n", nr, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
    else if (ret < 256)
        printf("%ld=%ld\n", nr, ret);
    else
        printf("%ld=ok\n", nr);   /* a pid, an address: not the same in two runs */
    fflush(stdout);
}

static long call(const char *spec) {
    long v[7] = {0};
    int n = 0;
    char *end;
    const char *p = spec;
    while (n < 7) {
        v[n++] = strtol(p, &end, 0);
        if (*end != ':')
            break;
        p = end + 1;
    }
    long ret = syscall(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
    show(v[0], ret);
    return ret;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)uc;
    printf("SIGSYS code=%d syscall=%d arch=%#x errno=%d\n", si->si_code, si->si_syscall,
           si->si_arch, si->si_errno);
    fflush(stdout);
}

static void *thread_main(void *arg) {
    call(arg);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "trap") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigsys;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGSYS, &sa, NULL);
        long nr = strtol(argv[2], NULL, 0);
        long ret;   /* raw: what the kernel left in rax */
        __asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
        printf("returned %ld\n", ret);
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "thread") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, thread_main, argv[2]);
        pthread_join(t, NULL);
        printf("main survived\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "socketcall32") == 0) {
        unsigned int *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (low == MAP_FAILED)
            return 2;
        low[0] = 1; low[1] = 1; low[2] = 0;   /* AF_UNIX, SOCK_STREAM, 0 */
        long ret;
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(102L), "b"(1L), "c"((long)low)
                         : "memory");
        printf("socketcall(SYS_SOCKET)=%ld\n", ret < 0 && ret > -4096 ? -1 : ret >= 0 ? 0 : ret);
        if (ret < 0)
            printf("errno=%s\n", strerrorname_np((int)-ret));
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "x32") == 0) {
        long ret;
        __asm__ volatile("syscall" : "=a"(ret) : "a"(0x40000000L | strtol(argv[2], NULL, 0))
                         : "rcx", "r11", "memory");
        printf("x32 %s: %s\n", argv[2], ret >= 0 ? "ok" : strerrorname_np((int)-ret));
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "vsyscall") == 0) {
        long (*gtod)(struct timeval *, void *) = (void *)0xffffffffff600000UL;
        struct timeval tv;
        long ret = gtod(&tv, NULL);
        printf("vsyscall gettimeofday=%s\n", ret == 0 ? "0" : strerrorname_np((int)-ret));
        return 0;
    }
    for (int i = 1; i < argc; i++)
        call(argv[i]);
    return 0;
}
