"""Chapter 4: a program the verifier refuses, and why.

The classic mistake: a map lookup's result used without a NULL check.  The VM's
verifier refuses it with the kernel's message and log; with bpf(2) the host kernel's
verifier is asked about the same bytes and its log is shown beside ours.  The program
is then run anyway (what ``bpf-vm run --no-verify`` does) to show what the verifier
prevented, and the corrected program is accepted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .listing import kernel_listing

if TYPE_CHECKING:
    from ..objfile import BpfObject
    from .show import Demo

_SOURCE = """\
.map counts hash key=4 value=8 max_entries=64

.prog count_calls kprobe/count_calls
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

UNCHECKED = _SOURCE.format(check="")
"""Counts syscalls in a hash map, using the lookup's result without a NULL check."""
CHECKED = _SOURCE.format(check="        if r0 == 0x0 goto out           ; not in the map yet\n")
"""The same with the check the verifier asks for."""

MESSAGE = "invalid mem access 'map_value_or_null'"
"""The kernel's message for the unchecked program (at R0's dereference)."""


def load(source: str) -> BpfObject:
    """The program's object in a fresh VM (not verified)."""
    from ..host import ProcessHost
    from ..objfile import load_asm
    from ..vm import Vm
    return load_asm(source, Vm(host=ProcessHost()), name="refusal")


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
    from ..objrun import run_program
    try:
        run = run_program(obj, prog.name, regs={"orig_ax": 39}, collect_maps=False)
        demo.line(f"  it ran: r0 = {run.r0} (the key happened to be there)")
    except BpfError as exc:
        demo.line(f"  the VM's run-time check stopped it: {exc}")
    demo.say("""
        The VM checks every memory access at run time too, so the NULL read becomes a
        fault instead of a crash; in the kernel there is no such net, which is why the
        verifier refuses the program before it can ever run.  The fix is one jump: test
        r0 against 0 before using it.  After that test the verifier knows r0 is a
        map_value on the fall-through path and NULL on the other.""")
    fixed = load(CHECKED)
    ok = verify_program(fixed.program(), vm=fixed.vm)
    demo.line()
    demo.line(f"  with 'if r0 == 0x0 goto out' added: "
              f"{'accepted' if ok.accepted else 'refused: ' + str(ok.error)}, "
              f"{ok.processed} instructions processed")
    if not ok.accepted:
        demo.fail("accepting the corrected program", str(ok.error))


__all__ = ["CHECKED", "MESSAGE", "UNCHECKED", "chapter", "load"]
