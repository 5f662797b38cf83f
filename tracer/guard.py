"""trace-run is outside the sandbox: no tracee can stop, signal, trace or tamper with it.

A traced program could otherwise switch its sandbox off with one syscall: ``ptrace``
(PTRACE_SEIZE + PTRACE_INTERRUPT) or ``kill(getppid(), SIGSTOP)`` freeze trace-run
and, with it, every tracee (a hang); SIGTERM to a trace-run started with
``--detach-on-exit`` detaches the policy; ``kill(0, SIGUSR1)`` kills a Python process
that has no handler for it (and PTRACE_O_EXITKILL takes every tracee along);
``process_vm_writev`` or ``prlimit64`` on trace-run's pid rewrite its memory or its
limits.  A container's parent is outside the container's pid namespace and out of its
reach; :func:`guard` gives trace-run the same place.

The loop calls :func:`guard` at the syscall entry of a traced thread whose number is in
:data:`GUARDED_NRS` (one set test per syscall; the seccomp prefilter always traces these
numbers), before the handler (the probe or the policy) and before ``-e trace=``
filtering.  It returns None for nearly every call (the call is not aimed at trace-run)
and the handler decides as usual; otherwise a :class:`GuardVerdict`, which the loop
applies *instead of* the handler: the call is skipped and returns
:attr:`GuardVerdict.return_value`, and :func:`deliver` sends the signals of a
redirected group signal.  :func:`guard` itself changes nothing: it reads the call's
arguments and /proc (through :class:`System`, faked in the tests).

What is refused (the call does not run):

========================================  ============================================
call aimed at trace-run (its pid or one   answer
of its threads)
========================================  ============================================
``ptrace(PTRACE_ATTACH|PTRACE_SEIZE)``    ``EPERM``, as for a process that has a tracer
``ptrace(any other request)``             ``ESRCH``, what the kernel answers a caller
                                          that is not the target's tracer
``kill``, ``tkill``, ``tgkill``,          ``EPERM`` (no permission), for every signal
``rt_sigqueueinfo``,                      but 0: signal 0 sends nothing, and
``rt_tgsigqueueinfo``                     ``kill(getppid(), 0)`` ("is my parent
                                          alive?") runs as it would
``pidfd_open``                            ``EPERM``: no pidfd of trace-run, so no
                                          pidfd_send_signal/pidfd_getfd through one
``pidfd_send_signal``, ``pidfd_getfd``,   ``EPERM``, whatever the fd (a pidfd, or a
``process_madvise`` on an fd of           ``/proc/PID`` directory fd), checked through
trace-run                                 /proc/TGID/fdinfo
``process_vm_readv``, ``process_vm_       ``EPERM`` (no ptrace access)
writev``
``prlimit64`` setting a limit             ``EPERM``; reading one runs
========================================  ============================================

Group signals: ``kill(0, SIG)``, ``kill(-PGRP, SIG)`` with trace-run's process group,
``kill(-1, SIG)`` and ``pidfd_send_signal(PIDFD_SIGNAL_PROCESS_GROUP)`` would reach
trace-run with the rest of the group.  The call is skipped and *redirected*: trace-run
sends SIG itself (:func:`deliver`) to every other member the caller may signal (the
kernel's kill_ok_by_cred: a real or effective uid of the caller equal to the target's
real or saved uid, CAP_KILL, or SIGCONT within the session), and the call returns
what the kernel would (0 if any member got it; trace-run counts as one), so the
members are stopped, or handle or die of the signal, as without trace-run.  This holds
for every signal, stop signals (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU: trace-run must not
stop) and fatal ones alike: a Python process dies of SIGUSR1 or SIGALRM, and SIGTERM,
SIGINT or SIGHUP would end the trace (under ``--policy``, with the tracees killed;
otherwise strace's clean-up, or a detach with ``--detach-on-exit``).  So a signal the
tracee sends never reaches trace-run, in every mode; strace, which takes such a signal
itself, differs there.  What differs from the kernel: the members see trace-run's
pid in ``si_pid`` (SI_USER from trace-run, not from the caller), and a process that
joins the group between the /proc scan and the sending does not get the signal.

The numbers compared are those of trace-run's pid namespace; a tracee in another pid
namespace (it made one with CLONE_NEWPID) cannot name trace-run at all, and is left
alone.  Pid arguments are C ints: the kernel takes the low 32 bits (sign-extended) of
the register whatever the ABI, and so does the guard (``kill(0xFFFFFFFF00000000 |
PID)`` is ``kill(PID)``).

Not guarded (see the README's limits): ``/proc/<trace-run>/mem`` opened by a root
tracee (and other /proc files of trace-run); scheduling calls on trace-run's pid
(``setpriority``, ``sched_setattr``...), which can slow it, not stop it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Protocol

from probes.abi import X32_SYSCALL_BIT, Abi, syscall_number
from tracer.handler import Action, Decision

__all__ = [
    "GUARDED_NAMES",
    "GUARDED_NRS",
    "GuardKind",
    "GuardVerdict",
    "ProcSystem",
    "Process",
    "Protected",
    "System",
    "deliver",
    "guard",
]

GUARDED_NAMES: Final = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
                        "ptrace", "pidfd_open", "pidfd_send_signal", "pidfd_getfd",
                        "process_vm_readv", "process_vm_writev", "process_madvise",
                        "prlimit64")
"""The syscalls :func:`guard` must see."""


def _numbers(abi: Abi) -> dict[int, str]:
    out = {}
    for name in GUARDED_NAMES:
        nr = syscall_number(abi, name)
        if nr is not None:
            out[nr & ~X32_SYSCALL_BIT if abi is Abi.X32 else nr] = name
    return out


_BY_NR: Final[Mapping[Abi, Mapping[int, str]]] = MappingProxyType(
    {abi: MappingProxyType(_numbers(abi)) for abi in Abi})

GUARDED_NRS: Final[Mapping[Abi, frozenset[int]]] = MappingProxyType(
    {abi: frozenset(table) for abi, table in _BY_NR.items()})
"""Per ABI, the numbers :func:`guard` must see, as ``SyscallCall.nr`` gives them (x32:
without __X32_SYSCALL_BIT).  The prefilter traces them always (add X32_SYSCALL_BIT for
an x32 filter number)."""

# include/uapi/linux/ptrace.h, pidfd.h
_PTRACE_TRACEME: Final = 0
_PTRACE_ATTACH: Final = 16
_PTRACE_SEIZE: Final = 0x4206
_PIDFD_SIGNAL_PROCESS_GROUP: Final = 4
_CAP_KILL: Final = 5
_PF_KTHREAD: Final = 0x00200000
_NSIG: Final = 64


class GuardKind(StrEnum):
    REFUSE = "refuse"
    """Skipped; returns ``-errno``."""
    REDIRECT = "redirect"
    """A group signal: skipped, returns :attr:`GuardVerdict.return_value`, and trace-run
    sends the signal to :attr:`GuardVerdict.targets` (:func:`deliver`)."""


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """What becomes of a call aimed at trace-run: it never runs.  ``reason`` says why,
    for a warning (``kill(trace-run, SIGSTOP)``)."""

    kind: GuardKind
    return_value: int
    reason: str
    sig: int = 0
    targets: tuple[int, ...] = ()

    @property
    def decision(self) -> Decision:
        """The :class:`~tracer.handler.Decision` the loop applies and records: DENY with
        the errno, or (a redirect that succeeded) OVERRIDE with 0."""
        if self.return_value < 0:
            return Decision(Action.DENY, self.return_value)
        return Decision(Action.OVERRIDE, self.return_value)


def deliver(verdict: GuardVerdict) -> None:
    """Send a redirected group signal: ``kill(pid, sig)`` to each target, by trace-run.
    A target gone meanwhile, or one trace-run may not signal, is passed over."""
    if verdict.kind is not GuardKind.REDIRECT or not verdict.sig:
        return
    for pid in verdict.targets:
        with contextlib.suppress(OSError):
            os.kill(pid, verdict.sig)


# ---- what the guard reads of the system ----------------------------------------------

@dataclass(frozen=True, slots=True)
class Process:
    """One process as /proc shows it: ids, and the credentials kill() checks."""

    pid: int
    pgrp: int
    session: int
    ruid: int = 0
    euid: int = 0
    suid: int = 0
    cap_kill: bool = False
    kthread: bool = False


class System(Protocol):
    """What :func:`guard` reads: /proc (:class:`ProcSystem`), or a fake in tests."""

    def tids(self, pid: int) -> frozenset[int]:
        """The thread ids of process ``pid`` (empty if it is gone)."""
        ...

    def process(self, pid: int) -> Process | None: ...

    def processes(self) -> Iterable[Process]:
        """Every process (thread group) of trace-run's pid namespace."""
        ...

    def fd_target(self, tgid: int, fd: int) -> int | None:
        """The process a pidfd (or a /proc/PID directory fd) of ``tgid`` names."""
        ...

    def same_pid_ns(self, tid: int) -> bool:
        """Whether ``tid`` lives in trace-run's pid namespace."""
        ...


