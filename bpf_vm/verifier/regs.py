"""Register states, as the kernel's verifier tracks them (``struct bpf_reg_state``).

A register is not initialised, a scalar (a :class:`~bpf_vm.verifier.scalar.Scalar`: a
tnum plus signed and unsigned 64- and 32-bit bounds), or a pointer.  A pointer has a
type, a fixed offset ``off`` and a variable part ``var`` (a Scalar, a constant 0 when the
offset is known), and what its type needs: the map it points into, the size of the
memory, the frame of a stack pointer, the id shared by copies of a maybe-null pointer
(``id``) and the reference it holds (``ref_obj_id``).

:func:`fmt_reg` spells a register as the kernel 6.18 log does (``ctx()``, ``fp-8``,
``map_value(map=counts,ks=4,vs=8,off=4)``, ``ringbuf_mem_or_null(id=2,ref_obj_id=2,sz=8)``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any

from .scalar import Scalar
from .tnum import Tnum


class RT(enum.Enum):
    """The register types the verifier distinguishes (``enum bpf_reg_type``), with the
    name the log prints for each."""
    NOT_INIT = "?"
    SCALAR = "scalar"
    CTX = "ctx"
    STACK = "fp"
    MAP_PTR = "map_ptr"
    MAP_VALUE = "map_value"
    MAP_KEY = "map_key"
    MEM = "mem"              # PTR_TO_MEM: bpf_ringbuf_reserve's record (ringbuf_mem)
    FUNC = "func"            # ld_imm64 BPF_PSEUDO_FUNC: a callback's address
    BTF_ID = "ptr_"          # a kernel object (BPF_PSEUDO_BTF_ID ksym)
    PACKET = "pkt"
    PACKET_END = "pkt_end"
    SOCK_COMMON = "sock_common"


#: the pointer types a program may load from and store to, with their log names
POINTERS = frozenset({RT.CTX, RT.STACK, RT.MAP_VALUE, RT.MAP_KEY, RT.MEM, RT.PACKET,
                      RT.BTF_ID})

M64 = (1 << 64) - 1


def const_scalar(v: int) -> Scalar:
    """A known constant, built directly (the walk makes millions of them)."""
    v &= M64
    s64 = v - (1 << 64) if v >> 63 else v
    lo = v & 0xFFFFFFFF
    s32 = lo - (1 << 32) if lo >> 31 else lo
    return Scalar(Tnum(v, 0), s64, s64, v, v, s32, s32, lo, lo)


_ZERO = const_scalar(0)


@dataclass(frozen=True, slots=True)
class Reg:
    """One register's abstract value.  ``s`` is the value of a scalar or the variable
    offset of a pointer.  ``null`` marks the ``_or_null`` form of a pointer type.
    ``ringbuf`` marks MEM from bpf_ringbuf_reserve (the log's ``ringbuf_mem``);
    ``rdonly`` a read-only map value (``.rodata`` frozen) or memory.  ``precise``
    marks a scalar whose exact value decided something (a branch, an offset): a
    may_goto loop does not widen it (the kernel's precision marks, approximated at the
    point of use; not printed)."""
    type: RT
    s: Scalar = _ZERO
    off: int = 0
    id: int = 0
    ref_obj_id: int = 0
    map: Any = None
    mem_size: int = 0
    frameno: int = 0
    null: bool = False
    ringbuf: bool = False
    subprog: int = 0
    precise: bool = False

    # -- constructors ------------------------------------------------------------------

    @staticmethod
    def scalar(s: Scalar, id: int = 0) -> Reg:
        return Reg(RT.SCALAR, s, id=id)

    @staticmethod
    def const(v: int) -> Reg:
        return Reg(RT.SCALAR, const_scalar(v))

    @staticmethod
    def unknown() -> Reg:
        return Reg(RT.SCALAR, Scalar.unknown())

    @property
    def is_scalar(self) -> bool:
        return self.type is RT.SCALAR

    @property
    def is_pointer(self) -> bool:
        return self.type not in (RT.SCALAR, RT.NOT_INIT)

    @property
    def is_const(self) -> bool:
        return self.type is RT.SCALAR and self.s.is_const()

    def with_off(self, off: int) -> Reg:
        return replace(self, off=off)

    def with_scalar(self, s: Scalar) -> Reg:
        """This register with ``s`` as its value (dataclasses.replace, without its cost
        on the walk's hottest path)."""
        return Reg(self.type, s, self.off, self.id, self.ref_obj_id, self.map,
                   self.mem_size, self.frameno, self.null, self.ringbuf, self.subprog,
                   self.precise)

    def type_name(self) -> str:
        """The type as the log prints it in messages (``map_value_or_null``)."""
        return type_name(self)


def type_name(r: Reg) -> str:
    if r.type is RT.MEM:
        base = "ringbuf_mem" if r.ringbuf else ("rdonly_mem" if r.map == "rdonly" else "mem")
    elif r.type is RT.BTF_ID:
        base = "ptr_"
    else:
        base = r.type.value
    if r.type is RT.NOT_INIT:
        return "?"
    return base + ("_or_null" if r.null else "")


def _num(v: int) -> str:
    """A bound as the log prints it: decimal, hex from 2**32 up (signed stays decimal)."""
    return f"{v:#x}" if v > 0xFFFFFFFF else str(v)


def fmt_reg(r: Reg, cur_frame: int = 0, precise: bool = False) -> str:
    """The kernel's spelling of one register value (what follows ``R1=``); with
    ``precise``, a precise scalar is marked ``P``, as a saved state prints."""
    t = r.type
    if t is RT.SCALAR:
        ident = f"id={r.id}" if r.id else ""
        text = r.s.fmt(ident)
        return "P" + text if precise and r.precise else text
    if t is RT.STACK and r.s.is_const() and r.s.value == 0 and not r.id:
        frame = "" if r.frameno == cur_frame else f"[{r.frameno}]"
        return f"fp{frame}{r.off:+d}".replace("+0", "0") if r.off >= 0 else \
            f"fp{frame}{r.off}"
    parts: list[str] = []
    if r.id:
        parts.append(f"id={r.id}")
    if r.ref_obj_id:
        parts.append(f"ref_obj_id={r.ref_obj_id}")
    if t in (RT.MAP_PTR, RT.MAP_VALUE, RT.MAP_KEY) and r.map is not None:
        name = getattr(r.map, "name", "")
        if name:
            parts.append(f"map={name}")
        parts.append(f"ks={r.map.key_size},vs={r.map.value_size}")
    if t is RT.STACK:
        parts.append(f"frame={r.frameno}" if r.frameno != cur_frame else "")
    if r.off:
        parts.append(f"off={r.off}")
    if t is RT.MEM:
        parts.append(f"sz={r.mem_size}")
    if not r.s.is_const():
        inner = r.s.fmt("")
        if inner.startswith("scalar(") and inner.endswith(")") and inner != "scalar()":
            parts.append(inner[len("scalar("):-1])
    elif r.s.value:
        parts.append(f"imm={r.s.value}")
    body = ",".join(p for p in parts if p)
    return f"{type_name(r)}({body})"


NOT_INIT = Reg(RT.NOT_INIT)
