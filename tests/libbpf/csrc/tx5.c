/* What samples/bpf's tracex5 is shown: under an allow-all seccomp filter (so that the
 * kernel's __seccomp_filter runs at every call, where tracex5's dispatcher is
 * attached), a getsid marker, a write and a read of the sizes tracex5 prints, others
 * it does not, a getuid, and an mmap.  The buffer is at a fixed address, so the %p
 * that tracex5 prints is the same in every run.
 *
 * Test input for trace-run's suite (tests/libbpf).  GPL-2.0-only, as trace-run. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
	struct sock_fprog prog = { .len = 1, .filter = allow };
	char *buf;
	int null, zero;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return 10;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
		return 11;
	syscall(SYS_getsid, 0);
	buf = mmap((void *)0x10000000, 4096, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (buf == MAP_FAILED)
		return 12;
	null = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY);
	zero = syscall(SYS_openat, AT_FDCWD, "/dev/zero", O_RDONLY);
	syscall(SYS_write, null, buf, 512);
	syscall(SYS_write, null, buf, 100);
	syscall(SYS_read, zero, buf, 300);
	syscall(SYS_read, zero, buf, 100);
	syscall(SYS_getuid);
	syscall(SYS_exit_group, 0);
	return 0;
}
