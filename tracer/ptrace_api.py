"""The one adapter over ptrace(2).

python-ptrace's ctypes bindings do the calls they cover (TRACEME, CONT, DETACH,
SETOPTIONS, SETREGS, PEEKDATA) and give the register structure; what they lack (SEIZE,
INTERRUPT, LISTEN, GET_SYSCALL_INFO, process_vm_readv, tgkill) or gets wrong
(GETEVENTMSG into a 4-byte int, GETSIGINFO's layout) is called here through ctypes. So
are the requests made at every stop (GET_SYSCALL_INFO, GETREGS, SYSCALL, POKEUSER):
python-ptrace's wrapper costs about 4 us a call more, and a traced program makes two
stops per syscall. Everything leaves this module typed and with errors as
:class:`OSError` (``ProcessLookupError`` for ESRCH), so python-ptrace's style
(camelCase, ``PtraceError``) stays inside.

How the calls are made.  ``ptrace`` and ``process_vm_readv`` are ctypes function objects
with a ``restype`` but no ``argtypes``: argtypes make ctypes run a ``from_param``
conversion per argument, about 0.4 us more per ptrace call and 1 us more per
process_vm_readv on the machine measured, and the loop makes several such calls per
syscall.  Without argtypes ctypes passes a bare Python int as a C ``int`` (silently keeping
its low 32 bits) and passes ctypes objects and ``None`` as what they are.  glibc's
``ptrace`` is variadic (``long ptrace(enum __ptrace_request, ...)``, reading pid_t, void *,
void *), so the request and pid go as bare ints (both are C ints) and every addr/data
argument goes as ``None`` (NULL) or a ``c_void_p``: prebuilt once for the constant ones
(the addresses of this module's buffers, GET_SYSCALL_INFO's size), built per call only for
variable values (a signal number, a POKEUSER offset and value).  process_vm_readv's pid
goes as an int, its iovec pointers as pointer objects and its three ``unsigned long``
arguments as prebuilt ``c_ulong`` objects.  Results are copied out of the preallocated
buffers by slicing them as char arrays, not by ``ctypes.string_at`` (a foreign call of its
own, with argument conversion).
"""

from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import dataclass
from typing import Final, NoReturn, TypeAlias

from ptrace import PtraceError
from ptrace import binding as _pb
from ptrace.binding import func as _pf

# ---- requests python-ptrace does not define (include/uapi/linux/ptrace.h) -----------
PTRACE_SEIZE: Final = 0x4206
PTRACE_INTERRUPT: Final = 0x4207
PTRACE_LISTEN: Final = 0x4208
PTRACE_GETEVENTMSG: Final = 0x4201
PTRACE_SYSCALL: Final = 24
PTRACE_GETREGS: Final = 12
PTRACE_POKEUSER: Final = 6
PTRACE_POKEDATA: Final = 5
PTRACE_GETSIGINFO: Final = 0x4202
PTRACE_SETSIGINFO: Final = 0x4203
PTRACE_CONT: Final = 7
PTRACE_GET_SYSCALL_INFO: Final = 0x420E

# ---- options (PTRACE_O_*) ----------------------------------------------------------
O_TRACESYSGOOD: Final = 0x01      # syscall stops report SIGTRAP | 0x80
O_TRACEFORK: Final = 0x02
O_TRACEVFORK: Final = 0x04
O_TRACECLONE: Final = 0x08
O_TRACEEXEC: Final = 0x10
O_TRACESECCOMP: Final = 0x80
O_EXITKILL: Final = 0x100000      # SIGKILL every tracee if the tracer exits
TRACE_OPTIONS: Final = (O_TRACESYSGOOD | O_TRACEFORK | O_TRACEVFORK | O_TRACECLONE
                        | O_TRACEEXEC | O_EXITKILL)

# ---- events in ``status >> 16`` --------------------------------------------------
EVENT_FORK: Final = 1
EVENT_VFORK: Final = 2
EVENT_CLONE: Final = 3
EVENT_EXEC: Final = 4
EVENT_VFORK_DONE: Final = 5
EVENT_EXIT: Final = 6
EVENT_SECCOMP: Final = 7
EVENT_STOP: Final = 0x80          # SEIZE: group-stop, PTRACE_INTERRUPT or auto-attach

