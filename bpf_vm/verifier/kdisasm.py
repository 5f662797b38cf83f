"""Instructions as the kernel's verifier log prints them (kernel/bpf/disasm.c's format).

This is not :mod:`bpf_vm.disasm`'s syntax (llvm-objdump's, which the assembler reads):
the kernel prints the opcode in parentheses, immediates of ALU and stores in signed
decimal, immediates of conditional jumps as ``0x%x`` of their 32 bits, memory offsets as
``%+d`` and targets as ``pc%+d``::

    (b7) r2 = 1        (07) r2 += -8        (25) if r3 > 0x7 goto pc+1
    (79) r1 = *(u64 *)(r1 +8)               (7b) *(u64 *)(r10 -8) = r1
    (85) call bpf_map_lookup_elem#1         (85) call pc+2       (95) exit
"""

from __future__ import annotations

from .. import syntax as S
from ..insn import Insn
from ..isa import AluOp, AtomicOp, CallKind, Class, Kind, Mode, Pseudo, Size, Source

_FETCH_NAMES = {AtomicOp.FETCH_ADD: "add", AtomicOp.FETCH_AND: "and",
                AtomicOp.FETCH_OR: "or", AtomicOp.FETCH_XOR: "xor"}
MAY_GOTO = 0xE5


def _r(n: int, wide: bool) -> str:
    return f"{'r' if wide else 'w'}{n}"


def helper_text(func_id: int) -> str:
    name = S.helper_name(func_id) if func_id else "bpf_unspec"
    return f"{name or 'unknown'}#{func_id}"


def kernel_insn(insn: Insn, pc: int, ld_value: int | None = None) -> str:
    """``(b7) r2 = 1``: the text after ``N: `` in the log.  ``ld_value`` is what an
    ld_imm64 of a map prints (the kernel prints the map's address)."""
    code = f"({insn.opcode:02x})"
    spec = insn.spec
    if insn.opcode == MAY_GOTO:
        return f"{code} may_goto pc{insn.off:+d}"
    if spec is None:
        return f"{code} (invalid)"
    kind = spec.kind
    wide = spec.wide
    if kind is Kind.ALU:
        d = _r(insn.dst, wide)
        x = spec.source is Source.X
        if spec.op is AluOp.MOV:
            if x and insn.off:
                return f"{code} {d} = (s{insn.off}){_r(insn.src, wide)}"
            return f"{code} {d} = {_r(insn.src, wide) if x else insn.imm}"
        op = S.ALU_OPS.get((spec.op, insn.off), "?=")  # type: ignore[arg-type]
        return f"{code} {d} {op} {_r(insn.src, wide) if x else insn.imm}"
    if kind is Kind.NEG:
        d = _r(insn.dst, wide)
        return f"{code} {d} = -{d}"
    if kind is Kind.END:
        name = S.END_OPS[spec.cls, spec.source]  # type: ignore[index]
        return f"{code} r{insn.dst} = {name}{insn.imm} r{insn.dst}"
    if kind is Kind.LD_IMM64:
        value = ld_value if ld_value is not None else insn.imm64
        if insn.src == Pseudo.FUNC:
            value = insn.imm64
        return f"{code} r{insn.dst} = {value:#x}"
    size = spec.size if spec.size is not None else Size.DW
    ty = S.MEM_TYPES.get((spec.mode or Mode.MEM, size), "u64")
    if kind is Kind.LDX:
        return f"{code} r{insn.dst} = *({ty} *)(r{insn.src} {insn.off:+d})"
    if kind is Kind.ST:
        return f"{code} *({ty} *)(r{insn.dst} {insn.off:+d}) = {insn.imm}"
    if kind is Kind.STX:
        return f"{code} *({ty} *)(r{insn.dst} {insn.off:+d}) = r{insn.src}"
    if kind is Kind.ATOMIC:
        aop = insn.imm
        w = "64" if size is Size.DW else ""
        addr = f"(r{insn.dst} {insn.off:+d})"
        if aop in S.ATOMIC_LOCK_OPS:
            return (f"{code} lock *({ty} *){addr} {S.ATOMIC_LOCK_OPS[AtomicOp(aop)]}= "
                    f"r{insn.src}")
        if aop in _FETCH_NAMES:
            return (f"{code} r{insn.src} = atomic{w}_fetch_{_FETCH_NAMES[AtomicOp(aop)]}"
                    f"(({ty} *){addr}, r{insn.src})")
        if aop == AtomicOp.XCHG:
            return f"{code} r{insn.src} = atomic{w}_xchg(({ty} *){addr}, r{insn.src})"
        return f"{code} r0 = atomic{w}_cmpxchg(({ty} *){addr}, r0, r{insn.src})"
    if kind is Kind.JA:
        if spec.cls is Class.JMP32:
            return f"{code} gotol pc{insn.imm:+d}"
        return f"{code} goto pc{insn.off:+d}"
    if kind is Kind.CALL:
        if insn.src == CallKind.LOCAL:
            return f"{code} call pc{insn.imm:+d}"
        if insn.src == CallKind.KFUNC:
            return f"{code} call kernel-function"
        return f"{code} call {helper_text(insn.imm)}"
    if kind is Kind.EXIT:
        return f"{code} exit"
    if kind is Kind.JCOND:
        jop = S.JMP_OPS[spec.op]  # type: ignore[index]
        d = _r(insn.dst, wide)
        rhs = _r(insn.src, wide) if spec.source is Source.X else f"{insn.imm & 0xFFFFFFFF:#x}"
        return f"{code} if {d} {jop} {rhs} goto pc{insn.off:+d}"
    return f"{code} (unknown)"
