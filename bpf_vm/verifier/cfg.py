"""The checks the kernel makes before it walks any path (check_subprogs, check_cfg):
subprogram boundaries, jump ranges, the last instruction of each function, back-edges
for unprivileged loaders, unreachable instructions."""

from __future__ import annotations

from dataclasses import dataclass

from ..insn import Insn
from ..isa import CallKind, Class, Kind, Pseudo
from .kdisasm import MAY_GOTO


class CfgError(Exception):
    def __init__(self, message: str, pc: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pc = pc


@dataclass(frozen=True, slots=True)
class Subprog:
    start: int
    end: int          # exclusive


def _is_cond(insn: Insn) -> bool:
    return insn.kind is Kind.JCOND or insn.opcode == MAY_GOTO


def _jump_off(insn: Insn) -> int:
    if insn.kind is Kind.JA and insn.spec.cls is Class.JMP32:
        return insn.imm
    return insn.off


def subprogs(insns: list[Insn | None]) -> list[Subprog]:
    """Subprogram starts: 0 and every target of a local call or a BPF_PSEUDO_FUNC."""
    n = len(insns)
    starts = {0}
    for pc, insn in enumerate(insns):
        if insn is None:
            continue
        if insn.kind is Kind.CALL and insn.src == CallKind.LOCAL:
            t = pc + 1 + insn.imm
            if not 0 <= t < n or insns[t] is None:
                raise CfgError(f"call to invalid destination", pc)
            starts.add(t)
        elif insn.kind is Kind.LD_IMM64 and insn.src == Pseudo.FUNC:
            t = pc + 1 + insn.imm
            if not 0 <= t < n or insns[t] is None:
                raise CfgError("invalid func unknown#0", pc)
            starts.add(t)
    order = sorted(starts)
    return [Subprog(s, order[i + 1] if i + 1 < len(order) else n)
            for i, s in enumerate(order)]


def check_subprogs(insns: list[Insn | None], subs: list[Subprog]) -> None:
    """Jumps stay inside their function; each function ends in exit or a jump."""
    for sp in subs:
        for pc in range(sp.start, sp.end):
            insn = insns[pc]
            if insn is None:
                continue
            if insn.kind in (Kind.JA, Kind.JCOND) or insn.opcode == MAY_GOTO:
                t = pc + 1 + _jump_off(insn)
                if not sp.start <= t < sp.end:
                    raise CfgError(f"jump out of range from insn {pc} to {t}", pc)
        last_pc = sp.end - 1
        last = insns[last_pc]
        if last is None:
            last_pc -= 1
            last = insns[last_pc]
        if last is None or not (last.kind in (Kind.EXIT, Kind.JA)):
            raise CfgError("last insn is not an exit or jmp", last_pc)


def check_cfg(insns: list[Insn | None], *, allow_loops: bool) -> None:
    """Depth-first walk from each function's entry: every instruction must be
    reachable, and without CAP_BPF no edge may go back to an instruction on the stack."""
    n = len(insns)
    state = [0] * n        # 0 unseen, 1 on the stack, 2 done
    entries = [0]
    for pc, insn in enumerate(insns):
        if insn is None:
            continue
        if (insn.kind is Kind.CALL and insn.src == CallKind.LOCAL) or \
                (insn.kind is Kind.LD_IMM64 and insn.src == Pseudo.FUNC):
            entries.append(pc + 1 + insn.imm)
    for entry in entries:
        if state[entry]:
            continue
        stack: list[tuple[int, list[int]]] = [(entry, _succ(insns, entry))]
        state[entry] = 1
        while stack:
            pc, succ = stack[-1]
            if not succ:
                state[pc] = 2
                stack.pop()
                continue
            t = succ.pop(0)
            if state[t] == 1:
                if not allow_loops:
                    raise CfgError(f"back-edge from insn {pc} to {t}", pc)
                continue
            if state[t] == 2:
                continue
            state[t] = 1
            stack.append((t, _succ(insns, t)))
    for pc in range(n):
        if insns[pc] is not None and state[pc] == 0:
            raise CfgError(f"unreachable insn {pc}", pc)


def _succ(insns: list[Insn | None], pc: int) -> list[int]:
    insn = insns[pc]
    assert insn is not None
    nxt = pc + insn.slots
    if insn.kind is Kind.EXIT:
        return []
    if insn.kind is Kind.JA:
        return [pc + 1 + _jump_off(insn)]
    if _is_cond(insn):
        return [nxt, pc + 1 + insn.off]
    return [nxt]