class ProcSystem:
    """:class:`System` from /proc."""

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        try:
            self._ns: str | None = os.readlink(f"{proc}/self/ns/pid")
        except OSError:
            self._ns = None

    def tids(self, pid: int) -> frozenset[int]:
        try:
            return frozenset(int(t) for t in os.listdir(f"{self.proc}/{pid}/task"))
        except (OSError, ValueError):
            return frozenset()

    def process(self, pid: int) -> Process | None:
        try:
            with open(f"{self.proc}/{pid}/stat", "rb") as f:
                stat = f.read()
            with open(f"{self.proc}/{pid}/status", "rb") as f:
                status = f.read()
        except OSError:
            return None
        return _parse_process(pid, stat, status)

    def processes(self) -> Iterable[Process]:
        try:
            names = os.listdir(self.proc)
        except OSError:
            return
        for name in names:
            if name.isdigit():
                p = self.process(int(name))
                if p is not None:
                    yield p

    def fd_target(self, tgid: int, fd: int) -> int | None:
        try:
            link = os.readlink(f"{self.proc}/{tgid}/fd/{fd}")
        except OSError:
            return None
        if link.startswith("anon_inode:") and "pidfd" in link:
            try:
                with open(f"{self.proc}/{tgid}/fdinfo/{fd}", "rb") as f:
                    for line in f:
                        if line.startswith(b"Pid:"):
                            pid = int(line.split()[1])
                            return pid if pid > 0 else None
            except (OSError, ValueError, IndexError):
                return None
            return None
        head, _, tail = link.rpartition("/")
        if head == self.proc and tail.isdigit():   # a /proc/PID directory fd
            return int(tail)
        return None

    def same_pid_ns(self, tid: int) -> bool:
        try:
            return self._ns is None or os.readlink(f"{self.proc}/{tid}/ns/pid") == self._ns
        except OSError:
            return True


