"""A loaded BPF object: programs, maps and prog arrays set up in a VM.

Both front ends end here: :func:`bpf_vm.elf.load_object` (clang's ``.o``) and
:func:`load_asm` (an assembly file with ``.map``/``.prog`` declarations), so a ``.s``
probe and a ``.c`` probe run the same way.

Prog arrays are filled the way the kernel's own loaders fill them:

* libbpf's declarative form, ``.values = { [N] = &prog }`` in a BTF map definition;
* samples/bpf's bpf_load.c (tracex5): a program in section ``kprobe/<N>`` goes to index N;
* libbpf's ``ksyscall/<name>`` and ``kprobe/__x64_sys_<name>`` go to the x86_64 syscall
  number of ``<name>``.  The VM knows no syscall table: the caller passes a resolver
  (``syscall_number``, name -> number or None; trace-run's is
  ``probes.abi.x86_64_syscall_number``).

The conventions by section name need a target: the object's one prog array, or, when it
has several, the one prog array that does not list its contents with ``.values`` (a
probe with one table per syscall ABI numbers the x86_64 one by section names and fills
the i386 and x32 ones declaratively, ``.values = { [__NR_ia32_write] = &prog }``).
Otherwise which one is meant is a guess, and we don't guess: a warning says they were
skipped.  Return probes (``kretprobe``, ``kretsyscall``) are never slots.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BpfError, ElfLoadError
from .insn import Insn
from .isa import CallKind, Kind
from .program import Program
from .sections import SectionInfo, section_info

if TYPE_CHECKING:
    from .btf import Btf, BtfMapDef
    from .vm import Vm

MAP_TYPE_PROG_ARRAY = 3
X64_SYSCALL_PREFIX = "__x64_sys_"


@dataclass
class MapDef:
    """A map as the object defines it, before it exists in a VM.  ``initial`` is the
    value of entry 0 of a global-data map (the section's bytes)."""
    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    btf_def: BtfMapDef | None = None
    section: str = ""
    offset: int = 0
    initial: bytes | None = None
    internal: bool = False
    readonly: bool = False


@dataclass(eq=False)
class BpfObject:
    """Programs keyed by function name (section order), maps keyed by name (definition
    order; global-data maps by section name: ``.rodata``, ``.data``, ``.bss``,
    ``.rodata.str1.1``), and ``prog_arrays``: map name -> {index: program name}, what
    the loader put in each prog array and why it was allowed."""
    name: str
    vm: Vm
    programs: dict[str, Program]
    maps: dict[str, Any]
    map_defs: dict[str, MapDef]
    license: str
    version: int | None = None
    prog_arrays: dict[str, dict[int, str]] = field(default_factory=dict)
    btf: Btf | None = None
    warnings: list[str] = field(default_factory=list)

    def program(self, name: str | None = None) -> Program:
        """A program by function name; the first program without one."""
        if not self.programs:
            raise ElfLoadError(f"{self.name}: the object has no programs")
        if name is None:
            return next(iter(self.programs.values()))
        try:
            return self.programs[name]
        except KeyError:
            raise ElfLoadError(f"{self.name}: no program '{name}' (programs:"
                               f" {', '.join(self.programs)})") from None

    def map_name(self, kind: str, num: int) -> str | None:
        """A :mod:`bpf_vm.disasm` ``map_name`` callback for this object's programs."""
        if kind == "idx" and 0 <= num < len(self.maps):
            return list(self.maps)[num]
        if kind == "fd":
            m = self.vm.map_by_fd(num)
            return getattr(m, "name", None) if m is not None else None
        return None


# -- map creation (through bpf_vm.maps) --------------------------------------------------

CPU_POSSIBLE = "/sys/devices/system/cpu/possible"


def parse_cpu_list(text: str) -> int:
    """The number of CPUs in a kernel CPU list ("0-3,5,7-8"), as libbpf's
    parse_cpu_mask_str counts them.  Raises ValueError for a malformed list."""
    n = 0
    for part in text.strip().split(","):
        lo, sep, hi = part.partition("-")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first:
            raise ValueError(f"bad CPU range {part!r}")
        n += last - first + 1
    return n


def possible_cpus(path: str = CPU_POSSIBLE) -> int:
    """libbpf_num_possible_cpus(): the CPUs of /sys/devices/system/cpu/possible (the
    size libbpf gives a PERF_EVENT_ARRAY defined without max_entries); os.cpu_count()
    when that file cannot be read."""
    import os
    try:
        with open(path) as f:
            return parse_cpu_list(f.read())
    except (OSError, ValueError):
        return os.cpu_count() or 1


def create_map(d: MapDef, vm: Vm) -> Any:
    """Create one map in ``vm`` from its definition and, for global data, store the
    section's bytes as entry 0."""
    from . import maps as M
    try:
        mtype = M.MapType(d.type)
    except ValueError:
        raise ElfLoadError(f"map '{d.name}': map type {d.type} is unknown") from None
    if mtype is M.MapType.PERF_EVENT_ARRAY and d.max_entries == 0:
        d.max_entries = possible_cpus()     # libbpf: "setting size to <nr_cpus>"
    try:
        spec = M.MapSpec(name=d.name, type=mtype, key_size=d.key_size,
                         value_size=d.value_size, max_entries=d.max_entries, flags=d.flags)
        m = M.create_map(spec, vm)
        if d.initial is not None:
            m.update(0, d.initial, 0)
    except BpfError as exc:
        where = f"section '{d.section}'" if d.internal else f"map '{d.name}'"
        raise ElfLoadError(f"{where}: {exc}") from None
    if d.readonly and hasattr(m, "freeze"):
        m.freeze()      # libbpf freezes .rodata: user space can no longer change it
    vm.register_map(m)
    return m


def set_prog_slot(m: Any, index: int, prog: Program) -> None:
    """Put ``prog`` at ``index`` of prog array ``m`` (the user-space BPF_MAP_UPDATE_ELEM)."""
    m.update(index, prog)


# -- prog-array population ---------------------------------------------------------------

SyscallResolver = Callable[[str], "int | None"]
"""Name -> x86_64 syscall number (None: no such syscall), for ``ksyscall/<name>``."""


def _syscall_nr(name: str, section: str, resolve: SyscallResolver | None) -> int:
    if resolve is None:
        raise ElfLoadError(f"section '{section}': numbering syscall '{name}' needs a syscall"
                           " table, and the loader was given none (syscall_number=)")
    try:
        nr = resolve(name)
    except LookupError as exc:
        raise ElfLoadError(f"section '{section}': numbering syscall '{name}': {exc}") from None
    if nr is None:
        raise ElfLoadError(f"section '{section}': '{name}' is not an x86_64 syscall")
    return nr


def convention_index(info: SectionInfo, syscall_number: SyscallResolver | None = None
                     ) -> tuple[int, str] | None:
    """(index, which convention) a program's section asks for, or None."""
    if info.is_return_probe:
        return None
    if info.kind == "kprobe" and info.target.isdigit():
        return int(info.target), "tracex5 kprobe/<N>"
    if info.kind == "ksyscall" and info.target:
        return _syscall_nr(info.target, info.section, syscall_number), "ksyscall/<name>"
    if info.kind == "kprobe" and info.target.startswith(X64_SYSCALL_PREFIX):
        return (_syscall_nr(info.target[len(X64_SYSCALL_PREFIX):], info.section,
                            syscall_number),
                "kprobe/__x64_sys_<name>")
    return None


def plan_prog_arrays(defs: list[MapDef], sections: dict[str, str],
                     declared: list[tuple[int, int, str]],
                     warnings: list[str], syscall_number: SyscallResolver | None = None
                     ) -> dict[str, dict[int, str]]:
    """Which program goes to which slot of which prog array.  ``sections`` is program
    name -> section, ``declared`` (map index, slot, program) from ``.values``."""
    plan: dict[str, dict[int, str]] = {}
    why: dict[tuple[str, int], str] = {}

    def put(d: MapDef, index: int, prog: str, reason: str) -> None:
        if not 0 <= index < d.max_entries:
            raise ElfLoadError(f"{reason}: index {index} of prog array '{d.name}' is out of"
                               f" range (max_entries {d.max_entries})")
        slots = plan.setdefault(d.name, {})
        old = slots.get(index)
        if old is not None and old != prog:
            raise ElfLoadError(f"prog array '{d.name}' slot {index}: both '{old}'"
                               f" ({why[(d.name, index)]}) and '{prog}' ({reason})")
        slots[index] = prog
        why[(d.name, index)] = reason

    for m_idx, slot, prog in declared:
        d = defs[m_idx]
        if d.type != MAP_TYPE_PROG_ARRAY:
            raise ElfLoadError(f".maps: map '{d.name}' initialises 'values' with programs but"
                               " is not a prog array")
        if prog not in sections:
            raise ElfLoadError(f".maps: map '{d.name}' slot {slot}: '{prog}' is not a program"
                               " of this object")
        put(d, slot, prog, f"map '{d.name}' .values[{slot}] = &{prog}")

    prog_arrays = [d for d in defs if d.type == MAP_TYPE_PROG_ARRAY]
    if len(prog_arrays) > 1:    # several: the conventions fill the one without .values
        listed = {defs[m_idx].name for m_idx, _, _ in declared}
        prog_arrays = [d for d in prog_arrays if d.name not in listed]
    wanted: list[tuple[str, str, int, str]] = []
    for prog, section in sections.items():
        info = section_info(section)
        try:
            got = convention_index(info, syscall_number)
        except ElfLoadError:
            if len(prog_arrays) == 1:
                raise
            continue   # nothing to dispatch into: a ksyscall name we can't number is fine
        if got is not None:
            wanted.append((prog, section, *got))
    if wanted and len(prog_arrays) != 1:
        names = ", ".join(d.name for d in prog_arrays) or "none"
        warnings.append(f"{len(wanted)} program(s) in numbered/syscall sections (e.g."
                        f" '{wanted[0][1]}') were not put in a prog array: the object has"
                        f" {len(prog_arrays)} prog arrays without .values ({names}), the"
                        " conventions need exactly one")
        return plan
    for prog, section, index, conv in wanted:
        put(prog_arrays[0], index, prog, f"section '{section}' ({conv})")
    return plan


# -- assembling the object ---------------------------------------------------------------

def build_object(vm: Vm, *, name: str, maps: list[MapDef],
                 programs: list[tuple[str, str, list[Insn | None], dict[int, str]]],
                 license: str, version: int | None = None, btf: Btf | None = None,
                 declared_slots: list[tuple[int, int, str]] | None = None,
                 populate: bool = True, meta: dict[str, Any] | None = None,
                 syscall_number: SyscallResolver | None = None) -> BpfObject:
    """Create the maps in ``vm``, make one :class:`Program` per entry (sharing the
    object's map list as their fd_array) and fill the prog arrays."""
    names = [p[0] for p in programs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ElfLoadError(f"{name}: program name(s) defined twice: {', '.join(sorted(dup))}")
    created = {d.name: create_map(d, vm) for d in maps}
    fd_array = list(created.values())
    progs: dict[str, Program] = {}
    for pname, section, insns, func_names in programs:
        info = section_info(section)
        pmeta = {"object": name, "section": section, "kind": info.kind,
                 "attach_target": info.target,
                 "prog_type": info.prog_type.name.lower() if info.prog_type else None,
                 "prog_type_id": int(info.prog_type) if info.prog_type else 0,
                 **(meta or {})}
        try:
            progs[pname] = Program(insns, name=pname, section=section, license=license,
                                   maps=fd_array, func_names=func_names, meta=pmeta)
        except BpfError as exc:
            raise ElfLoadError(f"section '{section}': program '{pname}': {exc}") from None
    obj = BpfObject(name, vm, progs, created, {d.name: d for d in maps}, license, version,
                    btf=btf)
    plan = plan_prog_arrays(maps, {p: s for p, s, _, _ in programs}, declared_slots or [],
                            obj.warnings, syscall_number)
    obj.prog_arrays = plan
    if populate:
        for mname, slots in plan.items():
            for index, pname in sorted(slots.items()):
                try:
                    set_prog_slot(created[mname], index, progs[pname])
                except BpfError as exc:
                    raise ElfLoadError(f"prog array '{mname}' slot {index} = '{pname}':"
                                       f" {exc}") from None
    return obj


def _call_targets(insns: list[Insn | None]) -> set[int]:
    out = set()
    for pc, insn in enumerate(insns):
        if insn is not None and insn.kind is Kind.CALL and insn.src == CallKind.LOCAL:
            out.add(pc + 1 + insn.imm)
    return out


def load_asm(text_or_path: str | os.PathLike[str], vm: Vm, *, name: str | None = None,
             populate: bool = True, syscall_number: SyscallResolver | None = None
             ) -> BpfObject:
    """Assemble a file with ``.map``/``.prog`` declarations into a :class:`BpfObject`.

    A ``PathLike``, or a one-line string naming an existing file, is read; any other
    string is the assembly text.  A file without ``.license`` counts as GPL, as programs
    run from ``.s`` files always have."""
    from .asm import assemble
    source = "<asm>"
    if isinstance(text_or_path, os.PathLike) or ("\n" not in text_or_path
                                                  and Path(text_or_path).is_file()):
        path = Path(text_or_path)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ElfLoadError(f"{path}: {exc}") from None
        source = str(path)
        oname = name or path.name.split(".")[0]
    else:
        text = str(text_or_path)
        oname = name or "asm"
    result = assemble(text, source=source)
    defs = [MapDef(d.name, d.type_id, d.key_size, d.value_size, d.max_entries, d.flags)
            for d in result.maps]
    programs = []
    for p in result.programs:
        calls = _call_targets(p.insns)
        func_names = {0: p.name}
        for label, pc in p.labels.items():
            if pc in calls and pc != 0:
                func_names[pc] = label
        section = p.section
        if len(section) >= 2 and section[0] == section[-1] == '"':
            section = section[1:-1]     # `.prog NAME "kprobe/x"`: names with '/' are quoted
        programs.append((p.name, section, p.insns, func_names))
    license = result.license if result.license is not None else "GPL"
    return build_object(vm, name=oname, maps=defs, programs=programs, license=license,
                        populate=populate, meta={"source": source},
                        syscall_number=syscall_number)


__all__ = [
    "BpfObject",
    "MapDef",
    "SyscallResolver",
    "build_object",
    "convention_index",
    "create_map",
    "load_asm",
    "plan_prog_arrays",
    "possible_cpus",
]
