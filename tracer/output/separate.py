"""``-ff -o FILE``: strace's lines in one file per task, ``FILE.TID``, without the pid
column.  As strace does, the file is per thread (strace's tcb), opened when the task
first has something to say and closed when it is gone; the timestamps of ``-r`` run on
one clock across the files, as strace's do."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from tracer.events import Exited, Killed, ProcessEvent
from tracer.output.records import SyscallRecord
from tracer.output.stamps import Stamps
from tracer.output.strace import PidPrefix, StraceWriter

Opener = Callable[[str], TextIO]


class Separate:
    """A writer that hands each task's records to a StraceWriter of its own."""

    entries_may_wait = True  # every file is trace-run's own

    def __init__(self, base: str, opener: Opener, *, column: int = 40,
                 stamps: Stamps | None = None, numbers: bool = False) -> None:
        self._base = base
        self._opener = opener
        self._column = column
        self._stamps = stamps
        self._numbers = numbers
        self._writers: dict[int, tuple[StraceWriter, TextIO]] = {}
        self._dirty: set[int] = set()
        self._holding = False

    def _writer(self, tid: int) -> StraceWriter:
        entry = self._writers.get(tid)
        if entry is None:
            stream = self._opener(f"{self._base}.{tid}")
            writer = StraceWriter(stream, pid_prefix=PidPrefix.NEVER, column=self._column,
                                  stamps=self._stamps, numbers=self._numbers)
            if self._holding:
                writer.hold()
            entry = self._writers[tid] = (writer, stream)
        self._dirty.add(tid)
        return entry[0]

    def hold(self) -> None:
        self._holding = True
        for writer, _ in self._writers.values():
            writer.hold()

    def flush(self, final: bool = False) -> None:
        for tid in self._dirty:
            entry = self._writers.get(tid)
            if entry is not None:
                entry[0].flush(final)
        self._dirty.clear()

    def syscall_entry(self, rec: SyscallRecord) -> None:
        self._writer(rec.tid).syscall_entry(rec)

    def syscall_exit(self, rec: SyscallRecord) -> None:
        self._writer(rec.tid).syscall_exit(rec)

    def process_event(self, event: ProcessEvent) -> None:
        self._writer(event.tid).process_event(event)
        if isinstance(event, (Exited, Killed)):
            self._close(event.tid)

    def _close(self, tid: int) -> None:
        entry = self._writers.pop(tid, None)
        self._dirty.discard(tid)
        if entry is not None:
            entry[0].close()
            entry[1].close()

    def close(self) -> None:
        for tid in list(self._writers):
            self._close(tid)
