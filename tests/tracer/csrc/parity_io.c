/* Parity case: file I/O decoders on a file named by argv[1]: writev, pwrite64, lseek,
 * readv, pread64, fstat, statfs/fstatfs, dup2/dup3, fcntl, ftruncate, pipe2 with a
 * FIONREAD ioctl, a TCGETS ioctl that fails with ENOTTY, then unlink. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    int fd = open(argv[1], O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0640);
    if (fd < 0)
        return 1;
    char a[] = "alpha ", b[] = "beta ", c[] = "gamma\n";
    struct iovec iov[3] = {{a, 6}, {b, 5}, {c, 6}};
    writev(fd, iov, 3);
    pwrite(fd, "BETA", 4, 6);
    lseek(fd, 0, SEEK_END);
    ftruncate(fd, 12);
    close(fd);

    fd = open(argv[1], O_RDONLY);
    char x[5], y[16];
    struct iovec rio[2] = {{x, sizeof x}, {y, sizeof y}};
    readv(fd, rio, 2);
    pread(fd, y, 4, 6);
    struct stat st;
    fstat(fd, &st);
    struct statfs sf;
    fstatfs(fd, &sf);
    int d = dup(fd);
    dup2(d, 10);
    dup3(10, 11, O_CLOEXEC);
    fcntl(11, F_GETFD);
    fcntl(10, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_GETFL);
    close(11);
    close(10);
    close(d);
    close(fd);

    int p[2];
    pipe2(p, O_CLOEXEC);
    write(p[1], "xyz", 3);
    int n = 0;
    ioctl(p[0], FIONREAD, &n);
    struct termios t;
    ioctl(p[0], TCGETS, &t);
    close(p[0]);
    close(p[1]);
    unlink(argv[1]);
    return 0;
}
