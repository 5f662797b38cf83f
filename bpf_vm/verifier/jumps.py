"""Conditional jumps (check_cond_jmp_op): which way a comparison can go, what each
path learns (the scalar domain's refinement, a maybe-NULL pointer's two fates, linked
scalars updated together), and may_goto's widening."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..insn import Insn
from ..isa import JmpOp, Source
from .errors import Refuse
from .regs import RT, Reg
from .scalar import JSET_FALSE, Scalar, negate
from .state import State
from .tnum import sext

if TYPE_CHECKING:
    from .core import Checker

#: pointer types the kernel knows are never NULL (reg_not_null): a comparison of one with
#: 0 is decided; a ctx or stack pointer is not on the list
NOT_NULL = frozenset({RT.MAP_VALUE, RT.MAP_KEY, RT.MEM, RT.SOCK_COMMON})


def cond(self: Checker, pc: int, insn: Insn) -> int | None:
    spec = insn.spec
    wide = spec.wide
    op = JmpOp(spec.op)  # type: ignore[arg-type]
    d = self.read(insn.dst)
    x = spec.source is Source.X
    s = self.read(insn.src) if x else Reg.const(
        insn.imm & ((1 << 64) - 1) if wide else insn.imm & 0xFFFFFFFF)
    target = pc + 1 + insn.off
    taken = _branch(self, d, s, op, wide)
    if taken >= 0:
        for r, reg in ((insn.dst, d), (insn.src, s)) if x else ((insn.dst, d),):
            if reg.is_scalar and not reg.precise:
                self.st.cur.regs[r] = Reg(RT.SCALAR, reg.s, id=reg.id, precise=True)
        self._print_insn_state()
        return target if taken else pc + 1
    other = self.st.copy()
    # the taken path is saved, the fall-through walked first
    _refine(self, other, insn, op, True)
    _refine(self, self.st, insn, op, False)
    self.push(target, other, pc)
    self._print_insn_state()
    return pc + 1

def _branch(self: Checker, d: Reg, s: Reg, op: JmpOp, wide: bool) -> int:
    if d.is_scalar and s.is_scalar:
        a, b = d.s, s.s
        if a.is_const() and b.is_const():   # two constants: the comparison itself
            return int(_compare(op, a.value, b.value, wide))
        return a.branch(op, b, wide=wide)
    ptr, other = (d, s) if d.is_pointer else (s, d)
    if d.is_pointer and s.is_pointer:
        if not self.privileged:
            raise Refuse(f"R{0} pointer comparison prohibited")
        return -1
    if not ptr.null and ptr.type in NOT_NULL and other.is_const and \
            other.s.value == 0 and wide and op in (JmpOp.JEQ, JmpOp.JNE):
        return 0 if op is JmpOp.JEQ else 1
    if not self.privileged:
        raise Refuse("pointer comparison prohibited")
    return -1

def _compare(op: JmpOp, a: int, b: int, wide: bool) -> bool:
    bits = 64 if wide else 32
    m = (1 << bits) - 1
    a &= m
    b &= m
    sa, sb = sext(a, bits), sext(b, bits)
    return {JmpOp.JEQ: a == b, JmpOp.JNE: a != b, JmpOp.JGT: a > b, JmpOp.JGE: a >= b,
            JmpOp.JLT: a < b, JmpOp.JLE: a <= b, JmpOp.JSGT: sa > sb, JmpOp.JSGE: sa >= sb,
            JmpOp.JSLT: sa < sb, JmpOp.JSLE: sa <= sb, JmpOp.JSET: bool(a & b)}[op]


def _refine(self: Checker, st: State, insn: Insn, op: JmpOp, truth: bool) -> None:
    f = st.cur
    wide = insn.spec.wide
    d = f.regs[insn.dst]
    x = insn.spec.source is Source.X
    s = f.regs[insn.src] if x else Reg.const(
        insn.imm & ((1 << 64) - 1) if wide else insn.imm & 0xFFFFFFFF)
    # a maybe-null pointer compared with 0: each path knows which it is
    for ptr, val in ((d, s), (s, d)):
        if ptr.null and val.is_const and val.s.value == 0 and wide and \
                op in (JmpOp.JEQ, JmpOp.JNE):
            is_null = (op is JmpOp.JEQ) == truth
            _mark_null(st, ptr.id, is_null, self.privileged)
            return
    if not (d.is_scalar and s.is_scalar):
        return
    cond: JmpOp | int | None = op if truth else negate(op)
    if cond is None:  # JSET's false side
        cond = JSET_FALSE
    # an impossible refinement: the kernel logs a verifier bug and forgets the ranges
    if not x:
        nd = d.s.refine_dst(cond, s.s, wide=wide)
        _set_scalar(st, d, nd.unbounded() if nd.violation() is not None else nd, insn.dst)
        return
    nd, ns = d.s.refine_states(cond, s.s, wide=wide)
    _set_scalar(st, d, nd.unbounded() if nd.violation() is not None else nd, insn.dst)
    _set_scalar(st, s, ns.unbounded() if ns.violation() is not None else ns, insn.src)


def _mark_null(st: State, ident: int, is_null: bool, privileged: bool) -> None:
    for f in st.frames:
        for i, reg in enumerate(f.regs):
            if reg.id == ident and reg.null:
                f.regs[i] = Reg.const(0) if is_null else replace(reg, null=False, id=0)
        for spi, slot in list(f.stack.items()):
            sp = slot.spilled
            if slot.is_spill and sp.id == ident and sp.null:
                nr = Reg.const(0) if is_null else replace(sp, null=False, id=0)
                f.stack[spi] = replace(slot, spilled=nr)
    if is_null:
        st.refs = tuple(ref for ref in st.refs if ref.id != ident)


def _set_scalar(st: State, old: Reg, s: Scalar, regno: int) -> None:
    f = st.cur
    f.regs[regno] = old.with_scalar(s)
    if old.id:
        for fr in st.frames:
            for i, r in enumerate(fr.regs):
                if r.is_scalar and r.id == old.id:
                    fr.regs[i] = r.with_scalar(s)
            for spi, slot in list(fr.stack.items()):
                r = slot.spilled
                if slot.is_spill and r.is_scalar and r.id == old.id:
                    fr.stack[spi] = replace(slot, spilled=r.with_scalar(s))


def widen(old: State, cur: State) -> None:
    """widen_imprecise_scalars: a scalar that changed since the last pass through a
    may_goto, and decided nothing, becomes unknown, so the loop converges."""
    for fo, fc in zip(old.frames, cur.frames, strict=False):
        for i, (ro, rc) in enumerate(zip(fo.regs, fc.regs, strict=True)):
            if ro.is_scalar and rc.is_scalar and not (ro.precise or rc.precise) and \
                    ro.s != rc.s:
                fc.regs[i] = Reg.unknown()
        for spi, so in fo.stack.items():
            sc = fc.stack.get(spi)
            if sc is None or not (so.is_spill and sc.is_spill):
                continue
            ro, rc = so.spilled, sc.spilled
            if ro.is_scalar and rc.is_scalar and not (ro.precise or rc.precise) and \
                    ro.s != rc.s:
                fc.stack[spi] = replace(sc, spilled=Reg.unknown())
