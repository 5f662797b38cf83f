"""strace's ``-e inject=`` / ``-e fault=`` compiled into BPF: the tracex5 pattern, as
:mod:`probes.policy.compiler` compiles a seccomp profile.

Per ABI with injections, one dispatcher and one prog array::

    inject_dispatch:  (x86_64)                x86_64_openat:  (one per injected syscall)
        r3 = *(u32 *)(r1 + 0x78)  ; orig_ax       n = ++inject_counts[(tid, nr)]
        r2 = map[inject_progs_x86_64] ll          if n is not a when= hit goto out
        call bpf_tail_call                        bpf_send_signal_thread(S)        signal=S
        r0 = 0; exit                              bpf_override_return(ctx, -E)     error=E
                                                  bpf_override_return(ctx, R)      retval=R

``when=F..L+S`` is strace's count of the calls of that syscall by that thread (strace
keeps ``inject_opts`` per tcb, i.e. per thread; ``tamper_with_syscall_entering``): the
calls ``F, F+S, F+2S, ...`` up to ``L``; ``S == 0`` (``when=F``) means the ``F``-th only.
The count lives in the hash map ``inject_counts``: key ``{u32 tid; u32 nr}`` from
``bpf_get_current_pid_tgid`` (low 32 bits: the thread id), value the u64 count.  The nr
of the key tells the ABIs apart: x32 numbers carry ``__X32_SYSCALL_BIT`` and i386 ones
bit 31.

This module knows nothing of the tracer: the tracer's parser
(:mod:`tracer.qualify`) builds :class:`InjectSpec` values and the tracer's handler
(:mod:`tracer.inject_handler`) runs the programs.
"""

from __future__ import annotations

import signal as _signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from probes.abi import X32_SYSCALL_BIT, Abi, normalize_nr, syscall_name

if TYPE_CHECKING:
    from bpf_vm import BpfObject, Program

__all__ = [
    "INJECT_LAST_INF",
    "CompiledInjections",
    "InjectSlot",
    "InjectSpec",
    "compile_injections",
    "generate_asm",
]

INJECT_LAST_INF = 0xFFFF
"""``when=`` without an end (strace's ``(uint16_t) -1``)."""
SECTION = "kprobe"
COUNTS = "inject_counts"
MAX_IMM = 0x7FFFFFFF
I386_KEY_BIT = 0x80000000


@dataclass(frozen=True, slots=True)
class InjectSpec:
    """One ``inject=`` / ``fault=`` for a syscall.

    ``error`` (an errno: the call fails with it) and ``retval`` (the call returns it,
    unsigned 64-bit as written) exclude each other; ``signal`` is delivered at the call,
    which then runs unless error/retval skips it.  ``first``, ``last``, ``step``:
    strace's ``when=``: the calls first, first+step, ... up to last (``INJECT_LAST_INF``:
    no end) of a thread; ``step == 0``: the first-th only.  ``syscall``: the pure
    syscall strace runs instead of the call (trace-run skips the call all the same).
    ``text``: the argument as given."""

    error: int | None = None
    retval: int | None = None
    signal: int | None = None
    first: int = 1
    last: int = INJECT_LAST_INF
    step: int = 1
    syscall: str | None = None
    text: str = ""

    def injects_at(self, n: int) -> bool:
        """Whether the ``n``-th call (from 1) is tampered with: strace's countdown in
        closed form (what the compiled program computes)."""
        if n < self.first or (self.last != INJECT_LAST_INF and n > self.last):
            return False
        if self.step == 0:
            return n == self.first
        return (n - self.first) % self.step == 0

    def describe(self) -> str:
        what = []
        if self.error is not None:
            what.append(f"error={self.error}")
        if self.retval is not None:
            what.append(f"retval={self.retval}")
        if self.signal is not None:
            what.append(f"signal={self.signal}")
        last = "" if self.last == INJECT_LAST_INF else str(self.last)
        what.append(f"when={self.first}..{last}+{self.step}")
        return ":".join(what)


@dataclass(frozen=True)
class InjectSlot:
    """One program of the compiled injections."""

    abi: Abi
    program: str
    nr: int | None          # number within the ABI (x32: without the x32 bit); None: dispatcher
    name: str
    spec: InjectSpec | None = None

    @property
    def index(self) -> int | None:
        return self.nr


