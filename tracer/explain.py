"""``trace-run --explain PAGE.html [--explain-syscalls SET] [--explain-limit N] CMD``:
the explorer page of the probe's runs at real syscalls.

For each chosen syscall the probe's entry program runs with the VM's step hook
(:attr:`tracer.probe_handler.ProbeHandler.step_hook`), one instruction at a time, and
:class:`bpf_vm.Explorer` records every step: the dispatcher, the tail call into the
syscall's program, what it read from the tracee, what it wrote to its maps and ring
buffer.  The other syscalls run the probe at full speed, as without ``--explain``.

Which syscalls: those of ``SET`` (strace's ``-e trace=`` syntax: ``openat,read``,
``%file``, ``!write``), or every one without a set; the first ``N`` of them (default
:data:`DEFAULT_LIMIT`), in the order they were made.  Each run is shown with its pid,
the call as strace prints it (decoded by the same code as trace-run's own lines, with
the same -s/-x/-y/-X options), its outcome, and the probe's printk lines and ring-buffer
records.  The page is written when the trace ends.

Under ``--policy`` the programs recorded are the policy's (its dispatcher and the
per-syscall programs it tail-calls), run by the policy handler's probe handler; the
outcome is the policy's (``deny`` for an errno).  ``bpf-vm demo`` records its chapter 2
with a :class:`Session` too, choosing one call by its arguments (``pick``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bpf_vm import Explorer
from tracer.format_options import FormatOptions
from tracer.handler import Decision, SyscallCall, Tracee
from tracer.options import UsageError
from tracer.qualify import QualifyError, SyscallSet, parse_syscall_set
from tracer.record import OutputRecorder

if TYPE_CHECKING:
    from tracer.events import ProcessEvent
    from tracer.output.records import SyscallRecord
    from tracer.probe_handler import ProbeHandler

DEFAULT_LIMIT = 200
"""Syscalls recorded without ``--explain-limit``."""


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    try:
        value = int(text, 10)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"invalid --explain-limit argument: '{text}'")
    return value


class _Run:
    """One recorded syscall: the recorder of its probe run and the call."""

    __slots__ = ("call", "rec")

    def __init__(self, call: SyscallCall, rec: Any) -> None:
        self.call = call
        self.rec = rec


class Session:
    """One ``--explain`` run: the explorer, the chosen calls, the page's path.

    ``inner`` is the probe handler whose runs are recorded; ``outer`` the handler that
    decides (a policy's, around ``inner``; default ``inner``).  ``pick``, when given,
    also has to accept a call (with its tracee, to read its arguments)."""

    def __init__(self, path: str, inner: ProbeHandler, chosen: SyscallSet | None,
                 limit: int, source: Path | None, title: str,
                 fmt: FormatOptions, *, outer: Any = None,
                 pick: Callable[[SyscallCall, Tracee], bool] | None = None) -> None:
        self.path = path
        self.inner = inner
        self.chosen = chosen
        self.limit = limit
        self.pick = pick
        self.explorer = Explorer.for_object(inner.obj, source=source, title=title,
                                            kind="trace")
        self.open: dict[int, _Run] = {}           # by tid: the call whose entry ran
        self.exits: deque[_Run] = deque()         # calls whose text is on its way
        self.handler = ExplainHandler(inner, self, outer)
        self.recorder = ExplainRecorder(self, fmt)

    def wants(self, call: SyscallCall, tracee: Tracee) -> bool:
        if len(self.explorer.runs) >= self.limit:
            return False
        if call.abi not in self.inner.entry:      # refused with ENOSYS: nothing runs
            return False
        if self.chosen is not None and (call.abi, call.nr) not in self.chosen:
            return False
        return self.pick is None or self.pick(call, tracee)

    def start(self, call: SyscallCall) -> _Run:
        args = ", ".join(f"{a:#x}" for a in call.args)
        rec = self.explorer.record(self.inner.entry[call.abi], info={
            "pid": call.pid, "tid": call.tid, "call": f"{call.name}({args})",
            "label": call.name, "nr": call.nr, "abi": str(call.abi)})
        run = _Run(call, rec)
        self.open[call.tid] = run
        return run

    def finish(self, run: _Run, decision: Decision) -> None:
        fault = self.inner.last_fault
        effects = self.inner.vm.state.effects
        if fault is not None:
            run.rec.finish(error=str(fault), effects=effects)
        else:
            run.rec.finish(r0=run.rec.last_r0, effects=effects)
        run.rec.info["outcome"] = decision.action.value

    def text(self, rec: SyscallRecord) -> None:
        """The call's line, as strace prints it, for the next run waiting for one."""
        if not self.exits:
            return
        run = self.exits.popleft()
        run.rec.info["call"] = f"{rec.text} = {rec.result_text()}"
        run.rec.info["outcome"] = rec.action.value

    def write(self, path: str | Path | None = None) -> int:
        """Write the page to ``path`` (default :attr:`path`), every recorded call's text
        in first; returns its size."""
        self.recorder.flush()
        return self.explorer.write(self.path if path is None else path)


class ExplainHandler:
    """The handler (``outer``: a policy's, or the probe handler itself), with the chosen
    calls' entry runs of the probe handler (``probe``) recorded step by step.
    Everything else is the outer handler's (also what :func:`tracer.prefilter_choice.
    choose_prefilter` asks: this wrapper has no ``inner``)."""

    def __init__(self, probe: ProbeHandler, session: Session, outer: Any = None) -> None:
        self.probe = probe
        self.outer = outer if outer is not None else probe
        self.session = session

    def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
        session = self.session
        if not session.wants(call, tracee):
            return self.outer.on_entry(call, tracee)  # type: ignore[no-any-return]
        run = session.start(call)
        inner = self.probe
        inner.step_hook = run.rec.hook
        inner.last_fault = None
        inner.host.keep_printk = True     # the page shows the probe's printk lines
        try:
            decision: Decision = self.outer.on_entry(call, tracee)
        finally:
            inner.step_hook = None
            inner.host.keep_printk = False
        session.finish(run, decision)
        return decision

    def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
        self.outer.on_exit(call, ret, tracee)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.outer, name)


