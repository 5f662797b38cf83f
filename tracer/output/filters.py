"""Writer wrappers for strace's output filters: ``-e status=`` (``-z``, ``-Z``),
``-e signal=`` and ``-e quiet=``.

Each wraps one :class:`~tracer.output.records.Writer` and passes on what strace would
print.  They are only put in place when the filter is not the default
(:func:`wrap_writer`), so a run without them pays nothing.

``status=``: strace 6.1 keeps a call's text in memory from its entry and, at its end,
prints the whole line or nothing (``strace_open_memstream`` / ``strace_close_memstream``
in syscall.c and strace.c), so no ``<unfinished ...>`` / ``resumed`` pair is ever shown.
A call's status is:

* ``successful`` / ``failed``: it returned, without / with an error (syserror);
* ``unfinished``: it never returned because its task ended (``= ?``: exit_group, a kill,
  an execve in another thread);
* ``unavailable``: its exit stop came but the result could not be read (``= ?
  <unavailable>``); trace-run's loop never reports that case today;
* ``detached``: strace detached (``-p`` and interrupted) while the call ran.  trace-run's
  loop reports such a call like an unfinished one (``ret=None``), so it counts as
  unfinished here.

strace 6.1's ``-c`` counts every call whatever ``status=`` says (``count_syscall`` comes
before the status test; checked: ``strace -c -Z`` and ``strace -c`` give the same
table), so the summary writer is not wrapped.

``signal=``: which ``--- SIGxxx ... ---`` lines are shown (the signal is delivered all
the same).  ``quiet=``: ``exit`` hides ``+++ exited with N +++`` and ``+++ killed by
... +++``; ``thread-execve`` (``superseded``) hides ``+++ superseded by execve ... +++``;
``attach`` (the CLI's attach/detach messages), ``personality`` (the writer's ``[ Process
PID=N runs in 32 bit mode. ]``) and ``path-resolution`` are for the CLI and the writer
to honour (:attr:`Qualifiers.quiet <tracer.qualify.Qualifiers.quiet>`).
"""

from __future__ import annotations

from typing import Any

from tracer.events import Detached, Exec, Exited, Killed, ProcessEvent, SignalDelivery
from tracer.format import is_error
from tracer.output.records import SyscallRecord, Writer
from tracer.qualify import NumberSet, Qualifiers, Quiet, Status

__all__ = ["EventFilter", "StatusFilter", "status_of", "wrap_writer"]


def status_of(rec: SyscallRecord) -> Status:
    """The ``status=`` class of a finished call's record."""
    if rec.ret is None:
        return Status.UNFINISHED
    return Status.FAILED if is_error(rec.ret, rec.abi) else Status.SUCCESSFUL


class _Wrapper:
    """Passes everything on to ``inner``; the subclasses filter."""

    def __init__(self, inner: Writer) -> None:
        self.inner = inner
        self.entries_may_wait = getattr(inner, "entries_may_wait", False)
        self.needs_text = getattr(inner, "needs_text", True)
        self.needs_entries = getattr(inner, "needs_entries", True)

    def syscall_entry(self, rec: SyscallRecord) -> None:
        self.inner.syscall_entry(rec)

    def syscall_exit(self, rec: SyscallRecord) -> None:
        self.inner.syscall_exit(rec)

    def process_event(self, event: ProcessEvent) -> None:
        self.inner.process_event(event)

    def hold(self) -> None:
        hold = getattr(self.inner, "hold", None)
        if hold is not None:
            hold()

    def flush(self, final: bool = False) -> None:
        flush = getattr(self.inner, "flush", None)
        if flush is not None:
            flush(final)

    def _held_sinks(self) -> tuple[Any, ...]:
        held = getattr(self.inner, "_held_sinks", None)
        return held() if held is not None else ()

    def close(self) -> None:
        self.inner.close()


class StatusFilter(_Wrapper):
    """``-e status=``: a call's line whole at its end, or not at all."""

    needs_entries = False   # strace prints nothing at the entry under status=

    def __init__(self, inner: Writer, status: NumberSet) -> None:
        super().__init__(inner)
        self.needs_entries = False
        self._ok = status.members if not status.inverted else frozenset(
            s for s in Status if s not in status.members)
        ok = self._ok
        self._succ = Status.SUCCESSFUL in ok
        self._fail = Status.FAILED in ok
        self._unfinished = Status.UNFINISHED in ok
        self._detached = Status.DETACHED in ok
        self._let_go: set[int] = set()   # tasks detached inside a call

    def syscall_entry(self, rec: SyscallRecord) -> None:
        return None

    def process_event(self, event: ProcessEvent) -> None:
        if isinstance(event, Detached):
            self._let_go.add(event.tid)
        self.inner.process_event(event)

    def syscall_exit(self, rec: SyscallRecord) -> None:
        ret = rec.ret
        if ret is None:
            if self._let_go and rec.tid in self._let_go:
                self._let_go.discard(rec.tid)
                keep = self._detached
            else:
                keep = self._unfinished
        elif is_error(ret, rec.abi):
            keep = self._fail
        else:
            keep = self._succ
        if keep:
            self.inner.syscall_exit(rec)


class EventFilter(_Wrapper):
    """``-e signal=`` and ``-e quiet=``: which ``---`` and ``+++`` lines are shown
    (``signal=`` hides a ``+++ killed by`` line of a signal outside the set too)."""

    def __init__(self, inner: Writer, signals: NumberSet, quiet: NumberSet) -> None:
        super().__init__(inner)
        self._signals = signals
        self._exit = Quiet.EXIT in quiet
        self._superseded = Quiet.THREAD_EXECVE in quiet

    def process_event(self, event: ProcessEvent) -> None:
        if isinstance(event, SignalDelivery):
            if event.sig not in self._signals:
                return
        elif isinstance(event, Exited | Killed):
            # strace prints "+++ killed by SIGxxx +++" only for a signal in the set
            if self._exit or (isinstance(event, Killed) and event.sig not in self._signals):
                self._hide_exit(event)
                return
        elif isinstance(event, Exec) and self._superseded and event.former_tid != event.tid:
            self._hide_superseded(event)
            return
        self.inner.process_event(event)

    def _hide_exit(self, event: Exited | Killed) -> None:
        """Without its ``+++`` line; the writer still needs to know the task is gone
        (its unfinished call ends as ``= ?``).  A writer that can drop the line says
        so with ``task_gone(tid)``; otherwise the event is not passed on."""
        gone = getattr(self.inner, "task_gone", None) or getattr(self.inner, "_drop_entry", None)
        if gone is not None:
            gone(event.tid)

    def _hide_superseded(self, event: Exec) -> None:
        moved = getattr(self.inner, "task_superseded", None)
        if moved is not None:
            moved(event)


def wrap_writer(writer: Writer, q: Qualifiers, *, text: bool = True) -> Writer:
    """``writer`` behind the filters ``q`` asks for; ``writer`` itself when none.
    ``text``: the writer is strace's text (status= applies to it; JSON and -c are
    given every call)."""
    out: Writer = writer
    if text and not q.status.is_all:
        out = StatusFilter(out, q.status)
    if not q.signals.is_all or Quiet.EXIT in q.quiet or Quiet.THREAD_EXECVE in q.quiet:
        out = EventFilter(out, q.signals, q.quiet)
    return out
