"""Listings for the demo: a program in the kernel's syntax (as ``bpftool prog dump
xlated`` and the verifier log print it), and pieces of C source cut out by name."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..program import Program

_LD_IMM64 = 0x18


def kernel_listing(program: Program, *, marks: dict[int, str] | None = None) -> str:
    """``   6: (85) call bpf_tail_call#12``, one line per instruction.  A map reference
    (ld_imm64 of a map) is followed by ``; map NAME`` (the kernel would print the map's
    address); ``marks`` adds a note after the instruction at a pc."""
    from ..isa import Pseudo
    from ..verifier.kdisasm import kernel_insn
    marks = marks or {}
    rows = []
    for pc, insn in enumerate(program.insns):
        if insn is None:
            continue
        text = f"{pc:4}: {kernel_insn(insn, pc)}"
        note = ""
        if insn.opcode == _LD_IMM64 and insn.src in (Pseudo.MAP_IDX, Pseudo.MAP_IDX_VALUE) \
                and 0 <= insn.imm < len(program.maps):
            name = getattr(program.maps[insn.imm], "name", None)
            if name:
                note = f"map {name}" + (" value" if insn.src == Pseudo.MAP_IDX_VALUE else "")
        if pc in marks:
            note = f"{note}; {marks[pc]}" if note else marks[pc]
        rows.append(f"{text:<48} ; {note}" if note else text)
    return "\n".join(rows) + "\n"


def c_function(source: str, name: str) -> str | None:
    """The definition of function ``name`` in C ``source``: from its ``SEC(...)`` line
    (or its signature) to the ``}`` that closes it at the start of a line; None when
    there is no such definition."""
    lines = source.splitlines()
    sig = re.compile(rf"^[A-Za-z_][\w\s\*]*\b{re.escape(name)}\s*\(")
    for i, line in enumerate(lines):
        if not sig.match(line) or line.rstrip().endswith(";"):
            continue
        start = i
        if i and lines[i - 1].startswith("SEC("):
            start = i - 1
        for j in range(i, len(lines)):
            if lines[j].rstrip() == "}":
                return "\n".join(lines[start:j + 1]) + "\n"
        return None
    return None


def c_map(source: str, name: str) -> str | None:
    """A BTF map definition (``struct { ... } NAME SEC(".maps");``) by its name."""
    lines = source.splitlines()
    end = re.compile(rf"^\}}\s*{re.escape(name)}\s+SEC\(\"\.maps\"\)")
    for i, line in enumerate(lines):
        if end.match(line):
            for j in range(i, -1, -1):
                if lines[j].startswith("struct {"):
                    return "\n".join(lines[j:i + 1]) + "\n"
            return None
    return None


__all__ = ["c_function", "c_map", "kernel_listing"]
