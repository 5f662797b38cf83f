/* The calls tests/tracer/test_attach.py's programs observe: openat of argv[1] (exists)
 * and of argv[2] (does not), mkdirat of argv[3], a write, getppid, one i386 getpid
 * (int 0x80) and a child that exits with 7, each result printed so the test compares with what really happened (pids
 * zero-padded: the line, which the last write carries, is as long in every run). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long i386_ret;
	if (argc < 4)
		return 2;
	int fd = openat(AT_FDCWD, argv[1], O_RDONLY | O_CLOEXEC);
	int bad = openat(AT_FDCWD, argv[2], O_WRONLY | O_CREAT | O_EXCL, 0600);
	int bad_errno = errno;
	int mk = mkdirat(AT_FDCWD, argv[3], 0750);
	int mk_errno = mk < 0 ? errno : 0;
	ssize_t w = write(1, "hello\n", 6);
	pid_t ppid = getppid();
	__asm__ volatile("int $0x80" : "=a"(i386_ret) : "a"(20L) : "memory");
	pid_t child = fork();
	if (child == 0)
		_exit(7);
	int status = 0;
	waitpid(child, &status, 0);
	printf("fd=%d bad=%d errno=%d mkdir=%d errno=%d write=%zd ppid=%08d i386_getpid=%08ld"
	       " child_status=%d\n", fd, bad, bad_errno, mk, mk_errno, w, (int)ppid, i386_ret,
	       WEXITSTATUS(status));
	close(fd);
	return 0;
}
