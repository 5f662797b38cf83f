"""The BPF probe as a syscall handler: the tracer's one use of the VM's public API.

At every syscall entry the probe object's entry program runs in a :class:`bpf_vm.vm.Vm`
on the thread's 168-byte pt_regs (read-only), and tail-calls through its prog array by
syscall number.  Helpers reach the tracee through :class:`TraceeHost`, an implementation
of :class:`bpf_vm.host.Host` over :class:`tracer.handler.Tracee`.  What the programs did
(the run's :class:`bpf_vm.effects.Effects`) becomes a :class:`Decision`, and their
output goes to the ``--printk`` sink:

* ``bpf_override_return(ctx, rc)``: the syscall is skipped and returns ``rc``, what a
  kprobe with error injection does to the probed function (Action.DENY when rc is an
  errno, else Action.OVERRIDE);
* ``bpf_send_signal(SIGKILL)``: the process is killed at the entry stop, before the
  syscall runs (Action.KILL); other signals are sent and the syscall runs;
* otherwise the syscall runs (Action.ALLOW).

A ``--probe`` object's programs each run on their own events (:mod:`probes.attach`
says where, :mod:`tracer.attached` runs them): the dispatcher ``kprobe/syscall_entry``
at every entry, ``kretprobe/syscall_entry`` at every exit with ``ax`` = the return
value, syscall tracepoints, raw tracepoints, the syscall wrappers' kprobes...  Programs
whose attach point trace-run does not provide are reported at load; tail-call targets
attach nowhere.  An object given with its entry program (a policy's, an injection's)
runs that one at every entry, and every return probe at every exit.

Syscalls of another ABI (i386 through ``int 0x80``, x32) run the entry program named
``<entry>_i386`` / ``<entry>_x32`` when the object has one (with that ABI's numbers in
orig_ax).  Without one they are refused with ENOSYS (Action.REFUSED): running
them through the x86_64 table would confuse i386 getpid (20) with x86_64 writev (20).
"""

from __future__ import annotations

import errno as _errno
import signal as _signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from bpf_vm import (
    BaseHost,
    BpfError,
    BpfObject,
    Effects,
    PrintkLine,
    Program,
    RecordDecoder,
    RingbufRecord,
    Step,
    TaskFacts,
    Vm,
    attach_ctx,
    section_info,
)
from probes import DEFAULT_PROBE
from probes.seccomp_helper import HELPER_ID as SECCOMP_HELPER
from probes.seccomp_helper import install as install_seccomp_helper
from probes.seccomp_helper import requested
from tracer.attached import Attached, merge
from tracer.events import ProcessEvent
from tracer.handler import ALLOW, Action, Decision, SignalRequest, SyscallCall, Tracee
from tracer.probe_output import ProbeOutput
from tracer.process_events import ProcessPrograms
from tracer.regs import FIELDS, PT_REGS
from tracer.verification import load

_AX = FIELDS.index("ax")


REFUSED = Decision(Action.REFUSED, -_errno.ENOSYS)
"""A call of an ABI the probe has no entry program for: refused with ENOSYS."""
FAULT = Decision(Action.FAULT)
"""The probe faulted: reported, and the syscall runs."""


