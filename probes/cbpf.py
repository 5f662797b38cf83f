"""Classic BPF as seccomp runs it: what the kernel's ``seccomp_run_filters`` computes for
one ``struct seccomp_data``.

One interpreter for every seccomp filter trace-run handles: its own prefilter
(:mod:`probes.prefilter`), and the filters libseccomp exports, which ``--compare`` and
the differential tests evaluate without installing them.  Seccomp accepts absolute
32-bit loads of ``seccomp_data`` only (net/core/filter.c's ``seccomp_check_filter``), the
scratch memory, ALU, jumps, TAX/TXA and returns.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Protocol

__all__ = ["SockFilterLike", "run", "seccomp_data"]

M32 = 0xFFFFFFFF
_M64 = (1 << 64) - 1


class SockFilterLike(Protocol):
    """A ``struct sock_filter``: ctypes structures and dataclasses both fit."""
    @property
    def code(self) -> int: ...
    @property
    def jt(self) -> int: ...
    @property
    def jf(self) -> int: ...
    @property
    def k(self) -> int: ...


def seccomp_data(nr: int, arch: int, args: Sequence[int] = (), ip: int = 0) -> bytes:
    """``struct seccomp_data``: int nr, u32 arch, u64 instruction_pointer, u64 args[6]
    (``nr`` is cut to 32 bits, as the kernel's ``int``)."""
    full = [a & _M64 for a in args[:6]] + [0] * (6 - min(len(args), 6))
    return struct.pack("<IIQ6Q", nr & M32, arch & M32, ip & _M64, *full)


def run(prog: Sequence[SockFilterLike], data: bytes, max_steps: int = 1 << 20) -> int:
    """The program's return value (a SECCOMP_RET_* action with its data)."""
    a = x = 0
    mem = [0] * 16
    pc = 0
    for _ in range(max_steps):
        ins = prog[pc]
        code, k = ins.code, ins.k
        cls = code & 0x07
        pc += 1
        if cls == 0x00:      # LD
            mode = code & 0xE0
            if mode == 0x20 and code & 0x18 == 0x00:    # ABS, W
                a = int.from_bytes(data[k:k + 4], "little")
            elif mode == 0x00:
                a = k
            elif mode == 0x60:
                a = mem[k & 15]
            elif mode == 0x80:
                a = len(data)
            else:
                raise ValueError(f"unsupported load {code:#x}")
        elif cls == 0x01:    # LDX
            mode = code & 0xE0
            x = k if mode == 0x00 else mem[k & 15] if mode == 0x60 else len(data)
        elif cls == 0x02:    # ST
            mem[k & 15] = a
        elif cls == 0x03:    # STX
            mem[k & 15] = x
        elif cls == 0x04:    # ALU
            a = _alu(code & 0xF0, a, x if code & 0x08 else k) & M32
        elif cls == 0x05:    # JMP
            op = code & 0xF0
            if op == 0x00:
                pc += k
                continue
            src = x if code & 0x08 else k
            taken = (a == src if op == 0x10 else a > src if op == 0x20 else
                     a >= src if op == 0x30 else bool(a & src))
            pc += ins.jt if taken else ins.jf
        elif cls == 0x06:    # RET
            return (a if code & 0x18 == 0x10 else k) & M32
        elif code & 0xF8 == 0x80:   # MISC: TXA
            a = x
        else:                        # MISC: TAX
            x = a
    raise RuntimeError("cBPF program did not return")


def _alu(op: int, a: int, src: int) -> int:
    match op:
        case 0x00:
            return a + src
        case 0x10:
            return a - src
        case 0x20:
            return a * src
        case 0x30:
            return a // src if src else 0
        case 0x40:
            return a | src
        case 0x50:
            return a & src
        case 0x60:
            return a << (src & 31)
        case 0x70:
            return a >> (src & 31)
        case 0x80:
            return -a
        case 0x90:
            return a % src if src else 0
        case 0xA0:
            return a ^ src
    raise ValueError(f"unsupported ALU op {op:#x}")
