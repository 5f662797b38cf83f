"""Seccomp's own outcomes asked of the kernel, at a seccomp stop of the prefilter.

KILL_PROCESS, KILL_THREAD and TRAP are what the kernel's seccomp does best: the SIGSYS
that kills (with a core dump, only the thread for KILL_THREAD) or the SIGSYS with
SYS_SECCOMP siginfo.  Since Linux 4.8 the kernel runs the filter again after the
tracer changed the syscall number at a seccomp stop; the prefilter answers three
reserved numbers, with the run's cookie in argument 5, with those outcomes
(:mod:`probes.prefilter`).  :func:`ask` writes the number and the cookie;
:func:`fix_trap` puts a TRAP's SIGSYS right at its delivery, so the program sees what a
filter of its own would have given it: ``si_syscall`` and rax the call's own number
(seccomp rolls rax back to orig_ax) and argument 5 its own value.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from probes.abi import ARG_REGS
from probes.prefilter import RESERVED, Outcome
from tracer import ptrace_api as pt
from tracer import regs
from tracer.events import SignalDelivery
from tracer.handler import SyscallCall
from tracer.tracee import TracedThread

__all__ = ["ask", "fix_trap"]

_ARG5: Final = {abi: regs.OFFSET[names[5]] for abi, names in ARG_REGS.items()}
_ORIG_AX: Final = regs.OFFSET["orig_ax"]
_AX: Final = regs.OFFSET["ax"]
_SYS_SECCOMP: Final = 1          # SIGSYS si_code of a seccomp TRAP


def ask(th: TracedThread, call: SyscallCall, outcome: Outcome, cookie: int) -> None:
    """At ``th``'s seccomp stop in ``call``: have the prefilter's second run give
    ``outcome``.  For a TRAP, ``th.trap_fix`` remembers what to restore."""
    arg5 = _ARG5[call.abi]
    if outcome is Outcome.TRAP:
        original = int.from_bytes(call.regs[arg5:arg5 + 8], "little")
        th.trap_fix = (call.raw_nr, arg5, original)
    pt.poke_user(th.tid, arg5, cookie)
    pt.poke_user(th.tid, _ORIG_AX, RESERVED + outcome)


def fix_trap(th: TracedThread, ev: SignalDelivery) -> SignalDelivery:
    """A SIGSYS delivery stop of ``th`` after :func:`ask` asked for a TRAP: its siginfo
    and registers as seccomp gives them to a filter of the program's own."""
    nr, arg5, original = th.trap_fix or (0, 0, 0)
    info = ev.siginfo or {}
    if info.get("si_code") != _SYS_SECCOMP or info.get("si_syscall") != RESERVED + Outcome.TRAP:
        return ev
    th.trap_fix = None
    pt.set_siginfo_syscall(th.tid, nr)
    pt.poke_user(th.tid, _AX, nr)
    pt.poke_user(th.tid, _ORIG_AX, nr)
    pt.poke_user(th.tid, arg5, original)
    return dataclasses.replace(ev, siginfo={**info, "si_syscall": nr})
