/* The marker through every way into the kernel: abis MODE, MODE one of
     i386       int $0x80 mkdir (39) and mkdirat (296), and an i386 fork (2) whose child
                marks the same way (the path below 4 GiB, as a 32-bit pointer must be)
     x32        mkdir and mkdirat with __X32_SYSCALL_BIT (0x40000000)
     highbits   mkdirat and mkdir with 0xFFFFFFFF00000000 in rax (the kernel reads eax)
     vsyscall   gettimeofday, time and getcpu through the vsyscall page
   Exits 7. */
#include "escape.h"
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>

static long int80(long nr, long a, long b, long c) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}

static char *low_string(const char *s) {
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                   -1, 0);
    if (p == MAP_FAILED)
        exit(95);
    strcpy(p, s);
    return p;
}

static int i386(void) {
    raw_result("i386-mkdir", int80(39, (long)low_string("i386-mkdir"), 0755, 0));
    raw_result("i386-mkdirat", int80(296, -100L & 0xFFFFFFFF, (long)low_string("i386-mkdirat"),
                                     0755));
    char *child = low_string("i386-fork-child");
    long pid = int80(2, 0, 0, 0);
    if (pid == 0) {
        raw_result("i386-fork-child", int80(39, (long)child, 0755, 0));
        syscall(SYS_exit_group, 0);
    }
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    else
        say("I i386 fork failed %ld", pid);
    return 7;
}

static int x32(void) {
    long rc = syscall(0x40000000L | SYS_mkdirat, AT_FDCWD, "x32-mkdirat", 0755);
    result("x32-mkdirat", rc, rc ? errno : 0);
    rc = syscall(0x40000000L | SYS_mkdir, "x32-mkdir", 0755);
    result("x32-mkdir", rc, rc ? errno : 0);
    return 7;
}

static int highbits(void) {
    long rc = syscall((long)(0xFFFFFFFF00000000UL | SYS_mkdirat), AT_FDCWD, "high-mkdirat",
                      0755);
    result("high-mkdirat", rc, rc ? errno : 0);
    rc = syscall((long)(0x8000000100000000UL | SYS_mkdir), "high-mkdir", 0755);
    result("high-mkdir", rc, rc ? errno : 0);
    return 7;
}

typedef long (*gtod_t)(struct timeval *, void *);
typedef long (*time_t_fn)(long *);
typedef long (*getcpu_t)(unsigned *, unsigned *, void *);

static void outcome(const char *label, long rc) {
    /* a denied vsyscall returns -EPERM in rax; one that ran returns >= 0 */
    say("M %s %s", label, rc == -EPERM ? "denied" : rc >= 0 ? "ran" : "failed");
}

static int vsyscall(void) {
    struct timeval tv;
    unsigned cpu, node;
    outcome("vsyscall-gettimeofday", ((gtod_t)0xffffffffff600000UL)(&tv, NULL));
    outcome("vsyscall-time", ((time_t_fn)0xffffffffff600400UL)(NULL));
    outcome("vsyscall-getcpu", ((getcpu_t)0xffffffffff600800UL)(&cpu, &node, NULL));
    return 7;
}

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "i386")) return i386();
    if (!strcmp(m, "x32")) return x32();
    if (!strcmp(m, "highbits")) return highbits();
    if (!strcmp(m, "vsyscall")) return vsyscall();
    return 90;
}
