"""The eBPF instruction set: field enums and the one table of valid opcodes.

Every instruction is 8 bytes, little-endian::

    +--------+--------+--------+----------------+--------------------------------+
    | opcode | dst:4  | off:16 (signed)         | imm:32 (signed)                 |
    | 8 bits | src:4  |                         |                                |
    +--------+--------+-------------------------+--------------------------------+
      byte 0   byte 1   bytes 2-3                 bytes 4-7

    byte 1: low nibble = dst_reg, high nibble = src_reg (little-endian bit order)

    opcode of ALU/ALU64/JMP/JMP32:   | op:4 | source:1 | class:3 |
    opcode of LD/LDX/ST/STX:         | mode:3 | size:2 | class:3 |

``ld_imm64`` (opcode 0x18) takes two slots: the second slot has opcode 0, no registers,
no offset, and its imm is the upper 32 bits of the constant.

Names follow the kernel (include/uapi/linux/bpf.h, bpf_common.h) and RFC 9669.  The
table :data:`OPCODES` is the only list of valid opcodes: the decoder, the encoder, the
interpreter's dispatch, the assembler, the disassembler and the kernel-oracle tests all
derive from it, as the kernel's ``BPF_INSN_MAP`` feeds both its interpreter and verifier.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Class(enum.IntEnum):
    """Instruction class: the low 3 bits of the opcode."""
    LD = 0x00     # non-standard loads: ld_imm64 (and legacy packet access, unsupported)
    LDX = 0x01    # dst = *(size *)(src + off)
    ST = 0x02     # *(size *)(dst + off) = imm
    STX = 0x03    # *(size *)(dst + off) = src, and atomics
    ALU = 0x04    # 32-bit arithmetic, result zero-extended to 64 bits
    JMP = 0x05    # 64-bit compares, goto, call, exit
    JMP32 = 0x06  # 32-bit compares (and gotol)
    ALU64 = 0x07  # 64-bit arithmetic


class Source(enum.IntEnum):
    """Bit 3 of an ALU/JMP opcode: the second operand."""
    K = 0x00  # the immediate, sign-extended
    X = 0x08  # the source register


class Size(enum.IntEnum):
    """Bits 3-4 of a load/store opcode."""
    W = 0x00   # 4 bytes
    H = 0x08   # 2 bytes
    B = 0x10   # 1 byte
    DW = 0x18  # 8 bytes


SIZE_BYTES: dict[Size, int] = {Size.B: 1, Size.H: 2, Size.W: 4, Size.DW: 8}
SIZE_NAMES: dict[Size, str] = {Size.B: "u8", Size.H: "u16", Size.W: "u32", Size.DW: "u64"}


class Mode(enum.IntEnum):
    """Bits 5-7 of a load/store opcode."""
    IMM = 0x00     # ld_imm64
    ABS = 0x20     # legacy packet access (not supported by this VM)
    IND = 0x40     # legacy packet access (not supported by this VM)
    MEM = 0x60     # regular load/store
    MEMSX = 0x80   # sign-extending load (v4)
    ATOMIC = 0xC0  # atomic read-modify-write (STX only)


class AluOp(enum.IntEnum):
    """Bits 4-7 of an ALU/ALU64 opcode."""
    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30   # off=1: signed (sdiv, v4)
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80   # dst = -dst; source must be K
    MOD = 0x90   # off=1: signed (smod, v4)
    XOR = 0xA0
    MOV = 0xB0   # off=8/16/32 with source X: movsx (v4)
    ARSH = 0xC0
    END = 0xD0   # byte swap; ALU: source bit = to-le/to-be, ALU64: bswap (v4)


class JmpOp(enum.IntEnum):
    """Bits 4-7 of a JMP/JMP32 opcode."""
    JA = 0x00    # goto; in JMP32 class: gotol with a 32-bit imm offset (v4)
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80  # src_reg selects helper / local function / kfunc
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0
    JCOND = 0xE0  # pseudo conditional jumps, JMP class, K form only: src_reg says which


class AtomicOp(enum.IntEnum):
    """The imm field of an atomic instruction (class STX, mode ATOMIC)."""
    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    FETCH_ADD = 0x01
    FETCH_OR = 0x41
    FETCH_AND = 0x51
    FETCH_XOR = 0xA1
    XCHG = 0xE1      # always fetches
    CMPXCHG = 0xF1   # always fetches; compares with r0, old value lands in r0


FETCH = 0x01


class Pseudo(enum.IntEnum):
    """src_reg of ld_imm64: what the 64-bit constant means (include/uapi/linux/bpf.h)."""
    IMM = 0            # a plain constant
    MAP_FD = 1         # imm = map fd; loads a pointer to the map
    MAP_VALUE = 2      # imm = map fd, next imm = offset into value 0
    BTF_ID = 3         # imm = BTF id of a kernel variable (ksym)
    FUNC = 4           # imm = pc-relative offset of a subprogram (callback pointer)
    MAP_IDX = 5        # imm = index into the program's map array (fd_array)
    MAP_IDX_VALUE = 6  # like MAP_VALUE, by index


class CallKind(enum.IntEnum):
    """src_reg of a call instruction."""
    HELPER = 0  # imm = enum bpf_func_id
    LOCAL = 1   # BPF_PSEUDO_CALL: imm = pc-relative offset of a subprogram
    KFUNC = 2   # BPF_PSEUDO_KFUNC_CALL: not supported by this VM


class CondPseudo(enum.IntEnum):
    """src_reg of a BPF_JCOND jump (enum bpf_cond_pseudo_jmp, include/uapi/linux/bpf.h).

    ``may_goto +off`` (Linux 6.9+): opcode 0xe5, src_reg BPF_MAY_GOTO, dst_reg 0, imm 0.
    Each call frame has a hidden counter that starts at :data:`BPF_MAX_LOOPS`; may_goto
    takes the jump when the counter is 0, else decrements it and falls through.  The
    frame's may_goto instructions share it: together they fall through at most
    BPF_MAX_LOOPS times, so a loop through one ends without the verifier proving it.
    ``off`` 0 is accepted (the verifier drops it as a no-op).

    The verifier rewrites may_goto into a load, compare, subtract and store of an extra
    8-byte slot below the frame's stack, and inserts at the first instruction of each
    subprogram that has one (the entry included) a store of BPF_MAX_LOOPS into the slot
    (kernel/bpf/verifier.c, do_misc_fixups): each invocation, BPF-to-BPF call and
    callback starts with a full counter.  A tail call keeps the frame (the interpreter
    jumps to the target's first instruction on the same stack, kernel/bpf/core.c), and
    that first instruction is the target's own initialisation: the counter restarts.

    The verifier refuses other src_reg, dst_reg or imm values with "invalid may_goto imm
    N", the JMP32 and BPF_X forms with "unknown opcode e6" / "ed".  Where the JIT
    supports timed may_goto (x86-64's does: on the host here a loop left by its counter
    runs 0.25 s) the slot starts at 0xffff and each time it runs out it is refilled,
    until 250 ms have passed since the first refill (bpf_check_timed_may_goto,
    kernel/bpf/core.c): a time limit rather than a count.  This VM implements the
    count, as the kernel's interpreter does."""
    MAY_GOTO = 0


class Kind(enum.Enum):
    """What an opcode does, the key the interpreter and disassembler dispatch on."""
    ALU = "alu"          # binary ALU op (incl. DIV/MOD/MOV with their off variants)
    NEG = "neg"
    END = "end"          # byte swaps (to-le, to-be, bswap)
    LD_IMM64 = "ld_imm64"
    LDX = "ldx"          # MEM and MEMSX loads
    ST = "st"
    STX = "stx"
    ATOMIC = "atomic"
    JA = "ja"            # goto (JMP) and gotol (JMP32)
    JCOND = "jcond"      # conditional jumps (jeq ... jsle, JMP and JMP32)
    MAY_GOTO = "may_goto"  # BPF_JCOND, src_reg BPF_MAY_GOTO (see CondPseudo)
    CALL = "call"
    EXIT = "exit"


REG_COUNT = 11      # r0-r9 and the read-only frame pointer r10
FRAME_POINTER = 10
MAX_IMM64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class OpSpec:
    """One valid opcode.  ``wide`` is True for 64-bit ALU/JMP and for DW memory ops."""
    opcode: int
    kind: Kind
    cls: Class
    op: AluOp | JmpOp | None = None
    source: Source | None = None
    size: Size | None = None
    mode: Mode | None = None
    wide: bool = False


def _build_table() -> dict[int, OpSpec]:
    table: dict[int, OpSpec] = {}

    def add(spec: OpSpec) -> None:
        assert spec.opcode not in table, hex(spec.opcode)
        table[spec.opcode] = spec

    for cls in (Class.ALU, Class.ALU64):
        wide = cls is Class.ALU64
        for aop in AluOp:
            if aop is AluOp.NEG:
                add(OpSpec(aop | Source.K | cls, Kind.NEG, cls, aop, Source.K, wide=wide))
            elif aop is AluOp.END:
                # ALU: source bit = to-le (K) / to-be (X); ALU64: bswap, source must be K
                for src in ((Source.K, Source.X) if cls is Class.ALU else (Source.K,)):
                    add(OpSpec(aop | src | cls, Kind.END, cls, aop, src, wide=wide))
            else:
                for src in Source:
                    add(OpSpec(aop | src | cls, Kind.ALU, cls, aop, src, wide=wide))
    for cls in (Class.JMP, Class.JMP32):
        wide = cls is Class.JMP
        for jop in JmpOp:
            if jop is JmpOp.JA:
                add(OpSpec(jop | Source.K | cls, Kind.JA, cls, jop, Source.K, wide=wide))
            elif jop is JmpOp.JCOND:
                if cls is Class.JMP:
                    add(OpSpec(jop | Source.K | cls, Kind.MAY_GOTO, cls, jop, Source.K,
                               wide=True))
            elif jop in (JmpOp.CALL, JmpOp.EXIT):
                if cls is Class.JMP:
                    kind = Kind.CALL if jop is JmpOp.CALL else Kind.EXIT
                    add(OpSpec(jop | Source.K | cls, kind, cls, jop, Source.K, wide=True))
            else:
                for src in Source:
                    add(OpSpec(jop | src | cls, Kind.JCOND, cls, jop, src, wide=wide))
    add(OpSpec(Class.LD | Mode.IMM | Size.DW, Kind.LD_IMM64, Class.LD, size=Size.DW,
               mode=Mode.IMM, wide=True))
    for size in Size:
        wide = size is Size.DW
        add(OpSpec(Class.LDX | Mode.MEM | size, Kind.LDX, Class.LDX, size=size,
                   mode=Mode.MEM, wide=wide))
        if size is not Size.DW:
            add(OpSpec(Class.LDX | Mode.MEMSX | size, Kind.LDX, Class.LDX, size=size,
                       mode=Mode.MEMSX, wide=wide))
        add(OpSpec(Class.ST | Mode.MEM | size, Kind.ST, Class.ST, size=size,
                   mode=Mode.MEM, wide=wide))
        add(OpSpec(Class.STX | Mode.MEM | size, Kind.STX, Class.STX, size=size,
                   mode=Mode.MEM, wide=wide))
        if size in (Size.W, Size.DW):
            add(OpSpec(Class.STX | Mode.ATOMIC | size, Kind.ATOMIC, Class.STX, size=size,
                       mode=Mode.ATOMIC, wide=wide))
    return table


#: Every valid opcode, and nothing else.
OPCODES: dict[int, OpSpec] = _build_table()

#: The opcode of ld_imm64, which occupies two instruction slots.
LD_IMM64 = Class.LD | Mode.IMM | Size.DW

#: Valid imm values of atomic instructions, per size (both sizes accept all of them).
ATOMIC_OPS = frozenset(int(a) for a in AtomicOp)

#: Valid off values of movsx, per class: ALU64 sign-extends 8/16/32, ALU 8/16.
MOVSX_OFFSETS = {Class.ALU64: (8, 16, 32), Class.ALU: (8, 16)}

#: Valid widths of byte-swap instructions.
END_WIDTHS = (16, 32, 64)


#: The kernel's limits (include/linux/bpf.h, kernel/bpf/core.c).
MAX_BPF_STACK = 512
MAX_CALL_FRAMES = 8
MAX_TAIL_CALL_CNT = 33
#: may_goto's per-frame counter (enum in include/linux/bpf.h; also bpf_loop's limit).
BPF_MAX_LOOPS = 8 * 1024 * 1024
