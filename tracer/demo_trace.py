"""``bpf-vm demo``, chapter 2: one syscall of a real command, step by step.

A real command runs under the stop loop with the bundled probe, exactly as
``trace-run CMD`` runs it, except that one chosen call (the command's ``openat`` of the
file it reads) runs the probe with the VM's step trace on (``Vm.run(..., trace=hook)``,
what ``bpf-vm run --trace`` prints).  Its steps are printed with the registers each one
changed, the bytes each store wrote, and a banner at the tail call.

The call is chosen and recorded by ``trace-run --explain``'s session
(:class:`tracer.explain.Session`, one openat picked by its path), so the same run is
also the explorer page's, with the call as trace-run prints it; with ``--html`` the
page is written as ``chapter2-openat.html``.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bpf_vm import BpfError, Step
from tracer.handler import SyscallCall, Tracee
from tracer.probe_handler import FAULT, ProbeHandler

if TYPE_CHECKING:
    from bpf_vm import Demo, Effects, RunResult
    from tracer.explain import Session
    from tracer.handler import Decision

COMMAND = ("cat", "/etc/hostname")
"""The command the chapter traces, and (its argument) the path whose openat it steps."""
MAX_TAIL_CALLS = 33

_STORE = re.compile(r"^\*\((u8|u16|u32|u64) \*\)\((r\d+) ([+-]) (0x[0-9a-f]+)\) = "
                    r"([rw]\d+|-?0x[0-9a-f]+|-?\d+)$")
_BITS = {"u8": 8, "u16": 16, "u32": 32, "u64": 64}
_MAP_IDX = re.compile(r"map\[idx:(\d+)\]")


@dataclass
class Recorded:
    """The one call that ran with the step trace on."""
    call: SyscallCall
    steps: list[Step] = field(default_factory=list)
    result: RunResult | None = None
    error: BpfError | None = None
    printk: list[str] = field(default_factory=list)


class RecordingHandler(ProbeHandler):
    """The probe handler, with the step trace on for the call the explain session picks
    (:meth:`wanted`, the first only): its steps are kept here as well as given to the
    session's hook (:attr:`step_hook`, set for that call)."""

    def __init__(self, obj: Any, *, path: bytes, printk: io.StringIO) -> None:
        super().__init__(obj, printk=printk)
        self.path = path
        self.sink = printk
        self.recorded: Recorded | None = None
        self.calls = 0
        self.session: Session | None = None

    def wanted(self, call: SyscallCall, tracee: Tracee) -> bool:
        """``openat`` of :attr:`path` (read from the tracee's memory)."""
        if call.name != "openat" or str(call.abi) != "x86_64":
            return False
        got = tracee.read_memory(call.args[1], len(self.path) + 1)
        return got == self.path + b"\0"

    def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
        self.calls += 1
        return super().on_entry(call, tracee)

    def run_entry(self, call: SyscallCall, tracee: Tracee) -> Effects | Decision | None:
        prog = self.entry.get(call.abi)
        page = self.step_hook       # the explain session's recorder, for the call it chose
        if self.recorded is not None or prog is None or page is None:
            return super().run_entry(call, tracee)
        rec = self.recorded = Recorded(call)
        self.host.bind(tracee)
        mark = self.sink.tell()

        def hook(step: Step) -> None:
            rec.steps.append(step)
            page(step)
        try:
            rec.result = self.vm.run(prog, call.regs, ctx_writable=False, trace=hook)
        except BpfError as exc:
            rec.error = exc
            self._fault(call, exc)
            return FAULT
        effects = self.vm.state.effects
        if effects is not None:
            self.host.write(effects)
        rec.printk = self.sink.getvalue()[mark:].splitlines()
        return effects


def store_note(step: Step) -> str:
    """What a store wrote: ``[r10 - 0x4] <- 0x101`` (empty for other instructions)."""
    m = _STORE.match(step.text)
    if m is None:
        return ""
    size, base, sign, off, value = m.groups()
    v = step.before[int(value[1:])] if value[0] in "rw" else int(value, 0)
    v &= (1 << _BITS[size]) - 1
    return f"[{base} {sign} {off}] <- {v:#x}"


