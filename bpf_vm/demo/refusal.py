"""Chapter 4: a program the verifier refuses, and why.

The classic mistake: a map lookup's result used without a NULL check.  The VM's
verifier refuses it with the kernel's message and log; with bpf(2) the host kernel's
verifier is asked about the same bytes and its log is shown beside ours.  The program
is then run anyway (what ``bpf-vm run --no-verify`` does) to show what the verifier
prevented, and the corrected program is accepted and run on the same context.  With
``--html`` both programs and both runs are written as ``chapter4-refusal.html`` (the
page shows the verifiers' logs beside them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .listing import kernel_listing

if TYPE_CHECKING:
    from ..explain import Explorer
    from ..objfile import BpfObject
    from ..objrun import ObjRun
    from ..vm import Vm
    from .show import Demo

_SOURCE = """\
.map counts hash key=4 value=8 max_entries=64

.prog {name} kprobe/{name}
        r1 = *(u64 *)(r1 + 0x78)        ; nr = ctx->orig_ax
        *(u32 *)(r10 - 0x4) = r1        ; key = nr
        r2 = r10
        r2 += -0x4
        r1 = map[counts] ll
        call bpf_map_lookup_elem        ; r0 = &counts[nr], or NULL
{check}        r1 = *(u64 *)(r0 + 0x0)
        r1 += 0x1
        *(u64 *)(r0 + 0x0) = r1         ; counts[nr] += 1
out:
        r0 = 0x0
        exit
"""

UNCHECKED = _SOURCE.format(name="count_calls", check="")
"""Counts syscalls in a hash map, using the lookup's result without a NULL check."""
CHECKED = _SOURCE.format(name="count_calls_fixed",
                         check="        if r0 == 0x0 goto out           ; not in the map yet\n")
"""The same with the check the verifier asks for (named apart, to share a page)."""
NR = 39
"""The syscall number (getpid) both programs run on."""

MESSAGE = "invalid mem access 'map_value_or_null'"
"""The kernel's message for the unchecked program (at R0's dereference)."""


def load(source: str, vm: Vm | None = None) -> BpfObject:
    """The program's object in ``vm`` (default: a fresh VM), not verified."""
    from ..host import ProcessHost
    from ..objfile import load_asm
    from ..vm import Vm
    return load_asm(source, vm if vm is not None else Vm(host=ProcessHost()), name="refusal")


def _run(obj: BpfObject, page: Explorer | None, label: str) -> ObjRun:
    """Run the object's program on pt_regs with ``orig_ax = NR``; ``page``: record the
    run there."""
    from ..errors import BpfError
    from ..objrun import run_program
    prog = obj.program()
    rec = page.record(prog, {"label": label, "nr": NR, "abi": "x86_64",
                             "call": f"{prog.name}: orig_ax = {NR}"}) if page else None
    try:
        run = run_program(obj, prog.name, regs={"orig_ax": NR}, collect_maps=False,
                          trace=rec.hook if rec is not None else None)
    except BpfError as exc:
        if rec is not None:
            rec.finish(error=str(exc), effects=obj.vm.state.effects)
        raise
    if rec is not None:
        rec.finish(r0=run.r0, effects=obj.vm.state.effects)
    return run


def chapter(demo: Demo) -> None:
    from .. import kernel
    from ..load import verify_program
    from ..verify_cmd import Target, verify_targets
    demo.say("""
        Before the kernel runs a program it proves it safe: the verifier walks every
        path, tracking what each register holds (a number and its range, a pointer to
        the context, to the stack, to a map value) and refuses any instruction that
        could read or write outside what it may touch.  It does not run the program;
        it rejects one that *could* misbehave on some path.

        The classic first refusal: bpf_map_lookup_elem returns a pointer to the value,
        or NULL when the key is not in the map.  This program counts syscalls by number
        and forgets the NULL case.""")
    obj = load(UNCHECKED)
    prog = obj.program()
    page = None
    if demo.html is not None:
        from ..explain import Explorer
        page = Explorer.for_object(obj, title="bpf-vm demo, chapter 4: a refused program "
                                   "and its fix")
    deref = next((pc for pc, i in enumerate(prog.insns)
                  if i is not None and i.opcode == 0x79 and i.src == 0), None)
    demo.code(kernel_listing(prog, marks={deref: "r0 may be NULL here"}
                             if deref is not None else None))
    verdict = verify_program(prog, vm=obj.vm)
    demo.title("The verifier's verdict (bpf-vm verify)")
    if verdict.accepted:
        demo.fail("refusing the unchecked program", "the verifier accepted it")
        return
    reason = kernel.kernel_unavailable_reason()
    target = Target(prog, obj.vm, "kprobe", f"section '{prog.section}'")
    lines, _ = verify_targets([target], log_level=1, kernel=reason is None,
                              width=demo.width)
    demo.code("\n".join(lines))
    if reason is not None:
        demo.line(f"  (bpf(2) is refused here, so only the VM's verifier was asked: {reason})")
    demo.say(f"""
        Read the log from the bottom: at pc {verdict.pc} the program reads through r0,
        and r0's type is map_value_or_null: a pointer to a map value *or* NULL, and
        the verifier cannot tell which.  Each line above it is one instruction the
        verifier walked on the way, followed by what it then knew of the registers it
        touched ("R0=map_value_or_null(...)" after the call, "fp-8" for a stack slot).
        When bpf(2) is allowed, the same bytes also go to the host kernel's
        BPF_PROG_LOAD, and its log is printed after ours: it is the reference the VM's
        verifier is tested against.""")
    demo.title("Run it anyway (bpf-vm run --no-verify)")
    from ..errors import BpfError
    try:
        run = _run(obj, page, f"{prog.name}, refused, run anyway (--no-verify)")
        demo.line(f"  it ran: r0 = {run.r0} (the key happened to be there)")
    except BpfError as exc:
        demo.line(f"  the VM's run-time check stopped it: {exc}")
    demo.say("""
        The VM checks every memory access at run time too, so the NULL read becomes a
        fault instead of a crash; in the kernel there is no such net, which is why the
        verifier refuses the program before it can ever run.  The fix is one jump: test
        r0 against 0 before using it.  After that test the verifier knows r0 is a
        map_value on the fall-through path and NULL on the other.""")
    fixed = load(CHECKED, obj.vm)
    ok = verify_program(fixed.program(), vm=fixed.vm)
    demo.line()
    demo.line(f"  with 'if r0 == 0x0 goto out' added: "
              f"{'accepted' if ok.accepted else 'refused: ' + str(ok.error)}, "
              f"{ok.processed} instructions processed")
    if not ok.accepted:
        demo.fail("accepting the corrected program", str(ok.error))
    else:
        with demo.step("running the corrected program"):
            there = fixed.maps["counts"].lookup(NR.to_bytes(4, "little")) is not None
            run = _run(fixed, page, f"{fixed.program().name}, accepted, run")
            demo.line(f"  {fixed.program().name} on the same context: r0 = {run.r0}, "
                      f"{run.insns} instructions"
                      + ("" if there else f" (no entry for {NR}: r0 was NULL, and the new "
                                          "jump went to out)"))
    if page is not None:
        demo.page("refusal", page, f"{prog.name} refused, {fixed.program().name} accepted")


__all__ = ["CHECKED", "MESSAGE", "UNCHECKED", "chapter", "load"]
