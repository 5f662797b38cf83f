"""may_goto (BPF_JMP | BPF_JCOND, src_reg BPF_MAY_GOTO): the per-frame counter in every
engine, its reset at each invocation, call, callback and tail call, the budget, and the
host kernel running the same loops.

The kernel's facts are in the docstring of :class:`bpf_vm.isa.CondPseudo`.  Where the
JIT times may_goto (x86-64's: 0xffff turns at a time, refilled until 250 ms have
passed) a loop left by its counter runs for a time, not for BPF_MAX_LOOPS turns, so the
differential programs return what both sides agree on: which exit was taken, whether at
least 2**16 turns ran, what a loop left by its own condition computed, and whether a
new frame's may_goto falls through."""

from __future__ import annotations

import struct
from contextlib import ExitStack

import pytest

from bpf_vm import kernel, pt_regs
from bpf_vm.asm import assemble
from bpf_vm.disasm import disassemble
from bpf_vm.elf import load_object
from bpf_vm.errors import BudgetExceeded, InvalidInstruction
from bpf_vm.isa import BPF_MAX_LOOPS, MAX_CALL_FRAMES, Kind
from bpf_vm.program import Program
from bpf_vm.vm import ENGINES, Vm
from tests.bpf_c import cc_fixture  # noqa: F401  (the `cc` fixture)
from tests.kernel_kit import kernel_insns
from tests.vm_kit import load

#: Enough budget for a frame to spend its whole counter in a three-instruction loop.
BIG_BUDGET = 4 * BPF_MAX_LOOPS + 10_000


def test_the_kernels_value() -> None:
    assert BPF_MAX_LOOPS == 8 * 1024 * 1024


def test_target_must_be_in_the_program() -> None:
    code = assemble("may_goto +1\nexit").code
    with pytest.raises(InvalidInstruction, match="jump out of range from insn 0 to 2"):
        Program.from_bytes(code)


def test_what_clang_emits(cc) -> None:
    """LLVM's ``may_goto`` (the can_loop macro of the kernel's bpf_experimental.h is
    this asm goto) encodes as 0xe5 with the offset in ``off``; llvm-objdump 14 predates
    it and prints <unknown>."""
    obj = cc("""
        SEC("kprobe/x") int sum(struct pt_regs *ctx) {
            __u64 n = ctx->di, s = 0;
            for (__u64 i = 1; i <= n; i++) {
                asm volatile goto("may_goto %l[spent]" :::: spent);
                s += i;
            }
            return s;
        spent:
            return -1;
        }
    """ + 'char LICENSE[] SEC("license") = "GPL";')
    vm = Vm()
    prog = load_object(obj, vm).programs["sum"]
    jumps = [i for i in prog.insns if i is not None and i.kind is Kind.MAY_GOTO]
    assert len(jumps) == 1 and jumps[0].opcode == 0xE5
    assert sum(text.startswith("may_goto ") for text in disassemble(prog.insns)) == 1
    regs = dict.fromkeys(pt_regs.FIELDS, 0)
    regs["di"] = 100
    assert vm.run(prog, pt_regs.STRUCT.pack(*regs.values())).r0 == 5050


# --- the counter, frame by frame --------------------------------------------------------

# Every way a frame starts, after the entry frame has spent its counter.  ctx receives:
# [0] the main loop's turns, [8] what a BPF-to-BPF callee's own loop computed (5050 when
# it starts full, -1 when spent), [16] 1 when the entry frame's may_goto still jumps
# after the call, [24] bpf_loop's result over a callback that stops (returns 1) when its
# may_goto jumps: 2 when each callback frame starts full.  r0: the tail-called program's
# may_goto, 1 when it falls through (its counter restarted), 2 when it jumps.
FRAMES = """
.map progs prog_array key=4 value=4 max_entries=1
.prog entry
    r6 = r1
    r7 = 0
loop:
    may_goto spent
    r7 += 1
    goto loop
spent:
    *(u64 *)(r6 + 0) = r7
    call sum100
    *(u64 *)(r6 + 8) = r0
    r8 = 1
    may_goto still_spent
    r8 = 0
still_spent:
    *(u64 *)(r6 + 16) = r8
    r1 = 2
    r2 = func[cb] ll
    r3 = 0
    r4 = 0
    call bpf_loop
    *(u64 *)(r6 + 24) = r0
    r1 = r6
    r2 = map[progs] ll
    r3 = 0
    call bpf_tail_call
    r0 = 0x99
    exit
sum100:
    r0 = 0
    r1 = 100
sum_loop:
    may_goto sum_spent
    r0 += r1
    r1 -= 1
    if r1 != 0 goto sum_loop
    exit
sum_spent:
    r0 = -1
    exit
cb:
    r0 = 0
    may_goto cb_spent
    exit
cb_spent:
    r0 = 1
    exit
.prog target
    r0 = 1
    may_goto +1
    exit
    r0 = 2
    exit
"""


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_each_frame_has_its_own_counter(engine: str) -> None:
    L = load(FRAMES, engine=engine, budget=BIG_BUDGET)
    L.maps["progs"].update(0, L.progs["target"])
    res = L.vm.run(L.progs["entry"], bytes(32))
    assert res.ctx is not None
    turns, callee, still_spent, loops = struct.unpack("<QqQQ", res.ctx)
    assert turns == BPF_MAX_LOOPS
    assert callee == 5050
    assert still_spent == 1
    assert loops == 2
    assert (res.r0, res.tail_calls, res.program) == (1, 1, "entry")