SYSCALL_TRAP: Final = 0x80 | 5    # SIGTRAP | 0x80 with TRACESYSGOOD
WALL: Final = 0x40000000          # __WALL: wait for threads (clone children) too

# ---- struct ptrace_syscall_info ------------------------------------------------------
OP_NONE: Final = 0
OP_ENTRY: Final = 1
OP_EXIT: Final = 2
OP_SECCOMP: Final = 3
AUDIT_ARCH_X86_64: Final = 0xC000003E
AUDIT_ARCH_I386: Final = 0x40000003
X32_SYSCALL_BIT: Final = 0x40000000

# op u8, reserved u8, flags u16, arch u32, ip u64, sp u64, then the union:
# entry/seccomp: nr u64, args[6] u64 (seccomp adds ret_data u32); exit: rval s64, is_error u8.
_INFO_HEAD = struct.Struct("<BxHIQQ")
_INFO_ENTRY = struct.Struct("<7Q")
_INFO_EXIT = struct.Struct("<qB")
_INFO_RET_DATA = struct.Struct("<I")
_INFO_ARCH = struct.Struct("<I")
_INFO_RVAL = struct.Struct("<q")
_INFO_SIZE: Final = 88
_INFO_UNION: Final = _INFO_HEAD.size

UserRegs: TypeAlias = _pb.ptrace_registers_t
"""The kernel's ``struct user_regs_struct`` (ctypes); its first 21 fields are pt_regs."""

_libc = ctypes.CDLL(None, use_errno=True)
# No argtypes (see the module docstring): request and pid as ints, addr and data as None
# or ctypes objects, never bare ints.  ``_libc[name]`` makes a function object of our own.
_ptrace = _libc["ptrace"]
_ptrace.restype = ctypes.c_long
_void_p = ctypes.c_void_p


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


# ssize_t process_vm_readv(pid_t, const struct iovec *, unsigned long liovcnt,
#                          const struct iovec *, unsigned long riovcnt, unsigned long flags)
# No argtypes either: pid as an int, the counts and flags as the c_ulong objects below.
_process_vm_readv = _libc["process_vm_readv"]
_process_vm_readv.restype = ctypes.c_ssize_t
_ULONG_1 = ctypes.c_ulong(1)
_ULONG_0 = ctypes.c_ulong(0)


def _arg(value: int) -> ctypes.c_void_p | None:
    """An addr/data argument for ``_ptrace``: a bare int would be cut to a C int."""
    return _void_p(value) if value else None


@dataclass(slots=True)
class SyscallInfo:
    """PTRACE_GET_SYSCALL_INFO, decoded.  ``nr``/``args`` for entry and seccomp stops,
    ``rval``/``is_error`` for exit stops; the other fields are zero."""

    op: int
    arch: int
    instruction_pointer: int
    stack_pointer: int
    nr: int = 0
    args: tuple[int, ...] = (0, 0, 0, 0, 0, 0)
    rval: int = 0
    is_error: bool = False
    ret_data: int = 0


def _raise(err: int, what: str, pid: int) -> NoReturn:
    raise OSError(err, f"{what}({pid}): {os.strerror(err)}")


def _call(request: int, pid: int, addr: int = 0, data: int = 0, what: str = "ptrace") -> int:
    """Raw ptrace(2) for the requests python-ptrace lacks."""
    res = _ptrace(request, pid, _arg(addr), _arg(data))
    if res == -1:
        err = ctypes.get_errno()
        if err:
            _raise(err, what, pid)
    return int(res)


def _pp(fn: object, what: str, pid: int, *args: int) -> object:
    """Call a python-ptrace binding, turning its PtraceError into OSError."""
    try:
        return fn(pid, *args)  # type: ignore[operator]
    except PtraceError as exc:
        _raise(exc.errno or 0, what, pid)


# ---- starting and stopping ----------------------------------------------------------

