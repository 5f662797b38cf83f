"""The scalar domain (bpf_vm.verifier.scalar, .tnum): soundness against concrete values,
and the log's spelling on states whose kernel spelling is known.

Soundness: a random abstract state comes with concrete members (witnesses): it is built
from an unknown value, a narrow or sign-extending load or a constant by random
operations and refinements, each applied to the witnesses too (a refinement keeps the
witnesses for which its condition holds).  Every operation must then keep the concrete
result of its operands' witnesses (x / 0 = 0, x % 0 = x as in BPF), ``branch`` must
never answer 1 or 0 against a concrete pair, ``refine`` never lose a pair for which the
condition holds, and ``sync`` never lose a member.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpf_vm.isa import AluOp, JmpOp
from bpf_vm.verifier.scalar import JSET_FALSE, Scalar, negate
from bpf_vm.verifier.tnum import M32, M64, Tnum, s32, s64, sext
from bpf_vm.verifier.tnum import range as trange
from tests.hypothesis_profiles import examples

ALU_OPS = (AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.DIV, AluOp.MOD, AluOp.OR, AluOp.AND,
           AluOp.XOR, AluOp.LSH, AluOp.RSH, AluOp.ARSH, AluOp.MOV)
JMP_OPS = (JmpOp.JEQ, JmpOp.JNE, JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JSGT,
           JmpOp.JSGE, JmpOp.JSLT, JmpOp.JSLE, JmpOp.JSET)


# --- concrete semantics ------------------------------------------------------------------

def _sdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def concrete_alu(op: AluOp, x: int, y: int, *, wide: bool, signed: bool = False) -> int:
    w, top = (64, M64) if wide else (32, M32)
    x, y = x & top, y & top
    sx, sy = sext(x, w), sext(y, w)
    if op == AluOp.ADD:
        r = x + y
    elif op == AluOp.SUB:
        r = x - y
    elif op == AluOp.MUL:
        r = x * y
    elif op == AluOp.DIV:
        r = 0 if y == 0 else (_sdiv(sx, sy) if signed else x // y)
    elif op == AluOp.MOD:
        r = x if y == 0 else (sx - _sdiv(sx, sy) * sy if signed else x % y)
    elif op == AluOp.OR:
        r = x | y
    elif op == AluOp.AND:
        r = x & y
    elif op == AluOp.XOR:
        r = x ^ y
    elif op == AluOp.LSH:
        r = x << (y & (w - 1))
    elif op == AluOp.RSH:
        r = x >> (y & (w - 1))
    elif op == AluOp.ARSH:
        r = sx >> (y & (w - 1))
    else:
        r = y
    return r & top


def concrete_jmp(op: JmpOp | int, x: int, y: int, *, wide: bool) -> bool:
    w, top = (64, M64) if wide else (32, M32)
    x, y = x & top, y & top
    sx, sy = sext(x, w), sext(y, w)
    return {JmpOp.JEQ: x == y, JmpOp.JNE: x != y, JmpOp.JGT: x > y, JmpOp.JGE: x >= y,
            JmpOp.JLT: x < y, JmpOp.JLE: x <= y, JmpOp.JSGT: sx > sy, JmpOp.JSGE: sx >= sy,
            JmpOp.JSLT: sx < sy, JmpOp.JSLE: sx <= sy, JmpOp.JSET: bool(x & y),
            JSET_FALSE: not x & y}[op]


def well_formed(s: Scalar) -> bool:
    """Every field within its C type (even in a self-contradictory state)."""
    return (0 <= s.umin <= M64 and 0 <= s.umax <= M64 and 0 <= s.u32_min <= M32
            and 0 <= s.u32_max <= M32 and all(-(1 << 63) <= v < 1 << 63 for v in
                                              (s.smin, s.smax))
            and all(-(1 << 31) <= v < 1 << 31 for v in (s.s32_min, s.s32_max))
            and 0 <= s.var_off.value <= M64 and 0 <= s.var_off.mask <= M64
            and s.var_off.value & s.var_off.mask == 0)


def member(s: Scalar, x: int) -> bool:
    return (s.umin <= x <= s.umax and s.smin <= s64(x) <= s.smax
            and s.u32_min <= x & M32 <= s.u32_max and s.s32_min <= s32(x) <= s.s32_max
            and x & ~s.var_off.mask & M64 == s.var_off.value)


# --- abstract states with members ---------------------------------------------------------

Abstract = tuple[Scalar, list[int]]
INTERESTING = (0, 1, 2, 7, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, M32,
               1 << 32, (1 << 63) - 1, 1 << 63, M64, M64 - 1, M64 - 255)
u64s = st.one_of(st.sampled_from(INTERESTING), st.integers(0, M64),
                 st.integers(0, 300), st.integers(M64 - 300, M64))


@st.composite
def leaf(draw: st.DrawFn) -> Abstract:
    kind = draw(st.sampled_from(("unknown", "load", "sload", "const")))
    xs = draw(st.lists(u64s, min_size=1, max_size=4))
    if kind == "const":
        return Scalar.const(xs[0]), xs[:1]
    if kind == "unknown":
        return Scalar.unknown(), xs
    size = draw(st.sampled_from((1, 2, 4)))
    if kind == "load":
        return Scalar.load(size), [x & ((1 << (8 * size)) - 1) for x in xs]
    return Scalar.load(size, sign_extend=True), [sext(x, 8 * size) & M64 for x in xs]


@st.composite
def abstract(draw: st.DrawFn, depth: int = 3) -> Abstract:
    s, xs = draw(leaf())
    for _ in range(draw(st.integers(0, depth))):
        step = draw(st.sampled_from(("alu", "alu", "imm", "refine", "unary")))
        wide = draw(st.booleans())
        if step == "unary":
            kind = draw(st.sampled_from(("neg", "movsx", "end", "zext")))
            f, g = UNARY[kind](draw(st.sampled_from((0, 1, 2))), wide)
            s, xs = f(s), [g(x) for x in xs]
            continue
        if step == "imm":
            o, ys = Scalar.const(draw(u64s)), []
            ys = [o.value]
        else:
            o, ys = draw(leaf())
        if step == "refine":
            op = draw(st.sampled_from((*JMP_OPS, JSET_FALSE)))
            kept = [x for x in xs if all(concrete_jmp(op, x, y, wide=wide) for y in ys)]
            pair = s.refine(op, o, wide=wide)
            if kept and pair is not None:
                s, xs = pair[0], kept
            continue
        op = draw(st.sampled_from(ALU_OPS))
        if op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH) and draw(st.booleans()):
            o, ys = Scalar.const(draw(st.integers(0, 63 if wide else 31))), []
            ys = [o.value]
        s = s.alu(op, o, wide=wide)
        xs = [concrete_alu(op, x, ys[0], wide=wide) for x in xs]
    return s, xs


def _end(variant: int, wide: bool) -> tuple[object, object]:
    width = (16, 32, 64)[variant]
    to_be = None if wide else bool(variant % 2)

    def concrete(x: int) -> int:
        n = width // 8
        low = x & ((1 << width) - 1)
        return int.from_bytes(low.to_bytes(n, "little"), "big") if wide or to_be else low
    return (lambda s: s.bswap(width, to_be=to_be, wide=wide)), concrete


def _movsx(variant: int, wide: bool) -> tuple[object, object]:
    bits = (8, 16, 32)[variant] if wide else (8, 16, 16)[variant]
    if wide:
        return (lambda s: s.movsx(bits, wide=True)), (lambda x: sext(x, bits) & M64)
    return (lambda s: s.movsx(bits, wide=False)), (lambda x: sext(x, bits) & M32)


UNARY = {
    "neg": lambda v, wide: ((lambda s: s.neg(wide=wide)),
                            (lambda x: -x & (M64 if wide else M32))),
    "zext": lambda v, wide: ((lambda s: s.zext32()), (lambda x: x & M32)),
    "end": _end,
    "movsx": _movsx,
}


def _assert_members(result: Scalar, values: list[int], context: str) -> None:
    assert well_formed(result), f"{context}: {result}"
    missing = [hex(v) for v in values if not member(result, v)]
    assert not missing, f"{context}: {result.fmt()} lacks {missing}"


# --- soundness ----------------------------------------------------------------------------

@pytest.mark.slow
@settings(max_examples=examples(600), deadline=None)
@given(abstract(), abstract(), st.sampled_from(ALU_OPS), st.booleans(), st.booleans())
def test_alu_keeps_every_concrete_result(a: Abstract, b: Abstract, op: AluOp, wide: bool,
                                         signed: bool) -> None:
    (s, xs), (o, ys) = a, b
    signed = signed and op in (AluOp.DIV, AluOp.MOD)
    result = s.alu(op, o, wide=wide, signed=signed)
    _assert_members(result, [concrete_alu(op, x, y, wide=wide, signed=signed)
                             for x, y in itertools.product(xs, ys)],
                    f"{s.fmt()} {op.name}{'' if wide else '32'} {o.fmt()}")
    if (split := s.fork(op, o)) is not None:   # the kernel's two paths cover dst
        assert all(member(split[0], x) or member(split[1], x) for x in xs)


@pytest.mark.slow
@settings(max_examples=examples(400), deadline=None)
@given(abstract(), st.data())
def test_shifts_by_constants_keep_every_concrete_result(a: Abstract, data: st.DataObject
                                                        ) -> None:
    s, xs = a
    wide = data.draw(st.booleans())
    op = data.draw(st.sampled_from((AluOp.LSH, AluOp.RSH, AluOp.ARSH)))
    k = data.draw(st.integers(0, 63 if wide else 31))
    result = s.alu(op, Scalar.const(k), wide=wide)
    _assert_members(result, [concrete_alu(op, x, k, wide=wide) for x in xs],
                    f"{s.fmt()} {op.name} {k}")


@pytest.mark.slow
@settings(max_examples=examples(400), deadline=None)
@given(abstract(), st.sampled_from(sorted(UNARY)), st.integers(0, 2), st.booleans())
def test_unary_operations_keep_every_concrete_result(a: Abstract, kind: str, variant: int,
                                                     wide: bool) -> None:
    s, xs = a
    f, g = UNARY[kind](variant, wide)
    _assert_members(f(s), [g(x) for x in xs], f"{kind} {variant} {wide} of {s.fmt()}")


@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None)
@given(abstract())
def test_sync_keeps_members_and_narrows(a: Abstract) -> None:
    s, xs = a
    synced = s.sync()
    _assert_members(synced, xs, f"sync of {s.fmt()}")
    assert s.contains(synced)


@pytest.mark.slow
@settings(max_examples=examples(600), deadline=None)
@given(abstract(), abstract(), st.sampled_from(JMP_OPS), st.booleans())
def test_branch_and_refine_agree_with_concrete_pairs(a: Abstract, b: Abstract, op: JmpOp,
                                                     wide: bool) -> None:
    (s, xs), (o, ys) = a, b
    taken = s.branch(op, o, wide=wide)
    for refined in (*s.refine_states(op, o, wide=wide), *s.refine_states(
            negate(op) or JSET_FALSE, o, wide=wide)):
        assert well_formed(refined), refined
    true_side, false_side = s.refine(op, o, wide=wide), s.refine_false(op, o, wide=wide)
    for x, y in itertools.product(xs, ys):
        holds = concrete_jmp(op, x, y, wide=wide)
        assert taken == -1 or taken == holds, (s.fmt(), op.name, o.fmt(), hex(x), hex(y))
        side = true_side if holds else false_side
        assert side is not None, f"{'true' if holds else 'false'} side lost {x:#x} {y:#x}"
        assert member(side[0], x) and member(side[1], y), (s.fmt(), op.name, o.fmt(),
                                                           side[0].fmt(), hex(x), hex(y))


@pytest.mark.slow
@settings(max_examples=examples(200), deadline=None)
@given(abstract(), abstract())
def test_contains_means_every_member(a: Abstract, b: Abstract) -> None:
    (s, _), (o, ys) = a, b
    assert s.contains(s)
    if s.contains(o):
        assert all(member(s, y) for y in ys)
    assert Scalar.unknown().contains(s)


@pytest.mark.parametrize("size", [1, 2, 4, 8])
def test_loads(size: int) -> None:
    top = (1 << (8 * size)) - 1
    assert Scalar.load(size).umax == top and Scalar.load(size).umin == 0
    signed = Scalar.load(size, sign_extend=True)
    if size < 8:
        assert (signed.smin, signed.smax) == (-(top + 1) // 2, top // 2)


def test_negate() -> None:
    assert negate(JmpOp.JGT) == JmpOp.JLE and negate(JmpOp.JSLE) == JmpOp.JSGT
    assert negate(JmpOp.JEQ) == JmpOp.JNE and negate(JmpOp.JSET) is None
    assert all(negate(op) is None or negate(negate(op)) == op  # type: ignore[arg-type]
               for op in JMP_OPS)


# --- tnum ------------------------------------------------------------------------------

@st.composite
def tnum_with_members(draw: st.DrawFn) -> tuple[Tnum, list[int]]:
    value, mask = draw(u64s), draw(st.one_of(u64s, st.sampled_from((0, 0xFF, 0xF0F0))))
    t = Tnum(value & ~mask & M64, mask)
    return t, [t.value | (draw(u64s) & mask) for _ in range(3)] + [t.value, t.max]


TNUM_BINARY = {"add": (Tnum.add, lambda x, y: x + y), "sub": (Tnum.sub, lambda x, y: x - y),
               "mul": (Tnum.mul, lambda x, y: x * y), "and": (Tnum.and_, lambda x, y: x & y),
               "or": (Tnum.or_, lambda x, y: x | y), "xor": (Tnum.xor, lambda x, y: x ^ y)}


@pytest.mark.slow
@settings(max_examples=examples(400), deadline=None)
@given(tnum_with_members(), tnum_with_members(), st.sampled_from(sorted(TNUM_BINARY)))
def test_tnum_operations_are_sound(a: tuple[Tnum, list[int]], b: tuple[Tnum, list[int]],
                                   name: str) -> None:
    (t, xs), (u, ys) = a, b
    f, g = TNUM_BINARY[name]
    r = f(t, u)
    assert r.value & r.mask == 0
    for x, y in itertools.product(xs, ys):
        assert r.contains(Tnum.const(g(x, y))), (name, t, u, hex(x), hex(y), r)
    assert t.intersect(t) == t and t.union(u).contains(t) and t.union(u).contains(u)
    assert t.overlap(u) == any(u.contains(Tnum.const(x)) for x in xs) or t.overlap(u)


@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None)
@given(tnum_with_members(), st.integers(0, 63))
def test_tnum_shifts_negation_and_casts_are_sound(a: tuple[Tnum, list[int]], k: int) -> None:
    t, xs = a
    for x in xs:
        assert t.lshift(k).contains(Tnum.const(x << k))
        assert t.rshift(k).contains(Tnum.const(x >> k))
        assert t.arshift(k).contains(Tnum.const(s64(x) >> k))
        assert t.arshift(k % 32, 32).contains(Tnum.const((s32(x) >> (k % 32)) & M32))
        assert t.neg().contains(Tnum.const(-x))
        assert t.cast(2).contains(Tnum.const(x & 0xFFFF)) and t.subreg().contains(
            Tnum.const(x & M32))
        assert t.bswap(32).contains(Tnum.const(int.from_bytes(
            (x & M32).to_bytes(4, "little"), "big")))


@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None)
@given(u64s, u64s)
def test_tnum_range_holds_the_range(a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    t = trange(lo, hi)
    for x in (lo, hi, (lo + hi) // 2):
        assert t.contains(Tnum.const(x))


@pytest.mark.parametrize("t", [Tnum(0b1000, 0b0101), Tnum(0xF0, 0x0F00), Tnum(1, 0xF0),
                               Tnum(0, 0b1011)])
def test_tnum_step_is_the_next_member(t: Tnum) -> None:
    members = sorted(t.value | m for m in range(t.mask + 1) if m & ~t.mask == 0)
    for z in range(t.value, t.max):
        assert t.step(z) == next(m for m in members if m > z)
    assert t.step(t.max) == t.max and t.step(t.value - 1 if t.value else 0) >= t.value


def test_tnum_spelling_and_subregisters() -> None:
    assert str(Tnum(0, 0xFF)) == "(0x0; 0xff)"
    t = Tnum(0x1_0000_0005, 0xF0_0000_00F0)
    assert t.subreg() == Tnum(5, 0xF0) and t.clear_subreg() == Tnum(1 << 32, 0xF0 << 32)
    assert t.const_subreg(7) == Tnum(0x1_0000_0007, 0xF0 << 32)
    assert t.is_aligned(1) and not t.is_aligned(2) and Tnum(8, 0xF0).is_aligned(8)


# --- the log's spelling (each expected string as the host kernel printed it) ---------------

AND = AluOp.AND
_U = Scalar.unknown()


def _k(v: int) -> Scalar:
    return Scalar.const(v)


SPELLINGS = [
    (_U, "scalar()"),
    (_k(-5), "-5"),
    (_k(0xFFFFFFFFFFFF), "0xffffffffffff"),
    (_k(0xFFFFFFFFFFFF0000), "0xffffffffffff0000"),
    (_U.alu(AND, _k(255), wide=True),
     "scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))"),
    (_U.alu(AluOp.ARSH, _k(60), wide=True), "scalar(smin=smin32=-8,smax=smax32=7)"),
    (_U.alu(AluOp.ARSH, _k(40), wide=True),
     "scalar(smin=0xffffffffff800000,smax=smax32=0x7fffff,smin32=0xff800000)"),
    (_U.alu(AluOp.ARSH, _k(60), wide=True).alu(AluOp.MOV, _U.alu(AluOp.ARSH, _k(60),
                                                                 wide=True), wide=False),
     "scalar(smin=0,smax=umax=0xffffffff,smin32=-8,smax32=7,var_off=(0x0; 0xffffffff))"),
    (_U.alu(AND, _k(255), wide=True).neg(wide=True), "scalar(smin=smin32=-255,smax=smax32=0)"),
    (_U.alu(AND, _k(255), wide=True).bswap(16, to_be=True, wide=False),
     "scalar(smin=smin32=0,smax=umax=smax32=umax32=0xff00,var_off=(0x0; 0xff00))"),
    (_U.alu(AluOp.DIV, _k(3), wide=True), "scalar()"),
    (Scalar.load(1, sign_extend=True), "scalar(smin=smin32=-128,smax=smax32=127)"),
    (Scalar.load(4), "scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))"),
    (Scalar.load(4, sign_extend=True), "scalar(smin=0xffffffff80000000,smax=0x7fffffff)"),
]


@pytest.mark.parametrize(("state", "text"), SPELLINGS, ids=[t for _, t in SPELLINGS])
def test_spelling_is_the_kernels(state: Scalar, text: str) -> None:
    assert state.fmt() == text


def test_spelling_of_refined_states_and_idents() -> None:
    masked = _U.alu(AND, _k(0xF0), wide=True)
    pair = masked.refine(JmpOp.JGE, _k(0x10), wide=True)
    assert pair is not None
    assert pair[0].fmt() == \
        "scalar(smin=umin=smin32=umin32=16,smax=umax=smax32=umax32=240,var_off=(0x0; 0xf0))"
    # the tnum and the range meet in one value: a constant
    only = pair[0].refine(JmpOp.JLE, _k(0x1F), wide=True)
    assert only is not None and only[0].fmt() == "16"
    assert _U.fmt("id=1") == "scalar(id=1)"
    assert masked.fmt("id=2") == \
        "scalar(id=2,smin=smin32=0,smax=umax=smax32=umax32=240,var_off=(0x0; 0xf0))"
    # s32 crossing zero, u32 meeting one end: the kernel's 32-bit deduction
    w = _U
    for op, k in ((JmpOp.JSLE, 10), (JmpOp.JSGE, -10), (JmpOp.JGE, 5), (JmpOp.JLE, -256)):
        nxt = w.refine(op, _k(k), wide=False)
        assert nxt is not None
        w = nxt[0]
    assert (w.s32_min, w.s32_max, w.u32_min, w.u32_max) == (5, 10, 5, 10)


@st.composite
def any_state(draw: st.DrawFn) -> Scalar:
    """Any fields at all, self-contradictory ones included (the states of dead paths)."""
    value, mask = draw(u64s), draw(u64s)
    s64s, s32s = st.integers(-(1 << 63), (1 << 63) - 1), st.integers(-(1 << 31), (1 << 31) - 1)
    return Scalar(Tnum(value & ~mask & M64, mask), draw(s64s), draw(s64s), draw(u64s),
                  draw(u64s), draw(s32s), draw(s32s), draw(u64s) & M32, draw(u64s) & M32)


@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None)
@given(any_state(), any_state(), st.sampled_from(ALU_OPS), st.sampled_from(JMP_OPS),
       st.booleans())
def test_every_result_is_well_formed(s: Scalar, o: Scalar, alu: AluOp, jmp: JmpOp,
                                     wide: bool) -> None:
    results = [s.sync(), s.alu(alu, o, wide=wide), s.neg(wide=wide), s.zext32(),
               s.movsx(8, wide=wide), s.bswap(16, to_be=True, wide=wide), s.cast_to(2),
               *s.refine_states(jmp, o, wide=wide), *s.refine_states(JSET_FALSE, o, wide=wide)]
    for r in results:
        assert well_formed(r), (s, o, r)
    s.branch(jmp, o, wide=wide)
    s.fmt()
