/* Processes and threads, each marking: procs MODE, MODE one of threads, fork, vfork,
   posix_spawn, exec_thread, leader_exit, clone_untraced, clone3_untraced, storm, flood,
   setuid EXE.
   Exits 7 (the status trace-run must pass on). */
#include "escape.h"
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;
static const char *self;

static void *thread_mark(void *arg) {
    char label[32];
    snprintf(label, sizeof label, "thread-%ld", (long)arg);
    mark(label);
    return NULL;
}

static void reap(pid_t pid) {
    int st;
    while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
        ;
}

static int threads(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, thread_mark, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    mark("main");
    return 7;
}

static int do_fork(void) {
    pid_t pid = fork();
    if (pid == 0) {
        mark("fork-child");
        _exit(0);
    }
    reap(pid);
    mark("fork-parent");
    return 7;
}

static int do_vfork(void) {
    pid_t pid = vfork();
    if (pid == 0) {
        long rc = syscall(SYS_mkdirat, AT_FDCWD, "vfork-child", 0755);
        result("vfork-child", rc, rc ? errno : 0);
        _exit(0);
    }
    reap(pid);
    mark("vfork-parent");
    return 7;
}

static int do_posix_spawn(void) {
    pid_t pid;
    char *argv[] = {(char *)self, "child", "spawned", NULL};
    if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0)
        return 98;
    reap(pid);
    mark("spawn-parent");
    return 7;
}

static void *exec_from_thread(void *arg) {
    (void)arg;
    char *argv[] = {(char *)self, "child", "exec-from-thread", NULL};
    execve(self, argv, environ);
    _exit(97);
}

static int exec_thread(void) {
    pthread_t t;
    mark("before-exec");
    pthread_create(&t, NULL, exec_from_thread, NULL);
    for (;;)
        pause();
    return 92;
}

static int leader_pipe[2];

static void *survivor(void *arg) {
    char c;
    (void)arg;
    if (read(leader_pipe[0], &c, 1) != 1)
        syscall(SYS_exit_group, 96);
    /* the leader is exiting (or gone): this thread goes on alone */
    mark("after-leader");
    syscall(SYS_exit_group, 7);
    return NULL;
}

static int leader_exit(void) {
    pthread_t t;
    if (pipe(leader_pipe))
        return 95;
    mark("leader");
    pthread_create(&t, NULL, survivor, NULL);
    if (write(leader_pipe[1], "x", 1) != 1)
        return 94;
    syscall(SYS_exit, 0);   /* the leader alone */
    return 93;
}

static int clone_untraced(int three) {
    long pid;
    if (three) {
        struct clone_args args;
        memset(&args, 0, sizeof args);
        args.flags = CLONE_UNTRACED;
        args.exit_signal = SIGCHLD;
        pid = syscall(SYS_clone3, &args, sizeof args);
    } else {
        pid = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0L, NULL, NULL, 0L);
    }
    if (pid == 0) {
        mark(three ? "clone3-untraced-child" : "clone-untraced-child");
        syscall(SYS_exit_group, 0);
    }
    if (pid < 0)
        say("I clone failed errno=%d", errno);
    else
        reap((pid_t)pid);
    mark("clone-parent");
    return 7;
}

#define STORM 200
static int storm(void) {
    int gate[2], denied = 0, made = 0, other = 0;
    pid_t pids[STORM];
    if (pipe(gate))
        return 95;
    for (int i = 0; i < STORM; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            char c, label[32];
            close(gate[1]);
            if (read(gate[0], &c, 1) < 0)   /* EOF once every child exists */
                _exit(3);
            snprintf(label, sizeof label, "storm-%d", i);
            long rc = syscall(SYS_mkdirat, AT_FDCWD, label, 0755);
            _exit(rc == 0 ? 1 : errno == EPERM ? 0 : 2);
        }
        if (pids[i] < 0)
            return 94;
    }
    close(gate[1]);
    for (int i = 0; i < STORM; i++) {
        int st;
        while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
            ;
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 9;
        denied += code == 0;
        made += code == 1;
        other += code > 1;
    }
    say("M storm denied=%d made=%d other=%d", denied, made, other);
    return 7;
}

static volatile sig_atomic_t got;
static void on_usr1(int sig) { (void)sig; got++; }

static int flood(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 20000; i++)
            kill(parent, i % 2 ? SIGUSR1 : SIGUSR2);
        _exit(0);
    }
    int denied = 0, made = 0, other = 0;
    for (int i = 0; i < 300; i++) {
        long rc = syscall(SYS_mkdirat, AT_FDCWD, "flood", 0755);
        denied += rc < 0 && errno == EPERM;
        made += rc == 0;
        other += rc < 0 && errno != EPERM;
        if (rc == 0)
            rmdir("flood");
    }
    reap(pid);
    say("M flood denied=%d made=%d other=%d", denied, made, other);
    return 7;
}

/* setuid EXE: fork, and the child execs EXE (a setuid copy of this program, owned by
   another user) in mode setuid_child, which marks with the new euid */
static int do_setuid(const char *exe) {
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {(char *)exe, "setuid_child", NULL};
        execve(exe, argv, environ);
        _exit(97);
    }
    reap(pid);
    mark("setuid-parent");
    return 7;
}

int main(int argc, char **argv) {
    self = argv[0];
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "child")) {
        mark(argc > 2 ? argv[2] : "child");
        return 0;
    }
    if (!strcmp(m, "setuid_child")) {
        say("I euid=%d", (int)geteuid());
        mark("setuid-child");
        return 0;
    }
    if (!strcmp(m, "setuid") && argc > 2) return do_setuid(argv[2]);
    if (!strcmp(m, "threads")) return threads();
    if (!strcmp(m, "fork")) return do_fork();
    if (!strcmp(m, "vfork")) return do_vfork();
    if (!strcmp(m, "posix_spawn")) return do_posix_spawn();
    if (!strcmp(m, "exec_thread")) return exec_thread();
    if (!strcmp(m, "leader_exit")) return leader_exit();
    if (!strcmp(m, "clone_untraced")) return clone_untraced(0);
    if (!strcmp(m, "clone3_untraced")) return clone_untraced(1);
    if (!strcmp(m, "storm")) return storm();
    if (!strcmp(m, "flood")) return flood();
    return 90;
}
