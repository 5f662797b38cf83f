"""Chapter 3: the 33-call limit.

A program that tail-calls itself runs in the VM until the limit stops it; the 2015
check and today's are both evaluated to show they allow the same 33 calls; then a
program that wastes one attempt on an empty slot per run shows the difference between
the x86-64 JIT's counting and the interpreter's, measured on the host kernel when
bpf(2) is allowed (:func:`bpf_vm.kernel.measure_tail_call_rules`).  With ``--html`` the
chain's run is recorded and written as ``chapter3-chain.html``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .listing import kernel_listing

if TYPE_CHECKING:
    from ..engine.loops import Step
    from ..explain import Explorer
    from ..objfile import BpfObject
    from .show import Demo

_PROGRAM = """\
.map progs prog_array key=4 value=4 max_entries=2
.map runs array key=4 value=8 max_entries=1

.prog {name} kprobe/{name}
        r6 = r1                         ; the context: every run gets it again
        r1 = 0x0
        *(u32 *)(r10 - 0x4) = r1        ; key 0
        r2 = r10
        r2 += -0x4
        r1 = map[runs] ll
        call bpf_map_lookup_elem        ; r0 = &runs[0]
        if r0 == 0x0 goto out
        r7 = r0
        r1 = *(u64 *)(r7 + 0x0)
        r1 += 0x1
        *(u64 *)(r7 + 0x0) = r1         ; runs[0] += 1
{empty_try}        r1 = r6
        r2 = map[progs] ll
        r3 = 0x0
        call bpf_tail_call              ; progs[0] holds this very program
        r0 = *(u64 *)(r7 + 0x0)         ; reached once the call fails: r0 = runs
        exit
out:
        r0 = 0x0
        exit
"""

_EMPTY_TRY = """\
        r1 = r6
        r2 = map[progs] ll
        r3 = 0x1
        call bpf_tail_call              ; progs[1] is empty: the call returns
"""

SELF = _PROGRAM.format(name="again", empty_try="")
"""A program that tail-calls itself through slot 0 of its prog array."""
WASTEFUL = _PROGRAM.format(name="hop", empty_try=_EMPTY_TRY)
"""The same, trying the empty slot 1 once in every run first."""


@dataclass
class ChainRun:
    """What one run of a self-tail-calling program did."""
    runs: int                 # how often the program's body ran (the map's count)
    taken: int                # successful tail calls
    failed_pcs: list[int] = field(default_factory=list)   # pcs of failed attempts
    r0: int = 0
    insns: int = 0
    page: Explorer | None = None   # the run recorded (run_chain(..., record=True))


def run_chain(source: str, counting: str, *, record: bool = False
              ) -> tuple[ChainRun, BpfObject]:
    """Load ``source`` into a fresh VM with ``counting`` (jit or interpreter), put its
    program in slot 0 of its prog array, verify and run it once; ``record``: also
    record the run for the explorer page (:attr:`ChainRun.page`)."""
    from ..host import ProcessHost
    from ..load import prog_load
    from ..objfile import load_asm, set_prog_slot
    from ..pt_regs import SIZE
    from ..vm import Vm
    vm = Vm(host=ProcessHost(), tail_call_counting=counting)
    obj = load_asm(source, vm, name="chain")
    prog = obj.program()
    set_prog_slot(obj.maps["progs"], 0, prog)
    prog_load(vm, prog)
    out = ChainRun(0, 0)
    rec = None
    if record:
        from ..explain import Explorer
        out.page = Explorer.for_object(obj, title=f"bpf-vm demo, chapter 3: '{prog.name}' "
                                       f"tail-calls itself (counting: {counting})")
        rec = out.page.record(prog, {"label": f"{prog.name}, once", "abi": "x86_64"})

    def hook(step: Step) -> None:
        if step.event == "tail_call":
            out.taken += 1
        elif step.event == "tail_call_failed":
            out.failed_pcs.append(step.pc)
        if rec is not None:
            rec.hook(step)
    res = vm.run(prog, bytes(SIZE), ctx_writable=False, trace=hook)
    if rec is not None:
        rec.finish(r0=res.r0, effects=res.effects)
    out.r0, out.insns = res.r0, res.insns
    value = obj.maps["runs"].lookup(bytes(4))
    out.runs = int.from_bytes(value, "little") if value is not None else 0
    return out, obj


def calls_allowed(limit: int, refuse: Callable[[int, int], bool]) -> int:
    """How many tail calls a check lets through: ``refuse(count, limit)`` is tested
    before each call, and the count goes up after each one that is made."""
    count = 0
    while not refuse(count, limit) and count < 10 * limit:
        count += 1
    return count


def _kernel_rules() -> tuple[bool, str]:
    """Measure the host kernel's rules; (measured, one line to print)."""
    from .. import kernel
    reason = kernel.kernel_unavailable_reason()
    if reason is not None:
        return False, f"bpf(2) is refused here ({reason}), so the host kernel is not asked."
    rules = kernel.measure_tail_call_rules()
    jit = _jit_setting()
    counts = "count" if rules.empty_slot_counts else "do not count"
    return True, (f"host kernel{jit}: a self-tail-calling socket filter chained "
                  f"{rules.max_chain} times; failed attempts on an empty slot {counts}, "
                  f"out-of-range ones {'count' if rules.out_of_range_counts else 'do not'}"
                  " (measured now, with BPF_PROG_TEST_RUN)")


