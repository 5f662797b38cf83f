"""The scalar abstract domain of the verifier: what the Linux kernel's verifier knows of
a register holding a number.  A :class:`Scalar` is five views of one 64-bit value: the
known bits (``var_off``, a tnum) and four intervals, signed and unsigned, of the register
and of its low 32 bits (``umin umax u32_min u32_max`` unsigned, ``smin smax s32_min
s32_max`` signed ints).  Every operation gives what the kernel's does (Linux 6.18 as it
runs on the host: the oracle of test_scalar_kernel.py), from its algorithms, not code.

Jumps: ``refine(op, src)``: (dst, src) where ``dst op src`` holds; ``refine_false``:
``refine(negate(op), src)``, or JSET's false side, which has no op (``negate(JSET)`` is
None).  None: the refined state is impossible (reg_bounds_sanity_check fails); the
kernel then logs "verifier bug: REG INVARIANTS VIOLATION" and goes on with
``state.unbounded()`` (``refine_states`` gives the unchecked pair).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bpf_vm.isa import AluOp, JmpOp
from bpf_vm.verifier.tnum import M32, M64, UNKNOWN, Tnum, sext
from bpf_vm.verifier.tnum import s32 as _s32
from bpf_vm.verifier.tnum import s64 as _s64

__all__ = ["JSET_FALSE", "Scalar", "negate"]

S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1
JSET_FALSE = -1   # the kernel's "JSET | BPF_X": the false side of JSET (refine_states)
_PAIRS = ((JmpOp.JEQ, JmpOp.JNE), (JmpOp.JGT, JmpOp.JLE), (JmpOp.JGE, JmpOp.JLT),
          (JmpOp.JSGT, JmpOp.JSLE), (JmpOp.JSGE, JmpOp.JSLT))
_NEGATE = {**dict(_PAIRS), **{b: a for a, b in _PAIRS}}
_FLIP = {JmpOp.JGT: JmpOp.JLT, JmpOp.JGE: JmpOp.JLE, JmpOp.JSGT: JmpOp.JSLT,
         JmpOp.JSGE: JmpOp.JSLE}   # a > b is b < a
Bounds = tuple[int, int, int, int]   # smin, smax, umin, umax of one width


def negate(op: JmpOp) -> JmpOp | None:
    """The op that holds exactly when ``op`` does not (JGT -> JLE); None for JSET."""
    return _NEGATE.get(op)


def _view(r: _R | Scalar, w: int) -> Bounds:
    if w == 64:
        return r.smin, r.smax, r.umin, r.umax
    return r.s32_min, r.s32_max, r.u32_min, r.u32_max


def _put(r: _R, w: int, b: Bounds) -> None:
    if w == 64:
        r.smin, r.smax, r.umin, r.umax = b
    else:
        r.s32_min, r.s32_max, r.u32_min, r.u32_max = b


class _R:
    """A register state being changed: the kernel's in-place steps, one method each."""
    __slots__ = ("s32_max", "s32_min", "smax", "smin", "u32_max", "u32_min", "umax",
                 "umin", "var_off")

    def __init__(self, s: Scalar) -> None:
        self.var_off = s.var_off
        self.smin, self.smax, self.umin, self.umax = _view(s, 64)
        self.s32_min, self.s32_max, self.u32_min, self.u32_max = _view(s, 32)

    def freeze(self) -> Scalar:
        return Scalar(self.var_off, *_view(self, 64), *_view(self, 32))

    def known(self, v: int) -> None:
        self.var_off = Tnum(v & M64, 0)
        _put(self, 64, (_s64(v), _s64(v), v & M64, v & M64))
        _put(self, 32, (_s32(v), _s32(v), v & M32, v & M32))

    def known32(self, v: int) -> None:
        self.var_off = self.var_off.const_subreg(v)
        _put(self, 32, (_s32(v), _s32(v), v & M32, v & M32))

    def unbounded(self, w: int = 0) -> None:   # forget the ranges of width w (0: both)
        if w != 32:
            _put(self, 64, (S64_MIN, S64_MAX, 0, M64))
        if w != 64:
            _put(self, 32, (S32_MIN, S32_MAX, 0, M32))

    def update(self, w: int = 0) -> None:
        """The bounds implied by the known bits (of width ``w``, 0: both)."""
        for width, t in ((32, self.var_off.subreg()), (64, self.var_off)):
            if w in (0, width):
                smin, smax, umin, umax = _view(self, width)
                sign = 1 << (width - 1)
                _put(self, width, (max(smin, sext(t.value | (t.mask & sign), width)),
                                   min(smax, sext(t.value | (t.mask & (sign - 1)), width)),
                                   max(umin, t.value), min(umax, t.max)))
        if w == 32:
            return
        t = self.var_off   # the unsigned range and the tnum may share one value only
        nxt, inside = t.step(self.umin), self.umin & ~t.mask == t.value
        if inside and nxt > self.umax:
            self.known(self.umin)
        elif not inside and nxt == t.max:
            self.known(t.max)
        elif not inside and nxt <= self.umax and t.step(nxt) > self.umax:
            self.known(nxt)

    def deduce(self) -> None:
        """Each range from the others."""
        for lo, hi in ((self.umin, self.umax), (self.smin, self.smax)):
            if lo >> 32 == hi >> 32:   # one upper half: the lower halves keep the order
                self.u32_min = max(self.u32_min, lo & M32)
                self.u32_max = min(self.u32_max, hi & M32)
                if _s32(lo) <= _s32(hi):
                    self.s32_min = max(self.s32_min, _s32(lo))
                    self.s32_max = min(self.s32_max, _s32(hi))
        for lo, hi in ((self.umin, self.umax), (self.smin, self.smax)):
            # upper halves n and n + 1, the lower half running from negative to positive
            if ((lo >> 32) + 1) & M32 == (hi >> 32) & M32 and _s32(lo) < 0 <= _s32(hi):
                self.s32_min = max(self.s32_min, _s32(lo))
                self.s32_max = min(self.s32_max, _s32(hi))
        _put(self, 32, _signed_unsigned(*_view(self, 32), 32))
        _put(self, 64, _signed_unsigned(*_view(self, 64), 64))
        # the 64-bit ranges from the 32-bit ones, keeping the upper halves
        hi = M64 & ~M32
        self.umin = max(self.umin, (self.umin & hi) | self.u32_min)
        self.umax = min(self.umax, (self.umax & hi) | self.u32_max)
        self.smin = max(self.smin, _s64((self.smin & hi) | self.u32_min))
        self.smax = min(self.smax, _s64((self.smax & hi) | self.u32_max))
        # a non-negative low half within a 64-bit range inside the s32 one: the upper
        # half cannot be all ones, the value is that non-negative s32
        if self.s32_min >= 0 and self.smin >= S32_MIN and self.smax <= S32_MAX:
            self.smin, self.umin = self.s32_min, self.s32_min & M64
            self.smax, self.umax = self.s32_max, self.s32_max & M64
            self.var_off = self.var_off.intersect(Tnum.range(self.smin, self.smax))

    def _key(self) -> tuple[int | Tnum, ...]:
        return (*_view(self, 64), *_view(self, 32), self.var_off)

    def sync(self) -> None:
        t = self.var_off
        if not t.mask:   # a constant whose views all say so: nothing to deduce
            v = t.value
            lo = v & M32
            if self.umin == self.umax == v and self.u32_min == self.u32_max == lo and \
                    self.smin == self.smax == _s64(v) and self.s32_min == self.s32_max == \
                    _s32(lo):
                return
        self.update()
        for _ in range(3):   # the kernel's three rounds; one that changes nothing ends them
            before = self._key()
            self.deduce()
            if self._key() == before:
                break
        # the known bits from the unsigned ranges
        t64 = self.var_off.intersect(Tnum.range(self.umin, self.umax))
        t32 = t64.subreg().intersect(Tnum.range(self.u32_min, self.u32_max))
        self.var_off = t64.clear_subreg().or_(t32)
        self.update()

    def zext32(self) -> None:
        """The low half zero-extended."""
        self.var_off = self.var_off.subreg()
        positive = self.s32_min >= 0 and self.s32_max >= 0
        _put(self, 64, ((self.s32_min, self.s32_max) if positive else (0, M32))
             + (self.u32_min, self.u32_max))

    def truncate(self, size: int, _: int = 64) -> None:
        """Keep the low ``size`` bytes (a narrow load, le16, le32)."""
        self.var_off = self.var_off.cast(size)
        mask = (1 << (8 * size)) - 1
        if self.umin & ~mask == self.umax & ~mask:
            self.umin, self.umax = self.umin & mask, self.umax & mask
        else:
            self.umin, self.umax = 0, mask
        self.smin, self.smax = self.umin, self.umax
        if size < 4:
            self.unbounded(32)
        self.sync()

    def bswap(self, width: int, swap: bool) -> None:
        if swap:
            self.var_off = self.var_off.bswap(width)
            self.unbounded()
        if width < 64:
            self.truncate(width // 8)

    def sext(self, size: int, w: int) -> None:
        """Sign-extend the low ``size`` bytes to ``w`` bits (movsx, MEMSX loads); w 32:
        then zero-extend (the kernel's coerce_subreg_to_size_sx, zext, sync)."""
        if w == 32:
            self.sext(size, 0)
            self.zext32()
            self.sync()
            return
        bits, full = 8 * size, w == 64
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if self.var_off.is_const():
            (self.known if full else self.known32)(sext(self.var_off.value, bits))
            return
        if full and lo <= self.s32_min and self.s32_max <= hi:
            # the low half is already an s<bits> value and stays as it is: the result
            # is that s32 sign-extended (the known bits recomputed from the range)
            _put(self, 64, (self.s32_min, self.s32_max, 0, M64))
            self.var_off = Tnum.range(self.smin, self.smax)
            self.sync()
            return
        smin, smax = (self.smin, self.smax) if full else (self.s32_min & M32,
                                                           self.s32_max & M32)
        a, b = sorted((sext(smin, bits), sext(smax, bits)))
        if smin >> bits != smax >> bits or (a >= 0) != (b >= 0):
            a, b = lo, hi   # the kernel's default, with the whole unsigned ranges
        same = (a, b) != (lo, hi)
        _put(self, 32, (a, b, a & M32 if same else 0, b & M32 if same else M32))
        if full:
            _put(self, 64, (a, b, a & M64 if same else 0, b & M64 if same else M64))
        t = Tnum.range(a, b) if same else UNKNOWN
        self.var_off = t if full else t.subreg()


def _signed_unsigned(smin: int, smax: int, umin: int, umax: int, w: int) -> Bounds:
    """The signed and unsigned ranges of one width from each other (a signed range
    crossing zero wraps around the unsigned ends: a u range meeting one end keeps it)."""
    top = (1 << w) - 1
    if sext(umin, w) <= sext(umax, w):
        smin, smax = max(smin, sext(umin, w)), min(smax, sext(umax, w))
    if smin & top <= smax & top:
        return smin, smax, max(umin, smin & top), min(umax, smax & top)
    if umax < smin & top:
        return sext(umin, w), smax, umin, min(umax, smax & top)
    if smax & top < umin:
        return smin, sext(umax, w), max(umin, smin & top), umax
    return smin, smax, umin, umax


def _arith(op: AluOp, d: _R, s: Scalar, w: int) -> None:
    """ADD, SUB, MUL on one width's bounds (wrapped if every combination wraps alike)."""
    smin, smax, umin, umax = _view(d, w)
    ssmin, ssmax, sumin, sumax = _view(s, w)
    slo, shi, top = -(1 << (w - 1)), (1 << (w - 1)) - 1, (1 << w) - 1
    if op == AluOp.MUL:
        prods = (smin * ssmin, smin * ssmax, smax * ssmin, smax * ssmax)
        umin, umax = umin * sumin, umax * sumax
        smin, smax = min(prods), max(prods)
        some_wrap = umax > top or umin > top
        if not all(slo <= p <= shi for p in prods):
            smin, smax = slo, shi
    elif op == AluOp.ADD:
        smin, smax, umin, umax = smin + ssmin, smax + ssmax, umin + sumin, umax + sumax
        some_wrap = umin <= top < umax
    else:
        smin, smax, umin, umax = smin - ssmax, smax - ssmin, umin - sumax, umax - sumin
        some_wrap = umin < 0 <= umax
    if not (slo <= smin <= shi and slo <= smax <= shi):
        smin, smax = slo, shi
    _put(d, w, (smin, smax, *((0, top) if some_wrap else (umin & top, umax & top))))


def _bitwise(op: AluOp, d: _R, s: Scalar, w: int) -> None:
    """AND, OR, XOR on one width's bounds, ``d.var_off`` already the result."""
    t = d.var_off if w == 64 else d.var_off.subreg()
    if t.is_const() and (s.var_off if w == 64 else s.var_off.subreg()).is_const():
        (d.known if w == 64 else d.known32)(t.value)
        return
    umin, umax = _view(d, w)[2:]
    if op == AluOp.AND:
        umin, umax = t.value, min(umax, _view(s, w)[3])
    elif op == AluOp.OR:
        umin, umax = max(umin, _view(s, w)[2]), t.max
    else:
        umin, umax = t.value, t.max
    crosses = sext(umin, w) > sext(umax, w)   # the sign boundary: the whole signed range
    _put(d, w, (sext(umin if not crosses else 1 << (w - 1), w),
                sext(umax if not crosses else (1 << (w - 1)) - 1, w), umin, umax))
    if w == 64:
        d.update()


def _lsh32_bounds(d: _R, lo: int, hi: int) -> None:
    out = hi > 31 or d.u32_max > 1 << (31 - hi)   # the top bit may be shifted out
    _put(d, 32, (S32_MIN, S32_MAX, *((0, M32) if out else (d.u32_min << lo, d.u32_max << hi))))


def _shift(op: AluOp, d: _R, s: Scalar, wide: bool) -> None:
    """By a constant below the width (``lo == hi``)."""
    if not wide:
        lo, hi, sub = s.u32_min, s.u32_max, d.var_off.subreg()
        if op == AluOp.LSH:
            _lsh32_bounds(d, lo, hi)
            d.var_off = sub.lshift(lo).subreg()
        elif op == AluOp.RSH:
            d.var_off = sub.rshift(lo)
            _put(d, 32, (S32_MIN, S32_MAX, d.u32_min >> hi, d.u32_max >> lo))
        else:
            d.var_off = sub.arshift(lo, 32)
            _put(d, 32, (d.s32_min >> lo, d.s32_max >> lo, 0, M32))
        d.unbounded(64)
        d.update(32)
        return
    lo, hi = s.umin, s.umax
    if op == AluOp.LSH:
        by32 = lo == hi == 32   # the compilers' sign extension, <<32 s>>32
        d.smax = d.s32_max << 32 if by32 else S64_MAX
        d.smin = d.s32_min << 32 if by32 else S64_MIN
        out = d.umax > 1 << (63 - hi)   # the top bit may be shifted out
        d.umin, d.umax = (0, M64) if out else (d.umin << lo, d.umax << hi)
        _lsh32_bounds(d, lo, hi)
        d.var_off = d.var_off.lshift(lo)
    elif op == AluOp.RSH:
        d.var_off = d.var_off.rshift(lo)
        _put(d, 64, (S64_MIN, S64_MAX, d.umin >> hi, d.umax >> lo))
        d.unbounded(32)
    else:
        d.var_off = d.var_off.arshift(lo, 64)
        _put(d, 64, (d.smin >> lo, d.smax >> lo, 0, M64))
        d.unbounded(32)
    d.update()


_TNUM_OPS = {AluOp.ADD: Tnum.add, AluOp.SUB: Tnum.sub, AluOp.MUL: Tnum.mul,
             AluOp.AND: Tnum.and_, AluOp.OR: Tnum.or_, AluOp.XOR: Tnum.xor}


def _alu(d: _R, op: AluOp, s: Scalar, wide: bool) -> None:
    w = 64 if wide else 32
    smin, smax, umin, umax = _view(s, w)
    const = (s.var_off if wide else s.var_off.subreg()).is_const() and smin == smax \
        and umin == umax
    if op not in _TNUM_OPS and op != AluOp.NEG and not (
            op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH) and const and s.umax < w):
        d.var_off = UNKNOWN   # DIV, MOD, shifts by a variable or too far: unknown,
        d.unbounded()         # not even zero-extended after a 32-bit op, as in the kernel
        return
    if op == AluOp.NEG:
        s = d.freeze()
        d.known(0)
        op = AluOp.SUB
    if op in _TNUM_OPS:
        d.var_off = _TNUM_OPS[op](d.var_off, s.var_off)
        bounds = _arith if op in (AluOp.ADD, AluOp.SUB, AluOp.MUL) else _bitwise
        bounds(op, d, s, 32)
        bounds(op, d, s, 64)
    else:
        _shift(op, d, s, wide)
    if not wide:
        d.zext32()
    d.sync()


