"""Disassembler: the kernel/LLVM textual syntax that llvm-objdump and the verifier log print.

One canonical form per encoding, so that ``assemble(disassemble(code)) == code`` and the
text is a fixed point.  The assembler (:mod:`bpf_vm.asm`) accepts all of it, plus the
spellings listed there.

Forms (``r`` registers for 64-bit operands, ``w`` for 32-bit ones)::

    r1 += r2        w1 += 0x8       r1 s/= r2      w1 s%= 0x3     r1 s>>= 0x3
    r1 = r2         w1 = 0xa64      r1 = (s8)r2    w1 = (s16)w2   r1 = -r1
    r1 = le16 r1    r1 = be32 r1    r1 = bswap64 r1
    r0 = *(u32 *)(r1 + 0x8)         r0 = *(s8 *)(r1 + 0x0)
    *(u64 *)(r10 - 0x8) = r1        *(u32 *)(r10 - 0x8) = 0x7
    lock *(u64 *)(r10 - 0x8) += r1  lock *(u32 *)(r10 - 0x8) |= w1
    r1 = atomic_fetch_add((u64 *)(r10 - 0x8), r1)    (also _and, _or, _xor)
    r1 = xchg_64(r10 - 0x8, r1)     w1 = xchg32_32(r10 - 0x8, w1)
    r0 = cmpxchg_64(r10 - 0x8, r0, r1)               w0 = cmpxchg32_32(r10 - 0x8, w0, w1)
    if r1 s> 0x10 goto +3           if w2 != w3 goto -2            if r1 & r2 goto +0
    goto -1         gotol +70000    may_goto +2     exit
    call bpf_tail_call   call 12345 (an id without a known name)   call pc+5   call pc-3

Loads and stores name their value register ``r`` whatever the size (as the kernel log
and llvm-objdump without alu32 do); 32-bit atomics use ``w``, as LLVM spells them.

Numbers, one rule: immediates, memory offsets and map-value offsets print in hex as
llvm-objdump >= 16 prints them (signed: ``r1 += -0x8``, ``w2 = 0xa64``; ld_imm64 constants
unsigned: ``r1 = 0xffffffffffffffff ll``).  Counts of instructions (jump and call offsets,
``func[pc+N]``) print in signed decimal, as the verifier log and older llvm-objdump do,
because they are read as distances.  Identifiers (helper ids, map fds and indices, BTF ids)
and widths (``be16``, ``(s8)``) are decimal.

ld_imm64 and its pseudo sources (src_reg)::

    r1 = 0x1122334455667788 ll      src 0: the constant
    r1 = map[fd:3] ll               src 1 (BPF_PSEUDO_MAP_FD): imm = fd
    r1 = map[fd:3][0]+0x8 ll        src 2 (BPF_PSEUDO_MAP_VALUE): imm = fd, next imm = offset
    r1 = btf_id[42] ll              src 3 (BPF_PSEUDO_BTF_ID)
    r1 = func[pc+5] ll              src 4 (BPF_PSEUDO_FUNC): pc-relative, like a local call
    r1 = map[idx:0] ll              src 5 (BPF_PSEUDO_MAP_IDX): index into the map array
    r1 = map[idx:0][0]+0x8 ll       src 6 (BPF_PSEUDO_MAP_IDX_VALUE)

With a ``map_name(kind, n)`` callback the by-index forms print ``map[progs]`` and
``map[stats][0]+0x8``; the assembler reads those names from ``.map`` declarations.

Labels: with ``labels=True`` (or a ``label(pc)`` callback) jump, call and ``func[...]``
targets print as names (``goto LBB0_3``, ``call func1``) and :func:`disassemble` puts a
``name:`` line before each target.  Otherwise targets are relative (``+N``/``-N``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from . import syntax as S
from .insn import Insn, decode, jump_target
from .isa import AluOp, AtomicOp, CallKind, Class, CondPseudo, Kind, Pseudo, Size, Source

#: ``helper_name(id)`` -> text after ``call`` (None: the default, ``bpf_<name>`` or the id).
HelperNamer = Callable[[int], "str | None"]
#: ``map_name("idx" | "fd", n)`` -> a map's name, or None to print the number.
MapNamer = Callable[[Literal["idx", "fd"], int], "str | None"]
#: ``label(pc)`` -> the name of an absolute target pc, or None to print ``+N``.
Labeler = Callable[[int], "str | None"]


class _Ctx:
    """The callbacks of one formatting call, with their defaults applied."""
    __slots__ = ("helper_name", "label", "map_name")

    def __init__(self, helper_name: HelperNamer | None, map_name: MapNamer | None,
                 label: Labeler | None) -> None:
        self.helper_name = helper_name
        self.map_name = map_name
        self.label = label

    def target(self, pc: int, off: int, prefix: str = "") -> str:
        """A relative target: a label if the callback names it, else ``+N`` / ``pc+N``."""
        name = self.label(pc + 1 + off) if self.label else None
        return name if name is not None else prefix + S.rel(off)

    def helper(self, num: int) -> str:
        name = self.helper_name(num) if self.helper_name else None
        if name is None:
            name = S.helper_name(num)
        return name if name is not None else str(num)

    def map_ref(self, kind: Literal["idx", "fd"], num: int) -> str:
        name = self.map_name(kind, num) if self.map_name else None
        return f"map[{name}]" if name is not None else f"map[{kind}:{num}]"


def _alu(i: Insn, pc: int, c: _Ctx) -> str:
    spec = i.spec
    wide = spec.cls is Class.ALU64
    dst = S.reg(i.dst, wide)
    x = spec.source is Source.X
    if spec.op is AluOp.MOV:
        if x:
            return f"{dst} = {S.MOVSX_CASTS.get(i.off, '')}{S.reg(i.src, wide)}"
        return f"{dst} = {S.hex_imm(i.imm)}"
    operand = S.reg(i.src, wide) if x else S.hex_imm(i.imm)
    return f"{dst} {S.ALU_OPS[spec.op, i.off]} {operand}"  # type: ignore[index]


def _neg(i: Insn, pc: int, c: _Ctx) -> str:
    d = S.reg(i.dst, i.spec.cls is Class.ALU64)
    return f"{d} = -{d}"


def _end(i: Insn, pc: int, c: _Ctx) -> str:
    name = S.END_OPS[i.spec.cls, i.spec.source]  # type: ignore[index]
    return f"r{i.dst} = {name}{i.imm} r{i.dst}"


def _ld_imm64(i: Insn, pc: int, c: _Ctx) -> str:
    dst = f"r{i.dst}"
    src = i.src
    if src == Pseudo.IMM:
        return f"{dst} = {i.imm64:#x} ll"
    if src == Pseudo.BTF_ID:
        return f"{dst} = btf_id[{i.imm}] ll"
    if src == Pseudo.FUNC:
        return f"{dst} = func[{c.target(pc, i.imm, 'pc')}] ll"
    kind: Literal["idx", "fd"] = "fd" if src in (Pseudo.MAP_FD, Pseudo.MAP_VALUE) else "idx"
    ref = c.map_ref(kind, i.imm)
    if src in (Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE):
        return f"{dst} = {ref}[0]+{i.imm_hi & 0xFFFFFFFF:#x} ll"
    return f"{dst} = {ref} ll"


def _ldx(i: Insn, pc: int, c: _Ctx) -> str:
    ty = S.MEM_TYPES[i.spec.mode, i.spec.size]  # type: ignore[index]
    return f"r{i.dst} = *({ty} *)({S.mem(i.src, i.off)})"


def _st(i: Insn, pc: int, c: _Ctx) -> str:
    ty = S.MEM_TYPES[i.spec.mode, i.spec.size]  # type: ignore[index]
    return f"*({ty} *)({S.mem(i.dst, i.off)}) = {S.hex_imm(i.imm)}"


def _stx(i: Insn, pc: int, c: _Ctx) -> str:
    ty = S.MEM_TYPES[i.spec.mode, i.spec.size]  # type: ignore[index]
    return f"*({ty} *)({S.mem(i.dst, i.off)}) = r{i.src}"


def _atomic(i: Insn, pc: int, c: _Ctx) -> str:
    size = i.spec.size
    wide = size is Size.DW
    ty = "u64" if wide else "u32"
    addr = S.mem(i.dst, i.off)
    val = S.reg(i.src, wide)
    op = AtomicOp(i.imm)
    if op in S.ATOMIC_LOCK_OPS:
        return f"lock *({ty} *)({addr}) {S.ATOMIC_LOCK_OPS[op]}= {val}"
    if op in S.ATOMIC_FETCH_OPS:
        return f"{val} = {S.ATOMIC_FETCH_OPS[op]}(({ty} *)({addr}), {val})"
    if op is AtomicOp.XCHG:
        return f"{val} = {S.XCHG_OPS[size]}({addr}, {val})"  # type: ignore[index]
    r0 = S.reg(0, wide)
    return f"{r0} = {S.CMPXCHG_OPS[size]}({addr}, {r0}, {val})"  # type: ignore[index]


def _ja(i: Insn, pc: int, c: _Ctx) -> str:
    if i.spec.cls is Class.JMP32:
        return f"gotol {c.target(pc, i.imm)}"
    return f"goto {c.target(pc, i.off)}"


def _jcond(i: Insn, pc: int, c: _Ctx) -> str:
    wide = i.spec.cls is Class.JMP
    rhs = S.reg(i.src, wide) if i.spec.source is Source.X else S.hex_imm(i.imm)
    op = S.JMP_OPS[i.spec.op]  # type: ignore[index]
    return f"if {S.reg(i.dst, wide)} {op} {rhs} goto {c.target(pc, i.off)}"


def _may_goto(i: Insn, pc: int, c: _Ctx) -> str:
    return f"{S.JCOND_OPS[CondPseudo(i.src)]} {c.target(pc, i.off)}"


def _call(i: Insn, pc: int, c: _Ctx) -> str:
    if i.src == CallKind.LOCAL:
        return f"call {c.target(pc, i.imm, 'pc')}"
    return f"call {c.helper(i.imm)}"


def _exit(i: Insn, pc: int, c: _Ctx) -> str:
    return "exit"


#: One formatter per kind of opcode, as disasm.c switches on the class.
_FORMATTERS: dict[Kind, Callable[[Insn, int, _Ctx], str]] = {
    Kind.ALU: _alu, Kind.NEG: _neg, Kind.END: _end, Kind.LD_IMM64: _ld_imm64,
    Kind.LDX: _ldx, Kind.ST: _st, Kind.STX: _stx, Kind.ATOMIC: _atomic,
    Kind.JA: _ja, Kind.JCOND: _jcond, Kind.MAY_GOTO: _may_goto, Kind.CALL: _call,
    Kind.EXIT: _exit,
}
assert set(_FORMATTERS) == set(Kind)


def format_insn(insn: Insn, pc: int = 0, *, helper_name: HelperNamer | None = None,
                map_name: MapNamer | None = None, label: Labeler | None = None) -> str:
    """The canonical text of one decoded (valid) instruction at ``pc``.

    ``pc`` matters only when ``label`` names absolute targets."""
    return _FORMATTERS[insn.kind](insn, pc, _Ctx(helper_name, map_name, label))


def auto_labels(insns: Sequence[Insn | None]) -> dict[int, str]:
    """LLVM-like names for every target: ``func<N>`` for subprograms (targets of local calls
    and ``func[...]``), ``LBB<N>_<k>`` for jump targets inside subprogram N.  Targets that
    are not the start of an instruction (or the end of the program) get no name."""
    n = len(insns)
    starts = {pc for pc in range(n + 1) if pc == n or insns[pc] is not None}
    funcs: set[int] = set()
    jumps: set[int] = set()
    for pc, insn in enumerate(insns):
        if insn is None:
            continue
        t = jump_target(insn, pc)
        if t is None or t not in starts:
            continue
        if insn.kind is Kind.CALL or insn.kind is Kind.LD_IMM64:
            funcs.add(t)
        else:
            jumps.add(t)
    names: dict[int, str] = {}
    entries = sorted(funcs | {0})
    counters = [0] * len(entries)
    for pc in sorted(funcs | jumps):
        f = max(k for k, e in enumerate(entries) if e <= pc)
        if pc in funcs:
            names[pc] = f"func{f}"
        else:
            names[pc] = f"LBB{f}_{counters[f]}"
            counters[f] += 1
    return names


def disassemble(prog: Sequence[Insn | None] | bytes, *, helper_name: HelperNamer | None = None,
                map_name: MapNamer | None = None, label: Labeler | None = None,
                labels: bool = False, pcs: bool = False, raw: bool = False) -> list[str]:
    """One line per instruction (the second slot of ld_imm64 has none).

    ``labels=True`` names targets (see :func:`auto_labels`) and emits ``name:`` lines;
    a ``label`` callback supplies names instead.  ``pcs`` prefixes ``  12:`` and ``raw``
    the instruction's bytes, as ``bpf-vm disasm`` prints: the assembler accepts both columns
    (it ignores them), so the output stays valid input."""
    insns = decode(prog) if isinstance(prog, (bytes, bytearray)) else list(prog)
    if label is None and labels:
        table = auto_labels(insns)
        label = table.get
    ctx = _Ctx(helper_name, map_name, label)
    out: list[str] = []
    for pc, insn in enumerate(insns):
        if label is not None and (name := label(pc)) is not None:
            out.append(f"{name}:")
        if insn is None:
            continue
        text = _FORMATTERS[insn.kind](insn, pc, ctx)
        if raw:
            text = f"{insn.encode().hex(' ')}\t{text}"
        if pcs:
            text = f"{pc:>6}:\t{text}"
        out.append(text)
    if label is not None and (name := label(len(insns))) is not None:
        out.append(f"{name}:")
    return out


def disassemble_text(prog: Sequence[Insn | None] | bytes, **kwargs: object) -> str:
    """:func:`disassemble` joined into a text (one instruction or label per line)."""
    lines = disassemble(prog, **kwargs)  # type: ignore[arg-type]
    return "".join(f"{line}\n" for line in lines)
