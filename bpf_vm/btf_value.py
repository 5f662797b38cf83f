"""Values decoded through BTF: bytes + a type id -> what bpftool's formatted dump shows,
or a readable C-like line.

:func:`to_json` renders as bpftool's ``btf_dumper`` does for ``bpftool -j map dump``'s
``"formatted"`` member (tools/bpf/bpftool/btf_dumper.c), checked against it:

* integers of 8/16/32/64 bits: numbers, signed or not as the type says; 128-bit
  integers, bitfields and integers whose BTF bits are not a whole byte: hex strings
  (``"0x1f"``, unsigned, as bpftool prints them);
* ``bool``: true/false; a BTF_INT_CHAR char: the character when printable, else the
  character with that code;
* ``char`` arrays (element named ``char`` or BTF_INT_CHAR, through qualifiers but not
  typedefs) that hold a NUL with only printable bytes before it: the string up to the
  NUL; other arrays: lists;
* enums: the enumerator's name when the value has one, else the signed number;
* structs and unions: objects keyed by member name (an anonymous member's key is
  ``""``; a later one of the same name replaces it, as in any JSON reader);
* pointers: the address as a number; VAR ``{"name": value}``; DATASEC
  ``{".rodata": [{"var": value}, ...]}``;
* ``float``/``double`` (which bpftool refuses): the number, our own extension.

:func:`to_text` writes the same value as C reads it: ``pid=1234 comm="cat"``, nested
structs in braces, C strings cut at the NUL with C escapes, bitfields as numbers of the
member's signedness, pointers in hex, arrays ``[1,2,3]``.
"""

from __future__ import annotations

import struct
from typing import Any

from .btf import Btf, BtfType, Kind
from .errors import BpfError

BTF_INT_SIGNED, BTF_INT_CHAR, BTF_INT_BOOL = 1, 2, 4


class BtfValueError(BpfError):
    """Bytes that a type cannot be decoded from (too short, or a type without a
    value: void, function, forward declaration)."""


def _need(data: bytes, off: int, n: int, btf: Btf, type_id: int) -> None:
    if off < 0 or off + n > len(data):
        raise BtfValueError(f"{btf.describe(type_id)}: needs {n} bytes at offset {off},"
                            f" the value has {len(data)}")


def _bits(data: bytes, byte_off: int, bit_off: int, nr_bits: int) -> int:
    """An unsigned little-endian bitfield of ``nr_bits`` at ``bit_off`` past
    ``byte_off``."""
    nbytes = (bit_off + nr_bits + 7) // 8
    raw = int.from_bytes(data[byte_off:byte_off + nbytes], "little")
    return (raw >> bit_off) & ((1 << nr_bits) - 1)


def _sext(v: int, bits: int) -> int:
    return v - (1 << bits) if bits and v >> (bits - 1) & 1 else v


def _is_char(btf: Btf, t: BtfType) -> bool:
    """bpftool's test of a string array's element: after qualifiers (not typedefs), a
    one-byte int that is BTF_INT_CHAR or named ``char``."""
    for _ in range(len(btf)):
        if t.kind not in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
            break
        t = btf[t.ref]
    return (t.kind is Kind.INT and t.size == 1
            and (t.int_encoding & BTF_INT_CHAR != 0 or t.name == "char"))


def _str_array(data: bytes, off: int, n: int) -> str | None:
    """bpftool's ``is_str_array``: a NUL within ``n`` bytes, only 0x20..0x7e before."""
    for i in range(n):
        c = data[off + i]
        if c == 0:
            return data[off:off + i].decode("ascii")
        if c <= 0x1F or c >= 0x7F:
            return None
    return None


