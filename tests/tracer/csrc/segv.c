/* Dies of SIGSEGV.  Core dumps are off for this process (RLIMIT_CORE 0), so a core
 * file next to it can only come from its tracer. */
#include <stdio.h>
#include <sys/resource.h>

int main(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_CORE, &rl);
    rl.rlim_cur = 0;
    if (setrlimit(RLIMIT_CORE, &rl))
        return 1;
    printf("about to crash\n");
    fflush(stdout);
    *(volatile int *)0 = 1;
    return 2;
}
