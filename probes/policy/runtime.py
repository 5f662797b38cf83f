"""Running a compiled policy: one VM invocation per syscall, and what it decided.

The programs say what they decide only through helpers, as a kprobe program in the
kernel would: ``bpf_override_return`` (fail the syscall), ``bpf_trace_printk`` (log),
and trace-run's ``bpf_seccomp_return`` (kill, trap: :mod:`probes.seccomp_helper`).  The
run's effects (:class:`bpf_vm.effects.Effects`) record those calls; :func:`outcome` reads
them back as a seccomp action, which the tracer then applies (enforce) or only records
(audit).  Nothing here looks at the
profile: what a syscall gets is whatever the bytecode did.
"""

from __future__ import annotations

import errno as _errno
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from probes.abi import ARG_REGS, PT_REGS_OFFSET, Abi
from probes.prefilter import Outcome as SeccompOutcome
from probes.seccomp_helper import requested

from .compiler import CompiledPolicy
from .models import Action
from .resolve import Verdict

__all__ = ["Outcome", "PolicyRunner", "outcome", "pt_regs"]

LOG_MARK = "SCMP_ACT_LOG "
_ACTION = {SeccompOutcome.KILL_PROCESS: Action.KILL_PROCESS,
           SeccompOutcome.KILL_THREAD: Action.KILL_THREAD, SeccompOutcome.TRAP: Action.TRAP}


@dataclass(frozen=True)
class Outcome:
    """What one run of the programs asked for.  ``verdict`` is the seccomp action it
    amounts to; ``printk`` the trace_pipe lines it wrote."""
    verdict: Verdict
    printk: tuple[str, ...] = ()
    insns: int = 0
    tail_calls: int = 0
    signals: tuple[tuple[int, bool], ...] = field(default=())
    override: int | None = None
    requests: tuple[tuple[str, int], ...] = field(default=())   # bpf_seccomp_return's


def outcome(requests: Sequence[tuple[str, int]], override: int | None,
            printk: Sequence[str]) -> Verdict:
    """The action a run's helper calls amount to (the inverse of the compiler's table):
    its last bpf_seccomp_return, last override and printk lines.  A bpf_send_signal is
    not a seccomp action: it means what it means in the kernel, a signal."""
    asked = requested(list(requests))
    if asked is not None:
        return Verdict(_ACTION[asked])
    if override is not None:
        return Verdict(Action.ERRNO, -override)
    if any(LOG_MARK in line for line in printk):
        return Verdict(Action.LOG)
    return Verdict(Action.ALLOW)


def pt_regs(abi: Abi, nr: int, args: Sequence[int] = (), **extra: int) -> bytes:
    """168 bytes of x86_64 pt_regs for a syscall entry: ``nr`` in orig_ax (x32: with
    the x32 bit), ``args`` in the ABI's argument registers, ``extra`` other fields."""
    values = dict.fromkeys(PT_REGS_OFFSET, 0)
    values["orig_ax"] = nr
    values["ax"] = (-_errno.ENOSYS) & (2**64 - 1)    # what the entry code leaves in ax
    for reg, value in zip(ARG_REGS[abi], args, strict=False):
        values[reg] = value
    values.update(extra)
    return struct.pack("<21Q", *(v & (2**64 - 1) for v in values.values()))


class PolicyRunner:
    """Runs a compiled policy's entry program for one syscall at a time.

    The VM's host must want printk lines (``printk_enabled``), for SCMP_ACT_LOG; the
    tracer's policy host does, and so does ``FakeHost`` in tests."""

    def __init__(self, compiled: CompiledPolicy) -> None:
        self.compiled = compiled
        self.vm = compiled.vm
        self.entries = {abi: compiled.entry(abi) for abi in Abi}

    @property
    def host(self) -> Any:
        return self.vm.host

    def run(self, abi: Abi, regs: bytes) -> Outcome:
        res = self.vm.run(self.entries[abi], regs, ctx_writable=False)
        eff = res.effects
        printk = tuple(eff.printk)
        signals = tuple(eff.signals)
        return Outcome(outcome(eff.requests, eff.override, printk), printk, res.insns,
                       res.tail_calls, signals, eff.override, tuple(eff.requests))
