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
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import Section, SymbolTableSection

from .btf import Btf, btf_ext_core_relo_len, map_vars, parse_btf, parse_map_def
from .errors import BpfError, ElfLoadError, InvalidInstruction
from .insn import INSN_SIZE, Insn, decode
from .isa import LD_IMM64, CallKind, Kind, Pseudo
from .objfile import BpfObject, MapDef, SyscallResolver, build_object, load_asm

if TYPE_CHECKING:
    from .vm import Vm

EM_BPF = 247
SHF_EXECINSTR = 0x4
SHF_WRITE = 0x1
SHN_UNDEF = 0

# Relocation types (llvm/include/llvm/BinaryFormat/ELFRelocs/BPF.def)
R_BPF_NONE = 0
R_BPF_64_64 = 1          # ld_imm64: map, global data or function address
R_BPF_64_ABS64 = 2       # data: .maps .values initialisers, debug info
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4
R_BPF_64_32 = 10         # call: imm = (S + A) / 8 - 1 once linked
RELOC_NAMES = {R_BPF_NONE: "R_BPF_NONE", R_BPF_64_64: "R_BPF_64_64",
               R_BPF_64_ABS64: "R_BPF_64_ABS64", R_BPF_64_ABS32: "R_BPF_64_ABS32",
               R_BPF_64_NODYLD32: "R_BPF_64_NODYLD32", R_BPF_64_32: "R_BPF_64_32"}

MAX_NOBITS = 64 << 20    # a .bss larger than this is a corrupt header, not a program
BPF_MAP_DEF = struct.Struct("<5I")    # type, key_size, value_size, max_entries, map_flags
BPF_F_RDONLY_PROG = 1 << 7
MAP_TYPE_ARRAY = 2

_IGNORED_PREFIXES = (".debug", ".BTF.ext", ".eh_frame", ".llvm_addrsig", ".rel", ".rela",
                     ".note", ".comment", ".symtab", ".strtab", ".shstrtab")
_DATA_PREFIXES = (".data", ".rodata", ".bss")


@dataclass
class _Sym:
    name: str
    value: int
    size: int
    type: str         # STT_* as pyelftools names it
    bind: str
    shndx: int


@dataclass
class _Func:
    """A function of an executable section: [start, end) in instruction slots."""
    name: str
    sec: int
    start: int
    end: int
    bind: str


@dataclass
class _Target:
    """Where a call or function pointer goes before linking: a section and an
    instruction slot in it."""
    sec: int
    idx: int


@dataclass
class _Code:
    """An executable section, decoded, with its relocated instructions."""
    idx: int
    name: str
    insns: list[Insn | None]
    funcs: list[_Func] = field(default_factory=list)
    targets: dict[int, _Target] = field(default_factory=dict)


#: What pyelftools raises on malformed input (it parses lazily, so anywhere).
_PARSE_ERRORS = (ELFError, struct.error, ValueError, ArithmeticError, IndexError, KeyError,
                 UnicodeDecodeError, AssertionError, OSError, EOFError)


def _safe_name(sec: Section) -> str:
    try:
        return repr(sec.name)
    except _PARSE_ERRORS:
        return "unnamed"


def _section_name(elf: ELFFile, idx: int) -> str:
    try:
        return elf.get_section(idx).name
    except _PARSE_ERRORS:
        return f"#{idx}"