def _prog_array(abi: Abi) -> str:
    return f"inject_progs_{abi.value}"


def _entry(abi: Abi) -> str:
    return "inject_dispatch" if abi is Abi.X86_64 else f"inject_dispatch_{abi.value}"


def _key_nr(abi: Abi, nr: int) -> int:
    if abi is Abi.X32:
        return nr | X32_SYSCALL_BIT
    if abi is Abi.I386:
        return nr | I386_KEY_BIT
    return nr


class _Emit:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str, comment: str = "") -> None:
        self.lines.append(f"    {text:<34}; {comment}" if comment else f"    {text}")

    def raw(self, text: str) -> None:
        self.lines.append(text)


def _imm(e: _Emit, reg: str, value: int, comment: str = "") -> None:
    if -MAX_IMM - 1 <= value <= MAX_IMM:
        e(f"{reg} = {value:#x}" if value >= 0 else f"{reg} = -{-value:#x}", comment)
    else:
        e(f"{reg} = {value & 0xFFFFFFFFFFFFFFFF:#x} ll", comment)


def _syscall_program(e: _Emit, slot: InjectSlot) -> None:
    spec = slot.spec
    assert spec is not None and slot.nr is not None
    abi = slot.abi
    e.raw(f"\n; {abi.value} {slot.name} ({slot.nr}): {spec.text or spec.describe()}")
    e.raw(f".prog {slot.program} {SECTION}")
    e("r6 = r1", "ctx (pt_regs)")
    e("call bpf_get_current_pid_tgid")
    e("*(u32 *)(r10 - 0x8) = r0", "key.tid = (u32)pid_tgid")
    e(f"r1 = {_key_nr(abi, slot.nr):#x} ll", "key.nr (x32: x32 bit; i386: bit 31)")
    e("*(u32 *)(r10 - 0x4) = r1")
    e("r2 = r10")
    e("r2 += -0x8")
    e(f"r1 = map[{COUNTS}] ll")
    e("call bpf_map_lookup_elem")
    e("if r0 == 0x0 goto first_call")
    e("r7 = *(u64 *)(r0 + 0x0)")
    e("r7 += 0x1", "this is call number r7 of this thread")
    e("*(u64 *)(r0 + 0x0) = r7", "one thread runs this at a time: no atomic needed")
    e("goto check")
    e.raw("first_call:")
    e("r7 = 0x1")
    e("*(u64 *)(r10 - 0x10) = r7")
    e("r2 = r10")
    e("r2 += -0x8")
    e("r3 = r10")
    e("r3 += -0x10")
    e(f"r1 = map[{COUNTS}] ll")
    e("r4 = 0x0", "BPF_ANY")
    e("call bpf_map_update_elem")
    e.raw("check:")
    e.raw(f"    ; when={spec.first}..{'' if spec.last == INJECT_LAST_INF else spec.last}"
          f"+{spec.step}")
    e(f"if r7 < {spec.first:#x} goto out", "before the first")
    if spec.last != INJECT_LAST_INF:
        e(f"if r7 > {spec.last:#x} goto out", "after the last")
    if spec.step == 0:
        e(f"if r7 != {spec.first:#x} goto out", "once")
    elif spec.step > 1:
        e(f"r7 -= {spec.first:#x}")
        e(f"r7 %= {spec.step:#x}")
        e("if r7 != 0x0 goto out", "not on the step")
    if spec.signal is not None:
        e(f"r1 = {spec.signal:#x}", _signal_text(spec.signal))
        e("call bpf_send_signal_thread")
    if spec.error is not None:
        e("r1 = r6")
        _imm(e, "r2", -spec.error, f"-errno {spec.error}")
        e("call bpf_override_return")
    elif spec.retval is not None:
        e("r1 = r6")
        _imm(e, "r2", spec.retval, "retval")
        e("call bpf_override_return")
    e.raw("out:")
    e("r0 = 0x0")
    e("exit")


