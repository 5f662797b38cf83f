"""Hypothesis strategies for valid instructions, derived from the opcode table.

Every field range here restates what :func:`bpf_vm.insn.decode` accepts, so a test that
draws from these and decodes what it encoded checks the two against each other."""

from __future__ import annotations

from hypothesis import strategies as st

from bpf_vm.insn import Insn, ld_imm64
from bpf_vm.isa import (
    END_WIDTHS,
    LD_IMM64,
    MOVSX_OFFSETS,
    OPCODES,
    REG_COUNT,
    AluOp,
    AtomicOp,
    CallKind,
    Class,
    CondPseudo,
    Kind,
    OpSpec,
    Pseudo,
    Source,
)

regs = st.integers(0, REG_COUNT - 1)
imm32 = st.integers(-(1 << 31), (1 << 31) - 1)
off16 = st.integers(-(1 << 15), (1 << 15) - 1)
u32 = st.integers(0, (1 << 32) - 1)


def _alu_offs(spec: OpSpec) -> st.SearchStrategy[int]:
    if spec.op in (AluOp.DIV, AluOp.MOD):
        return st.sampled_from((0, 1))
    if spec.op is AluOp.MOV and spec.source is Source.X:
        return st.sampled_from((0, *MOVSX_OFFSETS[spec.cls]))
    return st.just(0)


def insn_for(spec: OpSpec) -> st.SearchStrategy[Insn]:
    """Valid instructions with this opcode: every field drawn from its whole valid range."""
    op = spec.opcode
    kind = spec.kind
    if kind is Kind.ALU:
        if spec.source is Source.X:
            return st.builds(lambda d, s, o: Insn(op, d, s, o, 0), regs, regs, _alu_offs(spec))
        return st.builds(lambda d, o, i: Insn(op, d, 0, o, i), regs, _alu_offs(spec), imm32)
    if kind is Kind.NEG:
        return st.builds(lambda d: Insn(op, d), regs)
    if kind is Kind.END:
        return st.builds(lambda d, w: Insn(op, d, 0, 0, w), regs, st.sampled_from(END_WIDTHS))
    if kind is Kind.LD_IMM64:
        return st.one_of(
            st.builds(ld_imm64, regs, st.integers(0, (1 << 64) - 1)),
            st.builds(lambda d, s, i: ld_imm64(d, i, s, 0), regs,
                      st.sampled_from((Pseudo.MAP_FD, Pseudo.MAP_IDX, Pseudo.BTF_ID,
                                       Pseudo.FUNC)), imm32),
            st.builds(lambda d, s, i, h: ld_imm64(d, i, s, h), regs,
                      st.sampled_from((Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE)), imm32, u32),
        ).map(lambda i: Insn(i.opcode, i.dst, int(i.src), i.off, i.imm, i.imm_hi))
    if kind is Kind.LDX or kind is Kind.STX:
        return st.builds(lambda d, s, o: Insn(op, d, s, o, 0), regs, regs, off16)
    if kind is Kind.ST:
        return st.builds(lambda d, o, i: Insn(op, d, 0, o, i), regs, off16, imm32)
    if kind is Kind.ATOMIC:
        return st.builds(lambda d, s, o, a: Insn(op, d, s, o, int(a)), regs, regs, off16,
                         st.sampled_from(list(AtomicOp)))
    if kind is Kind.JA:
        if spec.cls is Class.JMP32:
            return st.builds(lambda i: Insn(op, imm=i), imm32)
        return st.builds(lambda o: Insn(op, off=o), off16)
    if kind is Kind.JCOND:
        if spec.source is Source.X:
            return st.builds(lambda d, s, o: Insn(op, d, s, o, 0), regs, regs, off16)
        return st.builds(lambda d, o, i: Insn(op, d, 0, o, i), regs, off16, imm32)
    if kind is Kind.MAY_GOTO:
        return st.builds(lambda o: Insn(op, 0, int(CondPseudo.MAY_GOTO), o, 0), off16)
    if kind is Kind.CALL:
        return st.builds(lambda s, i: Insn(op, 0, int(s), 0, i),
                         st.sampled_from((CallKind.HELPER, CallKind.LOCAL)), imm32)
    assert kind is Kind.EXIT
    return st.just(Insn(op))


#: Any valid instruction, every opcode of the table equally likely.
any_insn: st.SearchStrategy[Insn] = st.sampled_from(sorted(OPCODES)).flatmap(
    lambda opc: insn_for(OPCODES[opc]))


def programs(max_size: int = 24) -> st.SearchStrategy[list[Insn]]:
    """Lists of valid instructions (not a meaningful program: jumps go anywhere)."""
    return st.lists(any_insn, min_size=1, max_size=max_size)


def slots(insns: list[Insn]) -> list[Insn | None]:
    """The pc-indexed form decode() returns: None after each ld_imm64."""
    out: list[Insn | None] = []
    for i in insns:
        out.append(i)
        if i.opcode == LD_IMM64:
            out.append(None)
    return out