class _Loader:
    """One pass over one object: sections, symbols, maps, code, relocations."""

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        try:
            self.elf = ELFFile(io.BytesIO(data))
            self.sections: list[Section] = list(self.elf.iter_sections())
        except _PARSE_ERRORS as exc:
            raise ElfLoadError(f"{name}: not a valid ELF file: {exc}") from None
        self.size = len(data)
        self._check_header()
        self._check_section_headers()
        self.symbols: list[_Sym] = []
        self.code: dict[int, _Code] = {}
        self.text_idx: int | None = None
        self.maps: list[MapDef] = []
        self.map_by_sym: dict[tuple[int, int], int] = {}     # (shndx, offset) -> map index
        self.data_map: dict[int, int] = {}                  # data shndx -> map index
        self.btf: Btf | None = None
        self.license = ""
        self.version: int | None = None
        self.values_relocs: list[tuple[int, int, _Sym]] = []   # (map idx, slot, symbol)

    # -- structure ------------------------------------------------------------------------

    def _check_header(self) -> None:
        h = self.elf.header
        if self.elf.elfclass != 64:
            raise ElfLoadError(f"{self.name}: ELF class {self.elf.elfclass}, expected 64-bit")
        if not self.elf.little_endian:
            raise ElfLoadError(f"{self.name}: big-endian object (bpfeb) is not supported")
        if h["e_machine"] not in ("EM_BPF", EM_BPF):
            raise ElfLoadError(f"{self.name}: machine {h['e_machine']} is not BPF"
                               f" (EM_BPF, {EM_BPF})")
        if h["e_type"] != "ET_REL":
            raise ElfLoadError(f"{self.name}: ELF type {h['e_type']}: expected a relocatable"
                               " object (ET_REL, clang -c)")

    def _check_section_headers(self) -> None:
        """Every section's bytes must lie inside the file: pyelftools reads lazily, so a
        bad offset would otherwise surface much later, as a seek error."""
        for idx, sec in enumerate(self.sections):
            if sec["sh_type"] in ("SHT_NOBITS", "SHT_NULL"):
                continue
            off, size = sec["sh_offset"], sec["sh_size"]
            if off + size > self.size:
                raise ElfLoadError(f"{self.name}: section #{idx} ({_safe_name(sec)}) at offset"
                                   f" {off}, size {size}, extends past the end of the file"
                                   f" ({self.size} bytes)")

    def _data(self, sec: Section) -> bytes:
        try:
            if sec["sh_type"] == "SHT_NOBITS":
                if sec["sh_size"] > MAX_NOBITS:
                    raise ElfLoadError(f"section '{sec.name}' of {sec['sh_size']} bytes: zero-"
                                       f"filled sections above {MAX_NOBITS} bytes are not"
                                       " supported")
                return bytes(sec["sh_size"])
            data = sec.data()
        except _PARSE_ERRORS as exc:
            raise ElfLoadError(f"section '{sec.name}': unreadable: {exc}") from None
        if len(data) != sec["sh_size"]:
            raise ElfLoadError(f"section '{sec.name}' is truncated: {len(data)} of"
                               f" {sec['sh_size']} bytes in the file")
        return data

    def load(self) -> None:
        self._read_symbols()
        for idx, sec in enumerate(self.sections):
            self._classify(idx, sec)
        for code in self.code.values():
            code.funcs = self._functions(code)
        self._read_btf_maps()
        self._read_legacy_maps()
        self._read_data_maps()
        for sec in self.sections:
            if sec["sh_type"] == "SHT_RELA" and sec["sh_info"] in self.code:
                raise ElfLoadError(f"section '{sec.name}': RELA relocations are not used by"
                                   " BPF (clang emits REL); unsupported")
            if sec["sh_type"] == "SHT_REL":
                self._relocate(sec)

    def _read_symbols(self) -> None:
        tabs = [s for s in self.sections if isinstance(s, SymbolTableSection)
                and s["sh_type"] == "SHT_SYMTAB"]
        if len(tabs) != 1:
            raise ElfLoadError(f"{self.name}: expected one .symtab, found {len(tabs)}")
        try:
            for s in tabs[0].iter_symbols():
                shndx = s["st_shndx"]
                self.symbols.append(_Sym(
                    s.name, s["st_value"], s["st_size"], s["st_info"]["type"],
                    s["st_info"]["bind"],
                    shndx if isinstance(shndx, int) else (0 if shndx == "SHN_UNDEF" else -1)))
        except _PARSE_ERRORS as exc:
            raise ElfLoadError(f"section '.symtab': unreadable: {exc}") from None

    def _classify(self, idx: int, sec: Section) -> None:
        name = sec.name
        flags = sec["sh_flags"]
        if name == "license":
            raw = self._data(sec)
            self.license = raw.split(b"\0", 1)[0].decode(errors="replace")
            return
        if name == "version":
            raw = self._data(sec)
            if len(raw) != 4:
                raise ElfLoadError(f"section 'version' has {len(raw)} bytes, expected 4")
            self.version = int.from_bytes(raw, "little")
            return
        if name == ".BTF":
            self.btf = parse_btf(self._data(sec))
            return
        if name == ".BTF.ext":
            if btf_ext_core_relo_len(self._data(sec)):
                raise ElfLoadError("section '.BTF.ext' holds CO-RE relocations"
                                   " (preserve_access_index / BPF_CORE_READ): they need the"
                                   " running kernel's BTF and are not supported")
            return
        if sec["sh_type"] == "SHT_PROGBITS" and flags & SHF_EXECINSTR:
            raw = self._data(sec)
            if len(raw) % INSN_SIZE:
                raise ElfLoadError(f"section '{name}': size {len(raw)} is not a multiple of"
                                   f" {INSN_SIZE}")
            try:
                insns = decode(raw)
            except InvalidInstruction as exc:
                raise ElfLoadError(f"section '{name}': instruction {exc.pc}: {exc.reason}"
                                   f" [{exc.raw.hex(' ')}]") from None
            self.code[idx] = _Code(idx, name, insns)
            if name == ".text":
                self.text_idx = idx

    def _functions(self, code: _Code) -> list[_Func]:
        syms = sorted((s for s in self.symbols if s.shndx == code.idx and s.type == "STT_FUNC"),
                      key=lambda s: s.value)
        n = len(code.insns)
        out: list[_Func] = []
        for i, s in enumerate(syms):
            if s.value % INSN_SIZE:
                raise ElfLoadError(f"section '{code.name}': function '{s.name}' starts at"
                                   f" byte {s.value}, not an instruction boundary")
            start = s.value // INSN_SIZE
            size = s.size or ((syms[i + 1].value if i + 1 < len(syms) else n * INSN_SIZE)
                              - s.value)
            end = start + size // INSN_SIZE
            if size % INSN_SIZE or end > n or start >= n:
                raise ElfLoadError(f"section '{code.name}': function '{s.name}' [{s.value},"
                                   f" +{size}) is not inside the section of {n * INSN_SIZE}"
                                   " bytes")
            out.append(_Func(s.name, code.idx, start, end, s.bind))
        return out

    # -- maps ------------------------------------------------------------------------------

    def _sym_in(self, shndx: int, name: str) -> _Sym | None:
        for s in self.symbols:
            if s.shndx == shndx and s.name == name and s.type != "STT_SECTION":
                return s
        return None

    def _add_map(self, m: MapDef, shndx: int | None, offset: int | None) -> int:
        if any(old.name == m.name for old in self.maps):
            raise ElfLoadError(f"map '{m.name}' is defined twice")
        self.maps.append(m)
        if shndx is not None and offset is not None:
            self.map_by_sym[(shndx, offset)] = len(self.maps) - 1
        return len(self.maps) - 1

    def _read_btf_maps(self) -> None:
        sec_idx = next((i for i, s in enumerate(self.sections) if s.name == ".maps"), None)
        if sec_idx is None:
            return
        if self.btf is None:
            raise ElfLoadError("section '.maps' needs BTF to be read, and the object has no"
                               " '.BTF' section (compile with -g)")
        size = self.sections[sec_idx]["sh_size"]
        for name, var_type, datasec_off in map_vars(self.btf, ".maps"):
            d = parse_map_def(self.btf, name, var_type)
            sym = self._sym_in(sec_idx, name)
            off = sym.value if sym is not None else datasec_off
            if off + d.var_size > size:
                raise ElfLoadError(f".maps: map '{name}' at offset {off} extends past the"
                                   f" section ({size} bytes)")
            for what in ("key_size", "value_size", "max_entries"):
                if getattr(d, what) is None:
                    setattr(d, what, 0)
            self._add_map(MapDef(name, d.type or 0, d.key_size or 0, d.value_size or 0,
                                 d.max_entries or 0, d.map_flags, btf_def=d,
                                 section=".maps", offset=off), sec_idx, off)

    def _read_legacy_maps(self) -> None:
        sec_idx = next((i for i, s in enumerate(self.sections) if s.name == "maps"), None)
        if sec_idx is None:
            return
        data = self._data(self.sections[sec_idx])
        syms = sorted((s for s in self.symbols if s.shndx == sec_idx
                       and s.type in ("STT_OBJECT", "STT_NOTYPE") and s.name),
                      key=lambda s: s.value)
        if not syms and data:
            raise ElfLoadError("section 'maps': no symbols name the map definitions in it")
        default_size = len(data) // len(syms) if syms else 0
        for s in syms:
            size = s.size or default_size
            raw = data[s.value:s.value + size]
            if s.value + size > len(data) or size < 4:
                raise ElfLoadError(f"section 'maps': map '{s.name}' at offset {s.value}, size"
                                   f" {size}, is outside the section ({len(data)} bytes)")
            extra = raw[BPF_MAP_DEF.size:]
            if any(extra):
                raise ElfLoadError(f"section 'maps': map '{s.name}' has {len(raw)} bytes of"
                                   " definition; fields after struct bpf_map_def's five are"
                                   " not supported")
            mtype, key_size, value_size, max_entries, flags = BPF_MAP_DEF.unpack(
                (raw + bytes(BPF_MAP_DEF.size))[:BPF_MAP_DEF.size])
            self._add_map(MapDef(s.name, mtype, key_size, value_size, max_entries, flags,
                                 section="maps", offset=s.value), sec_idx, s.value)

    def _read_data_maps(self) -> None:
        for idx, sec in enumerate(self.sections):
            name = sec.name
            if not any(name == p or name.startswith(p + ".") for p in _DATA_PREFIXES):
                continue
            if sec["sh_type"] not in ("SHT_PROGBITS", "SHT_NOBITS"):
                continue
            if name.startswith(".rel"):
                continue
            data = self._data(sec)
            if not data:
                continue      # libbpf skips empty sections: nothing can refer to them
            readonly = name.startswith(".rodata")
            flags = BPF_F_RDONLY_PROG if readonly else 0
            self.data_map[idx] = self._add_map(
                MapDef(name, MAP_TYPE_ARRAY, 4, len(data), 1, flags, initial=data,
                       section=name, internal=True, readonly=readonly), None, None)

    # -- relocations -----------------------------------------------------------------------

    def _relocate(self, rel: Section) -> None:
        target = rel["sh_info"]
        if target in self.code:
            self._relocate_code(rel, self.code[target])
        elif 0 <= target < len(self.sections) and self.sections[target].name == ".maps":
            self._relocate_maps(rel, target)
        # relocations of debug info, BTF, .eh_frame...: not ours to apply

    def _relocs(self, rel: Section) -> list[tuple[int, int, int, _Sym]]:
        """(number, offset, type, symbol) of each entry."""
        out = []
        if not isinstance(rel, RelocationSection):
            raise ElfLoadError(f"section '{rel.name}': not a relocation section")
        try:
            for i, r in enumerate(rel.iter_relocations()):
                sym_idx = r["r_info_sym"]
                if not 0 <= sym_idx < len(self.symbols):
                    raise ElfLoadError(f"section '{rel.name}': relocation #{i} refers to"
                                       f" symbol #{sym_idx}, which does not exist")
                out.append((i, r["r_offset"], r["r_info_type"], self.symbols[sym_idx]))
        except _PARSE_ERRORS as exc:
            raise ElfLoadError(f"section '{rel.name}': unreadable: {exc}") from None
        return out

    def _relocate_code(self, rel: Section, code: _Code) -> None:
        for i, offset, rtype, sym in self._relocs(rel):
            where = (f"section '{rel.name}': relocation #{i} ({RELOC_NAMES.get(rtype, rtype)}"
                     f" against '{sym.name or '?'}' at offset {offset})")
            if rtype == R_BPF_NONE:
                continue
            if rtype not in (R_BPF_64_64, R_BPF_64_32):
                raise ElfLoadError(f"{where}: relocation type {rtype} is not supported in code")
            if offset % INSN_SIZE or offset // INSN_SIZE >= len(code.insns):
                raise ElfLoadError(f"{where}: offset is not an instruction of"
                                   f" '{code.name}'")
            pc = offset // INSN_SIZE
            insn = code.insns[pc]
            if insn is None:
                raise ElfLoadError(f"{where}: offset is the second half of an ld_imm64")
            if sym.shndx == SHN_UNDEF:
                raise ElfLoadError(f"{where}: '{sym.name}' is undefined (extern symbols,"
                                   " kfuncs and ksyms are not supported)")
            if sym.shndx < 0 or sym.shndx >= len(self.sections):
                raise ElfLoadError(f"{where}: symbol in special section {sym.shndx}")
            if insn.kind is Kind.CALL:
                self._reloc_call(where, code, pc, insn, sym, rtype)
            elif insn.opcode == LD_IMM64:
                if rtype != R_BPF_64_64:
                    raise ElfLoadError(f"{where}: an ld_imm64 needs R_BPF_64_64")
                self._reloc_ld64(where, code, pc, insn, sym)
            else:
                raise ElfLoadError(f"{where}: instruction {pc} (opcode 0x{insn.opcode:02x}) is"
                                   " neither a call nor an ld_imm64")

    def _reloc_call(self, where: str, code: _Code, pc: int, insn: Insn, sym: _Sym,
                    rtype: int) -> None:
        if insn.src != CallKind.LOCAL:
            raise ElfLoadError(f"{where}: a relocated call must be a BPF-to-BPF call"
                               f" (src_reg {CallKind.LOCAL}), not src_reg {insn.src}")
        if rtype != R_BPF_64_32:
            raise ElfLoadError(f"{where}: a call needs R_BPF_64_32")
        if sym.shndx not in self.code:
            raise ElfLoadError(f"{where}: call target '{sym.name}' is in section"
                               f" '{_section_name(self.elf, sym.shndx)}', which is not code")
        if sym.value % INSN_SIZE:
            raise ElfLoadError(f"{where}: call target is not instruction-aligned")
        # global functions: imm = -1 against the function's symbol; static ones: against
        # the section symbol, imm = start - 1 (libbpf: sym_off / 8 + imm + 1)
        code.targets[pc] = _Target(sym.shndx, sym.value // INSN_SIZE + insn.imm + 1)

    def _reloc_ld64(self, where: str, code: _Code, pc: int, insn: Insn, sym: _Sym) -> None:
        shndx = sym.shndx
        if shndx in self.code:
            # a function's address (bpf_loop callback): byte offset = value + addend
            off = sym.value + insn.imm
            if off % INSN_SIZE:
                raise ElfLoadError(f"{where}: function address is not instruction-aligned")
            code.targets[pc] = _Target(shndx, off // INSN_SIZE)
            code.insns[pc] = replace(insn, src=Pseudo.FUNC, imm=0, imm_hi=0)
            return
        if shndx in self.data_map:
            m_idx = self.data_map[shndx]
            off = sym.value + insn.imm
            size = len(self.maps[m_idx].initial or b"")
            if not 0 <= off <= size:
                raise ElfLoadError(f"{where}: offset {off} is outside"
                                   f" '{self.maps[m_idx].name}' ({size} bytes)")
            code.insns[pc] = replace(insn, src=Pseudo.MAP_IDX_VALUE, imm=m_idx, imm_hi=off)
            return
        if (shndx, sym.value) in self.map_by_sym and sym.type != "STT_SECTION":
            m_idx = self.map_by_sym[(shndx, sym.value)]
            code.insns[pc] = replace(insn, src=Pseudo.MAP_IDX, imm=m_idx, imm_hi=0)
            return
        sec = _section_name(self.elf, shndx)
        if sec in (".maps", "maps"):
            raise ElfLoadError(f"{where}: no map definition at offset {sym.value} of '{sec}'")
        raise ElfLoadError(f"{where}: '{sym.name or sec}' is in section '{sec}', which holds"
                           " no map, global data or code")

    def _relocate_maps(self, rel: Section, maps_idx: int) -> None:
        """The declarative prog-array initialisation: ``.values = { [N] = &prog }`` leaves
        an R_BPF_64_ABS64 in ``.maps`` at the slot's address for each element."""
        for i, offset, rtype, sym in self._relocs(rel):
            where = (f"section '{rel.name}': relocation #{i} ({RELOC_NAMES.get(rtype, rtype)}"
                     f" against '{sym.name or '?'}' at offset {offset})")
            if rtype == R_BPF_NONE:
                continue
            if rtype != R_BPF_64_ABS64:
                raise ElfLoadError(f"{where}: unsupported relocation type in '.maps'")
            owner = None
            for m_idx, m in enumerate(self.maps):     # the last map starting at or before
                if m.section == ".maps" and m.offset <= offset and \
                        (owner is None or m.offset >= owner[1].offset):
                    owner = (m_idx, m)
            if owner is None:
                raise ElfLoadError(f"{where}: no map is defined at this offset")
            m_idx, m = owner
            d = m.btf_def
            assert d is not None
            if d.values_offset is None:
                raise ElfLoadError(f"{where}: map '{m.name}' has no 'values' member")
            rel_off = offset - m.offset - d.values_offset
            if rel_off < 0 or rel_off % 8:
                raise ElfLoadError(f"{where}: not a slot of map '{m.name}'s values")
            if d.values_kind != "prog":
                raise ElfLoadError(f"{where}: map '{m.name}': map-in-map initialisation is not"
                                   " supported")
            if sym.type != "STT_FUNC" or sym.shndx not in self.code:
                raise ElfLoadError(f"{where}: '{sym.name}' is not a program")
            self.values_relocs.append((m_idx, rel_off // 8, sym))

    # -- linking ---------------------------------------------------------------------------

    def func_at(self, sec: int, idx: int) -> _Func | None:
        code = self.code.get(sec)
        if code is None:
            return None
        for f in code.funcs:
            if f.start <= idx < f.end:
                return f
        return None

    def link(self, entry: _Func) -> tuple[list[Insn | None], dict[int, str]]:
        """The entry function followed by every function it reaches, with call offsets
        and function pointers rewritten for that layout (one copy per program)."""
        out: list[Insn | None] = []
        placed: dict[tuple[int, int], int] = {}
        names: dict[int, str] = {}
        queue: list[_Func] = []

        def place(f: _Func) -> int:
            key = (f.sec, f.start)
            if key not in placed:
                placed[key] = len(out)
                names[len(out)] = f.name
                out.extend(self.code[f.sec].insns[f.start:f.end])
                queue.append(f)
            return placed[key]

        place(entry)
        while queue:
            f = queue.pop(0)
            code = self.code[f.sec]
            base = placed[(f.sec, f.start)]
            for i in range(f.start, f.end):
                insn = code.insns[i]
                if insn is None:
                    continue
                tgt = code.targets.get(i)
                if tgt is None and insn.kind is Kind.CALL and insn.src == CallKind.LOCAL:
                    tgt = _Target(f.sec, i + 1 + insn.imm)     # resolved by the assembler
                if tgt is None:
                    continue
                callee = self.func_at(tgt.sec, tgt.idx)
                if callee is None or self.code[tgt.sec].insns[tgt.idx] is None:
                    raise ElfLoadError(
                        f"section '{code.name}': function '{f.name}' instruction {i - f.start}"
                        f" calls offset {tgt.idx * INSN_SIZE} of"
                        f" '{self.code[tgt.sec].name}', which is not inside a function")
                new_pc = place(callee) + tgt.idx - callee.start
                pc = base + i - f.start
                out[pc] = replace(insn, imm=new_pc - (pc + 1))
        return out, names

    def entries(self) -> list[_Func]:
        """Programs: functions of executable sections other than .text, section order."""
        out = []
        for idx in sorted(self.code):
            if idx == self.text_idx:
                continue
            for f in self.code[idx].funcs:
                if f.bind == "STB_LOCAL":
                    raise ElfLoadError(f"section '{self.code[idx].name}': program '{f.name}'"
                                       " is static; programs must be global functions")
                out.append(f)
        return out


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
                 name: str | None = None) -> _Loader:
    """Read and relocate an object without creating anything in a VM."""
    data, oname = read_source(path_or_bytes, name)
    loader = _Loader(data, oname)
    try:
        loader.load()
    except BpfError:
        raise
    except _PARSE_ERRORS as exc:   # pyelftools' own failures on bad input
        raise ElfLoadError(f"{oname}: malformed object: {type(exc).__name__}: {exc}") from None
    return loader


def set_globals(loader: _Loader, values: dict[str, int | bytes]) -> None:
    """Give global variables initial values before their maps exist, as a libbpf
    skeleton does with ``skel->rodata->limit = 9`` between open and load: the only time
    a ``const volatile`` (.rodata) variable can still be set.  Ints are stored
    little-endian in the variable's size; bytes must have exactly that size."""
    for var, value in values.items():
        sym = next((s for s in loader.symbols if s.name == var and s.shndx in loader.data_map
                    and s.type == "STT_OBJECT"), None)
        if sym is None:
            raise ElfLoadError(f"global '{var}': no such variable in .data, .rodata or .bss")
        d = loader.maps[loader.data_map[sym.shndx]]
        if isinstance(value, int):
            try:
                raw = value.to_bytes(sym.size, "little", signed=value < 0)
            except OverflowError:
                raise ElfLoadError(f"global '{var}': {value} does not fit in {sym.size}"
                                   " bytes") from None
        else:
            raw = bytes(value)
            if len(raw) != sym.size:
                raise ElfLoadError(f"global '{var}': {len(raw)} bytes for a variable of"
                                   f" {sym.size}")
        initial = bytearray(d.initial or b"")
        if sym.value + sym.size > len(initial):
            raise ElfLoadError(f"global '{var}' lies outside section '{d.section}'")
        initial[sym.value:sym.value + sym.size] = raw
        d.initial = bytes(initial)


def load_object(path_or_bytes: str | os.PathLike[str] | bytes | bytearray, vm: Vm, *,
                name: str | None = None, populate: bool = True,
                variables: dict[str, int | bytes] | None = None,
                syscall_number: SyscallResolver | None = None) -> BpfObject:
    """Load an object file into ``vm``: its maps are created and registered, its
    programs linked and relocated, its prog arrays filled (unless ``populate=False``).
    ``variables`` sets global variables (``const volatile`` ones too) before that;
    ``syscall_number`` numbers the ``ksyscall/<name>`` sections (see
    :mod:`bpf_vm.objfile`)."""
    loader = parse_object(path_or_bytes, name=name)
    if variables:
        set_globals(loader, variables)
    progs: list[tuple[str, str, list[Insn | None], dict[int, str]]] = []
    for f in loader.entries():
        insns, names = loader.link(f)
        progs.append((f.name, loader.code[f.sec].name, insns, names))
    prog_values = [(m_idx, slot, sym.name) for m_idx, slot, sym in loader.values_relocs]
    return build_object(vm, name=loader.name, maps=loader.maps, programs=progs,
                        license=loader.license, version=loader.version, btf=loader.btf,
                        declared_slots=prog_values, populate=populate,
                        syscall_number=syscall_number)


def object_summary(loader: _Loader) -> dict[str, Any]:
    """What an object contains, for diagnostics: sections, functions and maps."""
    return {
        "programs": [(f.name, loader.code[f.sec].name) for f in loader.entries()],
        "subprograms": [f.name for f in (loader.code[loader.text_idx].funcs
                                         if loader.text_idx is not None else [])],
        "maps": [m.name for m in loader.maps],
        "license": loader.license,
        "version": loader.version,
    }


__all__ = [
    "EM_BPF",
    "R_BPF_64_32",
    "R_BPF_64_64",
    "R_BPF_64_ABS64",
    "BpfObject",
    "load_asm",
    "load_object",
    "object_summary",
    "parse_object",
    "set_globals",
]
