"""The textual syntax shared by the disassembler and the assembler.

Like the kernel's kernel/bpf/disasm.c, operator strings are looked up by opcode field;
the assembler inverts the same tables, so a spelling exists in exactly one place.
The syntax itself (forms, number rule, pseudo forms) is described in
:mod:`bpf_vm.disasm`.
"""

from __future__ import annotations

from ._generated_helper_ids import HELPER_IDS, HELPER_NAMES
from .isa import AluOp, AtomicOp, Class, CondPseudo, JmpOp, Mode, Size, Source

#: Binary ALU operators by (op, off); off=1 selects the signed division forms (v4).
#: MOV, NEG and END have their own shapes and are not here.
ALU_OPS: dict[tuple[AluOp, int], str] = {
    (AluOp.ADD, 0): "+=",
    (AluOp.SUB, 0): "-=",
    (AluOp.MUL, 0): "*=",
    (AluOp.DIV, 0): "/=",
    (AluOp.DIV, 1): "s/=",
    (AluOp.OR, 0): "|=",
    (AluOp.AND, 0): "&=",
    (AluOp.LSH, 0): "<<=",
    (AluOp.RSH, 0): ">>=",
    (AluOp.MOD, 0): "%=",
    (AluOp.MOD, 1): "s%=",
    (AluOp.XOR, 0): "^=",
    (AluOp.ARSH, 0): "s>>=",
}

#: Conditional jump operators by op field (JMP and JMP32 alike).
JMP_OPS: dict[JmpOp, str] = {
    JmpOp.JEQ: "==",
    JmpOp.JGT: ">",
    JmpOp.JGE: ">=",
    JmpOp.JSET: "&",
    JmpOp.JNE: "!=",
    JmpOp.JSGT: "s>",
    JmpOp.JSGE: "s>=",
    JmpOp.JLT: "<",
    JmpOp.JLE: "<=",
    JmpOp.JSLT: "s<",
    JmpOp.JSLE: "s<=",
}

#: Mnemonics of the BPF_JCOND pseudo jumps by src_reg: ``may_goto +3``.  The verifier log
#: prints ``may_goto pc+3``, as it prints ``goto pc+3``; the relative target is spelled
#: as ``goto``'s is.
JCOND_OPS: dict[CondPseudo, str] = {
    CondPseudo.MAY_GOTO: "may_goto",
}

#: Byte-swap mnemonics by (class, source): ALU's source bit picks the target byte order,
#: ALU64 (v4) swaps unconditionally.  The width (16/32/64) is appended.
END_OPS: dict[tuple[Class, Source], str] = {
    (Class.ALU, Source.K): "le",
    (Class.ALU, Source.X): "be",
    (Class.ALU64, Source.K): "bswap",
}

#: The C type in a load or store, by (mode, size): ``*(u32 *)``, ``*(s8 *)``.
MEM_TYPES: dict[tuple[Mode, Size], str] = {
    (Mode.MEM, Size.B): "u8",
    (Mode.MEM, Size.H): "u16",
    (Mode.MEM, Size.W): "u32",
    (Mode.MEM, Size.DW): "u64",
    (Mode.MEMSX, Size.B): "s8",
    (Mode.MEMSX, Size.H): "s16",
    (Mode.MEMSX, Size.W): "s32",
}

#: ``lock *(u64 *)(r10 - 0x8) += r1``: the operator letter of non-fetching atomics.
ATOMIC_LOCK_OPS: dict[AtomicOp, str] = {
    AtomicOp.ADD: "+",
    AtomicOp.OR: "|",
    AtomicOp.AND: "&",
    AtomicOp.XOR: "^",
}

#: ``r1 = atomic_fetch_add((u64 *)(r10 - 0x8), r1)``: the function-like fetching forms.
ATOMIC_FETCH_OPS: dict[AtomicOp, str] = {
    AtomicOp.FETCH_ADD: "atomic_fetch_add",
    AtomicOp.FETCH_OR: "atomic_fetch_or",
    AtomicOp.FETCH_AND: "atomic_fetch_and",
    AtomicOp.FETCH_XOR: "atomic_fetch_xor",
}

#: LLVM's names of exchange and compare-exchange, by size (BPFInstrInfo.td).
XCHG_OPS: dict[Size, str] = {Size.DW: "xchg_64", Size.W: "xchg32_32"}
CMPXCHG_OPS: dict[Size, str] = {Size.DW: "cmpxchg_64", Size.W: "cmpxchg32_32"}

#: Movsx casts by off field: ``r1 = (s8)r2``.
MOVSX_CASTS: dict[int, str] = {8: "(s8)", 16: "(s16)", 32: "(s32)"}


def reg(n: int, wide: bool = True) -> str:
    """``r3`` for 64-bit operands, ``w3`` for 32-bit ones."""
    return f"{'r' if wide else 'w'}{n}"


def hex_imm(v: int) -> str:
    """An immediate as llvm-objdump (>= 16) prints it: signed hex, ``-0x8``, ``0x10``."""
    return f"-{-v:#x}" if v < 0 else f"{v:#x}"


def mem(base: int, off: int) -> str:
    """A memory operand's inside: ``r10 - 0x8``, ``r1 + 0x0``."""
    return f"r{base} - {-off:#x}" if off < 0 else f"r{base} + {off:#x}"


def rel(off: int) -> str:
    """A jump or call offset in instructions, signed decimal: ``+3``, ``-1``, ``+0``."""
    return f"{off:+d}"


def helper_name(helper_id: int) -> str | None:
    """The kernel's name for a helper id, as a C program calls it: ``bpf_tail_call``."""
    name = HELPER_NAMES.get(helper_id)
    return f"bpf_{name}" if name is not None and helper_id != 0 else None


def helper_id(name: str) -> int | None:
    """The id of ``bpf_tail_call`` or ``tail_call``; None for other names."""
    bare = name.removeprefix("bpf_")
    num = HELPER_IDS.get(bare)
    return num if num else None
