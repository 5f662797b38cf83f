"""Global variables set from ``NAME=VALUE`` text, by their BTF types, before load.

A libbpf skeleton user writes ``skel->rodata->targ_pid = 1234;`` between open and load;
``bpf-vm run --set targ_pid=1234`` (and a front end's ``--set``) does the same from
text.  The variable's BTF type says how the text is read:

* integers of every size and signedness: decimal, ``0x`` hex (``0o``, ``0b``), negative;
  range-checked against the type (``300`` is out of range for ``u8``);
* ``bool``: ``true``/``false``/``1``/``0``;
* enums: an enumerator's name or a number that fits the enum's size;
* ``char`` (a one-byte int): a number or a quoted character ``'a'``;
* ``char`` arrays: a string, NUL-padded; it must fit with its terminating NUL;
* arrays of other scalars: a comma-separated list, missing elements zero;
* floats (``float``, ``double``); typedefs (``pid_t``, ``u8``) and qualifiers resolved.

Settable are the variables a skeleton exposes: non-static ones of ``.rodata``,
``.data``, ``.bss`` and libbpf's custom ``.rodata.*``/``.data.*``/``.bss.*`` sections
(bpftool's skeleton generator skips static variables).  Errors are one line
(:class:`GlobalSetError`) naming the variable and why.

:func:`fixup_datasecs` is libbpf's ``btf_fixup_datasec``: clang leaves a ``.o``'s
DATASEC sizes (and global variables' offsets) at 0; libbpf fills them from the ELF
section and symbols at open, and so does the loader, so that map dumps decode global
data (:mod:`bpf_vm.btf_value`).
"""

from __future__ import annotations

import dataclasses
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .btf import Btf, BtfType, Kind
from .errors import BpfError

if TYPE_CHECKING:
    from .elf import ParsedObject
    from .elf_read import ElfReader

BTF_INT_SIGNED, BTF_INT_CHAR, BTF_INT_BOOL = 1, 2, 4
BTF_VAR_STATIC = 0
_DATA_PREFIXES = (".data", ".rodata", ".bss")
_EXTERN_SECS = (".kconfig", ".ksyms")


class GlobalSetError(BpfError):
    """A ``NAME=VALUE`` setting that cannot be applied: unknown or unsettable variable,
    or a value its type cannot hold.  ``name`` is the variable."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"global '{name}': {message}" if name else message)


@dataclass(frozen=True, slots=True)
class GlobalVar:
    """A settable variable: its section, BTF VAR's type id, size and offset."""
    name: str
    section: str
    type_id: int
    size: int
    offset: int

    @property
    def readonly(self) -> bool:
        return self.section.startswith(".rodata")


def is_data_section(name: str) -> bool:
    """libbpf's global-data sections: ``.data``, ``.rodata``, ``.bss`` and ``NAME.*``."""
    return any(name == p or name.startswith(p + ".") for p in _DATA_PREFIXES)


def fixup_datasecs(reader: ElfReader) -> None:
    """Fill each DATASEC's size and its non-static variables' offsets from the ELF
    section and symbols, and sort its variables by offset (libbpf's
    ``btf_fixup_datasec`` at open); the kernel requires both of a map's value type."""
    btf = reader.btf
    if btf is None:
        return
    for t in list(btf.types):
        if t.kind is not Kind.DATASEC or t.name in _EXTERN_SECS:
            continue
        shndx = reader.section_index(t.name)
        if shndx is None:
            continue
        members = []
        for m in t.members:
            var = btf[m.type]
            off = m.bit_offset // 8
            if var.kind is Kind.VAR and var.linkage != BTF_VAR_STATIC:
                sym = reader.sym_in(shndx, var.name)
                if sym is not None:
                    off = sym.value
            members.append(dataclasses.replace(m, bit_offset=off * 8))
        members.sort(key=lambda m: m.bit_offset)
        size = reader.sections[shndx]["sh_size"]
        btf.types[t.id] = dataclasses.replace(t, size=size, members=tuple(members))


