"""Bytecode as the kernel's verifier reads it: every 8-byte slot, valid or not, and the
checks it makes before the walk, in its order.

bpf_vm's decoder (:mod:`bpf_vm.insn`) refuses a malformed program outright.  The
kernel is more particular about *when* it notices: subprogram and jump ranges first
(add_subprog_and_kfunc, check_subprogs), then each instruction in order
(resolve_pseudo_ldimm64: reserved LDX fields, ld_imm64's shape and map references,
then its opcode table), then the control-flow walk (check_cfg), and only then, on the
instruction the walk reaches, the reserved fields of everything else (do_check).  The
first of those that fails is the message, so this module keeps them apart.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from ..insn import Insn
from ..isa import AluOp, Class, Kind, Mode, Pseudo, Size, Source
from .errors import Refuse

EINVAL = 22
EBADF = 9

#: The opcodes the kernel 6.18 knows (bpf_opcode_in_insntable), measured on the host by
#: loading each of the 256 codes: anything else is "unknown opcode XX".
_KERNEL_OPCODES_HEX = """
01 04 05 06 07 09 0c 0f 11 14 15 16 17 18 19 1c 1d 1e 1f 20 21 24 25 26 27 28 29 2c 2d
2e 2f 30 31 34 35 36 37 39 3c 3d 3e 3f 40 41 44 45 46 47 48 49 4c 4d 4e 4f 50 51 54 55
56 57 59 5c 5d 5e 5f 61 62 63 64 65 66 67 69 6a 6b 6c 6d 6e 6f 71 72 73 74 75 76 77 79
7a 7b 7c 7d 7e 7f 81 84 85 87 89 91 94 95 97 9c 9f a1 a4 a5 a6 a7 a9 ac ad ae af b1 b4
b5 b6 b7 b9 bc bd be bf c1 c3 c4 c5 c6 c7 c9 cb cc cd ce cf d1 d3 d4 d5 d6 d7 d9 db dc
dd de e1 e5 e9 f1 f9"""
KERNEL_OPCODES = frozenset(int(x, 16) for x in _KERNEL_OPCODES_HEX.split())

_SLOT = struct.Struct("<BBhi")
LD_IMM64 = 0x18
CALL = 0x85
EXIT = 0x95
MAY_GOTO = 0xE5


def decode_lenient(code: bytes) -> list[Insn | None]:
    """Every slot as an :class:`Insn` (``spec`` None where bpf_vm has no such opcode);
    the second slot of a well-formed ld_imm64 is None, as in :mod:`bpf_vm.insn`."""
    n = len(code) // 8
    raw = [_SLOT.unpack_from(code, 8 * i) for i in range(n)]
    out: list[Insn | None] = []
    i = 0
    while i < n:
        op, regs, off, imm = raw[i]
        dst, src = regs & 0xF, regs >> 4
        if op == LD_IMM64 and i + 1 < n and _second_half_ok(raw[i + 1]):
            out.append(Insn(op, dst, src, off, imm, raw[i + 1][3]))
            out.append(None)
            i += 2
            continue
        out.append(Insn(op, dst, src, off, imm))
        i += 1
    return out


def _second_half_ok(slot: tuple[int, int, int, int]) -> bool:
    op, regs, off, _ = slot
    return op == 0 and regs == 0 and off == 0


def _cls(insn: Insn) -> int:
    return insn.opcode & 0x07


#: the map types a sleepable program (BPF_PROG_TYPE_SYSCALL) may refer to
#: (check_map_prog_compatibility): hashes, arrays, maps of maps, queue/stack, ring
#: buffers, local storage
_SLEEPABLE_MAPS = frozenset({1, 2, 5, 6, 9, 10, 12, 13, 22, 23, 24, 27, 28, 29, 31, 32})


def prechecks(insns: list[Insn | None], maps: Callable[[int, int], Any],
              func_info: bool, sleepable: bool = False) -> None:
    """resolve_pseudo_ldimm64's pass over every instruction, in order."""
    n = len(insns)
    for pc, insn in enumerate(insns):
        if insn is None:
            continue
        cls = _cls(insn)
        if cls == Class.LDX:
            mode = insn.opcode & 0xE0
            if mode not in (Mode.MEM, Mode.MEMSX) or insn.imm != 0:
                raise Refuse("BPF_LDX uses reserved fields", pc, errno=EINVAL)
        if insn.opcode == LD_IMM64:
            if pc == n - 1 or (pc + 1 < n and insns[pc + 1] is not None):
                raise Refuse("invalid bpf_ld_imm64 insn", pc, errno=EINVAL)
            src = insn.src
            if src == Pseudo.IMM:
                continue
            if src == Pseudo.BTF_ID:
                raise Refuse("kernel is missing BTF, make sure CONFIG_DEBUG_INFO_BTF=y "
                             "is specified in Kconfig.", pc, errno=EINVAL)
            if src == Pseudo.FUNC:
                if not func_info:
                    raise Refuse("missing btf func_info", pc, errno=EINVAL)
                continue
            if src not in (Pseudo.MAP_FD, Pseudo.MAP_VALUE, Pseudo.MAP_IDX,
                           Pseudo.MAP_IDX_VALUE):
                raise Refuse("unrecognized bpf_ld_imm64 insn", pc, errno=EINVAL)
            if src in (Pseudo.MAP_FD, Pseudo.MAP_IDX) and insn.imm_hi:
                raise Refuse("unrecognized bpf_ld_imm64 insn", pc, errno=EINVAL)
            m = maps(src, insn.imm)
            if m is None:
                if src in (Pseudo.MAP_FD, Pseudo.MAP_VALUE):
                    raise Refuse(f"fd {insn.imm} is not pointing to valid bpf_map", pc,
                                 errno=EBADF)
                raise Refuse(f"fd_idx {insn.imm} is not pointing to valid bpf_map", pc,
                             errno=EINVAL)
            if sleepable and int(m.type) not in _SLEEPABLE_MAPS:
                raise Refuse("Sleepable programs can only use array, hash, ringbuf and local "
                             "storage maps, also as inner maps", pc, errno=EINVAL)
            if src in (Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE):
                from ..maps.spec import MapType
                off = insn.imm_hi & 0xFFFFFFFF
                if int(m.type) not in (MapType.ARRAY, MapType.PERCPU_ARRAY) or \
                        int(m.type) == MapType.PERCPU_ARRAY:
                    raise Refuse("no direct value access support for this map type", pc,
                                 errno=EINVAL)
                if off >= 1 << 29:
                    raise Refuse(f"direct value offset of {off} is not allowed", pc,
                                 errno=EINVAL)
                if m.max_entries != 1 or off >= m.value_size:
                    raise Refuse(f"invalid access to map value pointer, value_size="
                                 f"{m.value_size} off={off}", pc, errno=EINVAL)
            continue
        if insn.opcode not in KERNEL_OPCODES:
            raise Refuse(f"unknown opcode {insn.opcode:02x}", pc, errno=EINVAL)


