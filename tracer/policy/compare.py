"""``trace-run --policy PROFILE --compare CMD``: the emulation against the kernel.

CMD runs twice, one run after the other, each with stdin from /dev/null and its stdout
and stderr captured in files:

* **emulated**: trace-run's enforcement of PROFILE as ``trace-run --policy PROFILE CMD``
  does it when it writes its lines: the handler of ``--policy`` (the profile compiled to
  BPF, run in the VM at every syscall-entry stop) and the prefilter that carries
  seccomp's own outcomes back from the kernel (:mod:`tracer.prefilter_choice`);
* **kernel**: the filter runc would load for PROFILE, built by libseccomp and installed
  with ``seccomp_load`` in the child just before its execve
  (:mod:`tracer.policy.kernel_filter`); the kernel's seccomp decides.

Both runs are traced by the same stop loop (:class:`tracer.loop.Loop`), which in the
kernel run judges nothing (every call is let through to the kernel), so both are seen
the same way: the calls before the command's execve are not counted, the command's
children and threads are.  Per call the outcome kind is noted, as the action that decided
it: ``allow`` (also SCMP_ACT_LOG), ``errno NAME``, ``kill`` or ``trap``:

* emulated: the decision the policy handler returned at the entry stop;
* kernel: the return value of libseccomp's classic BPF (the program the kernel runs) on
  the call's ``seccomp_data``, read at the entry stop, which comes before seccomp runs;
  it is then checked against what the kernel did: an ``errno N`` call must show -N at
  its exit stop and a ``kill`` call must never return.  A call that does not is listed
  as *unconfirmed* and counts as a difference.  (Outcomes as results alone could not
  tell an errno of the filter from the same errno of a syscall that ran.)

The two runs agree when they end the same way (exit status, or killing signal and core
flag), write the same stdout and stderr, and every (ABI, syscall) got each kind other
than ``allow`` as many times; how often a call was allowed is shown but not compared (a
``futex`` that one run needed and the other did not is no policy difference).
trace-run exits 0 when they agree and 1 when not.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import signal
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from probes.policy.resolve import Policy
from tracer import regs
from tracer.events import Killed, ProcessEvent, SignalDelivery
from tracer.handler import Action, Decision, SyscallCall, SyscallHandler, Tracee

if TYPE_CHECKING:
    from probes.prefilter import Prefilter

__all__ = ["Comparison", "Side", "compare", "render_json", "render_text"]

_IP = regs.OFFSET["ip"]
_SYS_SECCOMP = 1   # si_code of seccomp's SIGSYS


def _errno_kind(n: int) -> str:
    import errno as _errno
    return f"errno {_errno.errorcode.get(n, str(n))}"


def emulated_kind(decision: Decision) -> str:
    """The outcome kind of a decision of trace-run's policy handler."""
    match decision.action:
        case Action.DENY:
            return _errno_kind(decision.errno or 0)
        case Action.KILL:
            return "kill"
        case Action.TRAP:
            return "trap"
        case Action.REFUSED:
            return "refused"
        case _:
            return "allow"


@dataclass
class Side:
    """One run of the command."""
    label: str
    status: int | None = None          # exit status ...
    signal: int | None = None          # ... or the killing signal
    core: bool = False
    stdout: bytes = b""
    stderr: bytes = b""
    kinds: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    calls: int = 0
    unconfirmed: list[str] = field(default_factory=list)
    error: str | None = None           # the run could not happen (libseccomp refused)
    exec_failed: str | None = None     # CMD's execve failed (e.g. denied): how


    @property
    def end(self) -> str:
        if self.error is not None:
            return "not run"
        if self.exec_failed is not None:
            return f"execve failed: {self.exec_failed}"
        if self.signal is not None:
            name = signal.Signals(self.signal).name if self.signal in signal.valid_signals() \
                else str(self.signal)
            return f"killed by {name}" + (" (core dumped)" if self.core else "")
        return f"exit {self.status}" if self.status is not None else "vanished"

    @property
    def denied(self) -> int:
        return sum(n for c in self.kinds.values() for k, n in c.items() if k != "allow")

    def to_json(self) -> dict[str, Any]:
        return {"end": self.end, "exit_status": self.status,
                "signal": signal.Signals(self.signal).name if self.signal else None,
                "core_dumped": self.core, "error": self.error,
                "stdout": self.stdout.decode("utf-8", "backslashreplace"),
                "stderr": self.stderr.decode("utf-8", "backslashreplace"),
                "calls": self.calls, "not_allowed": self.denied,
                "unconfirmed": self.unconfirmed}


