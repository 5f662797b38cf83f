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
from tracer.format import CallText, call_identity, format_entry
from tracer.handler import Decision, SyscallCall, Tracee
from tracer.output import EventKind, Fanout, SyscallRecord, Writer
from tracer.output import ProcessEvent as OutEvent
from tracer.syscalls import Abi
from tracer.syscalls.decode import is_error

_Send = Callable[[SyscallRecord], None]


def _unreadable(addr: int, size: int) -> bytes | None:
    return None


def _to_all(sends: list[_Send]) -> _Send | None:
    """One callable handing a record to each of ``sends`` in order (None for none)."""
    if not sends:
        return None
    if len(sends) == 1:
        return sends[0]

    def send(rec: SyscallRecord) -> None:
        for each in sends:
            each(rec)
    return send


class OutputRecorder:
    """A :class:`tracer.handler.Recorder` feeding one writer (a ``Fanout`` for several).

    What a syscall stop needs of the stopped tracee (its memory) is read at the stop;
    the records go to the writer at :meth:`flush`, which the loop calls once it has
    resumed the tracee, so that writing overlaps the tracee's run.  An entry goes out at
    once unless the writer says ``entries_may_wait`` (see :class:`tracer.output.Writer`).
    Anything recorded later first flushes what is pending: the order never changes.

    When the writer can ``hold()`` (trace-run's own writers can), it is made to hold
    what it writes, and :meth:`flush` ends with the writer's ``flush()``: what one stop
    produced goes out in one write(2) per file, with the signals blocked once.  The
    records of a plain ``Fanout`` go straight to its writers, only to those that want
    them (``needs_entries``), and a call is not formatted at all when no writer reads
    its text (``needs_text``: JSON Lines and the summary alone)."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self._open: dict[int, tuple[CallText | None, SyscallRecord]] = {}  # by the call's tid
        self._pending: list[tuple[_Send, SyscallRecord]] = []
        self._entries_wait = bool(getattr(writer, "entries_may_wait", False))
        writers = list(writer.writers) if type(writer) is Fanout else [writer]
        self._send_entry = _to_all([w.syscall_entry for w in writers
                                    if getattr(w, "needs_entries", True)])
        self._send_exit = _to_all([w.syscall_exit for w in writers])
        self._text = any(getattr(w, "needs_text", True) for w in writers)
        self._flush_writer: Callable[[], None] | None = None
        hold, flush = getattr(writer, "hold", None), getattr(writer, "flush", None)
        if callable(hold) and callable(flush):
            hold()
            self._flush_writer = flush

    def flush(self) -> None:
        """Hand the pending records to the writer, in order, and have it write them."""
        pending = self._pending
        if pending:
            self._pending = []
            for send, rec in pending:
                send(rec)
        if self._flush_writer is not None:
            self._flush_writer()

    def record_entry(self, call: SyscallCall, decision: Decision, tracee: Tracee) -> None:
        abi = call.abi
        nr = call.raw_nr if abi is Abi.X32 else call.nr
        text: CallText | None
        if self._text:
            text = format_entry(abi, nr, call.args, tracee.read_memory)
            rec = SyscallRecord(call.ts, call.pid, call.tid, abi, text.nr, text.name, text.args,
                                None, str(decision.action), None, text.entry)
        else:
            text = None
            nr, name, args = call_identity(abi, nr, call.args)
            rec = SyscallRecord(call.ts, call.pid, call.tid, abi, nr, name, args, None,
                                str(decision.action), None, "")
        self._open[call.tid] = (text, rec)
        if self._send_entry is not None:
            self._pending.append((self._send_entry, rec))
            if not self._entries_wait:
                self.flush()

    def record_exit(self, call: SyscallCall, ret: int | None, decision: Decision,
                    tracee: Tracee | None, ts: float) -> None:
        opened = self._open.pop(call.tid, None)
        if opened is None:
            return
        text, rec = opened
        duration = ts - call.ts if ret is not None else None
        if text is not None:
            reader = tracee.read_memory if tracee is not None else _unreadable
            done = rec.at_exit(text, ret, reader, duration=duration,
                               action=str(decision.action))
        else:
            abi = rec.abi
            errno = None
            if ret is not None and is_error(ret, abi):
                errno = -ret if ret < 0 else (1 << (32 if abi is Abi.I386 else 64)) - ret
            done = SyscallRecord(rec.ts, rec.pid, rec.tid, abi, rec.nr, rec.name, rec.args,
                                 ret, str(decision.action), errno, "", None, duration)
        if tracee is not None and tracee.tid != call.tid:  # execve by a non-leader thread
            done = dataclasses.replace(done, tid=tracee.tid, pid=tracee.pid)
        if self._send_exit is not None:
            self._pending.append((self._send_exit, done))

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
        if self._flush_writer is not None:
            self._flush_writer()


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
