"""The basic blocks of a program: where each starts, how many instructions it has and
which is its last.  Both engines lay out their code by these blocks and charge the
budget a block at a time."""

from __future__ import annotations

from ..insn import Insn, jump_target
from ..isa import AtomicOp, Kind

ENDS_BLOCK = frozenset({Kind.JA, Kind.JCOND, Kind.MAY_GOTO, Kind.CALL, Kind.EXIT})


def written(insn: Insn) -> tuple[int, ...]:
    """The registers an instruction writes (calls end a block, so they are left out)."""
    kind = insn.kind
    if kind in (Kind.ALU, Kind.NEG, Kind.END, Kind.LD_IMM64, Kind.LDX):
        return (insn.dst,)
    if kind is Kind.ATOMIC:
        if insn.imm == AtomicOp.CMPXCHG:
            return (0,)
        if insn.imm == AtomicOp.XCHG or insn.imm & 1:
            return (insn.src,)
    return ()


def block_layout(insns: list[Insn | None]) -> list[tuple[int, int, int]]:
    """(start, number of instructions, pc of the last one) of every basic block, in pc
    order.  The pc one past the end has a block of one "instruction": the fault of a
    program that runs off its end, which costs one unit of budget like any other."""
    n = len(insns)
    starts = block_starts(insns)
    out = []
    for start in sorted(starts):
        if start == n:
            out.append((n, 1, n))
            continue
        pc, count = start, 0
        while True:
            insn = insns[pc]
            count += 1
            last = pc
            pc += insn.slots if insn is not None else 1
            if insn is None or insn.kind in ENDS_BLOCK or pc in starts:
                break
        out.append((start, count, last))
    return out


def block_starts(insns: list[Insn | None]) -> set[int]:
    """The pcs where a basic block starts: the entry, every jump, call and function
    pointer target, and the instruction after a jump, call or exit."""
    starts = {0, len(insns)}
    for pc, insn in enumerate(insns):
        if insn is None:
            continue
        target = jump_target(insn, pc)
        if target is not None:
            starts.add(target)
        if insn.kind in ENDS_BLOCK:
            starts.add(pc + insn.slots)
    return starts


__all__ = ["ENDS_BLOCK", "block_layout", "block_starts", "written"]
