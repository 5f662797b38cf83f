"""bpf_tail_call with the kernel's rules.

The chain limit (33 successful calls, then fall-through), out-of-range and empty slots
under both counting rules, the u32 index, self tail calls and thousands of failed
attempts in constant Python stack, tail calls from a BPF-to-BPF subprogram sharing the
invocation's counter, slots updated between runs, and the host kernel's own rules
(bpf_vm.kernel.measure_tail_call_rules) reproduced by the same bytecode in the VM."""

from __future__ import annotations

import inspect
import struct
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from bpf_vm import kernel
from bpf_vm.helpers import default_helpers
from bpf_vm.isa import MAX_TAIL_CALL_CNT
from bpf_vm.maps import MapSpec, create_map
from bpf_vm.program import Program
from bpf_vm.vm import TailCallCounting, Vm
from tests.kernel_kit import kernel_insns
from tests.vm_kit import Loaded, load

RULES = [TailCallCounting.JIT, TailCallCounting.INTERPRETER]


def chain_text(n: int, slots: int) -> str:
    """Programs p0..p{n-1}; pk returns k unless its tail call into slot k+1 succeeds."""
    parts = [f".map progs prog_array key=4 value=4 max_entries={slots}"]
    for k in range(n):
        parts.append(f"""
.prog p{k}
    r6 = r1
    r1 = r6
    r2 = map[progs] ll
    r3 = {k + 1}
    call bpf_tail_call
    r0 = {k}
    exit""")
    return "\n".join(parts) + "\n"


def fill(L, names: list[str]) -> None:
    for i, name in enumerate(names):
        L.maps["progs"].update(i, L.progs[name])


@pytest.mark.parametrize("rule", RULES)
def test_exactly_33_chained_tail_calls_then_fall_through(rule: TailCallCounting) -> None:
    L = load(chain_text(40, 40), tail_call_counting=rule)
    fill(L, [f"p{k}" for k in range(40)])
    res = L.vm.run(L.progs["p0"], bytes(8))
    assert MAX_TAIL_CALL_CNT == 33
    assert res.r0 == 33 and res.tail_calls == 33 and res.program == "p0"
    # a new invocation starts with a fresh counter
    assert L.vm.run(L.progs["p5"], bytes(8)).r0 == 38


def test_short_chain_ends_at_the_first_empty_slot() -> None:
    L = load(chain_text(6, 10))
    fill(L, [f"p{k}" for k in range(6)])
    res = L.vm.run(L.progs["p0"], bytes(8))
    assert (res.r0, res.tail_calls) == (5, 5)


TRY = """
.map progs prog_array key=4 value=4 max_entries=4
.prog entry
    r6 = r1
    r1 = r6
    r2 = map[progs] ll
    r3 = {index:#x} ll
    call bpf_tail_call
    r0 = 111
    exit
.prog target
    r0 = 222
    exit
"""


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("index,filled,want", [
    (0, True, 222),
    (1, True, 111),                     # empty slot: no effect, continue after the call
    (4, True, 111),                     # index == max_entries
    (0xFFFFFFFF, True, 111),
    ((1 << 32) | 0, True, 222),         # the index is a u32: the high half is ignored
    (0, False, 111),
])
def test_single_attempt(rule: TailCallCounting, index: int, filled: bool, want: int) -> None:
    L = load(TRY.format(index=index), tail_call_counting=rule)
    if filled:
        L.maps["progs"].update(0, L.progs["target"])
    res = L.vm.run(L.progs["entry"], bytes(8))
    assert res.r0 == want
    # RunResult.tail_calls is the invocation's counter: under the interpreter rule an
    # attempt on an empty slot in range counts as well
    counted = want == 222 or (rule is TailCallCounting.INTERPRETER and index & 0xFFFFFFFF < 4)
    assert res.tail_calls == int(counted)


SELF = """
.map progs prog_array key=4 value=4 max_entries=4
.map counter array key=4 value=8 max_entries=1
.prog self
    r6 = r1
    r1 = map[counter][0]+0 ll
    r2 = *(u64 *)(r1 + 0)
    r2 += 1
    *(u64 *)(r1 + 0) = r2
    if r2 != 1 goto chain
    r7 = {failed}
    if r7 == 0 goto chain
fail:
    r1 = r6
    r2 = map[progs] ll
    r3 = {fail_index:#x} ll
    call bpf_tail_call
    r7 += -1
    if r7 != 0 goto fail
chain:
    r1 = r6
    r2 = map[progs] ll
    r3 = 0
    call bpf_tail_call
    r1 = map[counter][0]+0 ll
    r0 = *(u64 *)(r1 + 0)
    exit
"""


def _self_runs(rule: TailCallCounting, failed: int, fail_index: int) -> int:
    """Successful tail calls of a self tail-calling program that first makes ``failed``
    attempts on slot ``fail_index`` (on its first run only)."""
    L = load(SELF.format(failed=failed, fail_index=fail_index), tail_call_counting=rule)
    L.maps["progs"].update(0, L.progs["self"])
    res = L.vm.run(L.progs["self"], bytes(8))
    runs: int = struct.unpack("<Q", L.maps["counter"].lookup(0))[0]
    assert res.r0 == runs
    if rule is TailCallCounting.JIT:
        assert res.tail_calls == runs - 1
    return runs - 1


