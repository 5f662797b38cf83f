"""Parsing one line of assembly: operands, and one function per statement shape.

The operator spellings come from :mod:`bpf_vm.syntax` (shared with the disassembler) and
the opcodes from the one table in :mod:`bpf_vm.isa`, looked up by their fields, so the
assembler accepts exactly the encodings the table defines.  :mod:`bpf_vm.asm` drives it:
labels, directives and the second pass live there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import syntax as S
from .asm_lex import REGISTER, Tok
from .errors import AsmSyntaxError
from .insn import Insn, ld_imm64
from .isa import (
    END_WIDTHS,
    MOVSX_OFFSETS,
    OPCODES,
    REG_COUNT,
    AluOp,
    AtomicOp,
    CallKind,
    Class,
    JmpOp,
    Kind,
    Mode,
    Pseudo,
    Size,
    Source,
)

# --- opcode lookup, derived from the one table ------------------------------------------

_OpKey = tuple[Kind, Class, "AluOp | JmpOp | None", "Source | None", "Size | None",
               "Mode | None"]
_BY_FIELDS: dict[_OpKey, int] = {
    (s.kind, s.cls, s.op, s.source, s.size, s.mode): s.opcode for s in OPCODES.values()
}


def _opcode(kind: Kind, cls: Class, op: AluOp | JmpOp | None = None,
            source: Source | None = None, size: Size | None = None,
            mode: Mode | None = None) -> int:
    return _BY_FIELDS[kind, cls, op, source, size, mode]


_ALU_BY_TEXT = {text: key for key, text in S.ALU_OPS.items()}
_JMP_BY_TEXT = {text: op for op, text in S.JMP_OPS.items()}
_JCOND_BY_TEXT = {text: src for src, text in S.JCOND_OPS.items()}
_END_BY_TEXT = {text: key for key, text in S.END_OPS.items()}
_MEM_BY_TEXT = {text: key for key, text in S.MEM_TYPES.items()}
_LOCK_BY_TEXT = {text + "=": op for op, text in S.ATOMIC_LOCK_OPS.items()}
_FETCH_BY_TEXT = {text: op for op, text in S.ATOMIC_FETCH_OPS.items()}
_XCHG_BY_TEXT = {text: size for size, text in S.XCHG_OPS.items()}
_CMPXCHG_BY_TEXT = {text: size for size, text in S.CMPXCHG_OPS.items()}
_MOVSX_BY_TEXT = {text[1:-1]: off for off, text in S.MOVSX_CASTS.items()}
_END_NAMES = "|".join(sorted(_END_BY_TEXT, key=len, reverse=True))
_END_RE = re.compile(rf"({_END_NAMES})(\d+)")

# --- one statement ----------------------------------------------------------------------

@dataclass(frozen=True)
class Env:
    """What pass 2 knows: the current program's labels and the file's maps by name."""
    labels: dict[str, int]
    maps: dict[str, int]


@dataclass
class Pending:
    """An instruction waiting for its program's labels and maps (pass 2)."""
    make: Callable[[int, Env], Insn]   # (pc, env) -> Insn
    slots: int = 1


