"""Tristate numbers: the bit-level half of the verifier's scalar domain.

A :class:`Tnum` ``(value, mask)`` stands for every 64-bit unsigned integer ``x`` with
``x & ~mask == value``: a bit set in ``mask`` is unknown, any other bit is known and
equal to that bit of ``value`` (so ``value & mask == 0``).  The operations are sound
over-approximations: the result of ``a.op(b)`` contains ``x op y`` for every ``x`` in
``a`` and ``y`` in ``b``.  They follow the Linux kernel's kernel/bpf/tnum.c
operation for operation (the same results bit for bit, which the verifier's log and
verdicts depend on); the code is written here from the algorithms, not copied.

``str(t)`` is the kernel log's spelling, ``(0x0; 0xff)``.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["M32", "M64", "UNKNOWN", "Tnum", "const", "range", "s32", "s64", "sext"]

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1


def sext(x: int, bits: int) -> int:
    """The low ``bits`` bits of ``x`` read as a signed number."""
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def s64(x: int) -> int:
    return sext(x, 64)


def s32(x: int) -> int:
    return sext(x, 32)


def _swap_bytes(x: int, nbytes: int) -> int:
    return int.from_bytes((x & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little"), "big")


class Tnum(NamedTuple):
    """Known bits ``value``, unknown bits ``mask`` (both u64, disjoint)."""

    value: int
    mask: int

    # --- constructors (also module functions const / range / UNKNOWN) ----------------

    @staticmethod
    def const(v: int) -> Tnum:
        return Tnum(v & M64, 0)

    @staticmethod
    def range(lo: int, hi: int) -> Tnum:
        """The smallest tnum of the form "a common prefix, then all unknown" holding
        every value of [lo, hi] (u64): the unknown part is every bit at or below the
        highest bit where lo and hi differ."""
        lo &= M64
        hi &= M64
        width = (lo ^ hi).bit_length()
        if width > 63:
            return Tnum(0, M64)
        low = (1 << width) - 1
        return Tnum(lo & ~low & M64, low)

    # --- predicates --------------------------------------------------------------------

    def is_const(self) -> bool:
        return self.mask == 0

    def is_unknown(self) -> bool:
        return self.mask == M64

    def equals_const(self, v: int) -> bool:
        return self.mask == 0 and self.value == v & M64

    def is_aligned(self, size: int) -> bool:
        """Every member is a multiple of ``size`` (a power of two; 0 means any)."""
        if not size:
            return True
        return ((self.value | self.mask) & (size - 1)) == 0

    def contains(self, other: Tnum) -> bool:
        """Every member of ``other`` is a member of ``self`` (the kernel's tnum_in)."""
        if other.mask & ~self.mask:
            return False
        return other.value & ~self.mask & M64 == self.value

    def overlap(self, other: Tnum) -> bool:
        """The two tnums share a member: they agree on every bit both of them know."""
        known = ~self.mask & ~other.mask & M64
        return (self.value & known) == (other.value & known)

    @property
    def max(self) -> int:
        """The largest member (u64)."""
        return self.value | self.mask

    # --- shifts ------------------------------------------------------------------------

    def lshift(self, shift: int) -> Tnum:
        return Tnum((self.value << shift) & M64, (self.mask << shift) & M64)

    def rshift(self, shift: int) -> Tnum:
        return Tnum(self.value >> shift, self.mask >> shift)

    def arshift(self, shift: int, insn_bitness: int = 64) -> Tnum:
        """Arithmetic right shift of value and mask alike (a known or unknown sign bit
        is copied down); ``insn_bitness`` 32 shifts the low 32 bits as an s32 and
        zero-extends the result."""
        if insn_bitness == 32:
            return Tnum((s32(self.value) >> shift) & M32, (s32(self.mask) >> shift) & M32)
        return Tnum((s64(self.value) >> shift) & M64, (s64(self.mask) >> shift) & M64)

    # --- arithmetic --------------------------------------------------------------------

    def add(self, other: Tnum) -> Tnum:
        # the sum with every unknown bit 0 and the sum with every unknown bit 1 differ
        # in every position a carry may or may not reach: those become unknown
        low = (self.value + other.value) & M64
        high = (low + self.mask + other.mask) & M64
        unknown = (low ^ high) | self.mask | other.mask
        return Tnum(low & ~unknown & M64, unknown)

    def sub(self, other: Tnum) -> Tnum:
        # the largest minuend minus the smallest subtrahend, against the smallest
        # minuend minus the largest subtrahend: a differing bit may borrow or not
        diff = (self.value - other.value) & M64
        top = (diff + self.mask) & M64
        bottom = (diff - other.mask) & M64
        unknown = (top ^ bottom) | self.mask | other.mask
        return Tnum(diff & ~unknown & M64, unknown)

    def neg(self) -> Tnum:
        return Tnum(0, 0).sub(self)

    def mul(self, other: Tnum) -> Tnum:
        """Shift-and-add over the bits of ``self``: a known 1 adds the shifted
        ``other``, an unknown bit joins "added" and "not added"."""
        a, b = self, other
        acc = Tnum(0, 0)
        while a.value or a.mask:
            if a.value & 1:
                acc = acc.add(b)
            elif a.mask & 1:
                acc = acc.union(acc.add(b))
            a = a.rshift(1)
            b = b.lshift(1)
        return acc

    # --- bitwise -----------------------------------------------------------------------

    def and_(self, other: Tnum) -> Tnum:
        ones = self.value & other.value
        maybe = (self.value | self.mask) & (other.value | other.mask)
        return Tnum(ones, maybe & ~ones & M64)

    def or_(self, other: Tnum) -> Tnum:
        ones = self.value | other.value
        return Tnum(ones, (self.mask | other.mask) & ~ones & M64)

    def xor(self, other: Tnum) -> Tnum:
        unknown = self.mask | other.mask
        return Tnum((self.value ^ other.value) & ~unknown & M64, unknown)

    # --- set operations ----------------------------------------------------------------

    def intersect(self, other: Tnum) -> Tnum:
        """Members of both: a bit known in either is known.  Where the two disagree on
        a known bit (an empty intersection) the result has that bit set, as the
        kernel's does."""
        unknown = self.mask & other.mask
        return Tnum((self.value | other.value) & ~unknown & M64, unknown)

    def union(self, other: Tnum) -> Tnum:
        """Members of either (the smallest tnum holding both)."""
        unknown = (self.value ^ other.value) | self.mask | other.mask
        return Tnum(self.value & other.value & ~unknown & M64, unknown)

    def step(self, z: int) -> int:
        """The smallest member greater than ``z``, for ``value <= z < max``; ``value``
        below that, ``max`` at or above it (the kernel's tnum_step)."""
        tmax = self.value | self.mask
        if z >= tmax:
            return tmax
        if z < self.value:
            return self.value
        y = z + 1
        wrong = (y ^ self.value) & ~self.mask   # known bits on which y disagrees
        if not wrong:
            return y
        k = wrong.bit_length() - 1
        if self.value >> k & 1:
            # y has 0 where a 1 is known: set it, everything below at its least
            below = (1 << (k + 1)) - 1
            return (y & ~below) | (self.value & below)
        # y has 1 where a 0 is known: carry into the lowest unknown 0 bit of y above k
        free = self.mask & ~y & ~((1 << (k + 1)) - 1)
        j = (free & -free).bit_length() - 1
        below = (1 << j) - 1
        return (y & ~((1 << (j + 1)) - 1) & M64) | (1 << j) | (self.value & below)

    # --- sizes and subregisters --------------------------------------------------------

    def cast(self, size_bytes: int) -> Tnum:
        """Keep the low ``size_bytes`` bytes, the others known 0."""
        keep = (1 << (8 * size_bytes)) - 1
        return Tnum(self.value & keep, self.mask & keep)

    def subreg(self) -> Tnum:
        return self.cast(4)

    def clear_subreg(self) -> Tnum:
        return self.rshift(32).lshift(32)

    def with_subreg(self, sub: Tnum) -> Tnum:
        """The upper 32 bits of ``self`` with the lower 32 bits of ``sub``."""
        return self.clear_subreg().or_(sub.subreg())

    def const_subreg(self, value: int) -> Tnum:
        return self.with_subreg(Tnum(value & M32, 0))

    def subreg_is_const(self) -> bool:
        return self.mask & M32 == 0

    # --- byte swaps (BPF_END) ----------------------------------------------------------

    def bswap(self, width: int) -> Tnum:
        """Reverse the bytes of the low ``width`` bits (16, 32 or 64); the bits above
        become known 0."""
        n = width // 8
        return Tnum(_swap_bytes(self.value, n), _swap_bytes(self.mask, n))

    # --- log spelling ------------------------------------------------------------------

    def __str__(self) -> str:
        return f"({self.value:#x}; {self.mask:#x})"


UNKNOWN = Tnum(0, M64)


def const(v: int) -> Tnum:
    """The tnum of exactly ``v`` (taken modulo 2**64)."""
    return Tnum.const(v)


def range(lo: int, hi: int) -> Tnum:
    """See :meth:`Tnum.range`."""
    return Tnum.range(lo, hi)
