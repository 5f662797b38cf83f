"""BTF (``.BTF`` section) parsing, enough to read libbpf's BTF-defined maps.

clang describes every type of a ``-g`` BPF object in BTF (include/uapi/linux/btf.h).
libbpf's map definitions are not data but *types*: ``__uint(max_entries, 8)`` declares a
member ``int (*max_entries)[8]`` whose value lives in the array's element count, and
``__type(key, u32)`` declares ``u32 *key``.  So the loader must read BTF to know a map's
geometry; :func:`parse_map_defs` derives it as libbpf's ``parse_btf_map_def`` does.

Layout of the section::

    struct btf_header { u16 magic = 0xeB9F; u8 version = 1; u8 flags; u32 hdr_len;
                        u32 type_off, type_len, str_off, str_len; }   /* offsets after hdr */
    types:  struct btf_type { u32 name_off; u32 info; u32 size_or_type; } + kind data
            info: vlen = bits 0-15, kind = bits 24-28, kind_flag = bit 31
    strings: NUL-terminated, offset 0 is ""

Type id 0 is ``void``; the first type in the section is id 1.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from .errors import ElfLoadError

BTF_MAGIC = 0xEB9F
_HEADER = struct.Struct("<HBBIIIII")
_TYPE = struct.Struct("<III")
_U32 = struct.Struct("<I")
_TRIPLE = struct.Struct("<III")
_PAIR = struct.Struct("<II")
_ENUM = struct.Struct("<Ii")


class Kind(enum.IntEnum):
    """``BTF_KIND_*`` of include/uapi/linux/btf.h."""
    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


#: Kinds that only qualify or rename another type: skipped when resolving.
_MODIFIERS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT,
                        Kind.TYPE_TAG})


@dataclass(frozen=True, slots=True)
class Member:
    """A struct/union member (``bit_offset`` from the start), a func_proto parameter
    (offset 0), an enum value (``value``), or a datasec entry (``offset``/``size`` in
    bytes, ``type`` the VAR)."""
    name: str
    type: int
    bit_offset: int = 0
    bitfield_size: int = 0
    value: int = 0
    size: int = 0


@dataclass(frozen=True, slots=True)
class BtfType:
    """One decoded type.  ``size`` is meaningful for INT/STRUCT/UNION/ENUM/DATASEC/FLOAT,
    ``ref`` (the referenced type id) for PTR/TYPEDEF/modifiers/FUNC/VAR/DECL_TAG and the
    return type of FUNC_PROTO; ARRAY uses ``ref`` for the element and ``nelems``."""
    id: int
    kind: Kind
    name: str
    size: int = 0
    ref: int = 0
    members: tuple[Member, ...] = ()
    nelems: int = 0
    index_type: int = 0
    int_encoding: int = 0
    int_bits: int = 0
    int_offset: int = 0
    linkage: int = 0
    kind_flag: bool = False

    @property
    def is_modifier(self) -> bool:
        return self.kind in _MODIFIERS


VOID = BtfType(0, Kind.UNKN, "void")


@dataclass
class Btf:
    """A parsed ``.BTF`` section: ``types[id]`` (``types[0]`` is void)."""
    types: list[BtfType]
    strings: bytes = b""
    _by_name: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for t in self.types[1:]:
            if t.name:
                self._by_name.setdefault(t.name, []).append(t.id)

    def __getitem__(self, type_id: int) -> BtfType:
        if not 0 <= type_id < len(self.types):
            raise ElfLoadError(f".BTF: reference to type id {type_id}, which does not exist"
                               f" ({len(self.types) - 1} types)")
        return self.types[type_id]

    def __len__(self) -> int:
        return len(self.types)

    def find(self, name: str, kind: Kind | None = None) -> BtfType | None:
        """The first type called ``name`` (of ``kind``, if given)."""
        for tid in self._by_name.get(name, ()):
            if kind is None or self.types[tid].kind is kind:
                return self.types[tid]
        return None

    def skip_mods_and_typedefs(self, type_id: int) -> BtfType:
        """The type behind typedefs, const, volatile, restrict and type tags (libbpf's
        ``skip_mods_and_typedefs``): what a member *is*, as opposed to how it is spelled."""
        t = self[type_id]
        for _ in range(len(self.types)):   # a loop of modifiers is malformed BTF
            if not t.is_modifier:
                return t
            t = self[t.ref]
        raise ElfLoadError(f".BTF: type id {type_id} is a loop of typedefs/modifiers")

    def resolve_size(self, type_id: int) -> int:
        """Size in bytes of a type, as ``btf__resolve_size`` computes it (arrays are
        nelems x element, pointers 8).  Raises for types without a size (void, func)."""
        t = self.skip_mods_and_typedefs(type_id)
        nelems = 1
        for _ in range(len(self.types)):
            if t.kind in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
                          Kind.DATASEC, Kind.FLOAT):
                return nelems * t.size
            if t.kind is Kind.PTR:
                return nelems * 8
            if t.kind is Kind.ARRAY:
                nelems *= t.nelems
                t = self.skip_mods_and_typedefs(t.ref)
                continue
            if t.kind is Kind.VAR:
                t = self.skip_mods_and_typedefs(t.ref)
                continue
            break
        raise ElfLoadError(f".BTF: type id {type_id} ({t.kind.name.lower()}"
                           f" '{t.name}') has no size")

    def describe(self, type_id: int, _depth: int = 0) -> str:
        """A C-like spelling of a type, for error messages and map dumps.  A chain
        deeper than libbpf's MAX_RESOLVE_DEPTH (32), a loop in malformed BTF, is cut
        short with ``...``."""
        t = self[type_id]
        if _depth > 32:
            return "..."
        d = _depth + 1
        if t.kind is Kind.UNKN:
            return "void"
        if t.kind is Kind.PTR:
            return self.describe(t.ref, d) + " *"
        if t.kind is Kind.ARRAY:
            return f"{self.describe(t.ref, d)}[{t.nelems}]"
        if t.kind in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
            return f"{t.kind.name.lower()} {self.describe(t.ref, d)}"
        if t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
            tag = "enum" if t.kind in (Kind.ENUM, Kind.ENUM64) else t.kind.name.lower()
            return f"{tag} {t.name or '(anon)'}"
        if t.kind is Kind.FUNC_PROTO:
            params = ", ".join(self.describe(m.type, d) for m in t.members)
            return f"{self.describe(t.ref, d)} (*)({params})"
        return t.name or t.kind.name.lower()


def _string(strings: bytes, off: int, where: str) -> str:
    if not 0 <= off < max(len(strings), 1):
        raise ElfLoadError(f".BTF: {where}: name offset {off} is outside the string section"
                           f" of {len(strings)} bytes")
    end = strings.find(b"\0", off)
    if end < 0:
        raise ElfLoadError(f".BTF: {where}: name at offset {off} is not NUL-terminated")
    try:
        return strings[off:end].decode()
    except UnicodeDecodeError:
        raise ElfLoadError(f".BTF: {where}: name at offset {off} is not UTF-8") from None


def parse_btf(data: bytes) -> Btf:
    """Parse a ``.BTF`` section.  Malformed input raises :class:`ElfLoadError` naming
    the header field or type id; never a struct.error or IndexError."""
    if len(data) < _HEADER.size:
        raise ElfLoadError(f".BTF: section of {len(data)} bytes is shorter than the header")
    magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = \
        _HEADER.unpack_from(data)
    if magic != BTF_MAGIC:
        if magic == 0x9FEB:
            raise ElfLoadError(".BTF: big-endian BTF is not supported (magic at offset 0)")
        raise ElfLoadError(f".BTF: bad magic 0x{magic:04x} at offset 0 (expected"
                           f" 0x{BTF_MAGIC:04x})")
    if version != 1:
        raise ElfLoadError(f".BTF: unsupported version {version} at offset 2")
    if hdr_len < _HEADER.size or hdr_len > len(data):
        raise ElfLoadError(f".BTF: bad header length {hdr_len} at offset 4")
    body = data[hdr_len:]
    if type_off + type_len > len(body) or str_off + str_len > len(body):
        raise ElfLoadError(f".BTF: type section [{type_off}, +{type_len}) or string section"
                           f" [{str_off}, +{str_len}) extends past the end ({len(body)} bytes"
                           " after the header), header at offset 8")
    if type_off % 4:
        raise ElfLoadError(f".BTF: type section offset {type_off} is not 4-byte aligned"
                           " (header at offset 8)")
    strings = body[str_off:str_off + str_len]
    if strings and strings[0] != 0:
        raise ElfLoadError(".BTF: string section does not start with an empty string, at"
                           f" offset {hdr_len + str_off}")
    types: list[BtfType] = [VOID]
    offsets = [0]
    tdata = body[type_off:type_off + type_len]
    pos = 0
    while pos < len(tdata):
        tid = len(types)
        offsets.append(hdr_len + type_off + pos)
        t, pos = _parse_type(tdata, pos, tid, strings, hdr_len + type_off)
        types.append(t)
    _check_refs(types, offsets)
    return Btf(types, strings)


_NO_REF = frozenset({Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FWD, Kind.FLOAT, Kind.STRUCT,
                     Kind.UNION, Kind.DATASEC})


def _check_refs(types: list[BtfType], offsets: list[int]) -> None:
    """Every type id a record names exists, as the kernel's BTF check requires: a
    dangling one is the record's error (at its offset), not a later lookup's."""
    n = len(types)
    for t in types[1:]:
        bad = t.ref if t.kind not in _NO_REF and t.ref >= n else None
        if bad is None and t.kind is Kind.ARRAY and t.index_type >= n:
            bad = t.index_type
        if bad is None and t.kind in (Kind.STRUCT, Kind.UNION, Kind.DATASEC,
                                      Kind.FUNC_PROTO):
            bad = next((m.type for m in t.members if m.type >= n), None)
        if bad is not None:
            raise ElfLoadError(f".BTF: type id {t.id} at offset {offsets[t.id]}"
                               f" ({t.kind.name.lower()} '{t.name}') refers to type id {bad},"
                               f" which does not exist ({n - 1} types)")


def _parse_type(tdata: bytes, pos: int, tid: int, strings: bytes,
                base: int = 0) -> tuple[BtfType, int]:
    """One type record at ``pos`` of the type section, which starts ``base`` bytes into
    ``.BTF``: errors name the record's offset in the section."""
    at = f"at offset {base + pos}"
    where = f"type id {tid} {at}"

    def need(n: int) -> None:
        if pos + n > len(tdata):
            raise ElfLoadError(f".BTF: {where} is truncated (needs {n} bytes at offset"
                               f" {base + pos}, type section ends at {base + len(tdata)})")

    need(_TYPE.size)
    name_off, info, size_or_type = _TYPE.unpack_from(tdata, pos)
    pos += _TYPE.size
    vlen = info & 0xFFFF
    kind_no = (info >> 24) & 0x1F
    kind_flag = bool(info >> 31)
    try:
        kind = Kind(kind_no)
    except ValueError:
        raise ElfLoadError(f".BTF: {where} has unknown kind {kind_no}") from None
    name = _string(strings, name_off, where)
    where = f"type id {tid} {at} ({kind.name.lower()} '{name}')"
    if kind is Kind.INT:
        need(4)
        (enc,) = _U32.unpack_from(tdata, pos)
        pos += 4
        return BtfType(tid, kind, name, size=size_or_type, int_encoding=(enc >> 24) & 0xF,
                       int_bits=enc & 0xFF, int_offset=(enc >> 16) & 0xFF,
                       kind_flag=kind_flag), pos
    if kind is Kind.ARRAY:
        need(_TRIPLE.size)
        elem, index_type, nelems = _TRIPLE.unpack_from(tdata, pos)
        pos += _TRIPLE.size
        return BtfType(tid, kind, name, ref=elem, index_type=index_type, nelems=nelems), pos
    if kind in (Kind.STRUCT, Kind.UNION):
        need(vlen * _TRIPLE.size)
        members = []
        for i in range(vlen):
            m_name, m_type, m_off = _TRIPLE.unpack_from(tdata, pos)
            pos += _TRIPLE.size
            # kind_flag: offset = bitfield_size << 24 | bit_offset
            bits, bf = (m_off & 0xFFFFFF, m_off >> 24) if kind_flag else (m_off, 0)
            members.append(Member(_string(strings, m_name, f"{where} member {i}"), m_type,
                                  bit_offset=bits, bitfield_size=bf))
        return BtfType(tid, kind, name, size=size_or_type, members=tuple(members),
                       kind_flag=kind_flag), pos
    if kind is Kind.ENUM:
        need(vlen * _ENUM.size)
        values = []
        for i in range(vlen):
            e_name, e_val = _ENUM.unpack_from(tdata, pos)
            pos += _ENUM.size
            values.append(Member(_string(strings, e_name, f"{where} value {i}"), 0,
                                 value=e_val))
        return BtfType(tid, kind, name, size=size_or_type, members=tuple(values),
                       kind_flag=kind_flag), pos
    if kind is Kind.ENUM64:
        need(vlen * _TRIPLE.size)
        values = []
        for i in range(vlen):
            e_name, lo, hi = _TRIPLE.unpack_from(tdata, pos)
            pos += _TRIPLE.size
            values.append(Member(_string(strings, e_name, f"{where} value {i}"), 0,
                                 value=lo | (hi << 32)))
        return BtfType(tid, kind, name, size=size_or_type, members=tuple(values),
                       kind_flag=kind_flag), pos
    if kind is Kind.FUNC_PROTO:
        need(vlen * _PAIR.size)
        params = []
        for i in range(vlen):
            p_name, p_type = _PAIR.unpack_from(tdata, pos)
            pos += _PAIR.size
            params.append(Member(_string(strings, p_name, f"{where} param {i}"), p_type))
        return BtfType(tid, kind, name, ref=size_or_type, members=tuple(params)), pos
    if kind is Kind.VAR:
        need(4)
        (linkage,) = _U32.unpack_from(tdata, pos)
        pos += 4
        return BtfType(tid, kind, name, ref=size_or_type, linkage=linkage), pos
    if kind is Kind.DATASEC:
        need(vlen * _TRIPLE.size)
        entries = []
        for _ in range(vlen):
            v_type, v_off, v_size = _TRIPLE.unpack_from(tdata, pos)
            pos += _TRIPLE.size
            entries.append(Member("", v_type, bit_offset=v_off * 8, size=v_size))
        return BtfType(tid, kind, name, size=size_or_type, members=tuple(entries)), pos
    if kind is Kind.DECL_TAG:
        need(4)
        (component,) = _U32.unpack_from(tdata, pos)
        pos += 4
        return BtfType(tid, kind, name, ref=size_or_type, linkage=component), pos
    if kind is Kind.FLOAT:
        return BtfType(tid, kind, name, size=size_or_type), pos
    if kind is Kind.FUNC:
        return BtfType(tid, kind, name, ref=size_or_type, linkage=vlen), pos
    # PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG: just a reference
    if kind is Kind.UNKN:
        raise ElfLoadError(f".BTF: {where} has kind 0 (BTF_KIND_UNKN)")
    return BtfType(tid, kind, name, ref=size_or_type, kind_flag=kind_flag), pos