def _parse_process(pid: int, stat: bytes, status: bytes) -> Process | None:
    try:
        fields = stat[stat.rindex(b")") + 2:].split()
        pgrp, session, flags = int(fields[2]), int(fields[3]), int(fields[6])
        uids: list[int] = [0, 0, 0]
        caps = 0
        for line in status.splitlines():
            if line.startswith(b"Uid:"):
                uids = [int(v) for v in line.split()[1:4]]
            elif line.startswith(b"CapEff:"):
                caps = int(line.split()[1], 16)
    except (ValueError, IndexError):
        return None
    return Process(pid, pgrp, session, uids[0], uids[1], uids[2],
                   bool(caps >> _CAP_KILL & 1), bool(flags & _PF_KTHREAD))


# ---- who is protected ----------------------------------------------------------------

@dataclass(slots=True)
class Protected:
    """trace-run: its pid (thread group id), its threads and its process group, as
    :class:`System` reads them when a call asks."""

    pid: int = field(default_factory=os.getpid)
    system: System = field(default_factory=ProcSystem)

    def tids(self) -> frozenset[int]:
        return self.system.tids(self.pid) | {self.pid}

    def pgrp(self) -> int:
        me = self.system.process(self.pid)
        return me.pgrp if me is not None else os.getpgid(0)


_DEFAULT: list[Protected] = []


def _default() -> Protected:
    if not _DEFAULT or _DEFAULT[0].pid != os.getpid():
        _DEFAULT[:] = [Protected()]
    return _DEFAULT[0]


# ---- the guard -----------------------------------------------------------------------

