"""Strings and buffers in the tracee's memory: paths, NUL-terminated strings, the byte
buffers read(2) fills and write(2) reads, as strace's printstr and printpath show them."""

from __future__ import annotations

from tracer.syscalls.decode.common import (
    Ctx,
    Render,
    buffer_text,
    fetched_by,
    ptr,
    quote_string,
    read_cstring,
)

PATH_MAX = 4096


def _fetch_path(ctx: Ctx, v: int) -> None:
    if v:
        read_cstring(ctx.read, v, PATH_MAX)


def fetch_str(ctx: Ctx, v: int) -> None:
    """The fetch of :func:`str_`."""
    if v:
        read_cstring(ctx.read, v, ctx.strlen)


@fetched_by(_fetch_path)
def path(ctx: Ctx, v: int) -> str:
    got = read_cstring(ctx.read, v, PATH_MAX) if v else None
    if got is None:
        return ptr(ctx, v)
    data, cut = got
    return quote_string(data, xflag=ctx.fmt.xflag) + ("..." if cut else "")


@fetched_by(fetch_str)
def str_(ctx: Ctx, v: int) -> str:
    got = read_cstring(ctx.read, v, ctx.strlen) if v else None
    if got is None:
        return ptr(ctx, v)
    data, cut = got
    return quote_string(data, xflag=ctx.fmt.xflag) + ("..." if cut else "")


def _fetch_out_path(ctx: Ctx, v: int) -> None:
    if not ctx.failed:
        _fetch_path(ctx, v)


@fetched_by(_fetch_out_path)
def out_path(ctx: Ctx, v: int) -> str:
    return ptr(ctx, v) if ctx.failed else path(ctx, v)


def in_buf(count_index: int) -> Render:
    """A buffer the call reads (write's): its first ``-s`` bytes at entry."""
    def fetch(ctx: Ctx, v: int) -> None:
        total = ctx.args[count_index] & ctx.mask
        if total:
            ctx.mem(v, min(total, ctx.strlen))

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        total = ctx.args[count_index] & ctx.mask
        data = ctx.mem(v, min(total, ctx.strlen)) if total else b""
        return ptr(ctx, v) if data is None else buffer_text(data, total, xflag=ctx.fmt.xflag)
    return render


def _fetch_out_buf(ctx: Ctx, v: int) -> None:
    if not ctx.failed and ctx.ret:
        ctx.mem(v, min(ctx.ret, ctx.strlen))


def out_buf(*, hex_all: bool = False) -> Render:
    """A buffer the call fills (read's): ``ret`` bytes of it at exit."""
    @fetched_by(_fetch_out_buf)
    def render(ctx: Ctx, v: int) -> str:
        if ctx.failed or ctx.ret is None:
            return ptr(ctx, v)
        total = ctx.ret
        data = ctx.mem(v, min(total, ctx.strlen)) if total else b""
        return ptr(ctx, v) if data is None else buffer_text(data, total, hex_all=hex_all,
                                                           xflag=ctx.fmt.xflag)
    return render