def traceme() -> None:
    """PTRACE_TRACEME, in the child between fork and exec."""
    try:
        _pb.ptrace_traceme()
    except PtraceError as exc:
        _raise(exc.errno or 0, "PTRACE_TRACEME", os.getpid())


def seize(pid: int, options: int = TRACE_OPTIONS) -> None:
    _call(PTRACE_SEIZE, pid, 0, options, "PTRACE_SEIZE")


def interrupt(pid: int) -> None:
    _call(PTRACE_INTERRUPT, pid, 0, 0, "PTRACE_INTERRUPT")


def listen(pid: int) -> None:
    """End a group-stop's ptrace-stop without ending the group-stop (SEIZE only)."""
    _call(PTRACE_LISTEN, pid, 0, 0, "PTRACE_LISTEN")


def set_options(pid: int, options: int = TRACE_OPTIONS) -> None:
    _pp(_pb.ptrace_setoptions, "PTRACE_SETOPTIONS", pid, options)


def resume_syscall(pid: int, sig: int = 0) -> None:
    """PTRACE_SYSCALL: run to the next syscall entry/exit, delivering ``sig``."""
    if _ptrace(PTRACE_SYSCALL, pid, None, _void_p(sig) if sig else None) == -1:
        _raise(ctypes.get_errno(), "PTRACE_SYSCALL", pid)


def cont(pid: int, sig: int = 0) -> None:
    """PTRACE_CONT: run to the next event or seccomp stop, delivering ``sig``."""
    if _ptrace(PTRACE_CONT, pid, None, _void_p(sig) if sig else None) == -1:
        _raise(ctypes.get_errno(), "PTRACE_CONT", pid)


def detach(pid: int, sig: int = 0) -> None:
    _pp(_pb.ptrace_detach, "PTRACE_DETACH", pid, sig)


# ---- what a stop says --------------------------------------------------------------

_event_buf = ctypes.c_ulong()
_event_arg = _void_p(ctypes.addressof(_event_buf))


def event_msg(pid: int) -> int:
    """PTRACE_GETEVENTMSG into an unsigned long (the kernel writes 8 bytes)."""
    if _ptrace(PTRACE_GETEVENTMSG, pid, None, _event_arg) == -1:
        err = ctypes.get_errno()
        if err:
            _raise(err, "PTRACE_GETEVENTMSG", pid)
    return _event_buf.value


_SIGINFO_SIZE: Final = 128
_SI_HEAD = struct.Struct("<iii4x")          # si_signo, si_errno, si_code
_SI_IDS = struct.Struct("<iI")              # kill/rt/sigchld: si_pid, si_uid
_SI_CHLD = struct.Struct("<i4xqq")          # si_status, si_utime, si_stime
_SI_SYS = struct.Struct("<QiI")             # si_call_addr, si_syscall, si_arch
_SI_POLL = struct.Struct("<qi")             # si_band, si_fd
_siginfo_buf = ctypes.create_string_buffer(_SIGINFO_SIZE)
_siginfo_arg = _void_p(ctypes.addressof(_siginfo_buf))


def get_siginfo(pid: int) -> dict[str, int] | None:
    """PTRACE_GETSIGINFO as ``si_*`` fields, or None when it fails with EINVAL: a
    group-stop of a tracee attached without SEIZE.

    The union is decoded every way the kernel may fill it (x86_64 layout); which fields
    mean something depends on signal and si_code, and a reader picks those.
    python-ptrace's siginfo has a 16-bit si_uid and misplaces si_status, so it is not used.
    """
    if _ptrace(PTRACE_GETSIGINFO, pid, None, _siginfo_arg) == -1:
        err = ctypes.get_errno()
        if err == 22:  # EINVAL
            return None
        _raise(err, "PTRACE_GETSIGINFO", pid)
    buf = _siginfo_buf
    signo, si_errno, code = _SI_HEAD.unpack_from(buf)
    pid_, uid = _SI_IDS.unpack_from(buf, 16)
    status, utime, stime = _SI_CHLD.unpack_from(buf, 24)
    call_addr, syscall, arch = _SI_SYS.unpack_from(buf, 16)
    band, fd = _SI_POLL.unpack_from(buf, 16)
    return {"si_signo": signo, "si_errno": si_errno, "si_code": code, "si_pid": pid_,
            "si_uid": uid, "si_status": status, "si_utime": utime, "si_stime": stime,
            "si_addr": call_addr, "si_call_addr": call_addr, "si_syscall": syscall,
            "si_arch": arch, "si_band": band, "si_fd": fd}


