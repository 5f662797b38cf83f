/* Calls whose decoding tests/tracer/test_decode_vs_strace.py compares with strace:
 * argv[1] names the family to run. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <linux/fs.h>

static void do_poll(void) {
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[1], "x", 1);
	struct pollfd p[2] = {{sv[0], POLLIN, 0}, {sv[1], POLLIN | POLLOUT, 0}};
	poll(p, 2, 0);
	poll(p, 1, 100);
	struct timespec ts = {0, 1000};
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	ppoll(p, 2, &ts, &set);
	struct pollfd q = {sv[1], POLLIN, 0};
	ppoll(&q, 1, &ts, NULL);
	poll(NULL, 0, 0);
}

static void do_select(void) {
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[1], "x", 1);
	fd_set r, w;
	FD_ZERO(&r); FD_ZERO(&w);
	FD_SET(sv[0], &r); FD_SET(sv[1], &r); FD_SET(sv[1], &w);
	struct timeval tv = {1, 0};
	select(sv[1] + 1, &r, &w, NULL, &tv);
	FD_ZERO(&r);
	FD_SET(sv[1], &r);
	tv.tv_sec = 0; tv.tv_usec = 0;
	select(sv[1] + 1, &r, NULL, NULL, &tv);
	struct timespec ts = {0, 0};
	FD_ZERO(&r);
	FD_SET(sv[0], &r);
	pselect(sv[1] + 1, &r, NULL, NULL, &ts, NULL);
	FD_ZERO(&r);
	FD_SET(sv[1], &r);
	pselect(sv[1] + 1, &r, NULL, NULL, &ts, NULL);
	/* the select syscall itself (glibc's select() is pselect6) */
	FD_ZERO(&r);
	FD_SET(sv[0], &r);
	tv.tv_sec = 2; tv.tv_usec = 0;
	syscall(SYS_select, sv[1] + 1, &r, NULL, NULL, &tv);
	FD_ZERO(&r);
	FD_SET(sv[1], &r);
	tv.tv_sec = 0; tv.tv_usec = 0;
	syscall(SYS_select, sv[1] + 1, &r, NULL, NULL, &tv);
}

static void do_epoll(void) {
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[1], "x", 1);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 0x100000007ULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);
	ev.events = EPOLLOUT; ev.data.fd = sv[1];
	epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev);
	epoll_ctl(ep, EPOLL_CTL_DEL, sv[1], NULL);
	struct epoll_event out[4];
	epoll_wait(ep, out, 4, 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	epoll_pwait(ep, out, 4, 0, &set);
	epoll_create1(0);
}

static void do_iov(void) {
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	char a[] = "hello", b[] = "a longer string that goes past the thirty-two byte limit";
	struct iovec w[2] = {{a, 5}, {b, sizeof b - 1}};
	writev(sv[1], w, 2);
	char r1[3], r2[100];
	struct iovec r[2] = {{r1, sizeof r1}, {r2, sizeof r2}};
	readv(sv[0], r, 2);
	pwritev(-1, w, 1, 0);
	int fd = open("/dev/null", O_RDWR);
	pwritev(fd, w, 1, 8);
	preadv(fd, r, 2, 0);
	pwritev2(fd, w, 2, -1, RWF_HIPRI);
	preadv2(fd, r, 1, 0, 0);
	writev(sv[1], NULL, 0);
}

static void do_msg(void) {
	int sv[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	char a[] = "ping";
	struct iovec w = {a, 4};
	struct msghdr m = {0};
	m.msg_iov = &w; m.msg_iovlen = 1;
	sendmsg(sv[1], &m, MSG_DONTWAIT);
	char buf[16];
	struct iovec r = {buf, sizeof buf};
	struct msghdr in = {0};
	in.msg_iov = &r; in.msg_iovlen = 1;
	recvmsg(sv[0], &in, 0);
	recvmsg(sv[0], &in, MSG_DONTWAIT);
	struct mmsghdr mm[2] = {{.msg_hdr = m}, {.msg_hdr = m}};
	sendmmsg(sv[1], mm, 2, 0);
	struct mmsghdr rm[2] = {{.msg_hdr = in}, {.msg_hdr = in}};
	recvmmsg(sv[0], rm, 2, MSG_DONTWAIT, NULL);
	sendto(sv[1], NULL, 0, 0, NULL, 0);
	/* one fd passed with SCM_RIGHTS, received with a name buffer */
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } c;
	memset(&c, 0, sizeof c);
	m.msg_control = c.buf;
	m.msg_controllen = sizeof c.buf;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	int passed = 0;
	memcpy(CMSG_DATA(cm), &passed, sizeof passed);
	sendmsg(sv[1], &m, 0);
	struct sockaddr_storage from;
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } rc;
	in.msg_name = &from;
	in.msg_namelen = sizeof from;
	in.msg_control = rc.buf;
	in.msg_controllen = sizeof rc.buf;
	recvmsg(sv[0], &in, MSG_CMSG_CLOEXEC);
}