def btf_ext_core_relo_len(data: bytes) -> int:
    """Bytes of CO-RE relocation records in a ``.BTF.ext`` section (0 when it has none).

    ``.BTF.ext``'s func and line info only describe the code, so the loader may ignore
    them; CO-RE relocations change it (field offsets resolved against the running
    kernel's BTF), so an object that has them cannot run correctly without them.
    Header: u16 magic, u8 version, u8 flags, u32 hdr_len, then u32 pairs (off, len) for
    func_info, line_info and, when hdr_len >= 32, core_relo."""
    if len(data) < 8:
        raise ElfLoadError(f".BTF.ext: section of {len(data)} bytes is shorter than the header")
    magic, _version, _flags, hdr_len = struct.unpack_from("<HBBI", data)
    if magic != BTF_MAGIC:
        raise ElfLoadError(f".BTF.ext: bad magic 0x{magic:04x}")
    if hdr_len < 32 or len(data) < 32:
        return 0
    _off, length = struct.unpack_from("<II", data, 24)
    return int(length)


# ---------------------------------------------------------------------------------------
# BTF-defined maps (libbpf's ``SEC(".maps")`` convention)

#: Members that ``__uint(name, val)`` encodes as ``int (*name)[val]``.
_INT_FIELDS = ("type", "max_entries", "map_flags", "key_size", "value_size", "numa_node",
               "map_extra", "pinning")


