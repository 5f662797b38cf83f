"""``-e inject=`` / ``-e fault=`` as a syscall handler around another one.

At each syscall entry the compiled injections (:mod:`probes.inject`) run first, in their
own VM, on the thread's pt_regs; then the inner handler (the probe, or a policy) decides
as usual, so it sees every call.  What the two asked for is combined:

* the inner handler stopping the call (kill, deny, trap, refused, override) wins: the
  sandbox is the stronger word;
* otherwise an injected ``error=`` / ``retval=`` skips the call, which returns that value
  and is marked ``(INJECTED)`` in strace's text (Action.INJECT), as strace marks it;
* an injected ``signal=`` is sent to the thread (``bpf_send_signal_thread``) with the
  call's decision; without error/retval the call runs, and the signal's ``---`` line
  follows the call's line, as in strace.

Only the calls of the trace set are compiled in (strace tampers only with traced calls:
``syscall_entering_trace`` returns before ``tamper_with_syscall_entering`` for a call
``trace=`` filters out), so the loop must call this handler for every call, and the
injection counts only traced calls, as strace's ``when=`` does.
"""

from __future__ import annotations

from typing import IO, Any

from bpf_vm import Effects, Vm
from probes.abi import Abi
from probes.inject import CompiledInjections, InjectSpec, compile_injections
from tracer.handler import (
    Action,
    Decision,
    SignalRequest,
    SyscallCall,
    SyscallHandler,
    Tracee,
)
from tracer.probe_handler import ProbeHandler, TraceeHost

__all__ = ["InjectHandler", "make_inject_handler"]


class InjectHandler:
    """Runs the inject programs, then ``inner``; see the module docstring."""

    def __init__(self, compiled: CompiledInjections, inner: SyscallHandler, *,
                 errors: IO[str] | None = None) -> None:
        self.compiled = compiled
        self.inner = inner
        self.probe = ProbeHandler(compiled.obj, entry=compiled.entries[Abi.X86_64],
                                  errors=errors)
        self.injected = 0
        # A set lookup spares the VM run for the calls nothing is injected into.
        self._keys = frozenset(compiled.rules)

    def _injection(self, call: SyscallCall, tracee: Tracee) -> Decision | None:
        ran = self.probe.run_entry(call, tracee)
        if ran is None or isinstance(ran, Decision):
            return None     # nothing injected (or a fault, reported: the call runs)
        return _decision(ran)

    def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
        if (call.abi, call.nr) not in self._keys:
            return self.inner.on_entry(call, tracee)
        injected = self._injection(call, tracee)
        decision = self.inner.on_entry(call, tracee)
        if injected is None:
            return decision
        self.injected += 1
        if decision.action is not Action.ALLOW:
            if not injected.signals:
                return decision
            return Decision(decision.action, decision.return_value,
                            decision.signals + injected.signals)
        if injected.return_value is None:   # signal= alone: the call runs
            return Decision(decision.action, decision.return_value,
                            decision.signals + injected.signals)
        return Decision(Action.INJECT, injected.return_value,
                        decision.signals + injected.signals)

    def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
        self.inner.on_exit(call, ret, tracee)

    @property
    def wants_exit(self) -> bool:
        return bool(getattr(self.inner, "wants_exit", True))

    def close(self) -> None:
        self.probe.close()
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    def listing(self) -> str:
        return self.compiled.listing()


def _decision(effects: Effects) -> Decision | None:
    signals = tuple(SignalRequest(sig, thread) for sig, thread in effects.signals)
    rc = effects.override
    if rc is None:
        return Decision(Action.ALLOW, None, signals) if signals else None
    rc = rc - (1 << 64) if rc >= 1 << 63 else rc
    return Decision(Action.INJECT, rc, signals)


def make_inject_handler(rules: dict[tuple[Abi, int], InjectSpec], inner: SyscallHandler,
                        **vm_options: Any) -> SyscallHandler:
    """``inner`` with ``rules`` (``Qualifiers.injections()``) in front; ``inner``
    itself when there is nothing to inject."""
    if not rules:
        return inner
    vm = Vm(host=TraceeHost(), **vm_options)
    return InjectHandler(compile_injections(rules, vm), inner)