def set_siginfo_syscall(pid: int, syscall: int) -> None:
    """At a SIGSYS signal-delivery stop: PTRACE_SETSIGINFO with ``si_syscall`` replaced,
    the rest of the siginfo as the kernel queued it."""
    if _ptrace(PTRACE_GETSIGINFO, pid, None, _siginfo_arg) == -1:
        _raise(ctypes.get_errno(), "PTRACE_GETSIGINFO", pid)
    struct.pack_into("<i", _siginfo_buf, 24, syscall)
    if _ptrace(PTRACE_SETSIGINFO, pid, None, _siginfo_arg) == -1:
        _raise(ctypes.get_errno(), "PTRACE_SETSIGINFO", pid)


_info_buf = ctypes.create_string_buffer(_INFO_SIZE)
_info_arg = _void_p(ctypes.addressof(_info_buf))
_info_size_arg = _void_p(_INFO_SIZE)


def syscall_info(pid: int) -> SyscallInfo:
    """PTRACE_GET_SYSCALL_INFO: entry or exit, the arch (hence the ABI), nr, args, rval."""
    if _ptrace(PTRACE_GET_SYSCALL_INFO, pid, _info_size_arg, _info_arg) == -1:
        _raise(ctypes.get_errno(), "PTRACE_GET_SYSCALL_INFO", pid)
    buf = _info_buf
    op, _flags, arch, ip, sp = _INFO_HEAD.unpack_from(buf)
    if op in (OP_ENTRY, OP_SECCOMP):
        entry = _INFO_ENTRY.unpack_from(buf, _INFO_UNION)
        ret_data = _INFO_RET_DATA.unpack_from(buf, _INFO_UNION + 56)[0] if op == OP_SECCOMP else 0
        return SyscallInfo(op, arch, ip, sp, entry[0], entry[1:], ret_data=ret_data)
    if op == OP_EXIT:
        rval, is_error = _INFO_EXIT.unpack_from(buf, _INFO_UNION)
        return SyscallInfo(op, arch, ip, sp, rval=rval, is_error=bool(is_error))
    return SyscallInfo(op, arch, ip, sp)


def syscall_stop(pid: int) -> tuple[int, int, int, tuple[int, ...]]:
    """:func:`syscall_info` for the loop's hot path, as a plain tuple: ``(OP_ENTRY, arch,
    nr, args)`` at an entry stop (``OP_SECCOMP`` at a seccomp stop), ``(OP_EXIT, 0, rval,
    ())`` at an exit stop, ``(op, arch, 0, ())`` otherwise.  (No object is built: this
    runs at every stop.)"""
    if _ptrace(PTRACE_GET_SYSCALL_INFO, pid, _info_size_arg, _info_arg) == -1:
        _raise(ctypes.get_errno(), "PTRACE_GET_SYSCALL_INFO", pid)
    buf = _info_buf
    op = buf[0][0]
    if op in (OP_ENTRY, OP_SECCOMP):
        entry = _INFO_ENTRY.unpack_from(buf, _INFO_UNION)
        return op, _INFO_ARCH.unpack_from(buf, 4)[0], entry[0], entry[1:]
    if op == OP_EXIT:
        return op, 0, _INFO_RVAL.unpack_from(buf, _INFO_UNION)[0], ()
    return op, _INFO_ARCH.unpack_from(buf, 4)[0], 0, ()


# ---- registers -----------------------------------------------------------------------

_regs_buf = UserRegs()
_regs_addr = ctypes.addressof(_regs_buf)
_regs_arg = _void_p(_regs_addr)
# The same bytes as a char array: slicing it makes the bytes object in C, where
# ctypes.string_at is a foreign call of its own (about 0.4 us more).
_regs_chars = (ctypes.c_char * ctypes.sizeof(UserRegs)).from_buffer(_regs_buf)


