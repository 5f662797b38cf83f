"""A compiled seccomp policy as the tracer's syscall handler: enforce or audit.

The BPF side is the probe handler's (:mod:`tracer.probe_handler`): it runs the entry
program of the call's ABI in the VM on the thread's pt_regs, with helpers reaching the
tracee through its host.  This module only reads back what the programs asked for (the
run's effects record every ``bpf_override_return``, signal and printk) as a seccomp
action, and then either applies it (enforce) or writes it down and lets the syscall run
(audit).  Both modes keep a tally for the report at exit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any, assert_never

from probes.abi import Abi
from probes.policy.compiler import CompiledPolicy, compile_policy
from probes.policy.models import Action
from probes.policy.resolve import Policy, Verdict
from probes.policy.runtime import outcome
from probes.prefilter import Outcome
from tracer.format import format_args
from tracer.handler import ALLOW, Decision, SyscallCall, Tracee
from tracer.handler import Action as TraceAction
from tracer.probe_handler import ProbeHandler, TraceeHost

__all__ = ["PolicyHandler", "PolicyHost", "Seen", "Tally", "allowed_outright", "decision_for",
           "make_handler"]


class PolicyHost(TraceeHost):
    """The probe handler's host, which always wants the run's printk lines: the policy
    reads them (SCMP_ACT_LOG)."""

    @property
    def printk_enabled(self) -> bool:
        return True


def decision_for(v: Verdict) -> Decision:
    """What the tracer does for a seccomp action (enforce mode): the one place where
    the policy's verdict becomes a decision."""
    match v.action:
        case Action.ERRNO:
            return Decision(TraceAction.DENY, -(v.errno or 0))
        # Where the run has a prefilter the kernel's seccomp gives these outcomes
        # (Decision.seccomp); elsewhere (-p) they are emulated: a SIGKILL (which kills
        # the whole process, even for KILL_THREAD), or -ENOSYS and a SIGSYS from kill.
        case Action.KILL_PROCESS:
            return Decision.seccomp_outcome(Outcome.KILL_PROCESS)
        case Action.KILL | Action.KILL_THREAD:
            return Decision.seccomp_outcome(Outcome.KILL_THREAD)
        case Action.TRAP:
            return Decision.seccomp_outcome(Outcome.TRAP)
        case Action.ALLOW | Action.LOG:
            return ALLOW   # the syscall runs (LOG: the line was written)
        case Action.TRACE | Action.NOTIFY:
            # A run's effects never amount to these (probes.policy.runtime.outcome): the
            # compiler has no tracer or notifier to hand them to, and lets them run.
            return ALLOW
        case _:
            assert_never(v.action)


@dataclass
class Seen:
    """One (ABI, syscall, action) the policy produced: how often, and its first call."""
    abi: Abi
    name: str
    verdict: Verdict
    count: int = 0
    first_pid: int = 0
    first_call: str = ""


@dataclass
class Tally:
    """Everything not allowed outright, in the order first seen."""
    seen: dict[tuple[Abi, str, Verdict], Seen] = field(default_factory=dict)
    calls: int = 0
    faults: int = 0

    def add(self, call: SyscallCall, verdict: Verdict, tracee: Tracee) -> None:
        key = (call.abi, call.name, verdict)
        s = self.seen.get(key)
        if s is None:
            nr = call.raw_nr if call.abi is Abi.X32 else call.nr
            try:
                text = f"{call.name}({format_args(call.abi, nr, call.args, tracee.read_memory)})"
            except Exception as exc:  # a decoding bug must not lose the report
                text = f"{call.name}(...) [{type(exc).__name__}]"
            s = self.seen[key] = Seen(call.abi, call.name, verdict, 0, call.pid, text)
        s.count += 1

    def denied(self) -> list[Seen]:
        return [s for s in self.seen.values() if s.verdict.action is not Action.LOG]

    def logged(self) -> list[Seen]:
        return [s for s in self.seen.values() if s.verdict.action is Action.LOG]


class PolicyHandler:
    """Enforces (or, with ``audit``, only records) a compiled policy."""

    def __init__(self, compiled: CompiledPolicy, probe: ProbeHandler, *,
                 audit: bool = False) -> None:
        self.compiled = compiled
        self.probe = probe
        self.host: PolicyHost = probe.host  # type: ignore[assignment]
        self.audit = audit
        self.tally = Tally()

    def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
        self.tally.calls += 1
        ran = self.probe.run_entry(call, tracee)
        if isinstance(ran, Decision):   # no program ran to its end
            if ran.action is TraceAction.FAULT:
                self.tally.faults += 1
                return ALLOW
            return ran
        verdict = (outcome(ran.requests, ran.override, ran.printk) if ran is not None
                   else Verdict(Action.ALLOW))
        if verdict.action is not Action.ALLOW:
            self.tally.add(call, verdict, tracee)
        return ALLOW if self.audit else decision_for(verdict)

    wants_exit = False   # a policy decides at entry only

    def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
        return None

    def allowed_outright(self) -> frozenset[int]:
        return allowed_outright(self.compiled.policy)


def allowed_outright(policy: Policy) -> frozenset[int]:
    """The x86_64 syscall numbers ``policy`` allows whatever their arguments: the ones
    a prefilter may let run without a stop.  A number is one when each rule that could
    decide it allows it, and one of them (or the default) always does; LOG is not among
    them (its line is written at the stop)."""
    from probes.abi import syscalls
    if Abi.X86_64 not in policy.abis:
        return frozenset()
    table = policy.rules.get(Abi.X86_64, {})
    out = []
    for nr in syscalls(Abi.X86_64):
        rules = policy.ordered(Abi.X86_64, nr) if nr in table else []
        if any(r.verdict.action is not Action.ALLOW for r in rules):
            continue
        if (rules and not rules[-1].conds) or policy.default.action is Action.ALLOW:
            out.append(nr)
    return frozenset(out)

    def close(self) -> None:
        self.probe.close()


def make_handler(compiled_or_policy: Any, *, audit: bool = False,
                 printk: IO[str] | None = None, dump_maps: IO[str] | None = None
                 ) -> PolicyHandler:
    """A handler for a :class:`~probes.policy.resolve.Policy` (compiled here into a VM
    whose host is the tracee) or an already compiled one whose VM has a PolicyHost."""
    if isinstance(compiled_or_policy, CompiledPolicy):
        compiled = compiled_or_policy
    else:
        compiled = compile_policy(compiled_or_policy, host=PolicyHost(printk))
    probe = ProbeHandler(compiled.obj, entry=compiled.entries[Abi.X86_64], printk=printk,
                         dump_maps=dump_maps)
    return PolicyHandler(compiled, probe, audit=audit)
