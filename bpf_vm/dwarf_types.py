"""Record types from an object's DWARF, for the types its BTF leaves out.

clang's BTF describes the types of globals, function signatures and CO-RE accesses,
not those of local variables: the ``struct event`` a tool fills and sends through its
ring buffer is usually in no BTF type at all.  It is in the object's ``.debug_info``
(libbpf objects are built with ``-g``), so record decoding (:mod:`bpf_vm.btf_output`)
extends the BTF with the DWARF's named structs, unions, enums and typedefs that BTF
lacks, converted to BTF's model (:class:`DwarfTypes`).

DWARF that cannot be read (none, or malformed) adds nothing: decoding falls back to
hex, it never fails the run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from elftools.common.exceptions import DWARFError
from elftools.elf.elffile import ELFFile

from .btf import Btf, BtfType, Kind, Member
from .elf_read import PARSE_ERRORS

_ERRORS = (*PARSE_ERRORS, DWARFError, RecursionError)

# DW_ATE_* base type encodings -> BTF INT encoding (BTF_INT_SIGNED 1, BTF_INT_BOOL 4)
_ATE_BOOL, _ATE_FLOAT, _ATE_SIGNED, _ATE_SIGNED_CHAR = 2, 4, 5, 6
_NAMED = {"DW_TAG_structure_type": Kind.STRUCT, "DW_TAG_union_type": Kind.UNION,
          "DW_TAG_enumeration_type": Kind.ENUM, "DW_TAG_typedef": Kind.TYPEDEF}
_MODS = {"DW_TAG_const_type": Kind.CONST, "DW_TAG_volatile_type": Kind.VOLATILE,
         "DW_TAG_restrict_type": Kind.RESTRICT, "DW_TAG_typedef": Kind.TYPEDEF,
         "DW_TAG_pointer_type": Kind.PTR}


def _attr(die: Any, name: str, default: Any = None) -> Any:
    a = die.attributes.get(name)
    return a.value if a is not None else default


def _name(die: Any) -> str:
    v = _attr(die, "DW_AT_name", b"")
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


class _Converter:
    """DWARF DIEs -> BtfTypes appended after the object's own (ids continue)."""

    def __init__(self, base: Btf) -> None:
        self.types: list[BtfType] = list(base.types)
        self.ids: dict[int, int] = {}          # DIE offset -> type id

    def _reserve(self, die: Any) -> int:
        tid = len(self.types)
        self.types.append(BtfType(tid, Kind.FWD, _name(die)))
        self.ids[die.offset] = tid
        return tid

    def ref(self, die: Any, attr: str = "DW_AT_type") -> int:
        if attr not in die.attributes:
            return 0                            # void
        return self.convert(die.get_DIE_from_attribute(attr))

    def convert(self, die: Any) -> int:
        if die.offset in self.ids:
            return self.ids[die.offset]
        tid = self._reserve(die)
        self.types[tid] = self._make(die, tid)
        return tid

    def _make(self, die: Any, tid: int) -> BtfType:
        tag, name = die.tag, _name(die)
        if tag == "DW_TAG_base_type":
            size = int(_attr(die, "DW_AT_byte_size", 0))
            enc = int(_attr(die, "DW_AT_encoding", 0))
            if enc == _ATE_FLOAT:
                return BtfType(tid, Kind.FLOAT, name, size=size)
            flags = 1 if enc in (_ATE_SIGNED, _ATE_SIGNED_CHAR) else 4 if enc == _ATE_BOOL \
                else 0
            return BtfType(tid, Kind.INT, name, size=size, int_encoding=flags,
                           int_bits=size * 8)
        if tag in _MODS:
            return BtfType(tid, _MODS[tag], name, ref=self.ref(die))
        if tag in ("DW_TAG_structure_type", "DW_TAG_union_type"):
            if _attr(die, "DW_AT_declaration"):
                return BtfType(tid, Kind.FWD, name,
                               kind_flag=tag == "DW_TAG_union_type")
            members, kflag = [], False
            for child in die.iter_children():
                if child.tag != "DW_TAG_member":
                    continue
                bits = int(_attr(child, "DW_AT_bit_size", 0))
                if "DW_AT_data_bit_offset" in child.attributes:
                    off = int(_attr(child, "DW_AT_data_bit_offset"))
                else:
                    loc = _attr(child, "DW_AT_data_member_location", 0)
                    off = int(loc) * 8 if isinstance(loc, int) else 0
                kflag = kflag or bits > 0
                members.append(Member(_name(child), self.ref(child), bit_offset=off,
                                      bitfield_size=bits))
            kind = Kind.STRUCT if tag == "DW_TAG_structure_type" else Kind.UNION
            return BtfType(tid, kind, name, size=int(_attr(die, "DW_AT_byte_size", 0)),
                           members=tuple(members), kind_flag=kflag)
        if tag == "DW_TAG_enumeration_type":
            values = tuple(Member(_name(c), 0, value=int(_attr(c, "DW_AT_const_value", 0)))
                           for c in die.iter_children() if c.tag == "DW_TAG_enumerator")
            size = int(_attr(die, "DW_AT_byte_size", 4))
            return BtfType(tid, Kind.ENUM64 if size == 8 else Kind.ENUM, name, size=size,
                           members=values)
        if tag == "DW_TAG_array_type":
            dims = []
            for c in die.iter_children():
                if c.tag == "DW_TAG_subrange_type":
                    if "DW_AT_count" in c.attributes:
                        dims.append(int(_attr(c, "DW_AT_count")))
                    elif "DW_AT_upper_bound" in c.attributes:
                        dims.append(int(_attr(c, "DW_AT_upper_bound")) + 1)
                    else:
                        dims.append(0)
            elem = self.ref(die)
            for n in reversed(dims[1:]):        # inner dimensions first
                inner = len(self.types)
                self.types.append(BtfType(inner, Kind.ARRAY, "", ref=elem, nelems=n))
                elem = inner
            return BtfType(tid, Kind.ARRAY, "", ref=elem, nelems=dims[0] if dims else 0)
        if tag == "DW_TAG_subroutine_type":
            return BtfType(tid, Kind.FUNC_PROTO, "", ref=self.ref(die))
        return BtfType(tid, Kind.FWD, name)


