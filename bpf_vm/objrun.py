"""Run one program of an object (``.o`` or ``.s`` with declarations) on its context.

This is ``bpf-vm run OBJECT.o`` and ``bpf-vm disasm OBJECT.o`` without the CLI: load the
object with its maps and prog arrays set up as its loader conventions say, build the
context the program's section asks for from ``name=value`` register settings (a
168-byte x86_64 ``struct pt_regs`` for kprobes; a tracepoint record, raw tracepoint
arguments or a syscall wrapper's pt_regs for those sections: :func:`section_ctx`), run,
and collect what the program produced (r0, trace_printk lines, ring-buffer records, maps).

The context is read-only, as a kprobe program's pt_regs is to the verifier.  The host is
:class:`~bpf_vm.host.ProcessHost` unless another is given: pid, comm and clocks are this
process's, the tracee's memory is what ``user_mem`` says (``--user-mem ADDR=HEX``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BpfError, ElfLoadError
from .pt_regs import FIELDS as PT_REGS_FIELDS
from .pt_regs import SIZE as PT_REGS_SIZE
from .pt_regs import STRUCT as PT_REGS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .btf_output import RecordLines
    from .engine.loops import StepHook
    from .objfile import BpfObject, SyscallResolver
    from .program import Program
    from .verifier import Verdict
    from .vm import RunResult, Vm

    VerifierLogHook = Callable[[Program, Verdict], None]

#: user_regs_struct / register names people also type
_ALIASES = {"rbp": "bp", "rbx": "bx", "rax": "ax", "rcx": "cx", "rdx": "dx", "rsi": "si",
            "rdi": "di", "orig_rax": "orig_ax", "rip": "ip", "eflags": "flags", "rsp": "sp",
            "nr": "orig_ax"}
M64 = (1 << 64) - 1


class RegsError(BpfError):
    """A ``--regs`` setting that names no pt_regs field or has no number."""


def parse_regs(specs: str | list[str] | None) -> dict[str, int]:
    """``"orig_ax=257,di=0x1000"`` (or several such strings) -> {field: value}.  Field
    names are the kernel's (``orig_ax``, ``di``) or user_regs_struct's (``orig_rax``,
    ``rdi``); values any Python integer literal, negative ones as two's complement."""
    if specs is None:
        return {}
    items = [specs] if isinstance(specs, str) else specs
    out: dict[str, int] = {}
    for spec in items:
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, value = part.partition("=")
            name = _ALIASES.get(name.strip(), name.strip())
            if not sep or name not in PT_REGS_FIELDS:
                raise RegsError(f"--regs {part!r}: expected FIELD=VALUE with FIELD one of"
                                f" {', '.join(PT_REGS_FIELDS)}")
            try:
                out[name] = int(value.strip(), 0) & M64
            except ValueError:
                raise RegsError(f"--regs {part!r}: {value.strip()!r} is not a number") from None
    return out


def pt_regs(values: dict[str, int] | None = None) -> bytes:
    """168 pt_regs bytes with the given fields set and the rest zero."""
    v = values or {}
    return PT_REGS.pack(*(v.get(f, 0) & M64 for f in PT_REGS_FIELDS))


def load_any(path: str | Path, vm: Vm, *, populate: bool = True,
             syscall_number: SyscallResolver | None = None,
             variables: Mapping[str, int | bytes | str] | None = None) -> BpfObject:
    """An ELF object (by its magic) or an assembly file with declarations.
    ``syscall_number`` numbers ``ksyscall/<name>`` sections (:mod:`bpf_vm.objfile`);
    ``variables`` sets globals before load (``--set``: :mod:`bpf_vm.globals_set`)."""
    from .elf import load_object
    from .objfile import load_asm
    p = Path(path)
    try:
        with p.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ElfLoadError(f"{p}: {exc.strerror or exc}") from None
    if magic == b"\x7fELF":
        return load_object(p, vm, populate=populate, syscall_number=syscall_number,
                           variables=variables)
    if p.suffix == ".o":
        raise ElfLoadError(f"{p}: not an ELF object (starts with {magic!r})")
    if variables:
        raise ElfLoadError(f"{p}: globals can be set only in an ELF object with BTF")
    return load_asm(p, vm, populate=populate, syscall_number=syscall_number)


