"""Which renderer each argument of a syscall gets: strace's decoders, as one table.

A signature is a tuple of renderers, one per argument shown, in order; ``out(...)``
marks an argument the kernel writes (rendered at the exit stop), ``at(i, ...)`` takes
raw argument ``i`` instead of the next one.  Calls whose shape depends on an argument
(fcntl's command, futex's op, clone's flags) have a function ``(ctx) -> signature``.

Names are the uapi names of :mod:`tracer.syscalls`; one table serves every ABI since the
renderers pick the ABI's layouts, and ``_I386`` holds the calls i386 spells differently.
Anything not here falls back to python-ptrace's prototype (count and C types), and
unknown numbers to six hex arguments (strace's ``syscall_0x1f4(0x1, ...)``).

Every renderer here either reads no memory (:func:`tracer.syscalls.decode.scalar` or
:func:`~tracer.syscalls.decode.pure`) or has a fetch
(:func:`~tracer.syscalls.decode.fetched_by`), so that :mod:`tracer.format` can read its
memory at the stop and render it later; ``tests/tracer/test_format_deferred.py`` checks
that none is left unknown.  Renderers made per call (the shapes below) are marked per
call; ``scalar`` ones are made once, since :data:`~tracer.syscalls.decode.SCALARS` keeps
every function registered in it.
"""

from __future__ import annotations

from collections.abc import Callable

from ptrace.syscall.prototypes import FILENAME_ARGUMENTS, SYSCALL_PROTOTYPES

from probes.abi import Abi, syscalls
from tracer.syscalls import decode as D
from tracer.syscalls import layouts as L
from tracer.syscalls import xlat as X
from tracer.syscalls.decode import Arg, Ctx, Render, at, out
from tracer.syscalls.prototypes import arg_count, prototype_name

Sig = tuple[Render | Arg, ...]
SigFn = Callable[[Ctx], Sig]

FD = D.int_
INT = D.int_
UINT = D.uint
LONG = D.long_
ULONG = D.ulong
HEX = D.hex_
PTR = D.ptr
MODE = D.oct_
PATH = D.path
DIRFD = D.dirfd
AT_FLAGS = D.flags(X.AT_FLAGS)
STAT = D.stat_out()
RES = D.xval(X.RLIMIT_RESOURCES)
CLOCK = D.xval(X.CLOCK_IDS)
OUT_PTR = out(PTR)  # an output struct we do not decode: its address, after the inputs


def labelled(label: str, render: Render) -> Render:
    """``child_stack=NULL``: clone prints its arguments by name."""
    def labelled_render(ctx: Ctx, v: int) -> str | None:
        text = render(ctx, v)
        return None if text is None else label + text
    if render in D.SCALARS:
        return D.scalar(labelled_render)
    return D.fetched_by(D.fetch_of(render))(labelled_render)


# --- shapes that depend on an argument ----------------------------------------------------


_FCNTL_UNKNOWN = D.scalar(lambda c, v: f"{D.hx(v & 0xFFFFFFFF)} /* F_??? */")
_FD_FLAGS = D.flags(X.FD_FLAGS)


def _fcntl(ctx: Ctx) -> Sig:
    cmd = ctx.args[1] & 0xFFFFFFFF
    name = X.FCNTL_CMDS.get(cmd)
    if name is None:
        return (FD, _FCNTL_UNKNOWN, HEX)
    shown = D.pure(lambda c, v: name)
    if name.startswith("F_GET") and name not in ("F_GETLK", "F_GETOWN_EX"):
        return (FD, shown)
    third: Render
    if name == "F_SETFD":
        third = _FD_FLAGS
    elif name == "F_SETFL":
        third = D.open_flags
    elif name in ("F_GETLK", "F_SETLK", "F_SETLKW", "F_OFD_GETLK", "F_OFD_SETLK",
                  "F_OFD_SETLKW", "F_SETOWN_EX", "F_GETOWN_EX"):
        third = PTR
    else:
        third = INT
    return (FD, shown, third)


