"""The tokens of one line of assembly, and the columns in front of an instruction.

Operator spellings come from :mod:`bpf_vm.syntax` (shared with the disassembler), so
the lexer knows every operator the parser (:mod:`bpf_vm.asm_parse`) can be given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from . import syntax as S
from .errors import AsmSyntaxError

_OPS = sorted({*S.ALU_OPS.values(), *S.JMP_OPS.values(),
               *(text + "=" for text in S.ATOMIC_LOCK_OPS.values()),
               "=", "+", "-", "*", "(", ")", "[", "]", ",", ":"}, key=len, reverse=True)
_OP_RE = "|".join(re.escape(o) for o in _OPS)
_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<num>0[xX][0-9a-fA-F]+|\d+)(?![\w.$])"
    rf"|(?P<op>{_OP_RE})"
    r"|(?P<id>[A-Za-z_.$][\w.$]*)"
    r"|(?P<str>\"(?:[^\"\\]|\\.)*\")"   # only so a misplaced directive gets a clear error
)
#: Operators are tried before identifiers, so ``s>`` / ``s>>=`` / ``s/=`` win over a name
#: ``s`` where a token starts; ``(s8)`` and ``u32`` are still names.

#: The columns in front of an instruction: pc, then the verifier log's ``(bf)`` opcode or
#: 8/16 hex bytes (``bpf-vm disasm``, llvm-objdump).
PC_COLUMN = re.compile(r"\s*\d+:(?:\s+\([0-9a-fA-F]{2}\)(?=\s))?"
                       r"(?:\s+(?:[0-9a-fA-F]{2}[ \t]+){7}[0-9a-fA-F]{2}"
                       r"(?:(?:[ \t]+[0-9a-fA-F]{2}){8})?(?=\s|$))?")
#: ``.map`` etc.; a word starting with a dot and ending with ':' is a label instead.
DIRECTIVE = re.compile(r"\s*(\.[\w.$]*)(?=\s|$)")
#: llvm-objdump's ``<LBB0_3>`` after a jump target.
ANNOTATION = re.compile(r"\s<[^<>\s]*>\s*$")
REGISTER = re.compile(r"([rw])(\d+)")


@dataclass(frozen=True, slots=True)
class Tok:
    """One token; ``col`` is 1-based, for error messages."""
    kind: Literal["num", "op", "id", "str", "end"]
    text: str
    col: int   # 1-based

    def show(self) -> str:
        return "end of line" if self.kind == "end" else f"'{self.text}'"


def strip_comment(line: str) -> str:
    """Cut ``;``, ``//`` and ``#`` comments, but not inside a string."""
    quoted = False
    for k, ch in enumerate(line):
        if ch == '"' and (k == 0 or line[k - 1] != "\\"):
            quoted = not quoted
        elif not quoted and (ch in ";#" or line.startswith("//", k)):
            return line[:k]
    return line


def blank(line: str, end: int) -> str:
    """Replace the first ``end`` characters with spaces, keeping columns right."""
    return " " * end + line[end:]


def tokenize(line: str, lineno: int, source: str) -> list[Tok]:
    """Tokens of an instruction line, ending with an ``end`` token (for error columns)."""
    toks: list[Tok] = []
    pos = 0
    while pos < len(line):
        m = _TOKEN.match(line, pos)
        if m is None:
            raise AsmSyntaxError(lineno, pos + 1, f"unexpected character {line[pos]!r}", source)
        kind = m.lastgroup
        if kind != "ws":
            toks.append(Tok(kind, m.group(), pos + 1))  # type: ignore[arg-type]
        pos = m.end()
    toks.append(Tok("end", "", len(line.rstrip()) + 1))
    return toks