def reserved(insn: Insn) -> str | None:
    """The kernel's complaint about ``insn``'s fields when the walk reaches it, or None
    (do_check, check_alu_op, check_atomic, ...).  Opcodes bpf_vm does not run but the
    kernel's table has (legacy packet loads aside) end here too."""
    op = insn.opcode
    cls = op & 0x07
    src_x = bool(op & 0x08)
    code = op & 0xF0
    if cls in (Class.ALU, Class.ALU64):
        if code == AluOp.NEG:
            if src_x or insn.src or insn.off or insn.imm:
                return "BPF_NEG uses reserved fields"
            return None
        if code == AluOp.END:
            if insn.src or insn.off or insn.imm not in (16, 32, 64) or \
                    (cls == Class.ALU64 and src_x):
                return "BPF_END uses reserved fields"
            return None
        if code == AluOp.MOV:
            if src_x:
                allowed = (0, 8, 16) if cls == Class.ALU else (0, 8, 16, 32)
                if insn.off not in allowed or insn.imm:
                    return "BPF_MOV uses reserved fields"
            elif insn.src or insn.off:
                return "BPF_MOV uses reserved fields"
            return None
        if code > AluOp.END:
            return f"invalid BPF_ALU opcode {code:x}"
        signed_ok = code in (AluOp.DIV, AluOp.MOD)
        if src_x:
            if insn.imm or insn.off not in (0, 1) or (insn.off == 1 and not signed_ok):
                return "BPF_ALU uses reserved fields"
        elif insn.src or insn.off not in (0, 1) or (insn.off == 1 and not signed_ok):
            return "BPF_ALU uses reserved fields"
        return None
    if cls == Class.STX:
        mode = op & 0xE0
        if mode == Mode.ATOMIC:
            if insn.imm not in (0x00, 0x40, 0x50, 0xA0, 0x01, 0x41, 0x51, 0xA1, 0xE1, 0xF1):
                return f"BPF_ATOMIC uses invalid atomic opcode {insn.imm & 0xFF:02x}"
            if (op & 0x18) not in (Size.W, Size.DW):
                return "invalid atomic operand size"
            return None
        if mode != Mode.MEM or insn.imm:
            return "BPF_STX uses reserved fields"
        return None
    if cls == Class.ST:
        if (op & 0xE0) != Mode.MEM or insn.src:
            return "BPF_ST uses reserved fields"
        return None
    if cls == Class.LD:
        if op == LD_IMM64:
            return "BPF_LD_IMM64 uses reserved fields" if insn.off else None
        return None  # legacy packet access: checked by the walk
    if cls in (Class.JMP, Class.JMP32):
        if code == 0x80:  # call
            if src_x or (insn.src != 2 and insn.off) or insn.src not in (0, 1, 2) or \
                    insn.dst or cls == Class.JMP32:
                return "BPF_CALL uses reserved fields"
            return None
        if code == 0x00:  # ja / gotol
            if src_x or insn.src or insn.dst or (cls == Class.JMP and insn.imm) or \
                    (cls == Class.JMP32 and insn.off):
                return "BPF_JA uses reserved fields"
            return None
        if code == 0x90:  # exit
            if src_x or insn.imm or insn.src or insn.dst or cls == Class.JMP32:
                return "BPF_EXIT uses reserved fields"
            return None
        if code == 0xE0:  # may_goto
            if insn.src or insn.dst or insn.imm:
                return f"invalid may_goto imm {insn.imm}"
            return None
        if src_x:
            if insn.imm:
                return "BPF_JMP/JMP32 uses reserved fields"
        elif insn.src:
            return "BPF_JMP/JMP32 uses reserved fields"
        return None
    return None


def is_valid_for_vm(insn: Insn) -> bool:
    """bpf_vm's decoder would have accepted this slot (its spec is known)."""
    return (insn.spec is not None and insn.kind is not Kind.LD_IMM64) or \
        insn.opcode == LD_IMM64


def jump_off(insn: Insn) -> int:
    return insn.imm if insn.opcode == (Class.JMP32 | 0x00) else insn.off


__all__ = ["KERNEL_OPCODES", "Source", "decode_lenient", "prechecks", "reserved"]
