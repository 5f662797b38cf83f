"""Sizes and alignments of BTF types as libbpf computes them (``btf__resolve_size``,
``btf__align_of``), and its test for a packed struct.

These decide what the C writer (:mod:`bpf_vm.btf_c`) must spell out: a struct whose
members are not where natural alignment would put them is ``packed``, and a hole the
compiler would not leave is filled with padding bitfields.
"""

from __future__ import annotations

from .btf import Btf, BtfType, Kind

#: Spellings of ``long`` whose INT size tells the pointer size (libbpf's long_aliases).
_LONG_NAMES = frozenset({
    "long", "long int", "int long", "unsigned long", "long unsigned", "unsigned long int",
    "unsigned int long", "long unsigned int", "long int unsigned", "int unsigned long",
    "int long unsigned"})

_MODS = frozenset({Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})
_COMPOSITE = frozenset({Kind.STRUCT, Kind.UNION})
_U32_MAX = 0xFFFFFFFF
_SIZED = frozenset({Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.DATASEC,
                    Kind.FLOAT, Kind.PTR})
_SIZE_THROUGH = _MODS | {Kind.TYPEDEF, Kind.VAR, Kind.DECL_TAG}


def pointer_size(btf: Btf) -> int:
    """The target's pointer size: that of its ``long`` (8 when BTF has none)."""
    for t in btf.types[1:]:
        if t.kind is Kind.INT and t.size in (4, 8) and t.name in _LONG_NAMES:
            return t.size
    return 8


class BtfLayout:
    """Cached alignments of one BTF's types, and sizes; ``ptr_sz`` is the target's."""

    def __init__(self, btf: Btf) -> None:
        self.types = btf.types
        self.ptr_sz = pointer_size(btf)
        self.aligns: dict[int, int] = {}
        self.sizes: dict[int, int] = {}

    def align_of(self, tid: int) -> int:
        """Alignment of a type (libbpf's ``btf__align_of``); 0 for types without one
        (void, functions, forward declarations).  A struct whose members are not at
        their natural alignment, or whose size is not a multiple of it, aligns to 1."""
        a = self.aligns.get(tid)
        if a is not None:
            return a
        t = self.types[tid]
        k = t.kind
        if k in (Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FLOAT):
            a = min(self.ptr_sz, t.size)
        elif k is Kind.PTR:
            a = self.ptr_sz
        elif k is Kind.TYPEDEF or k in _MODS or k is Kind.ARRAY:
            a = self.align_of(t.ref)
        elif k in _COMPOSITE:
            a = 1
            for m in t.members:
                ma = self.align_of(m.type)
                if ma <= 0:
                    a = ma
                    break
                a = max(a, ma)
                if m.bitfield_size == 0 and m.bit_offset % (8 * ma):
                    a = 1
                    break
            else:
                if t.size % a:
                    a = 1
        else:
            a = 0
        self.aligns[tid] = a
        return a

    def size_of(self, tid: int) -> int:
        """Size of a type in bytes (libbpf's ``btf__resolve_size``), 0 when it has none."""
        size = self.sizes.get(tid)
        if size is None:
            size = self.sizes[tid] = self._size_of(tid)
        return size

    def _size_of(self, tid: int) -> int:
        nelems = 1
        for _ in range(32):
            t = self.types[tid]
            k = t.kind
            if tid == 0:
                return 0
            if k in _SIZED:
                size = self.ptr_sz if k is Kind.PTR else t.size
                return 0 if nelems and size > _U32_MAX // nelems else nelems * size
            if k is Kind.ARRAY:
                if nelems and t.nelems > _U32_MAX // nelems:
                    return 0
                nelems *= t.nelems
            elif k not in _SIZE_THROUGH:
                return 0
            tid = t.ref
        return 0

    def is_packed(self, t: BtfType) -> bool:
        max_align = 1
        for m in t.members:
            a = self.align_of(m.type)
            if a and m.bitfield_size == 0 and m.bit_offset % (8 * a):
                return True
            max_align = max(a, max_align)
        return t.size % max_align != 0


__all__ = ["BtfLayout", "pointer_size"]
