"""A program's output decoded through its object's BTF: map entries and the records it
sends through ring buffers and perf-event arrays.

**Map entries** (:func:`formatted_entry`): bpftool's ``"formatted"`` member of
``bpftool -j map dump``: ``{"key": K, "value": V}``, or ``{"key": K, "values": [{"cpu":
0, "value": V}]}`` for per-CPU maps, ``"key"`` left out when the map has no key type.
A map has it when the kernel would keep its BTF: hash, array, LRU and LPM maps defined
with ``__type(key/value, ...)`` (libbpf retries fd-array and stack maps without BTF),
and global-data maps, whose value is their section's DATASEC.

**Records** (:class:`RecordDecoder`): a ring-buffer or perf record's type is in no
map's BTF, so it is chosen per map: ``--record-type MAP=TYPE`` when given, else the
object's only named struct of exactly the record's size; with none or several, the
record stays hex.  Types are looked up in the object's BTF and, for those it lacks
(the usual case of a record struct, only ever a local variable's type), in its DWARF;
with DWARF, the structs of ``vmlinux.h`` and the system's headers are no candidates.
:meth:`RecordDecoder.render` gives, per record,

* a JSON line: ``{"map": "events", "record": {...}}`` (perf: ``"cpu"`` after
  ``"map"``), values as in bpftool's formatted dump (:func:`bpf_vm.btf_value.to_json`);
  undecoded: ``{"map": "events", "data": "<hex>"}``; a record longer than its
  ``--record-type`` adds ``"tail": "<hex>"`` (the bytes past the type);
* a readable line: ``events: pid=1234 comm="cat" ret=3`` (perf: ``events cpu 0:
  ...``; undecoded: ``events: <hex>``; :func:`bpf_vm.btf_value.to_text`);
* once per map and record size, a note saying how the type was chosen.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .btf import Btf, BtfType, Kind
from .btf_value import to_json, to_text
from .dwarf_types import DwarfType, DwarfTypes
from .effects import PerfRecord, RingbufRecord
from .errors import BpfError

if TYPE_CHECKING:
    from .objfile import BpfObject, MapDef

#: Map types whose BTF key/value types the kernel keeps (map_check_btf): hash, array,
#: per-CPU hash and array, LRU hash and per-CPU hash, LPM trie.
BTF_MAP_TYPES = frozenset({1, 2, 5, 6, 9, 10, 11})
PERCPU_TYPES = frozenset({5, 6, 10})
RECORD_MAP_TYPES = frozenset({4, 27})          # perf-event array, ring buffer


class RecordTypeError(BpfError):
    """A ``--record-type MAP=TYPE`` naming no record map or no type."""


# -- map entries -------------------------------------------------------------------------------

def map_btf_types(btf: Btf | None, d: MapDef) -> tuple[int, int] | None:
    """(key type id or 0, value type id) of a map whose dump bpftool would format."""
    if btf is None:
        return None
    if d.internal:
        sec = btf.find(d.section, Kind.DATASEC)
        return (0, sec.id) if sec is not None else None
    b = d.btf_def
    if b is None or not b.value_type or d.type not in BTF_MAP_TYPES:
        return None
    return b.key_type, b.value_type


def formatted_entry(btf: Btf, types: tuple[int, int], key: bytes, value: bytes, *,
                    percpu: bool = False) -> dict[str, Any]:
    """bpftool's ``"formatted"`` object for one entry (per-CPU: CPU 0's value, the only
    possible CPU here)."""
    key_type, value_type = types
    out: dict[str, Any] = {}
    if key_type:
        out["key"] = to_json(btf, key_type, key)
    v = to_json(btf, value_type, value)
    if percpu:
        out["values"] = [{"cpu": 0, "value": v}]
    else:
        out["value"] = v
    return out


def entry_text(btf: Btf, types: tuple[int, int], key: bytes, value: bytes) -> str:
    """``KEY => VALUE`` in the readable form (``VALUE`` alone without a key type)."""
    key_type, value_type = types
    v = to_text(btf, value_type, value, top=False)
    return f"{to_text(btf, key_type, key, top=False)} => {v}" if key_type else v


def add_formatted(obj: BpfObject, name: str, entries: list[dict[str, Any]]) -> None:
    """Give each ``{"key": hex, "value": hex}`` entry of map ``name`` its
    ``"formatted"`` member when the map's types are known."""
    d = obj.map_defs.get(name)
    btf = obj.btf
    types = map_btf_types(btf, d) if d is not None else None
    if types is None or btf is None or d is None:
        return
    for e in entries:
        try:
            e["formatted"] = formatted_entry(btf, types, bytes.fromhex(e["key"]),
                                             bytes.fromhex(e["value"]),
                                             percpu=d.type in PERCPU_TYPES)
        except (BpfError, ValueError):      # BtfValueError, or malformed BTF
            return


# -- records ---------------------------------------------------------------------------------

