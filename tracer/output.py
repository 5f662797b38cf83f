"""The tracer's outputs: strace-like lines, JSON Lines, and the ``-c`` summary table.

Every writer takes plain data and has the same four methods, so the loop fans each event
out to whichever writers the user asked for (:class:`Fanout`)::

    call = format_entry(abi, nr, args, read_memory)            # tracer.format
    rec = SyscallRecord.at_entry(call, ts=time.time(), pid=tgid, tid=tid, action="allow")
    out.syscall_entry(rec)            # strace text prints "openat(AT_FDCWD, ..." now
    ...                               # exit stop
    out.syscall_exit(rec.at_exit(call, ret, read_memory, duration=t_exit - t_entry))
    out.process_event(ProcessEvent(EventKind.EXIT, ts, pid, tid, status=0))
    out.close()                       # the summary is printed here

* A call that never reaches its exit stop (exit_group, execve in another thread, a
  killed tracee) still gets ``syscall_exit`` with ``ret=None``: strace prints ``= ?``.
* ``syscall_entry`` is optional; a record given only to ``syscall_exit`` prints whole.
* Send ``EventKind.FORK`` for every new thread or process so that the ``[pid N]`` prefix
  appears exactly when strace's would (when more than one task is traced).

In trace-run, :class:`tracer.record.OutputRecorder` drives the writers, and does so after
the loop resumed the tracee: at the stops it only reads the memory the text will show
(:func:`tracer.format.fetch_entry`), and the text, the records and every writer's work
happen at its ``flush()``.  The one exception is an entry for a writer that is not
``entries_may_wait`` (see :class:`Writer`), rendered and written at its entry stop.

Writes are whole: each line (or the entry part of an unfinished one) goes to the file
descriptor in one ``write(2)`` with SIGINT/SIGTERM/SIGHUP/SIGQUIT blocked, so neither a
kill nor a KeyboardInterrupt can cut a line, and a JSON file is valid line by line
whenever trace-run stops.  Nothing is buffered in Python.
"""

from __future__ import annotations

import _signal
import dataclasses
import functools
import io
import json
import os
import signal
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TextIO

from probes.abi import Abi
from tracer.format import CallText, MemoryReader, format_return, format_siginfo, is_error
from tracer.syscalls.xlat import signal_name

__all__ = [
    "EventKind",
    "Fanout",
    "JsonWriter",
    "PidPrefix",
    "ProcessEvent",
    "StraceWriter",
    "Summary",
    "SyscallRecord",
    "Writer",
    "event_json",
    "syscall_json",
    "syscall_json_line",
    "write_records",
]

ALLOW = "allow"
_ACTION_MARKS = {"deny": "DENIED", "kill": "KILLED"}


# --- the data -------------------------------------------------------------------------


@dataclass(slots=True)
class SyscallRecord:
    """One syscall of one thread.  ``text`` is the formatted call without its result:
    at entry ``CallText.entry`` (``read(3, ``), at exit ``CallText.finish(...)``.

    Not frozen, as every value made at each syscall: a frozen dataclass takes about
    five times as long to build (``object.__setattr__`` per field).  Treat it as read-only."""

    ts: float  # time.time() at the entry stop
    pid: int  # thread group id
    tid: int
    abi: Abi
    nr: int
    name: str
    args: tuple[int, ...]  # the six raw argument registers
    ret: int | None  # signed return value; None: no exit stop (yet)
    action: str  # the policy's verdict: "allow", "deny", "kill", ...
    errno: int | None  # -ret when ret is an error, else None
    text: str
    result: str | None = None  # strace's text after "= "; None: derived from ret
    duration: float | None = None  # seconds from entry stop to exit stop

    def __post_init__(self) -> None:
        if len(self.args) != 6:
            raise ValueError(f"SyscallRecord needs 6 args, got {len(self.args)}: {self.args}")

    @classmethod
    def at_entry(cls, call: CallText, *, ts: float, pid: int, tid: int,
                 action: str = ALLOW) -> SyscallRecord:
        """The record of a call at its entry stop."""
        return cls(ts, pid, tid, call.abi, call.nr, call.name, call.args, None, action,
                   None, call.entry)

    def at_exit(self, call: CallText, ret: int | None, read_memory: MemoryReader, *,
                duration: float | None = None, action: str | None = None) -> SyscallRecord:
        """This record completed at the exit stop (``ret`` None: the call never returned)."""
        errno = None
        if ret is not None and is_error(ret, self.abi):
            errno = -ret if ret < 0 else (1 << (32 if self.abi is Abi.I386 else 64)) - ret
        return SyscallRecord(self.ts, self.pid, self.tid, self.abi, self.nr, self.name,
                             self.args, ret, self.action if action is None else action, errno,
                             call.finish(ret, read_memory), call.result(ret), duration)

    def result_text(self) -> str:
        if self.result is not None:
            return self.result
        return format_return(self.ret, name=self.name, abi=self.abi, args=self.args)


