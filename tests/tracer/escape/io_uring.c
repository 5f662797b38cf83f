/* mkdirat through io_uring (IORING_OP_MKDIRAT): no mkdirat syscall is made, so neither
   seccomp nor trace-run's policy sees it.  Raw io_uring_setup / mmap / io_uring_enter,
   no liburing.  Exits 7. */
#include "escape.h"
#include <linux/io_uring.h>
#include <sys/mman.h>

int main(void) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int fd = (int)syscall(SYS_io_uring_setup, 4, &p);
    if (fd < 0) {
        say("M uring-mkdirat setup-errno=%d", errno);
        return 7;
    }
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                    IORING_OFF_SQ_RING);
    char *cq = mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                    IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof *sqes,
                                     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                                     IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
        return 95;
    unsigned *tail = (unsigned *)(sq + p.sq_off.tail);
    unsigned *mask = (unsigned *)(sq + p.sq_off.ring_mask);
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    unsigned idx = *tail & *mask;
    struct io_uring_sqe *sqe = &sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_MKDIRAT;
    sqe->fd = AT_FDCWD;
    sqe->addr = (unsigned long)"uring-mkdirat";
    sqe->len = 0755;
    array[idx] = idx;
    __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
    long rc = syscall(SYS_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
    if (rc < 0) {
        say("M uring-mkdirat enter-errno=%d", errno);
        return 7;
    }
    unsigned *chead = (unsigned *)(cq + p.cq_off.head);
    unsigned *cmask = (unsigned *)(cq + p.cq_off.ring_mask);
    struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    struct io_uring_cqe *cqe = &cqes[*chead & *cmask];
    result("uring-mkdirat", cqe->res, cqe->res < 0 ? -cqe->res : 0);
    return 7;
}
