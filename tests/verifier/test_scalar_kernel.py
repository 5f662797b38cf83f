"""The scalar domain against the host kernel's verifier (bpf(2), log level 2).

Random straight-line programs (fixed seeds) of ALU operations (64- and 32-bit, register
and immediate operands, DIV/MOD signed and not), NEG, byte swaps, sign-extending moves,
narrow and sign-extending context loads, 64-bit constants and forward conditional jumps
(JMP and JMP32, every op) on unknown scalars loaded from the kprobe context, masked or
shifted, are loaded into the host kernel.  Its log prints, after each instruction, the
registers the instruction wrote, and for each branch it saved, the whole state when it
walks it ("from X to Y: ...").  The comparison is step by step: the operands' state
*before* an instruction is the kernel's own (the last it printed for those registers,
read back into a :class:`Scalar`), and the domain's result must print exactly as the
kernel printed it:

* ALU, NEG, END, MOVSX, loads, constants: ``fmt()`` of the result equals the kernel's
  text (scalar ids, which the domain does not track, taken out of the kernel's);
* a conditional jump: ``branch()`` decides as the kernel did (which of fall-through and
  target it walked), and the states of the compared registers on the fall-through and
  on the jump equal ``refine_states()``'s for the negated and the original condition
  (``unbounded()`` where the kernel's sanity check fails, as the kernel goes on then).

What the kernel does beyond the domain is modelled here as the verifier core must: the
fork before AND/OR on a -1-or-0 register (``Scalar.fork``: the kernel walks the
instruction again with 0, "from N to N"), and linked registers: a branch also refines
the registers sharing a scalar id with its operands, without printing them, so they are
forgotten until printed again; an instruction reading a forgotten register, and a
branch on two linked operands (the kernel compares them as one), are not compared.

Agreement: this test (300 programs of 40 instructions) compares 45,022 results, all
equal (about 1,400 instructions skipped as above).  Larger runs of the same generator
while writing the domain: 2,000 programs of 40 instructions, 278,665 equal; 2,000 of 60,
653,466 equal; no difference left.  Known differences: none in these classes.  Not
exercised here: states reached only through pointers, spills and calls (the core's).
"""

from __future__ import annotations

import ctypes
import errno
import random
import re
from collections import Counter
from dataclasses import dataclass, field

import pytest

from bpf_vm import kernel
from bpf_vm.asm import assemble
from bpf_vm.isa import AluOp, JmpOp
from bpf_vm.verifier.scalar import JSET_FALSE, Scalar, negate
from bpf_vm.verifier.tnum import Tnum

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1

# --- the kernel's log spelling, read back -----------------------------------------------

_ID = re.compile(r"id=\d+(?:[+-]\d+)?,?")


def strip_id(text: str) -> str:
    return _ID.sub("", text.removeprefix("P"))


def _num(text: str) -> int:
    return int(text, 16) if text.startswith(("0x", "-0x")) else int(text)


def parse_scalar(text: str) -> Scalar | None:
    """A scalar as the kernel's log prints it (None: not a scalar)."""
    text = strip_id(text)
    if re.fullmatch(r"-?(0x[0-9a-f]+|\d+)", text):
        return Scalar.const(_num(text))
    m = re.fullmatch(r"scalar\((.*)\)", text)
    if m is None:
        return None
    u = Scalar.unknown()
    vals: dict[str, int] = {}
    var_off = u.var_off
    for item in filter(None, m.group(1).split(",")):
        *names, value = item.split("=")
        if names == ["var_off"]:
            v, mask = value.strip("()").split("; ")
            var_off = Tnum(int(v, 16), int(mask, 16))
            continue
        for name in names:
            n = _num(value)
            if name in ("smin", "smax"):
                n &= M64
                n -= (n >> 63) << 64
            elif name in ("smin32", "smax32"):
                n &= M32
                n -= (n >> 31) << 32
            vals[name] = n
    return Scalar(var_off, vals.get("smin", u.smin), vals.get("smax", u.smax),
                  vals.get("umin", u.umin), vals.get("umax", u.umax),
                  vals.get("smin32", u.s32_min), vals.get("smax32", u.s32_max),
                  vals.get("umin32", u.u32_min), vals.get("umax32", u.u32_max))


