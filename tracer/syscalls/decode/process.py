"""Processes and threads: execve's argv and envp, clone's and clone3's arguments, wait
statuses, futex's operations (strace's execve.c, clone.c, wait.c, futex.c)."""

from __future__ import annotations

from probes.abi import Abi
from tracer.syscalls import layouts as L
from tracer.syscalls import xlat as X
from tracer.syscalls.decode.common import (
    SCALARS,
    Arg,
    Ctx,
    Render,
    Sig,
    SigFn,
    at,
    fetch_of,
    fetched_by,
    flags_text,
    hex_,
    hx,
    int_,
    out,
    out_ints,
    ptr,
    read_prefix,
    scalar,
    uint,
)
from tracer.syscalls.decode.strings import fetch_str, str_
from tracer.syscalls.decode.time import timespec

_MAX_ENV = 1 << 16  # pointers counted for "/* N vars */" before giving up


# --- execve ----------------------------------------------------------------------------------


def _fetch_argv(ctx: Ctx, v: int) -> None:
    if not v:
        return
    word = ctx.word
    raw = read_prefix(ctx.read, v, (ctx.strlen + 1) * word)
    if len(raw) < word:
        return
    for n, item in enumerate(L.unpack_words(raw, word)):
        if item == 0 or n >= ctx.strlen:
            return
        fetch_str(ctx, item)


@fetched_by(_fetch_argv)
def argv(ctx: Ctx, v: int) -> str:
    if not v:
        return "NULL"
    word = ctx.word
    raw = read_prefix(ctx.read, v, (ctx.strlen + 1) * word)
    if len(raw) < word:
        return ptr(ctx, v)
    items: list[str] = []
    for n, item in enumerate(L.unpack_words(raw, word)):
        if item == 0:
            return "[" + ", ".join(items) + "]"
        if n >= ctx.strlen:
            items.append("...")
            return "[" + ", ".join(items) + "]"
        items.append(str_(ctx, item))
    return ptr(ctx, v)  # the array runs into unreadable memory


def _fetch_envp(ctx: Ctx, v: int) -> None:
    if not v:
        return
    word, count, addr = ctx.word, 0, v
    while count < _MAX_ENV:
        words = L.unpack_words(read_prefix(ctx.read, addr, 512 * word), word)
        if not words or 0 in words:
            return
        count += len(words)
        addr += len(words) * word


@fetched_by(_fetch_envp)
def envp(ctx: Ctx, v: int) -> str:
    if not v:
        return "NULL"
    word, count, addr = ctx.word, 0, v
    while count < _MAX_ENV:
        raw = read_prefix(ctx.read, addr, 512 * word)
        words = L.unpack_words(raw, word)
        if not words:
            return ptr(ctx, v)
        if 0 in words:
            count += words.index(0)
            return f"{ptr(ctx, v)} /* {count} var{'' if count == 1 else 's'} */"
        count += len(words)
        addr += len(words) * word
    return ptr(ctx, v)


# --- clone and clone3 -------------------------------------------------------------------------


def clone_flags_text(value: int, *, clone3: bool = False) -> str:
    """``CLONE_VM|...|SIGCHLD``: clone(2) keeps the exit signal in the low byte."""
    if clone3:
        return flags_text(value, X.CLONE3_EXTRA_FLAGS + X.CLONE_FLAGS)
    sig = value & X.CSIGNAL
    text = flags_text(value & ~X.CSIGNAL, X.CLONE_FLAGS, "")
    parts = [p for p in (text, X.signal_name(sig) if sig else "") if p]
    return "|".join(parts) or "0"


def labelled(label: str, render: Render) -> Render:
    """``child_stack=NULL``: clone prints its arguments by name."""
    def labelled_render(ctx: Ctx, v: int) -> str | None:
        text = render(ctx, v)
        return None if text is None else label + text
    if render in SCALARS:
        return scalar(labelled_render)
    return fetched_by(fetch_of(render))(labelled_render)


_CLONE_STACK = at(1, labelled("child_stack=", ptr))
_CLONE_FLAGS = at(0, labelled("flags=", scalar(lambda c, v: clone_flags_text(v & 0xFFFFFFFF))))
_CLONE_PARENT_TID = out(labelled("parent_tid=", out_ints(1)), 2)
_CLONE_TLS = labelled("tls=", hex_)
_CLONE_CHILD_TID = labelled("child_tidptr=", hex_)


def clone(ctx: Ctx) -> Sig:
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