class TraceeHost(BaseHost):
    """:class:`bpf_vm.host.Host` for the thread stopped at the current syscall."""

    def __init__(self, printk: IO[str] | None = None) -> None:
        super().__init__()
        self.tracee: Tracee | None = None
        self.out = printk
        self.keep_printk = False   # build the lines without a sink (trace-run --explain)
        #: tid -> its task facts when last read alive: what a task shows once it is gone
        #: (ptrace reports an exit after the fact; the kernel's exit tracepoint runs before)
        self.last_facts: dict[int, TaskFacts] = {}
        #: --printk and --records with records decoded through BTF (make_handler's)
        self.output: ProbeOutput | None = None

    def bind(self, tracee: Tracee) -> None:
        self.tracee = tracee

    def _t(self) -> Tracee:
        assert self.tracee is not None, "helper called outside a syscall stop"
        return self.tracee

    def pid_tgid(self) -> tuple[int, int]:
        t = self._t()
        return t.pid, t.tid

    def uid_gid(self) -> tuple[int, int]:
        return self._t().uid_gid()

    def comm(self) -> bytes:
        return self._t().comm().rstrip(b"\0")[:15]

    def read_user(self, addr: int, size: int) -> bytes | None:
        if size == 0:
            return b""
        return self._t().read_memory(addr, size)

    def ktime_ns(self) -> int:
        return time.monotonic_ns()

    def boot_ns(self) -> int:
        return time.clock_gettime_ns(time.CLOCK_BOOTTIME)

    def proc_pid(self) -> int:
        """Cgroups and the pid namespace are the stopped thread's."""
        return self._t().tid

    def task_facts(self) -> TaskFacts:
        """/proc's facts of the stopped thread, remembered; a thread that is gone (its
        exit event) shows the ones last read, its parent included."""
        tid = self._t().tid
        facts = super().task_facts()
        if facts.ppid or facts.parent_comm:     # read from /proc: alive
            self.last_facts[tid] = facts
            return facts
        return self.last_facts.get(tid, facts)

    def user_regs(self) -> tuple[int, int, int] | None:
        """The stopped thread's (ip, sp, bp), for bpf_get_stack(id)'s user stacks."""
        from tracer import ptrace_api
        try:
            r = ptrace_api.get_regs(self._t().tid)
        except OSError:
            return None
        return int(r.rip), int(r.rsp), int(r.rbp)

    @property
    def printk_enabled(self) -> bool:
        """Lines are wanted with a ``--printk`` sink (a subclass that reads them says
        so too); otherwise helpers skip building them."""
        return self.out is not None or self.keep_printk

    def write(self, effects: Effects) -> None:
        """A run's output to the ``--printk`` sink: printk lines, ring-buffer and perf
        records, in the order the program produced them."""
        if self.output is not None:
            self.output.write(effects)
            return
        out = self.out
        if out is None:
            return
        for o in effects.output:
            if isinstance(o, PrintkLine):
                out.write(o.text + "\n")
            elif isinstance(o, RingbufRecord):
                out.write(f"ringbuf {o.map}: {o.data.hex()}\n")
            else:
                out.write(f"perf {o.map} cpu {o.slot}: {o.data.hex()}\n")


def load_probe(path: Path, vm: Vm, variables: Mapping[str, str] | None = None) -> BpfObject:
    """A probe object from .o, .s, or .c (built with the bundled compiler, cached), with
    ``variables`` (``--set``) given to its globals before load."""
    from bpf_vm import load_any
    from probes import build
    from probes.abi import x86_64_syscall_number
    if path.suffix != ".c":
        return load_any(path, vm, syscall_number=x86_64_syscall_number, variables=variables)
    built = build(path)
    try:   # named by the source, not by the cached object's hash
        obj = load_any(built, vm, syscall_number=x86_64_syscall_number, variables=variables)
    except BpfError as exc:
        if str(built) not in str(exc):
            raise
        raise BpfError(str(exc).replace(str(built), str(path))) from None
    obj.name = str(path)
    return obj

_CALL = 0x85   # BPF_JMP | BPF_CALL


