"""A scalar as the kernel 6.18 log spells it (print_scalar_ranges and tnum_strn), from
the host's logs: a constant as a number, else ``scalar(...)`` with the bounds that say
something, equal ones of the same kind and sign merged (``smin=umin=smin32=umin32=16``),
``var_off`` unless unknown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .tnum import M32, M64
from .tnum import s64 as _s64

if TYPE_CHECKING:
    from .scalar import Scalar


#: each bound of an unknown scalar: a bound there says nothing and is not printed
_EXTREMES = (-(1 << 63), (1 << 63) - 1, 0, M64, -(1 << 31), (1 << 31) - 1, 0, M32)


def _num(v: int, signed: bool = True) -> str:
    """As the log prints a number: decimal up to 0xffff (a signed one, and a constant,
    from -32768), else the hex of its u64 pattern."""
    v = _s64(v) if signed else v
    return str(v) if -32768 * signed <= v <= (32767 if signed else 0xFFFF) else f"{v & M64:#x}"


def fmt_scalar(self: Scalar, ident: str = "") -> str:
    """As the log prints it: a constant as a number (``-5``, ``0xffffffffffff``), else
    ``scalar(...)``: ``ident`` (``id=1``) first, the bounds that say something (one
    of a later view merged when equal and of the same sign: ``smin=smin32=0``),
    ``var_off`` unless unknown."""
    if self.is_const():
        return _num(self.value)
    names = ("smin", "smax", "umin", "umax", "smin32", "smax32", "umin32", "umax32")
    values = [self.smin & M64, self.smax & M64, self.umin, self.umax,
              *(v & (M64 if -32768 <= v <= 32767 else M32)   # the kernel's (s64)/(u32)
                for v in (self.s32_min, self.s32_max)), self.u32_min, self.u32_max]
    own = (self.smin, self.smax, self.umin, self.umax, self.s32_min, self.s32_max,
           self.u32_min, self.u32_max)
    omit = [a == b for a, b in zip(own, _EXTREMES, strict=True)]
    items = [ident] if ident else []
    for i, (name, val) in enumerate(zip(names, values, strict=True)):
        if omit[i]:
            continue
        neg, merged = name[0] == "s" and _s64(val) < 0, [name]
        for j in range(i + 2, len(names), 2):   # min with min, max with max
            if not omit[j] and values[j] == val and \
                    (names[j][0] == "s" and _s64(values[j]) < 0) == neg:
                omit[j] = True
                merged.append(names[j])
        items.append("=".join(merged) + "=" + _num(val, name[0] == "s"))
    if not self.var_off.is_unknown():
        items.append(f"var_off={self.var_off}")
    return f"scalar({','.join(items)})"
