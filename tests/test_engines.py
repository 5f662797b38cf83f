"""The two engines agree: the translating engine (bpf_vm.engine.translate, the default) and the
block engine (bpf_vm.engine.block) give the same r0, memory, instruction count, tail calls,
and the same fault (type, pc, message) on the same program, budget and input.

The data-driven cases, hypothesis programs (random straight-line and forward-jumping
bodies from the kernel differential test, under random budgets; and any valid
instructions at all, wherever their jumps go), and targeted programs: the budget
running out mid-block and in a loop, tail-call chains, tail calls from subprograms,
the call-depth limit, bpf_loop callbacks and faults in the middle of a block."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bpf_vm import errors
from bpf_vm.asm import assemble
from bpf_vm.errors import BudgetExceeded, VmFault
from bpf_vm.helper_table import HelperTable
from bpf_vm.insn import Insn, encode
from bpf_vm.isa import MAX_CALL_FRAMES, MAX_TAIL_CALL_CNT
from bpf_vm.program import Program
from bpf_vm.vm import ENGINES, Vm
from tests import insn_strategies
from tests.hypothesis_profiles import examples
from tests.test_kernel_differential import CTX_DATA, CTX_SIZE
from tests.test_kernel_differential import programs as diff_programs
from tests.vm_cases import Case, all_cases
from tests.vm_kit import load

Outcome = tuple[Any, ...]


def outcome(vm: Vm, prog: Program, ctx: bytes | None = None, **kw: Any) -> Outcome:
    """Everything a run shows: its result, or its error's type, pc and message."""
    try:
        res = vm.run(prog, ctx, **kw)
    except errors.BpfError as exc:
        return ("error", type(exc).__name__, getattr(exc, "pc", None), str(exc))
    return ("ok", res.r0, res.ctx, res.insns, res.tail_calls, res.program)


def both(make: Any, *args: Any, **kw: Any) -> dict[str, Outcome]:
    """The outcome under each engine; ``make(engine)`` returns (vm, program)."""
    out = {}
    for engine in ENGINES:
        vm, prog = make(engine)
        out[engine] = outcome(vm, prog, *args, **kw)
    return out


def assert_same(outs: dict[str, Outcome]) -> Outcome:
    first, *rest = outs.values()
    for other in rest:
        assert other == first, outs
    return first


def asm_prog(text: str, name: str = "t") -> Program:
    return Program(list(assemble(text).insns), name=name)


def test_default_engine_is_translate() -> None:
    assert Vm(helpers=HelperTable()).engine == "translate"
    with pytest.raises(ValueError):
        Vm(engine="jit")


