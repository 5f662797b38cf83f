/* Syscalls for the -e inject= / -e trace= tests: fixed arguments, no libc caching.
 * Prints what each call returned, so the program's output shows an injection too, and
 * exits with the number of failed calls. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static void on_usr1(int sig) { (void)sig; got++; }

int main(void)
{
	int failed = 0;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < 6; i++) {
		long r = syscall(SYS_getppid);
		if (r < 0)
			failed++;
	}
	for (int i = 0; i < 4; i++) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd < 0)
			failed++;
		else
			close(fd);
	}
	struct stat st;
	if (stat("/", &st) < 0)
		failed++;
	if (access("/nonexistent-inject-test", F_OK) < 0)
		failed++;
	long u = syscall(SYS_getuid);
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "uid %ld got %d\n", u, (int)got);
	if (write(1, buf, n) < 0)
		failed++;
	return failed;
}
