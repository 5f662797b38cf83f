"""From the loop's reports to the writers of :mod:`tracer.output`.

The loop speaks in :class:`SyscallCall`, :class:`Decision` and the process events of
:mod:`tracer.events`; the writers take formatted :class:`SyscallRecord` s and the same
process events.  This is
where the two meet, in two steps, because the loop is the tracee's bottleneck: what is
done while the tracee is stopped delays it, what is done after the loop resumed it
overlaps its run.

* At the stops (``record_entry`` / ``record_exit``), only what needs the stopped tracee:
  the memory the text will show is read (:func:`tracer.format.fetch_entry`, inputs at the
  entry stop, before the call or another thread can change them;
  ``FetchedCall.fetch_exit``, outputs at the exit stop), and the numbers are noted.
* At :meth:`OutputRecorder.flush`, which the loop calls once it has resumed the tracee,
  everything else: the text is rendered from what was read, the records are built and
  handed to the writers (strace lines, JSON, the summary), and written.

One syscall is carried by four types along the way, each a stage of that design:

1. :class:`tracer.handler.SyscallCall`, made by the loop at the entry stop: what the
   handler (the policy, the probe) and the recorders see of the call (ids, ABI, number,
   name, raw arguments, registers, time).
2. :class:`tracer.format.FetchedCall`, made here at the entry stop: the memory the text
   will show, read then (and, at the exit stop, the outputs, in a dict it returns).
3. :class:`tracer.format.CallText`, rendered from it at the flush: the entry text, and
   the whole call's text with the exit snapshot.
4. :class:`tracer.output.records.SyscallRecord`, built at the flush: what the writers
   get, once for the entry and once complete.

Between the stops and the flush the recorder keeps each call's stage-1 and 2 values and
its exit stop's facts in an :class:`_OpenCall`.

The exception: an entry that must be written before its call runs (the writer is not
``entries_may_wait``: stderr, a terminal, a pipe the traced program shares) is rendered
and written at its entry stop, as strace does; its exit still waits for the flush.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from probes.abi import Abi
from tracer.events import ProcessEvent
from tracer.fd_info import describe_fd, returns_fd, stop_reader
from tracer.format import FetchedCall, call_identity, fetch_entry, is_error, replay
from tracer.format_options import DEFAULT as DEFAULT_FORMAT
from tracer.format_options import FormatOptions
from tracer.formatter import formatter
from tracer.handler import Action, Decision, SyscallCall, Tracee
from tracer.output.records import SyscallRecord, Writer, errno_of
from tracer.output.sink import Fanout
from tracer.regs import OFFSET
from tracer.syscalls.decode.common import fd_suffix

_Send = Callable[[SyscallRecord], None]
_X32 = Abi.X32   # a global: an enum member read from its class costs ~0.1 µs


_SP = OFFSET["sp"]


def _text_args(call: SyscallCall) -> tuple[int, ...]:
    """The values the call's text is rendered from: its six arguments, and for
    rt_sigreturn, which has none, the stack pointer (strace shows the signal mask the
    frame there restores: ``rt_sigreturn({mask=[]})``)."""
    if call.name != "rt_sigreturn":
        return call.args
    return (*call.args, int.from_bytes(call.regs[_SP:_SP + 8], "little"))


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


class _OpenCall:
    """Per-syscall type (the recorder's own): one syscall from its entry stop until the
    flush that hands its exit record on, holding what the stops noted for that flush.

    Set at the entry stop: ``call``, ``action`` (the entry's verdict) and ``fetched``
    (None when no writer reads text); at the exit stop: ``ret``, ``snap`` (the outputs
    read then), ``ts`` and ``exit_action``, and ``moved`` = (tid, pid) when a non-leader
    thread's execve ended under the leader's tid.  ``rec`` is the entry record, made
    once.  The exit fields are unset until the exit stop."""

    __slots__ = ("action", "call", "exit_action", "fetched", "moved", "rec", "ret", "ret_info",
                 "snap", "ts")

    def __init__(self, call: SyscallCall, action: Action, fetched: FetchedCall | None) -> None:
        self.call = call
        self.action = action
        self.fetched = fetched
        self.rec: SyscallRecord | None = None
        self.moved: tuple[int, int] | None = None
        self.ret: int | None
        self.snap: dict[tuple[int, int], bytes | None] | None
        self.ts: float
        self.exit_action: Action
        self.ret_info: bytes | None   # -y: what the result descriptor is (set then only)


class OutputRecorder:
    """A :class:`tracer.handler.Recorder` feeding one writer (a ``Fanout`` for several).

    What a syscall stop needs of the stopped tracee (its memory) is read at the stop;
    the text is rendered, and the records go to the writer, at :meth:`flush`, which the
    loop calls once it has resumed the tracee, so that all of it overlaps the tracee's
    run (see the module docstring).  An entry is rendered and goes out at once unless
    the writer says ``entries_may_wait`` (see :class:`tracer.output.Writer`).  Anything
    recorded later first flushes what is pending: the order never changes.

    When the writer can ``hold()`` (trace-run's own writers can), it is made to hold
    what it writes, and :meth:`flush` ends with the writer's ``flush()``: what one stop
    produced goes out in one write(2) per file, with the signals blocked once.  The
    records of a plain ``Fanout`` go straight to its writers, only to those that want
    them (``needs_entries``), and a call's memory is neither read nor rendered when no
    writer reads its text (``needs_text``: JSON Lines and the summary alone).

    ``fmt`` is strace's -s, -x, -y, -X and -v (:class:`tracer.format_options.FormatOptions`);
    any value but the default swaps in the stop methods below that honour it, so the
    default path is the one it always was."""

    def __init__(self, writer: Writer, fmt: FormatOptions = DEFAULT_FORMAT) -> None:
        self.writer = writer
        self.fmt = fmt
        self._open: dict[int, _OpenCall] = {}  # by the call's tid
        self._pending: list[tuple[Callable[[_OpenCall], None], _OpenCall]] = []
        self._entries_wait = bool(getattr(writer, "entries_may_wait", False))
        writers = list(writer.writers) if type(writer) is Fanout else [writer]
        self._send_entry = _to_all([w.syscall_entry for w in writers
                                    if getattr(w, "needs_entries", True)])
        self._send_exit = _to_all([w.syscall_exit for w in writers])
        self._text = (any(getattr(w, "needs_text", True) for w in writers)
                      and (self._send_entry is not None or self._send_exit is not None))
        self._flush_writer: Callable[..., None] | None = None
        hold, flush = getattr(writer, "hold", None), getattr(writer, "flush", None)
        if callable(hold) and callable(flush):
            hold()
            self._flush_writer = flush
        if fmt != DEFAULT_FORMAT:   # instance attributes: the loop finds these first
            self._formatter = formatter(fmt)
            self.record_entry = self._record_entry_fmt  # type: ignore[method-assign]
            self.record_exit = self._record_exit_fmt  # type: ignore[method-assign]
            self._exit_out = self._exit_out_fmt  # type: ignore[method-assign]

    def flush(self) -> None:
        """Render the pending records, in order, hand them to the writer, and have it
        write them."""
        pending = self._pending
        if pending:
            self._pending = []
            for job, item in pending:
                job(item)
        if self._flush_writer is not None:
            self._flush_writer()

    def idle(self) -> None:
        """The loop is about to wait for tracees that all run: write what is held, the
        beginning of an unfinished line too (a call that blocks shows at once, as its
        entry does with strace -o; while the calls return quickly, a line still goes
        out in one write)."""
        self.flush()
        if self._flush_writer is not None:
            self._flush_writer(True)

    # ---- at the stops ----------------------------------------------------------------

    def record_entry(self, call: SyscallCall, decision: Decision, tracee: Tracee) -> None:
        """At the entry stop: read the inputs the text will show; render nothing unless
        the entry must be written now."""
        fetched = None
        now = not self._entries_wait and self._send_entry is not None
        if self._text:
            abi = call.abi
            fetched = fetch_entry(abi, call.raw_nr if abi is _X32 else call.nr,
                                  _text_args(call), tracee.read_memory, now=now)
        opened = self._open[call.tid] = _OpenCall(call, decision.action, fetched)
        if self._send_entry is not None:
            self._pending.append((self._entry_out, opened))
            if now:
                self.flush()

    def record_exit(self, call: SyscallCall, ret: int | None, decision: Decision,
                    tracee: Tracee | None, ts: float) -> None:
        """At the exit stop (``tracee`` None and ``ret`` None: the call never returned):
        read the outputs the text will show; render nothing."""
        opened = self._open.pop(call.tid, None)
        if opened is None or self._send_exit is None:
            return
        fetched = opened.fetched
        opened.snap = None if ret is None or fetched is None else fetched.fetch_exit(
            ret, tracee.read_memory if tracee is not None else _unreadable)
        opened.ret = ret
        opened.ts = ts
        opened.exit_action = decision.action
        if tracee is not None and tracee.tid != call.tid:  # execve by a non-leader thread
            opened.moved = (tracee.tid, tracee.pid)
        self._pending.append((self._exit_out, opened))

    # ---- at the stops, with format options other than the default -----------------------

    def _reader(self, tracee: Tracee) -> Callable[[int, int], bytes | None]:
        yflag = self.fmt.yflag
        if yflag:
            return stop_reader(tracee.tid, tracee.read_memory, yflag)
        return tracee.read_memory

    def _record_entry_fmt(self, call: SyscallCall, decision: Decision, tracee: Tracee) -> None:
        """:meth:`record_entry` with ``self.fmt``."""
        fetched = None
        now = not self._entries_wait and self._send_entry is not None
        if self._text:
            abi = call.abi
            fetched = self._formatter.fetch_entry(abi, call.raw_nr if abi is _X32 else call.nr,
                                                  _text_args(call), self._reader(tracee),
                                                  now=now)
        opened = self._open[call.tid] = _OpenCall(call, decision.action, fetched)
        if self._send_entry is not None:
            self._pending.append((self._entry_out, opened))
            if now:
                self.flush()

    def _record_exit_fmt(self, call: SyscallCall, ret: int | None, decision: Decision,
                         tracee: Tracee | None, ts: float) -> None:
        """:meth:`record_exit` with ``self.fmt``: with -y, a descriptor the call returns
        is looked up now."""
        opened = self._open.pop(call.tid, None)
        if opened is None or self._send_exit is None:
            return
        fetched = opened.fetched
        opened.snap = None if ret is None or fetched is None else fetched.fetch_exit(
            ret, self._reader(tracee) if tracee is not None else _unreadable)
        opened.ret_info = None
        if (self.fmt.yflag and fetched is not None and tracee is not None and ret is not None
                and not is_error(ret, call.abi) and returns_fd(call.name, call.args)):
            opened.ret_info = describe_fd(tracee.tid, ret, self.fmt.yflag)
        opened.ret = ret
        opened.ts = ts
        opened.exit_action = decision.action
        if tracee is not None and tracee.tid != call.tid:  # execve by a non-leader thread
            opened.moved = (tracee.tid, tracee.pid)
        self._pending.append((self._exit_out, opened))

    def _exit_out_fmt(self, c: _OpenCall) -> None:
        """:meth:`_exit_out`, the result followed by its descriptor's path with -y."""
        if c.ret_info is None or c.fetched is None:
            OutputRecorder._exit_out(self, c)
            return
        rec = self._entry_record(c)
        ret = c.ret
        done = rec.at_exit(c.fetched.render(), ret, replay(c.snap),
                           duration=c.ts - c.call.ts if ret is not None else None,
                           action=c.exit_action)
        done = dataclasses.replace(
            done, result=done.result_text() + fd_suffix(c.ret_info, self.fmt.xflag))
        if c.moved is not None:
            done = dataclasses.replace(done, tid=c.moved[0], pid=c.moved[1])
        self._send_exit(done)  # type: ignore[misc]

    # ---- after the resume (flush) ----------------------------------------------------

    def _entry_record(self, c: _OpenCall) -> SyscallRecord:
        """The call's record as known at its entry (made once)."""
        rec = c.rec
        if rec is None:
            call = c.call
            abi = call.abi
            if c.fetched is not None:
                text = c.fetched.render()
                rec = SyscallRecord(call.ts, call.pid, call.tid, abi, text.nr, text.name,
                                    text.args, None, c.action, None, text.entry)
            else:
                nr, name, args = call_identity(abi, call.raw_nr if abi is _X32
                                               else call.nr, call.args)
                rec = SyscallRecord(call.ts, call.pid, call.tid, abi, nr, name, args, None,
                                    c.action, None, "")
            c.rec = rec
        return rec

    def _entry_out(self, c: _OpenCall) -> None:
        self._send_entry(self._entry_record(c))  # type: ignore[misc]

    def _exit_out(self, c: _OpenCall) -> None:
        rec = self._entry_record(c)
        ret = c.ret
        duration = c.ts - c.call.ts if ret is not None else None
        if c.fetched is not None:
            done = rec.at_exit(c.fetched.render(), ret, replay(c.snap), duration=duration,
                               action=c.exit_action)
        else:
            done = SyscallRecord(rec.ts, rec.pid, rec.tid, rec.abi, rec.nr, rec.name,
                                 rec.args, ret, c.exit_action, errno_of(ret, rec.abi),
                                 "", None, duration)
        if c.moved is not None:
            done = dataclasses.replace(done, tid=c.moved[0], pid=c.moved[1])
        self._send_exit(done)  # type: ignore[misc]

    def record_event(self, ev: ProcessEvent) -> None:
        """A process event goes to the writer as it is, after what is pending."""
        self.flush()
        self.writer.process_event(ev)
        if self._flush_writer is not None:
            self._flush_writer()
