"""The interpreter: a program's instructions become generated Python functions.

Semantics follow the kernel interpreter (kernel/bpf/core.c, ``___bpf_prog_run``).  Each
opcode family has one expression template below; the 32/64-bit masking lives in the
templates' width parameters, nowhere else.  At load time every instruction is rendered
into a few Python statements with its operands baked in as literals, and the statements of
each basic block are joined into one function (``_b<pc>``) that runs the whole block and
returns the next pc; one ``exec`` compiles them all.  ``r`` is the list of the eleven
registers (unsigned 64-bit ints).  The run loop in :mod:`bpf_vm.vm` calls a block while
the budget covers all of it, then one-instruction functions (``_i<pc>``, compiled only
when needed: tracing, the last steps of a budget), so counts, budget and fault pcs are
exact.

Control that leaves the straight line (exit of the entry frame, tail calls that switch
programs, returns into another program) is signalled with the small exceptions below,
which cost nothing until raised.  Memory accesses go through :class:`AddressSpace`'s
``table`` (one dict lookup, one bounds check; in a block, accesses through one unchanged
base register share one check of their offsets' range, and fall back to one check each
when that range would fault, so a fault still names its own pc).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import InternalError, InvalidInstruction
from .helper_table import HelperFault
from .insn import Insn, jump_target
from .isa import (
    FRAME_POINTER,
    SIZE_BYTES,
    AluOp,
    AtomicOp,
    CallKind,
    Class,
    JmpOp,
    Kind,
    Mode,
    Pseudo,
    Source,
)
from .memory import CODE_SLOT, slot_base

if TYPE_CHECKING:
    from .program import Program
    from .vm import RunState

M64 = (1 << 64) - 1
M32 = 0xFFFFFFFF


class _Exit(Exception):
    """The entry frame (or a helper's callback frame) executed ``exit``."""


class _Switch(Exception):
    """Control moves to another compiled program (tail call, or return into a caller
    that lives in another program); ``state.cur`` already names it."""

    def __init__(self, pc: int) -> None:
        self.pc = pc


class _Fault(Exception):
    """A run-time fault inside generated code; the run loop adds pc and instruction."""

    def __init__(self, reason: str, addr: int | None = None, size: int | None = None,
                 pc: int | None = None) -> None:
        self.reason = reason
        self.addr = addr
        self.size = size
        self.pc = pc       # where, when raised inside a block of several instructions


# ---------------------------------------------------------------------------------------
# Expression templates.  {a} and {b} are operand expressions, {m} the width mask,
# {sh} the shift-amount mask and {sg} the sign bit of the width.

_ALU: dict[AluOp, str] = {
    AluOp.ADD: "({a} + {b}) & {m}",
    AluOp.SUB: "({a} - {b}) & {m}",
    AluOp.MUL: "({a} * {b}) & {m}",
    AluOp.OR: "{a} | {b}",
    AluOp.AND: "{a} & {b}",
    AluOp.XOR: "{a} ^ {b}",
    AluOp.LSH: "({a} << ({b} & {sh})) & {m}",
    AluOp.RSH: "{a} >> ({b} & {sh})",
    AluOp.ARSH: "((({a} ^ {sg}) - {sg}) >> ({b} & {sh})) & {m}",
    AluOp.MOV: "{b}",
    AluOp.DIV: "{a} // {b} if {b} else 0",             # division by zero gives 0
    AluOp.MOD: "{a} % {b} if {b} else {a}",            # modulo by zero keeps dst
}
_SIGNED_ALU: dict[AluOp, str] = {   # off = 1 (v4): sdiv / smod, truncating toward zero
    AluOp.DIV: "_sdiv({a}, {b}, {sg}, {m})",
    AluOp.MOD: "_smod({a}, {b}, {sg}, {m})",
}
_JCOND: dict[JmpOp, str] = {
    JmpOp.JEQ: "{a} == {b}",
    JmpOp.JNE: "{a} != {b}",
    JmpOp.JGT: "{a} > {b}",
    JmpOp.JGE: "{a} >= {b}",
    JmpOp.JLT: "{a} < {b}",
    JmpOp.JLE: "{a} <= {b}",
    JmpOp.JSET: "{a} & {b}",
    # signed order is unsigned order after flipping the sign bit
    JmpOp.JSGT: "({a} ^ {sg}) > {bs}",
    JmpOp.JSGE: "({a} ^ {sg}) >= {bs}",
    JmpOp.JSLT: "({a} ^ {sg}) < {bs}",
    JmpOp.JSLE: "({a} ^ {sg}) <= {bs}",
}
_ATOMIC: dict[int, str] = {
    AtomicOp.ADD & ~1: "(old + v) & {m}",
    AtomicOp.OR & ~1: "old | v",
    AtomicOp.AND & ~1: "old & v",
    AtomicOp.XOR & ~1: "old ^ v",
}


def _sdiv(a: int, b: int, sg: int, m: int) -> int:
    if not b:
        return 0
    sa, sb = (a ^ sg) - sg, (b ^ sg) - sg
    q = abs(sa) // abs(sb)
    return (-q if (sa < 0) != (sb < 0) else q) & m


def _smod(a: int, b: int, sg: int, m: int) -> int:
    if not b:
        return a
    sa, sb = (a ^ sg) - sg, (b ^ sg) - sg
    rem = abs(sa) % abs(sb)
    return (-rem if sa < 0 else rem) & m


def _bswap16(v: int) -> int:
    return ((v & 0xFF) << 8) | ((v >> 8) & 0xFF)


def _bswap32(v: int) -> int:
    return int.from_bytes((v & M32).to_bytes(4, "little"), "big")


def _bswap64(v: int) -> int:
    return int.from_bytes(v.to_bytes(8, "little"), "big")


_UNPACK = {1: None, 2: struct.Struct("<H").unpack_from, 4: struct.Struct("<I").unpack_from,
           8: struct.Struct("<Q").unpack_from}
_UNPACK_S = {1: None, 2: struct.Struct("<h").unpack_from, 4: struct.Struct("<i").unpack_from}
_PACK = {2: struct.Struct("<H").pack_into, 4: struct.Struct("<I").pack_into,
         8: struct.Struct("<Q").pack_into}

_BASE_GLOBALS: dict[str, Any] = {
    "_sdiv": _sdiv, "_smod": _smod, "_bswap16": _bswap16, "_bswap32": _bswap32,
    "_bswap64": _bswap64, "_Fault": _Fault,
    "_u16": _UNPACK[2], "_u32": _UNPACK[4], "_u64": _UNPACK[8],
    "_s16": _UNPACK_S[2], "_s32": _UNPACK_S[4],
    "_p16": _PACK[2], "_p32": _PACK[4], "_p64": _PACK[8],
}


def _rfault(addr: int, size: int, pc: int) -> None:
    raise _Fault("read", addr, size, pc)


def _wfault(addr: int, size: int, pc: int) -> None:
    raise _Fault("write", addr, size, pc)


_BASE_GLOBALS["_rfault"] = _rfault
_BASE_GLOBALS["_wfault"] = _wfault


def _lit(v: int) -> str:
    return hex(v) if v > 9 else str(v)


def _size_of(insn: Insn) -> int:
    """Bytes accessed by a load, store or atomic (their opcodes always carry a size)."""
    size = insn.spec.size
    assert size is not None, insn
    return SIZE_BYTES[size]


class Compiled:
    """A program bound to one VM: its generated code, plus the function that renders
    pc -> instruction text for errors and traces.

    ``blocks[pc]``, for each pc where a basic block starts, runs the ``sizes[pc]``
    instructions of that block in one call and returns the next pc; ``block_last[pc]``
    is the pc of its last instruction (where a helper or call fault happened).  Other
    pcs have no block and a size no budget reaches.  ``ops[pc]`` runs the one
    instruction at ``pc`` (for the traced loop, and the last steps before the budget
    runs out); those functions are compiled when first asked for."""

    __slots__ = ("_globals", "_ops", "_ops_source", "block_last", "blocks", "program",
                 "sizes", "source", "text")

    def __init__(self, program: Program, text: Callable[[int], str], source: str,
                 ops_source: str, g: dict[str, Any]) -> None:
        self.program = program
        self.text = text
        self.source = source
        self._ops_source = ops_source
        self._globals = g
        self._ops: list[Callable[[list[int]], int]] | None = None
        self.blocks: list[Callable[[list[int]], int] | None] = []
        self.sizes: list[int] = []
        self.block_last: list[int] = []

    @property
    def ops(self) -> list[Callable[[list[int]], int]]:
        if self._ops is None:
            g = self._globals
            exec(_compile(self._ops_source, self.program.name), g)
            self._ops = [g[f"_i{pc}"] for pc in range(len(self.program.insns) + 1)]
        return self._ops


#: The size of a pc where no block starts: more than any budget, so the run loop steps
#: one instruction at a time from there (never reached: every jump target, call target
#: and return point starts a block).
NO_BLOCK = 1 << 62

_ENDS_BLOCK = frozenset({Kind.JA, Kind.JCOND, Kind.CALL, Kind.EXIT})


def _written(insn: Insn) -> tuple[int, ...]:
    """The registers an instruction writes (calls end a block, so they are left out)."""
    kind = insn.kind
    if kind in (Kind.ALU, Kind.NEG, Kind.END, Kind.LD_IMM64, Kind.LDX):
        return (insn.dst,)
    if kind is Kind.ATOMIC:
        if insn.imm == AtomicOp.CMPXCHG:
            return (0,)
        if insn.imm == AtomicOp.XCHG or insn.imm & 1:
            return (insn.src,)
    return ()


def block_starts(insns: list[Insn | None]) -> set[int]:
    """The pcs where a basic block starts: the entry, every jump, call and function
    pointer target, and the instruction after a jump, call or exit."""
    starts = {0, len(insns)}
    for pc, insn in enumerate(insns):
        if insn is None:
            continue
        target = jump_target(insn, pc)
        if target is not None:
            starts.add(target)
        if insn.kind in _ENDS_BLOCK:
            starts.add(pc + insn.slots)
    return starts


class _Gen:
    """Renders one program into Python source: one function per instruction slot
    (``_i<pc>``) and one per basic block (``_b<pc>``), from the same statement lists."""

    def __init__(self, program: Program, state: RunState) -> None:
        self.program = program
        self.state = state
        self.globals: dict[str, Any] = dict(_BASE_GLOBALS)
        self.globals["tab"] = state.space.table
        self.globals["_st"] = state

    @staticmethod
    def fn(name: str, body: list[str]) -> str:
        return f"def {name}(r):\n" + "".join(f"    {line}\n" for line in body)

    def build(self) -> tuple[str, str, dict[str, Any], list[tuple[int, int, int]]]:
        """The source of the blocks, that of the one-instruction functions, their
        globals, and (start, size, last pc) of every block."""
        insns = self.program.insns
        n = len(insns)
        stmts: list[tuple[list[str], bool]] = []
        parts = []
        for pc, insn in enumerate(insns):
            if insn is None:   # second half of ld_imm64: reached only by a bad jump
                stmt = ([f"raise _Fault('jump into the middle of ld_imm64', pc={pc})"], True)
            else:
                stmt = self.insn(insn, pc)
            stmts.append(stmt)
            body, ends = stmt
            parts.append(self.fn(f"_i{pc}", body if ends else
                                 [*body, f"return {pc + insn.slots if insn else pc + 1}"]))
        end = [f"raise _Fault('fell off the end of the program (no exit)', pc={n})"]
        parts.append(self.fn(f"_i{n}", end))
        ops_source = "".join(parts)
        parts = []
        starts = block_starts(insns)
        blocks = []
        for start in sorted(starts):
            if start == n:
                parts.append(self.fn(f"_b{n}", end))
                blocks.append((n, 1, n))
                continue
            body, pc, count = [], start, 0
            groups = self.groups(start, starts, stmts)
            while True:
                lines, ends = stmts[pc]
                group = groups.get(pc)
                if group is not None:
                    lines = self.grouped(insns[pc], lines, *group)  # type: ignore[arg-type]
                body += lines
                count += 1
                last = pc
                insn = insns[pc]
                pc += insn.slots if insn is not None else 1
                if ends:
                    break
                if pc in starts:
                    body.append(f"return {pc}")
                    break
            parts.append(self.fn(f"_b{start}", body))
            blocks.append((start, count, last))
        return "".join(parts), ops_source, self.globals, blocks

    # -- memory accesses grouped by base register --------------------------------------
    # In a block, loads and stores through one base register that the block does not
    # change in between (a struct filled field by field, the stack through r10) are
    # checked once for the whole range of their offsets.  When the range is in one
    # region (writable, if one of them stores), each access is one load or store; when
    # it is not, each is checked as usual, so the fault comes from the same instruction.

    def groups(self, start: int, starts: set[int], stmts: list[tuple[list[str], bool]]
               ) -> dict[int, tuple[int, bool, int, int, bool]]:
        """pc -> (group id, first of its group, lowest offset, end offset, stores)."""
        insns = self.program.insns
        open_: dict[int, list[int]] = {}        # base register -> pcs of its open group
        done: list[tuple[int, list[int]]] = []
        pc = start
        while True:
            insn = insns[pc]
            if insn is None:
                break
            if insn.kind in (Kind.ST, Kind.STX):
                open_.setdefault(insn.dst, []).append(pc)
            elif insn.kind is Kind.LDX and insn.dst != FRAME_POINTER:   # (else: a fault)
                open_.setdefault(insn.src, []).append(pc)
            for reg in _written(insn):
                if reg in open_:
                    done.append((reg, open_.pop(reg)))
            if stmts[pc][1]:
                break
            pc += insn.slots
            if pc in starts:
                break
        done += open_.items()
        out: dict[int, tuple[int, bool, int, int, bool]] = {}
        for _, pcs in done:
            if len(pcs) < 2:
                continue
            members = [insns[p] for p in pcs]
            low = min(m.off for m in members)  # type: ignore[union-attr]
            end = max(m.off + SIZE_BYTES[m.spec.size]  # type: ignore[union-attr,index]
                      for m in members)
            stores = any(m.kind is not Kind.LDX for m in members)  # type: ignore[union-attr]
            for p in pcs:
                out[p] = (pcs[0], p == pcs[0], low, end, stores)
        return out

    def grouped(self, insn: Insn, checked: list[str], gid: int, first: bool, low: int,
                end: int, stores: bool) -> list[str]:
        base = insn.src if insn.kind is Kind.LDX else insn.dst
        lines = []
        if first:
            writable = " and t[2]" if stores else ""
            lines += [f"t = tab.get(r[{base}] >> 32)",
                      f"o{gid} = r[{base}] & 0xffffffff",
                      (f"g{gid} = t[0] if t is not None{writable} and o{gid} + {low} >= 0"
                       f" and o{gid} + {end} <= t[1] else None")]
        return [*lines, f"if g{gid} is not None:",
                f"    {self.access(insn, f'g{gid}', f'o{gid} + {insn.off}')}",
                "else:", *(f"    {line}" for line in checked)]

    # -- per-kind renderers ------------------------------------------------------------
    # Each returns (statements, ends): a statement list that either falls through to the
    # next instruction (ends False) or leaves with return/raise (ends True: the block
    # ends here).  A fault names its pc, since a block runs several instructions.

    def insn(self, insn: Insn, pc: int) -> tuple[list[str], bool]:
        kind = insn.kind
        nxt = pc + insn.slots
        if insn.dst == FRAME_POINTER and kind in (Kind.ALU, Kind.NEG, Kind.END,
                                                  Kind.LD_IMM64, Kind.LDX):
            return [f"raise _Fault('r10 is read-only (the frame pointer)', pc={pc})"], False
        if kind is Kind.ALU:
            return self.alu(insn), False
        if kind is Kind.NEG:
            m = M64 if insn.spec.wide else M32
            src = "r[{d}]" if insn.spec.wide else "(r[{d}] & 0xffffffff)"
            return [f"r[{insn.dst}] = (-{src.format(d=insn.dst)}) & {_lit(m)}"], False
        if kind is Kind.END:
            return self.end(insn), False
        if kind is Kind.LD_IMM64:
            return self.ld_imm64(insn, pc), False
        if kind is Kind.LDX:
            return self.ldx(insn, pc), False
        if kind in (Kind.ST, Kind.STX):
            return self.store(insn, pc), False
        if kind is Kind.ATOMIC:
            return self.atomic(insn, pc), False
        if kind is Kind.JA:
            off = insn.imm if insn.spec.cls is Class.JMP32 else insn.off
            return [f"return {pc + 1 + off}"], True
        if kind is Kind.JCOND:
            return self.jcond(insn, pc, nxt), True
        if kind is Kind.CALL:
            return self.call(insn, pc, nxt), True
        if kind is Kind.EXIT:
            return ["return _exit(r)"], True
        raise InternalError(f"no renderer for {kind}")

    def alu(self, insn: Insn) -> list[str]:
        spec = insn.spec
        op = AluOp(spec.op or 0)
        wide = spec.wide
        m, sh, sg = (M64, 63, 1 << 63) if wide else (M32, 31, 1 << 31)
        d = insn.dst
        lines = []
        if spec.source is Source.K:
            b = _lit(insn.imm & m)
        else:
            b = f"r[{insn.src}]" if wide else "b"
            if not wide:
                lines.append(f"b = r[{insn.src}] & 0xffffffff")
        if op is AluOp.MOV:
            if spec.source is Source.X and insn.off:   # movsx: sign-extend the low bits
                low, half = _lit((1 << insn.off) - 1), _lit(1 << (insn.off - 1))
                ext = f"(((r[{insn.src}] & {low}) ^ {half}) - {half}) & {_lit(m)}"
                return [f"r[{d}] = {ext}"]
            return [*lines, f"r[{d}] = {b}"]
        a = f"r[{d}]"
        if not wide:
            lines.append(f"a = r[{d}] & 0xffffffff")
            a = "a"
        elif op in (AluOp.DIV, AluOp.MOD) and spec.source is Source.X:
            lines.append(f"b = r[{insn.src}]")
            b = "b"
        template = _SIGNED_ALU[op] if (op in _SIGNED_ALU and insn.off == 1) else _ALU[op]
        expr = template.format(a=a, b=b, m=_lit(m), sh=sh, sg=_lit(sg))
        return [*lines, f"r[{d}] = {expr}"]

    def end(self, insn: Insn) -> list[str]:
        d, width = insn.dst, insn.imm
        if insn.spec.cls is Class.ALU and insn.spec.source is Source.K:
            # to little-endian on a little-endian machine: truncate only
            expr = f"r[{d}] & {_lit((1 << width) - 1)}"
        else:
            expr = f"_bswap{width}(r[{d}]" + (")" if width == 64 else f" & {_lit((1 << width) - 1)})")
        return [f"r[{d}] = {expr}"]

    def ld_imm64(self, insn: Insn, pc: int) -> list[str]:
        d, src = insn.dst, insn.src
        if src == Pseudo.IMM:
            return [f"r[{d}] = {_lit(insn.imm64)}"]
        if src == Pseudo.FUNC:
            target = pc + 1 + insn.imm
            return [f"r[{d}] = {_lit(slot_base(CODE_SLOT) | target)}"]
        if src == Pseudo.BTF_ID:
            return [("raise _Fault('ld_imm64 of a kernel symbol (BTF id "
                     f"{insn.imm}) has no object in this VM', pc={pc})")]
        value = self.state.vm.resolve_map_ref(self.program, insn)
        if value is None:
            return [(f"raise _Fault('ld_imm64 refers to a map that does not exist "
                     f"(src {src}, imm {insn.imm})', pc={pc})")]
        return [f"r[{d}] = {_lit(value)}"]

    def _addr(self, reg: int, off: int) -> str:
        return f"a = (r[{reg}] + {off}) & {_lit(M64)}" if off else f"a = r[{reg}]"

    def ldx(self, insn: Insn, pc: int) -> list[str]:
        size = _size_of(insn)
        return [self._addr(insn.src, insn.off),
                "t = tab.get(a >> 32)",
                f"if t is None or (o := a & 0xffffffff) + {size} > t[1]:",
                f"    _rfault(a, {size}, {pc})",
                self.access(insn, "t[0]", "o")]

    @staticmethod
    def access(insn: Insn, buf: str, off: str) -> str:
        """The load or store itself, at ``buf[off]`` (already checked)."""
        size = _size_of(insn)
        if insn.kind is Kind.LDX:
            if size == 1:
                val = (f"(({buf}[{off}] ^ 0x80) - 0x80) & 0xffffffffffffffff"
                       if insn.spec.mode is Mode.MEMSX else f"{buf}[{off}]")
            elif insn.spec.mode is Mode.MEMSX:
                val = f"_s{size * 8}({buf}, {off})[0] & 0xffffffffffffffff"
            else:
                val = f"_u{size * 8}({buf}, {off})[0]"
            return f"r[{insn.dst}] = {val}"
        mask = (1 << (8 * size)) - 1
        val = _lit(insn.imm & mask) if insn.kind is Kind.ST else f"r[{insn.src}] & {_lit(mask)}"
        return f"{buf}[{off}] = {val}" if size == 1 else f"_p{size * 8}({buf}, {off}, {val})"

    def _writable(self, insn: Insn, pc: int) -> list[str]:
        """The address of a store, checked: mapped, writable, in bounds."""
        size = _size_of(insn)
        return [self._addr(insn.dst, insn.off),
                "t = tab.get(a >> 32)",
                f"if t is None or not t[2] or (o := a & 0xffffffff) + {size} > t[1]:",
                f"    _wfault(a, {size}, {pc})"]

    def store(self, insn: Insn, pc: int) -> list[str]:
        return [*self._writable(insn, pc), self.access(insn, "t[0]", "o")]

    def atomic(self, insn: Insn, pc: int) -> list[str]:
        size = _size_of(insn)
        bits = size * 8
        m = _lit((1 << bits) - 1)
        op = insn.imm
        s = insn.src
        body = [f"old = _u{bits}(t[0], o)[0]"]
        if op == AtomicOp.XCHG:
            body += [f"_p{bits}(t[0], o, r[{s}] & {m})", f"r[{s}] = old"]
        elif op == AtomicOp.CMPXCHG:
            body += [f"if old == r[0] & {m}:", f"    _p{bits}(t[0], o, r[{s}] & {m})",
                     "r[0] = old"]
        else:
            expr = _ATOMIC[op & ~1].format(m=m)
            body += [f"v = r[{s}] & {m}", f"_p{bits}(t[0], o, {expr})"]
            if op & 1:   # BPF_FETCH: src receives the old value (zero-extended)
                body.append(f"r[{s}] = old")
        return [*self._writable(insn, pc), *body]

    def jcond(self, insn: Insn, pc: int, nxt: int) -> list[str]:
        spec = insn.spec
        wide = spec.wide
        m, sg = (M64, 1 << 63) if wide else (M32, 1 << 31)
        a = f"r[{insn.dst}]" if wide else f"(r[{insn.dst}] & 0xffffffff)"
        if spec.source is Source.K:
            k = insn.imm & m
            b, bs = _lit(k), _lit(k ^ sg)
        else:
            b = f"r[{insn.src}]" if wide else f"(r[{insn.src}] & 0xffffffff)"
            bs = f"({b} ^ {_lit(sg)})"
        cond = _JCOND[JmpOp(spec.op or 0)].format(a=a, b=b, bs=bs, sg=_lit(sg))
        return [f"return {pc + 1 + insn.off} if {cond} else {nxt}"]

    def call(self, insn: Insn, pc: int, nxt: int) -> list[str]:
        if insn.src == CallKind.LOCAL:
            return [f"return _call(r, {nxt}, {pc + 1 + insn.imm})"]
        if insn.imm == 12:   # bpf_tail_call: the interpreter's own instruction
            return [f"return _tail_call(r, {nxt})"]
        helper = self.state.vm.helpers.get(insn.imm)
        if helper is None:
            return [f"raise _Fault('unknown helper function {insn.imm}', pc={pc})"]
        name = f"_h{pc}"
        self.globals[name] = helper.fn
        return [f"r[0] = {name}(_st, r[1], r[2], r[3], r[4], r[5]) & {_lit(M64)}",
                f"return {nxt}"]


def _compile(source: str, name: str) -> Any:
    try:
        return compile(source, f"<bpf:{name}>", "exec")
    except (SyntaxError, RecursionError) as exc:  # pragma: no cover - a generator bug
        raise InternalError(f"generated code for {name} does not compile: {exc}") from exc


def compile_program(program: Program, state: RunState,
                    text: Callable[[int], str]) -> Compiled:
    """Render and compile ``program`` for the VM that owns ``state``."""
    gen = _Gen(program, state)
    source, ops_source, g, blocks = gen.build()
    compiled = Compiled(program, text, source + ops_source, ops_source, g)
    g["_call"] = state.make_call(compiled)
    g["_exit"] = state.exit_frame
    g["_tail_call"] = state.tail_call
    exec(_compile(source, program.name), g)
    n = len(program.insns) + 1
    compiled.blocks = [None] * n
    compiled.sizes = [NO_BLOCK] * n
    compiled.block_last = list(range(n))
    for start, size, last in blocks:
        compiled.blocks[start] = g[f"_b{start}"]
        compiled.sizes[start] = size
        compiled.block_last[start] = last
    return compiled


__all__ = [
    "M32",
    "M64",
    "Compiled",
    "HelperFault",
    "InvalidInstruction",
    "_Exit",
    "_Fault",
    "_Switch",
    "compile_program",
]
