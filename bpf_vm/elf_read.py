"""Reading a BPF object file as ELF: its header, sections, symbols and relocation entries.

:class:`ElfReader` checks the header (64-bit little-endian ``ET_REL`` for ``EM_BPF``) and
that every section lies inside the file, then reads the symbol table and classifies the
sections it knows: ``license``, ``version``, ``.BTF`` (parsed with :mod:`bpf_vm.btf`),
``.BTF.ext`` (kept for its CO-RE relocations, :mod:`bpf_vm.core_reloc`) and executable
sections, decoded into instructions and cut into functions by their symbols.  What those
become is decided elsewhere: maps by :mod:`bpf_vm.elf_maps`, programs by :mod:`bpf_vm.elf_link`.

pyelftools parses lazily, so anything it raises on malformed input (:data:`PARSE_ERRORS`)
is turned into :class:`~bpf_vm.errors.ElfLoadError` naming the section.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import Section, SymbolTableSection

from .btf import Btf, parse_btf
from .errors import ElfLoadError, InvalidInstruction
from .insn import INSN_SIZE, Insn, decode

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

#: What pyelftools raises on malformed input (it parses lazily, so anywhere).
PARSE_ERRORS = (ELFError, struct.error, ValueError, ArithmeticError, IndexError, KeyError,
                UnicodeDecodeError, AssertionError, OSError, EOFError)


@dataclass
class Sym:
    name: str
    value: int
    size: int
    type: str         # STT_* as pyelftools names it
    bind: str
    shndx: int


@dataclass
class Func:
    """A function of an executable section: [start, end) in instruction slots."""
    name: str
    sec: int
    start: int
    end: int
    bind: str


@dataclass
class Target:
    """Where a call or function pointer goes before linking: a section and an
    instruction slot in it."""
    sec: int
    idx: int


@dataclass
class Code:
    """An executable section, decoded, with its relocated instructions."""
    idx: int
    name: str
    insns: list[Insn | None]
    funcs: list[Func] = field(default_factory=list)
    targets: dict[int, Target] = field(default_factory=dict)


@dataclass
class Reloc:
    """One relocation entry, numbered in its section."""
    num: int
    offset: int
    type: int
    sym: Sym

    def where(self, rel: Section) -> str:
        """The entry as error messages name it."""
        return (f"section '{rel.name}': relocation #{self.num}"
                f" ({RELOC_NAMES.get(self.type, self.type)} against"
                f" '{self.sym.name or '?'}' at offset {self.offset})")


def safe_name(sec: Section) -> str:
    try:
        return repr(sec.name)
    except PARSE_ERRORS:
        return "unnamed"


def section_name(elf: ELFFile, idx: int) -> str:
    try:
        return elf.get_section(idx).name
    except PARSE_ERRORS:
        return f"#{idx}"


class ElfReader:
    """One object file's sections and symbols, and the sections the loader itself reads:
    license, version, BTF and code."""

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        try:
            self.elf = ELFFile(io.BytesIO(data))
            self.sections: list[Section] = list(self.elf.iter_sections())
        except PARSE_ERRORS as exc:
            raise ElfLoadError(f"{name}: not a valid ELF file: {exc}") from None
        self.size = len(data)
        self._check_header()
        self._check_section_headers()
        self.symbols: list[Sym] = []
        self.code: dict[int, Code] = {}
        self.text_idx: int | None = None
        self.btf: Btf | None = None
        self.btf_ext: bytes | None = None
        self.license = ""
        self.version: int | None = None

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
                raise ElfLoadError(f"{self.name}: section #{idx} ({safe_name(sec)}) at offset"
                                   f" {off}, size {size}, extends past the end of the file"
                                   f" ({self.size} bytes)")

    def data(self, sec: Section) -> bytes:
        """A section's bytes (zeros for SHT_NOBITS), all of them or an error."""
        try:
            if sec["sh_type"] == "SHT_NOBITS":
                if sec["sh_size"] > MAX_NOBITS:
                    raise ElfLoadError(f"section '{sec.name}' of {sec['sh_size']} bytes: zero-"
                                       f"filled sections above {MAX_NOBITS} bytes are not"
                                       " supported")
                return bytes(sec["sh_size"])
            data = sec.data()
        except PARSE_ERRORS as exc:
            raise ElfLoadError(f"section '{sec.name}': unreadable: {exc}") from None
        if len(data) != sec["sh_size"]:
            raise ElfLoadError(f"section '{sec.name}' is truncated: {len(data)} of"
                               f" {sec['sh_size']} bytes in the file")
        return data

    def read(self) -> None:
        """The symbol table, then each section the loader reads itself, then the
        functions of each executable section."""
        self._read_symbols()
        for idx, sec in enumerate(self.sections):
            self._classify(idx, sec)
        for code in self.code.values():
            code.funcs = self._functions(code)

    def _read_symbols(self) -> None:
        tabs = [s for s in self.sections if isinstance(s, SymbolTableSection)
                and s["sh_type"] == "SHT_SYMTAB"]
        if len(tabs) != 1:
            raise ElfLoadError(f"{self.name}: expected one .symtab, found {len(tabs)}")
        try:
            for s in tabs[0].iter_symbols():
                shndx = s["st_shndx"]
                self.symbols.append(Sym(
                    s.name, s["st_value"], s["st_size"], s["st_info"]["type"],
                    s["st_info"]["bind"],
                    shndx if isinstance(shndx, int) else (0 if shndx == "SHN_UNDEF" else -1)))
        except PARSE_ERRORS as exc:
            raise ElfLoadError(f"section '.symtab': unreadable: {exc}") from None

    def _classify(self, idx: int, sec: Section) -> None:
        name = sec.name
        flags = sec["sh_flags"]
        if name == "license":
            raw = self.data(sec)
            self.license = raw.split(b"\0", 1)[0].decode(errors="replace")
            return
        if name == "version":
            raw = self.data(sec)
            if len(raw) != 4:
                raise ElfLoadError(f"section 'version' has {len(raw)} bytes, expected 4")
            self.version = int.from_bytes(raw, "little")
            return
        if name == ".BTF":
            self.btf = parse_btf(self.data(sec))
            return
        if name == ".BTF.ext":
            self.btf_ext = self.data(sec)
            return
        if sec["sh_type"] == "SHT_PROGBITS" and flags & SHF_EXECINSTR:
            raw = self.data(sec)
            if len(raw) % INSN_SIZE:
                raise ElfLoadError(f"section '{name}': size {len(raw)} is not a multiple of"
                                   f" {INSN_SIZE}")
            try:
                insns = decode(raw)
            except InvalidInstruction as exc:
                raise ElfLoadError(f"section '{name}': instruction {exc.pc}: {exc.reason}"
                                   f" [{exc.raw.hex(' ')}]") from None
            self.code[idx] = Code(idx, name, insns)
            if name == ".text":
                self.text_idx = idx

    def _functions(self, code: Code) -> list[Func]:
        syms = sorted((s for s in self.symbols if s.shndx == code.idx and s.type == "STT_FUNC"),
                      key=lambda s: s.value)
        n = len(code.insns)
        out: list[Func] = []
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
            out.append(Func(s.name, code.idx, start, end, s.bind))
        return out

    def section_index(self, name: str) -> int | None:
        """The first section called ``name``."""
        return next((i for i, s in enumerate(self.sections) if s.name == name), None)

    def sym_in(self, shndx: int, name: str) -> Sym | None:
        """The symbol ``name`` in section ``shndx``, section symbols aside."""
        for s in self.symbols:
            if s.shndx == shndx and s.name == name and s.type != "STT_SECTION":
                return s
        return None

    def relocs(self, rel: Section) -> list[Reloc]:
        """The entries of a relocation section, each with its symbol."""
        out = []
        if not isinstance(rel, RelocationSection):
            raise ElfLoadError(f"section '{rel.name}': not a relocation section")
        try:
            for i, r in enumerate(rel.iter_relocations()):
                sym_idx = r["r_info_sym"]
                if not 0 <= sym_idx < len(self.symbols):
                    raise ElfLoadError(f"section '{rel.name}': relocation #{i} refers to"
                                       f" symbol #{sym_idx}, which does not exist")
                out.append(Reloc(i, r["r_offset"], r["r_info_type"], self.symbols[sym_idx]))
        except PARSE_ERRORS as exc:
            raise ElfLoadError(f"section '{rel.name}': unreadable: {exc}") from None
        return out