@dataclass(frozen=True, slots=True)
class DwarfType:
    """A named top-level type of the DWARF: ``user`` when declared outside
    ``vmlinux.h`` and the system's headers (the program's own types)."""
    kind: Kind
    name: str
    size: int
    user: bool
    die: Any


class DwarfTypes:
    """The named types of an object's DWARF, read on first use (pyelftools takes about
    a second for the DWARF of a ``vmlinux.h`` program, ~6000 types), converted into a
    BTF on demand (:meth:`extend`)."""

    def __init__(self, elf_data: bytes) -> None:
        self.data = elf_data
        self._index: list[DwarfType] | None = None

    @property
    def index(self) -> list[DwarfType]:
        if self._index is None:
            try:
                self._index = self._read()
            except _ERRORS:
                self._index = []
        return self._index

    def _read(self) -> list[DwarfType]:
        if not self.data:
            return []
        elf = ELFFile(io.BytesIO(self.data))
        if not elf.has_dwarf_info():
            return []
        # a BPF .o's DWARF relocations are REL against section symbols (value 0):
        # applying them changes nothing and takes seconds
        dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
        out = []
        for cu in dwarf.iter_CUs():
            files = _cu_files(dwarf, cu)
            for die in cu.get_top_DIE().iter_children():
                kind = _NAMED.get(str(die.tag))
                name = _name(die)
                if kind is None or not name or _attr(die, "DW_AT_declaration"):
                    continue
                path = files.get(int(_attr(die, "DW_AT_decl_file", -1)), "")
                user = not (path.endswith("/vmlinux.h") or path == "vmlinux.h"
                            or path.startswith("/usr/include/"))
                out.append(DwarfType(kind, name, int(_attr(die, "DW_AT_byte_size", 0)),
                                     user, die))
        return out

    def find(self, kind: Kind, name: str) -> DwarfType | None:
        return next((t for t in self.index if t.kind is kind and t.name == name), None)

    def system_structs(self) -> set[str]:
        """Names of structs declared only in vmlinux.h or the system's headers."""
        user = {t.name for t in self.index if t.kind is Kind.STRUCT and t.user}
        return {t.name for t in self.index if t.kind is Kind.STRUCT and not t.user} - user

    def user_structs(self, size: int, *, larger: bool = False) -> list[DwarfType]:
        """The program's own structs of ``size`` bytes (``larger``: of more)."""
        seen: set[str] = set()
        out = []
        for t in self.index:
            fits = t.size > size if larger else t.size == size
            if t.user and t.kind is Kind.STRUCT and fits and t.name not in seen:
                seen.add(t.name)
                out.append(t)
        return out

    def extend(self, btf: Btf | None, t: DwarfType) -> tuple[Btf, int]:
        """``btf`` with ``t`` (and what it refers to) appended: (new BTF, its id)."""
        base = btf if btf is not None else Btf([BtfType(0, Kind.UNKN, "void")])
        conv = _Converter(base)
        try:
            tid = conv.convert(t.die)
        except _ERRORS:
            return base, 0
        return Btf(conv.types, base.strings), tid


def _cu_files(dwarf: Any, cu: Any) -> dict[int, str]:
    """DW_AT_decl_file numbers of a CU -> paths (DWARF 5 counts from 0, 4 from 1)."""
    lp = dwarf.line_program_for_CU(cu)
    if lp is None:
        return {}
    v5 = cu.header.version >= 5
    dirs = [d.decode(errors="replace") if isinstance(d, bytes) else str(d)
            for d in lp.header.include_directory]
    out = {}
    for i, fe in enumerate(lp.header.file_entry):
        name = fe.name.decode(errors="replace") if isinstance(fe.name, bytes) \
            else str(fe.name)
        k = fe.dir_index if v5 else fe.dir_index - 1
        d = dirs[k] if 0 <= k < len(dirs) else ""
        out[i if v5 else i + 1] = name if name.startswith("/") or not d else f"{d}/{name}"
    return out


__all__ = ["DwarfType", "DwarfTypes"]
