"""Load BPF object files as clang builds them for ``-target bpf``, the way libbpf does.

What an object holds and what becomes of it:

* programs: every function symbol of an executable section other than ``.text`` is one
  program, named after the function (libbpf's convention, several per section allowed);
  its section name says its type and attach point (:mod:`bpf_vm.sections`);
* subprograms: functions in ``.text``.  A call (``call`` with src=BPF_PSEUDO_CALL, through
  an R_BPF_64_32 relocation or pc-relative within a section) or a function pointer
  (``ld_imm64`` with an R_BPF_64_64 relocation against code: a bpf_loop callback) makes
  the loader append the callee to the caller's program and fix the offset, recursively,
  as libbpf's ``bpf_object__reloc_code`` does;
* maps: BTF-defined (``.maps``, read from ``.BTF`` with :mod:`bpf_vm.btf`) and legacy
  (``maps``, ``struct bpf_map_def``); global data (``.data*``, ``.rodata*`` read-only,
  ``.bss*``) become one-entry ARRAY maps holding the section, as libbpf's internal maps;
* ``ld_imm64`` relocations against a map become BPF_PSEUDO_MAP_IDX (imm = index into the
  object's map list, which is every program's ``maps``), against global data
  BPF_PSEUDO_MAP_IDX_VALUE with the offset (symbol value + the addend clang left in imm)
  in the second imm;
* ``license`` and ``version``; ``.BTF.ext``, ``.eh_frame``, ``.debug_*``,
  ``.llvm_addrsig`` and other non-allocated sections are ignored;
* prog arrays are filled as the kernel's own loaders do (see :mod:`bpf_vm.objfile`).

Anything malformed or unsupported raises :class:`ElfLoadError` naming the section, symbol
or relocation: a loader must never fail with a Python traceback.

The work is done in three modules, one job each: :mod:`bpf_vm.elf_read` (the ELF file:
header, sections, symbols, relocation entries, code), :mod:`bpf_vm.elf_maps` (map
definitions and global data) and :mod:`bpf_vm.elf_link` (relocating code and linking
programs); this module puts them together.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .btf import Btf
from .core_reloc import CoreResult, apply_core_relos, parse_core_relos
from .elf_link import Linker
from .elf_maps import ObjectMaps
from .elf_read import PARSE_ERRORS, Code, ElfReader, Func
from .errors import BpfError, ElfLoadError
from .insn import Insn
from .objfile import BpfObject, MapDef, SyscallResolver, build_object

if TYPE_CHECKING:
    from .vm import Vm


class ParsedObject:
    """One object read and relocated, nothing created in a VM yet: its sections and
    symbols (:attr:`reader`), its maps (:attr:`defs`) and its programs
    (:meth:`entries`, :meth:`link`)."""

    def __init__(self, data: bytes, name: str) -> None:
        self.reader = ElfReader(data, name)
        self.defs = ObjectMaps(self.reader)
        self.linker = Linker(self.reader, self.defs)
        self.core = CoreResult()

    def load(self) -> None:
        from .globals_set import fixup_datasecs
        self.reader.read()
        fixup_datasecs(self.reader)
        self.core = self._relocate_core()
        self.defs.read()
        sections, code = self.reader.sections, self.reader.code
        for sec in sections:
            if sec["sh_type"] == "SHT_RELA" and sec["sh_info"] in code:
                raise ElfLoadError(f"section '{sec.name}': RELA relocations are not used by"
                                   " BPF (clang emits REL); unsupported")
            if sec["sh_type"] != "SHT_REL":
                continue
            target = sec["sh_info"]
            if target in code:
                self.linker.relocate_code(sec, code[target])
            elif 0 <= target < len(sections) and sections[target].name == ".maps":
                self.defs.relocate_values(sec)
            # relocations of debug info, BTF, .eh_frame...: not ours to apply

    def _relocate_core(self) -> CoreResult:
        """CO-RE relocations against the target BTF, before anything else reads the
        code (libbpf's bpf_object__relocate_core)."""
        ext = self.reader.btf_ext
        if not ext:
            return CoreResult()
        btf = self.reader.btf
        relos = parse_core_relos(ext, btf.strings if btf is not None else b"")
        if relos and btf is None:
            raise ElfLoadError("section '.BTF.ext' holds CO-RE relocations but the object"
                               " has no .BTF")
        if not relos or btf is None:
            return CoreResult()
        code = {c.name: c.insns for c in self.reader.code.values()}
        return apply_core_relos(relos, btf, code)

    @property
    def name(self) -> str:
        return self.reader.name

    @property
    def license(self) -> str:
        return self.reader.license

    @property
    def version(self) -> int | None:
        return self.reader.version

    @property
    def btf(self) -> Btf | None:
        return self.reader.btf

    @property
    def code(self) -> dict[int, Code]:
        return self.reader.code

    @property
    def maps(self) -> list[MapDef]:
        return self.defs.maps

    def entries(self) -> list[Func]:
        """Programs: functions of executable sections other than .text, section order."""
        return self.linker.entries()

    def link(self, entry: Func) -> tuple[list[Insn | None], dict[int, str]]:
        """The entry function linked with every subprogram it reaches."""
        return self.linker.link(entry)


def read_source(path_or_bytes: str | os.PathLike[str] | bytes | bytearray,
                name: str | None) -> tuple[bytes, str]:
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return bytes(path_or_bytes), name or "object"
    p = Path(path_or_bytes)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ElfLoadError(f"{p}: {exc.strerror or exc}") from None
    return data, name or p.name.split(".")[0]


def parse_object(path_or_bytes: str | os.PathLike[str] | bytes | bytearray, *,
                 name: str | None = None) -> ParsedObject:
    """Read and relocate an object without creating anything in a VM."""
    data, oname = read_source(path_or_bytes, name)
    loader = ParsedObject(data, oname)
    try:
        loader.load()
    except BpfError:
        raise
    except PARSE_ERRORS as exc:   # pyelftools' own failures on bad input
        raise ElfLoadError(f"{oname}: malformed object: {type(exc).__name__}: {exc}") from None
    return loader


def set_globals(loader: ParsedObject, values: Mapping[str, int | bytes | str]) -> None:
    """Give global variables initial values before their maps exist, as a libbpf
    skeleton does between open and load (see :meth:`ObjectMaps.set_globals`); a str
    value is read by the variable's BTF type (:mod:`bpf_vm.globals_set`)."""
    from .globals_set import resolve_settings
    loader.defs.set_globals(resolve_settings(loader, values))


def load_object(path_or_bytes: str | os.PathLike[str] | bytes | bytearray, vm: Vm, *,
                name: str | None = None, populate: bool = True,
                variables: Mapping[str, int | bytes | str] | None = None,
                syscall_number: SyscallResolver | None = None) -> BpfObject:
    """Load an object file into ``vm``: its maps are created and registered, its
    programs linked and relocated, its prog arrays filled (unless ``populate=False``).
    ``variables`` sets global variables (``const volatile`` ones too) before that
    (``str`` values as ``--set`` reads them, by BTF type);
    ``syscall_number`` numbers the ``ksyscall/<name>`` sections (see
    :mod:`bpf_vm.objfile`)."""
    loader = parse_object(path_or_bytes, name=name)
    if variables:
        set_globals(loader, variables)
    progs: list[tuple[str, str, list[Insn | None], dict[int, str]]] = []
    for f in loader.entries():
        insns, names = loader.link(f)
        progs.append((f.name, loader.code[f.sec].name, insns, names))
    prog_values = [(m_idx, slot, sym.name) for m_idx, slot, sym in loader.defs.values_relocs]
    obj = build_object(vm, name=loader.name, maps=loader.maps, programs=progs,
                       license=loader.license, version=loader.version, btf=loader.btf,
                       declared_slots=prog_values, populate=populate,
                       syscall_number=syscall_number)
    obj.warnings.extend(msg for _sec, _idx, msg in loader.core.poisoned)
    return obj


def object_summary(loader: ParsedObject) -> dict[str, Any]:
    """What an object contains, for diagnostics: sections, functions and maps."""
    text = loader.reader.text_idx
    return {
        "programs": [(f.name, loader.code[f.sec].name) for f in loader.entries()],
        "subprograms": [f.name for f in (loader.code[text].funcs if text is not None
                                         else [])],
        "maps": [m.name for m in loader.maps],
        "license": loader.license,
        "version": loader.version,
    }


__all__ = [
    "ParsedObject",
    "load_object",
    "object_summary",
    "parse_object",
    "read_source",
    "set_globals",
]
