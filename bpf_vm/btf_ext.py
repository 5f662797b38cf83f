"""``.BTF.ext`` line info: which C source line each instruction of an object came from.

clang ``-g`` writes, per executable section, one record per instruction that starts a
new source line (include/uapi/linux/btf.h's ``struct bpf_line_info``)::

    struct btf_ext_header { u16 magic = 0xeB9F; u8 version; u8 flags; u32 hdr_len;
                            u32 func_info_off, func_info_len;
                            u32 line_info_off, line_info_len; ... }   /* after hdr */
    line_info: u32 rec_size, then per section:
        struct btf_ext_info_sec { u32 sec_name_off; u32 num_info; }
        struct bpf_line_info { u32 insn_off;        /* bytes, in the ELF section */
                               u32 file_name_off;   /* .BTF strings */
                               u32 line_off;        /* the line's own text */
                               u32 line_col; }      /* line << 10 | column */

:func:`parse_line_info` reads them; :func:`program_lines` maps them onto the pcs of the
linked programs (each program is its entry function with the subprograms it calls
appended, :mod:`bpf_vm.elf_link`), as libbpf's ``bpf_program__reloc_code`` carries the
line info along with the code.  This is what the explorer page shows in its source pane.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from .btf import BTF_MAGIC
from .errors import ElfLoadError

_HDR = struct.Struct("<HBBIIIII")
_SEC = struct.Struct("<II")
_REC = struct.Struct("<IIII")


@dataclass(frozen=True, slots=True)
class LineInfo:
    """One ``bpf_line_info``: the instruction (an index into its ELF section, not a byte
    offset), the file, the 1-based line and column, and the line's text as clang kept it."""
    insn: int
    file: str
    line: int
    col: int
    text: str


def ext_string(strings: bytes, off: int, where: str, section: str = ".BTF.ext") -> str:
    """The string at ``off`` in .BTF's string table, for a ``.BTF.ext`` record at
    ``where``; an offset outside the table is an ElfLoadError naming ``section``."""
    if not 0 <= off < len(strings):
        raise ElfLoadError(f"{section}: {where}: string offset {off} is outside .BTF's"
                           f" strings ({len(strings)} bytes)")
    end = strings.find(b"\0", off)
    return strings[off:end if end >= 0 else len(strings)].decode(errors="replace")


def parse_line_info(data: bytes, strings: bytes) -> dict[str, list[LineInfo]]:
    """Every section's line info, by section name, in the order clang wrote it.
    ``strings`` is ``.BTF``'s string section.  Malformed input raises
    :class:`ElfLoadError`."""
    if len(data) < _HDR.size:
        return {}
    magic, _ver, _flags, hdr_len, _fo, _fl, lo, ll = _HDR.unpack_from(data)
    if magic != BTF_MAGIC:
        raise ElfLoadError(f".BTF.ext: bad magic 0x{magic:04x} at offset 0")
    start, end = hdr_len + lo, hdr_len + lo + ll
    if ll == 0:
        return {}
    if end > len(data) or ll < 4:
        raise ElfLoadError(f".BTF.ext: line info [{start}, +{ll}) extends past the end of"
                           f" the section ({len(data)} bytes), header at offset 16")
    (rec_size,) = struct.unpack_from("<I", data, start)
    if rec_size < _REC.size:
        raise ElfLoadError(f".BTF.ext: line info record size {rec_size} at offset {start}"
                           f" is too small (at least {_REC.size})")
    out: dict[str, list[LineInfo]] = {}
    pos = start + 4
    while pos + _SEC.size <= end:
        name_off, num = _SEC.unpack_from(data, pos)
        head = f"line info section header at offset {pos}"
        pos += _SEC.size
        if pos + num * rec_size > end:
            raise ElfLoadError(f".BTF.ext: {head}: {num} records of {rec_size} bytes do not"
                               f" fit in [{start}, {end})")
        recs = out.setdefault(ext_string(strings, name_off, head), [])
        for _ in range(num):
            where = f"line info record at offset {pos}"
            insn_off, file_off, line_off, line_col = _REC.unpack_from(data, pos)
            pos += rec_size
            recs.append(LineInfo(insn_off // 8, ext_string(strings, file_off, where),
                                 line_col >> 10, line_col & 0x3FF,
                                 ext_string(strings, line_off, where)))
    return out


def program_lines(path: str | os.PathLike[str]) -> dict[str, dict[int, LineInfo]]:
    """For each program of the object at ``path`` (by name), the line info of its
    linked instructions by pc (the pcs the VM runs: subprograms appended).  Empty
    for an object without ``.BTF.ext`` line info (compiled without ``-g``)."""
    from .elf import parse_object
    loader = parse_object(path)
    reader = loader.reader
    if reader.btf is None:
        return {}
    ext = [s for s in reader.sections if s.name == ".BTF.ext"]
    if not ext:
        return {}
    by_section = parse_line_info(reader.data(ext[0]), reader.btf.strings)
    funcs = {(f.name, code.idx): f for code in reader.code.values() for f in code.funcs}
    by_name: dict[str, list[tuple[int, int, int]]] = {}
    for (name, sec), f in funcs.items():
        by_name.setdefault(name, []).append((sec, f.start, f.end))
    out: dict[str, dict[int, LineInfo]] = {}
    for entry in loader.entries():
        _insns, names = loader.link(entry)
        lines: dict[int, LineInfo] = {}
        for base, fname in sorted(names.items()):
            places = by_name.get(fname, [])
            # the entry's own section first: a static subprogram's name may repeat
            places.sort(key=lambda p: p[0] != entry.sec)
            if not places:
                continue
            sec, fstart, fend = places[0]
            for li in by_section.get(reader.code[sec].name, []):
                if fstart <= li.insn < fend:
                    lines[base + li.insn - fstart] = li
        out[entry.name] = lines
    return out


__all__ = ["LineInfo", "parse_line_info", "program_lines"]