# --- random programs -------------------------------------------------------------------

REGS = (2, 3, 4, 5, 6, 7)
ALU_SYM = {AluOp.ADD: "+=", AluOp.SUB: "-=", AluOp.MUL: "*=", AluOp.DIV: "/=",
           AluOp.MOD: "%=", AluOp.OR: "|=", AluOp.AND: "&=", AluOp.XOR: "^=",
           AluOp.LSH: "<<=", AluOp.RSH: ">>=", AluOp.ARSH: "s>>=", AluOp.MOV: "="}
JMP_SYM = {JmpOp.JEQ: "==", JmpOp.JNE: "!=", JmpOp.JGT: ">", JmpOp.JGE: ">=",
           JmpOp.JLT: "<", JmpOp.JLE: "<=", JmpOp.JSGT: "s>", JmpOp.JSGE: "s>=",
           JmpOp.JSLT: "s<", JmpOp.JSLE: "s<=", JmpOp.JSET: "&"}
IMMS = (0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 31, 32, 63, 64, 100, 127, 128, 255, 256, 0x3FF,
        0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, -1, -2, -4, -8, -16, -128, -256,
        -0x8000, -0x80000000, 0x12345, -0x12345)
MASKS = (0x1, 0x3, 0x7, 0xF, 0xF0, 0xFF, 0x1FF, 0xFFF, 0xFF00, 0xFFFF, 0x7FFFFFFF, -16,
         -0x100, 0x3C, 0x7F8)


@dataclass
class Insn:
    text: str
    kind: str                # alu neg end movsx load const jmp
    dst: int
    src: int | None = None   # register operand, None: the immediate
    imm: int = 0
    op: AluOp | JmpOp | None = None
    wide: bool = True
    signed: bool = False
    width: int = 0           # END width, MOVSX bits, load size
    to_be: bool | None = None
    target: int = 0          # jumps: index of the target instruction
    slots: int = 1


def _imm(rng: random.Random) -> int:
    return rng.choice(IMMS) if rng.random() < 0.8 else rng.randrange(-(1 << 31), 1 << 31)


def _alu(rng: random.Random) -> Insn:
    wide = rng.random() < 0.6
    r = "r" if wide else "w"
    dst = rng.choice(REGS)
    op = rng.choice((AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.AND, AluOp.AND, AluOp.OR,
                     AluOp.XOR, AluOp.LSH, AluOp.RSH, AluOp.ARSH, AluOp.DIV, AluOp.MOD,
                     AluOp.MOV, AluOp.ADD, AluOp.AND))
    signed = op in (AluOp.DIV, AluOp.MOD) and rng.random() < 0.3
    sym = ("s" if signed else "") + ALU_SYM[op]
    if rng.random() < 0.45 and op != AluOp.MOV:
        src = rng.choice(REGS)
        return Insn(f"{r}{dst} {sym} {r}{src}", "alu", dst, src, op=op, wide=wide,
                    signed=signed)
    if op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH):
        imm = rng.randrange(64 if wide else 32)
    elif op == AluOp.AND:
        imm = rng.choice(MASKS)
    else:
        imm = _imm(rng)
        if op in (AluOp.DIV, AluOp.MOD) and imm == 0:
            imm = 3
    if op == AluOp.MOV and rng.random() < 0.5:
        src = rng.choice(REGS)
        return Insn(f"{r}{dst} = {r}{src}", "alu", dst, src, op=op, wide=wide)
    return Insn(f"{r}{dst} {sym} {imm}", "alu", dst, None, imm, op=op, wide=wide,
                signed=signed)