def _futex(*, time64: bool) -> SigFn:
    timeout = D.timespec(time64=time64)

    @D.scalar
    def op_text(ctx: Ctx, v: int) -> str:
        cmd = v & 0x7F
        name = X.FUTEX_OPS.get(cmd)
        if name is None:
            return D.hex_(ctx, v)
        if v & X.FUTEX_PRIVATE_FLAG:
            name += "_PRIVATE"
        if v & X.FUTEX_CLOCK_REALTIME:
            name += "|FUTEX_CLOCK_REALTIME"
        leftover = v & 0xFFFFFFFF & ~(0x7F | X.FUTEX_PRIVATE_FLAG | X.FUTEX_CLOCK_REALTIME)
        return f"{name}|{leftover:#x}" if leftover else name

    @D.scalar
    def bitset(ctx: Ctx, v: int) -> str:
        return "FUTEX_BITSET_MATCH_ANY" if v & 0xFFFFFFFF == 0xFFFFFFFF else D.hex_(ctx, v)

    shapes: dict[str, Sig] = {
        "FUTEX_WAIT": (PTR, op_text, UINT, timeout),
        "FUTEX_WAKE": (PTR, op_text, INT),
        "FUTEX_FD": (PTR, op_text, INT),
        "FUTEX_REQUEUE": (PTR, op_text, INT, INT, PTR),
        "FUTEX_CMP_REQUEUE": (PTR, op_text, INT, INT, PTR, INT),
        "FUTEX_WAKE_OP": (PTR, op_text, INT, INT, PTR, HEX),
        "FUTEX_LOCK_PI": (PTR, op_text, at(3, timeout)),
        "FUTEX_LOCK_PI2": (PTR, op_text, at(3, timeout)),
        "FUTEX_TRYLOCK_PI": (PTR, op_text),
        "FUTEX_UNLOCK_PI": (PTR, op_text),
        "FUTEX_WAIT_BITSET": (PTR, op_text, UINT, timeout, at(5, bitset)),
        "FUTEX_WAKE_BITSET": (PTR, op_text, INT, at(5, bitset)),
        "FUTEX_WAIT_REQUEUE_PI": (PTR, op_text, UINT, timeout, PTR),
        "FUTEX_CMP_REQUEUE_PI": (PTR, op_text, INT, INT, PTR, INT),
    }

    def futex(ctx: Ctx) -> Sig:
        name = X.FUTEX_OPS.get(ctx.args[1] & 0x7F)
        return shapes.get(name or "", (PTR, op_text, HEX, HEX, HEX, HEX))
    return futex


_CLONE_STACK = at(1, labelled("child_stack=", PTR))
_CLONE_FLAGS = at(0, labelled("flags=", D.scalar(lambda c, v: D.clone_flags_text(v & 0xFFFFFFFF))))
_CLONE_PARENT_TID = out(labelled("parent_tid=", D.out_ints(1)), 2)
_CLONE_TLS = labelled("tls=", HEX)
_CLONE_CHILD_TID = labelled("child_tidptr=", HEX)


def _clone(ctx: Ctx) -> Sig:
    flags = ctx.args[0]
    tls_i, ctid_i = (3, 4) if ctx.abi is Abi.I386 else (4, 3)
    sig: list[Render | Arg] = [_CLONE_STACK, _CLONE_FLAGS]
    if flags & X.CLONE_PARENT_SETTID:
        sig.append(_CLONE_PARENT_TID)
    if flags & X.CLONE_SETTLS:
        sig.append(at(tls_i, _CLONE_TLS))
    if flags & X.CLONE_CHILD_TID:
        sig.append(at(ctid_i, _CLONE_CHILD_TID))
    return tuple(sig)


def _clone_args(ctx: Ctx, v: int) -> L.CloneArgs | None:
    size = min(ctx.args[1], L.CLONE_ARGS_SIZE)
    return L.unpack_clone_args(ctx.mem(v, size) or b"") if size else None


def _fetch_clone_args(ctx: Ctx, v: int) -> None:
    size = min(ctx.args[1], L.CLONE_ARGS_SIZE)
    if size:
        ctx.mem(v, size)


def _fetch_clone3_exit(ctx: Ctx, v: int) -> None:
    ca = None if ctx.failed else _clone_args(ctx, v)
    if ca is None:
        return
    for flag, addr in ((X.CLONE_PIDFD, ca.pidfd), (X.CLONE_PARENT_SETTID, ca.parent_tid)):
        if ca.flags & flag:
            ctx.mem(addr, 4)


