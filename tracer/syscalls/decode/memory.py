"""Memory mappings: mmap's protection and flags, mmap2's page offset (strace's mem.c)."""

from __future__ import annotations

from tracer.syscalls import xlat as X
from tracer.syscalls.decode.common import Ctx, flags_text, hx, scalar


@scalar
def prot(ctx: Ctx, v: int) -> str:
    return flags_text(v & 0xFFFFFFFF, X.PROT_FLAGS, "PROT_NONE")


@scalar
def mmap_flags(ctx: Ctx, v: int) -> str:
    v &= 0xFFFFFFFF
    kind = v & X.MAP_TYPE_MASK
    head = X.MAP_TYPES.get(kind, hex(kind))
    rest = v & ~X.MAP_TYPE_MASK
    return head if not rest else f"{head}|{flags_text(rest, X.MAP_FLAGS)}"


@scalar
def mmap2_offset(ctx: Ctx, v: int) -> str:
    """i386's mmap2 takes the offset in pages; strace shows it in bytes."""
    return hx(v * 4096)