class EventKind(StrEnum):
    """What happened to a task, beside syscalls."""

    FORK = "fork"  # a new thread or process is traced (``child``)
    EXEC = "exec"  # execve succeeded (``path``; ``former_tid`` if a non-leader called it)
    SIGNAL = "signal"  # a signal is delivered (``signal``, ``siginfo``)
    STOP = "stop"  # group-stop (``signal``)
    EXIT = "exit"  # the task is gone (``status`` or ``signal``, ``core_dumped``)


@dataclass(frozen=True, slots=True)
class ProcessEvent:
    """A process event; fields not meaningful for ``kind`` stay None."""

    kind: EventKind
    ts: float
    pid: int
    tid: int
    status: int | None = None  # EXIT: the exit code, when it exited
    signal: int | None = None  # EXIT: the killing signal; SIGNAL/STOP: the signal
    core_dumped: bool = False
    siginfo: Mapping[str, int] | None = None  # SIGNAL: si_* fields (PTRACE_GETSIGINFO)
    child: int | None = None  # FORK
    path: str | None = None  # EXEC
    former_tid: int | None = None  # EXEC by a non-leader thread: its tid before execve


class Writer(Protocol):
    """What the loop calls on every output.

    A writer may also say ``entries_may_wait = True``: what it does at ``syscall_entry``
    can come a moment later, after the call started running, without any visible
    difference (it writes nothing then, or only to a file the traced program does not
    write to).  Otherwise an entry is written before the call runs, as strace does, so
    that on a shared terminal ``write(1, ...`` comes before what the write writes.

    Optional, for :class:`tracer.record.OutputRecorder`'s fast path (absent means True):
    ``needs_entries = False`` says ``syscall_entry`` does nothing, so it need not be
    called; ``needs_text = False`` says the writer never reads a record's ``text`` or
    ``result``, so the recorder may leave them empty ("" and None) and skip formatting.

    Also optional: ``hold()`` and ``flush()``.  After ``hold()`` the writer keeps what it
    writes in memory until ``flush()``, which writes it (one write(2) per file) with the
    interrupting signals blocked; ``flush(final=True)`` also writes the beginning of a
    line whose call still runs; ``close()`` writes whatever is still held.  Lines are
    never cut, and their order is kept."""

    def syscall_entry(self, rec: SyscallRecord) -> None: ...
    def syscall_exit(self, rec: SyscallRecord) -> None: ...
    def process_event(self, event: ProcessEvent) -> None: ...
    def close(self) -> None: ...


class Fanout:
    """Several writers used together, called in order."""

    def __init__(self, writers: Iterable[Writer]) -> None:
        self.writers = list(writers)
        self._sinks: list[_Sink] = []
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
        _flush_sinks(self._sinks, final)
        for flush in self._flushers:
            flush(final)

    def close(self) -> None:
        for w in self.writers:
            w.close()


# --- whole writes ------------------------------------------------------------------------


# Signals whose handlers may raise (KeyboardInterrupt) in the middle of a line.  The C
# function is used directly: signal.pthread_sigmask converts each set to enums, which
# costs more than the system calls.
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_sigmask = _signal.pthread_sigmask


def _write_all(fd: int, data: bytes) -> None:
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


def _write_unblocked(fd: int, data: bytes) -> None:
    """:func:`_write_all` for a caller that blocked the signals itself."""
    written = os.write(fd, data)
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view):]


