"""A small classic-BPF interpreter for seccomp programs: what the kernel's
``seccomp_run_filters`` computes for one ``struct seccomp_data``, so that a filter
exported by libseccomp can be evaluated in a test without installing it."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from probes.policy.libseccomp import SockFilter

M32 = 0xFFFFFFFF

# classes, sizes, modes, ops (linux/bpf_common.h)
LD, LDX, ST, STX, ALU, JMP, RET, MISC = 0, 1, 2, 3, 4, 5, 6, 7
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN = 0x00, 0x20, 0x40, 0x60, 0x80
K, X, A_SRC = 0x00, 0x08, 0x10
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40


def seccomp_data(nr: int, arch: int, args: Sequence[int], ip: int = 0) -> bytes:
    """``struct seccomp_data``: int nr, u32 arch, u64 instruction_pointer, u64 args[6]."""
    full = [a & (1 << 64) - 1 for a in args] + [0] * (6 - len(args))
    return struct.pack("<iIQ6Q", nr if nr < 1 << 31 else nr - (1 << 32), arch, ip, *full)


def run(prog: Sequence[SockFilter], data: bytes, max_steps: int = 1 << 20) -> int:
    """The program's return value (a SECCOMP_RET_* action with its data)."""
    a = x = 0
    mem = [0] * 16
    pc = 0
    for _ in range(max_steps):
        ins = prog[pc]
        cls = ins.code & 0x07
        pc += 1
        if cls == LD:
            mode = ins.code & 0xE0
            if mode == ABS and ins.code & 0x18 == W:
                a = int.from_bytes(data[ins.k:ins.k + 4], "little")
            elif mode == IMM:
                a = ins.k
            elif mode == MEM:
                a = mem[ins.k]
            elif mode == LEN:
                a = len(data)
            else:
                raise ValueError(f"unsupported load {ins}")
        elif cls == LDX:
            mode = ins.code & 0xE0
            x = ins.k if mode == IMM else mem[ins.k] if mode == MEM else len(data)
        elif cls == ST:
            mem[ins.k] = a
        elif cls == STX:
            mem[ins.k] = x
        elif cls == ALU:
            op = ins.code & 0xF0
            src = x if ins.code & X else ins.k
            a = _alu(op, a, src)
        elif cls == JMP:
            op = ins.code & 0xF0
            if op == JA:
                pc += ins.k
                continue
            src = x if ins.code & X else ins.k
            taken = {JEQ: a == src, JGT: a > src, JGE: a >= src, JSET: bool(a & src)}[op]
            pc += ins.jt if taken else ins.jf
        elif cls == RET:
            return a if ins.code & 0x18 == A_SRC else ins.k
        elif cls == MISC:
            if ins.code & 0xF8 == 0:   # TAX
                x = a
            else:                       # TXA
                a = x
        else:
            raise ValueError(f"unsupported instruction {ins}")
    raise RuntimeError("cBPF program did not return")


def _alu(op: int, a: int, src: int) -> int:
    match op:
        case 0x00:
            return (a + src) & M32
        case 0x10:
            return (a - src) & M32
        case 0x20:
            return (a * src) & M32
        case 0x30:
            return a // src if src else 0
        case 0x40:
            return a | src
        case 0x50:
            return a & src
        case 0x60:
            return (a << src) & M32
        case 0x70:
            return a >> src
        case 0x80:
            return -a & M32
        case 0xA0:
            return a ^ src
    raise ValueError(f"unsupported ALU op {op:#x}")