@dataclass
class BtfMapDef:
    """One map variable of ``.maps`` as libbpf reads it.  ``values_offset`` is the byte
    offset of the ``values`` member in the variable (the declarative initialisation's
    relocations land at ``values_offset + 8 * index``); ``values_kind`` says what its
    slots hold: ``"prog"`` (prog array of functions) or ``"map"`` (map-in-map)."""
    name: str
    type: int | None = None
    key_size: int | None = None
    value_size: int | None = None
    max_entries: int | None = None
    map_flags: int = 0
    numa_node: int = 0
    map_extra: int = 0
    pinning: int = 0
    key_type: int = 0
    value_type: int = 0
    values_offset: int | None = None
    values_kind: str | None = None
    var_size: int = 0


def _int_field(btf: Btf, map_name: str, m: Member) -> int:
    """The value of ``__uint(name, val)``: a pointer to an array of ``val`` elements."""
    t = btf.skip_mods_and_typedefs(m.type)
    if t.kind is not Kind.PTR:
        raise ElfLoadError(f".maps: map '{map_name}': field '{m.name}' is a"
                           f" {t.kind.name.lower()}, not __uint()'s pointer to an array")
    arr = btf.skip_mods_and_typedefs(t.ref)
    if arr.kind is not Kind.ARRAY:
        raise ElfLoadError(f".maps: map '{map_name}': field '{m.name}' points to a"
                           f" {arr.kind.name.lower()}, not __uint()'s array")
    return arr.nelems