def format_step(step: Step, maps: dict[str, list[str]] | None = None) -> str:
    """One step: program and pc, the instruction, the registers it changed.  ``maps``
    (program name -> its maps' names) names ``map[idx:N]`` references."""
    text = step.text
    names = (maps or {}).get(step.program)
    if names:
        text = _MAP_IDX.sub(lambda m: f"map[{names[int(m[1])]}]"
                            if int(m[1]) < len(names) else m[0], text)
    changed = [f"r{i} {a:#x} -> {b:#x}"
               for i, (a, b) in enumerate(zip(step.before, step.after, strict=True)) if a != b]
    note = store_note(step)
    if note:
        changed.append(note)
    return f"{step.program:>12}:{step.pc:>3}  {text:<38} {'; '.join(changed)}".rstrip()


def tail_banner(call_step: Step, target: str, taken: int) -> str:
    """The banner at a tail call that jumped: index, target, the count toward 33."""
    index = call_step.before[3] & 0xFFFFFFFF
    return (f"tail call → progs[{index}] = {target} · same stack frame · "
            f"{taken} of {MAX_TAIL_CALLS}")


def _shape(step: Step) -> str | None:
    """What a run of alike steps shares: the text without its numbers (None: a step that
    changed a register or is an event, never folded)."""
    if step.event or step.before != step.after:
        return None
    return re.sub(r"0x[0-9a-f]+", "N", step.text)


def fold(steps: Sequence[Step], keep: int = 2) -> list[Step | int]:
    """The steps, with each run of more than ``2 * keep + 1`` alike ones (stores that
    change no register, differing only in numbers: a memset) cut to its first and last
    ``keep``; the cut is the number of steps left out."""
    out: list[Step | int] = []
    i = 0
    while i < len(steps):
        j = i + 1
        shape = _shape(steps[i])
        while shape is not None and j < len(steps) and _shape(steps[j]) == shape:
            j += 1
        if j - i > 2 * keep + 1:
            out += [*steps[i:i + keep], j - i - 2 * keep, *steps[j - keep:j]]
        else:
            out += steps[i:j]
        i = j
    return out


def show_steps(demo: Demo, steps: Sequence[Step],
               maps: dict[str, list[str]] | None = None) -> int:
    """Print every step (runs of alike stores folded), a banner at each tail call that
    jumped; returns how many did.  ``maps`` as for :func:`format_step`."""
    taken = 0
    shown = fold(steps)
    for i, step in enumerate(shown):
        if isinstance(step, int):
            demo.line(demo.dim(f"{'':>16}... {step} more stores alike ..."))
            continue
        demo.line(format_step(step, maps))
        if step.event == "tail_call":
            taken += 1
            after = shown[i + 1] if i + 1 < len(shown) else None
            demo.banner(tail_banner(step, after.program if isinstance(after, Step) else "?",
                                    taken))
        elif step.event == "tail_call_failed":
            demo.line(demo.strong("    (bpf_tail_call returned: the slot was empty)"))
    return taken


def trace_command(argv: Sequence[str], path: str) -> tuple[RecordingHandler, int, bytes]:
    """Run ``argv`` under the stop loop with the bundled probe, stepping the openat of
    ``path`` (chosen and recorded by a ``trace-run --explain`` session,
    :attr:`RecordingHandler.session`); returns the handler, the command's exit status
    and its stdout."""
    from bpf_vm import Vm
    from probes import DEFAULT_PROBE
    from probes.seccomp_helper import install as install_seccomp_helper
    from tracer.explain import Session, probe_source
    from tracer.format_options import FormatOptions
    from tracer.loop import Loop
    from tracer.probe_handler import TraceeHost, load_probe
    from tracer.qualify import parse_syscall_set
    from tracer.spawn import spawn
    sink = io.StringIO()
    vm = Vm(host=TraceeHost(sink), helpers=install_seccomp_helper())
    handler = RecordingHandler(load_probe(DEFAULT_PROBE, vm), path=path.encode(),
                               printk=sink)
    session = handler.session = Session(
        "", handler, parse_syscall_set("openat"), 1, probe_source(None),
        f"bpf-vm demo, chapter 2: trace-run {' '.join(argv)}", FormatOptions(),
        pick=handler.wanted)
    with tempfile.TemporaryFile() as out:
        try:
            child = spawn(list(argv), redirect={1: out.fileno()})
            code = Loop(session.handler, [session.recorder]).run(child)
            failure = child.exec_error()
            if failure is not None:
                raise failure
        finally:
            handler.close()
            session.recorder.flush()
        out.seek(0)
        return handler, code, out.read()