def _other(rng: random.Random) -> Insn:
    dst = rng.choice(REGS)
    kind = rng.choice(("neg", "end", "movsx", "load", "load", "const"))
    if kind == "neg":
        wide = rng.random() < 0.5
        r = "r" if wide else "w"
        return Insn(f"{r}{dst} = -{r}{dst}", "neg", dst, wide=wide)
    if kind == "end":
        width = rng.choice((16, 32, 64))
        how = rng.choice(("be", "le", "bswap"))
        return Insn(f"r{dst} = {how}{width} r{dst}", "end", dst, wide=how == "bswap",
                    width=width, to_be=None if how == "bswap" else how == "be")
    if kind == "movsx":
        wide = rng.random() < 0.6
        bits = rng.choice((8, 16, 32) if wide else (8, 16))
        r = "r" if wide else "w"
        src = rng.choice(REGS)
        return Insn(f"{r}{dst} = (s{bits}){r}{src}", "movsx", dst, src, wide=wide,
                    width=bits)
    if kind == "load":
        size = rng.choice((1, 2, 4, 8))
        signed = size < 8 and rng.random() < 0.4
        off = rng.randrange(0, 168 - 8, 8) + (rng.randrange(0, 8, size) if size < 8 else 0)
        t = ("s" if signed else "u") + str(8 * size)
        return Insn(f"r{dst} = *({t} *)(r1 +{off})", "load", dst, signed=signed,
                    width=size)
    if rng.random() < 0.5:
        v = rng.getrandbits(64)
        return Insn(f"r{dst} = {v:#x} ll", "const", dst, imm=v, slots=2)
    v = _imm(rng)
    return Insn(f"r{dst} = {v}", "const", dst, imm=v & M64)


def _jmp(rng: random.Random, index: int, last: int) -> Insn:
    wide = rng.random() < 0.6
    r = "r" if wide else "w"
    op = rng.choice(tuple(JMP_SYM))
    dst = rng.choice(REGS)
    target = rng.randint(index + 2, min(last, index + 5))
    if rng.random() < 0.4:
        src = rng.choice([x for x in REGS if x != dst])
        return Insn(f"if {r}{dst} {JMP_SYM[op]} {r}{src}", "jmp", dst, src, op=op,
                    wide=wide, target=target)
    imm = rng.choice(MASKS) if op == JmpOp.JSET else _imm(rng)
    return Insn(f"if {r}{dst} {JMP_SYM[op]} {imm}", "jmp", dst, None, imm, op=op,
                wide=wide, target=target)


def program(rng: random.Random, length: int) -> list[Insn]:
    prog = []
    for reg in REGS:
        choice = rng.random()
        if choice < 0.6:
            prog.append(Insn(f"r{reg} = *(u64 *)(r1 +{8 * rng.randrange(20)})", "load",
                             reg, width=8))
        elif choice < 0.8:
            prog.append(Insn(f"r{reg} = *(u64 *)(r1 +{8 * rng.randrange(20)})", "load",
                             reg, width=8))
            prog.append(_alu_mask(rng, reg))
        else:
            v = rng.getrandbits(64)
            prog.append(Insn(f"r{reg} = {v:#x} ll", "const", reg, imm=v, slots=2))
    body_start = len(prog)
    last = body_start + length        # the index of the closing "r0 = 0"
    for i in range(body_start, last):
        x = rng.random()
        prog.append(_jmp(rng, i, last) if x < 0.25 and i + 2 <= last
                    else _alu(rng) if x < 0.8 else _other(rng))
    prog.append(Insn("r0 = 0", "const", 0))
    prog.append(Insn("exit", "exit", 0))
    return prog


def _alu_mask(rng: random.Random, reg: int) -> Insn:
    if rng.random() < 0.7:
        m = rng.choice(MASKS)
        return Insn(f"r{reg} &= {m}", "alu", reg, None, m, op=AluOp.AND)
    n = rng.randrange(1, 63)
    op = rng.choice((AluOp.RSH, AluOp.ARSH))
    return Insn(f"r{reg} {ALU_SYM[op]} {n}", "alu", reg, None, n, op=op)