# Cheap and white-box: what is left of each frame's counter after a short run.
SHORT = """
    may_goto +0
    may_goto +0
    may_goto +0
    call f
    exit
f:
    may_goto +0
    may_goto +0
    r0 = 0
    exit
"""


def _traced(vm: Vm, prog: Program) -> int:
    texts: list[str] = []
    r0 = vm.run(prog, trace=lambda step: texts.append(step.text)).r0
    assert texts.count("may_goto +0") == 5
    return r0


@pytest.mark.parametrize("engine", [*ENGINES, "traced"])
def test_counters_count_per_frame(engine: str) -> None:
    vm = Vm(engine="block" if engine == "traced" else engine)
    prog = Program(assemble(SHORT).insns)
    for _ in range(2):   # each invocation starts full
        if engine == "traced":
            assert _traced(vm, prog) == 0
        else:
            assert vm.run(prog).r0 == 0
        assert vm.state.loops[:2] == [BPF_MAX_LOOPS - 3, BPF_MAX_LOOPS - 2]
        assert len(vm.state.loops) == MAX_CALL_FRAMES


@pytest.mark.parametrize("engine", ENGINES)
def test_the_budget_still_applies(engine: str) -> None:
    L = load("r0 = 0\nloop: may_goto out\nr0 += 1\ngoto loop\nout: exit", engine=engine,
             budget=1000)
    with pytest.raises(BudgetExceeded) as info:
        L.vm.run(L.prog)
    assert L.vm.state.executed == 1000
    assert info.value.pc == 1 + 999 % 3


# --- the host kernel ---------------------------------------------------------------------

# Left by its own condition: both sum 1000 + 999 + ... + 1.
OWN_CONDITION = """
    r0 = 0
    r1 = 1000
loop:
    may_goto spent
    r0 += r1
    r1 -= 1
    if r1 != 0 goto loop
    exit
spent:
    r0 = -1
    exit
"""

# Left by the counter, then a call, then the caller's may_goto again.  r0 bit 0: the
# caller's may_goto still jumps; bit 1: the loop ran at least 2**16 turns (computed
# without a branch: a comparison would make the verifier track the count exactly and
# never see the loop converge); bits 2+: the callee's own loop, 5050 when its frame
# starts full.
COUNTER_THEN_CALL = """
    r6 = 0
loop:
    may_goto spent
    r6 += 1
    goto loop
spent:
    call sum100
    r7 = r0
    r7 <<= 2
    r6 >>= 16
    r6 = -r6
    r6 >>= 63
    r6 <<= 1
    r7 |= r6
    r0 = r7
    may_goto still_spent
    exit
still_spent:
    r0 |= 1
    exit
sum100:
    r0 = 0
    r1 = 100
sum_loop:
    may_goto sum_spent
    r0 += r1
    r1 -= 1
    if r1 != 0 goto sum_loop
    exit
sum_spent:
    r0 = 0x7777
    exit
"""


@pytest.mark.kernel
def test_kernel_agrees_on_a_loop_left_by_its_condition() -> None:
    code = assemble(OWN_CONDITION).code
    ours = Vm().run(Program.from_bytes(code)).r0
    assert ours == 500500
    assert kernel.run_program(code).r0 == ours


@pytest.mark.kernel
@pytest.mark.slow
def test_kernel_agrees_on_a_loop_left_by_its_counter() -> None:
    code = assemble(COUNTER_THEN_CALL).code
    ours = Vm(budget=BIG_BUDGET).run(Program.from_bytes(code)).r0
    assert ours == 5050 << 2 | 2 | 1
    assert kernel.run_program(code).r0 == ours


# A tail call after the entry frame spent its counter: the target's may_goto falls
# through (r0 = 1) when the counter restarted, jumps (r0 = 2) when it did not.
TAIL_CALL = """
.map progs prog_array key=4 value=4 max_entries=1
.prog entry
    r6 = r1
loop:
    may_goto spent
    goto loop
spent:
    r1 = r6
    r2 = map[progs] ll
    r3 = 0
    call bpf_tail_call
    r0 = 0x99
    exit
.prog target
    r0 = 1
    may_goto +1
    exit
    r0 = 2
    exit
"""


@pytest.mark.kernel
@pytest.mark.slow
def test_kernel_agrees_that_a_tail_call_restarts_the_counter() -> None:
    """Socket filters (they may tail call and be test-run) in the host kernel."""
    res = assemble(TAIL_CALL)
    key = struct.pack("<I", 0)
    with ExitStack() as stack:
        kprogs = stack.enter_context(kernel.owned_fd(kernel.map_create(
            kernel.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1)))
        fds = {p.name: stack.enter_context(kernel.owned_fd(kernel.prog_load(
            kernel_insns(p.insns, [kprogs]), kernel.BPF_PROG_TYPE_SOCKET_FILTER,
            name=p.name))) for p in res.programs}
        assert kernel.map_update(kprogs, key, struct.pack("<I", fds["target"])) == 0
        run = kernel.prog_test_run(fds["entry"], data_in=bytes(kernel.SOCKET_FILTER_DATA_LEN))
        kernel.map_delete(kprogs, key)
    L = load(TAIL_CALL, budget=BIG_BUDGET)
    L.maps["progs"].update(0, L.progs["target"])
    ours = L.vm.run(L.progs["entry"], bytes(kernel.SOCKET_FILTER_DATA_LEN)).r0
    assert ours == 1
    assert run.retval == ours
