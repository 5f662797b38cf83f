"""Fuzz bpf_vm.verifier with random and mutated bytecode (issue 13, "Bad input").

Program ``i`` of seed ``s`` comes from ``(s, i)`` alone (``fuzz(1, s, only=i)``): ``random``
(uniform random slots, or valid opcodes with random fields), ``grammar`` (:class:`Grammar`)
or ``mutants`` (tests/verifier/corpus programs with bits flipped, fields changed, slots
inserted, deleted, swapped or duplicated, another program type).  ``verify_bytes`` runs
under a wall-clock guard; an exception is a traceback (a bug).  An accepted program runs
in the VM on a fixed context: a fault is a helper the VM lacks or, with ``--kernel`` (the
host kernel loads it too), an exception if the kernel accepts it (why: :data:`EXPLAINED`),
else our bug.  BudgetExceeded is apart.  ``--kernel`` also compares every verdict.

    python3 scripts/fuzz_verifier.py [--count N] [--seed S] [--kernel] [--hang SECONDS]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import random
import re
import signal
import struct
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import count
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bpf_vm.isa import OPCODES  # noqa: E402

PROG_TYPES = ("kprobe", "tracepoint", "raw_tracepoint", "syscall", "socket_filter")
FAMILIES = (("random", 35), ("grammar", 35), ("mutants", 30))
HANG_SECONDS, SLOW_SEED = 10.0, 100_000   # no mutants of programs the kernel walks this long
INSN = struct.Struct("<BBhi")
LD_IMM64, CALL, EXIT, MOV, MOVX, ADD = 0x18, 0x85, 0x95, 0xB7, 0xBF, 0x07
STDW, JEQ, JA, MAY_GOTO = 0x7A, 0x15, 0x05, 0xE5
MAPS: list[dict[str, Any]] = [         # the maps of random and grammar programs: fd = index
    dict(zip(("type", "key_size", "value_size", "max_entries"), m, strict=True)) for m in (
        ("array", 4, 64, 4), ("hash", 4, 16, 8), ("ringbuf", 0, 0, 4096),
        ("prog_array", 4, 4, 4), ("percpu_array", 4, 16, 4), ("array", 4, 8, 1),
        ("perf_event_array", 4, 4, 4))]
MAPS[5].update(flags=128, init="0102030405060708", freeze=True)  # .rodata: RDONLY_PROG
CTX_SIZE = {"kprobe": 168, "tracepoint": 8192, "raw_tracepoint": 96, "syscall": 65536,
            "socket_filter": 192}
IMMS = (0, 1, -1, 2, 4, 8, 16, 32, 63, 64, 255, 512, 4096, -8, -512, 0x7FFFFFFF, -0x80000000)
OFFS = (0, 1, -1, 2, 4, -4, 8, -8, 16, -16, 64, -64, 511, -512, -513, 0x7FFF, -0x8000)
Ins = tuple[int, int, int, int, int]    # opcode, dst, src, off, imm


@dataclass
class Case:
    index: int
    family: str
    prog_type: str
    code: bytes
    maps: list[dict[str, Any]]
    func_info: bool = False
    license: str = "GPL"
    origin: str = ""


def pick(r: random.Random, table: tuple[int, ...] = IMMS, bits: int = 32) -> int:
    return r.choice(table) if r.random() < 0.7 else r.randint(-(1 << bits - 1), (1 << bits - 1) - 1)


def pack(insns: list[Ins]) -> bytes:
    return b"".join(INSN.pack(op, (s & 15) << 4 | (d & 15), max(-32768, min(off, 32767)),
                              (imm + (1 << 31)) % (1 << 32) - (1 << 31))
                    for op, d, s, off, imm in insns)


def random_insn(r: random.Random, n: int, pc: int = 0) -> list[Ins]:
    """One instruction of a valid opcode (two slots for ld_imm64), fields at random;
    jumps and calls mostly land in ``[0, n)`` from ``pc``."""
    op, top = r.choice(sorted(OPCODES)), r.choice((10,) * 19 + (15,))
    d, s, off, imm, kind = r.randint(0, top), r.randint(0, top), 0, pick(r), OPCODES[op].kind.value
    near = r.randint(0, n) - pc - 1             # a jump or call to an instruction in [0, n]
    if kind in ("ldx", "st", "stx", "atomic"):
        off = pick(r, OFFS, 16) if r.random() < 0.5 else -8 * r.randint(1, 64)
        imm = r.choice((0, 1, 0x40, 0x41, 0x50, 0x51, 0xA0, 0xA1, 0xE1, 0xF1, imm)) if \
            kind == "atomic" else imm if kind == "st" or r.random() < 0.1 else 0
    elif kind in ("ja", "jcond", "may_goto"):
        off = near if r.random() < 0.9 else pick(r, OFFS, 16)
        s = 0 if kind == "may_goto" and r.random() < 0.8 else s
    elif kind == "call":
        s = r.choice((0, 0, 0, 1, 2))
        imm = r.randint(0, 211) if s == 0 else near
    elif kind in ("alu", "end"):        # sdiv/smod/movsx offsets, byte swap widths
        off = r.choice((0,) * 20 + (1, 8, 16, 32))
        imm = r.choice((16, 32, 64, imm)) if kind == "end" else imm
    if op == LD_IMM64:
        s = r.choice((0, 0, 1, 2, 4, 5, 3))
        lo = r.randint(0, 7) if s in (1, 2, 5) else (near if s == 4 else imm)
        hi = r.choice((0, 0, 8, pick(r))) if s != 0 else pick(r)
        return [(op, d, s, 0, lo), (0, 0, 0, 0, hi)]
    return [(op, d, s, off, imm)]


def gen_random(r: random.Random) -> bytes:
    """Uniform random slots, or instructions of valid opcodes with random fields."""
    if r.random() < 0.43:
        return r.randbytes(8 * r.randint(1, 12)) + pack([(EXIT, 0, 0, 0, 0)] * r.randint(0, 1))
    n = r.randint(1, 16)
    out = [(MOV, 0, 0, 0, pick(r))] if r.random() < 0.7 else []
    while len(out) < n:
        out += random_insn(r, n + 1, len(out))
    return pack([*out, (EXIT, 0, 0, 0, 0)] if r.random() < 0.8 else out)


#: helpers the grammar calls and their arguments: c ctx, s 16 zeroed stack bytes, n a size,
#: x a register, i a number, m a map (mostly array, hash), R ring buffer, P/E prog/perf array
HELPERS = {1: "ms", 2: "mssi", 3: "ms", 4: "snx", 5: "", 6: "sn", 7: "", 8: "", 12: "cPi",
           14: "", 15: "", 16: "sn", 25: "cEisn", 27: "cmi", 35: "", 42: "", 45: "snx",
           58: "ci", 67: "csni", 80: "", 109: "i", 112: "snx", 113: "snx", 114: "snx",
           115: "snx", 117: "i", 118: "", 123: "i", 125: "", 130: "Rsni", 160: "",
           176: "sni", 208: ""}


class Grammar:
    """Structured programs: ALU on r0-r9; loads, stores through r10, ctx, map values; jumps,
    loops; common helpers; map lookups, ring-buffer records, bpf_loop callbacks, local
    calls; ld_imm64 constants, map references; mostly well formed, with programs' mistakes.
    ``items``: labels (str), instructions (with None or a label whose distance is ``off`` or
    ``imm``); ``subs``: (label, callback?); ``pending``: forward jumps [statements, label]."""

    ALU = (0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0)
    JMP = (0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0)
    SIZES = ((0x18, 8), (0x00, 4), (0x08, 2), (0x10, 1))   # BPF_DW, W, H, B

    def __init__(self, r: random.Random, prog_type: str) -> None:
        self.r, self.t, self.items, self.labels = r, prog_type, list[Any](), count()
        self.subs, self.pending, self.func_info = list[tuple[str, bool]](), list[list[Any]](), False
        self.init, self.ctx = {1, 6}, True      # registers written; r6 is ctx (not in subs)

    def e(self, *insns: Ins) -> None:
        self.items += [(*i, None) for i in insns]

    def ld(self, d: int, lo: int, src: int = 0, hi: int = 0) -> None:
        self.e((LD_IMM64, d, src, 0, lo), (0, 0, 0, 0, hi))

    def ref(self, op: int, d: int, s: int, imm: int, target: str, fld: str = "off") -> None:
        self.items.append((op, d, s, 0, imm, (target, fld)))

    def label(self) -> str:
        return f"L{next(self.labels)}"

    def code(self) -> bytes:
        labels = [(i, it) for i, it in enumerate(self.items) if isinstance(it, str)]
        pcs, out = {it: i - k for k, (i, it) in enumerate(labels)}, list[Ins]()  # k precede
        for op, d, s, off, imm, ref in (x for x in self.items if not isinstance(x, str)):
            if ref:
                rel = pcs[ref[0]] - len(out) - 1
                off, imm = (rel, imm) if ref[1] == "off" else (off, rel)
            out.append((op, d, s, off, imm))
        return pack(out)

    def src(self) -> int:
        return self.r.choice(sorted(self.init)) if self.r.random() < 0.96 else \
            self.r.randint(0, 10)

    def dst(self, reads: bool = True) -> int:
        r = self.r
        d = r.choice((0, 2, 3, 4, 5, 7, 8, 9)) if r.random() < 0.97 else r.choice((6, 10))
        d = self.src() if reads and d not in self.init and r.random() < 0.9 else d
        self.init.add(d)
        return d

    def call(self, helper: int) -> None:
        self.e((CALL, 0, 0, 0, helper))
        self.init = (self.init - {1, 2, 3, 4, 5}) | {0}

    def stack_off(self, size: int) -> int:
        r = self.r
        return -size * r.randint(1, 512 // size // (8 if r.random() < 0.8 else 1)) \
            if r.random() < 0.92 else r.choice((0, -513, -1, 8, -3, -520))

    def ctx_off(self, size: int) -> int:
        r, n = self.r, CTX_SIZE[self.t]
        return size * r.randint(self.t == "tracepoint", min(n, 512) // size - 1) \
            if r.random() < 0.9 else r.choice((-8, 1, 3, n, n - 4))

    def map_fd(self) -> int:
        r = self.r
        return r.choice((0, 0, 1, 1, 4, 5)) if r.random() < 0.93 else r.choice((2, 3, 6, 9))

    def build(self) -> bytes:
        r = self.r
        self.e((MOVX, 6, 1, 0, 0))
        for reg in r.sample((0, 2, 3, 4, 5, 7, 8, 9), r.randint(0, 5)):
            self.e((r.choice((MOV, 0xB4)), reg, 0, 0, pick(r)))
            self.init.add(reg)
        self.e(*((STDW, 10, 0, -8 * r.randint(1, 8), pick(r)) for _ in range(r.randint(0, 3))))
        kinds = (self.simple,) * 5 + (self.branch,) * 2 + (self.map_access,) * 3 + (
            self.helper,) * 3 + (self.loop, self.subprogram, self.subprogram)
        for _ in range(r.randint(1, 10)):
            r.choice(kinds)()
            self.items += [p[1] for p in self.pending if p[0] == 1]
            self.pending = [[p[0] - 1, p[1]] for p in self.pending if p[0] > 1]
        self.items += [p[1] for p in self.pending]
        self.ctx = False
        for name, callback in [("", False), *self.subs]:
            if name:
                self.items.append(name)
                self.init = {1, 2} if callback else {1, 2, 3}
                for _ in range(r.randint(0, 3)):
                    self.simple()
            if r.random() < 0.95:
                self.e((MOV, 0, 0, 0, r.choice((0, 1)) if callback else pick(r)))
            self.e((EXIT, 0, 0, 0, 0))
        return self.code()

    def simple(self) -> None:
        r, e = self.r, self.e
        c = r.randint(0, 10)
        sz, n = r.choice(self.SIZES)
        if c <= 2:                                          # ALU
            aop = r.choice(self.ALU)
            x = r.random() < 0.4 and aop != 0x80
            off = 1 if aop in (0x30, 0x90) and r.random() < 0.2 else 0
            off = r.choice((8, 16, 32)) if aop == 0xB0 and x and r.random() < 0.2 else off
            s, imm = (self.src(), 0) if x else (0, 0 if aop == 0x80 else pick(r))
            if r.random() < 0.03:
                s, imm = r.randint(0, 10), pick(r)
            e((aop | r.choice((0x07, 0x04)) | 8 * x, self.dst(aop != 0xB0), s, off, imm))
        elif c == 3 and self.ctx:                           # a ctx load (or store)
            e((0x61 | sz, self.dst(False), 6, self.ctx_off(n), 0) if r.random() < 0.9 else
              (0x63 | sz, 6, self.src(), self.ctx_off(n), 0))
        elif c <= 4:                                        # a stack store
            e((0x62 | sz, 10, 0, self.stack_off(n), pick(r)) if r.random() < 0.5 else
              (0x63 | sz, 10, self.src(), self.stack_off(n), 0))
        elif c == 5:                                        # a stack load (sign-ext too)
            e((0x81 | sz if n < 8 and r.random() < 0.2 else 0x61 | sz, self.dst(False), 10,
               self.stack_off(n), 0))
        elif c == 6:                                        # byte swaps
            e((r.choice((0xD4, 0xDC, 0xD7)), self.dst(), 0, 0, r.choice((16, 32, 64))))
        elif c == 7:                                        # atomics on the stack
            off = -8 * r.randint(1, 8)
            if r.random() < 0.85:
                e((STDW, 10, 0, off, pick(r)))
            e((r.choice((0xDB, 0xC3)), 10, self.src(), off,
               r.choice((0, 1, 0x40, 0x41, 0x50, 0xA1, 0xE1, 0xF1))))
        elif c == 8:                                        # a spill and a fill
            off = -8 * r.randint(1, 8) + (0 if r.random() < 0.9 else 4)
            e((0x7B, 10, r.choice((6, 10, self.src())), off, 0),
              (r.choice((0x79, 0x79, 0x61)), r.choice((1, 7, 8)), 10, off, 0))
        elif c == 9:                                        # a 64-bit constant
            self.ld(self.dst(False), (v := r.getrandbits(64)) & 0xFFFFFFFF, 0, v >> 32)
        elif r.random() < 0.5:                              # a map pointer
            self.ld(r.choice((7, 8)), self.map_fd(), 1)
        else:                                               # a map value pointer
            self.ld(r.choice((7, 8)), r.choice((5, 0, 5)), 2, r.choice((0, 4, 8, 64)))
            e((0x61, self.dst(False), 7 if r.random() < 0.9 else 8, 0, 0))

    def branch(self) -> None:
        r, x, target = self.r, self.r.random() < 0.4, self.label()
        self.ref(r.choice(self.JMP) | r.choice((0x05, 0x06)) | 8 * x, self.src(),
                 self.src() if x else 0, 0 if x else pick(r), target)
        self.pending.append([r.randint(1, 3), target])

    def loop(self) -> None:
        r, top, out = self.r, self.label(), self.label()
        reg, goto = r.choice((7, 8, 9)), r.random() < 0.3   # a counted or may_goto loop
        self.e((MOV, reg, 0, 0, 0))
        self.items.append(top)
        if goto:
            self.ref(MAY_GOTO, 0, 0, 0, out)
        self.simple()
        if goto:
            self.ref(JA, 0, 0, 0, top)
            return self.items.append(out)
        if r.random() < 0.97:
            self.e((ADD, reg, 0, 0, 1))
        bound = r.choice((2, 3, 4, 8, 16, 64)) if r.random() < 0.99 else 100_000
        self.ref(r.choice((0xA5, 0xB5, 0x55, 0xC5, 0xA6)), reg, 0, bound, top)
        self.init.add(reg)

    def map_access(self) -> None:
        """A map lookup or ring-buffer reservation, null check, accesses (submit, discard)."""
        r, e, skip, ring = self.r, self.e, self.label(), self.r.random() < 0.3
        fd = 2 if ring and r.random() < 0.95 else self.map_fd()
        size = r.choice((8, 16, 4096, 0)) if ring else MAPS[fd]["value_size"] if \
            fd < len(MAPS) else 8
        if not ring:
            e((0x62, 10, 0, -4, r.choice((0, 1, 3, 4, 0))))
        self.ld(1, fd, 1)
        e(*[(MOV, 2, 0, 0, size), (MOV, 3, 0, 0, 0)] if ring else
          [(MOVX, 2, 10, 0, 0), (ADD, 2, 0, 0, -4 if r.random() < 0.95 else -2)])
        self.call(131 if ring else 1)
        if r.random() < 0.92:
            self.ref(r.choice((JEQ, JEQ, JEQ, 0x55)), 0, 0, 0, skip)
        for _ in range(r.randint(1, 3)):
            sz, n = r.choice(self.SIZES)
            off = n * r.randint(0, max(min(size, 64) // n - 1, 0)) if r.random() < 0.9 \
                else r.choice((size, size - 1, -1, 64))
            c = r.randint(0, 4)
            if c == 3 and self.ctx:                         # a variable offset
                e((0x61, 3, 6, self.ctx_off(4), 0),
                  (0x57, 3, 0, 0, r.choice((7, 15, 0x38, 63, 255, -1))),
                  (0x0F, 0, 3, 0, 0), (0x71, 4, 0, 0, 0))
            else:
                e([(0x61 | sz, 3, 0, off, 0), (0x62 | sz, 0, 0, off, pick(r)),
                   (0x63 | sz, 0, self.src(), off, 0)][c] if c < 3 else
                  (0xDB, 0, self.src(), off - off % 8, r.choice((0, 1, 0x41, 0xE1))))
        if ring and r.random() < 0.92:
            e((MOVX, 1, 0, 0, 0), (MOV, 2, 0, 0, 0))
            self.call(r.choice((132, 133)))
        self.items.append(skip)
        self.init -= {3, 4}

    def helper(self) -> None:
        r, fid = self.r, self.r.choice(list(HELPERS))
        self.e((STDW, 10, 0, -16, 0), (STDW, 10, 0, -8, 0))
        for reg, kind in enumerate(HELPERS[fid], 1):
            if kind in "mRPE":
                fd = self.map_fd() if kind == "m" else "RPE".index(kind) * 2 + 2
                self.ld(reg, fd if r.random() < 0.95 else self.map_fd(), 1)
            elif kind == "s":
                self.e((MOVX, reg, 10, 0, 0), (ADD, reg, 0, 0, r.choice((-16,) * 9 + (-8,))))
            elif kind in "cx":
                self.e((MOVX, reg, self.src() if kind == "x" else 6 if self.ctx else 10, 0, 0))
            else:
                imm = r.choice((0, 1, 4, 8, 16, 17) if kind == "n" else (0, 0, 1, 2, 9, -1))
                self.e((0xB4, reg, 0, 0, imm))
        self.call(fid)

    def subprogram(self) -> None:
        """A bpf_loop callback or a BPF-to-BPF call (bodies after the main program's)."""
        r, name, callback = self.r, self.label(), self.r.random() < 0.5
        self.subs.append((name, callback))
        if callback:
            self.func_info = self.func_info or r.random() < 0.95
            self.e((MOV, 1, 0, 0, r.choice((0, 1, 4, 100, 1 << 23 | 1))))
            self.ref(LD_IMM64, 2, 4, 0, name, "imm")
            self.e((0, 0, 0, 0, 0), (MOV, 3, 0, 0, 0), (MOV, 4, 0, 0, 0))
            return self.call(181)
        self.e(*((MOV, reg, 0, 0, pick(r)) for reg in (1, 2, 3)))
        if r.random() < 0.3:
            self.e((MOVX, 1, 10, 0, 0), (ADD, 1, 0, 0, -8))
        self.ref(CALL, 0, 1, 0, name, "imm")
        self.init = (self.init - {1, 2, 3, 4, 5}) | {0}


def mutate(r: random.Random, rec: dict[str, Any]) -> tuple[bytes, str, str]:
    """A corpus program with 1-3 mutations (the program type may change too)."""
    slots = [bytes.fromhex(rec["insns"])[i:i + 8] for i in range(0, len(rec["insns"]) // 2, 8)]
    prog_type, done = rec["prog_type"], []
    for _ in range(r.choice((1, 1, 2, 3))):
        c, at = r.randint(0, 7), r.randrange(len(slots)) if slots else 0
        if c == 0 and slots:
            bit = r.randrange(64)
            b = int.from_bytes(slots[at], "little") ^ 1 << bit
            slots[at], what = b.to_bytes(8, "little"), f"flip bit {bit} of {at}"
        elif c in (1, 2) and slots:
            op, regs, off, imm = INSN.unpack(slots[at])
            f = r.choice(("op", "dst", "src", "off", "imm"))
            if f == "op":
                op = r.choice(sorted(OPCODES)) if r.random() < 0.8 else r.randrange(256)
            elif f in ("dst", "src"):
                reg = r.randint(0, 15 if r.random() < 0.1 else 10)
                regs = regs & 0xF0 | reg if f == "dst" else regs & 0x0F | reg << 4
            elif f == "off":
                off = pick(r, OFFS, 16) if r.random() < 0.5 else off + r.choice((-1, 1, -8, 8))
            else:
                imm = pick(r) if r.random() < 0.5 else imm + r.choice((-1, 1, 8))
            slots[at], what = pack([(op, regs & 15, regs >> 4, off, imm)]), f"{f} of {at}"
        elif c == 3:
            new = pack(random_insn(r, len(slots), at))
            slots[at:at], what = [new[i:i + 8] for i in range(0, len(new), 8)], f"insert at {at}"
        elif c in (4, 6) and len(slots) > 1:
            slots[at:at + 1], what = ([], f"delete {at}") if c == 4 else (
                [slots[at]] * 2, f"duplicate {at}")
        elif c == 5 and len(slots) > 1:
            j = min(at + 1, len(slots) - 1) if r.random() < 0.7 else r.randrange(len(slots))
            slots[at], slots[j], what = slots[j], slots[at], f"swap {at} {j}"
        else:
            prog_type = r.choice(PROG_TYPES)
            what = f"as {prog_type}"
        done.append(what)
    return b"".join(slots), prog_type, f"{rec['name']}: {', '.join(done)}"


def make_case(seed: int, index: int, seeds: list[dict[str, Any]]) -> Case:
    r = random.Random(f"fuzz-verifier/{seed}/{index}")
    family = r.choices([f for f, _ in FAMILIES], [w for _, w in FAMILIES])[0]
    prog_type = r.choice(PROG_TYPES)
    if family == "random":
        return Case(index, family, prog_type, gen_random(r), MAPS, r.random() < 0.1)
    if family == "grammar":
        return Case(index, family, prog_type, (g := Grammar(r, prog_type)).build(), MAPS,
                    g.func_info)
    rec = r.choice(seeds)
    code, prog_type, origin = mutate(r, rec)
    return Case(index, family, prog_type, code, rec.get("maps", []),
                rec.get("func_info", False), rec.get("license", "GPL"), origin)


class Hang(BaseException):
    """Outlived its wall-clock guard (not an Exception: no handler under test eats it)."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    def alarm(_sig: int, _frame: Any) -> None:
        raise Hang
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Result:
    case: Case
    verdict: str                # accepted, refused, traceback, hang
    error: str = ""             # the verifier's message, or the exception's
    site: str = ""              # a traceback: the exception's type and innermost frame
    seconds: float = 0.0
    run: str = ""               # an accepted program's run: ok, budget, fault
    fault: str = ""             # what the VM raised
    cls: str = ""               # a fault: helper, exception, bug, unclassified
    reason: str = ""
    kernel: tuple[bool, str] | None = None      # --kernel: (accepted, error line)


def site_of(exc: BaseException) -> str:
    f = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__} at {f.filename.removeprefix(f'{ROOT}/')}:{f.lineno} in {f.name}"


#: why a program both verifiers accept may fault in the VM, by the VM's message
EXPLAINED = [
    (r"^never walked", "the VM's decoder refuses an instruction no path reaches (behind a "
     "branch constants decide); the kernel checks fields as it walks, then drops dead code"),
    (r"ld_imm64 form must be zero", "the VM's decoder wants the second imm of ld_imm64 "
     "BPF_PSEUDO_FUNC zero; the kernel ignores it (jit_subprogs writes the address there)"),
    (r"reserved field of exit", "the VM's decoder refuses exit with a nonzero off; the "
     "kernel's BPF_EXIT check ignores off"),
    (r"invalid opcode 0x[2345][08]", "legacy packet access (BPF_LD | BPF_ABS, BPF_IND) "
     "is not implemented in the VM"),
    (r"a map pointer is not data", "a load through a map pointer reads the kernel's struct "
     "bpf_map (allowed with BTF); the VM's map handles are not memory"),
]


def evaluate(case: Case, kernel: bool = False, hang: float = HANG_SECONDS) -> Result:
    from bpf_vm import Program, Vm
    from bpf_vm.errors import BudgetExceeded, InvalidInstruction
    from bpf_vm.host import FakeHost
    from bpf_vm.verifier import verify_bytes
    from scripts.verifier_agreement import by_index, vm_maps
    from tests.verifier.kernel_load import error_line  # the kernel's rule, both sides
    maps = vm_maps(case.maps, vm := Vm(host=FakeHost()))
    verify = partial(verify_bytes, case.code, prog_type=case.prog_type, license=case.license,
                     maps=dict(enumerate(maps)), func_info=case.func_info)
    t0 = time.perf_counter()
    try:
        with deadline(hang):
            v = verify()
        res = Result(case, "accepted" if v.accepted else "refused", error_line(v.log) or "")
    except Hang:
        res = Result(case, "hang")
    except Exception as exc:
        res = Result(case, "traceback", f"{type(exc).__name__}: {exc}", site_of(exc))
    res.seconds = time.perf_counter() - t0
    if res.verdict == "accepted":               # run on a fixed context
        ctx = bytes((i * 37 + 11) & 0xFF for i in range(CTX_SIZE[case.prog_type]))
        try:
            vm.run(Program.from_bytes(by_index(case.code), license=case.license, maps=maps),
                   ctx)
            res.run = "ok"
        except BudgetExceeded as exc:
            res.run, res.fault = "budget", str(exc)
        except InvalidInstruction as exc:     # the VM's decoder: is that instruction walked?
            walked = exc.pc in verify(record=True).states
            res.run, res.fault = "fault", f"{'' if walked else 'never walked: '}{exc}"
        except Exception as exc:
            res.run, res.fault = "fault", f"{site_of(exc)}: {exc}"
    res.kernel = kernel_verdict(case) if kernel else None
    if res.run == "fault":
        helper = re.search(r"unknown helper function (\d+)", res.fault)
        why = next((w for p, w in EXPLAINED if re.search(p, res.fault)), "UNEXPLAINED")
        res.cls, res.reason = (
            ("helper", f"helper {helper.group(1)} is not implemented in the VM") if helper
            else ("unclassified", "") if res.kernel is None
            else ("exception", why) if res.kernel[0]
            else ("bug", f"the kernel refuses: {res.kernel[1]}"))
    return res


def kernel_verdict(case: Case) -> tuple[bool, str]:
    """The host kernel's verdict, on new maps (a prog array takes its first user's type)."""
    from tests.verifier import kernel_load as KL
    try:
        with KL.KernelMaps(case.maps) as km:    # fds far above the indices programs use
            low, km.fds = km.fds, [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 1000) for fd in km.fds]
            for fd in low:
                os.close(fd)
            v = KL.load(case.code, case.prog_type, license=case.license, fds=km.fds,
                        func_info=case.func_info,
                        flags=16 if case.prog_type == "syscall" else 0)  # BPF_F_SLEEPABLE
    except Exception as exc:
        return False, f"load failed: {type(exc).__name__}: {exc}"
    return v.accepted, v.error or ("" if v.accepted else f"(errno {v.errno}, no log)")


def fuzz(count: int, seed: int = 1, *, kernel: bool = False, hang: float = HANG_SECONDS,
         only: int | None = None) -> list[Result]:
    """Programs 0 .. count - 1 of ``seed`` (or program ``only``), evaluated."""
    from scripts.verifier_agreement import load_corpus
    seeds = [x for x in load_corpus() if (x["kernel"].get("processed") or 0) <= SLOW_SEED]
    return [evaluate(make_case(seed, i, seeds), kernel, hang)
            for i in (range(count) if only is None else [only])]


norm = partial(re.sub, r"0x[0-9a-f]+|-?\d+", "N")     # a message without its numbers


def describe(r: Result) -> str:
    c = r.case
    return (f"#{c.index} {c.family} {c.prog_type}{' func_info' if c.func_info else ''}"
            f"{' (' + c.origin + ')' if c.origin else ''}: {c.code.hex()}")


def groups(title: str, rs: list[Result], key: Callable[[Result], str]) -> list[str]:
    """``title`` with the count; ``rs`` by ``key``, most frequent first, an example each."""
    out = [title.format(len(rs))]
    for k, n in Counter(map(key, rs)).most_common():
        text = " ".join(k.split())
        out += [f"    {n} x {text if len(text) < 200 else text[:197] + '...'}",
                f"      {describe(next(r for r in rs if key(r) == k))}"]
    return out


def report(results: list[Result], seconds: float, seed: int, hang: float) -> str:
    fam, v = Counter(r.case.family for r in results), Counter(r.verdict for r in results)
    faulted = [r for r in results if r.run == "fault"]
    out = [f"verifier fuzz: {len(results)} programs, seed {seed} ("
           + ", ".join(f"{f} {fam[f]}" for f, _ in FAMILIES) + ")",
           f"accepted {v['accepted']}, refused {v['refused']}",
           *groups("tracebacks: {}", [r for r in results if r.verdict == "traceback"],
                   lambda r: f"{r.site}: {r.error}"),
           *groups(f"hangs (verification > {hang:g} s): {{}}",
                   [r for r in results if r.verdict == "hang"],
                   lambda r: f"kernel: {r.kernel[1] or 'accepted'}" if r.kernel else "-"),
           f"accepted then faulted at run time: {len(faulted)}"]
    for cls, label in (("helper", "a helper the VM does not implement"),
                       ("exception", "exceptions (the kernel accepts too)"),
                       ("bug", "bugs (the kernel refuses)"),
                       ("unclassified", "unclassified (no --kernel)")):
        out += groups(f"  {label}: {{}}", [r for r in faulted if r.cls == cls],
                      lambda r: r.reason if r.cls == "helper" else
                      f"{r.reason or '-'}: {norm(r.fault)}")
    out.append(f"budget exceeded (not a fault): {sum(r.run == 'budget' for r in results)}")
    rs = [r for r in results if r.kernel and r.verdict in ("accepted", "refused")]
    if rs:
        ours = [r for r in rs if r.verdict == "accepted" and not r.kernel[0]]
        theirs = [r for r in rs if r.verdict == "refused" and r.kernel[0]]
        both = [r for r in rs if r.verdict == "refused" and not r.kernel[0]]
        other = [r for r in both if r.error != r.kernel[1]]
        out += [f"kernel verdicts: {len(rs) - len(ours) - len(theirs)}/{len(rs)} agree; both "
                f"refuse {len(both)}, {len(both) - len(other)} with the kernel's error line",
                *groups("  we accept, the kernel refuses: {} (by the kernel's error)", ours,
                        lambda r: norm(r.kernel[1])),
                *groups("  we refuse, the kernel accepts: {} (by our error)", theirs,
                        lambda r: norm(r.error)),
                *groups("  both refuse, another error line: {} (kernel / ours; the first 40)",
                        other, lambda r: f"{norm(r.kernel[1])} / {norm(r.error)}")[:81]]
    out.append(f"time: {seconds:.1f} s (verifier {sum(r.seconds for r in results):.1f} s)")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kernel", action="store_true",
                    help="classify faults and compare verdicts with the host kernel's")
    ap.add_argument("--hang", type=float, default=HANG_SECONDS, help="seconds per verification")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = fuzz(args.count, args.seed, kernel=args.kernel, hang=args.hang)
    print(report(results, time.perf_counter() - t0, args.seed, args.hang), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