def settable_globals(btf: Btf) -> dict[str, GlobalVar]:
    """The variables a skeleton exposes, in section and declaration order."""
    out: dict[str, GlobalVar] = {}
    for t in btf.types:
        if t.kind is not Kind.DATASEC or not is_data_section(t.name):
            continue
        for m in t.members:
            var = btf[m.type]
            if var.kind is Kind.VAR and var.linkage != BTF_VAR_STATIC:
                out[var.name] = GlobalVar(var.name, t.name, var.ref, m.size,
                                          m.bit_offset // 8)
    return out


def _why_not(btf: Btf, name: str, known: Mapping[str, GlobalVar]) -> str:
    """Why ``name`` is not settable: what it is instead, or the settable list."""
    for t in btf.types:
        if t.kind is Kind.DATASEC:
            for m in t.members:
                var = btf[m.type]
                if var.name != name:
                    continue
                if t.name == ".maps":
                    return "is a map, not a global variable"
                if t.name in _EXTERN_SECS:
                    return f"is an extern ({t.name}) that the loader fills, not settable"
                if var.linkage == BTF_VAR_STATIC:
                    return (f"is a static variable of {t.name}; a skeleton exposes only"
                            " non-static globals")
                return f"is in section {t.name}, not global data"
    fn = btf.find(name, Kind.FUNC)
    if fn is not None:
        return "is a function, not a global variable"
    if not known:
        return "no such global variable (the object has no settable globals)"
    return f"no such global variable (settable: {', '.join(known)})"


# -- reading text by type --------------------------------------------------------------------

def type_name(btf: Btf, type_id: int) -> str:
    """How a variable's type is spelled, without its qualifiers: ``u8``, ``pid_t``,
    ``enum mode``, ``char[16]``."""
    t = btf[type_id]
    while t.kind in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
        t = btf[t.ref]
    return btf.describe(t.id)


def _int_range(t: BtfType) -> tuple[int, int]:
    bits = t.size * 8
    if t.int_encoding & BTF_INT_SIGNED:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _parse_int(text: str) -> int | None:
    try:
        return int(text.strip(), 0)
    except ValueError:
        return None


class _Encoder:
    """Text -> bytes for one variable; errors name it."""

    def __init__(self, btf: Btf, name: str) -> None:
        self.btf = btf
        self.name = name

    def fail(self, message: str) -> GlobalSetError:
        return GlobalSetError(self.name, message)

    def encode(self, type_id: int, text: str) -> bytes:
        btf = self.btf
        t = btf.skip_mods_and_typedefs(type_id)
        spelled, resolved = type_name(btf, type_id), btf.describe(t.id)
        shown = f"'{spelled}'" if spelled == resolved else f"'{spelled}' ({resolved})"
        if t.kind is Kind.INT:
            return self._int(t, text, shown)
        if t.kind in (Kind.ENUM, Kind.ENUM64):
            return self._enum(t, text, shown)
        if t.kind is Kind.FLOAT:
            fmt = {4: "<f", 8: "<d"}.get(t.size)
            if fmt is None:
                raise self.fail(f"a {t.size}-byte float ({shown}) cannot be set")
            try:
                return struct.pack(fmt, float(text))
            except (ValueError, OverflowError):
                raise self.fail(f"{text!r} is not a number for {shown}") from None
        if t.kind is Kind.ARRAY:
            return self._array(t, text, shown)
        what = {Kind.PTR: "a pointer", Kind.STRUCT: "a struct", Kind.UNION: "a union"}.get(
            t.kind, f"a {t.kind.name.lower()}")
        raise self.fail(f"{shown} is {what}; --set takes ints, bools, enums, chars,"
                        " floats and arrays of them")

    def _int(self, t: BtfType, text: str, shown: str) -> bytes:
        if t.size not in (1, 2, 4, 8, 16) or t.int_offset or t.int_bits != t.size * 8:
            raise self.fail(f"{shown} is a {t.int_bits}-bit integer type; not settable")
        if t.int_encoding & BTF_INT_BOOL:
            word = text.strip().lower()
            if word not in ("true", "false", "1", "0"):
                raise self.fail(f"{text!r} is not a bool: expected true, false, 1 or 0 for"
                                f" {shown}")
            return (word in ("true", "1")).to_bytes(t.size, "little")
        value = _parse_int(text)
        s = text.strip()
        if value is None and t.size == 1 and len(s) == 3 and s[0] == s[2] == "'":
            value = ord(s[1]) if ord(s[1]) < 0x80 else None
        if value is None:
            raise self.fail(f"{text!r} is not an integer (decimal, 0x hex or negative) for"
                            f" {shown}")
        lo, hi = _int_range(t)
        if not lo <= value <= hi:
            raise self.fail(f"{value} is out of range for {shown}: {lo}..{hi}")
        return value.to_bytes(t.size, "little", signed=value < 0)

    def _enum(self, t: BtfType, text: str, shown: str) -> bytes:
        s = text.strip()
        match = next((m for m in t.members if m.name == s), None)
        if match is not None:
            value = match.value
        else:
            parsed = _parse_int(s)
            if parsed is None:
                names = ", ".join(m.name for m in t.members) or "none"
                raise self.fail(f"{s!r} is neither a number nor an enumerator of {shown}:"
                                f" {names}")
            value = parsed
        bits = t.size * 8
        lo, hi = -(1 << (bits - 1)), (1 << bits) - 1
        if not lo <= value <= hi:
            raise self.fail(f"{value} does not fit {shown} of {t.size} bytes")
        return (value & ((1 << bits) - 1)).to_bytes(t.size, "little")

    def _is_chars(self, t: BtfType) -> bool:
        """An array of one-byte integers (not bools): set from a string."""
        elem = self.btf.skip_mods_and_typedefs(t.ref)
        return (elem.kind is Kind.INT and elem.size == 1
                and not elem.int_encoding & BTF_INT_BOOL)

    def _array(self, t: BtfType, text: str, shown: str) -> bytes:
        btf = self.btf
        size = btf.resolve_size(t.id)
        if self._is_chars(t):
            raw = text.encode()
            if len(raw) + 1 > size:
                raise self.fail(f"{len(raw)} bytes and the terminating NUL do not fit in"
                                f" {shown}")
            return raw.ljust(size, b"\0")
        # the elements of a (possibly multi-dimensional) array, in C order, down to
        # scalars or strings
        inner, count = btf.skip_mods_and_typedefs(t.ref), t.nelems
        while inner.kind is Kind.ARRAY and not self._is_chars(inner):
            count *= inner.nelems
            inner = btf.skip_mods_and_typedefs(inner.ref)
        items = text.split(",") if text.strip() else []
        if len(items) > count:
            raise self.fail(f"{len(items)} values for {shown}, which holds {count}")
        out = b"".join(self.encode(inner.id, x) for x in items)
        return out.ljust(size, b"\0")


def encode_value(btf: Btf, name: str, text: str) -> bytes:
    """The bytes a settable global ``name`` gets from ``text``, read by its BTF type."""
    known = settable_globals(btf)
    var = known.get(name)
    if var is None:
        raise GlobalSetError(name, _why_not(btf, name, known))
    raw = _Encoder(btf, name).encode(var.type_id, text)
    if len(raw) != var.size:    # a DATASEC entry that disagrees with its type
        raise GlobalSetError(name, f"{len(raw)} bytes for a variable of {var.size}")
    return raw


def parse_set_args(specs: Sequence[str] | None) -> dict[str, str]:
    """``["targ_pid=1234", "comm=cat"]`` -> ``{"targ_pid": "1234", "comm": "cat"}``;
    the value is everything after the first ``=`` (it may contain ``=`` and commas)."""
    out: dict[str, str] = {}
    for spec in specs or ():
        name, sep, value = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            raise GlobalSetError("", f"--set {spec!r}: expected NAME=VALUE")
        if name in out:
            raise GlobalSetError(name, "set twice")
        out[name] = value
    return out


def resolve_settings(loader: ParsedObject,
                     values: Mapping[str, int | bytes | str]) -> dict[str, int | bytes]:
    """Text values read by their variables' BTF types; ints and bytes are kept (they are
    checked by size when set).  Raises :class:`GlobalSetError`."""
    if not any(isinstance(v, str) for v in values.values()):
        return dict(values)  # type: ignore[arg-type]  # no str left, by the test above
    btf = loader.btf
    if btf is None:
        name = next(n for n, v in values.items() if isinstance(v, str))
        raise GlobalSetError(name, f"{loader.name} has no BTF (compile with -g), so its"
                             " globals' types are unknown")
    return {n: encode_value(btf, n, v) if isinstance(v, str) else v
            for n, v in values.items()}


def apply_settings(source: ParsedObject | str | os.PathLike[str],
                   specs: Sequence[str]) -> dict[str, bytes]:
    """``--set NAME=VALUE`` strings for an object (a path, or an already parsed object,
    which then holds the values as its initial data): each variable's new bytes.
    Raises :class:`GlobalSetError` (bad setting) or ElfLoadError (bad object)."""
    from .elf import ParsedObject, parse_object, set_globals
    loader = source if isinstance(source, ParsedObject) else parse_object(source)
    values = resolve_settings(loader, parse_set_args(specs))
    if isinstance(source, ParsedObject):
        set_globals(loader, values)
    return {n: v for n, v in values.items() if isinstance(v, bytes)}


__all__ = [
    "GlobalSetError",
    "GlobalVar",
    "apply_settings",
    "encode_value",
    "fixup_datasecs",
    "is_data_section",
    "parse_set_args",
    "resolve_settings",
    "settable_globals",
    "type_name",
]