class _Sink:
    """A text stream written without Python buffering: straight to its fd when it has
    one (files, pipes, stderr), else through ``write`` + ``flush`` (StringIO in tests).

    After :meth:`hold`, text waits in memory until :func:`_flush_sinks` writes it (one
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
            _write_all(self.fd, text.encode("utf-8", "backslashreplace"))

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
            _write_unblocked(self.fd, text.encode("utf-8", "backslashreplace"))


def _flush_sinks(sinks: Sequence[_Sink], final: bool = False) -> None:
    """Write what the sinks hold: one write(2) each, all under one blocking of the
    interrupting signals (see :func:`_write_all`)."""
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


# --- strace text -------------------------------------------------------------------------


class PidPrefix(StrEnum):
    """How lines name their task, as strace does."""

    AUTO = "auto"  # "[pid  1234] " while more than one task is traced (strace -f)
    ALWAYS = "always"  # "1234  " on every line (strace -f -o FILE)
    NEVER = "never"


_PERSONALITY = {Abi.X86_64: "64 bit", Abi.I386: "32 bit", Abi.X32: "x32"}


class StraceWriter:
    """strace's text: one line per call, ``<unfinished ...>`` / ``<... name resumed>``
    when another task's output comes between a call's entry and exit, ``+++``/``---``
    lines for exits and signals.  A call the policy did not allow ends with its verdict
    in capitals, as strace marks injected faults: ``= -1 EPERM (...) (DENIED)``.

    Text is written as it comes, unless :meth:`hold` was called: then it waits for
    :meth:`flush`, and when ``entries_may_wait`` (a file of trace-run's own) an entry
    waits on until its line is complete, so that a line is written by one write(2)."""

    def __init__(self, stream: TextIO, *, pid_prefix: PidPrefix = PidPrefix.AUTO,
                 column: int = 40) -> None:
        self._out = _Sink(stream)
        self.entries_may_wait = self._out.private
        self._pid_prefix = pid_prefix
        self._column = column
        self._tasks: set[int] = set()
        self._prefixes: dict[int, str] = {}
        self._abi: dict[int, Abi] = {}
        self._entries: dict[int, SyscallRecord] = {}  # printed entries awaiting their exit
        self._open: int | None = None  # tid whose line has no newline yet
        self._col = 0

    def hold(self) -> None:
        """Keep the text until :meth:`flush` (see the class docstring)."""
        self._out.hold(whole_lines=self.entries_may_wait)

    def flush(self, final: bool = False) -> None:
        """Write the held lines; ``final``: also the beginning of a line whose call is
        still running (the loop asks for it before it waits for a tracee that runs on,
        so that a call that blocks shows in the file, as with strace -o)."""
        _flush_sinks((self._out,), final)

    def _held_sinks(self) -> tuple[_Sink, ...]:
        return (self._out,)

    def _prefix(self, tid: int) -> str:
        mode = self._pid_prefix
        if mode is PidPrefix.NEVER or (mode is PidPrefix.AUTO and len(self._tasks) <= 1):
            return ""
        text = self._prefixes.get(tid)
        if text is None:   # made once per task (twice a syscall otherwise)
            text = f"{tid:<5d} " if mode is PidPrefix.ALWAYS else f"[pid {tid:5d}] "
            self._prefixes[tid] = text
        return text

    def _interrupt(self) -> None:
        """Close an open line: its call goes on, its end comes later as "resumed"."""
        if self._open is not None:
            self._out.write(" <unfinished ...>\n")
            self._open = None

    def _start(self, rec: SyscallRecord) -> str:
        """Note the task and, when its ABI changes, say so as strace does."""
        tid = rec.tid
        self._tasks.add(tid)
        abi = rec.abi
        if self._abi.get(tid, Abi.X86_64) is not abi:
            self._interrupt()
            self._out.write(f"[ Process PID={tid} runs in {_PERSONALITY[abi]} mode. ]\n")
        self._abi[tid] = abi
        return self._prefix(tid)

    def _end(self, head: str, rec: SyscallRecord) -> None:
        """Write ``head`` (which continues the line at column ``self._col``) and the result."""
        col = self._col + len(head)
        pad = " " * (self._column - col) if col < self._column else " "
        result = rec.result
        if result is None:
            result = rec.result_text()
        action = rec.action
        if action == ALLOW:
            self._out.write(f"{head}{pad}= {result}\n")
        else:
            mark = _ACTION_MARKS.get(action) or action.upper()
            self._out.write(f"{head}{pad}= {result} ({mark})\n")
        self._open = None
        self._col = 0

    def syscall_entry(self, rec: SyscallRecord) -> None:
        prefix = self._start(rec)
        if self._open is not None:
            self._interrupt()
        text = rec.text
        self._out.write(prefix + text)
        tid = rec.tid
        self._entries[tid] = rec
        self._open = tid
        self._col = len(prefix) + len(text)

    def syscall_exit(self, rec: SyscallRecord) -> None:
        tid = rec.tid
        entry = self._entries.pop(tid, None)
        if entry is not None:
            seen = entry.text
            text = rec.text
            if text.startswith(seen):
                rest = text[len(seen):]
                if self._open == tid:
                    self._end(rest, rec)
                    return
                self._interrupt()
                prefix = self._start(rec)
                self._col = 0
                self._end(f"{prefix}<... {rec.name} resumed>{rest}", rec)
                return
        if self._open == tid:  # the text changed under us: start a fresh line
            self._open = None
            self._out.write("\n")
        self._interrupt()
        prefix = self._start(rec)
        self._col = 0
        self._end(prefix + rec.text, rec)

    def _drop_entry(self, tid: int) -> None:
        """A task ended inside a call the loop did not finish: end it like strace."""
        entry = self._entries.get(tid)
        if entry is None:
            return
        unfinished = entry.text.endswith(("(", ", "))
        text = entry.text + (" <unfinished ...>)" if unfinished else ")")
        self.syscall_exit(dataclasses.replace(entry, ret=None, text=text, result="?"))

    def _line(self, tid: int, text: str) -> None:
        self._interrupt()
        self._out.write(f"{self._prefix(tid)}{text}\n")

    def process_event(self, event: ProcessEvent) -> None:
        tid = event.tid
        self._tasks.add(tid)
        if event.kind is EventKind.FORK:
            if event.child is not None:
                self._tasks.add(event.child)
            return
        if event.kind is EventKind.EXEC:
            former = event.former_tid
            if former is not None and former != tid:
                self._line(tid, f"+++ superseded by execve in pid {former} +++")
                if former in self._entries:  # its execve ends under the new tid
                    self._entries[tid] = self._entries.pop(former)
                self._tasks.discard(former)
                self._prefixes.pop(former, None)
        elif event.kind is EventKind.SIGNAL:
            sig = event.signal or 0
            info = f" {format_siginfo(sig, event.siginfo)}" if event.siginfo is not None else ""
            self._line(tid, f"--- {signal_name(sig)}{info} ---")
        elif event.kind is EventKind.STOP:
            self._line(tid, f"--- stopped by {signal_name(event.signal or 0)} ---")
        elif event.kind is EventKind.EXIT:
            self._drop_entry(tid)
            if event.signal is not None:
                core = " (core dumped)" if event.core_dumped else ""
                self._line(tid, f"+++ killed by {signal_name(event.signal)}{core} +++")
            else:
                self._line(tid, f"+++ exited with {event.status or 0} +++")
            self._tasks.discard(tid)
            self._prefixes.pop(tid, None)
            self._abi.pop(tid, None)

    def close(self) -> None:
        """End an open line; write whatever is held."""
        self._interrupt()
        _flush_sinks((self._out,), final=True)


# --- JSON Lines ----------------------------------------------------------------------


def syscall_json(rec: SyscallRecord) -> dict[str, object]:
    """The JSON object of one syscall, in the documented key order."""
    return {
        "ts": float(rec.ts), "pid": rec.pid, "tid": rec.tid, "abi": str(rec.abi),
        "nr": rec.nr, "name": rec.name, "args": [int(a) for a in rec.args], "ret": rec.ret,
        "action": str(rec.action), "errno": rec.errno,
    }


@functools.lru_cache(maxsize=4096)
def _json_str(text: str) -> str:
    return json.dumps(text)


def _json_int(value: int | None) -> str:
    return "null" if value is None else str(int(value))


# '"abi":"x86_64","nr":0,"name":"read",' by (abi, nr, name), and "allow" -> '"allow"'.
_JSON_CALLS: dict[tuple[Abi, int, str], str] = {}
_JSON_ACTIONS: dict[str, str] = {}
# One %-format: an f-string would need a str(int(...)) per argument (%d does it in C).
_JSON_LINE = ('{"ts":%r,"pid":%d,"tid":%d,%s"args":[%d,%d,%d,%d,%d,%d],"ret":%s,'
              '"action":%s,"errno":%s}\n')


def syscall_json_line(rec: SyscallRecord) -> str:
    """``json.dumps(syscall_json(rec))`` plus a newline, built directly: this runs for
    every syscall, and the call's abi, number and name, and the actions, repeat (their
    JSON text is cached)."""
    key = (rec.abi, rec.nr, rec.name)
    call = _JSON_CALLS.get(key)
    if call is None:
        if len(_JSON_CALLS) >= 4096:
            _JSON_CALLS.clear()
        call = _JSON_CALLS[key] = (f'"abi":{_json_str(str(rec.abi))},"nr":{int(rec.nr)},'
                                   f'"name":{_json_str(rec.name)},')
    action = _JSON_ACTIONS.get(rec.action)
    if action is None:
        if len(_JSON_ACTIONS) >= 64:
            _JSON_ACTIONS.clear()
        action = _JSON_ACTIONS[rec.action] = _json_str(str(rec.action))
    ret, errno = rec.ret, rec.errno
    return _JSON_LINE % (float(rec.ts), rec.pid, rec.tid, call, *rec.args,
                         "null" if ret is None else str(int(ret)), action,
                         "null" if errno is None else str(int(errno)))


def event_json(event: ProcessEvent) -> dict[str, object]:
    """The JSON object of one process event: common keys, then the kind's own."""
    obj: dict[str, object] = {"event": str(event.kind), "ts": float(event.ts),
                              "pid": event.pid, "tid": event.tid}
    sig = event.signal
    if event.kind is EventKind.EXIT:
        obj.update(status=event.status if sig is None else None,
                   signal=signal_name(sig) if sig is not None else None, signo=sig,
                   core_dumped=event.core_dumped)
    elif event.kind in (EventKind.SIGNAL, EventKind.STOP):
        obj.update(signal=signal_name(sig or 0), signo=sig)
        if event.kind is EventKind.SIGNAL:
            obj["siginfo"] = dict(event.siginfo) if event.siginfo is not None else None
    elif event.kind is EventKind.EXEC:
        obj.update(path=event.path, former_tid=event.former_tid)
    elif event.kind is EventKind.FORK:
        obj["child"] = event.child
    return obj


