/* Run without arguments: says "before", then execs itself with the argument "after".
 * Run as "exec_self after": makes a few calls of its own (sched_yield, getppid), says
 * "after done" and exits 7. */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "after") == 0) {
        for (int i = 0; i < 3; i++)
            sched_yield();
        syscall(SYS_getppid);
        printf("after done\n");
        fflush(stdout);
        return 7;
    }
    printf("before\n");
    fflush(stdout);
    char *args[] = {argv[0], "after", NULL};
    execv("/proc/self/exe", args);
    perror("execv");
    return 1;
}