def get_regs(pid: int) -> UserRegs:
    regs = UserRegs()
    if _ptrace(PTRACE_GETREGS, pid, None, ctypes.byref(regs)) == -1:
        _raise(ctypes.get_errno(), "PTRACE_GETREGS", pid)
    return regs


def get_regs_bytes(pid: int, size: int) -> bytes:
    """The first ``size`` bytes of user_regs_struct (168: pt_regs), without an object."""
    if _ptrace(PTRACE_GETREGS, pid, None, _regs_arg) == -1:
        _raise(ctypes.get_errno(), "PTRACE_GETREGS", pid)
    return _regs_chars[:size]  # type: ignore[return-value]  # a c_char slice is bytes


def set_regs(pid: int, regs: UserRegs) -> None:
    _pp(_pb.ptrace_setregs, "PTRACE_SETREGS", pid, regs)  # type: ignore[arg-type]


def poke_user(pid: int, offset: int, value: int) -> None:
    """PTRACE_POKEUSER of one register (offset into struct user_regs_struct)."""
    if _ptrace(PTRACE_POKEUSER, pid, _void_p(offset),
               _void_p(value & 0xFFFFFFFFFFFFFFFF)) == -1:
        _raise(ctypes.get_errno(), "PTRACE_POKEUSER", pid)


# ---- memory ------------------------------------------------------------------------

_READ_BUF_SIZE: Final = 1 << 16
_read_buf = ctypes.create_string_buffer(_READ_BUF_SIZE)
_read_addr = ctypes.addressof(_read_buf)
_local_iov = _IoVec(_read_addr, 0)
_remote_iov = _IoVec(0, 0)
_local_ptr = ctypes.pointer(_local_iov)
_remote_ptr = ctypes.pointer(_remote_iov)


def vm_read(pid: int, addr: int, size: int) -> bytes | None:
    """process_vm_readv; None if the range is not wholly readable.  Reads of up to 64
    KiB go through one preallocated buffer and iovec pair (this runs several times per
    syscall: the probe's reads and the decoding of buffers)."""
    if size > _READ_BUF_SIZE:
        buf = ctypes.create_string_buffer(size)
        local = _IoVec(ctypes.addressof(buf), size)
        remote = _IoVec(addr, size)
        got = _process_vm_readv(pid, ctypes.byref(local), _ULONG_1, ctypes.byref(remote),
                                _ULONG_1, _ULONG_0)
        return buf.raw if got == size else None
    _local_iov.len = size
    _remote_iov.base = addr
    _remote_iov.len = size
    if _process_vm_readv(pid, _local_ptr, _ULONG_1, _remote_ptr, _ULONG_1, _ULONG_0) != size:
        return None
    return _read_buf[:size]  # type: ignore[return-value]  # a c_char slice is bytes


def poke_data(pid: int, addr: int, word: int) -> None:
    """One word by PTRACE_POKEDATA: 8 bytes at ``addr`` (any alignment), written even
    to a read-only page, as a debugger plants a breakpoint (copy-on-write)."""
    if _ptrace(PTRACE_POKEDATA, pid, _void_p(addr),
               _void_p(word & 0xFFFFFFFFFFFFFFFF)) == -1:
        _raise(ctypes.get_errno(), "PTRACE_POKEDATA", pid)


def peek_data(pid: int, addr: int) -> int:
    """One word by PTRACE_PEEKDATA (the last resort for memory reads)."""
    return int(_pp(_pf.ptrace_peekdata, "PTRACE_PEEKDATA", pid, addr))  # type: ignore[call-overload]


# ---- signals -------------------------------------------------------------------------

def tgkill(tgid: int, tid: int, sig: int) -> None:
    """Signal one thread (os.pthread_kill takes a pthread_t, not a tid)."""
    os_tgkill = getattr(os, "tgkill", None)
    if os_tgkill is not None:
        os_tgkill(tgid, tid, sig)
        return
    if _libc.syscall(234, tgid, tid, sig) == -1:  # __NR_tgkill on x86_64
        _raise(ctypes.get_errno(), "tgkill", tid)
