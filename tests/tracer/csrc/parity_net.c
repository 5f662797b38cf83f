/* Parity case: a UNIX socketpair exercised through the socket decoders: setsockopt and
 * getsockopt, sendmsg with two iovecs and an SCM_RIGHTS fd, recvmsg, sendto/recvfrom,
 * poll, select, epoll and shutdown.  Every value is fixed, so strace prints the same
 * lines at every run. */
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int main(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 1;
    int one = 1, size = 65536, got = 0;
    socklen_t len = sizeof got;
    setsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &got, &len);
    getsockopt(sv[1], SOL_SOCKET, SO_ERROR, &got, &len);

    char a[] = "hello ", b[] = "world\n";
    struct iovec out[2] = {{a, 6}, {b, 6}};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {0};
    msg.msg_iov = out;
    msg.msg_iovlen = 2;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    int fd0 = 0;
    memcpy(CMSG_DATA(c), &fd0, sizeof fd0);
    sendmsg(sv[0], &msg, 0);

    struct pollfd pfd[2] = {{sv[0], POLLIN | POLLOUT, 0}, {sv[1], POLLIN, 0}};
    poll(pfd, 2, 0);

    char in1[4], in2[32];
    struct iovec iin[2] = {{in1, sizeof in1}, {in2, sizeof in2}};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } ctl2;
    struct msghdr rmsg = {0};
    rmsg.msg_iov = iin;
    rmsg.msg_iovlen = 2;
    rmsg.msg_control = ctl2.buf;
    rmsg.msg_controllen = sizeof ctl2.buf;
    recvmsg(sv[1], &rmsg, MSG_CMSG_CLOEXEC);

    sendto(sv[1], "ping", 4, MSG_DONTWAIT, NULL, 0);
    char rb[8];
    recvfrom(sv[0], rb, sizeof rb, 0, NULL, NULL);

    fd_set rfds;
    FD_ZERO(&rfds);
    FD_SET(sv[0], &rfds);
    FD_SET(sv[1], &rfds);
    struct timeval tv = {0, 0};
    select(sv[1] + 1, &rfds, NULL, NULL, &tv);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = 7};
    epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);
    struct epoll_event evs[4];
    epoll_wait(ep, evs, 4, 0);
    epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL);
    close(ep);

    shutdown(sv[0], SHUT_WR);
    recvfrom(sv[1], rb, sizeof rb, 0, NULL, NULL);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
