"""The seccomp prefilter: a real classic-BPF seccomp filter that sends to the tracer only
the syscalls a run must see, as ``strace --seccomp-bpf`` does.

trace-run installs it in the spawned child before execve (:mod:`tracer.spawn`), and the
loop traces with PTRACE_O_TRACESECCOMP and PTRACE_CONT: a syscall the filter answers
with SECCOMP_RET_ALLOW runs with no stop at all; one it answers with SECCOMP_RET_TRACE
stops the thread once (a seccomp stop, before the syscall runs), and the loop asks for
the exit stop only when something needs the return value.

The filter, for a syscall of the x86_64 ABI (``seccomp_data.arch`` AUDIT_ARCH_X86_64 and
no __X32_SYSCALL_BIT), allows the numbers in :attr:`Prefilter.allowed` and traces the
rest, unknown numbers included; a syscall of any other ABI (i386 ``int 0x80``, x32) is
always traced, never allowed: what the run must see is decided per x86_64 number only.

It also carries **seccomp's own outcomes**.  Since Linux 4.8 the kernel runs the filter
again after a tracer changed the syscall number at a seccomp stop
(``__seccomp_filter(..., recheck_after_trace)``).  Three reserved numbers, valid only
with the run's :attr:`Prefilter.cookie` in the low half of argument 5, make that
second run return SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD or
SECCOMP_RET_TRAP: the kernel then kills (SIGSYS, core dump, only the thread for
KILL_THREAD) or traps (SIGSYS with SYS_SECCOMP siginfo) exactly as it does for a
seccomp filter of the program's own.  The numbers are far above every ABI's table
(which the kernel answers with ENOSYS), and without the cookie they are ordinary unknown
syscalls, traced like any other.

Everything here is data: the filter's instructions (:meth:`Prefilter.program`), its
bytes for seccomp(2) (:meth:`Prefilter.bytes`), a readable listing
(:meth:`Prefilter.listing`) and a Python evaluation of it on a ``seccomp_data``
(:func:`run`), which the tests compare with the kernel's own verdicts.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from probes import cbpf
from probes.abi import AUDIT_ARCH_X86_64, X32_SYSCALL_BIT

__all__ = [
    "RESERVED",
    "SECCOMP_RET_ALLOW",
    "SECCOMP_RET_KILL_PROCESS",
    "SECCOMP_RET_KILL_THREAD",
    "SECCOMP_RET_TRACE",
    "SECCOMP_RET_TRAP",
    "Insn",
    "Outcome",
    "Prefilter",
    "run",
]

# include/uapi/linux/seccomp.h
SECCOMP_RET_KILL_PROCESS: Final = 0x80000000
SECCOMP_RET_KILL_THREAD: Final = 0x00000000
SECCOMP_RET_TRAP: Final = 0x00030000
SECCOMP_RET_ERRNO: Final = 0x00050000
SECCOMP_RET_TRACE: Final = 0x7FF00000
SECCOMP_RET_ALLOW: Final = 0x7FFF0000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_NR: Final = 0
_ARCH: Final = 4
_ARG5_LO: Final = 16 + 5 * 8

# classic BPF opcodes (include/uapi/linux/filter.h)
_LD_W_ABS: Final = 0x20
_JA: Final = 0x05
_JEQ_K: Final = 0x15
_JGT_K: Final = 0x25
_JGE_K: Final = 0x35
_RET_K: Final = 0x06
_TAX: Final = 0x07
_TXA: Final = 0x87
_MAX_INSNS: Final = 4096        # BPF_MAXINSNS: seccomp refuses a longer filter
_MAX_JUMP: Final = 255          # jt and jf are 8 bits


class Outcome(enum.IntEnum):
    """A seccomp outcome the loop asks the kernel for: the reserved number's offset."""
    KILL_PROCESS = 0
    KILL_THREAD = 1
    TRAP = 2


RESERVED: Final = 0x7FFF_F000
"""The first reserved syscall number; ``RESERVED + Outcome`` asks for that outcome.  Above
__X32_SYSCALL_BIT, so that one test sends every number the fast path need not judge
(x32, reserved, negative) to the slow path."""

