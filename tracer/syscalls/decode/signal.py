"""Signals: numbers, sigsets and struct sigaction (strace's signal.c)."""

from __future__ import annotations

from probes.abi import Abi
from tracer.syscalls import layouts as L
from tracer.syscalls import xlat as X
from tracer.syscalls.decode.common import Ctx, Render, fetched_by, flags_text, ptr, scalar, signed


@scalar
def sig(ctx: Ctx, v: int) -> str:
    sig = signed(v, 32)
    return X.signal_name(sig) if 0 < sig <= X.NSIG else str(sig)


def format_sigset(mask: int, nsig: int = X.NSIG) -> str:
    """``[HUP USR2 RT_8]``, or ``~[...]`` naming the absent ones when most are present."""
    present = [s for s in range(1, nsig + 1) if mask >> (s - 1) & 1]
    prefix = ""
    if len(present) > nsig // 2:
        prefix = "~"
        present = [s for s in range(1, nsig + 1) if not mask >> (s - 1) & 1]
    names = [X.signal_name(s).removeprefix("SIG") for s in present]
    return f"{prefix}[{' '.join(names)}]"


def sigset(size_index: int) -> Render:
    def fetch(ctx: Ctx, v: int) -> None:
        size = ctx.args[size_index] & ctx.mask
        if 0 < size <= 128:
            ctx.mem(v, size)

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        size = ctx.args[size_index] & ctx.mask
        data = ctx.mem(v, size) if 0 < size <= 128 else None
        if data is None:
            return ptr(ctx, v)
        return format_sigset(int.from_bytes(data, "little"), min(size * 8, X.NSIG))
    return render


def _fetch_sigaction(ctx: Ctx, v: int) -> None:
    ctx.mem(v, L.sigaction_size(ctx.abi))


@fetched_by(_fetch_sigaction)
def sigaction(ctx: Ctx, v: int) -> str:
    sa = L.unpack_sigaction(ctx.abi, ctx.mem(v, L.sigaction_size(ctx.abi)) or b"")
    if sa is None:
        return ptr(ctx, v)
    handler = X.SIG_HANDLERS.get(sa.handler, hex(sa.handler))
    text = (f"{{sa_handler={handler}, sa_mask={format_sigset(sa.mask)}, "
            f"sa_flags={flags_text(sa.flags, X.SA_FLAGS)}")
    if sa.flags & X.SA_RESTORER:
        text += f", sa_restorer={ptr(ctx, sa.restorer)}"
    return text + "}"


# rt_sigreturn: the mask saved in the signal frame, which starts one word below the stack
# pointer at the call (the handler's return popped pretcode).  uc_sigmask's offset in the
# frame: x86_64: pretcode 8 + uc_flags 8 + uc_link 8 + stack_t 24 + sigcontext 256;
# i386: pretcode, sig, pinfo, puc 16 + siginfo 128 + uc_flags, uc_link 8 + stack_t 12 +
# sigcontext 88 (strace's rt_sigreturn.c and arch_rt_sigframe.c).
_SIGFRAME_MASK = {Abi.X86_64: 8 + 8 + 8 + 24 + 256, Abi.I386: 16 + 128 + 8 + 12 + 88}


def _fetch_rt_sigreturn(ctx: Ctx, v: int) -> None:
    rt_sigreturn(ctx, v)


@fetched_by(_fetch_rt_sigreturn)
def rt_sigreturn(ctx: Ctx, v: int) -> str | None:
    """``{mask=[HUP]}``: rt_sigreturn takes no argument; strace shows the mask it restores.
    The stack pointer is a seventh value of ``ctx.args`` when the caller passes it (the
    six argument registers alone render ``rt_sigreturn()``)."""
    offset = _SIGFRAME_MASK.get(ctx.abi)
    if len(ctx.args) < 7 or offset is None:
        return None
    addr = (ctx.args[6] - ctx.word + offset) & ctx.mask
    data = ctx.mem(addr, 8)
    if data is None:
        return f"{{mask={ptr(ctx, addr)}}}"
    return f"{{mask={format_sigset(int.from_bytes(data, 'little'))}}}"