@dataclass
class ObjRun:
    """What one run produced.  ``printk`` holds trace_pipe lines, ``ringbuf`` (map name,
    record) pairs in submission order, ``maps`` each map's entries as hex strings,
    ``records`` the ring-buffer and perf records decoded through BTF, in order."""
    program: str
    r0: int
    insns: int
    tail_calls: int
    printk: list[str] = field(default_factory=list)
    ringbuf: list[tuple[str, bytes]] = field(default_factory=list)
    perf: list[tuple[str, int, bytes]] = field(default_factory=list)
    maps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    signals: list[tuple[int, bool]] = field(default_factory=list)
    override: int | None = None
    records: list[RecordLines] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object: exactly r0, printk, ringbuf, maps, insns, tail_calls."""
        return {"r0": self.r0, "printk": list(self.printk),
                "ringbuf": [data.hex() for _, data in self.ringbuf],
                "maps": self.maps, "insns": self.insns, "tail_calls": self.tail_calls}


def dump_maps(obj: BpfObject) -> dict[str, list[dict[str, Any]]]:
    """Every map's entries as ``{"key": hex, "value": hex}`` (prog arrays: the program
    ids bpf(2) would report; ring buffers and perf arrays have no entries to show),
    with bpftool's ``"formatted"`` member when the map's BTF types are known
    (:mod:`bpf_vm.btf_output`)."""
    from .btf_output import add_formatted
    out: dict[str, list[dict[str, Any]]] = {}
    for name, m in obj.maps.items():
        try:
            out[name] = list(m.dump_hex())
        except BpfError:
            out[name] = []    # ring buffers refuse lookups (ENOTSUPP), as in the kernel
        add_formatted(obj, name, out[name])
    return out


_ARG_FIELDS = ("di", "si", "dx", "r10", "r8", "r9")   # x86-64 syscall argument registers


def section_ctx(obj: BpfObject, program: Program, regs: dict[str, int] | None = None
                ) -> bytes:
    """The context ``program``'s section asks for (:mod:`bpf_vm.attach_ctx`), built
    from ``regs`` read as the user registers of a syscall: ``orig_ax`` the number,
    ``di``..``r9`` the arguments, ``ax`` the return value (exit programs).  A syscall
    tracepoint's record holds all six arguments (the VM knows no syscall's arity); what
    a context points to (the user pt_regs, seccomp_data) is placed in the VM's kernel
    memory.  Any other section, and a program the loader put into a prog array (a
    tail-call target, run by a dispatcher on the user registers), gets the pt_regs of
    ``regs`` itself."""
    from .attach_ctx import CtxKind, SyscallEvent, build_ctx, syscall_attach
    from .sections import section_info
    user = pt_regs(regs)
    sa = syscall_attach(section_info(program.section))
    if sa is None or sa.kind in (CtxKind.PT_REGS, CtxKind.PT_REGS_EXIT) or any(
            program.name in slots.values() for slots in obj.prog_arrays.values()):
        return user
    v = regs or {}
    try:
        tid = obj.vm.host.pid_tgid()[1]
    except (AttributeError, BpfError):
        tid = 0
    ev = SyscallEvent(v.get("orig_ax", 0), [v.get(f, 0) for f in _ARG_FIELDS], user,
                      v.get("ax", 0), tid, ip=v.get("ip", 0))
    return build_ctx(sa.kind, ev, obj.vm.kernel_mem)


def run_program(obj: BpfObject, prog: str | None = None, *,
                regs: dict[str, int] | None = None, trace: StepHook | None = None,
                budget: int | None = None, collect_maps: bool = True,
                record_types: Mapping[str, str] | None = None,
                source: str | Path | None = None) -> ObjRun:
    """Run one program of a loaded object once on the context its section asks for,
    built from ``regs`` (:func:`section_ctx`; a pt_regs for kprobes).
    ``record_types`` (``--record-type MAP=TYPE``) types ring-buffer and perf records,
    looked up in the object's BTF and in the DWARF of ``source``, its file
    (:class:`bpf_vm.btf_output.RecordDecoder`)."""
    from .btf_output import RecordDecoder
    from .effects import PerfRecord, RingbufRecord
    decoder = RecordDecoder.for_object(obj, record_types, source=source)
    program = obj.program(prog)
    res: RunResult = obj.vm.run(program, section_ctx(obj, program, regs), ctx_writable=False,
                                trace=trace, budget=budget)
    eff = res.effects
    run = ObjRun(program.name, res.r0, res.insns, res.tail_calls, list(eff.printk),
                 list(eff.ringbuf), list(eff.perf), signals=list(eff.signals),
                 override=eff.override)
    run.records = [decoder.render(o) for o in eff.output
                   if isinstance(o, (RingbufRecord, PerfRecord))]
    if collect_maps:
        run.maps = dump_maps(obj)
    return run


def run_object(path: str | Path, prog: str | None = None, *,
               regs: dict[str, int] | None = None, user_mem: dict[int, bytes] | None = None,
               trace: StepHook | None = None, budget: int | None = None,
               host: Any = None, tail_call_counting: str = "jit", verify: bool = True,
               verifier_log: VerifierLogHook | None = None,
               variables: Mapping[str, int | bytes | str] | None = None,
               record_types: Mapping[str, str] | None = None) -> ObjRun:
    """Load ``path`` into a fresh VM and run one program: ``bpf-vm run OBJECT.o``.
    ``ksyscall/<name>`` sections are numbered by the installed extension's table.

    Every program of the object is loaded as libbpf's bpf_object__load does, through
    :func:`bpf_vm.load.prog_load`: verified (``verify=False``: not), the first
    refused one raising :class:`~bpf_vm.verifier.VerifierRefused`.  ``verifier_log``
    is given each accepted program with its level-2 verdict (every state), in load
    order, before the run.  ``variables``: globals set before load (``--set``);
    ``record_types``: see :func:`run_program`."""
    from .extension import syscall_number
    from .host import ProcessHost
    from .load import prog_load, verify_program
    from .vm import DEFAULT_BUDGET, Vm
    vm = Vm(host=host if host is not None else ProcessHost(user_mem or {}),
            budget=budget or DEFAULT_BUDGET, tail_call_counting=tail_call_counting)
    obj = load_any(path, vm, syscall_number=syscall_number, variables=variables)
    for program in obj.programs.values():
        prog_load(vm, program, verify=verify)
        if verify and verifier_log is not None:
            verifier_log(program, verify_program(program, vm=vm, log_level=2))
    return run_program(obj, prog, regs=regs, trace=trace, record_types=record_types,
                       source=path)


def format_run(run: ObjRun, *, show_maps: bool = False) -> str:
    """The human-readable report of ``bpf-vm run OBJECT.o``."""
    import json
    lines = [f"r0 = {run.r0:#x} ({_signed(run.r0)})",
             f"program {run.program}: {run.insns} instructions, {run.tail_calls} tail calls"]
    for line in run.printk:
        lines.append(f"printk: {line}")
    if run.records:
        for rec in run.records:
            if rec.note:
                lines.append(f"note: {rec.note}")
            lines.append(f"{rec.kind} {rec.text}")
    else:
        for name, data in run.ringbuf:
            lines.append(f"ringbuf {name}: {data.hex()}")
        for name, slot, data in run.perf:
            lines.append(f"perf {name}[{slot}]: {data.hex()}")
    for sig, thread in run.signals:
        lines.append(f"signal {sig}{' (thread)' if thread else ''}")
    if run.override is not None:
        lines.append(f"override_return {_signed(run.override)}")
    if show_maps:
        for name, entries in run.maps.items():
            lines.append(f"map {name}: {len(entries)} entries")
            for e in entries:
                lines.append(f"  {e['key']}: {e['value']}")
                if "formatted" in e:
                    lines.append(f"    = {json.dumps(e['formatted'])}")
    return "\n".join(lines) + "\n"


def _signed(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def disasm_object(path: str | Path, prog: str | None = None) -> str:
    """Every program of an object as llvm-objdump lays it out (section header, function
    label, pc, bytes, text), after loading: calls point into the appended subprograms,
    map references print as ``map[name]`` and helpers by name.  (Global-data maps are
    named by section, ``map[.rodata][0]+0x42``, which ``bpf-vm asm`` cannot declare, so
    this listing is for reading, not for reassembly.)"""
    from .disasm import format_insn
    from .extension import syscall_number
    from .vm import Vm
    obj = load_any(path, Vm(), populate=False, syscall_number=syscall_number)
    progs = [obj.program(prog)] if prog is not None else list(obj.programs.values())
    out: list[str] = []
    for p in progs:
        out.append(f"Disassembly of program {p.name} (section {p.section}):\n")
        for pc, insn in enumerate(p.insns):
            if pc in p.func_names:
                out.append(f"\n{p.func_names[pc]}:\n")
            if insn is None:
                continue
            text = format_insn(insn, pc, map_name=obj.map_name)
            out.append(f"{pc:>6}:\t{insn.encode().hex(' ')}\t{text}\n")
        out.append("\n")
    return "".join(out)


__all__ = [
    "PT_REGS_FIELDS",
    "PT_REGS_SIZE",
    "ObjRun",
    "RegsError",
    "disasm_object",
    "dump_maps",
    "format_run",
    "load_any",
    "parse_regs",
    "pt_regs",
    "run_object",
    "run_program",
    "section_ctx",
]