@pytest.mark.parametrize("rule,empty_counts", [(TailCallCounting.JIT, False),
                                               (TailCallCounting.INTERPRETER, True)])
def test_counting_rules_for_failed_attempts(rule: TailCallCounting, empty_counts: bool) -> None:
    # after 10 failures on an empty slot (1) the chain still gets 33 calls, or only 23
    assert _self_runs(rule, 0, 1) == 33
    assert _self_runs(rule, 10, 1) == (23 if empty_counts else 33)
    # an index out of range never counts, under either rule
    assert _self_runs(rule, 10, 4) == 33
    assert _self_runs(rule, 10, 0xFFFFFFFF) == 33
    # the interpreter's counter stops at the limit: 40 empty-slot failures leave none
    assert _self_runs(rule, 40, 1) == (0 if empty_counts else 33)


def test_default_rule_is_the_jit_rule() -> None:
    assert Vm().tail_call_counting is TailCallCounting.JIT


@contextmanager
def shallow_recursion(headroom: int = 40) -> Iterator[None]:
    """A recursion limit only ``headroom`` frames above the current depth: a VM that
    recursed per tail call (or per failed attempt) would raise RecursionError."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + headroom)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


FAILING_LOOP = """
.map progs prog_array key=4 value=4 max_entries=4
.prog spin
    r6 = r1
    r7 = {n}
loop:
    r1 = r6
    r2 = map[progs] ll
    r3 = {index}
    call bpf_tail_call
    r7 += -1
    if r7 != 0 goto loop
    r0 = 42
    exit
"""


@pytest.mark.slow
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("trace", [False, True])
def test_constant_python_stack(rule: TailCallCounting, trace: bool) -> None:
    steps: list[object] = []
    hook = steps.append if trace else None
    L = load(SELF.format(failed=0, fail_index=1), tail_call_counting=rule)
    L.maps["progs"].update(0, L.progs["self"])
    spin_empty = load(FAILING_LOOP.format(n=5000, index=1), tail_call_counting=rule)
    spin_range = load(FAILING_LOOP.format(n=5000, index=9), tail_call_counting=rule)
    with shallow_recursion():
        for _ in range(3):
            res = L.vm.run(L.progs["self"], bytes(8), trace=hook)
            assert res.tail_calls == 33
        assert spin_empty.vm.run(spin_empty.prog, bytes(8), trace=hook).r0 == 42
        assert spin_range.vm.run(spin_range.prog, bytes(8), trace=hook).r0 == 42
    assert struct.unpack("<Q", L.maps["counter"].lookup(0))[0] == 3 * 34
    if trace:
        assert sum(1 for s in steps if getattr(s, "event", "") == "tail_call") == 3 * 33


SUBPROG = """
.map progs prog_array key=4 value=4 max_entries=4
.map counter array key=4 value=8 max_entries=1
.prog main
    r6 = r1
    r1 = r6
    call sub
    r8 = r0
    r1 = r6
    call sub
    r0 <<= 8
    r0 |= r8
    exit
sub:
    r1 = r1
    r2 = map[progs] ll
    r3 = 0
    call bpf_tail_call
    r0 = 7
    exit
.prog again
    r6 = r1
    r1 = map[counter][0]+0 ll
    r2 = *(u64 *)(r1 + 0)
    r2 += 1
    *(u64 *)(r1 + 0) = r2
    r1 = r6
    r2 = map[progs] ll
    r3 = 0
    call bpf_tail_call
    r0 = 9
    exit
"""


def test_tail_call_from_subprogram_shares_the_counter() -> None:
    """main calls sub, whose tail call into ``again`` replaces sub's frame; ``again``
    chains into itself until the limit, then returns to main.  The second call of sub
    finds the counter used up: its tail call fails and sub returns 7."""
    L = load(SUBPROG)
    L.maps["progs"].update(0, L.progs["again"])
    res = L.vm.run(L.progs["main"], bytes(8))
    assert res.r0 == (7 << 8) | 9
    assert res.tail_calls == 33
    assert struct.unpack("<Q", L.maps["counter"].lookup(0))[0] == 33


def test_slot_updated_between_runs() -> None:
    L = load(TRY.format(index=0) + "\n.prog other\n    r0 = 333\n    exit\n")
    progs = L.maps["progs"]
    entry = L.progs["entry"]
    assert L.vm.run(entry, bytes(8)).r0 == 111
    progs.update(0, L.progs["target"])
    assert L.vm.run(entry, bytes(8)).r0 == 222
    progs.update(0, L.progs["other"])
    assert L.vm.run(entry, bytes(8)).r0 == 333
    progs.delete(0)
    assert L.vm.run(entry, bytes(8)).r0 == 111


def test_slot_updated_during_a_run_takes_effect_at_the_next_call() -> None:
    """User space changes the slot while the program runs (here: from inside a replaced
    helper); the tail call made after that sees the new program."""
    table = default_helpers()
    holder: dict[str, Loaded] = {}

    def update_slot(state: object, *_: int) -> int:
        holder["L"].maps["progs"].update(0, holder["L"].progs["new"])
        return 0

    table.register(table.get(5).proto, update_slot)  # type: ignore[union-attr]
    holder["L"] = L = load("""