def assemble_text(prog: list[Insn]) -> str:
    pcs = _pcs(prog)
    lines = []
    for i, insn in enumerate(prog):
        if insn.kind == "jmp":
            lines.append(f"{insn.text} goto +{pcs[insn.target] - pcs[i] - 1}")
        else:
            lines.append(insn.text)
    return "\n".join(lines) + "\n"


def _pcs(prog: list[Insn]) -> list[int]:
    pcs, pc = [], 0
    for insn in prog:
        pcs.append(pc)
        pc += insn.slots
    return pcs


# --- the domain's answer for one instruction -------------------------------------------

def expect(insn: Insn, regs: dict[int, Scalar]) -> Scalar:
    if insn.kind == "load":
        return Scalar.load(insn.width, sign_extend=insn.signed)
    if insn.kind == "const":
        return Scalar.const(insn.imm)
    src = regs[insn.src] if insn.src is not None else Scalar.const(insn.imm)
    if insn.kind == "movsx":
        return src.movsx(insn.width, wide=insn.wide)
    if insn.op == AluOp.MOV:
        return src if insn.wide else src.zext32()
    d = regs[insn.dst]
    if insn.kind == "neg":
        return d.neg(wide=insn.wide)
    if insn.kind == "end":
        return d.bswap(insn.width, to_be=insn.to_be, wide=insn.wide)
    assert isinstance(insn.op, AluOp)
    return d.alu(insn.op, src, wide=insn.wide, signed=insn.signed)


def src_of(insn: Insn, regs: dict[int, Scalar]) -> Scalar:
    return regs[insn.src] if insn.src is not None else Scalar.const(insn.imm)


def category(insn: Insn) -> str:
    if insn.kind == "alu":
        assert insn.op is not None
        return (f"alu{64 if insn.wide else 32} {insn.op.name}"
                f"{' signed' if insn.signed else ''} {'X' if insn.src else 'K'}")
    if insn.kind == "jmp":
        assert insn.op is not None
        return f"jmp{'' if insn.wide else '32'} {insn.op.name} {'X' if insn.src else 'K'}"
    if insn.kind in ("neg", "movsx"):
        return f"{insn.kind}{64 if insn.wide else 32}"
    return insn.kind


# --- walking the kernel's log ----------------------------------------------------------

_INSN = re.compile(r"^(\d+): \([0-9a-f]{2}\) (.*?)(?:\s+; (.*))?$")
_FROM = re.compile(r"^from (\d+) to (\d+): (.*)$")
_STATE = re.compile(r"^(\d+): (R\d.*)$")
_NEXT = re.compile(r"^(\d+): (?:\(|safe)")
_REG = re.compile(r"\bR(\d+)(?:_\w+)?=(\w*\((?:[^()]|\([^()]*\))*\)|\S+)")


@dataclass
class Tally:
    agree: Counter[str] = field(default_factory=Counter)
    differ: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def check(self, cat: str, got: str, want: str, context: str) -> None:
        if got == want:
            self.agree[cat] += 1
            return
        self.differ[cat] += 1
        if len(self.examples) < 40:
            self.examples.append(f"{cat}: {context}\n    kernel {got}\n    domain {want}")


def _regs(text: str) -> dict[int, str]:
    return {int(n): v for n, v in _REG.findall(text)}


def _base_id(text: str) -> str | None:
    m = re.search(r"id=(\d+)", text)
    return m.group(1) if m else None


@dataclass
class Visit:
    """A conditional jump the kernel walked on through its fall-through."""

    pc: int
    target: int
    insn: Insn
    mine: int | None          # None: not compared (linked operands)
    dst: Scalar
    src: Scalar
    printed: dict[int, str]   # the fall-through state the kernel printed
    ctx: str


