"""Which renderer each argument of a syscall gets: strace's decoders, as one table.

A signature is a tuple of renderers, one per argument shown, in order; ``out(...)``
marks an argument the kernel writes (rendered at the exit stop), ``at(i, ...)`` takes
raw argument ``i`` instead of the next one.  Calls whose shape depends on an argument
(fcntl's command, futex's op, clone's flags) have a function ``(ctx) -> signature``.

Names are the uapi names of :mod:`tracer.syscalls`; one table serves every ABI since the
renderers pick the ABI's layouts, and ``_I386`` holds the calls i386 spells differently.
Anything not here falls back to python-ptrace's prototype (count and C types), and
unknown numbers to six hex arguments (strace's ``syscall_0x1f4(0x1, ...)``).

The renderers are in :mod:`tracer.syscalls.decode`, named here by their family module
(``fs.stat_out()``, ``net.sockaddr_in(2)``; the common number and flag renderers bare),
as are the shapes of the calls that depend on an argument (``fs.fcntl``,
``process.clone``).  Every one either reads no memory
(:func:`~tracer.syscalls.decode.common.scalar` or :func:`~tracer.syscalls.decode.common.pure`)
or has a fetch (:func:`~tracer.syscalls.decode.common.fetched_by`), so that
:mod:`tracer.format` can read its memory at the stop and render it later;
``tests/tracer/test_format_deferred.py`` checks that none is left unknown.  Renderers
made per call (by the shapes) are marked per call; ``scalar`` ones are made once, since
:data:`~tracer.syscalls.decode.SCALARS` keeps every function registered in it.
"""

from __future__ import annotations

from ptrace.syscall.prototypes import FILENAME_ARGUMENTS, SYSCALL_PROTOTYPES

from probes.abi import Abi, syscalls
from tracer.syscalls import xlat as X
from tracer.syscalls.decode import (
    fs,
    ioctl,
    memory,
    misc,
    msg,
    net,
    poll,
    process,
    shared,
    signal,
    strings,
    sysinfo,
    time,
)
from tracer.syscalls.decode.common import (
    Arg,
    Ctx,
    Render,
    Sig,
    SigFn,
    at,
    fd,
    flags,
    hex_,
    int_,
    long_,
    oct_,
    out,
    out_fds,
    out_ints,
    output,
    ptr,
    uint,
    ulong,
    xval,
)
from tracer.syscalls.prototypes import arg_count, prototype_name

FD = fd
INT = int_
UINT = uint
LONG = long_
ULONG = ulong
HEX = hex_
PTR = ptr
MODE = oct_
PATH = strings.path
DIRFD = fs.dirfd
ID = shared.uid
AT_FLAGS = flags(X.AT_FLAGS)
STAT = fs.stat_out()
RES = xval(X.RLIMIT_RESOURCES)
CLOCK = xval(X.CLOCK_IDS)
OUT_PTR = out(PTR)  # an output struct we do not decode: its address, after the inputs


# --- the table -----------------------------------------------------------------------

OPEN_FLAGS = fs.open_flags
PIPE_FLAGS = flags(X.OPEN_FLAGS)
SOCK_FLAGS = flags(X.SOCKET_TYPE_FLAGS)
MSG_FLAGS = flags(X.MSG_FLAGS)