def parse_record_types(specs: Sequence[str] | None) -> dict[str, str]:
    """``["events=struct event"]`` -> ``{"events": "struct event"}``."""
    out: dict[str, str] = {}
    for spec in specs or ():
        name, sep, tname = spec.partition("=")
        if not sep or not name.strip() or not tname.strip():
            raise RecordTypeError(f"--record-type {spec!r}: expected MAP=TYPE")
        out[name.strip()] = tname.strip()
    return out


def _spellings(spelled: str) -> list[tuple[Kind, str]]:
    """The (kind, name) pairs a type's spelling may mean, in order of preference."""
    words = spelled.split()
    kinds = {"struct": (Kind.STRUCT,), "union": (Kind.UNION,),
             "enum": (Kind.ENUM, Kind.ENUM64)}
    if len(words) == 2 and words[0] in kinds:
        return [(k, words[1]) for k in kinds[words[0]]]
    return [(k, spelled) for k in (Kind.STRUCT, Kind.UNION, Kind.TYPEDEF, Kind.ENUM,
                                   Kind.ENUM64, Kind.INT, Kind.FLOAT)]


def find_type(btf: Btf, spelled: str) -> BtfType | None:
    """``struct event``, ``union u``, ``enum e`` or a bare name (a struct, union,
    typedef, enum or int of that name, in that order of preference)."""
    for k, name in _spellings(spelled):
        t = btf.find(name, k)
        if t is not None:
            return t
    return None


def _elf_bytes(source: str | os.PathLike[str] | bytes) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        with open(source, "rb") as f:
            data = f.read()
    except OSError:
        return b""
    return data if data[:4] == b"\x7fELF" else b""


@dataclass(frozen=True, slots=True)
class RecordChoice:
    """How records of one map and size are shown: ``type_id`` 0 means hex."""
    map: str
    size: int
    type_id: int
    reason: str

    def note(self) -> str:
        return f"{self.map}: {self.size}-byte records: {self.reason}"


def tail_choice(map_name: str, size: int, tid: int, name: str, member: str) -> RecordChoice:
    return RecordChoice(map_name, size, tid, f"struct {name}, the program's only struct"
                        f" whose variable-length tail ({member}) a {size}-byte record"
                        " ends in (the rest reads as zeros)")


@dataclass(frozen=True, slots=True)
class RecordLines:
    """One record rendered: ``json`` (one line), ``text`` (the ``--printk`` line),
    ``note``: how its type was chosen, the first time its map and size are seen;
    ``kind``: ``ringbuf`` or ``perf``."""
    json: str
    text: str
    note: str | None = None
    kind: str = "ringbuf"


