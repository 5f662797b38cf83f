"""``bpf_seccomp_return``: how a BPF program of trace-run asks for seccomp's own outcome.

The kernel's helpers cannot say "end this syscall as seccomp would": ``bpf_send_signal``
sends a signal (a SIGKILL from a probe kills with SIGKILL, status 137, and trace-run keeps
it so), ``bpf_override_return`` fails the call.  Seccomp's KILL_PROCESS, KILL_THREAD and
TRAP are something else: a SIGSYS the program cannot catch (and a core dump), only the
calling thread for KILL_THREAD, a SIGSYS with SYS_SECCOMP siginfo for TRAP.  So trace-run
registers one helper of its own in the VMs it runs programs in::

    long bpf_seccomp_return(__u32 ret);     /* helper id 0x5ec0 (trace-run's, not the kernel's) */

``ret`` is a SECCOMP_RET_* value, as a seccomp filter returns it.  The program goes on
(the helper returns 0); what the last call asked for applies to the syscall once the run
ends, through the kernel's own seccomp (:mod:`probes.prefilter`'s reserved numbers; where
there is no prefilter, under ``-p``, emulated).  SECCOMP_RET_ALLOW, _LOG, _TRACE and
_USER_NOTIF ask for nothing; SECCOMP_RET_ERRNO's data is an errno, which
``bpf_override_return`` already says.  The policy compiler emits it for the kill and trap
actions; a C probe declares it as above.
"""

from __future__ import annotations

from typing import Any, Final

from bpf_vm import ArgType, HelperProto, HelperTable, RetType, default_helpers, effects_of
from probes.prefilter import (
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_KILL_THREAD,
    SECCOMP_RET_TRAP,
    Outcome,
)

__all__ = ["HELPER_ID", "NAME", "install", "outcome_of", "requested"]

HELPER_ID: Final = 0x5EC0
NAME: Final = "seccomp_return"
_ACTION_FULL: Final = 0xFFFF0000    # SECCOMP_RET_ACTION_FULL


def _seccomp_return(state: Any, ret: int, *_: int) -> int:
    effects_of(state).requests.append((NAME, ret & 0xFFFFFFFF))
    return 0


PROTO: Final = HelperProto(HELPER_ID, NAME, RetType.INTEGER, (ArgType.ANYTHING,))


def install(helpers: HelperTable | None = None) -> HelperTable:
    """``helpers`` (default: the VM's default table, copied) with bpf_seccomp_return."""
    table = helpers if helpers is not None else default_helpers()
    if HELPER_ID not in table:
        table.register(PROTO, _seccomp_return)
    return table


def outcome_of(ret: int) -> Outcome | None:
    """The outcome a SECCOMP_RET_* value asks for (None: nothing of seccomp's own)."""
    action = ret & _ACTION_FULL
    if action == SECCOMP_RET_KILL_PROCESS:
        return Outcome.KILL_PROCESS
    if action == SECCOMP_RET_KILL_THREAD:
        return Outcome.KILL_THREAD
    if action == SECCOMP_RET_TRAP:
        return Outcome.TRAP
    return None


def requested(requests: list[tuple[str, int]]) -> Outcome | None:
    """What a run's last bpf_seccomp_return asked for."""
    for name, value in reversed(requests):
        if name == NAME:
            return outcome_of(value)
    return None