static void do_sockopt(void) {
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1, val = 0;
	socklen_t len = sizeof val;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	getsockopt(s, SOL_SOCKET, SO_TYPE, &val, &len);
	len = sizeof val;
	getsockopt(s, SOL_SOCKET, SO_RCVBUF, &val, &len);
	len = sizeof val;
	getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &val, &len);
	setsockopt(s, IPPROTO_IP, IP_TTL, &one, sizeof one);
	int s6 = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(s6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	struct linger lg = {1, 5};
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	len = sizeof lg;
	getsockopt(s, SOL_SOCKET, SO_LINGER, &lg, &len);
	len = sizeof val;
	getsockopt(s, SOL_SOCKET, SO_ERROR, &val, &len);
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	struct ucred cr;
	len = sizeof cr;
	getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cr, &len);
	setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2);
}

static void do_sysinfo(void) {
	struct statfs sf;
	statfs("/", &sf);
	statfs("/dev/shm", &sf);
	statfs("/proc", &sf);
	int fd = open("/", O_RDONLY);
	fstatfs(fd, &sf);
	statfs("/nonexistent", &sf);
}

static void do_ids(void) {
	setresuid(-1, -1, -1);
	setresgid(-1, -1, -1);
	setreuid(-1, -1);
	setregid(-1, -1);
	setfsuid(-1);
	setfsgid(-1);
	uid_t ru, eu, su;
	getresuid(&ru, &eu, &su);
	gid_t rg, eg, sg;
	getresgid(&rg, &eg, &sg);
	chown("/nonexistent", -1, -1);
	gid_t g[64];
	int n = getgroups(64, g);
	setgroups(n, g);
	setgroups(0, NULL);
	getpriority(PRIO_PROCESS, 0);
	setpriority(PRIO_PROCESS, 0, 0);
	getpriority(PRIO_PGRP, 0);
	cpu_set_t cs;
	CPU_ZERO(&cs);
	sched_getaffinity(0, sizeof cs, &cs);
	CPU_ZERO(&cs);
	CPU_SET(0, &cs);
	sched_setaffinity(0, sizeof cs, &cs);
	int m = memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	close(m);
	memfd_create("y", 0);
}

static void do_ioctl(void) {
	int fd = open("/dev/null", O_RDONLY);
	ioctl(fd, FIOCLEX);
	ioctl(fd, FIONCLEX);
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[1], "abc", 3);
	int n;
	ioctl(sv[0], FIONREAD, &n);
	struct winsize ws;
	ioctl(fd, TIOCGWINSZ, &ws);
	struct termios t;
	ioctl(fd, TCGETS, &t);
	int tty = open("/dev/ptmx", O_RDWR | O_NOCTTY);
	if (tty >= 0) {
		ws.ws_row = 24; ws.ws_col = 80; ws.ws_xpixel = 0; ws.ws_ypixel = 0;
		ioctl(tty, TIOCSWINSZ, &ws);
		ioctl(tty, TIOCGWINSZ, &ws);
		ioctl(tty, TCGETS, &t);
	}
	int f1 = open("/tmp", O_RDONLY);
	ioctl(fd, FICLONE, f1);
}

static void do_misc(void) {
	struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
	utimensat(AT_FDCWD, "/nonexistent", ts, 0);
	utimensat(AT_FDCWD, "/nonexistent", NULL, AT_SYMLINK_NOFOLLOW);
	write(1, NULL, 0);
	struct sysinfo si;
	sysinfo(&si);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	struct tms tm;
	times(&tm);
	times(NULL);
}

static void on_usr1(int sig) { (void)sig; }

static void do_signals(void) {
	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise(SIGUSR1);
	pid_t pid = fork();
	if (pid == 0)
		_exit(3);
	int st;
	waitpid(pid, &st, 0);
}

int main(int argc, char **argv) {
	if (argc < 2)
		return 2;
	const char *f = argv[1];
	if (!strcmp(f, "poll")) do_poll();
	else if (!strcmp(f, "select")) do_select();
	else if (!strcmp(f, "epoll")) do_epoll();
	else if (!strcmp(f, "iov")) do_iov();
	else if (!strcmp(f, "msg")) do_msg();
	else if (!strcmp(f, "sockopt")) do_sockopt();
	else if (!strcmp(f, "statfs")) do_sysinfo();
	else if (!strcmp(f, "ids")) do_ids();
	else if (!strcmp(f, "ioctl")) do_ioctl();
	else if (!strcmp(f, "misc")) do_misc();
	else if (!strcmp(f, "signals")) do_signals();
	else return 2;
	return 0;
}
