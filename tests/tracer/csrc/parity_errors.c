/* Parity case: syscalls that fail, each with a fixed errno (run as root too): ENOENT,
 * EISDIR, EEXIST, ENOTEMPTY, ENOTDIR, EACCES (execve of a file without x bits), EBADF,
 * EFAULT and EINVAL.  argv[1] is a directory that holds a file "f". */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2 || chdir(argv[1]) != 0)
        return 2;
    open("missing/file", O_RDONLY);
    open(".", O_WRONLY);
    mkdir("sub", 0755);
    mkdir("sub", 0755);
    int fd = open("sub/x", O_CREAT | O_WRONLY, 0644);
    close(fd);
    rmdir("sub");
    chdir("f");
    fd = open("noexec", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    write(fd, "#!/bin/sh\n", 10);
    close(fd);
    char *args[] = {"noexec", NULL};
    execve("noexec", args, args + 1);
    close(1000);
    fd = open("f", O_RDONLY);
    void *volatile bad = (void *)1;
    read(fd, bad, 10);
    lseek(fd, -1, SEEK_SET);
    close(fd);
    unlink("sub/x");
    rmdir("sub");
    unlink("noexec");
    return 0;
}