def _int_json(t: BtfType, data: bytes, off: int, bit_off: int) -> Any:
    nr_bits = t.int_bits
    if bit_off or t.int_offset or nr_bits % 8:
        total = bit_off + t.int_offset
        return hex(_bits(data, off + total // 8, total % 8, nr_bits))
    if nr_bits == 128:
        return hex(int.from_bytes(data[off:off + 16], "little"))
    enc = t.int_encoding
    if enc & BTF_INT_BOOL:
        return data[off] != 0
    if enc & BTF_INT_CHAR:
        return chr(data[off])
    if nr_bits not in (8, 16, 32, 64):
        return hex(_bits(data, off, 0, nr_bits))
    return int.from_bytes(data[off:off + nr_bits // 8], "little",
                          signed=bool(enc & BTF_INT_SIGNED))


def _enum_value(t: BtfType, data: bytes, off: int) -> Any:
    value = int.from_bytes(data[off:off + t.size], "little", signed=True)
    if t.kind is Kind.ENUM64:
        unsigned = value & ((1 << 64) - 1)
        hit = next((m for m in t.members if m.value & ((1 << 64) - 1) == unsigned), None)
    else:
        hit = next((m for m in t.members if m.value == value), None)
    return hit.name if hit is not None else value


def _float(t: BtfType, data: bytes, off: int) -> float | str:
    fmt = {4: "<f", 8: "<d"}.get(t.size)
    if fmt is None:
        return "0x" + data[off:off + t.size][::-1].hex()
    return float(struct.unpack_from(fmt, data, off)[0])


def to_json(btf: Btf, type_id: int, data: bytes, offset: int = 0) -> Any:
    """The value of type ``type_id`` at ``offset`` in ``data``, as bpftool's
    formatted dump shows it (a JSON-able Python value)."""
    try:
        size = btf.resolve_size(type_id)
    except BpfError:
        size = 0
    _need(data, offset, size, btf, type_id)
    return _json(btf, type_id, data, offset, 0, 0)


def _json(btf: Btf, type_id: int, data: bytes, off: int, bit_off: int, depth: int) -> Any:
    if depth > 64:
        raise BtfValueError(f"{btf.describe(type_id)}: types nested more than 64 deep")
    t = btf.skip_mods_and_typedefs(type_id)
    k = t.kind
    if k is Kind.INT:
        return _int_json(t, data, off, bit_off)
    if k in (Kind.ENUM, Kind.ENUM64):
        return _enum_value(t, data, off)
    if k is Kind.PTR:
        return int.from_bytes(data[off:off + 8], "little")
    if k is Kind.FLOAT:
        return _float(t, data, off)
    if k is Kind.ARRAY:
        if t.nelems and _is_char(btf, btf[t.ref]):
            s = _str_array(data, off, t.nelems)
            if s is not None:
                return s
        esize = btf.resolve_size(t.ref)
        return [_json(btf, t.ref, data, off + i * esize, 0, depth + 1)
                for i in range(t.nelems)]
    if k in (Kind.STRUCT, Kind.UNION):
        out: dict[str, Any] = {}
        for m in t.members:
            moff = off + m.bit_offset // 8
            if m.bitfield_size:
                out[m.name] = hex(_bits(data, moff, m.bit_offset % 8, m.bitfield_size))
            else:
                out[m.name] = _json(btf, m.type, data, moff, m.bit_offset % 8, depth + 1)
        return out
    if k is Kind.VAR:
        return {t.name: _json(btf, t.ref, data, off, bit_off, depth + 1)}
    if k is Kind.DATASEC:
        return {t.name: [_json(btf, m.type, data, off + m.bit_offset // 8, 0, depth + 1)
                         for m in t.members]}
    raise BtfValueError(f"{btf.describe(type_id)}: a {k.name.lower()} has no value to show")


# -- the readable form -----------------------------------------------------------------------

_ESCAPES = {0x5C: "\\\\", 0x22: '\\"', 0x0A: "\\n", 0x09: "\\t", 0x0D: "\\r", 0x00: "\\0"}


def c_string(raw: bytes) -> str:
    """``raw`` up to its first NUL as a C string literal: ``"cat\\n"``, ``"\\x01"``."""
    end = raw.find(b"\0")
    raw = raw if end < 0 else raw[:end]
    out = []
    for c in raw:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append(f"\\x{c:02x}")
    return '"' + "".join(out) + '"'


def to_text(btf: Btf, type_id: int, data: bytes, offset: int = 0, *,
            top: bool = True) -> str:
    """The value as C reads it.  A struct or union is ``a=1 b={c=2}`` at the top
    level (a record line; ``top=False``: in braces, as when nested)."""
    try:
        size = btf.resolve_size(type_id)
    except BpfError:
        size = 0
    _need(data, offset, size, btf, type_id)
    t = btf.skip_mods_and_typedefs(type_id)
    if top and t.kind in (Kind.STRUCT, Kind.UNION):
        return " ".join(_fields(btf, t, data, offset, 0))
    return _text(btf, type_id, data, offset, 0, 0)


def _fields(btf: Btf, t: BtfType, data: bytes, off: int, depth: int) -> list[str]:
    out: list[str] = []
    for m in t.members:
        moff = off + m.bit_offset // 8
        mt = btf.skip_mods_and_typedefs(m.type)
        if not m.name and mt.kind in (Kind.STRUCT, Kind.UNION):
            out.extend(_fields(btf, mt, data, moff, depth + 1))   # C reads through them
            continue
        if m.bitfield_size:
            v = _bits(data, moff, m.bit_offset % 8, m.bitfield_size)
            signed = mt.kind is Kind.INT and mt.int_encoding & BTF_INT_SIGNED
            if mt.kind in (Kind.ENUM, Kind.ENUM64):
                hit = next((e for e in mt.members if e.value == v), None)
                value = hit.name if hit is not None else str(v)
            else:
                value = str(_sext(v, m.bitfield_size) if signed else v)
        else:
            value = _text(btf, m.type, data, moff, m.bit_offset % 8, depth + 1)
        out.append(f"{m.name}={value}")
    return out


def _text(btf: Btf, type_id: int, data: bytes, off: int, bit_off: int, depth: int) -> str:
    if depth > 64:
        raise BtfValueError(f"{btf.describe(type_id)}: types nested more than 64 deep")
    t = btf.skip_mods_and_typedefs(type_id)
    k = t.kind
    if k is Kind.INT:
        if bit_off or t.int_offset or t.int_bits % 8:
            total = bit_off + t.int_offset
            v = _bits(data, off + total // 8, total % 8, t.int_bits)
            return str(_sext(v, t.int_bits) if t.int_encoding & BTF_INT_SIGNED else v)
        if t.int_encoding & BTF_INT_BOOL:
            return "true" if data[off] else "false"
        if t.int_encoding & BTF_INT_CHAR:
            return "'" + c_string(data[off:off + 1] or b"\0")[1:-1].replace("'", "\\'") + "'"
        return str(int.from_bytes(data[off:off + t.size], "little",
                                  signed=bool(t.int_encoding & BTF_INT_SIGNED)))
    if k in (Kind.ENUM, Kind.ENUM64):
        return str(_enum_value(t, data, off))
    if k is Kind.PTR:
        return hex(int.from_bytes(data[off:off + 8], "little"))
    if k is Kind.FLOAT:
        return repr(_float(t, data, off))
    if k is Kind.ARRAY:
        if t.nelems and _is_char(btf, btf[t.ref]):
            return c_string(data[off:off + t.nelems])
        esize = btf.resolve_size(t.ref)
        return "[" + ",".join(_text(btf, t.ref, data, off + i * esize, 0, depth + 1)
                              for i in range(t.nelems)) + "]"
    if k in (Kind.STRUCT, Kind.UNION):
        return "{" + " ".join(_fields(btf, t, data, off, depth + 1)) + "}"
    if k is Kind.VAR:
        return f"{t.name}={_text(btf, t.ref, data, off, bit_off, depth + 1)}"
    if k is Kind.DATASEC:
        return " ".join(_text(btf, m.type, data, off + m.bit_offset // 8, 0, depth + 1)
                        for m in t.members)
    raise BtfValueError(f"{btf.describe(type_id)}: a {k.name.lower()} has no value to show")


__all__ = ["BtfValueError", "c_string", "to_json", "to_text"]
