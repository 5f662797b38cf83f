/* The deterministic command that the libbpf-tools comparisons run: what it does is
 * fixed by its arguments, so the real tool in the host kernel and the same BPF object
 * under `trace-run --probe` see the same calls with the same arguments and results.
 *
 *   lbtest MODE DIR
 *
 * It first waits for one byte (or EOF) on stdin, so that a tool attached with -p PID
 * sees everything after that.  While waiting in MODE open/exec it makes a sentinel
 * call over and over (an open of DIR/ready, an exec of `lbtest ready`): the tool's
 * first line about it says the tool is ready, whatever its stdout order.  The poll
 * timeout only spaces the sentinels: no result depends on it.
 *
 * Test input for trace-run's suite (tests/libbpf).  GPL-2.0-only, as trace-run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;
static char self[4096];

static const char *at(const char *name)
{
	static char buf[8][4096];
	static int i;
	char *b = buf[i++ % 8];
	snprintf(b, 4096, "%s/%s", dir, name);
	return b;
}

/* execve's argument strings, copied to the stack first: in a child just forked, the
 * program's read-only data is not yet mapped (fork does not copy the page tables of
 * file mappings), and the kernel's bpf_probe_read_user at sys_enter_execve cannot fault
 * it in: execsnoop would print no arguments. */
static void exec_self(const char *path, const char *a1, const char *a2)
{
	char arg0[16], arg1[32], arg2[4096];

	snprintf(arg0, sizeof(arg0), "lbtest");
	snprintf(arg1, sizeof(arg1), "%s", a1);
	snprintf(arg2, sizeof(arg2), "%s", a2 ? a2 : "");
	execl(path, arg0, arg1, dir, a2 ? arg2 : (char *)NULL, (char *)NULL);
}

static void sentinel(const char *mode)
{
	if (strcmp(mode, "open") == 0) {
		syscall(SYS_openat, AT_FDCWD, at("ready"), O_RDONLY);
	} else if (strcmp(mode, "exec") == 0) {
		pid_t c = fork();
		if (c == 0) {
			/* through DIR/lbtest-ready, a link to lbtest: the sentinel is
			 * told by the path execve gets */
			exec_self(at("lbtest-ready"), "ready", NULL);
			_exit(127);
		}
		waitpid(c, NULL, 0);
	}
}

static void wait_go(const char *mode)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	int spaced = strcmp(mode, "open") == 0 || strcmp(mode, "exec") == 0;
	char c;

	if (strcmp(mode, "exec") == 0 && symlink(self, at("lbtest-ready")) != 0 &&
	    errno != EEXIST)
		exit(91);
	for (;;) {
		if (spaced)
			sentinel(mode);
		if (poll(&p, 1, spaced ? 20 : -1) > 0)
			break;
	}
	if (read(0, &c, 1) < 0)
		exit(90);
}

static int do_open(void)
{
	int fd;

	fd = syscall(SYS_openat, AT_FDCWD, at("exists"), O_RDONLY);
	syscall(SYS_open, at("missing"), O_RDONLY);
	syscall(SYS_openat, AT_FDCWD, at("created"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	syscall(SYS_open, at("exists"), O_RDWR | O_APPEND | O_CLOEXEC);
	syscall(SYS_openat, AT_FDCWD, at("missing/deeper"), O_RDONLY | O_DIRECTORY);
	return fd < 0;
}

static int do_stat(void)
{
	struct stat st;
	char sfs[256], stx[256];

	syscall(SYS_stat, at("start"), &st);	/* the marker: what the dynamic loader did before is not compared */
	syscall(SYS_stat, at("exists"), &st);
	syscall(SYS_lstat, at("missing"), &st);
	syscall(SYS_newfstatat, AT_FDCWD, at("exists"), &st, AT_SYMLINK_NOFOLLOW);
	syscall(SYS_statfs, dir, sfs);
	syscall(SYS_statx, AT_FDCWD, at("missing"), 0, 0x7ff, stx);
	syscall(SYS_stat, at("done"), &st);
	return 0;
}

static int do_exec(void)
{
	pid_t c = fork();
	int status;

	if (c == 0) {
		char arg0[32];

		snprintf(arg0, sizeof(arg0), "no-such-program");
		execl(at("no-such-program"), arg0, (char *)NULL);
		exec_self(self, "exec-child", "a1");
		_exit(127);
	}
	waitpid(c, &status, 0);
	exec_self(self, "exec-last", NULL);
	return 99;
}

static int do_exit(void)
{
	pid_t a, b;

	a = fork();
	if (a == 0)
		_exit(7);
	waitpid(a, NULL, 0);
	b = fork();
	if (b == 0) {
		signal(SIGTERM, SIG_DFL);
		raise(SIGTERM);
		_exit(1);
	}
	waitpid(b, NULL, 0);
	return 0;
}

static int do_signal(void)
{
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	syscall(SYS_kill, getpid(), SIGUSR1);
	syscall(SYS_kill, 0x7ffffff0, SIGTERM);	/* above any pid_max: ESRCH */
	syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2);
	syscall(SYS_tkill, gettid(), SIGUSR1);
	syscall(SYS_kill, getpid(), 0);
	return 0;
}

static int do_mount(void)
{
	if (unshare(CLONE_NEWNS) != 0)
		return 2;
	syscall(SYS_mount, "none", "/", NULL, MS_REC | MS_PRIVATE, NULL);
	syscall(SYS_mount, "lbtest-tmpfs", at("mnt"), "tmpfs", MS_NOSUID | MS_NODEV,
		"size=1m,mode=0700");
	syscall(SYS_umount2, at("mnt"), 0);
	syscall(SYS_mount, "lbtest-tmpfs", at("missing"), "tmpfs", 0, NULL);
	syscall(SYS_umount2, at("missing"), MNT_DETACH);
	return 0;
}

static int do_count(void)
{
	int i;

	for (i = 0; i < 7; i++)
		syscall(SYS_getppid);
	for (i = 0; i < 5; i++)
		syscall(SYS_getsid, 0x7ffffff0);	/* ESRCH */
	for (i = 0; i < 3; i++)
		syscall(SYS_getpgid, 0);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode;
	ssize_t n;

	if (argc < 3)
		return 64;
	mode = argv[1];
	dir = argv[2];
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 65;
	self[n] = 0;
	if (strcmp(mode, "ready") == 0 || strcmp(mode, "exec-child") == 0)
		return 0;
	if (strcmp(mode, "exec-last") == 0)
		return 0;
	wait_go(mode);
	if (strcmp(mode, "open") == 0)
		return do_open();
	if (strcmp(mode, "stat") == 0)
		return do_stat();
	if (strcmp(mode, "exec") == 0)
		return do_exec();
	if (strcmp(mode, "exit") == 0)
		return do_exit();
	if (strcmp(mode, "signal") == 0)
		return do_signal();
	if (strcmp(mode, "mount") == 0)
		return do_mount();
	if (strcmp(mode, "count") == 0)
		return do_count();
	return 66;
}
