"""Memory accesses: loads, stores and atomics through each pointer type
(check_mem_access and the stack's spill/fill rules), and the indirect accesses helpers
make through their pointer arguments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .ctx import ctx_access
from .errors import Refuse
from .regs import NOT_INIT, RT, Reg, type_name
from .scalar import Scalar
from .state import SLOT, Frame, Slot

if TYPE_CHECKING:
    from .core import Checker

MAX_BPF_STACK = 512
BPF_MAX_VAR_OFF = 1 << 29


def _var_text(s: Scalar) -> str:
    return str(s.value) if s.is_const() else str(s.var_off)


def _mem_bounds(v: Checker, regno: int, reg: Reg, off: int, size: int, limit: int,
                what: str, extra: str) -> None:
    """check_mem_region_access: [smin+off, umax+off+size) within [0, limit)."""
    s = reg.s
    lo = s.smin + reg.off + off
    if lo < 0 and not s.is_const() and s.smin < 0:
        raise Refuse(f"R{regno} min value is negative, either use unsigned index or "
                     f"do a if (index >=0) check.")
    if lo < 0 or lo + size > limit:
        raise Refuse(f"R{regno} min value is outside of the allowed memory range",
                     lines=(f"invalid access to {what}, {extra}={limit} off={lo} "
                            f"size={size}",))
    if s.umax >= BPF_MAX_VAR_OFF:
        raise Refuse(f"R{regno} unbounded memory access, make sure to bounds check any "
                     f"such access")
    hi = s.umax + reg.off + off
    if hi + size > limit:
        raise Refuse(f"R{regno} max value is outside of the allowed memory range",
                     lines=(f"invalid access to {what}, {extra}={limit} off={hi} "
                            f"size={size}",))


def check_ptr_off(regno: int, reg: Reg) -> None:
    """__check_ptr_off_reg: a ctx pointer must not have moved."""
    name = type_name(reg)
    if reg.off < 0:
        raise Refuse(f"negative offset {name} ptr R{regno} off={reg.off} disallowed")
    if reg.off:
        raise Refuse(f"dereference of modified {name} ptr R{regno} off={reg.off} disallowed")
    if not reg.s.is_const() or reg.s.value:
        raise Refuse(f"variable {name} access var_off={reg.s.var_off} disallowed")


_ALIGN_DESC = {RT.STACK: "stack ", RT.MAP_VALUE: "value ", RT.MAP_KEY: "key ",
               RT.CTX: "context "}


def check_alignment(regno: int, reg: Reg, off: int, size: int) -> None:
    """check_ptr_alignment with strict alignment (atomics, and always for the stack)."""
    total = reg.s.var_off.value + reg.off + off
    if reg.s.var_off.mask & (size - 1) or total % size:
        raise Refuse(f"misaligned {_ALIGN_DESC.get(reg.type, '')}access off "
                     f"{_var_text(reg.s)}+{reg.off}+{off} size {size}")


def loaded(size: int, sign: bool) -> Reg:
    return Reg.scalar(Scalar.load(size, sign_extend=sign))


def access(v: Checker, regno: int, off: int, size: int, write: bool,
           value: Reg | None, *, sign: bool = False, st_imm: int | None = None,
           atomic: bool = False) -> Reg | None:
    """One load (``write`` False: returns the loaded value) or store of ``size`` bytes
    at ``R[regno] + off``.  ``value`` is the stored register (None for BPF_ST, whose
    immediate is ``st_imm``)."""
    reg = v.reg(regno)
    t = reg.type
    if t is RT.NOT_INIT:
        raise Refuse(f"R{regno} !read_ok")
    if atomic and t is not RT.CTX:   # check_ptr_alignment comes first, strict for atomics
        check_alignment(regno, reg, off, size)
    if reg.null or t in (RT.SCALAR, RT.FUNC, RT.PACKET_END, RT.SOCK_COMMON):
        raise Refuse(f"R{regno} invalid mem access '{type_name(reg)}'")
    if t is RT.MAP_PTR:
        if write:
            raise Refuse(f"only read from {_map_struct(reg.map)} is supported")
        return Reg.unknown()
    if t is RT.CTX:
        if atomic:
            raise Refuse(f"BPF_ATOMIC stores into R{regno} ctx is not allowed")
        check_ptr_off(regno, reg)
        verdict = ctx_access(v.kind, off, size, write)
        if not verdict.ok:
            raise Refuse(f"invalid bpf_context access off={off} size={size}")
        v.note_access("ctx", off)
        return None if write else loaded(size, sign)
    if t is RT.STACK:
        return stack_access(v, regno, reg, off, size, write, value, sign=sign,
                            st_imm=st_imm)
    if t is RT.MAP_VALUE:
        m = reg.map
        if write and not getattr(m, "prog_writable", True):
            raise Refuse(f"write into map forbidden, value_size={m.value_size} off={off} "
                         f"size={size}")
        if reg.s.smin < 0 and not reg.s.is_const():
            raise Refuse(f"R{regno} min value is negative, either use unsigned index or "
                         f"do a if (index >=0) check.")
        _mem_bounds(v, regno, reg, off, size, m.value_size, "map value", "value_size")
        v.note_access("map_value")
        return None if write else loaded(size, sign)
    if t is RT.MEM:
        if write and reg.map == "rdonly":
            raise Refuse(f"R{regno} cannot write into {type_name(reg)}")
        _mem_bounds(v, regno, reg, off, size, reg.mem_size, "memory", "mem_size")
        v.note_access("mem")
        return None if write else loaded(size, sign)
    v.note_access("mixed")
    if t is RT.BTF_ID:
        if write:
            raise Refuse(f"R{regno} invalid mem access '{type_name(reg)}'")
        return loaded(size, sign)
    raise Refuse(f"R{regno} invalid mem access '{type_name(reg)}'")


def _map_struct(m: object) -> str:
    """The kernel struct behind a map pointer, as the log names it."""
    from ..maps.spec import MapType
    t = int(getattr(m, "type", 0))
    if t in (MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY,
             MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY):
        return "bpf_array"
    if t in (MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH):
        return "bpf_htab"
    if t == MapType.RINGBUF:
        return "bpf_ringbuf_map"
    return "bpf_map"


def _stack_off(v: Checker, regno: int, reg: Reg, off: int, size: int, write: bool) -> int:
    """The fixed offset of a stack access, checked against the frame's 512 bytes."""
    total = reg.off + off
    rw = "write to" if write else "read from"
    if not reg.s.is_const():
        s = reg.s
        lo, hi = s.smin + total, s.smax + total
        if lo < -MAX_BPF_STACK or hi + size > 0:
            raise Refuse(f"invalid variable-offset {rw} stack R{regno} var_off={s.var_off} "
                         f"off={total} size={size}")
        return lo
    total += reg.s.value if reg.s.value < (1 << 63) else reg.s.value - (1 << 64)
    if total % size:
        raise Refuse(f"misaligned stack access off {_var_text(reg.s)}+{reg.off}+{off} "
                     f"size {size}")
    if total < -MAX_BPF_STACK or total + size > 0 or size == 0:
        raise Refuse(f"invalid {rw} stack R{regno} off={total} size={size}")
    return total


