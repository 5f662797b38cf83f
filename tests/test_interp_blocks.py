"""The interpreter runs a basic block per call: the instruction count, the budget and
the pc of faults stay those of one instruction at a time."""

from __future__ import annotations

import pytest

from bpf_vm.asm import assemble
from bpf_vm.errors import BudgetExceeded, VmFault
from bpf_vm.helper_table import HelperFault, HelperProto, HelperTable, RetType
from bpf_vm.interp import block_starts
from bpf_vm.program import Program
from bpf_vm.vm import Vm

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
