"""Time: struct timespec in its 32- and 64-bit layouts, and nanosleep's remainder
(strace's time.c)."""

from __future__ import annotations

from tracer.syscalls import layouts as L
from tracer.syscalls.decode.common import Ctx, Render, fetch_of, fetched_by, ptr, signed


def timespec(*, time64: bool = False) -> Render:
    def fetch(ctx: Ctx, v: int) -> None:
        ctx.mem(v, L.timespec_size(ctx.abi, time64=time64))

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        ts = L.unpack_timespec(
            ctx.abi, ctx.mem(v, L.timespec_size(ctx.abi, time64=time64)) or b"", time64=time64)
        return ptr(ctx, v) if ts is None else f"{{tv_sec={ts[0]}, tv_nsec={ts[1]}}}"
    return render


def remaining(*, time64: bool = False) -> Render:
    """nanosleep's ``rem``: written only when a signal interrupted the sleep."""
    shown = timespec(time64=time64)
    inner = fetch_of(shown)

    def fetch(ctx: Ctx, v: int) -> None:
        if ctx.ret is not None and signed(ctx.ret, 64) in (-4, -516):
            inner(ctx, v)  # type: ignore[misc]

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str | None:
        if ctx.ret is not None and signed(ctx.ret, 64) in (-4, -516):  # EINTR, RESTARTBLOCK
            return shown(ctx, v)
        return ptr(ctx, v)
    return render
