"""ALU instructions (check_alu_op): scalar arithmetic through the Scalar domain, pointer
arithmetic with the kernel's rules (adjust_ptr_min_max_vals)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .. import syntax as S
from ..engine.runtime import _sdiv, _smod
from ..insn import Insn
from ..isa import AluOp, Kind, Source
from .errors import Refuse
from .mem import BPF_MAX_VAR_OFF
from .regs import RT, Reg, type_name
from .scalar import Scalar
from .tnum import sext

if TYPE_CHECKING:
    from .core import Checker

_NO_ARITH = (RT.MAP_PTR, RT.PACKET_END, RT.SOCK_COMMON, RT.FUNC)


def _op_text(insn: Insn) -> str:
    op = insn.spec.op
    if op is AluOp.NEG:
        return "neg"
    if op is AluOp.END:
        return "endian"
    return S.ALU_OPS.get((op, insn.off), "?")  # type: ignore[arg-type]


def check_alu(v: Checker, insn: Insn) -> None:
    spec = insn.spec
    wide = spec.wide
    dst = insn.dst
    op = AluOp(spec.op)  # type: ignore[arg-type]
    if spec.kind in (Kind.NEG, Kind.END):
        r = v.read(dst)
        v.check_writable(dst)
        if r.is_pointer:
            if not v.privileged:
                raise Refuse(f"R{dst} pointer arithmetic prohibited")
            v.write(dst, Reg.unknown())
            return
        if spec.kind is Kind.NEG:
            v.write(dst, Reg.scalar(r.s.neg(wide=wide)))
        else:
            to_be = None if wide else spec.source is Source.X
            v.write(dst, Reg.scalar(r.s.bswap(insn.imm, to_be=to_be, wide=wide)))
        return
    x = spec.source is Source.X
    if x:
        src = v.read(insn.src)
    if op is AluOp.MOV:
        v.check_writable(dst)
        if not x:
            imm = insn.imm & ((1 << 64) - 1) if wide else insn.imm & 0xFFFFFFFF
            v.write(dst, Reg.const(imm))
            return
        if insn.off:  # movsx
            if src.is_pointer:
                if not v.privileged:
                    raise Refuse(f"R{insn.src} sign-extension part of pointer")
                v.write(dst, Reg.unknown())
                return
            v.write(dst, Reg.scalar(src.s.movsx(insn.off, wide=wide)))
            return
        if wide:
            if src.is_scalar and not src.id and not src.s.is_const():
                src = replace(src, id=v.new_id())
                v.write(insn.src, src)
            v.write(dst, src)
            return
        if src.is_pointer:
            if not v.privileged:
                raise Refuse(f"R{insn.src} partial copy of pointer")
            v.write(dst, Reg.unknown())
            return
        if src.s.umax <= 0xFFFFFFFF and not src.s.is_const():
            if not src.id:
                src = replace(src, id=v.new_id())
                v.write(insn.src, src)
            v.write(dst, Reg.scalar(src.s.zext32(), src.id))
        else:
            v.write(dst, Reg.scalar(src.s.zext32()))
        return
    d = v.read(dst)
    v.check_writable(dst)
    srcr = src if x else Reg.const(insn.imm & ((1 << 64) - 1) if wide
                                   else insn.imm & 0xFFFFFFFF)
    if not x and op in (AluOp.DIV, AluOp.MOD) and insn.imm == 0:
        raise Refuse("div by zero", errno=22)
    if not x and op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH):
        bits = 64 if wide else 32
        if not 0 <= insn.imm < bits:
            raise Refuse(f"invalid shift {insn.imm}", errno=22)
    if d.is_pointer or srcr.is_pointer:
        v.write(dst, _ptr_alu(v, insn, d, srcr, wide))
        return
    signed = bool(insn.off) and op in (AluOp.DIV, AluOp.MOD)
    forked = d.s.fork(op, srcr.s)
    if forked is not None:
        # maybe_fork_scalars: go on with dst = -1, walk the instruction again with 0
        minus1, zero = forked
        other = v.st.copy()
        other.cur.regs[dst] = replace(d, s=zero, id=0)
        v.push(v.pc, other, v.pc)
        d = replace(d, s=minus1, id=0)
    if d.s.is_const() and srcr.s.is_const():
        res = Reg.const(concrete(op, d.s.value, srcr.s.value, wide, signed))
    else:
        res = Reg.scalar(d.s.alu(op, srcr.s, wide=wide, signed=signed))
    v.write(dst, Reg(RT.SCALAR, res.s, precise=True) if d.precise else res)


def concrete(op: AluOp, a: int, b: int, wide: bool, signed: bool) -> int:
    """``a op b`` on known values, as the CPU computes it (the interpreter's rules:
    x/0 = 0, x%0 = x, shift amounts masked)."""
    bits = 64 if wide else 32
    m = (1 << bits) - 1
    a &= m
    b &= m
    if op is AluOp.ADD:
        r = a + b
    elif op is AluOp.SUB:
        r = a - b
    elif op is AluOp.MUL:
        r = a * b
    elif op is AluOp.OR:
        r = a | b
    elif op is AluOp.AND:
        r = a & b
    elif op is AluOp.XOR:
        r = a ^ b
    elif op is AluOp.LSH:
        r = a << (b & (bits - 1))
    elif op is AluOp.RSH:
        r = a >> (b & (bits - 1))
    elif op is AluOp.ARSH:
        r = sext(a, bits) >> (b & (bits - 1))
    elif op is AluOp.DIV:   # the engines' own signed forms: the same results by design
        r = _sdiv(a, b, 1 << (bits - 1), m) if signed else (a // b if b else 0)
    elif op is AluOp.MOD:
        r = _smod(a, b, 1 << (bits - 1), m) if signed else (a % b if b else a)
    else:
        raise AssertionError(op)
    return r & m


def _ptr_alu(v: Checker, insn: Insn, d: Reg, s: Reg, wide: bool) -> Reg:
    """adjust_reg_min_max_vals with a pointer operand, then adjust_ptr_min_max_vals."""
    dst = insn.dst
    op = insn.spec.op
    if d.is_pointer and s.is_pointer:
        if op is AluOp.SUB and v.privileged:
            return Reg.unknown()
        raise Refuse(f"R{dst} pointer {_op_text(insn)} pointer prohibited")
    p, k = (d, s.s) if d.is_pointer else (s, d.s)
    if not wide:
        if op is AluOp.SUB and v.privileged:
            return Reg.unknown()
        raise Refuse(f"R{dst} 32-bit pointer arithmetic prohibited")
    if p.null:
        raise Refuse(f"R{dst} pointer arithmetic on {type_name(p)} prohibited, null-check "
                     f"it first")
    if p.type in _NO_ARITH and not (p.type is RT.MAP_PTR and k.is_const() and k.value == 0
                                    and op is AluOp.ADD) and p.type is not RT.FUNC:
        raise Refuse(f"R{dst} pointer arithmetic on {type_name(p)} prohibited")
    _sane(k, p)
    if op is AluOp.SUB and not d.is_pointer:
        raise Refuse(f"R{dst} tried to subtract pointer from scalar")
    if op in (AluOp.AND, AluOp.OR, AluOp.XOR):
        raise Refuse(f"R{dst} bitwise operator {_op_text(insn)} on pointer prohibited")
    if op not in (AluOp.ADD, AluOp.SUB):
        raise Refuse(f"R{dst} pointer arithmetic with {_op_text(insn)} operator prohibited")
    return _ptr_add(p, k, +1 if op is AluOp.ADD else -1)


def _sane(k: Scalar, p: Reg) -> None:
    """check_reg_sane_offset for the scalar and the pointer's own offsets."""
    if k.is_const():
        val = k.value if k.value < (1 << 63) else k.value - (1 << 64)
        if not -BPF_MAX_VAR_OFF < val < BPF_MAX_VAR_OFF:
            raise Refuse(f"math between {type_name(p)} pointer and {val} is not allowed")
    elif k.smin == -(1 << 63):
        raise Refuse(f"math between {type_name(p)} pointer and register with unbounded "
                     f"min value is not allowed")
    if not -BPF_MAX_VAR_OFF < p.off < BPF_MAX_VAR_OFF:
        raise Refuse(f"{type_name(p)} pointer offset {p.off} is not allowed")


def _ptr_add(p: Reg, k: Scalar, sign: int) -> Reg:
    if k.is_const():
        val = k.value if k.value < (1 << 63) else k.value - (1 << 64)
        off = p.off + sign * val
        if not -BPF_MAX_VAR_OFF < off < BPF_MAX_VAR_OFF:
            raise Refuse(f"value {val} makes {type_name(p)} pointer be out of bounds")
        return replace(p, off=off)
    var = p.s.alu(AluOp.ADD if sign > 0 else AluOp.SUB, k, wide=True)
    return replace(p, s=var)
