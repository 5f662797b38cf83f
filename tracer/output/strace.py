"""strace's text (:class:`StraceWriter`): lines, ``<unfinished ...>`` / ``resumed``,
``+++`` and ``---`` lines, the pid column."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import TextIO

from probes.abi import Abi
from tracer.events import (
    Detached,
    Exec,
    Exited,
    Fork,
    GroupStop,
    Killed,
    ProcessEvent,
    SignalDelivery,
)
from tracer.format_results import format_siginfo
from tracer.handler import action_mark
from tracer.output.records import SyscallRecord
from tracer.output.sink import Sink, flush_sinks
from tracer.output.stamps import Stamps
from tracer.syscalls.xlat import signal_name


class PidPrefix(StrEnum):
    """How lines name their task, as strace does."""

    AUTO = "auto"  # "[pid  1234] " while more than one task is traced (strace -f)
    ALWAYS = "always"  # "1234  " on every line (strace -f -o FILE)
    MANY = "many"  # "1234  " while more than one task is traced (-o FILE without -f)
    NEVER = "never"


PERSONALITY = {Abi.X86_64: "64 bit", Abi.I386: "32 bit", Abi.X32: "x32"}


class StraceWriter:
    """strace's text: one line per call, ``<unfinished ...>`` / ``<... name resumed>``
    when another task's output comes between a call's entry and exit, ``+++``/``---``
    lines for exits and signals.  A call the policy did not allow ends with its verdict
    in capitals, as strace marks injected faults: ``= -1 EPERM (...) (DENIED)``.

    Text is written as it comes, unless :meth:`hold` was called: then it waits for
    :meth:`flush`, and when ``entries_may_wait`` (a file of trace-run's own) an entry
    waits on until its line is complete, so that a line is written by one write(2)."""

    def __init__(self, stream: TextIO, *, pid_prefix: PidPrefix = PidPrefix.AUTO,
                 column: int = 40, stamps: Stamps | None = None,
                 numbers: bool = False) -> None:
        self._out = Sink(stream)
        self._stamps = stamps if stamps is not None and stamps.active else None
        # -n: each task's last syscall number, which its lines show (None: off)
        self._numbers: dict[int, int] | None = {} if numbers else None
        self._plain = self._stamps is None and self._numbers is None
        self.entries_may_wait = self._out.private
        self._pid_prefix = pid_prefix
        self._column = column
        self._tasks: set[int] = set()
        self._prefixes: dict[int, str] = {}
        self._abi: dict[int, Abi] = {}
        self._entries: dict[int, SyscallRecord] = {}  # printed entries awaiting their exit
        self._open: int | None = None  # tid whose line has no newline yet
        self._let_go: set[int] = set()  # detached in a call whose end says nothing more
        self._col = 0

    def hold(self) -> None:
        """Keep the text until :meth:`flush` (see the class docstring)."""
        self._out.hold(whole_lines=self.entries_may_wait)

    def flush(self, final: bool = False) -> None:
        """Write the held lines; ``final``: also the beginning of a line whose call is
        still running (the loop asks for it before it waits for a tracee that runs on,
        so that a call that blocks shows in the file, as with strace -o)."""
        flush_sinks((self._out,), final)

    def _held_sinks(self) -> tuple[Sink, ...]:
        return (self._out,)

    def _prefix(self, tid: int) -> str:
        mode = self._pid_prefix
        if mode is PidPrefix.NEVER or (mode is not PidPrefix.ALWAYS and len(self._tasks) <= 1):
            return ""
        text = self._prefixes.get(tid)
        if text is None:   # made once per task (twice a syscall otherwise)
            text = f"[pid {tid:5d}] " if mode is PidPrefix.AUTO else f"{tid:<5d} "
            self._prefixes[tid] = text
        return text

    def _leader(self, tid: int, ts: float | None) -> str:
        """What starts a line: the pid column, the timestamps of -t/-tt/-ttt/-r, and
        -n's syscall number (for a line that is not a call's: the task's last one)."""
        if self._plain:
            return self._prefix(tid)
        text = self._prefix(tid)
        if self._stamps is not None:
            text += self._stamps.leader(ts)
        if self._numbers is not None:
            nr = self._numbers.get(tid)
            text += "[????] " if nr is None else f"[{nr:4d}] "
        return text

    def _interrupt(self) -> None:
        """Close an open line: its call goes on, its end comes later as "resumed"."""
        if self._open is not None:
            self._out.write(" <unfinished ...>\n")
            self._open = None

    def _start(self, rec: SyscallRecord, ts: float | None = None) -> str:
        """Note the task and, when its ABI changes, say so as strace does; returns the
        line's leader (``ts``: the time it shows, by default the call's entry)."""
        tid = rec.tid
        self._tasks.add(tid)
        abi = rec.abi
        if self._abi.get(tid, Abi.X86_64) is not abi:
            self._interrupt()
            self._out.write(f"[ Process PID={tid} runs in {PERSONALITY[abi]} mode. ]\n")
        self._abi[tid] = abi
        if self._plain:
            return self._prefix(tid)
        if self._numbers is not None:
            self._numbers[tid] = rec.nr
        return self._leader(tid, rec.ts if ts is None else ts)

    def _end(self, head: str, rec: SyscallRecord) -> None:
        """Write ``head`` (which continues the line at column ``self._col``) and the result."""
        col = self._col + len(head)
        pad = " " * (self._column - col) if col < self._column else " "
        result = rec.result
        if result is None:
            result = rec.result_text()
        mark = action_mark(rec.action)
        tail = ""
        if self._stamps is not None and self._stamps.durations and rec.ret is not None \
                and rec.duration is not None:
            tail = f" <{self._stamps.duration(rec.duration)}>"
        if mark is None:
            self._out.write(f"{head}{pad}= {result}{tail}\n")
        else:
            self._out.write(f"{head}{pad}= {result} ({mark}){tail}\n")
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
        if self._let_go and rec.ret is None and tid in self._let_go:
            self._let_go.discard(tid)   # its line ended with "<detached ...>" already
            return
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
                prefix = self._start(rec, _exit_time(rec))
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

    def _line(self, tid: int, text: str, ts: float | None = None) -> None:
        self._interrupt()
        self._out.write(f"{self._leader(tid, ts)}{text}\n")

    def process_event(self, event: ProcessEvent) -> None:
        tid = event.tid
        self._tasks.add(tid)
        match event:
            case Fork(child=child):
                self._tasks.add(child)
            case Exec(former_tid=former):
                if former != tid:
                    self._line(tid, f"+++ superseded by execve in pid {former} +++", event.ts)
                    if former in self._entries:  # its execve ends under the new tid
                        self._entries[tid] = self._entries.pop(former)
                    self._tasks.discard(former)
                    self._prefixes.pop(former, None)
            case SignalDelivery(sig=sig, siginfo=siginfo):
                info = f" {format_siginfo(sig, siginfo)}" if siginfo is not None else ""
                self._line(tid, f"--- {signal_name(sig)}{info} ---", event.ts)
            case GroupStop(sig=sig):
                self._line(tid, f"--- stopped by {signal_name(sig)} ---", event.ts)
            case Exited(status=status):
                self._gone(tid, f"+++ exited with {status} +++", event.ts)
            case Killed(sig=sig, core_dumped=core):
                dumped = " (core dumped)" if core else ""
                self._gone(tid, f"+++ killed by {signal_name(sig)}{dumped} +++", event.ts)
            case Detached():
                self._detach(tid)

    def _detach(self, tid: int) -> None:
        """As strace's droptcb: the open line, if it is this task's, ends with
        ``<detached ...>``; an entry already cut by ``<unfinished ...>`` gets nothing
        more.  The call's end the loop reports next is not printed."""
        if self._entries.pop(tid, None) is not None:
            if self._open == tid:
                self._out.write(" <detached ...>\n")
                self._open = None
                self._col = 0
            self._let_go.add(tid)
        self._tasks.discard(tid)

    def _gone(self, tid: int, line: str, ts: float | None = None) -> None:
        """The task ended: its unfinished call ends like strace's, then ``line``."""
        self._drop_entry(tid)
        self._line(tid, line, ts)
        self._tasks.discard(tid)
        self._prefixes.pop(tid, None)
        self._abi.pop(tid, None)
        if self._numbers is not None:
            self._numbers.pop(tid, None)

    def close(self) -> None:
        """End an open line; write whatever is held."""
        self._interrupt()
        flush_sinks((self._out,), final=True)




def _exit_time(rec: SyscallRecord) -> float | None:
    """When a call returned (its "resumed" line shows that time)."""
    return rec.ts + rec.duration if rec.duration is not None else None
