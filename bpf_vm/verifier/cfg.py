"""The checks the kernel makes before it walks any path (add_subprog_and_kfunc,
check_subprogs, check_cfg): subprogram boundaries, jump ranges, the last instruction
of each function, back-edges for unprivileged loaders, unreachable instructions and
jumps into the middle of an ld_imm64.  They read raw opcodes: an instruction bpf_vm
cannot decode is still a slot here, as it is to the kernel."""

from __future__ import annotations

from dataclasses import dataclass

from ..insn import Insn
from ..isa import Class

CALL, EXIT, JA, JA32, LD_IMM64 = 0x85, 0x95, 0x05, 0x06, 0x18
PSEUDO_CALL, PSEUDO_FUNC = 1, 4


class CfgError(Exception):
    def __init__(self, message: str, pc: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pc = pc


@dataclass(frozen=True, slots=True)
class Subprog:
    start: int
    end: int          # exclusive


def _code(insn: Insn | None) -> int:
    return 0 if insn is None else insn.opcode


def _is_jmp_class(code: int) -> bool:
    return code & 0x07 in (Class.JMP, Class.JMP32)


def _target(insn: Insn, pc: int) -> int:
    return pc + 1 + (insn.imm if insn.opcode == JA32 else insn.off)


def _callee(insn: Insn | None, pc: int) -> int | None:
    if insn is None:
        return None
    if (insn.opcode == CALL and insn.src == PSEUDO_CALL) or \
            (insn.opcode == LD_IMM64 and insn.src == PSEUDO_FUNC):
        return pc + 1 + insn.imm
    return None


def subprogs(insns: list[Insn | None]) -> list[Subprog]:
    """Subprogram starts: 0 and every target of a local call or a BPF_PSEUDO_FUNC."""
    n = len(insns)
    starts = {0}
    for pc, insn in enumerate(insns):
        t = _callee(insn, pc)
        if t is None:
            continue
        if not 0 <= t < n:
            raise CfgError("call to invalid destination", pc)
        starts.add(t)
    order = sorted(starts)
    return [Subprog(s, order[i + 1] if i + 1 < len(order) else n)
            for i, s in enumerate(order)]


def check_subprogs(insns: list[Insn | None], subs: list[Subprog]) -> None:
    """Jumps stay inside their function; each function ends in exit or a jump."""
    for sp in subs:
        for pc in range(sp.start, sp.end):
            insn = insns[pc]
            code = _code(insn)
            if insn is not None and _is_jmp_class(code) and code & 0xF0 not in (0x80, 0x90):
                t = _target(insn, pc)
                if not sp.start <= t < sp.end:
                    raise CfgError(f"jump out of range from insn {pc} to {t}", pc)
            if pc == sp.end - 1 and code not in (EXIT, JA, JA32):
                raise CfgError("last insn is not an exit or jmp", pc)


def successors(insns: list[Insn | None], pc: int) -> list[int]:
    """Where control goes after ``pc`` (a local call: after it, and into the callee)."""
    insn = insns[pc]
    if insn is None:
        return [pc + 1]
    code = insn.opcode
    if not _is_jmp_class(code):
        return [pc + (2 if code == LD_IMM64 else 1)]
    op = code & 0xF0
    if op == 0x90:
        return []
    if op == 0x80:
        t = _callee(insn, pc)
        return [pc + 1] if t is None else [pc + 1, t]
    if op == 0x00:
        return [_target(insn, pc)]
    return [pc + 1, _target(insn, pc)]


def check_cfg(insns: list[Insn | None], *, allow_loops: bool) -> None:
    """Depth-first walk from instruction 0: every instruction must be reached, none in
    the middle of an ld_imm64, and without CAP_BPF no edge may go back to an
    instruction still on the walk's stack."""
    n = len(insns)
    state = [0] * n        # 0 unseen, 1 on the stack, 2 done
    stack: list[tuple[int, list[int]]] = [(0, successors(insns, 0))]
    state[0] = 1
    while stack:
        pc, succ = stack[-1]
        if not succ:
            state[pc] = 2
            stack.pop()
            continue
        t = succ.pop(0)
        if not 0 <= t < n:
            raise CfgError(f"jump out of range from insn {pc} to {t}", pc)
        # a ld_imm64 referring to a callback: its function is reached from here too
        if insns[pc] is not None and insns[pc].opcode == LD_IMM64:  # type: ignore[union-attr]
            cb = _callee(insns[pc], pc)
            if cb is not None and 0 <= cb < n and state[cb] == 0:
                succ.append(cb)
        if state[t] == 1:
            if not allow_loops:
                raise CfgError(f"back-edge from insn {pc} to {t}", pc)
            continue
        if state[t] == 2:
            continue
        state[t] = 1
        stack.append((t, successors(insns, t)))
    pc = 0
    while pc < n:
        insn = insns[pc]
        if state[pc] == 0:
            raise CfgError(f"unreachable insn {pc}", pc)
        if insn is not None and insn.opcode == LD_IMM64 and pc + 1 < n:
            if state[pc + 1] != 0:
                raise CfgError(f"jump into the middle of ldimm64 insn {pc}", pc)
            pc += 2
            continue
        pc += 1