class ProbeHandler:
    """Runs a probe object's programs at syscall entry (and exit) for the tracer."""

    def __init__(self, obj: BpfObject, *, entry: str | None = None,
                 printk: IO[str] | None = None, dump_maps: IO[str] | None = None,
                 errors: IO[str] | None = None) -> None:
        self.obj = obj
        self.vm = obj.vm
        self.host: TraceeHost = obj.vm.host
        self.host.out = printk
        self.dump_to = dump_maps
        self.errors = errors if errors is not None else sys.stderr
        #: the non-dispatcher programs of a --probe object, on their own events
        #: (tracer.attached); None: the dispatcher alone, as a policy's object runs
        self.attached: Attached | None = None
        #: programs on process events (sched tracepoints): tracer.process_events
        self.process: ProcessPrograms | None = None
        self.wants_process_events = False
        self.returns: list[Program] = []
        self.entry: dict[str, Program] = {}
        runnable: list[Program] | None = None
        if entry is not None or not obj.programs:
            self._legacy_entry(obj, entry)
        else:
            runnable = self._plan(obj)
        self.wants_exit = bool(self.returns) or (   # their programs run at the exit stop
            self.attached is not None and self.attached.wants_exit)
        if self.attached is None and type(self).run_entry is ProbeHandler.run_entry:
            # the dispatcher alone (the bundled probe): no per-syscall indirection
            self.run_entry = self._run_dispatcher  # type: ignore[method-assign]
        # a program calls bpf_seccomp_return: the run needs a prefilter with outcomes
        self.asks_seccomp = any(i.opcode == _CALL and i.src == 0 and i.imm == SECCOMP_HELPER
                                for p in obj.programs.values() for i in p.insns if i)
        # Every program is verified and compiled now, as BPF_PROG_LOAD verifies and JITs
        # at load (tracer.verification): one the verifier refuses is refused before the
        # command starts, not at its first tail call, and no syscall's time (-c)
        # includes the compiler (~4 ms a program).
        load(obj, runnable)
        self.faults = 0
        self.last_fault: BpfError | None = None
        #: a step hook for the entry program's next runs (trace-run --explain): those
        #: run one instruction at a time, reporting each step
        self.step_hook: Callable[[Step], None] | None = None
        self._stack = ExitStack()

    def _legacy_entry(self, obj: BpfObject, entry: str | None) -> None:
        """One entry program (``entry``, a policy's), its ``_i386``/``_x32`` variants by
        name, and every return probe at every x86_64 exit."""
        returns = [p for p in obj.programs.values() if section_info(p.section).is_return_probe]
        entries = [p for p in obj.programs.values() if p not in returns]
        if entry is not None:
            main = obj.program(entry)
        elif entries:
            main = entries[0]
        elif returns:
            raise BpfError(f"{obj.name}: no entry program (every program is a return probe)")
        else:
            raise BpfError(f"{obj.name}: no programs (a probe needs a function in a "
                           "section such as SEC(\"kprobe/syscall_entry\"))")
        self.entry["x86_64"] = main
        for abi in ("i386", "x32"):
            prog = obj.programs.get(f"{main.name}_{abi}")
            if prog is not None:
                self.entry[abi] = prog
        self.returns = returns

    def _plan(self, obj: BpfObject) -> list[Program]:
        """Every program on its own attach point (probes.attach): the dispatchers
        ``kprobe/syscall_entry[_i386|_x32]`` at every entry of their ABI, the others
        in :class:`tracer.attached.Attached`.  Programs whose attach point trace-run
        does not provide are reported once, here; the programs that can run."""
        from probes.attach import plan
        from tracer.options import UsageError
        p = plan(obj)
        if p.process:
            self.process = ProcessPrograms(p.process, self.vm, self.host, self._event_fault)
            self.wants_process_events = True
        if not p.attached:   # one error line, naming each program and why
            why = "; ".join(f"'{r.program}' ({r.section}): {r.reason}" for r in p.refused)
            raise UsageError(f"{obj.name}: no program attaches to an event trace-run "
                             f"provides ({len(p.tail_calls)} tail-call targets"
                             f"{'; ' + why if why else ''})")
        for r in p.refused:
            print(f"trace-run: {obj.name}: program '{r.program}' ({r.section}): attach point"
                  f" not provided: {r.reason}", file=self.errors, flush=True)
        others = []
        for a in p.attached:
            if a.kind is attach_ctx.CtxKind.PT_REGS:
                self.entry.setdefault(next(iter(a.abis)), a.program)
            elif a.process_event is None:
                others.append(a)
        if others or not self.entry or p.process:   # (no dispatcher: nothing refused)
            self.attached = Attached(others, self.vm, self.host.write, self._fault)
        # trace-run is the tool's reader: it opens every perf event array's CPU slots, as
        # the tool's perf_buffer__new would, so bpf_perf_event_output finds a reader
        # and its records reach the --printk sink
        for m in obj.maps.values():
            open_all = getattr(m, "open_all", None)   # PERF_EVENT_ARRAY
            if open_all is not None:
                open_all()
        return [*(a.program for a in p.attached), *(obj.programs[n] for n in p.tail_calls)]

    # -- SyscallHandler -----------------------------------------------------------------

    def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
        ran = self.run_entry(call, tracee)
        if ran is None:
            return ALLOW
        if isinstance(ran, Decision):
            return ran
        return self._decide(ran)

    def run_entry(self, call: SyscallCall, tracee: Tracee) -> Effects | Decision | None:
        """Run the entry program of the call's ABI and write its output to the printk
        sink.  Returns the run's effects (None: it had none), or, when no program ran
        to its end, the decision that leaves: REFUSED (no entry program for the ABI)
        or FAULT (reported; the syscall runs).  A handler that reads the effects its own
        way (the policy's) maps them to a decision itself, once.  With programs on
        other attach points (:attr:`attached`) those run too, in the kernel's order,
        and the effects are all of theirs."""
        if self.attached is None:
            return self._run_dispatcher(call, tracee)
        return self._run_attached(call, tracee, self.attached)

    def _run_attached(self, call: SyscallCall, tracee: Tracee, attached: Attached
                      ) -> Effects | Decision | None:
        self.host.bind(tracee)
        if self.process is not None:
            self.process.note_entry(call, tracee)
        effects = attached.run("before", call)
        ran: Effects | Decision | None = None
        if self.entry:
            ran = self._run_dispatcher(call, tracee)
            if ran is REFUSED:
                return ran      # an ABI the object has no dispatcher for: never runs
            if isinstance(ran, Effects):
                effects = merge(effects, ran)
        if effects is not None and self._skips(effects):
            return effects      # skipped or killed: the syscall wrapper is never called
        effects = merge(effects, attached.run("after", call))
        if effects is None and ran is FAULT:
            return FAULT        # the dispatcher faulted and nothing else decided
        return effects

    def _skips(self, effects: Effects) -> bool:
        d = self._decide(effects)
        return d.return_value is not None or d.action is Action.KILL or d.seccomp is not None

    def _run_dispatcher(self, call: SyscallCall, tracee: Tracee
                        ) -> Effects | Decision | None:
        prog = self.entry.get(call.abi)
        if prog is None:
            return REFUSED
        host = self.host
        host.bind(tracee)
        state = self.vm.state
        try:
            if self.step_hook is None:
                self.vm.run_r0(prog, call.regs, ctx_writable=False)
            else:
                self.vm.run(prog, call.regs, ctx_writable=False, trace=self.step_hook)
        except BpfError as exc:
            if state.effects is not None:   # what it wrote before the fault
                host.write(state.effects)
            self._fault(call, exc)
            return FAULT
        effects = state.effects
        if effects is not None:
            host.write(effects)
        return effects

    def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
        if self.attached is not None and self.attached.exit:
            self.host.bind(tracee)
            self.attached.run("exit", call, ret)
        if not self.returns or str(call.abi) != "x86_64":
            return
        values = list(PT_REGS.unpack(call.regs))
        values[_AX] = ret & 0xFFFFFFFFFFFFFFFF
        regs = PT_REGS.pack(*values)
        host = self.host
        host.bind(tracee)
        state = self.vm.state
        for prog in self.returns:
            try:
                self.vm.run_r0(prog, regs, ctx_writable=False)
            except BpfError as exc:
                self._fault(call, exc)
            if state.effects is not None:
                host.write(state.effects)

    def on_process_event(self, ev: ProcessEvent, tracee: Tracee) -> None:
        """The stop loop's exec, fork and exit events (:mod:`tracer.process_events`)."""
        if self.process is not None:
            self.process.on_event(ev, tracee)

    def _event_fault(self, where: str, tid: int, exc: BpfError) -> None:
        self.faults += 1
        self.last_fault = exc
        if self.faults == 1:
            print(f"trace-run: probe fault at {where} (pid {tid}): {exc}",
                  file=self.errors, flush=True)

    # -- helpers ---------------------------------------------------------------------------

    def _decide(self, effects: Effects) -> Decision:
        if effects.requests:
            asked = requested(effects.requests)
            if asked is not None:   # bpf_seccomp_return: seccomp's own outcome
                return Decision.seccomp_outcome(asked)
        if not effects.signals and effects.override is None:
            return ALLOW
        kill = any(sig == _signal.SIGKILL and not thread for sig, thread in effects.signals)
        if kill:
            return Decision.kill()
        signals = tuple(SignalRequest(sig, thread) for sig, thread in effects.signals)
        rc = effects.override
        if rc is not None:
            rc = rc - (1 << 64) if rc >= 1 << 63 else rc
            action = Action.DENY if -4095 <= rc < 0 else Action.OVERRIDE
            return Decision(action, rc, signals)
        if any(sig == _signal.SIGKILL for sig, _ in effects.signals):
            return Decision(Action.KILL, None, signals)
        return Decision(Action.ALLOW, None, signals) if signals else ALLOW

    def _fault(self, call: SyscallCall, exc: BpfError) -> None:
        """A probe fault never crashes the tracee: the syscall runs, the fault is reported
        (the first time in full, then counted)."""
        self.faults += 1
        self.last_fault = exc
        if self.faults == 1:
            print(f"trace-run: probe fault at {call.name} (pid {call.tid}): {exc}",
                  file=self.errors, flush=True)

    def close(self) -> None:
        if self.faults > 1:
            print(f"trace-run: {self.faults} probe faults in all (the syscalls ran)",
                  file=self.errors, flush=True)
        if self.host.out is not None:
            self.host.out.flush()
        if self.dump_to is not None:
            import json

            from bpf_vm import dump_maps
            print(json.dumps(dump_maps(self.obj), indent=2), file=self.dump_to, flush=True)
        self._stack.close()


