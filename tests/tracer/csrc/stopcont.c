/* Job control seen by the real parent: the child stops itself with SIGSTOP, the parent
   sees it stopped (WUNTRACED), continues it with SIGCONT, and reaps it. */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int st;
    alarm(20);
    pid_t pid = fork();
    if (pid == 0) {
        raise(SIGSTOP);
        write(1, "child resumed\n", 14);
        _exit(4);
    }
    if (waitpid(pid, &st, WUNTRACED) < 0 || !WIFSTOPPED(st)) {
        printf("not stopped: %#x\n", st);
        return 1;
    }
    printf("child stopped by %d\n", WSTOPSIG(st));
    fflush(stdout);
    kill(pid, SIGCONT);
    waitpid(pid, &st, 0);
    printf("child exited %d\n", WEXITSTATUS(st));
    return WIFEXITED(st) && WEXITSTATUS(st) == 4 ? 0 : 2;
}