class RecordDecoder:
    """Decodes the records of one object's ring buffers and perf arrays.  ``dwarf``:
    the object's DWARF, searched (once, lazily) for types its BTF lacks."""

    def __init__(self, btf: Btf | None, record_types: Mapping[str, str] | None = None, *,
                 record_maps: Iterable[str] | None = None,
                 dwarf: DwarfTypes | None = None) -> None:
        self.btf = btf
        self.dwarf = dwarf
        self.chosen: dict[tuple[str, int], RecordChoice] = {}
        self.explicit: dict[str, int] = {}
        maps = set(record_maps) if record_maps is not None else None
        for name, spelled in (record_types or {}).items():
            if maps is not None and name not in maps:
                known = ", ".join(sorted(maps)) or "none"
                raise RecordTypeError(f"--record-type {name}={spelled}: no ring buffer or"
                                      f" perf-event array '{name}' (the object's: {known})")
            tid = self._lookup(spelled)
            if not tid:
                where = "BTF or DWARF" if dwarf is not None else "BTF"
                raise RecordTypeError(f"--record-type {name}={spelled}: no type"
                                      f" '{spelled}' in the object's {where}")
            assert self.btf is not None
            try:
                self.btf.resolve_size(tid)
            except BpfError as exc:
                raise RecordTypeError(f"--record-type {name}={spelled}: {exc}") from None
            self.explicit[name] = tid

    def _lookup(self, spelled: str) -> int:
        t = find_type(self.btf, spelled) if self.btf is not None else None
        if t is not None:
            return t.id
        if self.dwarf is None:
            return 0
        for kind, name in _spellings(spelled):
            d = self.dwarf.find(kind, name)
            if d is not None:
                return self._adopt(d)
        return 0

    def _adopt(self, d: DwarfType) -> int:
        assert self.dwarf is not None
        self.btf, tid = self.dwarf.extend(self.btf, d)
        return tid

    @classmethod
    def for_object(cls, obj: BpfObject, record_types: Mapping[str, str] | None = None, *,
                   source: str | os.PathLike[str] | bytes | None = None) -> RecordDecoder:
        """The decoder of ``obj``'s records; with ``source`` (the object file, or its
        bytes), the types of its DWARF that BTF lacks are known too
        (:mod:`bpf_vm.dwarf_types`), as a record's struct usually is."""
        record_maps = [n for n, d in obj.map_defs.items() if d.type in RECORD_MAP_TYPES]
        dwarf = DwarfTypes(_elf_bytes(source)) if source is not None and record_maps \
            else None
        return cls(obj.btf, record_types, record_maps=record_maps, dwarf=dwarf)

    def choose(self, map_name: str, size: int) -> RecordChoice:
        key = (map_name, size)
        if key not in self.chosen:
            self.chosen[key] = self._choose(map_name, size)
        return self.chosen[key]

    def _choose(self, map_name: str, size: int) -> RecordChoice:
        tid = self.explicit.get(map_name)
        if self.btf is not None and tid:
            desc = self.btf.describe(tid)
            tsize = self.btf.resolve_size(tid)
            if size < tsize:
                return RecordChoice(map_name, size, 0, f"hex: shorter than {desc} given by"
                                    f" --record-type ({tsize} bytes)")
            return RecordChoice(map_name, size, tid, f"{desc}, given by --record-type")
        fits: dict[str, int | DwarfType] = {}
        system = self.dwarf.system_structs() if self.dwarf is not None else set()
        if self.btf is not None:
            for c in self.btf.types:
                if c.kind is Kind.STRUCT and c.name and c.size == size \
                        and c.name not in system:
                    fits.setdefault(c.name, c.id)
        if self.dwarf is not None:
            for d in self.dwarf.user_structs(size):
                fits.setdefault(d.name, d)
        if len(fits) == 1:
            name, found = next(iter(fits.items()))
            tid = found if isinstance(found, int) else self._adopt(found)
            why = (f"the program's only struct of {size} bytes (kernel and system"
                   " headers' types aside)") if self.dwarf is not None else \
                f"the object's only struct of {size} bytes"
            if tid:
                return RecordChoice(map_name, size, tid, f"struct {name}, {why}")
        if not fits:
            tail = self._variable_tail(size, system)
            if tail is not None:
                return tail_choice(map_name, size, *tail)
            return RecordChoice(map_name, size, 0, f"hex: no struct of {size} bytes in"
                                " the object's types; choose with --record-type"
                                f" {map_name}=TYPE")
        names = ", ".join(f"struct {n}" for n in fits)
        return RecordChoice(map_name, size, 0, f"hex: {names} are all {size} bytes; choose"
                            f" with --record-type {map_name}=TYPE")

    def _variable_tail(self, size: int, system: set[str]) -> tuple[int, str, str] | None:
        """The program's only struct longer than ``size`` whose last member is an array
        that a ``size``-byte record reaches into: a record sent with only the part of
        its tail it filled (execsnoop's ``offsetof(struct event, args) + args_size``).
        (type id, struct name, tail member) or None."""
        found: dict[str, tuple[int, str]] = {}
        cands: list[int | DwarfType] = []
        if self.btf is not None:
            cands += [c.id for c in self.btf.types if c.kind is Kind.STRUCT and c.name
                      and c.size > size and c.name not in system]
        if self.dwarf is not None:
            cands += self.dwarf.user_structs(size, larger=True)
        for c in cands:
            name = c.name if isinstance(c, DwarfType) else self.btf[c].name  # type: ignore[index]
            if name in found:
                continue
            tid = c if isinstance(c, int) else self._adopt(c)
            if not tid or self.btf is None:
                continue
            t = self.btf[tid]
            if not t.members:
                continue
            last = t.members[-1]
            head = last.bit_offset // 8      # the fixed part before the tail: all sent
            if last.bitfield_size or last.bit_offset % 8 or not 0 < head < size:
                continue
            if self.btf.skip_mods_and_typedefs(last.type).kind is not Kind.ARRAY:
                continue
            found[name] = (tid, last.name)
        if len(found) != 1:
            return None
        name, (tid, member) = next(iter(found.items()))
        return tid, name, member

    def render(self, record: RingbufRecord | PerfRecord) -> RecordLines:
        """The JSON and readable lines of one record (and the choice's note, once)."""
        data = record.data
        new = (record.map, len(data)) not in self.chosen
        choice = self.choose(record.map, len(data))
        head: dict[str, Any] = {"map": record.map}
        label = record.map
        if isinstance(record, PerfRecord):
            head["cpu"] = record.slot
            label = f"{record.map} cpu {record.slot}"
        text = data.hex()
        if choice.type_id and self.btf is not None:
            btf = self.btf
            size = len(data)
            try:
                size = btf.resolve_size(choice.type_id)
                whole = data[:size].ljust(size, b"\0")   # a short tail: zeros after it
                head["record"] = to_json(btf, choice.type_id, whole)
                text = to_text(btf, choice.type_id, whole)
            except BpfError:                # BtfValueError, or malformed BTF
                head.pop("record", None)
                head["data"] = data.hex()
            else:
                if len(data) > size:
                    head["tail"] = data[size:].hex()
                    text += f" tail={data[size:].hex()}"
        else:
            head["data"] = data.hex()
        return RecordLines(json.dumps(head), f"{label}: {text}",
                           choice.note() if new else None,
                           "perf" if isinstance(record, PerfRecord) else "ringbuf")


__all__ = [
    "BTF_MAP_TYPES",
    "RecordChoice",
    "RecordDecoder",
    "RecordLines",
    "RecordTypeError",
    "add_formatted",
    "entry_text",
    "find_type",
    "formatted_entry",
    "map_btf_types",
    "parse_record_types",
]