# --- every data-driven case, and under budgets that stop it anywhere -------------------

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vm_cases_agree(case: Case) -> None:
    prog = Program(list(assemble(case.asm, source=case.id).insns), name=case.name)
    regs = {2: len(case.mem) if case.mem else 0}

    def make(engine: str) -> tuple[Vm, Program]:
        return Vm(helpers=HelperTable(), budget=100_000, engine=engine), prog
    out = assert_same(both(make, case.mem, regs=regs))
    if case.error:
        assert out[1] == case.error[0] and out[2] == case.error[1], out
    else:
        assert out[1] == case.result
    if out[0] == "ok":
        for budget in sorted({1, 2, out[3] // 2, out[3] - 1, out[3]} - {0}):
            assert_same(both(make, case.mem, regs=regs, budget=budget))


# --- hypothesis ----------------------------------------------------------------------

@pytest.mark.slow
@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(diff_programs(), st.binary(min_size=CTX_DATA, max_size=CTX_DATA),
       st.integers(1, 80))
def test_random_programs_agree(insns: list[Insn], data: bytes, budget: int) -> None:
    prog = Program.from_bytes(encode(insns))
    ctx = data + bytes(CTX_SIZE - CTX_DATA)

    def make(engine: str) -> tuple[Vm, Program]:
        return Vm(helpers=HelperTable(), engine=engine), prog
    out = assert_same(both(make, ctx, regs={2: len(ctx)}))
    assert out[0] == "ok", out   # these programs are valid: they never fault
    assert_same(both(make, ctx, regs={2: len(ctx)}, budget=budget))


@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(insn_strategies.programs(16), st.binary(min_size=0, max_size=64),
       st.integers(1, 60))
def test_any_instructions_agree(insns: list[Insn], data: bytes, budget: int) -> None:
    """Valid instructions in any order: jumps anywhere (back edges, loops), calls,
    helpers, map references, faults of every kind."""
    try:
        prog = Program(insn_strategies.slots(insns))
    except errors.InvalidInstruction:
        assume(False)
        raise

    def make(engine: str) -> tuple[Vm, Program]:
        return Vm(budget=budget, engine=engine), prog
    assert_same(both(make, data, regs={2: len(data)}))


# --- the budget -------------------------------------------------------------------------

STRAIGHT = "\n".join(f"r0 += {i}" for i in range(1, 11)) + "\nexit\n"
LOOP = "r0 = 0\nr1 = 5\nloop:\nr0 += r1\nr1 -= 1\nif r1 != 0 goto loop\nexit\n"
MAY_GOTO = ("r0 = 0\nr1 = 5\nloop:\nmay_goto out\nr0 += r1\nr1 -= 1\n"
            "if r1 != 0 goto loop\nout:\nexit\n")
CALLS = """
    r6 = 0
    r1 = 3
    call sub
    r6 += r0
    r1 = 4
    call sub
    r0 += r6
    exit
sub:
    r0 = r1
    r0 *= 2
    exit
"""


@pytest.mark.parametrize("text", [STRAIGHT, LOOP, MAY_GOTO, CALLS],
                         ids=["straight", "loop", "may_goto", "calls"])
def test_budget_stops_at_the_exact_instruction(text: str) -> None:
    """For every budget short of enough, both engines stop after exactly ``budget``
    instructions, naming the one the traced run executes next; with enough, the count
    is the traced run's."""
    prog = asm_prog(text)
    trace: list[int] = []
    Vm(helpers=HelperTable()).run(prog, trace=lambda step: trace.append(step.pc))
    for engine in ENGINES:
        assert Vm(helpers=HelperTable(), engine=engine).run(prog).insns == len(trace)
        assert Vm(helpers=HelperTable(), engine=engine, budget=len(trace)).run(prog).insns \
            == len(trace)
        for budget in range(1, len(trace)):
            with pytest.raises(BudgetExceeded) as info:
                Vm(helpers=HelperTable(), engine=engine, budget=budget).run(prog)
            assert info.value.pc == trace[budget], (engine, budget)


# --- tail calls ----------------------------------------------------------------------------

def chain_text(n: int) -> str:
    """p0..p{n-1}: pk counts itself in the shared stack and tail-calls slot k+1; the last
    returns the count, as does any whose tail call falls through."""
    parts = [f".map progs prog_array key=4 value=4 max_entries={n}"]
    for k in range(n):
        start = "    *(u64 *)(r10 - 8) = 0\n" if k == 0 else ""
        parts.append(f"""
.prog p{k}
{start}    r2 = *(u64 *)(r10 - 8)
    r2 += 1
    *(u64 *)(r10 - 8) = r2
    r2 = map[progs] ll
    r3 = {k + 1}
    call bpf_tail_call
    r0 = *(u64 *)(r10 - 8)
    r0 <<= 8
    r0 |= {k}
    exit""")
    return "\n".join(parts) + "\n"


@pytest.mark.parametrize("n", [1, 2, 33, 34, 35, 50])
def test_tail_call_chains_agree(n: int) -> None:
    def make(engine: str) -> tuple[Vm, Program]:
        L = load(chain_text(n), engine=engine)
        for k in range(n):
            L.maps["progs"].update(k, L.progs[f"p{k}"])
        return L.vm, L.progs["p0"]
    out = assert_same(both(make, bytes(8)))
    taken = min(n - 1, MAX_TAIL_CALL_CNT)
    assert out[0] == "ok" and out[4] == taken
    assert out[1] == ((taken + 1) << 8) | taken     # the stack frame is shared
    assert out[3] == 11 + 6 * taken                  # instructions across the programs


SUB_TAIL = """
.map progs prog_array key=4 value=4 max_entries=2
.prog main
    r6 = 100
    r7 = r1
    call sub
    r0 += r6
    r1 = r7
    call sub
    r0 += r6
    exit
sub:
    r6 = 7
    r2 = map[progs] ll
    r3 = 0
    call bpf_tail_call
    r0 = 1
    exit
.prog other
    r6 = 9
    r0 = *(u64 *)(r10 - 8)
    r0 += 20
    *(u64 *)(r10 - 8) = r0
    exit
"""


def test_tail_call_from_a_subprogram_returns_to_the_caller() -> None:
    """The target replaces the subprogram in its frame (a new, zeroed stack at each
    call); its exit returns into main (another program), which gets its r6 back."""
    def make(engine: str) -> tuple[Vm, Program]:
        L = load(SUB_TAIL, engine=engine)
        L.maps["progs"].update(0, L.progs["other"])
        return L.vm, L.progs["main"]
    out = assert_same(both(make, bytes(8)))
    assert out[0] == "ok" and out[1] == 20 + 100 and out[4] == 2


# --- calls ----------------------------------------------------------------------------------

RECURSE = """
    r0 = 0
    call f
    exit
f:
    r0 += 1
    *(u64 *)(r10 - 8) = r0
    call f
    exit
"""


def test_call_depth_limit() -> None:
    prog = asm_prog(RECURSE)
    out = assert_same(both(lambda e: (Vm(helpers=HelperTable(), engine=e), prog)))
    assert out[:3] == ("error", "VmFault", 5), out
    assert f"more than {MAX_CALL_FRAMES} frames" in out[3]


DEEP_OK = """
    r1 = 1
    call f
    exit
f:
    r6 = r1
    r0 = r1
    if r1 >= {depth} goto done
    r1 += 1
    call f
    r0 += r6
done:
    exit
"""


def test_calls_up_to_the_limit_restore_r6() -> None:
    prog = asm_prog(DEEP_OK.format(depth=MAX_CALL_FRAMES - 1))
    out = assert_same(both(lambda e: (Vm(helpers=HelperTable(), engine=e), prog)))
    assert out[:2] == ("ok", sum(range(1, MAX_CALL_FRAMES)))


BPF_LOOP = """
    *(u64 *)(r10 - 8) = 0
    r6 = 1000
    r1 = {n}
    r2 = func[cb] ll
    r3 = r10
    r3 += -8
    r4 = 0
    call bpf_loop
    r0 <<= 32
    r1 = *(u64 *)(r10 - 8)
    r0 |= r1
    r0 += r6
    exit
cb:
    r6 = *(u64 *)(r2 + 0)
    r6 += r1
    *(u64 *)(r2 + 0) = r6
    r0 = 0
    if r1 != {stop} goto +1
    r0 = 1
    exit
"""


@pytest.mark.parametrize("n,stop", [(5, 99), (10, 3), (0, 99)])
def test_bpf_loop_callbacks_agree(n: int, stop: int) -> None:
    def make(engine: str) -> tuple[Vm, Program]:
        L = load(BPF_LOOP.format(n=n, stop=stop), engine=engine)
        return L.vm, L.prog
    out = assert_same(both(make))
    ran = min(n, stop + 1)
    assert out[:2] == ("ok", (ran << 32 | sum(range(ran))) + 1000)
    for budget in range(1, out[3] + 2):   # runs out in the caller or in a callback
        assert_same(both(make, budget=budget))


# --- faults in the middle of a block ----------------------------------------------------------

@pytest.mark.parametrize("text,pc", [
    ("r0 = 1\nr1 = 2\nr2 = *(u64 *)(r1 + 0)\nr0 = 3\nexit\n", 2),
    ("r0 = 1\n*(u64 *)(r10 - 8) = r0\n*(u64 *)(r10 + 8) = r0\nr0 = 2\nexit\n", 2),
    ("r0 = 1\nr2 = *(u64 *)(r1 + 0)\nr3 = *(u64 *)(r1 + 8)\nr4 = *(u64 *)(r1 + 16)\n"
     "exit\n", 3),
    ("r0 = 1\n*(u32 *)(r1 + 0) = 5\nr0 = 2\nexit\n", 1),   # read-only context
    ("r0 = 0\nloop:\nr0 += 1\nif r0 != 3 goto loop\nr2 = 5\nr10 = 1\nexit\n", 4),
    ("r0 = 1\nr0 += 1\n", 2),   # falls off the end
])
def test_faults_name_their_own_pc(text: str, pc: int) -> None:
    prog = asm_prog(text)
    for engine in ENGINES:
        with pytest.raises(VmFault) as info:
            Vm(helpers=HelperTable(), engine=engine).run(prog, bytes(16), ctx_writable=False)
        assert info.value.pc == pc, (engine, info.value)
    assert_same(both(lambda e: (Vm(helpers=HelperTable(), engine=e), prog), bytes(16),
                     ctx_writable=False))


def test_engine_can_change_between_runs() -> None:
    """``Vm.engine`` is read at each run; a program compiled under one engine runs under
    the other with the same result."""
    prog = asm_prog(CALLS)
    vm = Vm(helpers=HelperTable(), engine="block")
    first = outcome(vm, prog)
    vm.engine = "translate"
    assert outcome(vm, prog) == first
