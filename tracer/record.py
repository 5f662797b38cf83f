"""From the loop's reports to the writers of :mod:`tracer.output`.

The loop speaks in :class:`SyscallCall`, :class:`Decision` and :mod:`tracer.events`; the
writers take formatted :class:`SyscallRecord` s and :class:`ProcessEvent` s.  This is
where the two meet: inputs are formatted at the entry stop (before the call or another
thread can change them), outputs at the exit stop, both while the tracee is stopped.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from tracer.events import Exec, Exited, Fork, GroupStop, Killed, ProcessEvent, SignalDelivery
from tracer.format import CallText, format_entry
from tracer.handler import Decision, SyscallCall, Tracee
from tracer.output import EventKind, SyscallRecord, Writer
from tracer.output import ProcessEvent as OutEvent
from tracer.syscalls import Abi


def _unreadable(addr: int, size: int) -> bytes | None:
    return None


class OutputRecorder:
    """A :class:`tracer.handler.Recorder` feeding one writer (a ``Fanout`` for several).

    What a syscall stop needs of the stopped tracee (its memory) is read at the stop;
    the records go to the writer at :meth:`flush`, which the loop calls once it has
    resumed the tracee, so that writing overlaps the tracee's run.  An entry goes out at
    once unless the writer says ``entries_may_wait`` (see :class:`tracer.output.Writer`).
    Anything recorded later first flushes what is pending: the order never changes."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self._open: dict[int, tuple[CallText, SyscallRecord]] = {}  # by the call's tid
        self._pending: list[tuple[Callable[[SyscallRecord], None], SyscallRecord]] = []
        self._entries_wait = bool(getattr(writer, "entries_may_wait", False))

    def flush(self) -> None:
        """Hand the pending records to the writer, in order."""
        pending = self._pending
        if pending:
            self._pending = []
            for write, rec in pending:
                write(rec)

    def record_entry(self, call: SyscallCall, decision: Decision, tracee: Tracee) -> None:
        nr = call.raw_nr if call.abi is Abi.X32 else call.nr
        text = format_entry(call.abi, nr, call.args, tracee.read_memory)
        rec = SyscallRecord.at_entry(text, ts=call.ts, pid=call.pid, tid=call.tid,
                                     action=str(decision.action))
        self._open[call.tid] = (text, rec)
        self._pending.append((self.writer.syscall_entry, rec))
        if not self._entries_wait:
            self.flush()

    def record_exit(self, call: SyscallCall, ret: int | None, decision: Decision,
                    tracee: Tracee | None, ts: float) -> None:
        opened = self._open.pop(call.tid, None)
        if opened is None:
            return
        text, rec = opened
        reader = tracee.read_memory if tracee is not None else _unreadable
        done = rec.at_exit(text, ret, reader, duration=ts - call.ts if ret is not None else None,
                           action=str(decision.action))
        if tracee is not None and tracee.tid != call.tid:  # execve by a non-leader thread
            done = dataclasses.replace(done, tid=tracee.tid, pid=tracee.pid)
        self._pending.append((self.writer.syscall_exit, done))

    def record_event(self, ev: ProcessEvent) -> None:
        self.flush()
        out: OutEvent
        match ev:
            case Fork(child=child):
                out = OutEvent(EventKind.FORK, ev.ts, ev.pid, ev.tid, child=child)
            case Exec(former_tid=former):
                out = OutEvent(EventKind.EXEC, ev.ts, ev.pid, ev.tid, path=_exe(ev.pid),
                               former_tid=former if former != ev.tid else None)
            case SignalDelivery(sig=sig, siginfo=info):
                out = OutEvent(EventKind.SIGNAL, ev.ts, ev.pid, ev.tid, signal=sig,
                               siginfo=info)
            case GroupStop(sig=sig):
                out = OutEvent(EventKind.STOP, ev.ts, ev.pid, ev.tid, signal=sig)
            case Exited(status=status):
                out = OutEvent(EventKind.EXIT, ev.ts, ev.pid, ev.tid, status=status)
            case Killed(sig=sig, core_dumped=core):
                out = OutEvent(EventKind.EXIT, ev.ts, ev.pid, ev.tid, signal=sig,
                               core_dumped=core)
            case _:
                return
        self.writer.process_event(out)


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
