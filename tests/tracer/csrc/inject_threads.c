/* when= counts per thread: the main thread calls getppid twice, a second thread three
 * times (the main thread waits for it), then the main thread twice more.  Prints each
 * call's result as 'ok' or the errno, in that order. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static void calls(const char *who, int n)
{
	for (int i = 0; i < n; i++) {
		long r = syscall(SYS_getppid);
		printf("%s %d %s\n", who, i + 1, r < 0 ? "failed" : "ok");
	}
	fflush(stdout);
}

static void *thread_main(void *arg)
{
	(void)arg;
	calls("thread", 3);
	return NULL;
}

int main(void)
{
	pthread_t t;
	calls("main", 2);
	if (pthread_create(&t, NULL, thread_main, NULL) != 0)
		return 2;
	pthread_join(t, NULL);
	calls("main", 2);
	return 0;
}
