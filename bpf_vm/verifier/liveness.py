"""Which registers are live before each instruction (a backward data-flow fixpoint),
as the kernel 6.18 computes before it walks the program and prints at log level 2
(``Live regs before insn:``).  Pruning ignores dead registers, as the kernel's does."""

from __future__ import annotations

from ..insn import Insn
from ..isa import CallKind, Class, Kind, Source
from .kdisasm import MAY_GOTO

ARGS = frozenset({1, 2, 3, 4, 5})
CALLER_SAVED = frozenset({0, 1, 2, 3, 4, 5})


def _use_def(insn: Insn, nargs: int) -> tuple[set[int], set[int]]:
    if insn.spec is None:
        return set(range(10)), set()
    k = insn.kind
    if insn.opcode == MAY_GOTO:
        return set(), set()
    if k in (Kind.ALU, Kind.NEG, Kind.END):
        x = insn.spec.source is Source.X and k is Kind.ALU
        use = {insn.src} if x else set()
        if not (k is Kind.ALU and insn.spec.op is not None and insn.spec.op.name == "MOV"):
            use.add(insn.dst)
        return use, {insn.dst}
    if k is Kind.LD_IMM64:
        return set(), {insn.dst}
    if k is Kind.LDX:
        return {insn.src}, {insn.dst}
    if k is Kind.ST:
        return {insn.dst}, set()
    if k is Kind.STX:
        return {insn.dst, insn.src}, set()
    if k is Kind.ATOMIC:
        use = {insn.dst, insn.src}
        if insn.imm == 0xF1:
            use.add(0)
            return use, {0}
        return use, ({insn.src} if insn.imm & 1 else set())
    if k is Kind.JCOND:
        return ({insn.dst, insn.src} if insn.spec.source is Source.X else {insn.dst}), set()
    if k is Kind.CALL:
        if insn.src == CallKind.LOCAL:
            return set(ARGS), set(CALLER_SAVED)
        return set(range(1, nargs + 1)), set(CALLER_SAVED)
    if k is Kind.EXIT:
        return {0}, set()
    return set(), set()


def live_regs(insns: list[Insn | None], nargs: dict[int, int]) -> list[frozenset[int]]:
    """live[pc]: the registers whose value at ``pc`` may be read later.  ``nargs`` maps
    a helper id to its argument count."""
    n = len(insns)
    succ: list[list[int]] = [[] for _ in range(n)]
    ud: list[tuple[set[int], set[int]]] = [(set(), set())] * n
    for pc, insn in enumerate(insns):
        if insn is None:
            continue
        nxt = pc + insn.slots
        if insn.spec is not None and insn.kind is Kind.CALL and insn.src == CallKind.HELPER:
            ud[pc] = _use_def(insn, nargs.get(insn.imm, 5))
        else:
            ud[pc] = _use_def(insn, 5)
        if insn.spec is None:
            succ[pc] = [nxt]
            continue
        if insn.kind is Kind.EXIT:
            continue
        if insn.kind is Kind.JA:
            off = insn.imm if insn.spec.cls is Class.JMP32 else insn.off
            succ[pc] = [pc + 1 + off]
        elif insn.kind is Kind.JCOND or insn.opcode == MAY_GOTO:
            succ[pc] = [nxt, pc + 1 + insn.off]
        else:
            succ[pc] = [nxt]
    live: list[set[int]] = [set() for _ in range(n)]
    changed = True
    while changed:
        changed = False
        for pc in range(n - 1, -1, -1):
            if insns[pc] is None:
                continue
            out: set[int] = set()
            for s in succ[pc]:
                if 0 <= s < n:
                    out |= live[s]
            use, defs = ud[pc]
            new = use | (out - defs)
            if new != live[pc]:
                live[pc] = new
                changed = True
    return [frozenset(s) for s in live]


def fmt_live(live: frozenset[int]) -> str:
    return "".join(str(i) if i in live else "." for i in range(10))