class JsonWriter:
    """JSON Lines: one object per finished syscall and per process event, each line
    written whole (see the module docstring), so the file parses line by line."""

    entries_may_wait = True   # nothing is written at an entry
    needs_entries = False
    needs_text = False

    def __init__(self, stream: TextIO) -> None:
        self._out = _Sink(stream)

    def hold(self) -> None:
        """Keep the lines until :meth:`flush` (all of them are whole)."""
        self._out.hold(whole_lines=True)

    def flush(self, final: bool = False) -> None:
        _flush_sinks((self._out,), final)

    def _held_sinks(self) -> tuple[_Sink, ...]:
        return (self._out,)

    def _emit(self, obj: Mapping[str, object]) -> None:
        self._out.write(json.dumps(obj, separators=(",", ":")) + "\n")

    def syscall_entry(self, rec: SyscallRecord) -> None:
        pass

    def syscall_exit(self, rec: SyscallRecord) -> None:
        self._out.write(syscall_json_line(rec))

    def process_event(self, event: ProcessEvent) -> None:
        self._emit(event_json(event))

    def close(self) -> None:
        """Write whatever is held."""
        _flush_sinks((self._out,), final=True)


# --- the -c table ------------------------------------------------------------------------


@dataclass(slots=True)
class _Count:
    nr: int
    calls: int = 0
    errors: int = 0
    denied: int = 0
    seconds: float = 0.0