class _Log:
    """The recorder of one run: each finished call's outcome kind, per (ABI, name)."""

    def __init__(self, side: Side, kind: Callable[[SyscallCall, Decision], str],
                 confirm: bool) -> None:
        self.side = side
        self.kind = kind
        self.confirm = confirm
        self.trapped: dict[int, str] = {}   # tid -> the kind of its last call

    def record_entry(self, call: SyscallCall, decision: Decision, tracee: Tracee) -> None:
        return None

    def record_exit(self, call: SyscallCall, ret: int | None, decision: Decision,
                    tracee: Tracee | None, ts: float) -> None:
        if regs.in_vsyscall_page(call.regs):
            # the kernel run cannot see a vsyscall (seccomp judges it without a ptrace
            # stop): it is compared by what the program printed and how it ended
            return
        kind = self.kind(call, decision)
        side = self.side
        side.calls += 1
        side.kinds.setdefault((call.abi.value, call.name), Counter())[kind] += 1
        if not self.confirm:
            return
        what = f"{call.name} ({call.abi.value}, pid {call.pid})"
        if kind.startswith("errno ") and ret is not None and _errno_kind(-ret) != kind:
            side.unconfirmed.append(f"{what}: the filter says {kind}, the call returned {ret}")
        elif kind == "kill" and ret is not None and ret != call.raw_nr:
            # seccomp's kill rolls the registers back (rax = the syscall number), the
            # exit stop can show that, and SIGSYS ends the task
            side.unconfirmed.append(f"{what}: the filter says kill, the call returned {ret}")
        elif kind == "trap":
            self.trapped[call.tid] = what

    def record_event(self, ev: ProcessEvent) -> None:
        if isinstance(ev, SignalDelivery) and ev.sig == signal.SIGSYS:
            what = self.trapped.pop(ev.tid, None)
            code = (ev.siginfo or {}).get("si_code")
            if what is None and self.confirm and code == _SYS_SECCOMP:
                self.side.unconfirmed.append(f"a seccomp SIGSYS in tid {ev.tid} after a"
                                             " call the filter did not trap")


def _enforcing_prefilter(handler: SyscallHandler) -> Prefilter | None:
    """The prefilter ``trace-run --policy P CMD`` installs when its lines are written:
    every call stops and is judged in the VM; seccomp's own outcomes (KILL, TRAP) come
    back through the prefilter's reserved numbers (:mod:`tracer.prefilter_choice`)."""
    from tracer.prefilter_choice import choose
    from tracer.qualify import Qualifiers
    allowed = getattr(handler, "allowed_outright", None)
    return choose(seccomp_bpf=False, policy_allowed=allowed() if callable(allowed) else None,
                  trace=Qualifiers().trace, outputs=True, injections=False, attaching=False)


def _run(cmd: Sequence[str], side: Side, handler: SyscallHandler | None, log: _Log,
         pre_exec: Callable[[], None] | None, env: dict[str, str]) -> None:
    from tracer.loop import Loop
    from tracer.spawn import spawn
    prefilter = _enforcing_prefilter(handler) if handler is not None else None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            open(os.devnull, "rb") as null:
        child = spawn(cmd, env=env, pre_exec=pre_exec,
                      redirect={0: null.fileno(), 1: out.fileno(), 2: err.fileno()},
                      prefilter=prefilter.bytes() if prefilter is not None else None)
        loop = Loop(handler, [log], say=None, judge_all=True, prefilter=prefilter)
        loop.run(child)
        failure = child.exec_error()
        if failure is not None:   # the child's report of its failed execve, as the CLI's
            side.exec_failed = str(failure).rpartition(": ")[2]
        match loop.final:
            case Killed(sig=sig, core_dumped=core):
                side.signal, side.core = sig, core
            case None:
                pass
            case final:
                side.status = final.status
        out.seek(0)
        err.seek(0)
        side.stdout, side.stderr = out.read(), err.read()


@dataclass
class Comparison:
    profile: str
    command: list[str]
    emulated: Side
    kernel: Side
    libseccomp: str = ""

    @property
    def end_same(self) -> bool:
        return self.emulated.end == self.kernel.end

    @property
    def stdout_same(self) -> bool:
        return self.emulated.stdout == self.kernel.stdout

    @property
    def stderr_same(self) -> bool:
        return self.emulated.stderr == self.kernel.stderr

    def syscall_differences(self) -> list[tuple[str, str, Counter[str], Counter[str]]]:
        """(ABI, name, emulated kinds, kernel kinds) where a kind other than ``allow``
        came up another number of times (a call allowed in one run and denied, killed or
        trapped in the other is one of these)."""
        if self.kernel.error is not None:
            return []   # nothing ran under the kernel: its error says why
        e, k = self.emulated.kinds, self.kernel.kinds
        out = []
        for key in sorted(set(e) | set(k), key=lambda t: (t[1], t[0])):
            ce, ck = e.get(key, Counter()), k.get(key, Counter())
            if any(ce[x] != ck[x] for x in set(ce) | set(ck) if x != "allow"):
                out.append((key[0], key[1], ce, ck))
        return out

    @property
    def agree(self) -> bool:
        return (self.kernel.error is None and self.end_same and self.stdout_same
                and self.stderr_same and not self.syscall_differences()
                and not self.kernel.unconfirmed)