_RETURN_OF: Final = {Outcome.KILL_PROCESS: SECCOMP_RET_KILL_PROCESS,
                     Outcome.KILL_THREAD: SECCOMP_RET_KILL_THREAD,
                     Outcome.TRAP: SECCOMP_RET_TRAP}


@dataclass(frozen=True, slots=True)
class Insn:
    """One ``struct sock_filter``."""
    code: int
    jt: int
    jf: int
    k: int

    def pack(self) -> bytes:
        return struct.pack("<HBBI", self.code, self.jt, self.jf, self.k)


# ---- a small assembler with labels -----------------------------------------------------

@dataclass
class _Asm:
    items: list[tuple[str, object, object, int, str]] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)

    def label(self, name: str) -> None:
        self.labels[name] = len(self.items)

    def emit(self, op: str, k: int = 0, jt: object = 0, jf: object = 0, note: str = "") -> None:
        self.items.append((op, jt, jf, k, note))

    def assemble(self) -> tuple[list[Insn], list[str]]:
        insns: list[Insn] = []
        notes: list[str] = []
        codes = {"ld": _LD_W_ABS, "ja": _JA, "jeq": _JEQ_K, "jgt": _JGT_K, "jge": _JGE_K,
                 "ret": _RET_K, "tax": _TAX, "txa": _TXA}
        for pc, (op, jt, jf, k, note) in enumerate(self.items):
            def off(target: object, pc: int = pc) -> int:
                if isinstance(target, int):
                    return target
                assert isinstance(target, str)
                return self.labels[target] - pc - 1
            if op == "ja":
                insns.append(Insn(_JA, 0, 0, off(jt)))
            elif op in ("jeq", "jgt", "jge"):
                t, f = off(jt), off(jf)
                if not (0 <= t <= _MAX_JUMP and 0 <= f <= _MAX_JUMP):
                    raise AssertionError(f"prefilter jump out of range at {pc}")
                insns.append(Insn(codes[op], t, f, k))
            else:
                insns.append(Insn(codes[op], 0, 0, k))
            notes.append(note)
        return insns, notes


