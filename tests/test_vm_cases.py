"""Every data-driven case through every engine: the interpreter, the host kernel (the
oracle), and the disassemble -> assemble round trip."""

from __future__ import annotations

import pytest

from bpf_vm import errors, kernel
from bpf_vm.asm import assemble
from bpf_vm.disasm import disassemble
from bpf_vm.helper_table import HelperTable
from bpf_vm.insn import decode, encode
from bpf_vm.program import Program
from bpf_vm.vm import Vm
from tests.vm_cases import Case, all_cases

CASES = all_cases()


def _program(case: Case) -> Program:
    return Program(list(assemble(case.asm, source=case.id).insns), name=case.name)


def _run(case: Case) -> tuple[int, bytes | None]:
    vm = Vm(helpers=HelperTable(), budget=100_000)
    res = vm.run(_program(case), case.mem, regs={2: len(case.mem) if case.mem else 0})
    return res.r0, res.ctx


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_interpreter(case: Case) -> None:
    if case.error:
        kind, pc = case.error
        with pytest.raises(errors.BpfError) as info:
            _run(case)
        assert type(info.value).__name__ == kind, info.value
        assert info.value.pc == pc, info.value
        return
    r0, mem = _run(case)
    assert r0 == case.result, f"r0 = {r0:#x}, expected {case.result:#x}"
    if case.mem_after is not None:
        assert mem == case.mem_after


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_round_trip(case: Case) -> None:
    """assemble(disassemble(code)) == code, and the text is a fixed point."""
    code = encode(_program(case).insns)
    text = "\n".join(disassemble(decode(code)))
    assert assemble(text).code == code
    assert "\n".join(disassemble(decode(assemble(text).code))) == text


@pytest.mark.kernel
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_kernel_agrees(case: Case) -> None:
    """The host kernel computes the same r0 (its test-run retval has 32 bits) and memory,
    and refuses (at load or at run) every program our VM faults on."""
    if case.kernel.startswith("skip"):
        pytest.skip(case.kernel)
    code = encode(_program(case).insns)
    if case.error:
        with pytest.raises((kernel.KernelReject, kernel.KernelRunError)):
            kernel.run_program(code, case.mem)
        return
    run = kernel.run_program(code, case.mem)
    assert case.result is not None
    assert run.r0 == case.result & 0xFFFFFFFF, f"kernel r0 = {run.r0:#x}"
    if case.mem_after is not None:
        assert run.mem == case.mem_after