def _int(value: int) -> int:
    """A C int argument: the register's low 32 bits, sign-extended."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def _refuse(err: int, what: str) -> GuardVerdict:
    return GuardVerdict(GuardKind.REFUSE, -err, f"{what} refused: trace-run is outside the "
                        "sandbox")


def guard(tid: int, tgid: int, abi: Abi, nr: int, args: Sequence[int],
          me: Protected | None = None) -> GuardVerdict | None:
    """At the syscall entry of ``tid`` (of process ``tgid``): None when the call is not
    aimed at trace-run (nearly always), else what to do instead of running it.

    ``nr`` is the number within ``abi`` (x32: without __X32_SYSCALL_BIT), ``args`` the
    six arguments as the stop reported them; ``me`` who is protected (default: this
    process)."""
    name = _BY_NR[abi].get(nr)
    if name is None:
        return None
    me = me if me is not None else _default()
    if not me.system.same_pid_ns(tid):
        return None
    a = [*args, 0, 0, 0, 0, 0, 0][:6]
    match name:
        case "kill":
            return _kill(tgid, _int(a[0]), _int(a[1]), me)
        case "tkill":
            return _to_thread(None, _int(a[0]), _int(a[1]), me, name)
        case "tgkill":
            return _to_thread(_int(a[0]), _int(a[1]), _int(a[2]), me, name)
        case "rt_sigqueueinfo":
            pid, sig = _int(a[0]), _int(a[1])
            if pid == me.pid and 0 < sig <= _NSIG:
                return _refuse(errno.EPERM, f"{name}(trace-run, {_signame(sig)})")
        case "rt_tgsigqueueinfo":
            return _to_thread(_int(a[0]), _int(a[1]), _int(a[2]), me, name)
        case "ptrace":
            return _ptrace(a[0], _int(a[1]), me)
        case "pidfd_open" | "process_vm_readv" | "process_vm_writev":
            if _int(a[0]) in me.tids():
                return _refuse(errno.EPERM, f"{name}(trace-run)")
        case "prlimit64":
            if _int(a[0]) in me.tids() and a[2] != 0:
                return _refuse(errno.EPERM, f"{name}(trace-run, new limit)")
        case "pidfd_send_signal":
            return _pidfd_signal(tid, tgid, _int(a[0]), _int(a[1]), a[3] & 0xFFFFFFFF, me)
        case "pidfd_getfd" | "process_madvise":
            if me.system.fd_target(tgid, _int(a[0])) in me.tids():
                return _refuse(errno.EPERM, f"{name}(pidfd of trace-run)")
    return None


def _ptrace(request: int, pid: int, me: Protected) -> GuardVerdict | None:
    request &= 0xFFFFFFFFFFFFFFFF
    if request == _PTRACE_TRACEME or pid not in me.tids():
        return None
    if request in (_PTRACE_ATTACH, _PTRACE_SEIZE):
        return _refuse(errno.EPERM, "ptrace(PTRACE_ATTACH/SEIZE, trace-run)")
    return _refuse(errno.ESRCH, f"ptrace({request:#x}, trace-run)")


def _to_thread(tgid: int | None, tid: int, sig: int, me: Protected,
               name: str) -> GuardVerdict | None:
    if not 0 < sig <= _NSIG or tid not in me.tids():
        return None
    if tgid is not None and tgid != me.pid:
        return None   # the kernel answers ESRCH: nothing is sent
    return _refuse(errno.EPERM, f"{name}(trace-run, {_signame(sig)})")


def _kill(tgid: int, pid: int, sig: int, me: Protected) -> GuardVerdict | None:
    if not 0 < sig <= _NSIG:
        return None     # signal 0 sends nothing; a bad one is EINVAL from the kernel
    if pid > 0:
        if pid == me.pid:
            return _refuse(errno.EPERM, f"kill(trace-run, {_signame(sig)})")
        return None
    if pid == -1:
        return _group(tgid, sig, me, everyone=True, what=f"kill(-1, {_signame(sig)})")
    if pid == 0:
        caller = me.system.process(tgid)
        if caller is None or caller.pgrp != me.pgrp():
            return None
        return _group(tgid, sig, me, what=f"kill(0, {_signame(sig)})")
    if pid == -0x80000000 or -pid != me.pgrp():
        return None
    return _group(tgid, sig, me, what=f"kill(-{-pid}, {_signame(sig)})")


def _pidfd_signal(tid: int, tgid: int, fd: int, sig: int, flags: int,
                  me: Protected) -> GuardVerdict | None:
    if not 0 < sig <= _NSIG:
        return None
    target = me.system.fd_target(tgid, fd)
    if target is None:
        return None
    if target in me.tids():
        return _refuse(errno.EPERM, f"pidfd_send_signal(trace-run, {_signame(sig)})")
    if flags & _PIDFD_SIGNAL_PROCESS_GROUP:
        proc = me.system.process(target)
        if proc is not None and proc.pgrp == me.pgrp():
            return _group(tgid, sig, me, what="pidfd_send_signal(PIDFD_SIGNAL_PROCESS_GROUP,"
                          f" {_signame(sig)})")
    return None


def _may_kill(caller: Process, target: Process, sig: int) -> bool:
    """The kernel's check_kill_permission for a user signal (same user namespace)."""
    if caller.pid == target.pid or caller.cap_kill:
        return True
    if sig == signal.SIGCONT and caller.session == target.session:
        return True
    return bool({caller.ruid, caller.euid} & {target.ruid, target.suid})


def _group(tgid: int, sig: int, me: Protected, *, what: str,
           everyone: bool = False) -> GuardVerdict | None:
    """A group signal that trace-run is among the targets of: the other members."""
    system = me.system
    caller = system.process(tgid)
    if caller is None:
        return None    # gone: it won't send anything
    pgrp = me.pgrp()
    if everyone:   # kill(-1): all but init, the caller and kernel threads
        members = [p for p in system.processes()
                   if p.pid > 1 and p.pid != tgid and not p.kthread]
    else:
        members = [p for p in system.processes() if p.pgrp == pgrp]
    mine = next((p for p in members if p.pid == me.pid), None)
    if mine is None or not _may_kill(caller, mine, sig):
        return None    # it does not reach trace-run: the kernel does it all
    targets = [p.pid for p in members if p.pid != me.pid and _may_kill(caller, p, sig)]
    # The kernel's answer: 0, since trace-run is one that got it (and kill(-1) is 0
    # once any process was tried).
    reason = f"{what} reaches trace-run: sent to the {len(targets)} other process(es)"
    return GuardVerdict(GuardKind.REDIRECT, 0, reason, sig, tuple(targets))