class Summary:
    """``strace -c``'s table plus a ``denied`` column, written at :meth:`close`.

    Time is each call's ``duration``: the wall-clock time between its entry and exit
    stops as the tracer measured it, i.e. strace ``-c -w`` (latency), not strace ``-c``'s
    default system CPU time, which would need the tracee's rusage at every stop.  As in
    strace, a call is counted at its exit stop, so one that never returns (exit_group) is
    not; a call the policy stopped is counted, and denied, even without an exit stop.
    Rows sort by time, then by syscall number; each ABI other than x86_64 gets its own
    table under strace's heading ("System call usage summary for 32 bit mode:")."""

    HEADER = ("% time     seconds  usecs/call     calls    errors    denied syscall\n"
              "------ ----------- ----------- --------- --------- --------- ----------------\n")
    RULE = "------ ----------- ----------- --------- --------- --------- ----------------\n"

    entries_may_wait = True   # nothing is written at an entry
    needs_entries = False
    needs_text = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self._out = _Sink(stream) if stream is not None else None
        self._counts: dict[Abi, dict[str, _Count]] = {}
        self._by_call: dict[tuple[Abi, str], _Count] = {}  # the same counts, flat

    def hold(self) -> None:
        """Nothing is written before :meth:`close`: nothing to hold."""

    def flush(self, final: bool = False) -> None:
        pass

    def _held_sinks(self) -> tuple[_Sink, ...]:
        return ()

    def syscall_entry(self, rec: SyscallRecord) -> None:
        pass

    def syscall_exit(self, rec: SyscallRecord) -> None:
        ret, action = rec.ret, rec.action
        if ret is None and action == ALLOW:
            return
        key = (rec.abi, rec.name)
        count = self._by_call.get(key)
        if count is None:
            count = self._counts.setdefault(rec.abi, {}).setdefault(rec.name, _Count(rec.nr))
            self._by_call[key] = count
        count.calls += 1
        if ret is not None and is_error(ret, rec.abi):
            count.errors += 1
        if action != ALLOW:
            count.denied += 1
        count.seconds += rec.duration or 0.0

    def process_event(self, event: ProcessEvent) -> None:
        pass

    @staticmethod
    def _table(counts: Mapping[str, _Count]) -> str:
        rows = sorted(counts.items(), key=lambda kv: (-kv[1].seconds, kv[1].nr, kv[0]))
        total = sum(c.seconds for c in counts.values())
        lines = [Summary.HEADER]
        for name, c in rows:
            pct = 100.0 * c.seconds / total if total else 0.0
            lines.append(_row(f"{pct:6.2f}", c.seconds, c.calls, c.errors, c.denied, name))
        lines.append(Summary.RULE)
        lines.append(_row("100.00", total, sum(c.calls for c in counts.values()),
                          sum(c.errors for c in counts.values()),
                          sum(c.denied for c in counts.values()), "total"))
        return "".join(lines)

    def render(self) -> str:
        """The tables as text ("" when no call was counted)."""
        parts = []
        for abi in Abi:
            if abi in self._counts:
                if abi is not Abi.X86_64:
                    parts.append(f"System call usage summary for {_PERSONALITY[abi]} mode:\n")
                parts.append(self._table(self._counts[abi]))
        return "".join(parts)

    def close(self) -> None:
        """Write the tables (and anything else held)."""
        if self._out is not None:
            text = self.render()
            if text:
                self._out.write(text)
            _flush_sinks((self._out,), final=True)


def _blank_zero(n: int) -> str:
    return f"{n:9d}" if n else " " * 9


def _row(pct: str, seconds: float, calls: int, errors: int, denied: int, name: str) -> str:
    # strace: the total as a timespec divided by the calls, then shown in whole µs
    usecs = round(seconds * 1e9) // calls // 1000 if calls else 0
    return (f"{pct:>6} {seconds:11.6f} {usecs:11d} {calls:9d} {_blank_zero(errors)} "
            f"{_blank_zero(denied)} {name}\n")


def write_records(writer: Writer, records: Sequence[SyscallRecord | ProcessEvent]) -> None:
    """Feed finished records and events to a writer (replays, tests)."""
    for item in records:
        if isinstance(item, SyscallRecord):
            writer.syscall_exit(item)
        else:
            writer.process_event(item)