class LineParser:
    """Recursive-descent parser over one line's tokens."""

    def __init__(self, toks: list[Tok], lineno: int, source: str) -> None:
        self.toks = toks
        self.i = 0
        self.lineno = lineno
        self.source = source

    # token helpers
    def peek(self, k: int = 0) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Tok:
        t = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def error(self, tok: Tok, message: str) -> AsmSyntaxError:
        return AsmSyntaxError(self.lineno, tok.col, message, self.source)

    def expected(self, what: str, tok: Tok | None = None) -> AsmSyntaxError:
        tok = tok or self.peek()
        return self.error(tok, f"expected {what}, got {tok.show()}")

    def accept(self, text: str) -> bool:
        t = self.peek()
        if t.kind in ("op", "id") and t.text == text:
            self.next()
            return True
        return False

    def expect(self, text: str) -> Tok:
        t = self.peek()
        if t.kind in ("op", "id") and t.text == text:
            return self.next()
        raise self.expected(f"'{text}'")

    def end(self) -> None:
        if self.peek().kind != "end":
            raise self.expected("end of line")

    # operands
    def is_reg(self, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == "id" and REGISTER.fullmatch(t.text) is not None

    def reg(self, width: bool | None = None) -> tuple[int, bool, Tok]:
        """A register: (number, is 64-bit, token); ``width`` demands r (True) or w (False)."""
        t = self.next()
        m = REGISTER.fullmatch(t.text) if t.kind == "id" else None
        if m is None or int(m.group(2)) >= REG_COUNT or m.group(2) != str(int(m.group(2))):
            raise self.expected("a register", t)
        wide = m.group(1) == "r"
        if width is not None and wide != width:
            kind = "a 64-bit register (rN)" if width else "a 32-bit register (wN)"
            raise self.expected(kind, t)
        return int(m.group(2)), wide, t

    def number(self, what: str = "a number") -> tuple[int, Tok]:
        """A signed integer: optional '-' or '+', then decimal or hex."""
        t = self.peek()
        sign = 1
        if t.kind == "op" and t.text in "+-" and self.peek(1).kind == "num":
            self.next()
            sign = -1 if t.text == "-" else 1
        n = self.next()
        if n.kind != "num":
            raise self.expected(what, n)
        written = n.text if n is t else t.text + n.text
        return sign * self.to_int(n), Tok("num", written, t.col)

    def to_int(self, n: Tok) -> int:
        """A number token's value; one past Python's integer-string limit (4300 digits)
        is a syntax error like any other too-large number, not a ValueError."""
        if len(n.text) > 64:
            raise self.error(n, f"a number of {len(n.text)} characters does not fit in"
                                " 64 bits")
        return int(n.text, 0)

    def int32(self, what: str = "an immediate") -> int:
        """A 32-bit field, written signed or unsigned; returned as stored (signed).
        ``what`` has an article ("an immediate"): the error names the field without it."""
        v, t = self.number(what)
        if not -(1 << 31) <= v < (1 << 32):
            noun = what.split(" ", 1)[1]
            raise self.error(t, f"{noun} {t.text} does not fit in 32 bits")
        return v - (1 << 32) if v >= (1 << 31) else v

    def imm32(self) -> int:
        return self.int32("an immediate")

    def mem(self) -> tuple[int, int]:
        """``r10 - 0x8`` (no parentheses): base register and 16-bit offset."""
        base, _, _ = self.reg(width=True)
        t = self.peek()
        if t.kind == "op" and t.text in "+-":
            self.next()
            n = self.next()
            if n.kind != "num":
                raise self.expected("an offset", n)
            off = self.to_int(n) * (-1 if t.text == "-" else 1)
            if not -(1 << 15) <= off < (1 << 15):
                raise self.error(t, f"offset {t.text}{n.text} does not fit in 16 bits")
            return base, off
        return base, 0

    def paren_mem(self) -> tuple[int, int]:
        self.expect("(")
        base, off = self.mem()
        self.expect(")")
        return base, off

    def ctype(self) -> tuple[Mode, Size, Tok]:
        """``(u32 *)`` -> mode and size."""
        self.expect("(")
        t = self.next()
        key = _MEM_BY_TEXT.get(t.text) if t.kind == "id" else None
        if key is None:
            raise self.expected("a type (u8, u16, u32, u64, s8, s16, s32)", t)
        self.expect("*")
        self.expect(")")
        return key[0], key[1], t

    def target(self) -> tuple[int | str, Tok]:
        """A jump target: the offset of ``+N``/``-N``/``pc+N``, or a label's name."""
        t = self.peek()
        if t.kind == "id" and t.text == "pc" and self.peek(1).text in ("+", "-"):
            self.next()
            t = self.peek()
        if t.kind == "op" and t.text in "+-":
            v, _ = self.number("an offset")
            return v, t
        if t.kind == "id" and not self.is_reg():
            self.next()
            return t.text, t
        raise self.expected("a jump target (+N, -N or a label)", t)


def _resolve(p: LineParser, val: int | str, tok: Tok, pc: int, env: Env,
             bits: int, hint: str = "") -> int:
    """Relative offset of a target from pc+1, range-checked for a ``bits``-bit field."""
    if isinstance(val, str):
        if val not in env.labels:
            raise p.error(tok, f"undefined label '{val}'")
        off = env.labels[val] - (pc + 1)
    else:
        off = val
    if not -(1 << (bits - 1)) <= off < (1 << (bits - 1)):
        raise p.error(tok, f"offset {off} out of range for a {bits}-bit jump{hint}")
    return off


# --- statements: each returns a Pending ------------------------------------------------

def _ready(p: LineParser, insn: Insn) -> Pending:
    p.end()
    return Pending(lambda pc, env: insn, insn.slots)


def parse_statement(p: LineParser) -> Pending:
    t = p.peek()
    if t.kind == "id":
        if t.text == "exit":
            p.next()
            return _ready(p, Insn(_opcode(Kind.EXIT, Class.JMP, JmpOp.EXIT, Source.K)))
        if t.text in ("goto", "gotol"):
            return _goto(p)
        if t.text in _JCOND_BY_TEXT:
            return _jcond_pseudo(p)
        if t.text == "call":
            return _call(p)
        if t.text == "if":
            return _if(p)
        if t.text == "lock":
            return _lock(p)
        if p.is_reg():
            return _assignment(p)
        raise p.error(t, f"unknown mnemonic '{t.text}'")
    if t.kind == "op" and t.text == "*":
        return _store(p)
    raise p.expected("an instruction", t)


def _goto(p: LineParser) -> Pending:
    long = p.next().text == "gotol"
    val, tok = p.target()
    p.end()
    if long:
        op = _opcode(Kind.JA, Class.JMP32, JmpOp.JA, Source.K)
        return Pending(lambda pc, env: Insn(
            op, imm=_resolve(p, val, tok, pc, env, 32)))
    op = _opcode(Kind.JA, Class.JMP, JmpOp.JA, Source.K)
    return Pending(lambda pc, env: Insn(
        op, off=_resolve(p, val, tok, pc, env, 16, "; use gotol")))


def _jcond_pseudo(p: LineParser) -> Pending:
    """``may_goto +N`` / ``may_goto pc+N`` / ``may_goto label``: BPF_JCOND, 16-bit off."""
    src = _JCOND_BY_TEXT[p.next().text]
    val, tok = p.target()
    p.end()
    op = _opcode(Kind.MAY_GOTO, Class.JMP, JmpOp.JCOND, Source.K)
    return Pending(lambda pc, env: Insn(
        op, src=int(src), off=_resolve(p, val, tok, pc, env, 16)))


def _call(p: LineParser) -> Pending:
    p.next()
    op = _opcode(Kind.CALL, Class.JMP, JmpOp.CALL, Source.K)
    t = p.peek()
    if t.kind == "id" and t.text == "pc" and p.peek(1).text in ("+", "-"):
        val, tok = p.target()
        p.end()
        return Pending(lambda pc, env: Insn(
            op, src=CallKind.LOCAL, imm=_resolve(p, val, tok, pc, env, 32)))
    if t.kind in ("num", "op"):
        return _ready(p, Insn(op, src=CallKind.HELPER, imm=p.imm32()))
    if t.kind != "id" or p.is_reg():
        raise p.expected("a helper, a label or pc+N", t)
    p.next()
    p.end()
    name = t.text
    helper = S.helper_id(name)

    def make(pc: int, env: Env) -> Insn:
        if name in env.labels and not name.startswith("bpf_"):
            return Insn(op, src=CallKind.LOCAL,
                        imm=_resolve(p, name, t, pc, env, 32))
        if helper is not None:
            return Insn(op, src=CallKind.HELPER, imm=helper)
        if name.startswith("bpf_"):
            raise p.error(t, f"unknown helper '{name}'")
        raise p.error(t, f"undefined label '{name}'")
    return Pending(make)


def _if(p: LineParser) -> Pending:
    p.next()
    dst, wide, _ = p.reg()
    cls = Class.JMP if wide else Class.JMP32
    t = p.next()
    jop = _JMP_BY_TEXT.get(t.text) if t.kind == "op" else None
    if jop is None:
        raise p.expected("a comparison (==, !=, >, >=, <, <=, s>, s>=, s<, s<=, &)", t)
    if p.is_reg():
        src, _, _ = p.reg(width=wide)
        source, imm = Source.X, 0
    else:
        src, source, imm = 0, Source.K, p.imm32()
    p.expect("goto")
    val, tok = p.target()
    p.end()
    op = _opcode(Kind.JCOND, cls, jop, source)
    return Pending(lambda pc, env: Insn(
        op, dst, src, _resolve(p, val, tok, pc, env, 16), imm))


def _store(p: LineParser) -> Pending:
    p.next()
    mode, size, tt = p.ctype()
    if mode is not Mode.MEM:
        raise p.expected("an unsigned type for a store (u8, u16, u32, u64)", tt)
    dst, off = p.paren_mem()
    p.expect("=")
    if p.is_reg():
        src, wide, rt = p.reg()
        if not wide and size is Size.DW:
            raise p.expected("a 64-bit register (rN)", rt)
        return _ready(p, Insn(_opcode(Kind.STX, Class.STX, size=size, mode=mode), dst, src, off))
    imm = p.imm32()
    return _ready(p, Insn(_opcode(Kind.ST, Class.ST, size=size, mode=mode), dst, 0, off, imm))


def _atomic_size(p: LineParser, size: Size, t: Tok) -> Size:
    if size not in (Size.W, Size.DW):
        raise p.expected("u32 or u64 for an atomic operation", t)
    return size


def _lock(p: LineParser) -> Pending:
    p.next()
    p.expect("*")
    mode, size, tt = p.ctype()
    if mode is not Mode.MEM:
        raise p.expected("u32 or u64 for an atomic operation", tt)
    size = _atomic_size(p, size, tt)
    dst, off = p.paren_mem()
    t = p.next()
    aop = _LOCK_BY_TEXT.get(t.text) if t.kind == "op" else None
    if aop is None:
        raise p.expected("+=, |=, &= or ^=", t)
    src, _, _ = p.reg(width=True if size is Size.DW else None)
    op = _opcode(Kind.ATOMIC, Class.STX, size=size, mode=Mode.ATOMIC)
    return _ready(p, Insn(op, dst, src, off, int(aop)))


def _assignment(p: LineParser) -> Pending:
    dst, wide, dtok = p.reg()
    t = p.next()
    if t.kind == "op" and t.text in _ALU_BY_TEXT:
        aop, off = _ALU_BY_TEXT[t.text]
        cls = Class.ALU64 if wide else Class.ALU
        if p.is_reg():
            src, _, _ = p.reg(width=wide)
            return _ready(p, Insn(_opcode(Kind.ALU, cls, aop, Source.X), dst, src, off))
        imm = p.imm32()
        return _ready(p, Insn(_opcode(Kind.ALU, cls, aop, Source.K), dst, 0, off, imm))
    if not (t.kind == "op" and t.text == "="):
        raise p.expected("an assignment operator (=, +=, -=, ...)", t)
    return _rhs(p, dst, wide, dtok)


def _rhs(p: LineParser, dst: int, wide: bool, dtok: Tok) -> Pending:
    cls = Class.ALU64 if wide else Class.ALU
    t = p.peek()
    if t.kind == "op" and t.text == "-" and p.is_reg(1):         # r1 = -r1
        p.next()
        _, _, rt = p.reg(width=wide)
        if rt.text != dtok.text:
            raise p.expected(f"'{dtok.text}' (neg works in place)", rt)
        return _ready(p, Insn(_opcode(Kind.NEG, cls, AluOp.NEG, Source.K), dst))
    if t.kind == "num" or (t.kind == "op" and t.text in "+-"):     # constants
        v, nt = p.number("an immediate")
        if p.accept("ll"):
            if not wide:
                raise p.expected("a 64-bit register (rN) for ld_imm64", dtok)
            if not -(1 << 63) <= v < (1 << 64):
                raise p.error(nt, f"immediate {nt.text} does not fit in 64 bits")
            return _ready(p, ld_imm64(dst, v))
        if not -(1 << 31) <= v < (1 << 32):
            hint = " (write 'll' after it for a 64-bit constant)" if wide else ""
            raise p.error(nt, f"immediate {nt.text} does not fit in 32 bits{hint}")
        imm = v - (1 << 32) if v >= (1 << 31) else v
        return _ready(p, Insn(_opcode(Kind.ALU, cls, AluOp.MOV, Source.K), dst, 0, 0, imm))
    if p.is_reg():                                              # r1 = r2
        src, _, _ = p.reg(width=wide)
        return _ready(p, Insn(_opcode(Kind.ALU, cls, AluOp.MOV, Source.X), dst, src))
    if t.kind == "op" and t.text == "(":                         # r1 = (s8)r2
        p.next()
        ct = p.next()
        off = _MOVSX_BY_TEXT.get(ct.text) if ct.kind == "id" else None
        if off is None or off not in MOVSX_OFFSETS[cls]:
            allowed = ", ".join(f"s{o}" for o in MOVSX_OFFSETS[cls])
            raise p.expected(f"a sign-extension cast ({allowed})", ct)
        p.expect(")")
        src, _, _ = p.reg(width=wide)
        return _ready(p, Insn(_opcode(Kind.ALU, cls, AluOp.MOV, Source.X), dst, src, off))
    if t.kind == "op" and t.text == "*":                         # r0 = *(u32 *)(r1 + 8)
        p.next()
        mode, size, _tt = p.ctype()
        if not wide and (mode is not Mode.MEM or size is Size.DW):
            raise p.expected("a 64-bit register (rN) for this load", dtok)
        src, off = p.paren_mem()
        return _ready(p, Insn(_opcode(Kind.LDX, Class.LDX, size=size, mode=mode), dst, src, off))
    if t.kind != "id":
        raise p.expected("an expression", t)
    return _named_rhs(p, dst, wide, dtok)


def _named_rhs(p: LineParser, dst: int, wide: bool, dtok: Tok) -> Pending:
    t = p.next()
    name = t.text
    em = _END_RE.fullmatch(name)
    if em is not None:                                           # r1 = be16 r1
        cls, source = _END_BY_TEXT[em.group(1)]
        width = int(em.group(2))
        if width not in END_WIDTHS:
            raise p.error(t, f"byte swap width must be 16, 32 or 64, got {width}")
        if not wide:
            raise p.expected("a 64-bit register (rN) for a byte swap", dtok)
        _, _, rt = p.reg(width=True)
        if rt.text != dtok.text:
            raise p.expected(f"'{dtok.text}' (byte swaps work in place)", rt)
        return _ready(p, Insn(_opcode(Kind.END, cls, AluOp.END, source), dst, 0, 0, width))
    if name in ("map", "btf_id", "func"):
        return _pseudo(p, name, dst, wide, dtok)
    if name in _FETCH_BY_TEXT:                  # r1 = atomic_fetch_add((u64 *)(r10 - 8), r1)
        p.expect("(")
        mode, size, tt = p.ctype()
        if mode is not Mode.MEM:
            raise p.expected("u32 or u64 for an atomic operation", tt)
        size = _atomic_size(p, size, tt)
        base, off = p.paren_mem()
        p.expect(",")
        return _fetch_tail(p, base, off, size, _FETCH_BY_TEXT[name], dtok)
    if name in _XCHG_BY_TEXT:                   # r1 = xchg_64(r10 - 8, r1)
        size = _XCHG_BY_TEXT[name]
        p.expect("(")
        base, off = p.mem()
        p.expect(",")
        return _fetch_tail(p, base, off, size, AtomicOp.XCHG, dtok)
    if name in _CMPXCHG_BY_TEXT:                # r0 = cmpxchg_64(r10 - 8, r0, r1)
        size = _CMPXCHG_BY_TEXT[name]
        r0 = ("r0",) if size is Size.DW else ("w0", "r0")
        if dtok.text not in r0:
            raise p.expected(f"'{r0[0]}' (cmpxchg returns the old value in r0)", dtok)
        p.expect("(")
        base, off = p.mem()
        p.expect(",")
        rt = p.next()
        if rt.text not in r0:
            raise p.expected(f"'{r0[0]}' (cmpxchg compares with r0)", rt)
        p.expect(",")
        src, _, _ = p.reg(width=True if size is Size.DW else None)
        p.expect(")")
        op = _opcode(Kind.ATOMIC, Class.STX, size=size, mode=Mode.ATOMIC)
        return _ready(p, Insn(op, base, src, off, int(AtomicOp.CMPXCHG)))
    raise p.error(t, f"unknown mnemonic '{name}'")


def _fetch_tail(p: LineParser, base: int, off: int, size: Size, aop: AtomicOp,
                dtok: Tok) -> Pending:
    """``, rN)`` of a fetching atomic; the result register must be the operand register."""
    src, _wide, rt = p.reg(width=True if size is Size.DW else None)
    p.expect(")")
    if rt.text[1:] != dtok.text[1:] or (size is Size.DW and dtok.text[0] != "r"):
        raise p.error(dtok, f"the result register must be the operand register '{rt.text}'")
    op = _opcode(Kind.ATOMIC, Class.STX, size=size, mode=Mode.ATOMIC)
    return _ready(p, Insn(op, base, src, off, int(aop)))


def _pseudo(p: LineParser, name: str, dst: int, wide: bool, dtok: Tok) -> Pending:
    """``map[...]``, ``btf_id[N]`` and ``func[...]`` forms of ld_imm64."""
    if not wide:
        raise p.expected("a 64-bit register (rN) for ld_imm64", dtok)
    p.expect("[")
    if name == "btf_id":
        v = p.int32("a BTF id")
        p.expect("]")
        p.expect("ll")
        return _ready(p, ld_imm64(dst, v, Pseudo.BTF_ID, 0))
    if name == "func":
        val, tok = p.target()
        p.expect("]")
        p.expect("ll")
        p.end()
        return Pending(lambda pc, env: ld_imm64(
            dst, _resolve(p, val, tok, pc, env, 32), Pseudo.FUNC, 0), 2)
    # map[fd:N], map[idx:N], map[NAME], each optionally followed by [0]+OFF
    t = p.next()
    if t.kind != "id":
        raise p.expected("fd:N, idx:N or a map name", t)
    ref: tuple[str, int | str]
    if t.text in ("fd", "idx") and p.accept(":"):
        ref = (t.text, p.int32(f"a map {t.text}"))
    else:
        ref = ("name", t.text)
    p.expect("]")
    value_off: int | None = None
    if p.accept("["):
        zt = p.next()
        if zt.kind != "num" or p.to_int(zt) != 0:
            raise p.expected("[0] (the only value of a map's value form)", zt)
        p.expect("]")
        st = p.peek()
        if not (st.kind == "op" and st.text in "+-"):
            raise p.expected("+OFFSET after [0]", st)
        value_off = p.int32("a value offset")
    p.expect("ll")
    p.end()
    if ref[0] == "fd":
        src = Pseudo.MAP_FD if value_off is None else Pseudo.MAP_VALUE
    else:
        src = Pseudo.MAP_IDX if value_off is None else Pseudo.MAP_IDX_VALUE
    hi = 0 if value_off is None else value_off

    def make(pc: int, env: Env) -> Insn:
        num = ref[1]
        if isinstance(num, str):
            if num not in env.maps:
                raise p.error(t, f"undefined map '{num}'")
            num = env.maps[num]
        return ld_imm64(dst, num, src, hi)
    return Pending(make, 2)
