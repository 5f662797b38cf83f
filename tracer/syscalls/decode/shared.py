"""Helpers the newer family modules share (poll, msg, sysinfo, the ioctl decoders):
renderers that are their own fetch, strace's abbreviated arrays, ids, and the buffers
that print NULL for a NULL pointer.  :mod:`.common` stays as it is; this builds on it."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

from probes.abi import Abi
from tracer.syscalls.decode.common import Ctx, Render, fetch_of, fetched_by, ptr, scalar

_R = Callable[[Ctx, int], "str | None"]
_I386 = Abi.I386


def self_fetched(render: _R) -> _R:
    """Mark ``render`` as its own fetch: rendering once through the recording reader
    makes exactly the reads the deferred render will make.  For renderers of calls that
    are not on the hot path (poll, sendmsg, statfs), where a second render costs little."""
    def fetch(ctx: Ctx, v: int) -> None:
        render(ctx, v)
    return fetched_by(fetch)(render)


def array_text(items: Iterable[str], total: int, limit: int) -> str:
    """``[a, b, ...]``: strace's print_array, cut after ``limit`` (``-s``) elements."""
    shown = list(items)
    if total > len(shown) or len(shown) > limit:
        shown = [*shown[:limit], "..."]
    return "[" + ", ".join(shown) + "]"


def unpack(fmt: str, data: bytes | None) -> tuple[int, ...] | None:
    """``struct.unpack_from(fmt, data)``, None when ``data`` is missing or short."""
    if data is None or len(data) < struct.calcsize(fmt):
        return None
    return struct.unpack_from(fmt, data)


def word_fmt(ctx: Ctx, signed: bool = False) -> str:
    """The struct code of one ``long`` of the ABI."""
    code = "q" if ctx.word == 8 else "i"
    return code if signed else code.upper()


def klong(ctx: Ctx) -> int:
    """Bytes in the kernel's ``long`` (__kernel_long_t) under the ABI: x32 keeps x86_64's
    8 for the structs its native calls share (sysinfo, statfs, tms, timeval, timespec),
    while its pointers (:attr:`Ctx.word`) are 4."""
    return 4 if ctx.abi is _I386 else 8


def klong_fmt(ctx: Ctx, signed: bool = False) -> str:
    """The struct code of one __kernel_long_t of the ABI."""
    code = "q" if klong(ctx) == 8 else "i"
    return code if signed else code.upper()


@scalar
def uid(ctx: Ctx, v: int) -> str:
    """A uid_t or gid_t: ``-1`` for (uid_t) -1, as strace's printuid."""
    v &= 0xFFFFFFFF
    return "-1" if v == 0xFFFFFFFF else str(v)


@scalar
def uid16(ctx: Ctx, v: int) -> str:
    """i386's 16-bit uid_t (setuid, chown without the 32 suffix)."""
    v &= 0xFFFF
    return "-1" if v == 0xFFFF else str(v)


def nullable(render: Render) -> Render:
    """``render``, but ``NULL`` for a NULL pointer (``write(1, NULL, 0)``)."""
    inner = fetch_of(render)

    def fetch(ctx: Ctx, v: int) -> None:
        if v and inner is not None:
            inner(ctx, v)

    @fetched_by(fetch if inner is not None else None)
    def shown(ctx: Ctx, v: int) -> str | None:
        return ptr(ctx, v) if not v & ctx.mask else render(ctx, v)
    return shown


def bits_text(data: bytes, limit: int | None = None) -> str:
    """``[0 1 5]``: the set bits of a little-endian bitmap (fd sets, cpu sets)."""
    value = int.from_bytes(data, "little")
    found = []
    bit = 0
    while value:
        if value & 1:
            if limit is not None and bit >= limit:
                break
            found.append(str(bit))
        value >>= 1
        bit += 1
    return "[" + " ".join(found) + "]"
