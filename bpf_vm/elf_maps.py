"""The maps a BPF object defines, read as libbpf reads them.

* BTF-defined maps (``.maps``): each variable of the ``.maps`` DATASEC, its definition
  read from ``.BTF`` with :mod:`bpf_vm.btf`;
* legacy maps (``maps``): one ``struct bpf_map_def`` per symbol;
* global data (``.data*``, ``.rodata*`` read-only, ``.bss*``): one-entry ARRAY maps
  holding the section, as libbpf's internal maps; :func:`set_globals` gives their
  variables values before the maps exist;
* the declarative prog-array initialisation ``.values = { [N] = &prog }``: the
  R_BPF_64_ABS64 relocations of ``.maps`` (:meth:`ObjectMaps.relocate_values`);
* extern variables (:mod:`bpf_vm.kconfig`): ``__kconfig`` values in a read-only
  ``.kconfig`` internal map, as libbpf's; ``__ksym`` ones resolved or refused there.

Where code refers to a map, :mod:`bpf_vm.elf_link` looks it up in :class:`ObjectMaps`.
"""

from __future__ import annotations

import struct

from elftools.elf.sections import Section

from .btf import map_vars, parse_map_def
from .elf_read import R_BPF_64_ABS64, R_BPF_NONE, ElfReader, Sym
from .errors import ElfLoadError
from .kconfig import KCONFIG_SEC, Extern, collect_externs, resolve_externs
from .objfile import MapDef

BPF_MAP_DEF = struct.Struct("<5I")    # type, key_size, value_size, max_entries, map_flags
BPF_F_RDONLY_PROG = 1 << 7
MAP_TYPE_ARRAY = 2

_DATA_PREFIXES = (".data", ".rodata", ".bss")


class ObjectMaps:
    """Every map of one object, in definition order (its index is what ld_imm64
    relocations put in imm), and where each is defined."""

    def __init__(self, reader: ElfReader) -> None:
        self.reader = reader
        self.maps: list[MapDef] = []
        self.map_by_sym: dict[tuple[int, int], int] = {}     # (shndx, offset) -> map index
        self.data_map: dict[int, int] = {}                  # data shndx -> map index
        self.values_relocs: list[tuple[int, int, Sym]] = []   # (map idx, slot, symbol)
        self.externs: dict[str, Extern] = {}
        self.kconfig_map: int | None = None                 # the .kconfig map's index

    def read(self) -> None:
        """The definitions: BTF-defined maps, then legacy ones, then global data, then
        the externs' .kconfig map."""
        self._read_btf_maps()
        self._read_legacy_maps()
        self._read_data_maps()
        self._read_externs()

    def _read_externs(self) -> None:
        """Extern symbols resolved as libbpf resolves them (:mod:`bpf_vm.kconfig`); the
        kcfg ones' values in a read-only one-entry ARRAY, ``.kconfig``."""
        externs = collect_externs(self.reader)
        if not externs:
            return
        data = resolve_externs(externs)
        self.externs = {e.name: e for e in externs}
        if data:
            self.kconfig_map = self._add_map(
                MapDef(KCONFIG_SEC, MAP_TYPE_ARRAY, 4, len(data), 1, BPF_F_RDONLY_PROG,
                       initial=data, section=KCONFIG_SEC, internal=True, readonly=True),
                None, None)

    def _add_map(self, m: MapDef, shndx: int | None, offset: int | None) -> int:
        if any(old.name == m.name for old in self.maps):
            raise ElfLoadError(f"map '{m.name}' is defined twice")
        self.maps.append(m)
        if shndx is not None and offset is not None:
            self.map_by_sym[(shndx, offset)] = len(self.maps) - 1
        return len(self.maps) - 1

    def _read_btf_maps(self) -> None:
        r = self.reader
        sec_idx = r.section_index(".maps")
        if sec_idx is None:
            return
        if r.btf is None:
            raise ElfLoadError("section '.maps' needs BTF to be read, and the object has no"
                               " '.BTF' section (compile with -g)")
        size = r.sections[sec_idx]["sh_size"]
        for name, var_type, datasec_off in map_vars(r.btf, ".maps"):
            d = parse_map_def(r.btf, name, var_type)
            sym = r.sym_in(sec_idx, name)
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
        r = self.reader
        sec_idx = r.section_index("maps")
        if sec_idx is None:
            return
        data = r.data(r.sections[sec_idx])
        syms = sorted((s for s in r.symbols if s.shndx == sec_idx
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
        for idx, sec in enumerate(self.reader.sections):
            name = sec.name
            if not any(name == p or name.startswith(p + ".") for p in _DATA_PREFIXES):
                continue
            if sec["sh_type"] not in ("SHT_PROGBITS", "SHT_NOBITS"):
                continue
            if name.startswith(".rel"):
                continue
            data = self.reader.data(sec)
            if not data:
                continue      # libbpf skips empty sections: nothing can refer to them
            readonly = name.startswith(".rodata")
            flags = BPF_F_RDONLY_PROG if readonly else 0
            self.data_map[idx] = self._add_map(
                MapDef(name, MAP_TYPE_ARRAY, 4, len(data), 1, flags, initial=data,
                       section=name, internal=True, readonly=readonly), None, None)

    def relocate_values(self, rel: Section) -> None:
        """The declarative prog-array initialisation: ``.values = { [N] = &prog }`` leaves
        an R_BPF_64_ABS64 in ``.maps`` at the slot's address for each element."""
        for r in self.reader.relocs(rel):
            where = r.where(rel)
            if r.type == R_BPF_NONE:
                continue
            if r.type != R_BPF_64_ABS64:
                raise ElfLoadError(f"{where}: unsupported relocation type in '.maps'")
            owner = None
            for m_idx, m in enumerate(self.maps):     # the last map starting at or before
                if m.section == ".maps" and m.offset <= r.offset and \
                        (owner is None or m.offset >= owner[1].offset):
                    owner = (m_idx, m)
            if owner is None:
                raise ElfLoadError(f"{where}: no map is defined at this offset")
            m_idx, m = owner
            d = m.btf_def
            assert d is not None
            if d.values_offset is None:
                raise ElfLoadError(f"{where}: map '{m.name}' has no 'values' member")
            rel_off = r.offset - m.offset - d.values_offset
            if rel_off < 0 or rel_off % 8:
                raise ElfLoadError(f"{where}: not a slot of map '{m.name}'s values")
            if d.values_kind != "prog":
                raise ElfLoadError(f"{where}: map '{m.name}': map-in-map initialisation is not"
                                   " supported")
            if r.sym.type != "STT_FUNC" or r.sym.shndx not in self.reader.code:
                raise ElfLoadError(f"{where}: '{r.sym.name}' is not a program")
            self.values_relocs.append((m_idx, rel_off // 8, r.sym))

    def set_globals(self, values: dict[str, int | bytes]) -> None:
        """Give global variables initial values before their maps exist, as a libbpf
        skeleton does with ``skel->rodata->limit = 9`` between open and load: the only
        time a ``const volatile`` (.rodata) variable can still be set.  Ints are stored
        little-endian in the variable's size; bytes must have exactly that size."""
        for var, value in values.items():
            sym = next((s for s in self.reader.symbols if s.name == var
                        and s.shndx in self.data_map and s.type == "STT_OBJECT"), None)
            if sym is None:
                raise ElfLoadError(f"global '{var}': no such variable in .data, .rodata or"
                                   " .bss")
            d = self.maps[self.data_map[sym.shndx]]
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