@fetched_by(_fetch_clone_args)
def _clone3_entry(ctx: Ctx, v: int) -> str:
    ca = _clone_args(ctx, v)
    if ca is None:
        return ptr(ctx, v)
    fields = [f"flags={clone_flags_text(ca.flags, clone3=True)}"]
    if ca.flags & X.CLONE_PIDFD:
        fields.append(f"pidfd={ptr(ctx, ca.pidfd)}")
    if ca.flags & X.CLONE_CHILD_TID:
        fields.append(f"child_tid={ptr(ctx, ca.child_tid)}")
    if ca.flags & X.CLONE_PARENT_SETTID:
        fields.append(f"parent_tid={ptr(ctx, ca.parent_tid)}")
    sig = X.signal_name(ca.exit_signal) if 0 < ca.exit_signal <= X.NSIG else str(ca.exit_signal)
    fields += [f"exit_signal={sig}", f"stack={ptr(ctx, ca.stack)}",
               f"stack_size={hx(ca.stack_size)}"]
    if ca.flags & X.CLONE_SETTLS:
        fields.append(f"tls={ptr(ctx, ca.tls)}")
    return "{" + ", ".join(fields) + "}"


@fetched_by(_fetch_clone3_exit)
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


clone_args = Arg(_clone3_entry, exit_suffix=_clone3_exit)
"""clone3's struct clone_args: its fields at entry, ``=> {parent_tid=[N]}`` at exit."""


# --- wait ------------------------------------------------------------------------------------


def wait_status_text(status: int) -> str:
    """``WIFEXITED(s) && WEXITSTATUS(s) == 0`` and the other wait(2) macros."""
    if status & 0x7F == 0:
        return f"WIFEXITED(s) && WEXITSTATUS(s) == {(status >> 8) & 0xFF}"
    if status & 0xFF == 0x7F:
        return f"WIFSTOPPED(s) && WSTOPSIG(s) == {X.signal_name((status >> 8) & 0xFF)}"
    if status == 0xFFFF:
        return "WIFCONTINUED(s)"
    text = f"WIFSIGNALED(s) && WTERMSIG(s) == {X.signal_name(status & 0x7F)}"
    return text + " && WCOREDUMP(s)" if status & 0x80 else text


def _fetch_wait_status(ctx: Ctx, v: int) -> None:
    if not (ctx.failed or ctx.ret == 0):
        ctx.mem(v, 4)


@fetched_by(_fetch_wait_status)
def wait_status(ctx: Ctx, v: int) -> str:
    if ctx.failed or ctx.ret == 0:
        return ptr(ctx, v)
    ints = L.unpack_ints(ctx.mem(v, 4) or b"", 1)
    return ptr(ctx, v) if ints is None else f"[{{{wait_status_text(ints[0])}}}]"


# --- futex: the arguments' shape depends on the operation -------------------------------------


def futex(*, time64: bool) -> SigFn:
    timeout = timespec(time64=time64)

    @scalar
    def op_text(ctx: Ctx, v: int) -> str:
        cmd = v & 0x7F
        name = X.FUTEX_OPS.get(cmd)
        if name is None:
            return hex_(ctx, v)
        if v & X.FUTEX_PRIVATE_FLAG:
            name += "_PRIVATE"
        if v & X.FUTEX_CLOCK_REALTIME:
            name += "|FUTEX_CLOCK_REALTIME"
        leftover = v & 0xFFFFFFFF & ~(0x7F | X.FUTEX_PRIVATE_FLAG | X.FUTEX_CLOCK_REALTIME)
        return f"{name}|{leftover:#x}" if leftover else name

    @scalar
    def bitset(ctx: Ctx, v: int) -> str:
        return "FUTEX_BITSET_MATCH_ANY" if v & 0xFFFFFFFF == 0xFFFFFFFF else hex_(ctx, v)

    shapes: dict[str, Sig] = {
        "FUTEX_WAIT": (ptr, op_text, uint, timeout),
        "FUTEX_WAKE": (ptr, op_text, int_),
        "FUTEX_FD": (ptr, op_text, int_),
        "FUTEX_REQUEUE": (ptr, op_text, int_, int_, ptr),
        "FUTEX_CMP_REQUEUE": (ptr, op_text, int_, int_, ptr, int_),
        "FUTEX_WAKE_OP": (ptr, op_text, int_, int_, ptr, hex_),
        "FUTEX_LOCK_PI": (ptr, op_text, at(3, timeout)),
        "FUTEX_LOCK_PI2": (ptr, op_text, at(3, timeout)),
        "FUTEX_TRYLOCK_PI": (ptr, op_text),
        "FUTEX_UNLOCK_PI": (ptr, op_text),
        "FUTEX_WAIT_BITSET": (ptr, op_text, uint, timeout, at(5, bitset)),
        "FUTEX_WAKE_BITSET": (ptr, op_text, int_, at(5, bitset)),
        "FUTEX_WAIT_REQUEUE_PI": (ptr, op_text, uint, timeout, ptr),
        "FUTEX_CMP_REQUEUE_PI": (ptr, op_text, int_, int_, ptr, int_),
    }

    def futex(ctx: Ctx) -> Sig:
        name = X.FUTEX_OPS.get(ctx.args[1] & 0x7F)
        return shapes.get(name or "", (ptr, op_text, hex_, hex_, hex_, hex_))
    return futex