def _const(r: _R | Scalar, wide: bool) -> int | None:
    t = r.var_off if wide else r.var_off.subreg()
    return t.value if t.is_const() else None


def _refine(r1: _R, r2: _R, op: int, wide: bool) -> None:
    if op in _FLIP:
        op, r1, r2 = _FLIP[JmpOp(op)], r2, r1
    w, top = (64, M64) if wide else (32, M32)
    if op == JmpOp.JEQ:
        a, b = _view(r1, w), _view(r2, w)
        both = (max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3]))
        for r in (r1, r2):
            _put(r, w, both)
        if wide:
            r1.var_off = r2.var_off = r1.var_off.intersect(r2.var_off)
        else:
            t = r1.var_off.subreg().intersect(r2.var_off.subreg())
            r1.var_off, r2.var_off = r1.var_off.with_subreg(t), r2.var_off.with_subreg(t)
    elif op in (JmpOp.JNE, JmpOp.JSET, JSET_FALSE):
        if _const(r2, wide) is None:
            r1, r2 = r2, r1
        val = _const(r2, wide)
        if val is None:
            return
        if op == JmpOp.JNE:   # a constant at an end of a range moves that end by one
            smin, smax, umin, umax = _view(r1, w)
            sval = sext(val, w)
            _put(r1, w, (sext(smin + (smin == sval), w), sext(smax - (smax == sval), w),
                         (umin + (umin == val)) & top, (umax - (umax == val)) & top))
            return
        if op == JmpOp.JSET:
            if val & (val - 1) or not val:
                return   # only a single bit says which bit is set
            change, t = Tnum.or_, Tnum(val, 0)
        else:   # forget the ranges (they may contradict the new bits on a dead branch)
            r1.unbounded()
            change, t = Tnum.and_, Tnum(~val & top, 0)
        if wide:
            r1.var_off = change(r1.var_off, t)
        else:
            r1.var_off = r1.var_off.with_subreg(change(r1.var_off.subreg(), t))
    else:   # JLE JLT JSLE JSLT: r1 below r2, the sums wrapping as in C
        strict = op in (JmpOp.JLT, JmpOp.JSLT)
        lo, hi = list(_view(r1, w)), list(_view(r2, w))
        i = 2 if op in (JmpOp.JLE, JmpOp.JLT) else 0
        wrap: Callable[[int], int] = (lambda x: x & top) if i else (lambda x: sext(x, w))
        lo[i + 1] = min(lo[i + 1], wrap(hi[i + 1] - strict))
        hi[i] = max(wrap(lo[i] + strict), hi[i])
        _put(r1, w, (lo[0], lo[1], lo[2], lo[3]))
        _put(r2, w, (hi[0], hi[1], hi[2], hi[3]))


