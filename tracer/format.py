"""strace-compatible text for one syscall: ``openat(AT_FDCWD, "/etc/x", O_RDONLY) = 3``.

Users diff trace-run's output against strace's, so the rules are strace's (6.x, default
options): strings quoted and escaped like strace's string_quote and cut after 32 bytes
(``-s 32``) with ``...`` after the closing quote; paths printed whole; pointers as hex and
0 as ``NULL``; flags decoded symbolically with leftover bits in hex; an unreadable
pointer, and an output argument of a failed call, printed as its address.

Two phases, because memory changes while a call runs::

    call = format_entry(abi, nr, args, read_memory)   # entry stop: inputs read now
    ...                                                # the policy runs, the call runs
    text = call.finish(ret, read_memory)              # exit stop: outputs read now
    line = f"{text} = {call.result(ret)}"             # the writer aligns "=" to column 40

``call.entry`` (``wait4(-1, ``) is what strace prints before ``<unfinished ...>`` and is a
prefix of ``finish()``'s text, so a writer can print the rest after ``<... wait4 resumed>``.

Memory is read through ``read_memory(addr, size) -> bytes | None`` (None: unreadable).
The per-argument decoders are in :mod:`tracer.syscalls.decode` and the per-syscall table
in :mod:`tracer.syscalls.signatures`; calls not in the table fall back to python-ptrace's
prototypes, and numbers nobody knows to six hex arguments, as strace does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tracer.syscalls import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, Abi, normalize_nr, syscall_name
from tracer.syscalls import xlat as X
from tracer.syscalls.decode import (
    DEFAULT_STRLEN,
    MAX_ERRNO,
    Arg,
    Ctx,
    MemoryReader,
    flags_text,
    format_sigset,
    hx,
    is_error,
    octal,
    open_flags_text,
    quote_string,
    signed,
)
from tracer.syscalls.signatures import signature_for

__all__ = [
    "DEFAULT_STRLEN",
    "CallText",
    "MemoryReader",
    "format_args",
    "format_call",
    "format_entry",
    "format_return",
    "format_siginfo",
    "format_sigset",
    "is_error",
    "quote_string",
    "signal_name",
]

signal_name = X.signal_name


@dataclass(frozen=True, slots=True)
class _Pending:
    """An argument still to render at exit; ``prefix`` is what was shown of it at entry."""

    spec: Arg
    value: int
    prefix: str = ""


@dataclass(slots=True)
class CallText:
    """One call as far as it is known at its entry stop; :meth:`finish` completes it.

    Not frozen, as every value made at each syscall: a frozen dataclass takes about
    five times as long to build (``object.__setattr__`` per field).  Treat it as read-only."""

    abi: Abi
    nr: int
    name: str
    args: tuple[int, ...]
    strlen: int = DEFAULT_STRLEN
    parts: tuple[str | _Pending, ...] = field(default=(), repr=False)

    @property
    def entry(self) -> str:
        """``wait4(-1, `` / ``kill(5, SIGTERM``: what strace shows before ``<unfinished ...>``."""
        shown: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                shown.append(part)
            elif part.prefix:
                return f"{self.name}({', '.join([*shown, part.prefix])}"
            else:
                return f"{self.name}({', '.join(shown)}{', ' if shown else ''}"
        return f"{self.name}({', '.join(shown)}"

    @property
    def complete_at_entry(self) -> bool:
        """True when no argument waits for the exit stop."""
        return all(isinstance(p, str) for p in self.parts)

    def finish(self, ret: int | None, read_memory: MemoryReader) -> str:
        """``name(args)`` with the outputs read now.  ``ret`` None means the call never
        returned (exit_group, a killed process): outputs become ``<unfinished ...>``."""
        if ret is None:
            return self.entry + (")" if self.complete_at_entry else " <unfinished ...>)")
        ctx = Ctx(self.abi, self.args, read_memory, self.strlen, ret)
        shown: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                shown.append(part)
            elif part.spec.exit_suffix is not None:
                shown.append(part.prefix + part.spec.exit_suffix(ctx, part.value, part.prefix))
            else:
                text = part.spec.render(ctx, part.value)
                if text is not None:
                    shown.append(text)
        return f"{self.name}({', '.join(shown)})"

    def result(self, ret: int | None) -> str:
        """The return value as strace shows it after ``= ``."""
        return format_return(ret, name=self.name, abi=self.abi, args=self.args)


def _mask_args(abi: Abi, args: Sequence[int]) -> tuple[int, ...]:
    """Six raw arguments, cut to the ABI's register width (i386 uses the low 32 bits)."""
    if abi is not Abi.I386 and len(args) == 6 and min(args) >= 0 and max(args) <= _M64:
        return tuple(args)   # already registers (the loop's case)
    mask = 0xFFFFFFFF if abi is Abi.I386 else _M64
    values = tuple(a & mask for a in args[:6])
    return values + (0,) * (6 - len(values))


_M64 = 0xFFFFFFFFFFFFFFFF


def format_entry(abi: Abi, nr: int, args: Sequence[int], read_memory: MemoryReader, *,
                 strlen: int = DEFAULT_STRLEN) -> CallText:
    """Render what is known at the entry stop.  Input strings are read now, before the
    tracee (or another of its threads) can change them.  ``args`` are the raw argument
    registers; x32 ``nr`` may come with or without the x32 bit (``call.nr`` has it)."""
    nr = normalize_nr(abi, nr)
    values = _mask_args(abi, args)
    ctx = Ctx(abi, values, read_memory, strlen)
    parts: list[str | _Pending] = []
    for spec in signature_for(ctx, nr):
        value = values[spec.index]
        if spec.at_exit:
            parts.append(_Pending(spec, value))
        elif spec.exit_suffix is not None:
            parts.append(_Pending(spec, value, spec.render(ctx, value) or ""))
        else:
            text = spec.render(ctx, value)
            if text is not None:
                parts.append(text)
    return CallText(abi, nr, syscall_name(abi, nr), values, strlen, tuple(parts))


def format_call(abi: Abi, nr: int, args: Sequence[int], read_memory: MemoryReader,
                ret: int | None, *, strlen: int = DEFAULT_STRLEN) -> str:
    """Both phases at once, ``name(args)``: for a call seen at one stop only, and tests."""
    return format_entry(abi, nr, args, read_memory, strlen=strlen).finish(ret, read_memory)


def format_args(abi: Abi, nr: int, args: Sequence[int], read_memory: MemoryReader, *,
                ret: int | None = None, strlen: int = DEFAULT_STRLEN) -> str:
    """Only the text between the parentheses.  With ``ret`` None the outputs are left
    out, as known at an entry stop; with ``ret`` they are read and shown."""
    call = format_entry(abi, nr, args, read_memory, strlen=strlen)
    if ret is None:
        shown = [p for p in call.parts if isinstance(p, str)]
        return ", ".join(shown)
    return call.finish(ret, read_memory)[len(call.name) + 1 : -1]


# --- return values -----------------------------------------------------------------------

_HEX_RETURNS = frozenset({"mmap", "mmap2", "mremap", "brk", "shmat"})
_F_GETFD, _F_GETFL = 1, 3


def format_return(ret: int | None, *, name: str = "", abi: Abi = Abi.X86_64,
                  args: Sequence[int] = ()) -> str:
    """What strace prints after ``= ``: ``3``; ``-1 ENOENT (No such file or directory)``;
    hex for address results (mmap, brk); ``?`` when the call did not return, and
    ``? ERESTARTSYS (...)`` when a signal interrupted it to be restarted.

    ``ret`` is the raw return register, either sign; it is read at the ABI's width."""
    if ret is None:
        return "?"
    bits = 32 if abi is Abi.I386 else 64
    value = signed(ret, bits)
    if -MAX_ERRNO <= value <= -1:
        err = -value
        prefix = "?" if err in X.RESTART_ERRNOS else "-1"
        return f"{prefix} {X.errno_name(err)} ({X.errno_text(err)})"
    if name in _HEX_RETURNS:
        return hx(value & ((1 << bits) - 1))
    if name == "umask":
        return octal(value)
    if name in ("fcntl", "fcntl64") and len(args) > 1:
        cmd = args[1] & 0xFFFFFFFF
        if cmd == _F_GETFD and value:
            return f"{hx(value)} (flags {flags_text(value, X.FD_FLAGS)})"
        if cmd == _F_GETFL:
            return f"{hx(value)} (flags {open_flags_text(value)})"
    return str(value)


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
        else:
            text = str(v)
        shown.append(f"{key}={text}")
    return "{" + ", ".join(shown) + "}"
