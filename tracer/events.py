"""What the stop loop sees, as typed values to ``match`` on: the one event model of the
tracer.

:func:`decode` turns one ``waitpid`` status into one of these, asking the kernel the
questions a status cannot answer (entry or exit and which ABI, the new child's tid,
group-stop or signal, the exec'd program's path).  The process events
(:data:`ProcessEvent`: :class:`Fork`, :class:`Exec`, :class:`SignalDelivery`,
:class:`GroupStop`, :class:`Exited`, :class:`Killed`) are also what the recorders
(:class:`tracer.handler.Recorder`) and the writers (:mod:`tracer.output`) receive,
unchanged.  ``pid`` is always the thread group id, ``tid`` the thread, ``ts`` the
``time.time()`` of the stop.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from probes.abi import Abi, abi_for
from tracer import ptrace_api as pt

ForkKind = Literal["fork", "vfork", "clone"]

_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
_FORK_KINDS: dict[int, ForkKind] = {pt.EVENT_FORK: "fork", pt.EVENT_VFORK: "vfork",
                                    pt.EVENT_CLONE: "clone"}


@dataclass(slots=True)
class SyscallEntry:
    """A syscall-entry stop, or a seccomp stop.  For x32, ``nr`` has __X32_SYSCALL_BIT
    cleared.

    Not frozen, as every value made at each syscall: a frozen dataclass takes about
    five times as long to build (``object.__setattr__`` per field).  Treat it as read-only."""

    pid: int
    tid: int
    ts: float
    abi: Abi
    nr: int
    raw_nr: int
    args: tuple[int, ...]
    seccomp: bool = False   # a seccomp stop (SECCOMP_RET_TRACE), not a syscall-entry stop


@dataclass(slots=True)
class SyscallExit:
    """A syscall-exit stop (not frozen: see :class:`SyscallEntry`)."""

    pid: int
    tid: int
    ts: float
    ret: int


@dataclass(frozen=True, slots=True)
class Fork:
    """fork/vfork/clone by ``tid``; ``child`` is the new tid.  ``thread``: the child is
    a thread of the same process (CLONE_THREAD), which :func:`decode` cannot tell; the
    loop sets it when it has found out, before the recorders see the event."""

    pid: int
    tid: int
    ts: float
    kind: ForkKind
    child: int
    thread: bool = False


@dataclass(frozen=True, slots=True)
class Exec:
    """A successful execve.  ``tid == pid`` always; ``former_tid`` differs when a
    non-leader thread exec'd and took over the leader's tid.  ``path``: the new
    program, /proc/PID/exe read at the stop (None if unreadable)."""

    pid: int
    tid: int
    ts: float
    former_tid: int
    path: str | None = None


@dataclass(frozen=True, slots=True)
class SignalDelivery:
    """A signal about to be delivered; the loop re-injects it.  ``siginfo``: its
    ``si_*`` fields (PTRACE_GETSIGINFO)."""

    pid: int
    tid: int
    ts: float
    sig: int
    siginfo: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class GroupStop:
    """The thread entered a job-control stop (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU)."""

    pid: int
    tid: int
    ts: float
    sig: int


@dataclass(frozen=True, slots=True)
class TrapStop:
    """PTRACE_EVENT_STOP that is no group-stop: a SEIZEd child's first stop, a
    PTRACE_INTERRUPT, or SIGCONT ending a PTRACE_LISTEN."""

    pid: int
    tid: int
    ts: float


@dataclass(frozen=True, slots=True)
class OtherStop:
    """Any other ptrace event (e.g. seccomp); resumed without comment."""

    pid: int
    tid: int
    ts: float
    event: int


@dataclass(frozen=True, slots=True)
class Exited:
    """The task exited with ``status`` (its exit code)."""

    pid: int
    tid: int
    ts: float
    status: int


@dataclass(frozen=True, slots=True)
class Killed:
    """The task was killed by signal ``sig``."""

    pid: int
    tid: int
    ts: float
    sig: int
    core_dumped: bool


Event = (SyscallEntry | SyscallExit | Fork | Exec | SignalDelivery | GroupStop | TrapStop
         | OtherStop | Exited | Killed)
# What happened to a task, beside syscalls: what the loop reports to the recorders.
@dataclass(frozen=True, slots=True)
class Detached:
    """trace-run let the task go (``-p`` on an interrupt, ``-b execve``, ``--detach-on-exit``);
    a call it was in goes on untraced: strace ends its line with ``<detached ...>``."""

    pid: int
    tid: int
    ts: float


ProcessEvent = Fork | Exec | SignalDelivery | GroupStop | Exited | Killed | Detached


def abi_of(info: pt.SyscallInfo) -> tuple[Abi, int]:
    """The ABI of an entry stop and its syscall number within that ABI (x32: bit clear)."""
    abi, nr, _ = syscall_abi(info.arch, info.nr, ())
    return abi, nr


def syscall_abi(arch: int, raw_nr: int, args: tuple[int, ...]
                ) -> tuple[Abi, int, tuple[int, ...]]:
    """An entry stop's ABI, its syscall number within that ABI (x32: bit clear) and
    its arguments at the ABI's register width (i386: the low 32 bits)."""
    abi = abi_for(arch, raw_nr)
    if abi is Abi.I386:
        return abi, raw_nr & 0xFFFFFFFF, tuple(a & 0xFFFFFFFF for a in args)
    if abi is Abi.X32:
        return abi, raw_nr & ~pt.X32_SYSCALL_BIT, args
    return abi, raw_nr, args


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def decode(tid: int, pid: int, status: int) -> Event:
    """Classify one waitpid status of ``tid`` (whose tgid the loop believes is ``pid``).

    Raises OSError (ProcessLookupError) when the tracee vanished while being asked; its
    exit is then still to come from waitpid.
    """
    ts = time.time()
    if os.WIFEXITED(status):
        return Exited(pid, tid, ts, os.WEXITSTATUS(status))
    if os.WIFSIGNALED(status):
        return Killed(pid, tid, ts, os.WTERMSIG(status), os.WCOREDUMP(status))
    sig = os.WSTOPSIG(status)
    if sig == pt.SYSCALL_TRAP:
        info = pt.syscall_info(tid)
        if info.op == pt.OP_EXIT:
            return SyscallExit(pid, tid, ts, info.rval)
        if info.op == pt.OP_ENTRY:
            abi, nr, args = syscall_abi(info.arch, info.nr, info.args)
            return SyscallEntry(pid, tid, ts, abi, nr, info.nr, args)
        return OtherStop(pid, tid, ts, 0)
    event = status >> 16
    if event:
        if event in _FORK_KINDS:
            return Fork(pid, tid, ts, _FORK_KINDS[event], pt.event_msg(tid))
        if event == pt.EVENT_SECCOMP:
            info = pt.syscall_info(tid)
            if info.op == pt.OP_SECCOMP:
                abi, nr, args = syscall_abi(info.arch, info.nr, info.args)
                return SyscallEntry(pid, tid, ts, abi, nr, info.nr, args, seccomp=True)
            return OtherStop(pid, tid, ts, event)
        if event == pt.EVENT_EXEC:
            return Exec(tid, tid, ts, pt.event_msg(tid), _exe(tid))
        if event == pt.EVENT_STOP:
            if sig in _STOP_SIGNALS:
                return GroupStop(pid, tid, ts, sig)
            return TrapStop(pid, tid, ts)
        return OtherStop(pid, tid, ts, event)
    siginfo = pt.get_siginfo(tid)
    if siginfo is None:  # only without SEIZE: a group-stop looks like a signal stop
        return GroupStop(pid, tid, ts, sig)
    return SignalDelivery(pid, tid, ts, sig, siginfo)


__all__ = ["Abi", "Detached", "Event", "Exec", "Exited", "Fork", "ForkKind", "GroupStop", "Killed",
           "OtherStop", "ProcessEvent", "SignalDelivery", "SyscallEntry", "SyscallExit",
           "TrapStop", "abi_of", "decode", "syscall_abi"]
