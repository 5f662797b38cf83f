"""The io_uring warning: a profile that lets a program set up an io_uring, and has rules
on syscalls that io_uring can do without making them, is not what it seems.

An io_uring operation (IORING_OP_MKDIRAT, IORING_OP_OPENAT, IORING_OP_CONNECT...) runs in
the kernel without the syscall: neither seccomp nor trace-run sees it, so a rule on
``mkdirat`` does not hold against a program that uses io_uring for it.  That is
seccomp's own limit (the reason Docker's default profile dropped io_uring in 2023);
trace-run says so when it loads such a profile, rather than pretending to hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from probes.abi import Abi, syscall_number

if TYPE_CHECKING:
    from probes.policy.resolve import Policy

__all__ = ["URING_CALLS", "io_uring_warning"]

URING_CALLS: Final = (
    "openat", "openat2", "open", "mkdirat", "mkdir", "unlinkat", "unlink", "rmdir",
    "renameat", "renameat2", "rename", "symlinkat", "symlink", "linkat", "link",
    "connect", "socket", "bind", "listen", "accept", "accept4", "setxattr", "fsetxattr",
    "getxattr", "fgetxattr", "statx", "read", "write", "pread64", "pwrite64", "readv",
    "writev", "preadv", "pwritev", "preadv2", "pwritev2", "fsync", "fdatasync",
    "sync_file_range", "poll", "ppoll", "epoll_ctl", "close", "fallocate", "fadvise64",
    "madvise", "ftruncate", "splice", "tee", "shutdown", "sendmsg", "recvmsg", "sendto",
    "recvfrom", "waitid", "futex")
"""Syscalls that an io_uring operation does without the syscall (include/uapi/linux/
io_uring.h, IORING_OP_*, up to Linux 6.8), those that change the file system or
the network first: the warning names the first few."""


def _allows(policy: Policy, nr: int) -> bool:
    from probes.policy.resolve import Kind, decide
    return decide(policy, Abi.X86_64, nr, (0,) * 6).kind <= Kind.LOG


def _plainly_allowed(policy: Policy, nr: int) -> bool:
    """Allowed whatever its arguments: no rule that denies, and the default or an
    unconditional rule allows."""
    from probes.policy.resolve import Kind
    rules = policy.rules.get(Abi.X86_64, {}).get(nr, [])
    if any(r.verdict.kind > Kind.LOG for r in rules):
        return False
    return any(not r.conds for r in rules) or policy.default.kind <= Kind.LOG


def io_uring_warning(policy: Policy) -> str | None:
    """The warning for ``policy``, or None: io_uring is not allowed, or every call it can
    do is allowed anyway."""
    setup = syscall_number(Abi.X86_64, "io_uring_setup")
    enter = syscall_number(Abi.X86_64, "io_uring_enter")
    if setup is None or enter is None or Abi.X86_64 not in policy.abis:
        return None
    if not (_allows(policy, setup) and _allows(policy, enter)):
        return None
    ruled = [name for name in URING_CALLS
             if (nr := syscall_number(Abi.X86_64, name)) is not None
             and not _plainly_allowed(policy, nr)]
    if not ruled:
        return None
    shown = ", ".join(ruled[:6]) + (f" and {len(ruled) - 6} more" if len(ruled) > 6 else "")
    return (f"io_uring is allowed, and its operations do {shown} without the syscall: "
            "the rules on these do not hold against io_uring (as under seccomp)")