@dataclass(frozen=True, slots=True)
class Scalar:
    """What is known of a scalar register, as the kernel has it after each operation."""

    var_off: Tnum
    smin: int
    smax: int
    umin: int
    umax: int
    s32_min: int
    s32_max: int
    u32_min: int
    u32_max: int

    @classmethod
    def unknown(cls) -> Scalar:
        return cls(UNKNOWN, S64_MIN, S64_MAX, 0, M64, S32_MIN, S32_MAX, 0, M32)

    @classmethod
    def const(cls, v: int) -> Scalar:
        """Exactly ``v`` (taken modulo 2**64)."""
        return _UNKNOWN._step(_R.known, v)

    @classmethod
    def load(cls, size_bytes: int, *, sign_extend: bool = False) -> Scalar:
        """An unknown value loaded from ``size_bytes`` of memory (MEMSX: sign-extended)."""
        if size_bytes >= 8:
            return _UNKNOWN
        return _UNKNOWN._step(_R.sext if sign_extend else _R.truncate, size_bytes, 64)

    def _step(self, step: Callable[..., None], *args: object, sync: bool = False) -> Scalar:
        r = _R(self)
        step(r, *args)
        if sync:
            r.sync()
        return r.freeze()

    def is_const(self) -> bool:
        return self.var_off.mask == 0

    @property
    def value(self) -> int:
        """The constant (u64), when :meth:`is_const`."""
        return self.var_off.value

    def is_const32(self) -> bool:
        return self.var_off.subreg_is_const()

    @property
    def value32(self) -> int:
        return self.var_off.value & M32

    def sync(self) -> Scalar:
        return self._step(lambda r: None, sync=True)

    def alu(self, op: AluOp, src: Scalar, *, wide: bool, signed: bool = False) -> Scalar:
        """``self op= src``, ``wide=False``: the 32-bit op zero-extended, but an op the
        kernel does not follow (DIV MOD, ``signed`` or not, shifts by a variable) leaves
        the whole register unknown.  MOV: ``src``.  The kernel may :meth:`fork` first."""
        if op == AluOp.MOV:
            return src if wide else src.zext32()
        return self._step(_alu, op, src, wide)

    def fork(self, op: AluOp, src: Scalar) -> tuple[Scalar, Scalar] | None:
        """Before ``dst &= K``, ``dst |= K`` (K constant) on a dst of -1 or 0 (``x s>>= 63;
        x &= K``) the kernel goes on with dst -1 and saves dst 0 to walk the instruction
        again: (dst -1, dst 0), or None."""
        if op not in (AluOp.AND, AluOp.OR) or not src.is_const():
            return None
        if self.smin == -1 and self.smax == 0:
            return Scalar.const(-1), Scalar.const(0)
        if self.s32_min == -1 and self.s32_max == 0:
            return self._step(_R.known32, M32), self._step(_R.known32, 0)
        return None

    def neg(self, *, wide: bool) -> Scalar:
        return self._step(_alu, AluOp.NEG, self, wide)

    def zext32(self) -> Scalar:
        """The low 32 bits zero-extended (``w = w``)."""
        return self._step(_R.zext32, sync=True)

    def cast_to(self, size_bytes: int) -> Scalar:
        """The low ``size_bytes`` bytes zero-extended (the kernel's coerce_reg_to_size)."""
        return self if size_bytes >= 8 else self._step(_R.truncate, size_bytes)

    def bswap(self, width: int, *, to_be: bool | None, wide: bool) -> Scalar:
        """BPF_END: ``wide`` (bswap16/32/64, ``to_be`` None) or ``to_be`` swaps the bytes
        of the low ``width`` bits (this machine is little-endian); 16 and 32 truncate."""
        return self._step(_R.bswap, width, wide or bool(to_be), sync=True)

    def movsx(self, bits: int, *, wide: bool) -> Scalar:
        """``r = (s<bits>)r`` (wide) or ``w = (s<bits>)w``."""
        return self._step(_R.sext, bits // 8, 64 if wide else 32)

    def branch(self, op: JmpOp, src: Scalar, *, wide: bool) -> int:
        """Whether ``self op src`` jumps (the kernel's is_branch_taken on two scalars):
        1 always, 0 never, -1 either way."""
        if op in _FLIP:
            return src.branch(_FLIP[op], self, wide=wide)
        w = 64 if wide else 32
        t1, t2 = (self.var_off, src.var_off) if wide else (self.var_off.subreg(),
                                                            src.var_off.subreg())
        smin1, smax1, umin1, umax1 = _view(self, w)
        smin2, smax2, umin2, umax2 = _view(src, w)
        if op in (JmpOp.JEQ, JmpOp.JNE):
            equal = 1 if op == JmpOp.JEQ else 0
            if t1.is_const() and t2.is_const():
                return equal if t1.value == t2.value else 1 - equal
            apart = (not t1.overlap(t2) or umin1 > umax2 or umax1 < umin2
                     or smin1 > smax2 or smax1 < smin2)
            if wide and not apart:   # the low halves may tell them apart too
                apart = (self.u32_min > src.u32_max or self.u32_max < src.u32_min
                         or self.s32_min > src.s32_max or self.s32_max < src.s32_min)
            return 1 - equal if apart else -1
        if op == JmpOp.JSET:
            if not t2.is_const():
                t1, t2 = t2, t1
            if not t2.is_const():
                return -1
            return 1 if t1.value & t2.value else -1 if t1.max & t2.value else 0
        lo1, hi1, lo2, hi2 = ((umin1, umax1, umin2, umax2) if op in (JmpOp.JLT, JmpOp.JLE)
                              else (smin1, smax1, smin2, smax2))
        if op in (JmpOp.JLT, JmpOp.JSLT):
            return 1 if hi1 < lo2 else 0 if lo1 >= hi2 else -1
        return 1 if hi1 <= lo2 else 0 if lo1 > hi2 else -1

    def refine_states(self, op: JmpOp | int, src: Scalar, *, wide: bool
                      ) -> tuple[Scalar, Scalar]:
        """The kernel's (dst, src) assuming ``dst op src`` (JSET_FALSE: ``dst & src ==
        0``), not checked."""
        r1, r2 = _R(self), _R(src)
        _refine(r1, r2, op, wide)
        r1.sync()
        r2.sync()
        return r1.freeze(), r2.freeze()

    def refine_dst(self, op: JmpOp | int, src: Scalar, *, wide: bool) -> Scalar:
        """``refine_states(...)[0]``, without syncing a source that is dropped (a
        BPF_K comparison's immediate)."""
        r1, r2 = _R(self), _R(src)
        _refine(r1, r2, op, wide)
        r1.sync()
        return r1.freeze()

    def refine(self, op: JmpOp | int, src: Scalar, *, wide: bool
               ) -> tuple[Scalar, Scalar] | None:
        """(dst, src) where ``dst op src`` holds; None: the kernel finds it impossible."""
        dst, src = self.refine_states(op, src, wide=wide)
        return None if dst.violation() or src.violation() else (dst, src)

    def refine_false(self, op: JmpOp, src: Scalar, *, wide: bool
                     ) -> tuple[Scalar, Scalar] | None:
        """(dst, src) where ``dst op src`` does not hold, JSET included."""
        return self.refine(_NEGATE.get(op, JSET_FALSE), src, wide=wide)

    def violation(self) -> str | None:
        """Why the kernel's reg_bounds_sanity_check rejects this state, or None."""
        if self.umin > self.umax or self.smin > self.smax or \
                self.u32_min > self.u32_max or self.s32_min > self.s32_max:
            return "range bounds violation"
        v = self.var_off.value
        if self.is_const() and _view(self, 64) != (_s64(v), _s64(v), v, v):
            return "const tnum out of sync with range bounds"
        if self.is_const32() and _view(self, 32) != (_s32(v), _s32(v), v & M32, v & M32):
            return "const subreg tnum out of sync with range bounds"
        return None

    def unbounded(self) -> Scalar:
        """The ranges forgotten, the known bits kept (the kernel's __mark_reg_unbounded)."""
        return Scalar(self.var_off, *_view(_UNKNOWN, 64), *_view(_UNKNOWN, 32))

    def contains(self, other: Scalar) -> bool:
        """Every value ``other`` allows, ``self`` allows (range_within and tnum_in)."""
        mine, theirs = _view(self, 64) + _view(self, 32), _view(other, 64) + _view(other, 32)
        return all(a <= b if i % 2 == 0 else a >= b
                   for i, (a, b) in enumerate(zip(mine, theirs, strict=True))) \
            and self.var_off.contains(other.var_off)

    def fmt(self, ident: str = "") -> str:
        """As the log prints it (:func:`bpf_vm.verifier.scalar_fmt.fmt_scalar`)."""
        from .scalar_fmt import fmt_scalar
        return fmt_scalar(self, ident)

    __str__ = fmt


_UNKNOWN = Scalar.unknown()