def compare(prog: list[Insn], log: str, tally: Tally) -> None:
    """Step through the log of ``prog`` (see the module docstring)."""
    pcs = _pcs(prog)
    by_pc = {pc: i for i, pc in enumerate(pcs)}
    cur: dict[int, str] = {}
    visits: list[Visit] = []
    lines = log.splitlines()
    for k, line in enumerate(lines):
        if m := _FROM.match(line):
            state = None if m.group(3) == "safe" else _regs(m.group(3))
            _resolve(visits, int(m.group(1)), int(m.group(2)), state, tally)
            if state is not None:
                cur = state
            continue
        if m := _STATE.match(line):   # a state print (whole, or the registers precision
            cur.update(_regs(m.group(2)))   # tracking looked at)
            continue
        m = _INSN.match(line)
        if m is None or int(m.group(1)) not in by_pc:
            continue
        insn = prog[by_pc[int(m.group(1))]]
        after = _regs(m.group(3) or "")
        before = dict(cur)
        cur.update(after)
        if insn.kind == "exit":
            continue
        cat = category(insn)
        needed = [r for r in (insn.dst, insn.src) if r is not None]
        if insn.kind in ("load", "const"):
            needed = []
        elif insn.kind == "movsx" or (insn.kind == "alu" and insn.op == AluOp.MOV):
            needed = [insn.src] if insn.src is not None else []
        if insn.kind == "jmp":
            _forget_linked(cur, {r: before.get(r) for r in needed})
        states = {r: parse_scalar(before[r]) if r in before else None for r in needed}
        regs = {r: s for r, s in states.items() if s is not None}
        if len(regs) < len(needed):
            tally.skipped[cat] += 1
            if insn.kind == "jmp" and _next_index(lines, k) != pcs[insn.target]:
                visits.append(Visit(pcs[by_pc[int(m.group(1))]], pcs[insn.target], insn,
                                    None, Scalar.unknown(), Scalar.unknown(), {}, ""))
            continue
        ctx = f"{m.group(1)}: {insn.text}  [{', '.join(f'R{r}={before[r]}' for r in needed)}]"
        if insn.kind == "alu" and insn.op is not None and insn.dst in regs and \
                (split := regs[insn.dst].fork(AluOp(insn.op), src_of(insn, regs))):
            # the kernel goes on with dst -1 and walks this instruction again with 0
            regs[insn.dst] = split[0]
            pc = pcs[by_pc[int(m.group(1))]]
            visits.append(Visit(pc, pc, insn, None, split[1], split[1], {}, ""))
        if insn.kind != "jmp":
            if insn.dst in after:
                tally.check(cat, strip_id(after[insn.dst]), expect(insn, regs).fmt(), ctx)
            continue
        assert isinstance(insn.op, JmpOp)
        pc, target = pcs[by_pc[int(m.group(1))]], pcs[insn.target]
        d = regs[insn.dst]
        s = regs[insn.src] if insn.src is not None else Scalar.const(insn.imm)
        if insn.src is not None and _base_id(before[insn.dst]) is not None and \
                _base_id(before[insn.dst]) == _base_id(before[insn.src]):
            tally.skipped[cat + " (linked operands)"] += 1   # the core's business
            visits.append(Visit(pc, target, insn, None, d, s, {}, ""))
            continue
        mine = d.branch(insn.op, s, wide=insn.wide)
        if _next_index(lines, k) == target:
            tally.check(f"{cat} branch", "1", str(mine), ctx)
            continue
        visits.append(Visit(pc, target, insn, mine, d, s, after, ctx))
    while visits:
        v = visits.pop()
        if v.mine is not None:
            tally.check(f"{category(v.insn)} branch", "0", str(v.mine), v.ctx)


def _next_index(lines: list[str], k: int) -> int | None:
    """The instruction the kernel walked after line ``k``."""
    return next((int(n.group(1)) for n in map(_NEXT.match, lines[k + 1:]) if n), None)


