/* vfork + exec, then posix_spawn; exits with the posix_spawned shell's status. */
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(void) {
    int st;
    pid_t pid = vfork();
    if (pid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(99);
    }
    waitpid(pid, &st, 0);
    printf("vfork child exited %d\n", WEXITSTATUS(st));
    char *argv[] = {"sh", "-c", "exit 5", NULL};
    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
        return 98;
    waitpid(pid, &st, 0);
    printf("posix_spawn child exited %d\n", WEXITSTATUS(st));
    fflush(stdout);
    return WEXITSTATUS(st);
}