def _sink(path: str | None, stack: ExitStack) -> IO[str] | None:
    if path == "-":
        return sys.stdout
    if path:
        return stack.enter_context(open(path, "w", encoding="utf-8", buffering=1 << 16))
    return None


def make_handler(probe: Path | None = None, printk: str | None = None,
                 dump_maps: bool = False, *, set_globals: Sequence[str] = (),
                 record_types: Sequence[str] = (), records: str | None = None,
                 **vm_options: Any) -> ProbeHandler:
    """The handler ``trace-run`` uses: ``probe`` or the bundled syscalls.bpf.c, its
    globals set (``--set NAME=VALUE``), its records decoded (``--record-type``) to the
    ``--printk`` and ``--records`` sinks (:mod:`tracer.probe_output`)."""
    from bpf_vm import parse_record_types, parse_set_args
    variables = parse_set_args(set_globals) if set_globals else None
    types = parse_record_types(record_types) if record_types else None
    stack = ExitStack()
    out = _sink(printk, stack)
    host = TraceeHost(out)
    vm_options.setdefault("helpers", install_seccomp_helper())
    vm = Vm(host=host, **vm_options)
    path = probe if probe is not None else DEFAULT_PROBE
    obj = load_probe(path, vm, variables)
    sink = _sink(records, stack)
    if out is not None or sink is not None or types:   # (a bad --record-type: said)
        decoder = RecordDecoder.for_object(obj, types, source=_elf_of(path))
        host.output = ProbeOutput(out, sink, decoder, quiet=probe is None)
    handler = ProbeHandler(obj, printk=out, dump_maps=sys.stderr if dump_maps else None)
    handler._stack = stack
    return handler


def _elf_of(path: Path) -> Path | None:
    """The ELF object behind a probe path, for its DWARF (a .c's cached build)."""
    if path.suffix == ".c":
        from probes import build
        return build(path)
    try:
        with path.open("rb") as f:
            return path if f.read(4) == b"\x7fELF" else None
    except OSError:
        return None