def _type_field(btf: Btf, map_name: str, m: Member) -> tuple[int, int]:
    """``__type(name, T)`` is ``T *name``: (type id of T, sizeof(T))."""
    t = btf.skip_mods_and_typedefs(m.type)
    if t.kind is not Kind.PTR:
        raise ElfLoadError(f".maps: map '{map_name}': field '{m.name}' is a"
                           f" {t.kind.name.lower()}, not __type()'s pointer")
    try:
        size = btf.resolve_size(t.ref)
    except ElfLoadError as exc:
        raise ElfLoadError(f".maps: map '{map_name}': can't size '{m.name}'"
                           f" ({btf.describe(t.ref)}): {exc}") from None
    return t.ref, size


def _set_size(d: BtfMapDef, attr: str, value: int, what: str) -> None:
    old = getattr(d, attr)
    if old is not None and old != value:
        raise ElfLoadError(f".maps: map '{d.name}': conflicting {what} sizes {old} and"
                           f" {value}")
    setattr(d, attr, value)


def parse_map_def(btf: Btf, name: str, var_type: int) -> BtfMapDef:
    """Derive one map's definition from the type of its variable (libbpf's
    ``parse_btf_map_def``, strict: an unknown member is an error, as in libbpf)."""
    st = btf.skip_mods_and_typedefs(var_type)
    if st.kind is not Kind.STRUCT:
        raise ElfLoadError(f".maps: map '{name}' is a {st.kind.name.lower()}, not a struct")
    d = BtfMapDef(name, var_size=st.size)
    for i, m in enumerate(st.members):
        if not m.name:
            raise ElfLoadError(f".maps: map '{name}': member {i} has no name")
        if m.name in _INT_FIELDS:
            v = _int_field(btf, name, m)
            if m.name in ("key_size", "value_size"):
                _set_size(d, m.name, v, m.name.split("_")[0])
            else:
                setattr(d, m.name, v)
        elif m.name in ("key", "value"):
            tid, size = _type_field(btf, name, m)
            setattr(d, f"{m.name}_type", tid)
            _set_size(d, f"{m.name}_size", size, m.name)
        elif m.name == "values":
            if i != len(st.members) - 1:
                raise ElfLoadError(f".maps: map '{name}': 'values' must be the last member")
            arr = btf.skip_mods_and_typedefs(m.type)
            if arr.kind is not Kind.ARRAY:
                raise ElfLoadError(f".maps: map '{name}': 'values' is a"
                                   f" {arr.kind.name.lower()}, not __array()'s array")
            ptr = btf.skip_mods_and_typedefs(arr.ref)
            if ptr.kind is not Kind.PTR:
                raise ElfLoadError(f".maps: map '{name}': 'values' elements are not pointers")
            target = btf.skip_mods_and_typedefs(ptr.ref)
            if target.kind is Kind.FUNC_PROTO:
                d.values_kind = "prog"
            elif target.kind is Kind.STRUCT:
                d.values_kind = "map"
            else:
                raise ElfLoadError(f".maps: map '{name}': 'values' points to a"
                                   f" {target.kind.name.lower()} (expected a function or a"
                                   " map definition)")
            if m.bit_offset % 8:
                raise ElfLoadError(f".maps: map '{name}': 'values' is not byte aligned")
            d.values_offset = m.bit_offset // 8
            _set_size(d, "value_size", 4, "value")    # slots hold fds, as in libbpf
        else:
            raise ElfLoadError(f".maps: map '{name}': unknown field '{m.name}'")
    if d.type is None:
        raise ElfLoadError(f".maps: map '{name}' has no type")
    return d


def map_vars(btf: Btf, section: str = ".maps") -> list[tuple[str, int, int]]:
    """(name, var type id, datasec offset) of each variable of the ``section`` datasec,
    in declaration order.  The offset is as clang left it (0 in a ``.o`` before linking:
    the loader takes the ELF symbol's value instead, as libbpf's datasec fixup does)."""
    sec = btf.find(section, Kind.DATASEC)
    if sec is None:
        return []
    out = []
    for entry in sec.members:
        var = btf[entry.type]
        if var.kind is not Kind.VAR:
            raise ElfLoadError(f".BTF: datasec '{section}' entry type id {entry.type} is a"
                               f" {var.kind.name.lower()}, not a variable")
        out.append((var.name, var.ref, entry.bit_offset // 8))
    return out


__all__ = [
    "BTF_MAGIC",
    "Btf",
    "BtfMapDef",
    "BtfType",
    "Kind",
    "Member",
    "btf_ext_core_relo_len",
    "map_vars",
    "parse_btf",
    "parse_map_def",
]