def _jit_setting() -> str:
    try:
        value = Path("/proc/sys/net/core/bpf_jit_enable").read_text().strip()
    except OSError:
        return ""
    return f" (net.core.bpf_jit_enable = {value}: the JIT is {'on' if value != '0' else 'off'})"


def chapter(demo: Demo) -> None:
    from ..isa import MAX_TAIL_CALL_CNT
    demo.say("""
        A tail call does not return, so a program can tail-call itself forever, and a
        chain of programs can form a loop.  The kernel must stop that: each run of a
        program (one kprobe hit, one packet) may make a bounded number of tail calls,
        counted across the whole chain.  Past the limit, bpf_tail_call fails like a
        call on an empty slot: it returns, and the program goes on after it.

        Here is a program that counts its runs in an array map and then tail-calls
        slot 0 of its prog array, which holds the program itself.""")
    chain, obj = run_chain(SELF, "jit", record=demo.html is not None)
    prog = obj.program()
    demo.code(kernel_listing(prog))
    demo.title("Run it once")
    for n in range(1, chain.runs + 1):
        if 3 < n < chain.runs - 2:
            if n == 4:
                demo.line(demo.dim(f"  ... runs 4 to {chain.runs - 3} alike ..."))
            continue
        if n <= chain.taken:
            demo.line(f"  run {n:2}: runs[0] = {n:2}, bpf_tail_call(ctx, &progs, 0) jumps to "
                      f"pc 0 of '{prog.name}' (tail call {n} of {MAX_TAIL_CALL_CNT})")
        else:
            demo.line(f"  run {n:2}: runs[0] = {n:2}, bpf_tail_call returns: the limit is "
                      "spent")
            demo.banner(f"{chain.taken} tail calls taken; call {chain.taken + 1} refused at "
                        f"pc {chain.failed_pcs[-1] if chain.failed_pcs else '?'}; "
                        f"the program ran {chain.runs} times")
    demo.line(f"  r0 = {chain.r0} (the program returned its run count), "
              f"{chain.insns} instructions executed")
    if chain.page is not None:
        demo.page("chain", chain.page, f"'{prog.name}' once, {chain.taken} tail calls")
    demo.say(f"""
        So the limit is {chain.taken} tail calls, {chain.runs} runs of the body in all.
        The kernel's constant says so today: MAX_TAIL_CALL_CNT is {MAX_TAIL_CALL_CNT},
        and the check is "if (count >= MAX_TAIL_CALL_CNT) fail; count++".""")
    demo.title("The 2015 story")
    old = calls_allowed(32, lambda count, limit: count > limit)
    new = calls_allowed(MAX_TAIL_CALL_CNT, lambda count, limit: count >= limit)
    demo.say("""
        The limit is as old as tail calls.  Alexei Starovoitov's 2015 patch that
        introduced bpf_tail_call defined MAX_TAIL_CALL_CNT as 32, and the interpreter
        tested "if (count > MAX_TAIL_CALL_CNT) fail; count++".  With ">", a count of 32
        still passes, so the 32 in the source let one more call through than it said.
        Both checks, evaluated now:""")
    demo.code(f"2015:  if (tail_call_cnt >  32) goto out; tail_call_cnt++;  -> {old} calls\n"
              f"today: if (tail_call_cnt >= {MAX_TAIL_CALL_CNT}) goto out; "
              f"tail_call_cnt++;  -> {new} calls")
    demo.say("""
        Years later the kernel kept the behaviour and changed the words instead:
        MAX_TAIL_CALL_CNT became 33 and the test became ">=", so that the constant
        says what the code does.  The VM uses that spelling; the number of calls is the
        same 33 either way.""")
    demo.title("Failed attempts: the JIT and the interpreter")
    demo.say("""
        Do failed tail calls use up the budget?  It depends on who runs the program.
        kernel/bpf/core.c's interpreter bumps the counter before it looks in the slot,
        so a call on an empty slot costs one.  The x86-64 JIT tests the slot first and
        counts only the calls that jump.  The next program tries the empty slot 1 once
        in every run before its self call.""")
    hop_vm: dict[str, ChainRun] = {}
    for mode in ("jit", "interpreter"):
        hop_vm[mode], _ = run_chain(WASTEFUL, mode)
    with demo.step("measuring the host kernel's tail-call rules"):
        measured, line = _kernel_rules()
        demo.line()
        demo.line(f"  {line}")
        if not measured:
            demo.line("  The VM's two modes show the difference instead:")
    for mode, run in hop_vm.items():
        demo.line(f"  VM, Vm(tail_call_counting=\"{mode}\"): the body ran {run.runs} times, "
                  f"{run.taken} self calls, {len(run.failed_pcs)} failed attempts")
    jit, interp = hop_vm["jit"], hop_vm["interpreter"]
    demo.say(f"""
        Under the JIT's rule the wasted attempts are free and the chain is as long as
        before ({jit.runs} runs).  Under the interpreter's every run pays twice, and the
        chain stops after {interp.runs} runs.  The VM follows the JIT by default,
        because that is what this machine's kernel does; tests/test_tailcall.py checks
        the default against the kernel's own measurement.""")


__all__ = ["SELF", "WASTEFUL", "ChainRun", "calls_allowed", "chapter", "run_chain"]
