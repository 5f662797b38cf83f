"""Decoded instructions: bytes are parsed once, here, into typed values.

Nothing downstream re-parses bytes.  :func:`decode` validates every field against the
opcode table in :mod:`bpf_vm.isa` and the reserved-field rules of RFC 9669 / the
kernel's verifier, and raises :class:`InvalidInstruction` naming the pc and the bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .errors import InvalidInstruction
from .isa import (
    ATOMIC_OPS,
    END_WIDTHS,
    FRAME_POINTER,
    LD_IMM64,
    MOVSX_OFFSETS,
    OPCODES,
    REG_COUNT,
    AluOp,
    CallKind,
    Class,
    CondPseudo,
    Kind,
    Mode,
    OpSpec,
    Pseudo,
    Source,
)

INSN = struct.Struct("<BBhi")
INSN_SIZE = 8


@dataclass(frozen=True, slots=True)
class Insn:
    """One instruction.  For ld_imm64, ``imm`` is the low half and ``imm_hi`` the high
    half (both as stored, signed 32-bit); :attr:`imm64` is the unsigned 64-bit constant."""
    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    imm_hi: int = 0
    spec: OpSpec = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.spec is None:
            object.__setattr__(self, "spec", OPCODES.get(self.opcode))

    @property
    def kind(self) -> Kind:
        return self.spec.kind

    @property
    def slots(self) -> int:
        """Number of 8-byte slots: 2 for ld_imm64, 1 otherwise."""
        return 2 if self.opcode == LD_IMM64 else 1

    @property
    def imm64(self) -> int:
        return (self.imm & 0xFFFFFFFF) | ((self.imm_hi & 0xFFFFFFFF) << 32)

    def encode(self) -> bytes:
        first = INSN.pack(self.opcode, (self.src << 4) | self.dst, self.off, self.imm)
        if self.opcode == LD_IMM64:
            return first + INSN.pack(0, 0, 0, self.imm_hi)
        return first


def ld_imm64(dst: int, value: int, src: int = Pseudo.IMM, next_imm: int | None = None) -> Insn:
    """An ld_imm64 of a 64-bit value (or, for pseudo forms, imm and next_imm as given)."""
    value &= (1 << 64) - 1
    lo = value & 0xFFFFFFFF
    hi = value >> 32 if next_imm is None else next_imm & 0xFFFFFFFF
    return Insn(LD_IMM64, dst, src, 0, _s32(lo), _s32(hi))


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _check(insn: Insn, pc: int, raw: bytes) -> None:
    """Reserved fields and operand ranges of one decoded instruction."""
    def bad(reason: str) -> InvalidInstruction:
        return InvalidInstruction(pc, raw, reason)

    spec = insn.spec
    if spec is None:
        raise bad(f"invalid opcode 0x{insn.opcode:02x}")
    if insn.dst >= REG_COUNT:
        raise bad(f"invalid destination register r{insn.dst}")
    if insn.src >= REG_COUNT and spec.kind not in (Kind.LD_IMM64, Kind.CALL,
                                                       Kind.MAY_GOTO):
        raise bad(f"invalid source register r{insn.src}")
    kind = spec.kind
    if kind is Kind.ALU:
        if spec.source is Source.K and insn.src != 0:
            raise bad("reserved src field is not zero")
        if spec.source is Source.X and insn.imm != 0:
            raise bad("reserved imm field is not zero")
        if spec.op in (AluOp.DIV, AluOp.MOD):
            if insn.off not in (0, 1):
                raise bad(f"invalid offset {insn.off} for division (0 unsigned, 1 signed)")
        elif spec.op is AluOp.MOV and spec.source is Source.X:
            if insn.off != 0 and insn.off not in MOVSX_OFFSETS[spec.cls]:
                raise bad(f"invalid movsx width {insn.off}")
        elif insn.off != 0:
            raise bad("reserved off field is not zero")
    elif kind is Kind.NEG:
        if insn.src != 0 or insn.off != 0 or insn.imm != 0:
            raise bad("reserved field of neg is not zero")
    elif kind is Kind.END:
        if insn.src != 0 or insn.off != 0:
            raise bad("reserved field of byte swap is not zero")
        if insn.imm not in END_WIDTHS:
            raise bad(f"invalid byte swap width {insn.imm} (16, 32 or 64)")
    elif kind is Kind.LD_IMM64:
        if insn.off != 0:
            raise bad("reserved off field of ld_imm64 is not zero")
        if insn.src not in Pseudo.__members__.values():
            raise bad(f"invalid ld_imm64 source {insn.src}")
        if insn.src in (Pseudo.MAP_FD, Pseudo.MAP_IDX, Pseudo.BTF_ID, Pseudo.FUNC) \
                and insn.imm_hi != 0:
            raise bad("second half of this ld_imm64 form must be zero")
    elif kind is Kind.LDX:
        if insn.imm != 0:
            raise bad("reserved imm field of load is not zero")
    elif kind is Kind.ST:
        if insn.src != 0:
            raise bad("reserved src field of store is not zero")
    elif kind is Kind.STX:
        if insn.imm != 0:
            raise bad("reserved imm field of store is not zero")
    elif kind is Kind.ATOMIC:
        if insn.imm not in ATOMIC_OPS:
            raise bad(f"invalid atomic operation 0x{insn.imm & 0xFFFFFFFF:x}")
    elif kind is Kind.JA:
        if insn.src != 0 or insn.dst != 0:
            raise bad("reserved register field of goto is not zero")
        if spec.cls is Class.JMP and insn.imm != 0:
            raise bad("reserved imm field of goto is not zero")
        if spec.cls is Class.JMP32 and insn.off != 0:
            raise bad("reserved off field of gotol is not zero")
    elif kind is Kind.JCOND:
        if spec.source is Source.K and insn.src != 0:
            raise bad("reserved src field is not zero")
        if spec.source is Source.X and insn.imm != 0:
            raise bad("reserved imm field is not zero")
    elif kind is Kind.MAY_GOTO:
        # the verifier's words for all three: "invalid may_goto imm N"
        if insn.src != CondPseudo.MAY_GOTO:
            raise bad(f"invalid BPF_JCOND src_reg {insn.src} (only 0, may_goto)")
        if insn.dst != 0 or insn.imm != 0:
            raise bad("reserved field of may_goto is not zero")
    elif kind is Kind.CALL:
        if insn.dst != 0 or insn.off != 0:
            raise bad("reserved field of call is not zero")
        if insn.src == CallKind.KFUNC:
            raise bad("kfunc calls are not supported")
        if insn.src not in (CallKind.HELPER, CallKind.LOCAL):
            raise bad(f"invalid call source {insn.src}")
    elif kind is Kind.EXIT and (insn.src or insn.dst or insn.off or insn.imm):
        raise bad("reserved field of exit is not zero")


def decode(code: bytes) -> list[Insn | None]:
    """Decode a program into a list indexed by pc; the second slot of ld_imm64 is None.

    Raises :class:`InvalidInstruction` for any encoding the ISA does not define."""
    if len(code) % INSN_SIZE:
        raise InvalidInstruction(len(code) // INSN_SIZE, code[-(len(code) % INSN_SIZE):],
                                 f"program length {len(code)} is not a multiple of 8")
    out: list[Insn | None] = []
    n = len(code) // INSN_SIZE
    pc = 0
    while pc < n:
        opcode, regs, off, imm = INSN.unpack_from(code, pc * INSN_SIZE)
        raw = code[pc * INSN_SIZE:(pc + 1) * INSN_SIZE]
        dst, src = regs & 0xF, regs >> 4
        if opcode == LD_IMM64:
            if pc + 1 >= n:
                raise InvalidInstruction(pc, raw, "ld_imm64 is missing its second half")
            op2, regs2, off2, imm2 = INSN.unpack_from(code, (pc + 1) * INSN_SIZE)
            raw = code[pc * INSN_SIZE:(pc + 2) * INSN_SIZE]
            if op2 or regs2 or off2:
                raise InvalidInstruction(pc, raw, "invalid second half of ld_imm64")
            insn = Insn(opcode, dst, src, off, imm, imm2)
            _check(insn, pc, raw)
            out += (insn, None)
            pc += 2
            continue
        insn = Insn(opcode, dst, src, off, imm)
        if opcode == 0 and regs == 0 and off == 0:
            raise InvalidInstruction(pc, raw, "invalid opcode 0x00 (a stray ld_imm64 half?)")
        _check(insn, pc, raw)
        out.append(insn)
        pc += 1
    return out


def encode(insns: list[Insn | None] | list[Insn]) -> bytes:
    """The inverse of :func:`decode` (None slots are skipped)."""
    return b"".join(i.encode() for i in insns if i is not None)


def writes_dst(insn: Insn) -> bool:
    """Whether the instruction writes its dst register (used to refuse writes to r10)."""
    kind = insn.kind
    return kind in (Kind.ALU, Kind.NEG, Kind.END, Kind.LD_IMM64, Kind.LDX)


def is_frame_pointer_write(insn: Insn) -> bool:
    return insn.dst == FRAME_POINTER and writes_dst(insn)


def jump_target(insn: Insn, pc: int) -> int | None:
    """Absolute target of a jump or local call, None for other instructions."""
    kind = insn.kind
    if kind is Kind.JA:
        return pc + 1 + (insn.imm if insn.spec.cls is Class.JMP32 else insn.off)
    if kind is Kind.JCOND or kind is Kind.MAY_GOTO:
        return pc + 1 + insn.off
    if kind is Kind.CALL and insn.src == CallKind.LOCAL:
        return pc + 1 + insn.imm
    if kind is Kind.LD_IMM64 and insn.src == Pseudo.FUNC:
        return pc + 1 + insn.imm
    return None


__all__ = [
    "INSN",
    "INSN_SIZE",
    "Insn",
    "Mode",
    "decode",
    "encode",
    "is_frame_pointer_write",
    "jump_target",
    "ld_imm64",
    "writes_dst",
]
