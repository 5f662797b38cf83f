"""The seam between the stop loop and whatever decides about syscalls (the BPF VM).

The loop calls :meth:`SyscallHandler.on_entry` at every syscall entry of every traced
thread and applies the returned :class:`Decision` before the syscall runs, then calls
:meth:`SyscallHandler.on_exit` with the return value the tracee will see.  The handler
reaches the tracee only through :class:`Tracee`, which is also what BPF helpers need
(pid/tid, uid/gid, comm, user memory, signals), so tests can fake it.
"""

from __future__ import annotations

import errno as _errno
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, assert_never, runtime_checkable

from probes.abi import Abi
from probes.prefilter import Outcome
from tracer.events import ProcessEvent

_SIGSYS = 31    # signal.SIGSYS on Linux


class Action(StrEnum):
    """What became of one syscall at its entry: the one outcome type of the tracer.

    The value is what JSON Lines show in ``"action"``; :func:`action_mark` is what a
    strace line shows after the result."""

    ALLOW = "allow"
    """The syscall runs."""
    DENY = "deny"
    """Skipped; it returns ``-errno`` (bpf_override_return with an errno, SCMP_ACT_ERRNO)."""
    OVERRIDE = "override"
    """Skipped; it returns a value that is not an errno (bpf_override_return)."""
    KILL = "kill"
    """The process is killed at the entry stop; the syscall never runs."""
    TRAP = "trap"
    """SCMP_ACT_TRAP: skipped with -ENOSYS, SIGSYS sent to the thread."""
    REFUSED = "refused"
    """No entry program for the call's ABI: skipped with -ENOSYS."""
    FAULT = "fault"
    """The probe faulted: the fault is reported and the syscall runs."""
    INJECT = "inject"
    """strace's ``-e inject=`` / ``-e fault=``: skipped, returns the injected error or value."""


def action_mark(action: Action) -> str | None:
    """The mark a strace line carries after its result (``= -1 EPERM (DENIED)``); None
    for a call that ran as the program asked."""
    match action:
        case Action.ALLOW:
            return None
        case Action.DENY:
            return "DENIED"
        case Action.KILL:
            return "KILLED"
        case Action.INJECT:
            return "INJECTED"
        case Action.OVERRIDE | Action.TRAP | Action.REFUSED | Action.FAULT:
            return action.value.upper()
        case _:
            assert_never(action)


@dataclass(slots=True)
class SyscallCall:
    """One syscall as seen at its entry stop: what the handler decides on and the
    recorders note (per-syscall type 1 of 4, see :mod:`tracer.record`).

    ``nr`` is the number within ``abi`` (x32: __X32_SYSCALL_BIT cleared), ``raw_nr`` the
    number as the kernel got it.  ``regs`` is the thread's 168-byte x86_64 pt_regs at
    entry, read-only.  ``ts`` is ``time.time()`` at the stop.

    Not frozen, as every value made at each syscall: a frozen dataclass takes about
    five times as long to build (``object.__setattr__`` per field).  Treat it as read-only.
    """

    pid: int
    tid: int
    abi: Abi
    nr: int
    raw_nr: int
    name: str
    args: tuple[int, int, int, int, int, int]
    regs: bytes
    ts: float


@dataclass(frozen=True, slots=True)
class SignalRequest:
    """A signal a handler wants sent: to the whole process, or (``thread``) to the
    thread that made the syscall, as bpf_send_signal / bpf_send_signal_thread."""

    sig: int
    thread: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a syscall at its entry.

    ``return_value`` not None: the syscall is skipped and returns that value (e.g.
    ``-errno.EACCES``), as a kprobe's bpf_override_return.  ``Action.KILL``: the
    process is SIGKILLed at the entry stop, so the syscall never runs.  ``signals`` are
    sent at the entry stop; the syscall still runs unless one of them is fatal.
    """

    action: Action = Action.ALLOW
    return_value: int | None = None
    signals: tuple[SignalRequest, ...] = field(default=())
    seccomp: Outcome | None = None
    """KILL and TRAP as seccomp gives them (SIGSYS): where the run has a prefilter, the
    loop asks the kernel for this outcome (:mod:`probes.prefilter`); elsewhere the
    ``action``'s own emulation applies (SIGKILL; -ENOSYS and a SIGSYS)."""

    @classmethod
    def deny(cls, err: int = _errno.EPERM) -> Decision:
        return cls(Action.DENY, -abs(err))

    @classmethod
    def kill(cls) -> Decision:
        return cls(Action.KILL)

    @classmethod
    def seccomp_outcome(cls, outcome: Outcome) -> Decision:
        """Seccomp's KILL_PROCESS, KILL_THREAD or TRAP; where the loop cannot ask the
        kernel, a kill is a SIGKILL and a trap -ENOSYS with a SIGSYS to the thread."""
        if outcome is Outcome.TRAP:
            return cls(Action.TRAP, -_errno.ENOSYS,
                       (SignalRequest(_SIGSYS, thread=True),), seccomp=outcome)
        return cls(Action.KILL, seccomp=outcome)

    @property
    def errno(self) -> int | None:
        """The errno the tracee sees when the syscall was skipped with a failure."""
        rv = self.return_value
        return -rv if rv is not None and -4095 <= rv < 0 else None


ALLOW = Decision()


@runtime_checkable
class Tracee(Protocol):
    """The traced thread as helpers see it."""

    @property
    def pid(self) -> int:
        """Thread group id."""
        ...

    @property
    def tid(self) -> int: ...

    def read_memory(self, addr: int, size: int) -> bytes | None:
        """``size`` bytes of the tracee's memory, or None if not all readable."""
        ...

    def comm(self) -> bytes:
        """The thread's comm, NUL-padded to 16 bytes (TASK_COMM_LEN)."""
        ...

    def uid_gid(self) -> tuple[int, int]:
        """Real uid and gid."""
        ...

    def send_signal(self, sig: int, thread: bool = False) -> None:
        """Record a signal; the loop sends it when the handler returns."""
        ...


class SyscallHandler(Protocol):
    def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision: ...

    def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None: ...


class AllowAll:
    """Lets every syscall run: plain tracing."""

    wants_exit = False   # its on_exit does nothing

    def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
        return ALLOW

    def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
        return None


class Recorder(Protocol):
    """Where the loop reports what happened (the outputs; see :mod:`tracer.record`).

    ``record_entry`` comes at the entry stop after the handler decided, while the tracee
    is stopped (inputs can be read from its memory).  ``record_exit`` comes once per
    syscall: at its exit stop (``tracee`` stopped, outputs readable, ``ts`` the stop's
    time) or, with ``ret=None`` and ``tracee=None``, when it never returns (exit, killed,
    exec'd away).  ``record_event`` gets the process events of :mod:`tracer.events`
    (Fork, Exec, SignalDelivery, GroupStop, Exited, Killed).

    A recorder may also have ``flush()``: the loop calls it after every stop, once the
    tracee is resumed, so that work which no longer needs the stopped tracee (writing
    what was read at the stop) overlaps the tracee's run.  And ``idle()``: the loop calls
    it before it waits for tracees that all run on (no stop is pending), so that what is
    held back for a moment (the beginning of a line whose call runs) is written before a
    call that blocks for long.
    """

    def record_entry(self, call: SyscallCall, decision: Decision, tracee: Tracee) -> None: ...

    def record_exit(self, call: SyscallCall, ret: int | None, decision: Decision,
                    tracee: Tracee | None, ts: float) -> None: ...

    def record_event(self, ev: ProcessEvent) -> None: ...
