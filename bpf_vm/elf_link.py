"""Relocating a BPF object's code and linking its programs, as libbpf does.

* relocations of executable sections (REL, as clang emits them for BPF): a call
  (``call`` with src=BPF_PSEUDO_CALL, R_BPF_64_32) or a function pointer (``ld_imm64``
  with R_BPF_64_64 against code: a bpf_loop callback) is recorded as a :class:`Target`;
  an ``ld_imm64`` against a map becomes BPF_PSEUDO_MAP_IDX (imm = index into the
  object's map list), against global data BPF_PSEUDO_MAP_IDX_VALUE with the offset
  (symbol value + the addend clang left in imm) in the second imm;
* programs: every function of an executable section other than ``.text``; linking one
  appends every subprogram it reaches (functions in ``.text`` or elsewhere) and fixes
  the call offsets for that layout, recursively, as libbpf's ``bpf_object__reloc_code``;
* externs (:mod:`bpf_vm.kconfig`): an ``ld_imm64`` of a ``__kconfig`` variable becomes
  BPF_PSEUDO_MAP_IDX_VALUE into the ``.kconfig`` map at the variable's offset (libbpf's
  BPF_PSEUDO_MAP_VALUE), of an unresolved weak ``__ksym`` the constant 0; a call of an
  unresolved weak kfunc is libbpf's poisoned call.

The sections and symbols come from :mod:`bpf_vm.elf_read`, the maps from
:mod:`bpf_vm.elf_maps`.
"""

from __future__ import annotations

from dataclasses import replace

from elftools.elf.sections import Section

from .elf_maps import ObjectMaps
from .elf_read import (
    R_BPF_64_32,
    R_BPF_64_64,
    R_BPF_NONE,
    SHN_UNDEF,
    Code,
    ElfReader,
    Func,
    Sym,
    Target,
    section_name,
)
from .errors import ElfLoadError
from .insn import INSN_SIZE, Insn
from .isa import LD_IMM64, CallKind, Kind, Pseudo
from .kconfig import POISON_CALL_KFUNC_BASE


