"""Which seccomp prefilter a run gets (:mod:`probes.prefilter`), from what it must see.

* ``--seccomp-bpf`` (strace's option): the syscalls of ``-e trace=SET`` are traced, the
  rest of the x86_64 ones run without a stop.  As in strace it implies ``-f``.
* ``--policy`` (enforce or audit): always a prefilter, which also carries seccomp's own
  outcomes (KILL_PROCESS, KILL_THREAD, TRAP given by the kernel).  It lets run only the
  syscalls the profile allows whatever their arguments and that no requested output
  (lines, ``--json``, ``-c`` of ``-e trace=SET``) or injection needs.
* Neither: no prefilter; every syscall stops, as strace without ``--seccomp-bpf``.

Some calls are always traced: clone and clone3 (CLONE_UNTRACED is cleared at their
stop, :mod:`tracer.untraced`).  A run that attaches (``-p``) cannot install a filter
in a process already running; it says so and stops at every syscall.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from probes.abi import Abi, syscalls
from probes.prefilter import Prefilter
from tracer.guard import GUARDED_NRS
from tracer.qualify import Qualifiers, SyscallSet
from tracer.untraced import CLONE_NRS

__all__ = ["ALWAYS_TRACED", "choose", "choose_prefilter"]

ALWAYS_TRACED: frozenset[int] = (frozenset(CLONE_NRS & set(syscalls(Abi.X86_64)) - {120})
                                 | GUARDED_NRS[Abi.X86_64])
"""x86_64 numbers every prefilter traces (120 is i386's clone, x86_64's getpgid)."""


def output_needs(trace: SyscallSet) -> frozenset[int]:
    """The x86_64 numbers ``-e trace=`` shows."""
    return frozenset(nr for nr in syscalls(Abi.X86_64) if (Abi.X86_64, nr) in trace)


def choose(*, seccomp_bpf: bool, policy_allowed: frozenset[int] | None, trace: SyscallSet,
           outputs: bool, injections: bool, attaching: bool, outcomes: bool = False
           ) -> Prefilter | None:
    """The prefilter of a run, or None.  ``policy_allowed``: what a policy allows
    outright (None without a policy); ``outputs``: lines, JSON or a summary are asked
    for; ``outcomes``: a probe asks for seccomp's outcomes (bpf_seccomp_return), which
    a prefilter carries."""
    outcomes = outcomes or policy_allowed is not None
    if attaching or not (outcomes or seccomp_bpf):
        return None
    # the outcome numbers need a cookie the program cannot guess
    cookie = secrets.randbits(32) if outcomes else None
    must = set(ALWAYS_TRACED)
    if injections:
        return Prefilter(frozenset(), cookie)   # every call: the injections decide
    if outputs:
        must |= output_needs(trace)
    if policy_allowed is not None:
        base = policy_allowed
    elif seccomp_bpf:
        base = frozenset(syscalls(Abi.X86_64))
    else:
        base = frozenset()   # a probe sees every call
    return Prefilter(frozenset(base - must), cookie)


def choose_prefilter(seccomp_bpf: bool, pids: Sequence[object], handler: object,
                     q: Qualifiers, outputs: bool, say: Callable[[str], None]
                     ) -> Prefilter | None:
    """:func:`choose` for the CLI's run: ``handler`` is the run's (a policy's tells
    what it allows outright, a probe's whether it calls bpf_seccomp_return); says why
    ``--seccomp-bpf`` is off with ``-p``, as strace does."""
    if seccomp_bpf and pids:
        say("--seccomp-bpf is not enabled for processes attached with -p")
    inner = getattr(handler, "inner", handler)   # an injection wraps the run's handler
    allowed = getattr(inner, "allowed_outright", None)
    return choose(seccomp_bpf=seccomp_bpf, trace=q.trace,
                  policy_allowed=allowed() if callable(allowed) else None, outputs=outputs,
                  injections=bool(q.injections()), attaching=bool(pids),
                  outcomes=bool(getattr(inner, "asks_seccomp", False)))