@D.fetched_by(_fetch_clone_args)
def _clone3_entry(ctx: Ctx, v: int) -> str:
    ca = _clone_args(ctx, v)
    if ca is None:
        return D.ptr(ctx, v)
    fields = [f"flags={D.clone_flags_text(ca.flags, clone3=True)}"]
    if ca.flags & X.CLONE_PIDFD:
        fields.append(f"pidfd={PTR(ctx, ca.pidfd)}")
    if ca.flags & X.CLONE_CHILD_TID:
        fields.append(f"child_tid={PTR(ctx, ca.child_tid)}")
    if ca.flags & X.CLONE_PARENT_SETTID:
        fields.append(f"parent_tid={PTR(ctx, ca.parent_tid)}")
    sig = X.signal_name(ca.exit_signal) if 0 < ca.exit_signal <= X.NSIG else str(ca.exit_signal)
    fields += [f"exit_signal={sig}", f"stack={PTR(ctx, ca.stack)}",
               f"stack_size={D.hx(ca.stack_size)}"]
    if ca.flags & X.CLONE_SETTLS:
        fields.append(f"tls={PTR(ctx, ca.tls)}")
    return "{" + ", ".join(fields) + "}"


@D.fetched_by(_fetch_clone3_exit)
def _clone3_exit(ctx: Ctx, v: int, entry: str) -> str:
    ca = None if ctx.failed else _clone_args(ctx, v)
    if ca is None:
        return ""
    shown = []
    for flag, name, addr in ((X.CLONE_PIDFD, "pidfd", ca.pidfd),
                             (X.CLONE_PARENT_SETTID, "parent_tid", ca.parent_tid)):
        if ca.flags & flag:
            ints = L.unpack_ints(ctx.mem(addr, 4) or b"", 1)
            if ints is not None:
                shown.append(f"{name}=[{ints[0]}]")
    return f" => {{{', '.join(shown)}}}" if shown else ""


_ARCH_PRCTL_CODE = D.xval(X.ARCH_PRCTL_CODES, HEX)
_PRCTL_OPTION = D.xval(X.PRCTL_OPTIONS, HEX)
_PRCTL_NAME_OUT = out(D.output(D.str_))


def _arch_prctl(ctx: Ctx) -> Sig:
    code = _ARCH_PRCTL_CODE
    getter = ctx.args[0] in (0x1003, 0x1004)  # ARCH_GET_FS, ARCH_GET_GS write through it
    return (code, PTR if getter else HEX)


def _prctl(ctx: Ctx) -> Sig:
    option = _PRCTL_OPTION
    name = X.PRCTL_OPTIONS.get(ctx.args[0] & 0xFFFFFFFF, "")
    if name == "PR_SET_NAME":
        return (option, D.str_)
    if name == "PR_GET_NAME":
        return (option, _PRCTL_NAME_OUT)
    if name.startswith("PR_GET_") and name != "PR_GET_PDEATHSIG":
        return (option,)
    return (option, HEX, HEX, HEX, HEX)


@D.pure
def _llseek_offset(ctx: Ctx, v: int) -> str:
    return str(D.signed((ctx.args[1] << 32) | (ctx.args[2] & 0xFFFFFFFF), 64))


def _fetch_loff_out(ctx: Ctx, v: int) -> None:
    if not ctx.failed:
        ctx.mem(v, 8)


@D.fetched_by(_fetch_loff_out)
def _loff_out(ctx: Ctx, v: int) -> str:
    data = None if ctx.failed else ctx.mem(v, 8)
    if data is None or len(data) < 8:
        return D.ptr(ctx, v)
    return f"[{int.from_bytes(data, 'little', signed=True)}]"


@D.scalar
def _mmap2_offset(ctx: Ctx, v: int) -> str:
    return D.hx(v * 4096)


# --- the table -----------------------------------------------------------------------

OPEN_FLAGS = D.open_flags
PIPE_FLAGS = D.flags(X.OPEN_FLAGS)
SOCK_FLAGS = D.flags(X.SOCKET_TYPE_FLAGS)
MSG_FLAGS = D.flags(X.MSG_FLAGS)

