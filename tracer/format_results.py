"""What a syscall returned and what a signal carried, in strace's notation.

:func:`format_return` renders a return value as strace does (``-1 ENOENT (No such file
or directory)``, ``? ERESTARTSYS``, hexadecimal for mmap-like calls, the flags fcntl
returns); :func:`format_siginfo` renders the ``{si_signo=..., si_code=...}`` of a
``--- SIGCHLD {...} ---`` line.  The call's own text is :mod:`tracer.format`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from probes.abi import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, Abi, syscall_name
from tracer.syscalls import xlat as X
from tracer.syscalls.decode import (
    MAX_ERRNO,
    clock_t_text,
    flags_text,
    hx,
    octal,
    open_flags_text,
    signed,
)

# --- return values -----------------------------------------------------------------------

_HEX_RETURNS = frozenset({"mmap", "mmap2", "mremap", "brk", "shmat"})
_TIMEOUT_RETURNS = frozenset({"poll", "ppoll", "ppoll_time64", "select", "_newselect",
                              "pselect6", "pselect6_time64"})
_SPECIAL_RETURNS = _HEX_RETURNS | _TIMEOUT_RETURNS | {"umask", "fcntl", "fcntl64"}
_F_GETFD, _F_GETFL = 1, 3
_ERROR_RESULTS: dict[int, str] = {}   # errno -> "-1 ENOENT (No such file or directory)"


def _error_result(err: int) -> str:
    text = _ERROR_RESULTS.get(err)
    if text is None:
        prefix = "?" if err in X.RESTART_ERRNOS else "-1"
        text = _ERROR_RESULTS[err] = f"{prefix} {X.errno_name(err)} ({X.errno_text(err)})"
    return text


def format_return(ret: int | None, *, name: str = "", abi: Abi = Abi.X86_64,
                  args: Sequence[int] = ()) -> str:
    """What strace prints after ``= ``: ``3``; ``-1 ENOENT (No such file or directory)``;
    hex for address results (mmap, brk); ``?`` when the call did not return, and
    ``? ERESTARTSYS (...)`` when a signal interrupted it to be restarted.

    ``ret`` is the raw return register, either sign; it is read at the ABI's width."""
    if ret is None:
        return "?"
    if abi is Abi.I386:
        bits = 32
        value = signed(ret, 32)
    else:
        bits = 64
        value = ret if -_2_63 <= ret < _2_63 else signed(ret, 64)
    if value < 0 and value >= -MAX_ERRNO:
        return _error_result(-value)
    if name not in _SPECIAL_RETURNS:
        return str(value)
    if name in _HEX_RETURNS:
        return hx(value & ((1 << bits) - 1))
    if name == "umask":
        return octal(value)
    if name in _TIMEOUT_RETURNS:
        return "0 (Timeout)" if value == 0 else str(value)
    if len(args) > 1:   # fcntl, fcntl64
        cmd = args[1] & 0xFFFFFFFF
        if cmd == _F_GETFD and value:
            return f"{hx(value)} (flags {flags_text(value, X.FD_FLAGS)})"
        if cmd == _F_GETFL:
            return f"{hx(value)} (flags {open_flags_text(value)})"
    return str(value)


_2_63 = 1 << 63


# --- signals -----------------------------------------------------------------------------

_ARCHES = {AUDIT_ARCH_X86_64: "AUDIT_ARCH_X86_64", AUDIT_ARCH_I386: "AUDIT_ARCH_I386"}
_FAULT_SIGNALS = frozenset({"SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGTRAP"})
_SI_KERNEL = 0x80
_CLD_KILLED, _CLD_DUMPED = 2, 3


def _siginfo_fields(name: str, code: int) -> tuple[str, ...]:
    """The si_* fields strace shows for this signal and code."""
    if code <= 0:
        return ("si_pid", "si_uid")
    if name == "SIGCHLD":
        return ("si_pid", "si_uid", "si_status", "si_utime", "si_stime")
    if name in _FAULT_SIGNALS:
        return ("si_addr",)
    if name == "SIGSYS":
        return ("si_call_addr", "si_syscall", "si_arch")
    if name in ("SIGIO", "SIGPOLL"):
        return ("si_band", "si_fd")
    return ()


def format_siginfo(signo: int, info: Mapping[str, int]) -> str:
    """``{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=5, ...}`` as in strace's
    ``--- SIGCHLD {...} ---`` lines.  ``info`` holds the ``si_*`` fields the tracer got
    from PTRACE_GETSIGINFO (``si_code`` at least); fields the signal does not carry are
    not shown, and fields missing from ``info`` are skipped."""
    name = X.signal_name(signo)
    code = signed(info.get("si_code", 0), 32)
    code_name = None
    if code > 0 and code != _SI_KERNEL:
        code_name = X.SIGNAL_SI_CODES.get(signo, {}).get(code)
    shown = [f"si_signo={name}", f"si_code={code_name or X.SI_CODES.get(code, str(code))}"]
    arch = info.get("si_arch", AUDIT_ARCH_X86_64)
    for key in _siginfo_fields(name, code):
        if key not in info:
            continue
        v = info[key]
        if key == "si_status" and code in (_CLD_KILLED, _CLD_DUMPED):
            text = X.signal_name(v)
        elif key in ("si_addr", "si_call_addr"):
            text = hex(v) if v else "NULL"
        elif key == "si_syscall":
            text = "__NR_" + syscall_name(Abi.I386 if arch == AUDIT_ARCH_I386 else Abi.X86_64, v)
        elif key == "si_arch":
            text = _ARCHES.get(v, hex(v))
        elif key in ("si_utime", "si_stime"):
            text = clock_t_text(v)
        else:
            text = str(v)
        shown.append(f"{key}={text}")
    return "{" + ", ".join(shown) + "}"