class _Texts:
    """The writer behind :class:`ExplainRecorder`: each complete call's record goes to
    the session (entries and process events are not needed)."""

    needs_entries = False
    entries_may_wait = True

    def __init__(self, session: Session) -> None:
        self.session = session

    def syscall_entry(self, rec: SyscallRecord) -> None:
        return None

    def syscall_exit(self, rec: SyscallRecord) -> None:
        self.session.text(rec)

    def process_event(self, event: ProcessEvent) -> None:
        return None

    def close(self) -> None:
        return None


class ExplainRecorder:
    """A :class:`tracer.handler.Recorder` that has the recorded calls (only those)
    decoded as trace-run's own lines are, by an :class:`OutputRecorder`."""

    def __init__(self, session: Session, fmt: FormatOptions) -> None:
        self.session = session
        self.out = OutputRecorder(_Texts(session), fmt)

    def _mine(self, call: SyscallCall) -> _Run | None:
        run = self.session.open.get(call.tid)
        return run if run is not None and run.call is call else None

    def record_entry(self, call: SyscallCall, decision: Decision, tracee: Tracee) -> None:
        if self._mine(call) is not None:
            self.out.record_entry(call, decision, tracee)

    def record_exit(self, call: SyscallCall, ret: int | None, decision: Decision,
                    tracee: Tracee | None, ts: float) -> None:
        run = self._mine(call)
        if run is None:
            return
        del self.session.open[call.tid]
        self.session.exits.append(run)
        self.out.record_exit(call, ret, decision, tracee, ts)

    def record_event(self, ev: ProcessEvent) -> None:
        return None

    def flush(self) -> None:
        self.out.flush()


def start(opts: Any, handler: object, fmt: FormatOptions, cmd: list[str]) -> Session:
    """The ``--explain`` session of a run whose handler is ``handler`` (the probe's, or
    a policy's): the options checked, before anything starts.  Raises
    :class:`UsageError`."""
    from tracer.policy.handler import PolicyHandler
    from tracer.probe_handler import ProbeHandler
    outer = handler
    policy = False
    if isinstance(handler, PolicyHandler):
        policy = True
        handler = handler.probe                   # the policy's programs run there
    if not isinstance(handler, ProbeHandler):
        raise UsageError("--explain records a probe's runs (the bundled probe or --probe)"
                         " or a policy's (--policy)")
    chosen = None
    if opts.explain_syscalls is not None:
        try:
            chosen = parse_syscall_set(opts.explain_syscalls)
        except QualifyError as exc:
            raise UsageError(f"--explain-syscalls: {exc}") from None
    limit = _limit(opts.explain_limit)
    words = ["trace-run", *(["--policy", Path(opts.policy).name]
                            if policy and opts.policy else []), "--explain", *cmd]
    title = " ".join(words)
    source = None if policy else probe_source(opts.probe)
    return Session(opts.explain, handler, chosen, limit, source, title, fmt, outer=outer)


def check(opts: Any) -> None:
    """``--explain-syscalls`` and ``--explain-limit`` need ``--explain``."""
    if opts.explain is None and (opts.explain_syscalls is not None
                                 or opts.explain_limit is not None):
        raise UsageError("--explain-syscalls and --explain-limit go with --explain")
    if opts.explain is not None:
        _limit(opts.explain_limit)


def probe_source(probe: str | None) -> Path | None:
    """The file the probe's line info comes from: its object (built, from the cache, for
    a .c source), or its assembly."""
    from probes import DEFAULT_PROBE, build
    path = Path(probe) if probe else DEFAULT_PROBE
    if path.suffix == ".c":
        try:
            return build(path)
        except Exception:   # the probe was built a moment ago; no line info otherwise
            return None
    return path


__all__ = ["DEFAULT_LIMIT", "ExplainHandler", "ExplainRecorder", "Session", "check", "start"]