def _regs_line(call: SyscallCall) -> str:
    from tracer.regs import FIELDS, PT_REGS
    values = dict(zip(FIELDS, PT_REGS.unpack(call.regs), strict=True))
    shown = ("orig_ax", "di", "si", "dx", "r10")
    return ", ".join(f"{name} = {values[name]:#x}" for name in shown)


def chapter(demo: Demo) -> None:
    argv, path = COMMAND, COMMAND[-1]
    demo.say(f"""
        Now the dispatcher meets a real process.  trace-run starts `{' '.join(argv)}`
        under ptrace; at every syscall entry the thread stops, its registers become the
        168-byte struct pt_regs, and the probe's dispatcher runs on them in the VM, as
        a kprobe program would in the kernel.  For one call, the openat that opens
        {path}, the VM runs with its step trace on: every instruction, with the
        registers it changed (and, for a store, what it wrote).""")
    handler, code, stdout = trace_command(argv, path)
    rec = handler.recorded
    demo.line()
    demo.line(f"$ trace-run {' '.join(argv)}")
    demo.code(stdout.decode(errors="replace") or "(no output)")
    demo.line(f"  exit status {code}; {handler.calls} syscalls stopped, the dispatcher ran "
              "at each")
    if rec is None:
        raise RuntimeError(f"the command made no openat of {path}")
    demo.line(f"  stepped: pid {rec.call.pid}, {rec.call.name} (nr {rec.call.nr}), "
              f"{_regs_line(rec.call)}")
    session = handler.session
    runs = session.explorer.runs if session is not None else []
    if runs and "=" in str(runs[0].info.get("call", "")):
        demo.line(f"  as trace-run prints it: {' '.join(str(runs[0].info['call']).split())}")
    demo.title(f"The probe on {rec.call.name}({path!r}), instruction by instruction")
    demo.line()
    maps = {name: [getattr(m, "name", "?") for m in prog.maps]
            for name, prog in handler.obj.programs.items()}
    taken = show_steps(demo, rec.steps, maps)
    if rec.error is not None:
        raise rec.error
    res = rec.result
    demo.line()
    if res is not None:
        demo.line(f"  r0 = {res.r0}: {res.insns} instructions, {taken} tail call(s), "
                  "the syscall ran")
    for line in rec.printk:
        if line.startswith("ringbuf "):
            name, _, data = line.removeprefix("ringbuf ").partition(": ")
            demo.line(f"  ring buffer '{name}': one record of {len(data) // 2} bytes "
                      "submitted")
        else:
            demo.line(f"  printk: {line.split('bpf_trace_printk: ')[-1]}")
    if session is not None and demo.html is not None:
        demo.page("openat", session.explorer, f"{rec.call.name} of {path} by {argv[0]}")
    demo.say(f"""
        Look at the banner.  The call did not return: the instruction after it in the
        dispatcher never ran, and the next step is pc 0 of sys_openat.  The target got
        the same context in r1 and the same stack frame (r10 did not change), and the
        count of tail calls for this run of the probe went from 0 to 1, of the 33 that
        one run may make.  The verifier treats every register but r1 as unknown at a
        program's start, so sys_openat reads nothing the dispatcher left behind.

        Then sys_openat does the work tracex5's per-syscall programs do: it reserves a
        ring-buffer record, copies the six argument registers out of pt_regs (di, si,
        dx, r10, r8, r9, at offsets 0x70 down to 0x38), clears the record's string,
        reads the path out of the traced process with bpf_probe_read_user_str
        (r0 = {len(path) + 1:#x}: {len(path)} characters and the NUL), prints it with
        bpf_trace_printk and submits the record.  The printk line above is what the
        program printed, in the traced process, just now.""")


__all__ = ["COMMAND", "Recorded", "RecordingHandler", "chapter", "fold", "format_step",
           "show_steps", "store_note", "tail_banner", "trace_command"]