def _signal_text(sig: int) -> str:
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _dispatcher(e: _Emit, abi: Abi) -> None:
    e.raw(f"\n; {abi.value}: the entry program, tail-calling by syscall number")
    e.raw(f".prog {_entry(abi)} {SECTION}")
    e("r3 = *(u32 *)(r1 + 0x78)", "orig_ax, low 32 bits")
    if abi is Abi.X32:
        e(f"w3 += {-X32_SYSCALL_BIT:#x}", "x32 slot = nr - __X32_SYSCALL_BIT")
    e(f"r2 = map[{_prog_array(abi)}] ll")
    e("call bpf_tail_call")
    e.raw("    ; fall-through: nothing injected into this syscall")
    e("r0 = 0x0")
    e("exit")


def plan(rules: Mapping[tuple[Abi, int], InjectSpec]) -> list[InjectSlot]:
    """Per ABI: its dispatcher, then one program per injected syscall, by number."""
    slots: list[InjectSlot] = []
    for abi in Abi:
        slots.append(InjectSlot(abi, _entry(abi), None, "dispatcher"))
        for nr in sorted(n for a, n in rules if a is abi):
            name = syscall_name(abi, normalize_nr(abi, nr))
            slots.append(InjectSlot(abi, f"inject_{abi.value}_{name}", nr, name,
                                    rules[(abi, nr)]))
    return slots


def _max_entries(slots: list[InjectSlot], abi: Abi) -> int:
    return max([s.nr for s in slots if s.abi is abi and s.nr is not None] + [0]) + 1


def generate_asm(rules: Mapping[tuple[Abi, int], InjectSpec],
                 slots: list[InjectSlot] | None = None) -> str:
    """All injections as one assembly file."""
    slots = plan(rules) if slots is None else slots
    e = _Emit()
    e.raw("; -e inject= / -e fault= compiled by trace-run")
    e.raw('.license "GPL"')
    for abi in Abi:
        e.raw(f".map {_prog_array(abi)} prog_array key=4 value=4"
              f" max_entries={_max_entries(slots, abi)}")
    e.raw(f".map {COUNTS} hash key=8 value=8 max_entries=65536")
    for s in slots:
        if s.nr is None:
            _dispatcher(e, s.abi)
        else:
            _syscall_program(e, s)
    return "\n".join(e.lines) + "\n"


@dataclass
class CompiledInjections:
    """The injections loaded into a VM: ``obj`` (programs, maps), ``entries`` the entry
    program of each ABI (``inject_dispatch``, ``inject_dispatch_i386``, ...)."""

    rules: dict[tuple[Abi, int], InjectSpec]
    asm: str
    obj: BpfObject
    slots: list[InjectSlot]
    entries: dict[Abi, str] = field(default_factory=dict)

    def entry(self, abi: Abi) -> Program:
        return self.obj.programs[self.entries[abi]]

    def listing(self) -> str:
        """Every program disassembled, with its slot (``--print-programs``)."""
        from bpf_vm import disassemble
        out: list[str] = []
        for s in self.slots:
            prog = self.obj.programs[s.program]
            if s.nr is None:
                what = f"entry program of the {s.abi.value} ABI"
            else:
                assert s.spec is not None
                what = (f"{_prog_array(s.abi)}[{s.nr}] = {s.abi.value} {s.name}:"
                        f" {s.spec.text or s.spec.describe()}")
            out.append(f"{s.program}: {what}, {len(prog.insns)} insns")
            lines = disassemble(prog.insns, map_name=self.obj.map_name, labels=True,
                                pcs=True)
            out += [f"  {line}" for line in lines]
            out.append("")
        return "\n".join(out)


def compile_injections(rules: Mapping[tuple[Abi, int], InjectSpec], vm: Any = None, *,
                       host: Any = None) -> CompiledInjections:
    """Assemble ``rules`` (keys: ABI and number within it, x32 without the x32 bit) and
    load them into ``vm`` (a new VM with ``host`` by default), prog arrays filled."""
    from bpf_vm import Vm, load_asm, set_prog_slot

    if vm is None:
        vm = Vm(host=host)
    rules = dict(rules)
    slots = plan(rules)
    text = generate_asm(rules, slots)
    obj = load_asm(text, vm, name="inject", populate=False)
    obj.prog_arrays = {}
    for s in slots:
        if s.nr is None:
            continue
        mname = _prog_array(s.abi)
        set_prog_slot(obj.maps[mname], s.nr, obj.programs[s.program])
        obj.prog_arrays.setdefault(mname, {})[s.nr] = s.program
    return CompiledInjections(rules, text, obj, slots, {abi: _entry(abi) for abi in Abi})