def compare(policy: Policy, cmd: Sequence[str], *, profile: str = "",
            env: dict[str, str] | None = None) -> Comparison:
    """Run ``cmd`` emulated under ``policy``, then under the kernel's seccomp."""
    from .handler import make_handler
    from .kernel_filter import KernelFilterError, build, ret_text

    environ = dict(os.environ if env is None else env)
    emulated, kernel = Side("emulated (trace-run)"), Side("kernel (seccomp)")
    result = Comparison(profile, list(cmd), emulated, kernel)
    handler = make_handler(policy)
    try:
        _run(cmd, emulated, handler, _Log(emulated, lambda c, d: emulated_kind(d), False),
             None, environ)
    finally:
        close = getattr(handler, "close", None)
        if callable(close):
            close()
    try:
        kf = build(policy)
    except KernelFilterError as exc:
        kernel.error = str(exc)
        return result
    result.libseccomp = ".".join(map(str, kf.version))
    kernel.label = f"kernel (libseccomp {result.libseccomp})"

    def kernel_kind(call: SyscallCall, decision: Decision) -> str:
        ip = int.from_bytes(call.regs[_IP:_IP + 8], "little")
        return ret_text(kf.decide(call.abi, call.raw_nr, ip, call.args))
    try:
        _run(cmd, kernel, None, _Log(kernel, kernel_kind, True), kf.pre_exec(), environ)
    finally:
        kf.close()
    return result


# ---- rendering ------------------------------------------------------------------------

_W = 34


def _kinds(c: Counter[str]) -> str:
    return ", ".join(f"{k} x{n}" for k, n in sorted(c.items())) or "(not made)"


def _diff(a: bytes, b: bytes, limit: int = 8) -> list[str]:
    lines = list(difflib.unified_diff(a.decode("utf-8", "backslashreplace").splitlines(),
                                      b.decode("utf-8", "backslashreplace").splitlines(),
                                      "emulated", "kernel", lineterm="", n=1))
    more = len(lines) - limit
    return [f"      {line}"[:120] for line in lines[:limit]] + (
        [f"      ... {more} more diff lines"] if more > 0 else [])


def render_text(r: Comparison) -> str:
    e, k = r.emulated, r.kernel
    out = [f"trace-run --compare: {r.profile} on {shlex.join(r.command)}",
           f"  {'':8} {e.label:<{_W}} {k.label:<{_W}}"]

    def row(what: str, a: str, b: str, same: bool) -> None:
        out.append(f"  {what:<8} {a:<{_W}} {b:<{_W}} {'same' if same else 'DIFFERS'}")
    if k.error is not None:
        out.append(f"  kernel run impossible: {k.error}")
    row("ends", e.end, k.end, r.end_same)
    row("stdout", f"{len(e.stdout)} bytes", f"{len(k.stdout)} bytes", r.stdout_same)
    if not r.stdout_same:
        out += _diff(e.stdout, k.stdout)
    row("stderr", f"{len(e.stderr)} bytes", f"{len(k.stderr)} bytes", r.stderr_same)
    if not r.stderr_same:
        out += _diff(e.stderr, k.stderr)
    diffs = r.syscall_differences()
    row("syscalls", f"{e.calls} calls, {e.denied} not allowed",
        f"{k.calls} calls, {k.denied} not allowed", not diffs)
    if diffs:
        out.append("  decided differently:")
        out.append(f"    {'SYSCALL':<18} {'ABI':<7} {'EMULATED':<{_W}} KERNEL")
        out += [f"    {name:<18} {abi:<7} {_kinds(ce):<{_W}} {_kinds(ck)}"
                for abi, name, ce, ck in diffs]
    for line in k.unconfirmed[:10]:
        out.append(f"  kernel outcome not as its filter says: {line}")
    out.append("result: " + ("the emulation agrees with the kernel" if r.agree
                             else "the emulation DIFFERS from the kernel"))
    return "\n".join(line.rstrip() for line in out) + "\n"


def render_json(r: Comparison) -> str:
    doc = {"profile": r.profile, "command": r.command, "agree": r.agree,
           "libseccomp": r.libseccomp,
           "same": {"end": r.end_same, "stdout": r.stdout_same, "stderr": r.stderr_same},
           "syscall_differences": [
               {"abi": abi, "name": name, "emulated": dict(ce), "kernel": dict(ck)}
               for abi, name, ce, ck in r.syscall_differences()],
           "emulated": r.emulated.to_json(), "kernel": r.kernel.to_json()}
    return json.dumps(doc, indent=2) + "\n"


def write(r: Comparison, stdout: IO[str], json_path: str | None) -> None:
    """The side-by-side on ``stdout``; with ``--json FILE`` also the JSON ('-': instead)."""
    if json_path == "-":
        stdout.write(render_json(r))
    else:
        stdout.write(render_text(r))
        if json_path:
            with open(json_path, "w", encoding="utf-8") as f:
                f.write(render_json(r))
    stdout.flush()