def _frame_of(v: Checker, reg: Reg) -> Frame:
    return v.st.frames[reg.frameno] if reg.frameno < len(v.st.frames) else v.st.cur


def _set_bytes(frame: Frame, start: int, size: int, ch: str) -> None:
    for a in range(start, start + size):
        spi = (-a - 1) // SLOT
        idx = (-a - 1) % SLOT
        slot = frame.stack.get(spi, Slot())
        types = slot.types
        types = types[:idx] + ch + types[idx + 1:]
        spilled = slot.spilled
        if slot.is_spill and types[SLOT - 1] != "r":
            spilled = NOT_INIT
        if "r" in types and types[SLOT - 1] != "r":
            types = types.replace("r", "m")
            spilled = NOT_INIT
        frame.stack[spi] = Slot(types, spilled if "r" in types else NOT_INIT)


def stack_access(v: Checker, regno: int, reg: Reg, off: int, size: int, write: bool,
                 value: Reg | None, *, sign: bool = False,
                 st_imm: int | None = None) -> Reg | None:
    frame = _frame_of(v, reg)
    variable = not reg.s.is_const()
    start = _stack_off(v, regno, reg, off, size, write)
    span = (reg.s.smax - reg.s.smin) if variable else 0
    v.note_stack_depth(frame, -(start))
    own = frame is v.st.cur
    v.note_access("stack", start if own and not variable else None)
    if not own or variable:
        v.facts.note(v.pc, ("mixed", None))
    if write:
        if variable:
            for a in range(start, start + span + size):
                _set_bytes(frame, a, 1, "m")
            return None
        spi = (-start - 1) // SLOT
        aligned = start % SLOT == 0
        if value is not None and (value.is_pointer or (aligned and value.is_scalar)):
            if value.is_pointer and size != SLOT:
                raise Refuse("invalid size of register spill")
            if value.is_pointer and reg.frameno != v.st.cur.frameno and \
                    value.type is RT.STACK:
                raise Refuse("cannot spill pointers to stack into stack frame of the caller",
                             errno=22)
            slot = frame.stack.get(spi, Slot())
            keep = slot.types[: SLOT - size]
            if slot.is_spill or "r" in keep:
                keep = "".join("m" if c == "r" else c for c in keep)
            spilled = value
            if size < SLOT and value.is_scalar and value.s.umax >= 1 << (8 * size):
                # a narrowing spill keeps the low bytes and breaks the link (id 0)
                spilled = Reg.scalar(value.s.cast_to(size))
            frame.stack[spi] = Slot(keep + "r" * size, spilled)
            v.scratch_slot(spi)
            return None
        if value is None and st_imm is not None and aligned and st_imm != 0:
            slot = frame.stack.get(spi, Slot())
            keep = "".join("m" if c == "r" else c for c in slot.types[: SLOT - size])
            frame.stack[spi] = Slot(keep + "r" * size, Reg.const(st_imm & ((1 << 64) - 1)
                                                              if size == SLOT else
                                                              st_imm & ((1 << 8 * size) - 1)))
            v.scratch_slot(spi)
            return None
        zero = (value is not None and value.is_const and value.s.value == 0) or \
            (value is None and st_imm == 0)
        _set_bytes(frame, start, size, "0" if zero else "m")
        v.scratch_slot(spi)
        return None
    # a read
    if variable:
        for a in range(start, start + span + size):
            slot = frame.stack.get((-a - 1) // SLOT, Slot())
            if slot.types[(-a - 1) % SLOT] == "?" and not v.privileged:
                raise Refuse(f"invalid variable-offset read from stack R{regno} "
                             f"var_off={reg.s.var_off} off={reg.off + off} size={size}")
        return loaded(size, sign)
    spi = (-start - 1) // SLOT
    slot = frame.stack.get(spi, Slot())
    v.scratch_slot(spi)
    if slot.is_spill:
        spill = slot.spill_size()
        if size != SLOT:
            if slot.spilled.is_pointer:
                raise Refuse("invalid size of register fill")
            if size == spill and start % SLOT == 0 and not sign:
                return slot.spilled
            return loaded(size, sign)
        if spill == SLOT:
            return slot.spilled
    idxs = [(-a - 1) % SLOT for a in range(start, start + size)]
    kinds = [slot.types[i] for i in idxs]
    if "?" in kinds and not v.privileged:
        raise Refuse(f"invalid read from stack off {start}+0 size {size}")
    if all(k == "0" for k in kinds):
        return Reg.const(0)
    return loaded(size, sign)


def helper_mem(v: Checker, regno: int, size_lo: int, size_hi: int, write: bool,
               zero_ok: bool = False) -> None:
    """A helper reads (or writes) ``size_hi`` bytes at R[regno] (check_helper_mem_access)."""
    reg = v.reg(regno)
    t = reg.type
    if size_hi == 0:
        return
    if t is RT.STACK:
        frame = _frame_of(v, reg)
        total = reg.off + (reg.s.value if reg.s.is_const() else reg.s.smin)
        hi = reg.off + (reg.s.value if reg.s.is_const() else reg.s.smax)
        if total < -MAX_BPF_STACK or hi + size_hi > 0:
            rw = "write to" if write else "read from"
            if reg.s.is_const():
                raise Refuse(f"invalid {rw} stack R{regno} off={total} size={size_hi}")
            raise Refuse(f"invalid variable-offset {rw} stack R{regno} "
                         f"var_off={reg.s.var_off} off={reg.off} size={size_hi}")
        v.note_stack_depth(frame, -total)
        for a in range(total, hi + size_hi):
            spi = (-a - 1) // SLOT
            slot = frame.stack.get(spi, Slot())
            ch = slot.types[(-a - 1) % SLOT]
            if not write and ch == "?" and not v.privileged:
                raise Refuse(f"invalid indirect read from stack R{regno} off {total}+"
                             f"{a - total} size {size_hi}")
        if write:
            for a in range(total, hi + size_hi):
                _set_bytes(frame, a, 1, "m")
        return
    if t is RT.MAP_VALUE:
        _mem_bounds(v, regno, reg, 0, size_hi, reg.map.value_size, "map value", "value_size")
        return
    if t is RT.MEM:
        _mem_bounds(v, regno, reg, 0, size_hi, reg.mem_size, "memory", "mem_size")
        return
    if t is RT.CTX:
        raise Refuse(f"R{regno} type=ctx expected=fp, pkt, pkt_meta, map_key, map_value, "
                     f"mem, ringbuf_mem, buf, trusted_ptr_")
    raise Refuse(f"R{regno} type={type_name(reg)} expected=fp, pkt, pkt_meta, map_key, "
                 f"map_value, mem, ringbuf_mem, buf, trusted_ptr_")