class Linker:
    """Relocates the code sections of one object in place, then links each program."""

    def __init__(self, reader: ElfReader, maps: ObjectMaps) -> None:
        self.reader = reader
        self.maps = maps
        self.code = reader.code

    # -- relocations -----------------------------------------------------------------------

    def relocate_code(self, rel: Section, code: Code) -> None:
        """Apply the relocation section ``rel`` to the executable section ``code``."""
        sections = self.reader.sections
        for r in self.reader.relocs(rel):
            where, sym = r.where(rel), r.sym
            if r.type == R_BPF_NONE:
                continue
            if r.type not in (R_BPF_64_64, R_BPF_64_32):
                raise ElfLoadError(f"{where}: relocation type {r.type} is not supported in"
                                   " code")
            if r.offset % INSN_SIZE or r.offset // INSN_SIZE >= len(code.insns):
                raise ElfLoadError(f"{where}: offset is not an instruction of"
                                   f" '{code.name}'")
            pc = r.offset // INSN_SIZE
            insn = code.insns[pc]
            if insn is None:
                raise ElfLoadError(f"{where}: offset is the second half of an ld_imm64")
            if sym.shndx == SHN_UNDEF:
                self._reloc_extern(where, code, pc, insn, sym, r.type)
                continue
            if sym.shndx < 0 or sym.shndx >= len(sections):
                raise ElfLoadError(f"{where}: symbol in special section {sym.shndx}")
            if insn.kind is Kind.CALL:
                self._reloc_call(where, code, pc, insn, sym, r.type)
            elif insn.opcode == LD_IMM64:
                if r.type != R_BPF_64_64:
                    raise ElfLoadError(f"{where}: an ld_imm64 needs R_BPF_64_64")
                self._reloc_ld64(where, code, pc, insn, sym)
            else:
                raise ElfLoadError(f"{where}: instruction {pc} (opcode 0x{insn.opcode:02x}) is"
                                   " neither a call nor an ld_imm64")

    def _reloc_extern(self, where: str, code: Code, pc: int, insn: Insn, sym: Sym,
                      rtype: int) -> None:
        ext = self.maps.externs.get(sym.name)
        if ext is None:
            raise ElfLoadError(f"{where}: '{sym.name}' is undefined and is not an extern of"
                               " .kconfig or .ksyms")
        if insn.kind is Kind.CALL:
            if ext.kind != "ksym":
                raise ElfLoadError(f"{where}: call of extern variable '{sym.name}'")
            # only a weak kfunc gets here (a strong one was refused): libbpf's poison
            code.insns[pc] = replace(insn, dst=0, src=0, off=0,
                                     imm=POISON_CALL_KFUNC_BASE + ext.index)
            return
        if insn.opcode != LD_IMM64 or rtype != R_BPF_64_64:
            raise ElfLoadError(f"{where}: extern '{sym.name}' is used by instruction {pc}"
                               f" (opcode 0x{insn.opcode:02x}), which is not an ld_imm64")
        if ext.kind == "kcfg" and self.maps.kconfig_map is not None:
            code.insns[pc] = replace(insn, src=Pseudo.MAP_IDX_VALUE,
                                     imm=self.maps.kconfig_map, imm_hi=ext.data_off)
        else:       # an unresolved weak ksym: address 0
            code.insns[pc] = replace(insn, src=0, imm=0, imm_hi=0)

    def _reloc_call(self, where: str, code: Code, pc: int, insn: Insn, sym: Sym,
                    rtype: int) -> None:
        if insn.src != CallKind.LOCAL:
            raise ElfLoadError(f"{where}: a relocated call must be a BPF-to-BPF call"
                               f" (src_reg {CallKind.LOCAL}), not src_reg {insn.src}")
        if rtype != R_BPF_64_32:
            raise ElfLoadError(f"{where}: a call needs R_BPF_64_32")
        if sym.shndx not in self.code:
            raise ElfLoadError(f"{where}: call target '{sym.name}' is in section"
                               f" '{section_name(self.reader.elf, sym.shndx)}', which is not"
                               " code")
        if sym.value % INSN_SIZE:
            raise ElfLoadError(f"{where}: call target is not instruction-aligned")
        # global functions: imm = -1 against the function's symbol; static ones: against
        # the section symbol, imm = start - 1 (libbpf: sym_off / 8 + imm + 1)
        code.targets[pc] = Target(sym.shndx, sym.value // INSN_SIZE + insn.imm + 1)

    def _reloc_ld64(self, where: str, code: Code, pc: int, insn: Insn, sym: Sym) -> None:
        shndx = sym.shndx
        maps = self.maps
        if shndx in self.code:
            # a function's address (bpf_loop callback): byte offset = value + addend
            off = sym.value + insn.imm
            if off % INSN_SIZE:
                raise ElfLoadError(f"{where}: function address is not instruction-aligned")
            code.targets[pc] = Target(shndx, off // INSN_SIZE)
            code.insns[pc] = replace(insn, src=Pseudo.FUNC, imm=0, imm_hi=0)
            return
        if shndx in maps.data_map:
            m_idx = maps.data_map[shndx]
            off = sym.value + insn.imm
            size = len(maps.maps[m_idx].initial or b"")
            if not 0 <= off <= size:
                raise ElfLoadError(f"{where}: offset {off} is outside"
                                   f" '{maps.maps[m_idx].name}' ({size} bytes)")
            code.insns[pc] = replace(insn, src=Pseudo.MAP_IDX_VALUE, imm=m_idx, imm_hi=off)
            return
        if (shndx, sym.value) in maps.map_by_sym and sym.type != "STT_SECTION":
            m_idx = maps.map_by_sym[(shndx, sym.value)]
            code.insns[pc] = replace(insn, src=Pseudo.MAP_IDX, imm=m_idx, imm_hi=0)
            return
        sec = section_name(self.reader.elf, shndx)
        if sec in (".maps", "maps"):
            raise ElfLoadError(f"{where}: no map definition at offset {sym.value} of '{sec}'")
        raise ElfLoadError(f"{where}: '{sym.name or sec}' is in section '{sec}', which holds"
                           " no map, global data or code")

    # -- linking ---------------------------------------------------------------------------

    def func_at(self, sec: int, idx: int) -> Func | None:
        code = self.code.get(sec)
        if code is None:
            return None
        for f in code.funcs:
            if f.start <= idx < f.end:
                return f
        return None

    def link(self, entry: Func) -> tuple[list[Insn | None], dict[int, str]]:
        """The entry function followed by every function it reaches, with call offsets
        and function pointers rewritten for that layout (one copy per program)."""
        out: list[Insn | None] = []
        placed: dict[tuple[int, int], int] = {}
        names: dict[int, str] = {}
        queue: list[Func] = []

        def place(f: Func) -> int:
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
                    tgt = Target(f.sec, i + 1 + insn.imm)     # resolved by the assembler
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

    def entries(self) -> list[Func]:
        """Programs: functions of executable sections other than .text, section order."""
        out = []
        for idx in sorted(self.code):
            if idx == self.reader.text_idx:
                continue
            for f in self.code[idx].funcs:
                if f.bind == "STB_LOCAL":
                    raise ElfLoadError(f"section '{self.code[idx].name}': program '{f.name}'"
                                       " is static; programs must be global functions")
                out.append(f)
        return out
