"""Where the writers' text goes: whole writes to a file descriptor with the interrupting
signals blocked (:func:`write_all`), the :class:`Sink` that holds text between flushes,
and :class:`Fanout`, several writers used together and flushed at once."""

from __future__ import annotations

import _signal
import io
import os
import signal
import stat
from collections.abc import Callable, Iterable, Sequence
from typing import TextIO

from tracer.events import ProcessEvent
from tracer.output.records import SyscallRecord, Writer

# Signals whose handlers may raise (KeyboardInterrupt) in the middle of a line.  The C
# function is used directly: signal.pthread_sigmask converts each set to enums, which
# costs more than the system calls.
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_sigmask = _signal.pthread_sigmask


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data``, normally in one write(2).

    The interrupting signals are blocked meanwhile: CPython may raise a handler's
    exception right after ``os.write`` returns and before its count is stored, so no
    exception handler can know how much was written.  Blocked, the signal waits and its
    exception comes after the whole line is out."""
    old = _sigmask(signal.SIG_BLOCK, _INTERRUPTS)
    try:
        written = os.write(fd, data)
        if written < len(data):  # pipes and ttys may take part of it
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(fd, view):]
    finally:
        _sigmask(signal.SIG_SETMASK, old)


def write_unblocked(fd: int, data: bytes) -> None:
    """:func:`write_all` for a caller that blocked the signals itself."""
    written = os.write(fd, data)
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view):]


class Sink:
    """A text stream written without Python buffering: straight to its fd when it has
    one (files, pipes, stderr), else through ``write`` + ``flush`` (StringIO in tests).

    After :meth:`hold`, text waits in memory until :func:`flush_sinks` writes it (one
    write(2) per sink and flush); with ``whole_lines`` the text after the last newline
    (an entry whose call is still running) waits on until its line is complete, unless
    the flush is ``final``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.fd: int | None
        try:
            stream.flush()
            self.fd = stream.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            self.fd = None
        self.private = self.fd is not None and _private(self.fd)
        self.held: list[str] | None = None  # None: not holding, written through
        self.whole = 0  # held[:whole] ends with a newline
        self.whole_lines = False

    def hold(self, *, whole_lines: bool) -> None:
        """From now on, keep what is written until the next flush."""
        if self.held is None:
            self.held = []
        self.whole_lines = whole_lines

    def write(self, text: str) -> None:
        held = self.held
        if held is not None:
            held.append(text)
            if "\n" in text:
                self.whole = len(held)
        elif self.fd is None:
            self.stream.write(text)
            self.stream.flush()
        else:
            write_all(self.fd, text.encode("utf-8", "backslashreplace"))

    def ready(self, final: bool) -> bool:
        """Whether a flush would write anything."""
        return bool(self.held) and (self.whole > 0 or final or not self.whole_lines)

    def flush_held(self, final: bool) -> None:
        """Write what is held (the interrupting signals already blocked by the caller)."""
        held = self.held
        if not held:
            return
        count = self.whole if self.whole_lines and not final else len(held)
        if count == len(held):
            text = "".join(held)
            held.clear()
        else:
            text = "".join(held[:count])
            del held[:count]
        self.whole = 0
        if self.fd is None:
            self.stream.write(text)
            self.stream.flush()
        else:
            write_unblocked(self.fd, text.encode("utf-8", "backslashreplace"))


def flush_sinks(sinks: Sequence[Sink], final: bool = False) -> None:
    """Write what the sinks hold: one write(2) each, all under one blocking of the
    interrupting signals (see :func:`write_all`)."""
    for sink in sinks:
        if sink.ready(final):
            break
    else:
        return
    old = _sigmask(signal.SIG_BLOCK, _INTERRUPTS)
    try:
        for sink in sinks:
            sink.flush_held(final)
    finally:
        _sigmask(signal.SIG_SETMASK, old)


def _private(fd: int) -> bool:
    """A file of trace-run's own (-o FILE): not stdin/stdout/stderr nor any other fd the
    traced program inherits, and not a terminal, pipe or socket (which might be shared
    by another way, say -o /dev/stderr)."""
    if fd <= 2 or os.get_inheritable(fd) or os.isatty(fd):
        return False
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode))


class Fanout:
    """Several writers used together, called in order."""

    def __init__(self, writers: Iterable[Writer]) -> None:
        self.writers = list(writers)
        self._sinks: list[Sink] = []
        self._flushers: list[Callable[[bool], None]] = []  # their flush(final) methods

    @property
    def entries_may_wait(self) -> bool:
        return all(getattr(w, "entries_may_wait", False) for w in self.writers)

    def syscall_entry(self, rec: SyscallRecord) -> None:
        for w in self.writers:
            w.syscall_entry(rec)

    def syscall_exit(self, rec: SyscallRecord) -> None:
        for w in self.writers:
            w.syscall_exit(rec)

    def process_event(self, event: ProcessEvent) -> None:
        for w in self.writers:
            w.process_event(event)

    def hold(self) -> None:
        """Every writer that can holds what it writes until :meth:`flush`."""
        self._sinks = []
        self._flushers = []
        for w in self.writers:
            hold = getattr(w, "hold", None)
            if not callable(hold):
                continue
            hold()
            sinks = getattr(w, "_held_sinks", None)
            if callable(sinks):
                self._sinks.extend(sinks())
            else:
                self._flushers.append(w.flush)  # type: ignore[attr-defined]

    def flush(self, final: bool = False) -> None:
        """Write what the writers hold, the signals blocked once for all of this module's
        (``final``: also an unfinished line's beginning, see :meth:`StraceWriter.flush`)."""
        flush_sinks(self._sinks, final)
        for flush in self._flushers:
            flush(final)

    def close(self) -> None:
        for w in self.writers:
            w.close()
