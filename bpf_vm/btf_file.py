"""A BTF file as ``bpftool btf dump file F`` takes it, and its raw listing.

F is raw BTF (``/sys/kernel/btf/vmlinux``) or an ELF file with a ``.BTF`` section (a
clang-built object, a vmlinux image).  Bad input is one :class:`BtfFileError` naming the
file, the type record and its byte offset in the file, found by walking the records
again with :mod:`bpf_vm.btf`'s own record parser (only when something is wrong: the
good path parses once).

:func:`dump_raw` is bpftool's ``format raw`` (its ``dump_btf_type``, bpftool 7.1): one
line per type id, ``[id] KIND 'name'`` and the kind's fields, then one indented line
per member, enumerator, parameter or section variable.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

from .btf import _HEADER, BTF_MAGIC, Btf, BtfType, Kind, _parse_type, parse_btf
from .elf_read import PARSE_ERRORS
from .errors import ElfLoadError

_INT_ENCODINGS = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}
_VAR_LINKAGE = {0: "static", 1: "global", 2: "extern"}
_FUNC_LINKAGE = _VAR_LINKAGE


class BtfRecordError(ElfLoadError):
    """A type record that is wrong in itself or in what it refers to; ``type_id``
    names it (the file layer adds its byte offset)."""

    def __init__(self, type_id: int, reason: str) -> None:
        self.type_id = type_id
        self.reason = reason
        super().__init__(f".BTF: type id {type_id}: {reason}")


class BtfFileError(ElfLoadError):
    """Bad input, located: ``path``, and ``offset`` (bytes from the start of the file)
    of the bad record or header, when there is one."""

    def __init__(self, path: str, message: str, offset: int | None = None) -> None:
        self.path = path
        self.offset = offset
        where = f" at offset {offset} (0x{offset:x})" if offset is not None else ""
        super().__init__(f"{path}{where}: {message}")


@dataclass
class BtfFile:
    """A parsed BTF and where its bytes came from: ``data`` is the BTF blob, which starts
    ``base`` bytes into the file (the ``.BTF`` section's offset in an ELF file)."""
    path: str
    btf: Btf
    data: bytes
    base: int = 0

    def record_offset(self, type_id: int) -> int | None:
        """File offset of type ``type_id``'s record (None for void or past the end)."""
        offsets, _ = _walk(self.data)
        if 0 < type_id < len(offsets):
            return self.base + offsets[type_id]
        return None

    def error(self, exc: ElfLoadError) -> BtfFileError:
        """``exc`` said of this file, at the record it names."""
        if isinstance(exc, BtfRecordError):
            return BtfFileError(self.path, f".BTF type id {exc.type_id}: {exc.reason}",
                                self.record_offset(exc.type_id))
        return BtfFileError(self.path, str(exc))


def _walk(data: bytes) -> tuple[list[int], tuple[int, ElfLoadError] | None]:
    """Offsets (in ``data``) of every type record, index = type id, and the first record
    that does not parse (its offset and the error) if any."""
    _m, _v, _f, hdr_len, type_off, type_len, str_off, str_len = _HEADER.unpack_from(data)
    start = hdr_len + type_off
    strings = data[hdr_len + str_off:hdr_len + str_off + str_len]
    tdata = data[start:start + type_len]
    offsets = [0]
    pos = 0
    while pos < len(tdata):
        try:
            _t, nxt = _parse_type(tdata, pos, len(offsets), strings)
        except ElfLoadError as exc:
            return offsets, (start + pos, exc)
        offsets.append(start + pos)
        pos = nxt
    return offsets, None


def _header_fits(data: bytes) -> bool:
    """The header is one parse_btf accepts and its type and string areas are inside
    ``data``: then a parse error is in a record, which :func:`_walk` can find."""
    if len(data) < _HEADER.size:
        return False
    magic, version, _f, hdr_len, type_off, type_len, str_off, str_len = \
        _HEADER.unpack_from(data)
    body: int = len(data) - hdr_len
    return bool(magic == BTF_MAGIC and version == 1 and _HEADER.size <= hdr_len <= len(data)
            and type_off + type_len <= body and str_off + str_len <= body
            and type_off % 4 == 0)


def btf_from_bytes(data: bytes, path: str, base: int = 0) -> BtfFile:
    """Parse a BTF blob (that starts ``base`` bytes into the file ``path``)."""
    try:
        btf = parse_btf(data)
    except ElfLoadError as exc:
        located = _walk(data)[1] if _header_fits(data) else None
        if located is None:     # the header, or the string section as a whole
            raise BtfFileError(path, str(exc), base) from None
        off, rec_exc = located
        raise BtfFileError(path, str(rec_exc), base + off) from None
    loaded = BtfFile(path, btf, data, base)
    try:
        check_references(btf)
    except BtfRecordError as exc:
        raise loaded.error(exc) from None
    return loaded


def load_btf_file(path: Path) -> BtfFile:
    """Raw BTF, or the ``.BTF`` section of an ELF file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BtfFileError(str(path), exc.strerror or str(exc)) from None
    if data[:4] != b"\x7fELF":
        return btf_from_bytes(data, str(path))
    try:
        elf = ELFFile(io.BytesIO(data))
        sec = elf.get_section_by_name(".BTF")
        if sec is None:
            raise BtfFileError(str(path), "ELF file without a .BTF section")
        blob, base = sec.data(), int(sec["sh_offset"])
    except PARSE_ERRORS as exc:
        raise BtfFileError(str(path), f"not a valid ELF file: {exc}") from None
    if len(blob) != sec["sh_size"]:
        raise BtfFileError(str(path), f".BTF section of {sec['sh_size']} bytes is truncated"
                           f" to {len(blob)} in the file", base)
    return btf_from_bytes(blob, str(path), base)


_MEMBER_REFS = frozenset({Kind.STRUCT, Kind.UNION, Kind.DATASEC, Kind.FUNC_PROTO})
_NO_REF = frozenset({Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FWD, Kind.FLOAT,
                     Kind.STRUCT, Kind.UNION, Kind.DATASEC})


def check_references(btf: Btf) -> None:
    """Every type id a record refers to exists (bpftool's libbpf refuses the file
    otherwise, and the C writer relies on it)."""
    n = len(btf.types)
    for t in btf.types[1:]:
        k = t.kind
        bad = None
        if k not in _NO_REF and t.ref >= n:
            bad = t.ref
        elif k is Kind.ARRAY and t.index_type >= n:
            bad = t.index_type
        elif k in _MEMBER_REFS:
            bad = next((m.type for m in t.members if m.type >= n), None)
        if bad is not None:
            raise BtfRecordError(t.id, f"{k.name.lower()} '{t.name}' refers to type id"
                                 f" {bad}, which does not exist ({n - 1} types)")


def _name(name: str) -> str:
    return name or "(anon)"


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def raw_line(btf: Btf, t: BtfType) -> str:
    """bpftool's raw listing of one type (its lines joined by newlines)."""
    k = t.kind
    head = f"[{t.id}] {k.name} '{_name(t.name)}'"
    if k is Kind.INT:
        enc = _INT_ENCODINGS.get(t.int_encoding, "UNKN")
        return (f"{head} size={t.size} bits_offset={t.int_offset} nr_bits={t.int_bits}"
                f" encoding={enc}")
    if k in (Kind.PTR, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPEDEF,
             Kind.TYPE_TAG):
        return f"{head} type_id={t.ref}"
    if k is Kind.ARRAY:
        return f"{head} type_id={t.ref} index_type_id={t.index_type} nr_elems={t.nelems}"
    if k in (Kind.STRUCT, Kind.UNION):
        lines = [f"{head} size={t.size} vlen={len(t.members)}"]
        for m in t.members:
            bf = f" bitfield_size={m.bitfield_size}" if m.bitfield_size else ""
            lines.append(f"\t'{_name(m.name)}' type_id={m.type} bits_offset={m.bit_offset}{bf}")
        return "\n".join(lines)
    if k in (Kind.ENUM, Kind.ENUM64):
        signed = t.kind_flag
        lines = [f"{head} encoding={'SIGNED' if signed else 'UNSIGNED'} size={t.size}"
                 f" vlen={len(t.members)}"]
        for v in t.members:
            if k is Kind.ENUM:
                val = f"{_s32(v.value) if signed else v.value & 0xFFFFFFFF}"
            elif signed:
                val = f"{v.value - (1 << 64) if v.value >> 63 else v.value}LL"
            else:
                val = f"{v.value}ULL"
            lines.append(f"\t'{_name(v.name)}' val={val}")
        return "\n".join(lines)
    if k is Kind.FWD:
        return f"{head} fwd_kind={'union' if t.kind_flag else 'struct'}"
    if k is Kind.FUNC:
        return f"{head} type_id={t.ref} linkage={_FUNC_LINKAGE.get(t.linkage, '(unknown)')}"
    if k is Kind.FUNC_PROTO:
        lines = [f"{head} ret_type_id={t.ref} vlen={len(t.members)}"]
        lines += [f"\t'{_name(p.name)}' type_id={p.type}" for p in t.members]
        return "\n".join(lines)
    if k is Kind.VAR:
        return f"{head} type_id={t.ref}, linkage={_VAR_LINKAGE.get(t.linkage, '(unknown)')}"
    if k is Kind.DATASEC:
        lines = [f"{head} size={t.size} vlen={len(t.members)}"]
        for e in t.members:
            var = btf.types[e.type]
            lines.append(f"\ttype_id={e.type} offset={e.bit_offset // 8} size={e.size}"
                         f" ({var.kind.name} '{_name(var.name)}')")
        return "\n".join(lines)
    if k is Kind.FLOAT:
        return f"{head} size={t.size}"
    if k is Kind.DECL_TAG:
        return f"{head} type_id={t.ref} component_idx={_s32(t.linkage)}"
    return head


def dump_raw(btf: Btf) -> str:
    """Every type, as ``bpftool btf dump file F format raw`` lists them."""
    return "".join(raw_line(btf, t) + "\n" for t in btf.types[1:])


__all__ = ["BtfFile", "BtfFileError", "BtfRecordError", "btf_from_bytes",
           "check_references", "dump_raw", "load_btf_file", "raw_line"]
