"""The interpreter runs a basic block per call: the instruction count, the budget and
the pc of faults stay those of one instruction at a time."""

from __future__ import annotations

import pytest

from bpf_vm.asm import assemble
from bpf_vm.engine.cfg import block_starts
from bpf_vm.errors import BudgetExceeded, InternalError, VmFault
from bpf_vm.helper_table import HelperFault, HelperProto, HelperTable, RetType
from bpf_vm.program import Program
from bpf_vm.vm import ENGINES, Vm

STRAIGHT = "\n".join(f"r0 += {i}" for i in range(1, 11)) + "\nexit\n"   # 11 insns
LOOP = "r0 = 0\nr1 = 5\nloop:\nr0 += r1\nr1 -= 1\nif r1 != 0 goto loop\nexit\n"  # 2 + 3*5 + 1


def _prog(text: str) -> Program:
    return Program(list(assemble(text).insns), name="t")


def test_block_starts() -> None:
    prog = _prog(LOOP)
    assert block_starts(prog.insns) == {0, 2, 5, 6}


@pytest.mark.parametrize("text,count", [(STRAIGHT, 11), (LOOP, 18)])
def test_instruction_count_is_exact(text: str, count: int) -> None:
    res = Vm(helpers=HelperTable()).run(_prog(text))
    assert res.insns == count


@pytest.mark.parametrize("budget", range(1, 18))
def test_budget_runs_out_at_the_exact_instruction(budget: int) -> None:
    """Whatever the budget, it stops where one-at-a-time execution would: after
    ``budget`` instructions, naming the next one."""
    prog = _prog(LOOP)
    trace: list[int] = []
    Vm(helpers=HelperTable()).run(prog, trace=lambda step: trace.append(step.pc))
    with pytest.raises(BudgetExceeded) as info:
        Vm(helpers=HelperTable(), budget=budget).run(prog)
    assert info.value.pc == trace[budget]


def test_budget_exactly_enough() -> None:
    assert Vm(helpers=HelperTable(), budget=18).run(_prog(LOOP)).r0 == 15


def test_helper_fault_names_the_call() -> None:
    def bad(state, *_: int) -> int:  # type: ignore[no-untyped-def]
        raise HelperFault("no")
    table = HelperTable().register(HelperProto(5, "ktime_get_ns", RetType.INTEGER, ()), bad)
    prog = _prog("r1 = 1\nr2 = 2\ncall bpf_ktime_get_ns\nr0 = 0\nexit\n")
    with pytest.raises(VmFault) as info:
        Vm(helpers=table).run(prog)
    assert info.value.pc == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_python_error_in_a_helper_is_ours_and_names_the_call(engine: str) -> None:
    """A Python exception out of a helper is an InternalError (a bug of trace-run's, not
    a fault of the program), named by program, pc and instruction, in either engine."""
    def broken(state, *_: int) -> int:  # type: ignore[no-untyped-def]
        raise KeyError("oops")
    table = HelperTable().register(HelperProto(5, "ktime_get_ns", RetType.INTEGER, ()),
                                   broken)
    prog = _prog("r1 = 1\nr2 = 2\ncall bpf_ktime_get_ns\nr0 = 0\nexit\n")
    with pytest.raises(InternalError) as info:
        Vm(helpers=table, engine=engine).run(prog)
    assert str(info.value).startswith(f"{prog.name}:2: KeyError: 'oops' [call ")


# Loads and stores through one base register are checked once per block for the range
# of their offsets; when the range is not all valid, each is checked on its own.

GROUP = """
.map arr array key=4 value=16 max_entries=1
    *(u32 *)(r10 - 4) = 0
    r1 = map[arr] ll
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem
    if r0 == 0 goto out
    *(u64 *)(r0 + 0) = 7
    *(u64 *)(r0 + 8) = 8
    *(u64 *)(r0 + {off}) = 9
    r1 = *(u64 *)(r0 + 0)
    r2 = *(u64 *)(r0 + 8)
    r0 = r1
    r0 += r2
out:
    exit
"""


def test_grouped_accesses_in_range() -> None:
    from tests.vm_kit import load
    L = load(GROUP.format(off=8))
    assert L.run() == 7 + 9
    assert L.maps["arr"].lookup(0) == (7).to_bytes(8, "little") + (9).to_bytes(8, "little")


def test_grouped_accesses_out_of_range_fault_at_their_own_pc() -> None:
    """The third store is past the value: the first two happened (the map shows them),
    and the fault names the third."""
    from tests.vm_kit import load
    L = load(GROUP.format(off=16))
    with pytest.raises(VmFault) as info:
        L.run()
    assert info.value.pc == 9   # ld_imm64 takes two slots
    assert L.maps["arr"].lookup(0) == (7).to_bytes(8, "little") + (8).to_bytes(8, "little")


def test_grouped_store_to_a_read_only_context_faults_there() -> None:
    prog = _prog("r2 = *(u64 *)(r1 + 0)\nr3 = *(u64 *)(r1 + 8)\n"
                 "*(u64 *)(r1 + 16) = r2\nr0 = 0\nexit\n")
    with pytest.raises(VmFault) as info:
        Vm(helpers=HelperTable()).run(prog, bytes(24), ctx_writable=False)
    assert info.value.pc == 2
    res = Vm(helpers=HelperTable()).run(prog, bytes(range(24)))
    assert res.ctx is not None and res.ctx[16:24] == bytes(range(8))
