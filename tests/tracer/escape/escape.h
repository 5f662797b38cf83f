/* The escape suite's marker: mkdirat(AT_FDCWD, LABEL), the call every denying profile
   of the suite refuses with EPERM.  Each result is one line on stdout, written with one
   write(2) so that lines of processes and threads never interleave:
     "M LABEL denied" (EPERM), "M LABEL made" (it ran: an escape where the kernel
     denies), "M LABEL errno=N" (anything else).
   "I ..." lines are information the test checks only where it says so. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((unused)) static void say(const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = syscall(SYS_write, 1, buf, (size_t)n);
    (void)w;
}

__attribute__((unused)) static void result(const char *label, long rc, int err) {
    if (rc == 0)
        say("M %s made", label);
    else if (err == EPERM)
        say("M %s denied", label);
    else
        say("M %s errno=%d", label, err);
}

/* the marker through glibc's syscall() (x86_64 syscall instruction) */
__attribute__((unused)) static void mark(const char *label) {
    long rc = syscall(SYS_mkdirat, AT_FDCWD, label, 0755);
    result(label, rc, rc ? errno : 0);
}

/* a raw result (-errno in rax, no errno), as int 0x80 and vsyscall give it */
__attribute__((unused)) static void raw_result(const char *label, long rc) {
    result(label, rc < 0 && rc > -4096 ? -1 : rc, rc < 0 && rc > -4096 ? (int)-rc : 0);
}

/* ESCAPE_ORACLE is set when the program runs under the kernel's seccomp alone: the
   attacks on "trace-run" (the parent) are then skipped, as there is no trace-run. */
__attribute__((unused)) static int oracle(void) {
    return getenv("ESCAPE_ORACLE") != NULL;
}