SIGNATURES: dict[str, Sig | SigFn] = {
    # files
    "read": (FD, out(shared.nullable(strings.out_buf())), ULONG),
    "write": (FD, shared.nullable(strings.in_buf(2)), ULONG),
    "pread64": (FD, out(shared.nullable(strings.out_buf())), ULONG, LONG),
    "pwrite64": (FD, shared.nullable(strings.in_buf(2)), ULONG, LONG),
    "readv": (FD, out(msg.iovec_out(2)), INT),
    "writev": (FD, msg.iovec_in(2), INT),
    "preadv": (FD, out(msg.iovec_out(2)), INT, LONG),
    "pwritev": (FD, msg.iovec_in(2), INT, LONG),
    "preadv2": (FD, out(msg.iovec_out(2)), INT, LONG, at(5, flags(X.RWF_FLAGS))),
    "pwritev2": (FD, msg.iovec_in(2), INT, LONG, at(5, flags(X.RWF_FLAGS))),
    "open": (PATH, OPEN_FLAGS, fs.open_mode(1)),
    "openat": (DIRFD, PATH, OPEN_FLAGS, fs.open_mode(2)),
    "creat": (PATH, MODE),
    "close": (FD,),
    "close_range": (UINT, UINT, flags(((2, "CLOSE_RANGE_UNSHARE"), (4, "CLOSE_RANGE_CLOEXEC")))),
    "stat": (PATH, out(STAT)),
    "lstat": (PATH, out(STAT)),
    "fstat": (FD, out(STAT)),
    "newfstatat": (DIRFD, PATH, out(STAT), AT_FLAGS),
    "statx": (DIRFD, PATH, fs.statx_flags, flags(X.STATX_MASK), out(fs.statx_out)),
    "statfs": (PATH, out(sysinfo.statfs)),
    "fstatfs": (FD, out(sysinfo.statfs)),
    "utimensat": (DIRFD, PATH, sysinfo.utimens, AT_FLAGS),
    "lseek": (FD, LONG, xval(X.SEEK_WHENCE)),
    "access": (PATH, flags(X.ACCESS_MODES, "F_OK")),
    "faccessat": (DIRFD, PATH, flags(X.ACCESS_MODES, "F_OK")),
    "faccessat2": (DIRFD, PATH, flags(X.ACCESS_MODES, "F_OK"), flags(X.FACCESSAT_FLAGS)),
    "pipe": (out(out_fds(2)),),
    "pipe2": (out(out_fds(2)), PIPE_FLAGS),
    "dup": (FD,),
    "dup2": (FD, FD),
    "dup3": (FD, FD, PIPE_FLAGS),
    "fcntl": fs.fcntl,
    "ioctl": ioctl.ioctl,
    "getdents64": (FD, out(fs.dirents), UINT),
    "getdents": (FD, OUT_PTR, UINT),
    "fadvise64": (FD, LONG, LONG, xval(X.FADVISE_ADVICE)),
    "getcwd": (out(strings.out_path), ULONG),
    "chdir": (PATH,),
    "fchdir": (FD,),
    "rename": (PATH, PATH),
    "renameat": (DIRFD, PATH, DIRFD, PATH),
    "renameat2": (DIRFD, PATH, DIRFD, PATH, flags(((1, "RENAME_NOREPLACE"),
                                                     (2, "RENAME_EXCHANGE"),
                                                     (4, "RENAME_WHITEOUT")))),
    "mkdir": (PATH, MODE),
    "mkdirat": (DIRFD, PATH, MODE),
    "rmdir": (PATH,),
    "unlink": (PATH,),
    "unlinkat": (DIRFD, PATH, AT_FLAGS),
    "link": (PATH, PATH),
    "linkat": (DIRFD, PATH, DIRFD, PATH, AT_FLAGS),
    "symlink": (PATH, PATH),
    "symlinkat": (PATH, DIRFD, PATH),
    "readlink": (PATH, out(strings.out_buf()), ULONG),
    "readlinkat": (DIRFD, PATH, out(strings.out_buf()), ULONG),
    "chmod": (PATH, MODE),
    "fchmod": (FD, MODE),
    "fchmodat": (DIRFD, PATH, MODE),
    "fchmodat2": (DIRFD, PATH, MODE, AT_FLAGS),
    "chown": (PATH, ID, ID),
    "lchown": (PATH, ID, ID),
    "fchown": (FD, ID, ID),
    "fchownat": (DIRFD, PATH, ID, ID, AT_FLAGS),
    "umask": (MODE,),
    "mount": (strings.str_, PATH, strings.str_, HEX, PTR),
    "umount2": (PATH, flags(((1, "MNT_FORCE"), (2, "MNT_DETACH"), (4, "MNT_EXPIRE"),
                               (8, "UMOUNT_NOFOLLOW")))),
    "truncate": (PATH, LONG),
    "ftruncate": (FD, LONG),
    "fsync": (FD,),
    "fdatasync": (FD,),
    "flock": (FD, xval({1: "LOCK_SH", 2: "LOCK_EX", 8: "LOCK_UN", 5: "LOCK_SH|LOCK_NB",
                          6: "LOCK_EX|LOCK_NB", 12: "LOCK_UN|LOCK_NB"})),
    # memory
    "mmap": (PTR, ULONG, memory.prot, memory.mmap_flags, FD, HEX),
    "mprotect": (PTR, ULONG, memory.prot),
    "munmap": (PTR, ULONG),
    "brk": (PTR,),
    "mremap": (PTR, ULONG, ULONG, flags(X.MREMAP_FLAGS), PTR),
    "madvise": (PTR, ULONG, xval(X.MADVISE_ADVICE)),
    "mlock": (PTR, ULONG),
    "munlock": (PTR, ULONG),
    # signals
    "rt_sigaction": (signal.sig, signal.sigaction, out(output(signal.sigaction)), ULONG),
    "rt_sigprocmask": (xval(X.SIGPROCMASK_HOW), signal.sigset(3), out(output(signal.sigset(3))),
                       ULONG),
    "rt_sigsuspend": (signal.sigset(1), ULONG),
    "rt_sigpending": (out(output(signal.sigset(1))), ULONG),
    "rt_sigreturn": (signal.rt_sigreturn,),
    "sigaltstack": (PTR, OUT_PTR),
    "kill": (INT, signal.sig),
    "tkill": (INT, signal.sig),
    "tgkill": (INT, INT, signal.sig),
    "pause": (),
    "alarm": (UINT,),
    # processes
    "execve": (PATH, process.argv, process.envp),
    "execveat": (DIRFD, PATH, process.argv, process.envp, AT_FLAGS),
    "exit": (INT,),
    "exit_group": (INT,),
    "fork": (),
    "vfork": (),
    "clone": process.clone,
    "clone3": (process.clone_args, ULONG),
    "wait4": (INT, out(process.wait_status), flags(X.WAIT_OPTIONS), OUT_PTR),
    "waitid": (xval({0: "P_ALL", 1: "P_PID", 2: "P_PGID", 3: "P_PIDFD"}), INT, OUT_PTR,
               flags(X.WAIT_OPTIONS), OUT_PTR),
    "arch_prctl": misc.arch_prctl,
    "seccomp": (xval({0: "SECCOMP_SET_MODE_STRICT", 1: "SECCOMP_SET_MODE_FILTER",
                        2: "SECCOMP_GET_ACTION_AVAIL", 3: "SECCOMP_GET_NOTIF_SIZES"}, UINT),
                HEX, PTR),
    "prctl": misc.prctl,
    "set_tid_address": (PTR,),
    "set_robust_list": (PTR, ULONG),
    "rseq": (PTR, HEX, HEX, HEX),
    "prlimit64": (INT, RES, misc.rlimit(rlim64=True), out(output(misc.rlimit(rlim64=True)))),
    "getrlimit": (RES, out(output(misc.rlimit(rlim64=False)))),
    "setrlimit": (RES, misc.rlimit(rlim64=False)),
    "uname": (out(output(misc.uname)),),
    "getrandom": (out(strings.out_buf(hex_all=True)), ULONG, flags(X.GETRANDOM_FLAGS)),
    "futex": process.futex(time64=False),
    "sched_yield": (),
    "sched_getaffinity": (INT, UINT, out(sysinfo.cpu_set_out)),
    "sched_setaffinity": (INT, UINT, sysinfo.cpu_set_in),
    "getgroups": (INT, out(misc.id_list)),
    "setgroups": (INT, sysinfo.group_list(4)),
    "setuid": (ID,),
    "setgid": (ID,),
    "setreuid": (ID, ID),
    "setregid": (ID, ID),
    "setresuid": (ID, ID, ID),
    "setresgid": (ID, ID, ID),
    "getresuid": (out(output(out_ints(1))), out(output(out_ints(1))), out(output(out_ints(1)))),
    "getresgid": (out(output(out_ints(1))), out(output(out_ints(1))), out(output(out_ints(1)))),
    "setfsuid": (ID,),
    "setfsgid": (ID,),
    "getpriority": (sysinfo.priority_which, INT),
    "setpriority": (sysinfo.priority_which, INT, INT),
    "memfd_create": (strings.str_, sysinfo.memfd_flags),
    "sysinfo": (out(sysinfo.sysinfo),),
    "getrusage": (sysinfo.rusage_who, out(sysinfo.rusage)),
    "times": (out(sysinfo.tms),),
    "setpgid": (INT, INT),
    "getpgid": (INT,),
    "getsid": (INT,),
    "setsid": (),
    # time
    "nanosleep": (time.timespec(), out(time.remaining())),
    "clock_nanosleep": (CLOCK, flags(X.TIMER_FLAGS), time.timespec(), out(time.remaining())),
    "clock_gettime": (CLOCK, out(output(time.timespec()))),
    "clock_getres": (CLOCK, out(output(time.timespec()))),
    # sockets
    "socket": (xval(X.ADDRESS_FAMILIES), net.socket_type, net.socket_protocol(0)),
    "socketpair": (xval(X.ADDRESS_FAMILIES), net.socket_type, net.socket_protocol(0),
                   out(out_fds(2))),
    "connect": (FD, net.sockaddr_in(2), UINT),
    "bind": (FD, net.sockaddr_in(2), UINT),
    "listen": (FD, INT),
    "accept": (FD, out(net.sockaddr_out(2)), net.socklen),
    "accept4": (FD, out(net.sockaddr_out(2)), net.socklen, SOCK_FLAGS),
    "getsockname": (FD, out(net.sockaddr_out(2)), net.socklen),
    "getpeername": (FD, out(net.sockaddr_out(2)), net.socklen),
    "sendto": (FD, shared.nullable(strings.in_buf(2)), ULONG, MSG_FLAGS, net.sockaddr_in(5),
               UINT),
    "recvfrom": (FD, out(shared.nullable(strings.out_buf())), ULONG, MSG_FLAGS,
                 out(net.sockaddr_out(5)), net.socklen),
    "sendmsg": (FD, msg.msghdr_in, MSG_FLAGS),
    "recvmsg": (FD, out(msg.msghdr_out), MSG_FLAGS),
    "sendmmsg": (FD, out(msg.mmsghdr_out(received=False)), UINT, MSG_FLAGS),
    "recvmmsg": (FD, out(msg.mmsghdr_out(received=True)), UINT, MSG_FLAGS, time.timespec()),
    "setsockopt": (FD, msg.sockopt_level, msg.sockopt_name, msg.optval_in, INT),
    "getsockopt": (FD, msg.sockopt_level, msg.sockopt_name, out(msg.optval_out), net.socklen),
    "shutdown": (FD, xval({0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"})),
    # event loops
    "poll": (poll.pollfds, UINT, INT),
    "ppoll": (poll.pollfds, UINT, time.timespec(), signal.sigset(4), ULONG),
    "select": (INT, poll.fd_set, poll.fd_set, poll.fd_set, poll.timeval),
    "pselect6": (INT, poll.fd_set, poll.fd_set, poll.fd_set, time.timespec(),
                 poll.pselect6_sigmask),
    "epoll_create": (INT,),
    "epoll_create1": (flags(((0o2000000, "EPOLL_CLOEXEC"),)),),
    "epoll_ctl": (FD, xval(X.EPOLL_CTL_OPS), FD, poll.epoll_event),
    "epoll_wait": (FD, out(poll.epoll_events_out), INT, INT),
    "epoll_pwait": (FD, out(poll.epoll_events_out), INT, INT, signal.sigset(5), ULONG),
    "epoll_pwait2": (FD, out(poll.epoll_events_out), INT, time.timespec(time64=True),
                     signal.sigset(5), ULONG),
    "eventfd2": (UINT, flags(((0o2000000, "EFD_CLOEXEC"), (0o4000, "EFD_NONBLOCK"),
                               (1, "EFD_SEMAPHORE")))),
}

# i386 spells some calls differently, or passes other layouts under the same name.
_I386: dict[str, Sig | SigFn] = {
    "mmap": (PTR,),  # old_mmap: one pointer to the six arguments
    "mmap2": (PTR, ULONG, memory.prot, memory.mmap_flags, FD, memory.mmap2_offset),
    "_llseek": (FD, at(1, fs.llseek_offset), out(fs.loff_out, 3), at(4, xval(X.SEEK_WHENCE))),
    "stat64": (PATH, out(fs.stat_out(stat64=True))),
    "lstat64": (PATH, out(fs.stat_out(stat64=True))),
    "fstat64": (FD, out(fs.stat_out(stat64=True))),
    "fstatat64": (DIRFD, PATH, out(fs.stat_out(stat64=True)), AT_FLAGS),
    "fcntl64": fs.fcntl,
    "waitpid": (INT, out(process.wait_status), flags(X.WAIT_OPTIONS)),
    "ugetrlimit": (RES, out(output(misc.rlimit(rlim64=False)))),
    "futex_time64": process.futex(time64=True),
    "clock_nanosleep_time64": (CLOCK, flags(X.TIMER_FLAGS), time.timespec(time64=True),
                               out(time.remaining(time64=True))),
    "clock_gettime64": (CLOCK, out(output(time.timespec(time64=True)))),
    "clock_getres_time64": (CLOCK, out(output(time.timespec(time64=True)))),
    "getgroups32": (INT, out(misc.id_list)),
    "setgroups32": (INT, sysinfo.group_list(4)),
    "chown32": (PATH, ID, ID),
    "lchown32": (PATH, ID, ID),
    "fchown32": (FD, ID, ID),
    "setuid32": (ID,),
    "setgid32": (ID,),
    "setreuid32": (ID, ID),
    "setregid32": (ID, ID),
    "setresuid32": (ID, ID, ID),
    "setresgid32": (ID, ID, ID),
    "setfsuid32": (ID,),
    "setfsgid32": (ID,),
    "chown": (PATH, shared.uid16, shared.uid16),
    "lchown": (PATH, shared.uid16, shared.uid16),
    "fchown": (FD, shared.uid16, shared.uid16),
    "setuid": (shared.uid16,),
    "setgid": (shared.uid16,),
    "setreuid": (shared.uid16, shared.uid16),
    "setregid": (shared.uid16, shared.uid16),
    "setresuid": (shared.uid16, shared.uid16, shared.uid16),
    "setresgid": (shared.uid16, shared.uid16, shared.uid16),
    "setfsuid": (shared.uid16,),
    "setfsgid": (shared.uid16,),
    "setgroups": (INT, sysinfo.group_list(2)),
    "statfs": (PATH, out(sysinfo.statfs)),
    "fstatfs": (FD, out(sysinfo.statfs)),
    "statfs64": (PATH, UINT, out(sysinfo.statfs64)),
    "fstatfs64": (FD, UINT, out(sysinfo.statfs64)),
    "_newselect": (INT, poll.fd_set, poll.fd_set, poll.fd_set, poll.timeval),
    "ppoll_time64": (poll.pollfds, UINT, time.timespec(time64=True), signal.sigset(4), ULONG),
    "pselect6_time64": (INT, poll.fd_set, poll.fd_set, poll.fd_set,
                        time.timespec(time64=True), poll.pselect6_sigmask),
    "recvmmsg_time64": (FD, out(msg.mmsghdr_out(received=True)), UINT, MSG_FLAGS,
                        time.timespec(time64=True)),
    "utimensat_time64": (DIRFD, PATH, sysinfo.utimens64, AT_FLAGS),
    "preadv": (FD, out(msg.iovec_out(2)), INT, at(3, msg.split_offset(3))),
    "pwritev": (FD, msg.iovec_in(2), INT, at(3, msg.split_offset(3))),
    "preadv2": (FD, out(msg.iovec_out(2)), INT, at(3, msg.split_offset(3)),
                at(5, flags(X.RWF_FLAGS))),
    "pwritev2": (FD, msg.iovec_in(2), INT, at(3, msg.split_offset(3)),
                 at(5, flags(X.RWF_FLAGS))),
}


# --- fallback from python-ptrace's prototypes ---------------------------------------------

_NOT_STRINGS = {"buf", "msg_ptr"}  # "const char *" in python-ptrace, but byte buffers
_SIGNED_TYPES = {"int", "pid_t", "key_serial_t", "clockid_t", "mqd_t", "timer_t", "int32_t"}
_LONG_TYPES = {"long", "off_t", "loff_t", "ssize_t"}
_UNSIGNED_TYPES = {"unsigned int", "unsigned", "u32", "__u32", "qid_t", "unsigned short"}
_ID_TYPES = {"uid_t", "gid_t"}   # (uid_t) -1 is shown as -1, as strace's printuid
_OLD_ID_TYPES = {"old_uid_t", "old_gid_t"}   # i386's 16-bit ids: 0xffff is -1
_DIRFD_NAMES = {"dfd", "dirfd", "olddfd", "newdfd", "olddirfd", "newdirfd"}


def _from_prototype(ctype: str, name: str) -> Render:
    """A renderer for one prototype argument, from its C type and name."""
    if "*" in ctype:
        if ctype == "const char *" and name in FILENAME_ARGUMENTS:
            return PATH
        if ctype == "const char *" and name not in _NOT_STRINGS:
            return strings.str_  # xattr names, key types, module arguments
        return PTR
    if name in _DIRFD_NAMES:
        return DIRFD
    if name == "fd" or name.endswith("fd"):
        return FD
    if ctype in _ID_TYPES:
        return ID
    if ctype in _OLD_ID_TYPES:
        return shared.uid16
    if ctype == "umode_t":
        return MODE
    if ctype == "size_t":
        return ULONG
    if ctype in _SIGNED_TYPES:
        return INT
    if ctype in _LONG_TYPES:
        return LONG
    if ctype in _UNSIGNED_TYPES:
        return UINT
    return HEX


def _generic(abi: Abi, nr: int) -> Sig:
    key = prototype_name(abi, nr)
    if key is not None:
        return tuple(_from_prototype(ctype, name) for ctype, name in SYSCALL_PROTOTYPES[key][1])
    return (HEX,) * arg_count(abi, nr)


_CACHE: dict[tuple[Abi, int], tuple[Arg, ...] | SigFn] = {}


def _normalise(sig: Sig) -> tuple[Arg, ...]:
    """Plain renderers take the raw argument at their position."""
    specs = []
    for pos, item in enumerate(sig):
        spec = item if isinstance(item, Arg) else Arg(item)
        if spec.index < 0:
            spec = Arg(spec.render, pos, spec.at_exit, spec.exit_suffix)
        specs.append(spec)
    return tuple(specs)


def _lookup(abi: Abi, nr: int) -> tuple[Arg, ...] | SigFn:
    key = (abi, nr)
    found = _CACHE.get(key)
    if found is None:
        name = syscalls(abi).get(nr)
        entry: Sig | SigFn | None = None
        if name is not None:
            entry = (_I386.get(name) if abi is Abi.I386 else None) or SIGNATURES.get(name)
        found = entry if callable(entry) else _normalise(entry if entry is not None
                                                         else _generic(abi, nr))
        _CACHE[key] = found
    return found


def signature_for(ctx: Ctx, nr: int) -> tuple[Arg, ...]:
    """The argument specs of call ``nr`` under ``ctx.abi`` (cached unless shape varies)."""
    found = _lookup(ctx.abi, nr)
    return found if isinstance(found, tuple) else _normalise(found(ctx))


def static_signature(abi: Abi, nr: int) -> tuple[Arg, ...] | None:
    """The argument specs of call ``nr`` (normalised, as :func:`signature_for` takes it)
    when they are the same for every call, or None when they depend on the arguments
    (fcntl's command, futex's op, clone's flags, prctl's option, arch_prctl's code)."""
    found = _lookup(abi, nr)
    return found if isinstance(found, tuple) else None
