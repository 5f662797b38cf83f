"""``-p PID[,PID...]``: attach to running processes, as strace does.

Each task is PTRACE_SEIZEd (no EXITKILL: trace-run's death must not kill what it did
not start) and PTRACE_INTERRUPTed, so that its first stop lets the loop start tracing
its syscalls.  Every thread of the named process is attached (``/proc/PID/task``, read
again until no new thread shows up: a thread not attached yet may start another), with
or without ``follow``: strace 6.1 without -f attaches the named thread only, trace-run
the whole process (a user naming a PID means the program).  ``follow`` (-f) adds, through
the fork options, every child and thread from then on.

Messages, through the ``say`` callback, are strace's (``Process 1234 attached``,
``Process 1234 attached with 3 threads``, ``attach: ptrace(PTRACE_SEIZE, 1234): No
such process``); the caller prefixes its name and drops them under -q.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from tracer import ptrace_api as pt
from tracer.tracee import tgid_of

#: The options of an attached task: no PTRACE_O_EXITKILL.
ATTACH_OPTIONS = pt.TRACE_OPTIONS & ~pt.O_EXITKILL
FOLLOW_OPTIONS = pt.O_TRACEFORK | pt.O_TRACEVFORK | pt.O_TRACECLONE

Say = Callable[[str], None]


class AttachError(Exception):
    """A bad ``-p`` argument (strace's wording); ``exit_code`` is strace's (1)."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class AttachedTask:
    """One task seized for the loop: ``tid`` of thread group ``tgid``."""

    tid: int
    tgid: int


def options(follow: bool, *, spawned: bool = False) -> int:
    """The ptrace options of a run: without ``follow`` no fork/vfork/clone events (the
    children run untraced); ``spawned`` keeps EXITKILL (trace-run's own command)."""
    base = pt.TRACE_OPTIONS if spawned else ATTACH_OPTIONS
    return base if follow else base & ~FOLLOW_OPTIONS


def parse_pids(args: Iterable[str]) -> list[int]:
    """The pids of every ``-p`` argument, in order, each once.  An argument may hold
    several, split at commas, spaces, tabs or newlines (``-p "$(pidof prog)"``)."""
    pids: list[int] = []
    me = os.getpid()
    for arg in args:
        for text in arg.replace("\t", ",").replace("\n", ",").replace(" ", ",").split(","):
            pid = int(text) if text.isdigit() else 0
            if pid <= 0 or pid > 0x7FFFFFFF:
                raise AttachError(f"Invalid process id: '{text}'")
            if pid == me:
                raise AttachError("I'm sorry, I can't let you do that, Dave.")
            if pid not in pids:
                pids.append(pid)
    return pids


def _seize(tid: int, opts: int) -> str | None:
    """SEIZE and INTERRUPT ``tid``; None, or the failed request's name and error."""
    try:
        pt.seize(tid, opts)
    except OSError as exc:
        return f"PTRACE_SEIZE, {tid}): {os.strerror(exc.errno or errno.EIO)}"
    try:
        pt.interrupt(tid)
    except OSError as exc:
        return f"PTRACE_INTERRUPT, {tid}): {os.strerror(exc.errno or errno.EIO)}"
    return None


def _threads(tid: int) -> set[int]:
    try:
        return {int(name) for name in os.listdir(f"/proc/{tid}/task") if name.isdigit()}
    except OSError:
        return set()


def attach(pids: Sequence[int], follow: bool, *, say: Say | None = None
           ) -> list[AttachedTask]:
    """Seize every thread of every process of ``pids`` (``follow``: with the options
    that attach their future children too).  A process
    that cannot be attached is reported through ``say`` and left out; the caller ends
    the run (strace: exit 1) when nothing was attached and there is no command."""
    opts = options(follow)
    tasks: list[AttachedTask] = []
    for pid in pids:
        failure = _seize(pid, opts)
        if failure is not None:
            if say is not None:
                say(f"attach: ptrace({failure}")
            continue
        tgid = tgid_of(pid)
        tasks.append(AttachedTask(pid, tgid))
        threads = 1
        # every thread, with or without -f (-f: also their future children)
        seen = {pid}
        while True:  # until a reading finds no thread not seen yet
            new = _threads(pid) - seen
            if not new:
                break
            seen |= new
            for tid in sorted(new):
                # EPERM: already ours (a seized thread's clone auto-attached it);
                # the loop adopts it at its first stop.  ESRCH: it exited.
                if _seize(tid, opts) is None:
                    tasks.append(AttachedTask(tid, tgid))
                    threads += 1
        if say is not None:
            say(f"Process {pid} attached with {threads} threads" if threads > 1
                else f"Process {pid} attached")
    return tasks


def release(tasks: Iterable[AttachedTask]) -> None:
    """Undo :func:`attach` for tasks the loop will never run (an error before it
    started): each is stopped by its INTERRUPT; wait for that stop and detach."""
    for task in tasks:
        with contextlib.suppress(OSError):
            _, status = os.waitpid(task.tid, pt.WALL)
            # a signal-delivery stop came first: give the signal back
            sig = os.WSTOPSIG(status) if os.WIFSTOPPED(status) and not status >> 16 else 0
            pt.detach(task.tid, sig)