def _forget_linked(cur: dict[int, str], operands: dict[int, str | None]) -> None:
    """A branch refines the registers linked to its operands (same scalar id) without
    printing them: forget them (all registers with an id if an operand is unknown)."""
    idents = {_base_id(o) for o in operands.values() if o is not None}
    if None in operands.values():
        idents = {_base_id(v) for v in cur.values()}
    for reg in [r for r, v in cur.items() if (i := _base_id(v)) is not None and i in idents
                and r not in operands]:
        del cur[reg]


def _resolve(visits: list[Visit], pc: int, target: int, state: dict[int, str] | None,
             tally: Tally) -> None:
    """The kernel walks the jump it saved at ``pc``: the visits after it had no jump to
    save (the kernel found the branch never taken)."""
    while visits:
        v = visits.pop()
        cat = category(v.insn)
        if (v.pc, v.target) != (pc, target):
            if v.mine is not None:
                tally.check(f"{cat} branch", "0", str(v.mine), v.ctx)
            continue
        if v.mine is None:
            return
        tally.check(f"{cat} branch", "-1", str(v.mine), v.ctx)
        if v.mine != -1:
            return
        assert isinstance(v.insn.op, JmpOp)
        wide = v.insn.wide
        true_side = v.dst.refine_states(v.insn.op, v.src, wide=wide)
        false_op = JSET_FALSE if v.insn.op == JmpOp.JSET else negate(v.insn.op)
        false_side = v.dst.refine_states(false_op, v.src, wide=wide)
        for side, printed, what in ((false_side, v.printed, "false"),
                                    (true_side, state, "true")):
            if printed is None:
                continue
            for reg, want in ((v.insn.dst, side[0]), (v.insn.src, side[1])):
                if want.violation():   # the kernel logs a verifier bug and goes on
                    want = want.unbounded()
                if reg is not None and reg in printed:
                    tally.check(f"{cat} refine", strip_id(printed[reg]), want.fmt(),
                                f"{what} side R{reg}: {v.ctx}")
        return


# --- the test --------------------------------------------------------------------------

def _klog(text: str) -> tuple[bool, int, str]:
    """Load ``text`` as a kprobe program at log level 2: (accepted, errno, log)."""
    code = assemble(text).code
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1 << 23)
    attr = kernel._BpfAttr()
    a = attr.load
    a.prog_type = kernel.BPF_PROG_TYPE_KPROBE
    a.insn_cnt = len(code) // 8
    a.insns = kernel._addr(insns)
    a.license = kernel._addr(lic)
    a.log_level = 2
    a.log_size = len(log)
    a.log_buf = kernel._addr(log)
    fd, err = kernel._bpf(kernel.BPF_PROG_LOAD, attr)
    if fd >= 0:
        kernel.close_fd(fd)
    return fd >= 0, err, log.value.decode()


def run(seeds: range, length: int) -> Tally:
    tally = Tally()
    for seed in seeds:
        rng = random.Random(seed)
        prog = program(rng, length)
        ok, err, log = _klog(assemble_text(prog))
        if not ok and err in (errno.EPERM, errno.EACCES) and "processed" not in log:
            pytest.skip(f"bpf(2) refused: {errno.errorcode.get(err)}")
        assert ok, f"seed {seed}: the kernel refused the program:\n{log[-2000:]}"
        compare(prog, log, tally)
    return tally


def test_domain_agrees_with_the_kernel() -> None:
    tally = run(range(300), 40)
    report = "\n".join(tally.examples)
    assert not tally.differ, f"{dict(tally.differ)}\n{report}"
    kinds = Counter(cat.split()[0] + (" refine" if "refine" in cat else "")
                    for cat in tally.agree.elements())
    # every kind of instruction was compared, many times
    assert all(kinds[k] > 300 for k in ("alu64", "alu32", "jmp", "jmp32", "jmp refine",
                                        "jmp32 refine", "load", "end", "neg64", "neg32",
                                        "movsx64", "movsx32")), kinds