def _ranges(numbers: Iterable[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if out and out[-1][1] == n - 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def _tree(a: _Asm, ranges: Sequence[tuple[int, int]], inside: str, outside: str,
          tag: list[int]) -> None:
    """Code that returns ``inside`` for A in one of ``ranges`` (sorted, disjoint) and
    ``outside`` otherwise (A holds nr; every number below ranges[0] is outside)."""
    if len(ranges) <= 3:
        for lo, hi in ranges:
            if lo > 0:
                a.emit("jge", lo, 1, 0)
                a.emit("ret", _RET[outside])
            a.emit("jgt", hi, 1, 0)
            a.emit("ret", _RET[inside])
        a.emit("ret", _RET[outside])
        return
    mid = len(ranges) // 2
    tag[0] += 1
    right = f"r{tag[0]}"
    a.emit("jge", ranges[mid][0], 0, 1)
    a.emit("ja", 0, right)
    _tree(a, ranges[:mid], inside, outside, tag)
    a.label(right)
    _tree(a, ranges[mid:], inside, outside, tag)


_RET: Final = {"trace": SECCOMP_RET_TRACE, "allow": SECCOMP_RET_ALLOW}


@dataclass(frozen=True)
class Prefilter:
    """A filter that allows the x86_64 syscall numbers in ``allowed`` and traces every
    other syscall (any number of another ABI, any number not in the set, unknown ones
    included); with a ``cookie``, it also carries the reserved outcome numbers (see the
    module's text)."""

    allowed: frozenset[int] = frozenset()
    cookie: int | None = None

    def _assemble(self) -> tuple[list[Insn], list[str]]:
        a = _Asm()
        # the fast path, a syscall of the x86_64 ABI: 5 instructions, then the ranges
        a.emit("ld", _NR, note="A = seccomp_data.nr")
        a.emit("jge", X32_SYSCALL_BIT, 0, 1, note="x32, a reserved or a negative number?")
        a.emit("ja", 0, "slow")
        a.emit("ld", _ARCH, note="A = seccomp_data.arch")
        a.emit("jeq", AUDIT_ARCH_X86_64, 1, 0, note="AUDIT_ARCH_X86_64?")
        a.emit("ret", SECCOMP_RET_TRACE, note="i386: always traced")
        a.emit("ld", _NR, note="A = seccomp_data.nr")
        _tree(a, _ranges(n for n in self.allowed if 0 <= n < X32_SYSCALL_BIT),
              "allow", "trace", [0])
        a.label("slow")   # A = nr, from X32_SYSCALL_BIT up, any ABI
        if self.cookie is not None:
            a.emit("jge", RESERVED, 0, "trace", note="a reserved outcome number?")
            a.emit("jgt", RESERVED + max(Outcome), "trace", 0)
            a.emit("tax")
            a.emit("ld", _ARG5_LO, note="A = low half of args[5]: the run's cookie?")
            a.emit("jeq", self.cookie & 0xFFFFFFFF, 0, "trace")
            a.emit("txa")
            for outcome in (Outcome.KILL_PROCESS, Outcome.KILL_THREAD):
                a.emit("jeq", RESERVED + outcome, 0, 1)
                a.emit("ret", _RETURN_OF[outcome], note=f"SECCOMP_RET_{outcome.name}")
            a.emit("ret", SECCOMP_RET_TRAP, note="SECCOMP_RET_TRAP")
        a.label("trace")
        a.emit("ret", SECCOMP_RET_TRACE, note="x32, negative, unknown: traced")
        insns, notes = a.assemble()
        if len(insns) > _MAX_INSNS:
            raise AssertionError("prefilter longer than BPF_MAXINSNS")
        return insns, notes

    def program(self) -> list[Insn]:
        return self._assemble()[0]

    def bytes(self) -> bytes:
        """The ``struct sock_filter`` array for ``struct sock_fprog``."""
        return b"".join(i.pack() for i in self.program())

    def listing(self) -> str:
        """The filter in classic BPF assembler syntax (``bpf_asm``'s), one line per
        instruction, with its pc and what it is for."""
        insns, notes = self._assemble()
        out = [f"prefilter: seccomp filter (classic BPF), {len(insns)} insns;"
               + f" {len(self.allowed)} x86_64 syscall(s) allowed, every other syscall traced"]
        for pc, (insn, note) in enumerate(zip(insns, notes, strict=True)):
            text = _text(pc, insn)
            out.append((f"  {pc:4d}: {text:<40}" + (f"; {note}" if note else "")).rstrip())
        return "\n".join(out) + "\n"


_RET_NAMES: Final = {SECCOMP_RET_ALLOW: "ALLOW", SECCOMP_RET_TRACE: "TRACE",
                     SECCOMP_RET_TRAP: "TRAP", SECCOMP_RET_KILL_PROCESS: "KILL_PROCESS",
                     SECCOMP_RET_KILL_THREAD: "KILL_THREAD"}


def _text(pc: int, i: Insn) -> str:
    names = {_JEQ_K: "jeq", _JGT_K: "jgt", _JGE_K: "jge"}
    if i.code == _LD_W_ABS:
        return f"ld [{i.k}]"
    if i.code == _RET_K:
        return f"ret #{i.k:#x}  ({_RET_NAMES.get(i.k, '?')})"
    if i.code == _JA:
        return f"ja {pc + 1 + i.k}"
    if i.code == _TAX:
        return "tax"
    if i.code == _TXA:
        return "txa"
    return f"{names[i.code]} #{i.k:#x}, {pc + 1 + i.jt}, {pc + 1 + i.jf}"


def run(program: Sequence[Insn], nr: int, arch: int, args: Sequence[int] = (0,) * 6,
        ip: int = 0) -> int:
    """The filter's return value for one ``seccomp_data``, as the kernel's classic BPF
    computes it (:mod:`probes.cbpf`)."""
    return cbpf.run(program, cbpf.seccomp_data(nr, arch, args, ip))
