"""Assembler for the kernel/LLVM textual syntax printed by :mod:`bpf_vm.disasm`.

It accepts every canonical form the disassembler prints, and also:

* decimal or hex numbers anywhere, with a sign where a sign makes sense;
  32-bit immediates may be written signed (``-1``) or unsigned (``0xffffffff``), as LLVM's
  assembler allows; ld_imm64 takes anything from -2**63 to 2**64-1;
* both memory spellings, ``(r1 + 0x8)`` (llvm) and ``(r1 +8)`` (verifier log), any spacing;
* ``w`` value registers in loads and stores of up to 32 bits (llvm with alu32 prints them);
  ``r`` registers in 32-bit atomics (the verifier log prints them);
* ``call 12``, ``call bpf_tail_call``, ``call tail_call``, ``call pc+5``, ``call label``:
  a ``bpf_``-prefixed name is always a helper; a bare name is a label of this program if
  one is defined, else a helper name; the verifier log's ``call bpf_map_lookup_elem#1``
  reads as a name and a comment;
* jump targets ``+N``, ``-N``, ``pc+N`` (verifier log) or a label; ``goto`` is 16-bit and a
  target out of its range is an error (write ``gotol``, 32-bit, to mean it); the same
  targets after ``may_goto`` (16-bit too: the verifier log's ``may_goto pc+3``);
* labels ``name:`` (several per line, or before an instruction on the same line);
* comments from ``;``, ``//`` or ``#`` to the end of the line;
* the columns ``bpf-vm disasm``, ``llvm-objdump -d`` and the verifier log print: a leading
  ``12:`` pc column, after it the verifier log's ``(bf)`` opcode or a column of 8 or 16 hex
  bytes, and a trailing ``<LBB0_3>`` annotation after a jump target.  They are ignored (the
  text after them is what is assembled; the bytes are not checked against it).

Directives, for programs written in assembly:

* ``.map NAME TYPE key=K value=V max_entries=N [flags=F]`` declares a map; TYPE is an
  ``enum bpf_map_type`` name without ``BPF_MAP_TYPE_`` in lower case (``prog_array``,
  ``hash``, ``array``, ``percpu_array``, ``ringbuf``...).  ``r2 = map[NAME] ll`` is then an
  ld_imm64 with src BPF_PSEUDO_MAP_IDX and imm = the declaration's index (0, 1, ...), and
  ``r2 = map[NAME][0]+0x8 ll`` the MAP_IDX_VALUE form.  Maps are shared by all programs.
* ``.license "GPL"`` the license string (once per file).
* ``.prog NAME [SECTION]`` starts a new program; labels are local to a program, which holds
  its main body and its subprograms.  A file without ``.prog`` is one program named
  ``prog``; in a file with ``.prog``, every instruction must follow one.
* ``.section SECTION`` sets the current program's section (``kprobe/__x64_sys_openat``).

Errors are :class:`~bpf_vm.errors.AsmSyntaxError` with the 1-based line and column of the
offending token and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ._generated_map_types import MAP_TYPES
from .asm_lex import (
    ANNOTATION,
    DIRECTIVE,
    PC_COLUMN,
    REGISTER,
    Tok,
    blank,
    strip_comment,
    tokenize,
)
from .asm_parse import Env, LineParser, Pending, parse_statement
from .errors import AsmSyntaxError, InternalError, InvalidInstruction
from .insn import Insn, decode, encode

__all__ = ["AsmProgram", "AsmResult", "MapDecl", "assemble", "assemble_bytes"]

DEFAULT_PROGRAM = "prog"


@dataclass(frozen=True)
class MapDecl:
    """A ``.map`` declaration; its index in :attr:`AsmResult.maps` is what MAP_IDX refers to."""
    name: str
    type: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    line: int = 0

    @property
    def type_id(self) -> int:
        """The ``enum bpf_map_type`` number of :attr:`type`."""
        return MAP_TYPES[self.type]


@dataclass
class AsmProgram:
    """One program: ``insns`` is indexed by pc like :func:`bpf_vm.insn.decode`'s result
    (None in the second slot of ld_imm64); ``labels`` maps names to pcs and ``lines``
    each pc to its source line."""
    name: str
    section: str = ""
    insns: list[Insn | None] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)

    @property
    def code(self) -> bytes:
        return encode(self.insns)


@dataclass
class AsmResult:
    """Everything a file declares.  ``insns``/``code`` are all programs, in file order."""
    programs: list[AsmProgram]
    maps: list[MapDecl] = field(default_factory=list)
    license: str | None = None

    @property
    def insns(self) -> list[Insn | None]:
        return [i for p in self.programs for i in p.insns]

    @property
    def code(self) -> bytes:
        return b"".join(p.code for p in self.programs)

    def map_name(self, kind: str, num: int) -> str | None:
        """A :mod:`bpf_vm.disasm` ``map_name`` callback naming by-index maps as declared."""
        if kind == "idx" and 0 <= num < len(self.maps):
            return self.maps[num].name
        return None


class _Assembler:
    """Two passes: parse every line (collecting labels and declarations), then resolve."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.maps: list[MapDecl] = []
        self.license: str | None = None
        self.license_line = 0
        self.programs: list[AsmProgram] = []
        self.items: dict[int, list[tuple[int, Pending]]] = {}
        self.implicit = True   # no .prog seen yet
        self.first_stmt: tuple[int, int] | None = None   # (line, column)
        self.prog_line = 0
        self.start_program(DEFAULT_PROGRAM)

    def start_program(self, name: str) -> None:
        self.prog = AsmProgram(name)
        self.pc = 0
        self.programs.append(self.prog)
        self.items[id(self.prog)] = []

    # pass 1 ------------------------------------------------------------------
    def line(self, text: str, lineno: int) -> None:
        text = strip_comment(text)
        m = PC_COLUMN.match(text)
        if m is not None:
            text = blank(text, m.end())
        if "goto" in text or "call" in text:
            am = ANNOTATION.search(text)
            if am is not None:
                text = text[:am.start()]
        dm = DIRECTIVE.match(text)
        if dm is not None:
            self.directive(lineno, dm.group(1), dm.start(1) + 1, text)
            return
        toks = tokenize(text, lineno, self.source)
        p = LineParser(toks, lineno, self.source)
        while p.peek().kind == "id" and p.peek(1).text == ":" and p.peek(1).kind == "op":
            self.label(p, p.next())
            p.next()
        t = p.peek()
        if t.kind == "end":
            return
        if t.kind == "id" and t.text.startswith("."):
            raise p.error(t, "a directive cannot follow a label on the same line")
        self.mark_statement(lineno, t.col)
        item = parse_statement(p)
        self.items[id(self.prog)].append((self.pc, item))
        self.prog.lines += [lineno] * item.slots
        self.pc += item.slots

    def mark_statement(self, lineno: int, col: int) -> None:
        if self.implicit and not self.first_stmt:
            self.first_stmt = (lineno, col)

    def label(self, p: LineParser, t: Tok) -> None:
        if REGISTER.fullmatch(t.text) or t.text in ("pc", "ll"):
            raise p.error(t, f"'{t.text}' is reserved and cannot be a label")
        if t.text in self.prog.labels:
            raise p.error(t, f"label '{t.text}' is already defined")
        self.mark_statement(p.lineno, t.col)
        self.prog.labels[t.text] = self.pc

    def directive(self, lineno: int, name: str, col: int, text: str) -> None:
        """Directives are split on whitespace, not tokenized: a section name like
        ``kprobe/__x64_sys_openat`` is one word."""
        start = col - 1 + len(name)
        args = [(m.group(), start + m.start() + 1)
                for m in re.finditer(r'"(?:[^"\\]|\\.)*"|\S+', text[start:])]

        def err(col: int, msg: str) -> AsmSyntaxError:
            return AsmSyntaxError(lineno, col, msg, self.source)

        end_col = len(text.rstrip()) + 1
        if name == ".prog":
            if not args or len(args) > 2:
                raise err(args[2][1] if len(args) > 2 else end_col,
                          "expected .prog NAME [SECTION]")
            pname = args[0][0]
            if not self.implicit and any(q.name == pname for q in self.programs):
                raise err(args[0][1], f"program '{pname}' is already defined")
            if self.implicit:
                if self.first_stmt:
                    raise AsmSyntaxError(*self.first_stmt, "statement before the first .prog",
                                         self.source)
                self.programs.clear()
                self.implicit = False
            else:
                self.check_nonempty()
            self.start_program(pname)
            self.prog_line = lineno
            if len(args) == 2:
                self.prog.section = args[1][0]
        elif name == ".section":
            if len(args) != 1:
                raise err(args[1][1] if len(args) > 1 else end_col, "expected .section NAME")
            self.mark_statement(lineno, col)
            self.prog.section = args[0][0]
        elif name == ".license":
            if len(args) != 1:
                raise err(args[1][1] if len(args) > 1 else end_col,
                          'expected .license "STRING"')
            if self.license is not None:
                raise err(col, f"license already set on line {self.license_line}")
            value = args[0][0]
            if value.startswith('"'):
                value = value[1:-1].encode().decode("unicode_escape")
            self.license, self.license_line = value, lineno
        elif name == ".map":
            self.map_decl(lineno, args, end_col, err)
        else:
            raise err(col, f"unknown directive '{name}'")

    def map_decl(self, lineno: int, args: list[tuple[str, int]], end_col: int,
                 err: Callable[[int, str], AsmSyntaxError]) -> None:
        usage = "expected .map NAME TYPE key=K value=V max_entries=N [flags=F]"
        if len(args) < 2:
            raise err(end_col, usage)
        (name, ncol), (mtype, tcol) = args[0], args[1]
        if not re.fullmatch(r"[A-Za-z_][\w.$]*", name):
            raise err(ncol, f"expected a map name, got '{name}'")
        if any(m.name == name for m in self.maps):
            raise err(ncol, f"map '{name}' is already declared")
        if mtype not in MAP_TYPES or mtype == "unspec":
            raise err(tcol, f"unknown map type '{mtype}'")
        fields: dict[str, int] = {}
        for text, col in args[2:]:
            key, eq, val = text.partition("=")
            if key not in ("key", "value", "max_entries", "flags") or not eq:
                raise err(col, f"{usage}, got '{text}'")
            if key in fields:
                raise err(col, f"'{key}' given twice")
            try:
                num = int(val, 0)
            except ValueError:
                raise err(col + len(key) + 1, f"expected a number, got '{val}'") from None
            if not 0 <= num < (1 << 32):
                raise err(col + len(key) + 1, f"{key} {val} does not fit in 32 bits")
            fields[key] = num
        missing = [k for k in ("key", "value", "max_entries") if k not in fields]
        if missing:
            raise err(end_col, f"{usage}; missing {', '.join(missing)}")
        self.maps.append(MapDecl(name, mtype, fields["key"], fields["value"],
                                 fields["max_entries"], fields.get("flags", 0), lineno))

    def check_nonempty(self) -> None:
        if not self.implicit and not self.prog.lines:
            raise AsmSyntaxError(self.prog_line, 1, f"program '{self.prog.name}' has no "
                                 "instructions", self.source)

    # pass 2 ------------------------------------------------------------------
    def finish(self) -> AsmResult:
        self.check_nonempty()
        maps = {m.name: k for k, m in enumerate(self.maps)}
        for prog in self.programs:
            env = Env(prog.labels, maps)
            for pc, item in self.items[id(prog)]:
                insn = item.make(pc, env)
                prog.insns.append(insn)
                if item.slots == 2:
                    prog.insns.append(None)
            # Our own output must be what decode() accepts: a failure here is our bug.
            try:
                ok = decode(prog.code) == prog.insns
            except InvalidInstruction as exc:
                raise InternalError(f"assembler produced an invalid encoding: {exc}") from exc
            if not ok:
                raise InternalError("assembler produced a non-canonical encoding")
        return AsmResult(self.programs, self.maps, self.license)


# --- entry points -----------------------------------------------------------------------

def assemble(text: str, *, source: str = "") -> AsmResult:
    """Assemble a file's text.  ``source`` (a file name) only labels error messages."""
    asm = _Assembler(source)
    for lineno, line in enumerate(text.splitlines(), start=1):
        asm.line(line, lineno)
    return asm.finish()


def assemble_bytes(text: str, *, source: str = "") -> bytes:
    """The bytecode of all programs in ``text``, in file order (usually just one)."""
    return assemble(text, source=source).code

