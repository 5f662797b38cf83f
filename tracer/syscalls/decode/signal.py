"""Signals: numbers, sigsets and struct sigaction (strace's signal.c)."""

from __future__ import annotations

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
