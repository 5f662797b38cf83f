/* Calls whose arguments strace's -s, -x, -y, -yy, -X and -v show differently
 * (tests/tracer/test_format_options.py).  argv[1]: a directory the test made, for files
 * whose names need quoting.  Every descriptor is closed before the next is opened, so
 * the numbers are the same under strace and trace-run. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void put(int fd, const char *s, size_t n) {
    if (write(fd, s, n) < 0) {
        /* the test sees the failure in the trace */
    }
}

int main(int argc, char **argv) {
    char path[4096];
    const char *dir = argc > 1 ? argv[1] : "/tmp";

    /* strings: printable, whitespace, non-ASCII, NUL, octal digits after a control byte */
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    put(fd, "hello world\n", 12);
    put(fd, "tab\there\r\n\v\f", 12);
    put(fd, "\xff\xfe caf\xc3\xa9", 9);
    put(fd, "a\0b\001" "7z", 6);
    put(fd, "0123456789abcdefghijklmnopqrstuvwxyz0123456789", 46);
    put(fd, "\x7f", 1);
    lseek(fd, 0, SEEK_END);
    lseek(fd, 0, SEEK_CUR);
    close(fd);

    /* paths that need quoting, through -y */
    snprintf(path, sizeof path, "%s/a<b>\"c\\d\te\x01" "1\xff", dir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    put(fd, "x", 1);
    fsync(fd);
    close(fd);
    unlink(path);

    /* an unlinked file: (deleted) */
    snprintf(path, sizeof path, "%s/gone", dir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    unlink(path);
    put(fd, "y", 1);
    close(fd);

    /* dup, fcntl F_DUPFD: results that are descriptors */
    fd = open("/etc/hostname", O_RDONLY);
    int fd2 = dup(fd);
    int fd3 = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd3);
    close(fd2);
    close(fd);

    /* a pipe: -y on an array of descriptors */
    int p[2];
    if (pipe2(p, O_CLOEXEC) == 0) {
        put(p[1], "p", 1);
        close(p[0]);
        close(p[1]);
    }

    /* flags and constants, for -X */
    access("/", F_OK);
    access("/", R_OK | X_OK);
    fd = openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd4 = openat(fd, ".", O_RDONLY | O_DIRECTORY);
    close(fd4);
    close(fd);

    /* sockets: -yy */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    put(sv[0], "u", 1);
    close(sv[1]);   /* first: strace learnt sv[1]'s peer from socketpair's array */
    close(sv[0]);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    bind(ls, (struct sockaddr *)&sin, sizeof sin);
    listen(ls, 1);
    getsockname(ls, (struct sockaddr *)&sin, &len);
    int cs = socket(AF_INET, SOCK_STREAM, 0);
    connect(cs, (struct sockaddr *)&sin, sizeof sin);
    int as = accept(ls, NULL, NULL);
    put(cs, "t", 1);
    close(as);
    close(cs);
    close(ls);

    int us = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s/sock", dir);
    bind(us, (struct sockaddr *)&sun, sizeof sun);
    put(us, "", 0);
    close(us);
    unlink(sun.sun_path);

    /* execve's arrays, for -v and -s: the last call */
    char *args[] = {"/bin/true", "one", "two", "three", "four", NULL};
    char *envp[] = {"A=1", "LONGER_VARIABLE=some value", NULL};
    execve(args[0], args, envp);
    return 1;
}