SIGNATURES: dict[str, Sig | SigFn] = {
    # files
    "read": (FD, out(D.out_buf()), ULONG),
    "write": (FD, D.in_buf(2), ULONG),
    "pread64": (FD, out(D.out_buf()), ULONG, LONG),
    "pwrite64": (FD, D.in_buf(2), ULONG, LONG),
    "readv": (FD, OUT_PTR, INT),
    "writev": (FD, PTR, INT),
    "open": (PATH, OPEN_FLAGS, D.open_mode(1)),
    "openat": (DIRFD, PATH, OPEN_FLAGS, D.open_mode(2)),
    "creat": (PATH, MODE),
    "close": (FD,),
    "close_range": (UINT, UINT, D.flags(((2, "CLOSE_RANGE_UNSHARE"), (4, "CLOSE_RANGE_CLOEXEC")))),
    "stat": (PATH, out(STAT)),
    "lstat": (PATH, out(STAT)),
    "fstat": (FD, out(STAT)),
    "newfstatat": (DIRFD, PATH, out(STAT), AT_FLAGS),
    "statx": (DIRFD, PATH, D.statx_flags, D.flags(X.STATX_MASK), out(D.statx_out)),
    "statfs": (PATH, OUT_PTR),
    "fstatfs": (FD, OUT_PTR),
    "lseek": (FD, LONG, D.xval(X.SEEK_WHENCE)),
    "access": (PATH, D.flags(X.ACCESS_MODES, "F_OK")),
    "faccessat": (DIRFD, PATH, D.flags(X.ACCESS_MODES, "F_OK")),
    "faccessat2": (DIRFD, PATH, D.flags(X.ACCESS_MODES, "F_OK"), D.flags(X.FACCESSAT_FLAGS)),
    "pipe": (out(D.out_ints(2)),),
    "pipe2": (out(D.out_ints(2)), PIPE_FLAGS),
    "dup": (FD,),
    "dup2": (FD, FD),
    "dup3": (FD, FD, PIPE_FLAGS),
    "fcntl": _fcntl,
    "ioctl": (FD, D.ioctl_cmd, D.pure(lambda c, v: (PTR if c.args[1] & 0xFFFFFFFF
                                                    in X.IOCTL_CMDS else HEX)(c, v))),
    "getdents64": (FD, out(D.dirents), UINT),
    "getdents": (FD, OUT_PTR, UINT),
    "fadvise64": (FD, LONG, LONG, D.xval(X.FADVISE_ADVICE)),
    "getcwd": (out(D.out_path), ULONG),
    "chdir": (PATH,),
    "fchdir": (FD,),
    "rename": (PATH, PATH),
    "renameat": (DIRFD, PATH, DIRFD, PATH),
    "renameat2": (DIRFD, PATH, DIRFD, PATH, D.flags(((1, "RENAME_NOREPLACE"),
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
    "readlink": (PATH, out(D.out_buf()), ULONG),
    "readlinkat": (DIRFD, PATH, out(D.out_buf()), ULONG),
    "chmod": (PATH, MODE),
    "fchmod": (FD, MODE),
    "fchmodat": (DIRFD, PATH, MODE),
    "fchmodat2": (DIRFD, PATH, MODE, AT_FLAGS),
    "chown": (PATH, INT, INT),
    "lchown": (PATH, INT, INT),
    "fchown": (FD, INT, INT),
    "fchownat": (DIRFD, PATH, INT, INT, AT_FLAGS),
    "umask": (MODE,),
    "mount": (D.str_, PATH, D.str_, HEX, PTR),
    "umount2": (PATH, D.flags(((1, "MNT_FORCE"), (2, "MNT_DETACH"), (4, "MNT_EXPIRE"),
                               (8, "UMOUNT_NOFOLLOW")))),
    "truncate": (PATH, LONG),
    "ftruncate": (FD, LONG),
    "fsync": (FD,),
    "fdatasync": (FD,),
    "flock": (FD, D.xval({1: "LOCK_SH", 2: "LOCK_EX", 8: "LOCK_UN", 5: "LOCK_SH|LOCK_NB",
                          6: "LOCK_EX|LOCK_NB", 12: "LOCK_UN|LOCK_NB"})),
    # memory
    "mmap": (PTR, ULONG, D.prot, D.mmap_flags, FD, HEX),
    "mprotect": (PTR, ULONG, D.prot),
    "munmap": (PTR, ULONG),
    "brk": (PTR,),
    "mremap": (PTR, ULONG, ULONG, D.flags(X.MREMAP_FLAGS), PTR),
    "madvise": (PTR, ULONG, D.xval(X.MADVISE_ADVICE)),
    "mlock": (PTR, ULONG),
    "munlock": (PTR, ULONG),
    # signals
    "rt_sigaction": (D.sig, D.sigaction, out(D.output(D.sigaction)), ULONG),
    "rt_sigprocmask": (D.xval(X.SIGPROCMASK_HOW), D.sigset(3), out(D.output(D.sigset(3))),
                       ULONG),
    "rt_sigsuspend": (D.sigset(1), ULONG),
    "rt_sigpending": (out(D.output(D.sigset(1))), ULONG),
    "rt_sigreturn": (),
    "sigaltstack": (PTR, OUT_PTR),
    "kill": (INT, D.sig),
    "tkill": (INT, D.sig),
    "tgkill": (INT, INT, D.sig),
    "pause": (),
    "alarm": (UINT,),
    # processes
    "execve": (PATH, D.argv, D.envp),
    "execveat": (DIRFD, PATH, D.argv, D.envp, AT_FLAGS),
    "exit": (INT,),
    "exit_group": (INT,),
    "fork": (),
    "vfork": (),
    "clone": _clone,
    "clone3": (Arg(_clone3_entry, exit_suffix=_clone3_exit), ULONG),
    "wait4": (INT, out(D.wait_status), D.flags(X.WAIT_OPTIONS), OUT_PTR),
    "waitid": (D.xval({0: "P_ALL", 1: "P_PID", 2: "P_PGID", 3: "P_PIDFD"}), INT, OUT_PTR,
               D.flags(X.WAIT_OPTIONS), OUT_PTR),
    "arch_prctl": _arch_prctl,
    "seccomp": (D.xval({0: "SECCOMP_SET_MODE_STRICT", 1: "SECCOMP_SET_MODE_FILTER",
                        2: "SECCOMP_GET_ACTION_AVAIL", 3: "SECCOMP_GET_NOTIF_SIZES"}, UINT),
                HEX, PTR),
    "prctl": _prctl,
    "set_tid_address": (PTR,),
    "set_robust_list": (PTR, ULONG),
    "rseq": (PTR, HEX, HEX, HEX),
    "prlimit64": (INT, RES, D.rlimit(rlim64=True), out(D.output(D.rlimit(rlim64=True)))),
    "getrlimit": (RES, out(D.output(D.rlimit(rlim64=False)))),
    "setrlimit": (RES, D.rlimit(rlim64=False)),
    "uname": (out(D.output(D.uname)),),
    "getrandom": (out(D.out_buf(hex_all=True)), ULONG, D.flags(X.GETRANDOM_FLAGS)),
    "futex": _futex(time64=False),
    "sched_yield": (),
    "sched_getaffinity": (INT, UINT, OUT_PTR),
    "sched_setaffinity": (INT, UINT, PTR),
    "getgroups": (INT, out(D.id_list)),
    "setuid": (INT,),
    "setgid": (INT,),
    "setpgid": (INT, INT),
    "getpgid": (INT,),
    "getsid": (INT,),
    "setsid": (),
    # time
    "nanosleep": (D.timespec(), out(D.remaining())),
    "clock_nanosleep": (CLOCK, D.flags(X.TIMER_FLAGS), D.timespec(), out(D.remaining())),
    "clock_gettime": (CLOCK, out(D.output(D.timespec()))),
    "clock_getres": (CLOCK, out(D.output(D.timespec()))),
    # sockets
    "socket": (D.xval(X.ADDRESS_FAMILIES), D.socket_type, D.socket_protocol(0)),
    "socketpair": (D.xval(X.ADDRESS_FAMILIES), D.socket_type, D.socket_protocol(0),
                   out(D.out_ints(2))),
    "connect": (FD, D.sockaddr_in(2), UINT),
    "bind": (FD, D.sockaddr_in(2), UINT),
    "listen": (FD, INT),
    "accept": (FD, out(D.sockaddr_out(2)), D.socklen),
    "accept4": (FD, out(D.sockaddr_out(2)), D.socklen, SOCK_FLAGS),
    "getsockname": (FD, out(D.sockaddr_out(2)), D.socklen),
    "getpeername": (FD, out(D.sockaddr_out(2)), D.socklen),
    "sendto": (FD, D.in_buf(2), ULONG, MSG_FLAGS, D.sockaddr_in(5), UINT),
    "recvfrom": (FD, out(D.out_buf()), ULONG, MSG_FLAGS, out(D.sockaddr_out(5)),
                 D.socklen),
    "sendmsg": (FD, PTR, MSG_FLAGS),
    "recvmsg": (FD, OUT_PTR, MSG_FLAGS),
    "shutdown": (FD, D.xval({0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"})),
    # event loops
    "poll": (PTR, UINT, INT),
    "epoll_create1": (D.flags(((0o2000000, "EPOLL_CLOEXEC"),)),),
    "epoll_ctl": (FD, D.xval({1: "EPOLL_CTL_ADD", 2: "EPOLL_CTL_DEL", 3: "EPOLL_CTL_MOD"}),
                  FD, PTR),
    "epoll_wait": (FD, OUT_PTR, INT, INT),
    "epoll_pwait": (FD, OUT_PTR, INT, INT, PTR, ULONG),
    "eventfd2": (UINT, D.flags(((0o2000000, "EFD_CLOEXEC"), (0o4000, "EFD_NONBLOCK"),
                               (1, "EFD_SEMAPHORE")))),
}

# i386 spells some calls differently, or passes other layouts under the same name.
_I386: dict[str, Sig | SigFn] = {
    "mmap": (PTR,),  # old_mmap: one pointer to the six arguments
    "mmap2": (PTR, ULONG, D.prot, D.mmap_flags, FD, _mmap2_offset),
    "_llseek": (FD, at(1, _llseek_offset), out(_loff_out, 3), at(4, D.xval(X.SEEK_WHENCE))),
    "stat64": (PATH, out(D.stat_out(stat64=True))),
    "lstat64": (PATH, out(D.stat_out(stat64=True))),
    "fstat64": (FD, out(D.stat_out(stat64=True))),
    "fstatat64": (DIRFD, PATH, out(D.stat_out(stat64=True)), AT_FLAGS),
    "fcntl64": _fcntl,
    "waitpid": (INT, out(D.wait_status), D.flags(X.WAIT_OPTIONS)),
    "ugetrlimit": (RES, out(D.output(D.rlimit(rlim64=False)))),
    "futex_time64": _futex(time64=True),
    "clock_nanosleep_time64": (CLOCK, D.flags(X.TIMER_FLAGS), D.timespec(time64=True),
                               out(D.remaining(time64=True))),
    "clock_gettime64": (CLOCK, out(D.output(D.timespec(time64=True)))),
    "clock_getres_time64": (CLOCK, out(D.output(D.timespec(time64=True)))),
    "getgroups32": (INT, out(D.id_list)),
    "chown32": (PATH, INT, INT),
    "lchown32": (PATH, INT, INT),
    "fchown32": (FD, INT, INT),
    "setuid32": (INT,),
    "setgid32": (INT,),
}


# --- fallback from python-ptrace's prototypes ---------------------------------------------

_NOT_STRINGS = {"buf", "msg_ptr"}  # "const char *" in python-ptrace, but byte buffers
_SIGNED_TYPES = {"int", "pid_t", "key_serial_t", "clockid_t", "mqd_t", "timer_t", "int32_t"}
_LONG_TYPES = {"long", "off_t", "loff_t", "ssize_t"}
_UNSIGNED_TYPES = {"unsigned int", "unsigned", "uid_t", "gid_t", "old_uid_t", "old_gid_t",
                   "u32", "__u32", "qid_t", "unsigned short"}


def _from_prototype(ctype: str, name: str) -> Render:
    """A renderer for one prototype argument, from its C type and name."""
    if "*" in ctype:
        if ctype == "const char *" and name in FILENAME_ARGUMENTS:
            return PATH
        if ctype == "const char *" and name not in _NOT_STRINGS:
            return D.str_  # xattr names, key types, module arguments
        return PTR
    if name == "fd" or name.endswith("fd"):
        return FD
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