.map progs prog_array key=4 value=4 max_entries=2
.prog entry
    r6 = r1
    call bpf_ktime_get_ns
    r1 = r6
    r2 = map[progs] ll
    r3 = 0
    call bpf_tail_call
    r0 = 1
    exit
.prog new
    r0 = 2
    exit
""", helpers=table)
    assert L.vm.run(L.progs["entry"], bytes(8)).r0 == 2


# --- the host kernel's rules ------------------------------------------------------------------

def _vm_count_runs(vm_rule: TailCallCounting, failed: int, fail_index: int,
                   const_index: bool) -> int:
    """bpf_vm.kernel._count_runs on the VM: the same self tail-calling socket-filter
    bytecode (kernel._tail_call_prog), with VM maps in place of kernel maps."""
    vm = Vm(tail_call_counting=vm_rule)
    counter = create_map(MapSpec("tc_counter", "array", 4, kernel._COUNTER_VALUE.size, 1), vm)
    progs = create_map(MapSpec("tc_progs", "prog_array", 4, 4, kernel._PROG_SLOTS), vm)
    code = kernel._tail_call_prog(counter.fd, progs.fd, failed,
                                  fail_index if const_index else None)
    prog = Program.from_bytes(code, name="tc_self")
    progs.update(0, prog)
    counter.update(0, kernel._COUNTER_VALUE.pack(0, 0, fail_index))
    vm.run(prog, bytes(kernel.SOCKET_FILTER_DATA_LEN))
    runs: int = kernel._COUNTER_VALUE.unpack(counter.lookup(0))[0]
    return runs


def vm_tail_call_rules(rule: TailCallCounting, const_index: bool = False
                       ) -> kernel.TailCallRules:
    """measure_tail_call_rules, measured on the VM."""
    max_chain = _vm_count_runs(rule, 0, kernel._EMPTY_SLOT, const_index) - 1
    empty = _vm_count_runs(rule, kernel._FAILED_ATTEMPTS, kernel._EMPTY_SLOT, const_index) - 1
    out = _vm_count_runs(rule, kernel._FAILED_ATTEMPTS, kernel._OUT_OF_RANGE, const_index) - 1
    return kernel.TailCallRules(max_chain, empty < max_chain, out < max_chain)


def test_vm_rules_measured_like_the_kernel() -> None:
    assert vm_tail_call_rules(TailCallCounting.JIT) == kernel.TailCallRules(33, False, False)
    assert vm_tail_call_rules(TailCallCounting.INTERPRETER) == \
        kernel.TailCallRules(33, True, False)


@pytest.mark.kernel
@pytest.mark.parametrize("const_index", [False, True])
def test_default_rule_reproduces_the_host_kernel(const_index: bool) -> None:
    host = kernel.measure_tail_call_rules(const_index=const_index)
    assert vm_tail_call_rules(Vm().tail_call_counting, const_index) == host


# --- subprogram tail calls in the kernel ------------------------------------------------------

@pytest.mark.kernel
def test_subprogram_tail_calls_match_kernel() -> None:
    """SUBPROG as socket filters in the host kernel (x86-64 JIT: tail calls from
    subprograms, counter shared across the invocation) and in the VM."""
    from bpf_vm.asm import assemble
    res = assemble(SUBPROG)
    with ExitStack() as stack:
        kprogs = stack.enter_context(kernel.owned_fd(kernel.map_create(3, 4, 4, 4)))
        kcounter = stack.enter_context(kernel.owned_fd(kernel.map_create(2, 4, 8, 1)))
        fds = [kprogs, kcounter]
        loaded = {}
        for p in res.programs:
            code = kernel_insns(p.insns, fds)
            try:
                loaded[p.name] = stack.enter_context(kernel.owned_fd(kernel.prog_load(
                    code, kernel.BPF_PROG_TYPE_SOCKET_FILTER, name=p.name)))
            except kernel.KernelReject as exc:
                # 6.18 wants BTF func info for this, which bpf_vm.kernel.prog_load does
                # not pass (the VM side is checked by the test above)
                pytest.skip(f"kernel refuses the program as loaded here: {exc}")
        assert kernel.map_update(kprogs, struct.pack("<I", 0),
                                 struct.pack("<I", loaded["again"])) == 0
        run = kernel.prog_test_run(loaded["main"], data_in=bytes(64))
        kcount = kernel.map_lookup(kcounter, struct.pack("<I", 0), 8)
        kernel.map_delete(kprogs, struct.pack("<I", 0))
    L = load(SUBPROG)
    L.maps["progs"].update(0, L.progs["again"])
    assert L.vm.run(L.progs["main"], bytes(64)).r0 == run.retval
    assert L.maps["counter"].lookup(0) == kcount
