"""The ``-c`` table (:class:`Summary`): calls, errors, denials and time per syscall,
with strace's ``-S`` (sort), ``-U`` (columns) and ``-w`` (wall-clock time); and
:class:`SystemClock`, the recorder that measures each call's system time."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final, TextIO

from probes.abi import Abi
from tracer.events import Detached, Exec, Exited, Killed, ProcessEvent
from tracer.format import is_error
from tracer.handler import Action, Decision, SyscallCall, Tracee
from tracer.output.records import SyscallRecord
from tracer.output.sink import Sink, flush_sinks
from tracer.output.strace import PERSONALITY


class Column(Enum):
    """A column of the table (strace's ``enum count_summary_columns``, plus DENIED)."""

    TIME_PERCENT = "% time"
    TIME_TOTAL = "seconds"
    TIME_MIN = "shortest"
    TIME_MAX = "longest"
    TIME_AVG = "usecs/call"
    CALLS = "calls"
    ERRORS = "errors"
    DENIED = "denied"
    NAME = "syscall"


_C = Column
COLUMN_NAMES: Final[Mapping[str, Column | None]] = {
    # strace 6.1's column_aliases (src/count.c), for -U and -S alike
    "time": _C.TIME_PERCENT, "time_percent": _C.TIME_PERCENT,
    "time-percent": _C.TIME_PERCENT,
    "time_total": _C.TIME_TOTAL, "time-total": _C.TIME_TOTAL, "total_time": _C.TIME_TOTAL,
    "total-time": _C.TIME_TOTAL,
    "min_time": _C.TIME_MIN, "min-time": _C.TIME_MIN, "shortest": _C.TIME_MIN,
    "time_min": _C.TIME_MIN, "time-min": _C.TIME_MIN,
    "longest": _C.TIME_MAX, "max_time": _C.TIME_MAX, "max-time": _C.TIME_MAX,
    "time_max": _C.TIME_MAX, "time-max": _C.TIME_MAX,
    "avg_time": _C.TIME_AVG, "avg-time": _C.TIME_AVG, "time_avg": _C.TIME_AVG,
    "time-avg": _C.TIME_AVG,
    "calls": _C.CALLS, "count": _C.CALLS,
    "error": _C.ERRORS, "errors": _C.ERRORS,
    "name": _C.NAME, "syscall": _C.NAME, "syscall_name": _C.NAME, "syscall-name": _C.NAME,
    "none": None, "nothing": None,
    # trace-run's own column: calls the handler did not let run as asked
    "denied": _C.DENIED,
}
"""-U and -S names -> column (None: -S nothing, the syscall-number order)."""

DEFAULT_COLUMNS: Final = (_C.TIME_PERCENT, _C.TIME_TOTAL, _C.TIME_AVG, _C.CALLS, _C.ERRORS,
                          _C.DENIED, _C.NAME)
"""strace -c's columns and trace-run's ``denied`` before the name."""


def parse_columns(spec: str) -> tuple[Column, ...]:
    """``-U name,calls,...`` as strace reads it: known names only, each column once, the
    name column added at the end when missing.  ValueError names what is wrong."""
    out: list[Column] = []
    for word in spec.split(","):
        col = COLUMN_NAMES.get(word)
        if col is None:
            raise ValueError(f"unknown column name: '{word}'")
        if col in out:
            raise ValueError(f"call summary column has been provided more than once:"
                             f" '{word}'")
        out.append(col)
    if _C.NAME not in out:
        out.append(_C.NAME)
    return tuple(out)


def parse_sort_by(spec: str) -> Column | None:
    """``-S`` as strace reads it: any column name (None: ``nothing``, by number)."""
    if spec not in COLUMN_NAMES:
        raise ValueError(f"invalid sortby: '{spec}'")
    return COLUMN_NAMES[spec]


@dataclass(slots=True)
class _Count:
    nr: int
    calls: int = 0
    errors: int = 0
    denied: int = 0
    ns: int = 0
    min_ns: int = -1
    max_ns: int = 0


_SORT: Final[Mapping[Column, Callable[[tuple[str, _Count]], int | bytes]]] = {
    # strace's comparators: times, calls, errors descending; names by strcmp
    _C.TIME_PERCENT: lambda kv: -kv[1].ns,
    _C.TIME_TOTAL: lambda kv: -kv[1].ns,
    _C.TIME_MIN: lambda kv: -kv[1].min_ns,
    _C.TIME_MAX: lambda kv: -kv[1].max_ns,
    _C.TIME_AVG: lambda kv: -(kv[1].ns // kv[1].calls),
    _C.CALLS: lambda kv: -kv[1].calls,
    _C.ERRORS: lambda kv: -kv[1].errors,
    _C.DENIED: lambda kv: -kv[1].denied,
    _C.NAME: lambda kv: kv[0].encode(),
}


class Summary:
    """``strace -c``'s table plus a ``denied`` column, written at :meth:`close`.

    ``sort_by`` and ``columns`` take strace's ``-S`` and ``-U`` texts (ValueError on a
    bad one, with strace's message).  Rows sort as strace's (stable) qsort leaves them:
    by the key, ties in syscall-number order; ``-S nothing`` keeps that order.

    Time: with ``wall_clock`` (``-w``), each call's ``duration``, the wall-clock time
    from its entry stop to its exit stop.  Without it, strace -c's default, the system
    CPU time of each call, which :attr:`clock` (a :class:`SystemClock`) measures at the
    stops: the caller must hand ``summary.clock`` to the loop as one more recorder,
    before the output recorder.  As in strace, a call is counted at its exit stop, so
    one that never returns (exit_group) is not; a call the policy stopped is counted,
    and denied, even without an exit stop.  Each ABI other than x86_64 gets its own
    table under strace's heading ("System call usage summary for 32 bit mode:")."""

    HEADER = ("% time     seconds  usecs/call     calls    errors    denied syscall\n"
              "------ ----------- ----------- --------- --------- --------- ----------------\n")
    RULE = "------ ----------- ----------- --------- --------- --------- ----------------\n"

    entries_may_wait = True   # nothing is written at an entry
    needs_entries = False
    needs_text = False

    def __init__(self, stream: TextIO | None = None, *, sort_by: str = "time",
                 columns: str | None = None, wall_clock: bool = True) -> None:
        self._sort = parse_sort_by(sort_by)
        self._columns = DEFAULT_COLUMNS if columns is None else parse_columns(columns)
        self.clock: SystemClock | None = None if wall_clock else SystemClock()
        self._out = Sink(stream) if stream is not None else None
        self._counts: dict[Abi, dict[str, _Count]] = {}
        self._by_call: dict[tuple[Abi, str], _Count] = {}  # the same counts, flat

    def hold(self) -> None:
        """Nothing is written before :meth:`close`: nothing to hold."""

    def flush(self, final: bool = False) -> None:
        pass

    def _held_sinks(self) -> tuple[Sink, ...]:
        return ()

    def syscall_entry(self, rec: SyscallRecord) -> None:
        pass

    def syscall_exit(self, rec: SyscallRecord) -> None:
        ret, action = rec.ret, rec.action
        clock = self.clock
        if ret is None and action is Action.ALLOW:
            if clock is not None:
                clock.times.pop((rec.tid, rec.ts), None)
            return
        key = (rec.abi, rec.name)
        count = self._by_call.get(key)
        if count is None:
            count = self._counts.setdefault(rec.abi, {}).setdefault(rec.name, _Count(rec.nr))
            self._by_call[key] = count
        count.calls += 1
        if ret is not None and is_error(ret, rec.abi):
            count.errors += 1
        if action is not Action.ALLOW:
            count.denied += 1
        if clock is None:
            ns = round(rec.duration * 1e9) if rec.duration else 0
        else:
            ns = clock.times.pop((rec.tid, rec.ts), 0)
        count.ns += ns
        if ns > count.max_ns:
            count.max_ns = ns
        if ns < count.min_ns or count.min_ns < 0:
            count.min_ns = ns

    def process_event(self, event: ProcessEvent) -> None:
        pass

    def _table(self, counts: Mapping[str, _Count]) -> str:
        rows = sorted(counts.items(), key=lambda kv: (kv[1].nr, kv[0]))
        if self._sort is not None:
            rows.sort(key=_SORT[self._sort])
        return _render(rows, self._columns)

    def render(self) -> str:
        """The tables as text ("" when no call was counted)."""
        parts = []
        for abi in Abi:
            if abi in self._counts:
                if abi is not Abi.X86_64:
                    parts.append(f"System call usage summary for {PERSONALITY[abi]} mode:\n")
                parts.append(self._table(self._counts[abi]))
        return "".join(parts)

    def close(self) -> None:
        """Write the tables (and anything else held)."""
        if self.clock is not None:
            self.clock.close()
        if self._out is not None:
            text = self.render()
            if text:
                self._out.write(text)
            flush_sinks((self._out,), final=True)


def _fixed6(ns: int) -> str:
    return f"{ns / 1e9:.6f}"


def _render(rows: list[tuple[str, _Count]], columns: tuple[Column, ...]) -> str:
    """strace's call_summary_pers: widths from the values, the name column unpadded
    when it is the last."""
    counts = [c for _, c in rows]
    total_ns = sum(c.ns for c in counts)
    calls = sum(c.calls for c in counts)
    errors = sum(c.errors for c in counts)
    denied = sum(c.denied for c in counts)
    min_ns = min(c.min_ns for c in counts)
    max_ns = max(c.max_ns for c in counts)
    min_max_ns = max(c.min_ns for c in counts)
    avg_max_ns = max(c.ns // c.calls for c in counts)
    width = {
        _C.TIME_PERCENT: 6,
        _C.TIME_TOTAL: max(11, len(_fixed6(total_ns))),
        _C.TIME_MIN: max(8, len(f"{min_max_ns // 10**9}.000000")),
        _C.TIME_MAX: max(7, len(f"{max_ns // 10**9}.000000")),
        _C.TIME_AVG: max(11, len(str(int(avg_max_ns / 1e9 * 1e6)))),
        _C.CALLS: max(9, len(str(calls))),
        _C.ERRORS: max(9, len(str(errors))),
        _C.DENIED: max(9, len(str(denied))),
        _C.NAME: max(16, max(len(name) for name, _ in rows) + 1),
    }
    last = len(columns) - 1

    def line(cells: Iterable[tuple[Column, str]]) -> str:
        out = []
        for i, (col, text) in enumerate(cells):
            w = width[col]
            if col is _C.NAME:
                out.append(text if i == last else f"{text:<{w}}")
            else:
                out.append(f"{text:>{w}}")
        return " ".join(out) + "\n"

    def values(c: _Count, name: str, pct: float, avg_us: int, lo: int, hi: int
               ) -> Iterable[tuple[Column, str]]:
        for col in columns:
            if col is _C.TIME_PERCENT:
                text = f"{pct:.2f}"
            elif col is _C.TIME_TOTAL:
                text = _fixed6(c.ns)
            elif col is _C.TIME_MIN:
                text = _fixed6(lo)
            elif col is _C.TIME_MAX:
                text = _fixed6(hi)
            elif col is _C.TIME_AVG:
                text = str(avg_us)
            elif col is _C.CALLS:
                text = str(c.calls)
            elif col is _C.ERRORS:
                text = str(c.errors) if c.errors else ""     # C's %.0lu prints 0 as ""
            elif col is _C.DENIED:
                text = str(c.denied) if c.denied else ""
            else:
                text = name
            yield col, text

    rule = " ".join("-" * width[col] for col in columns) + "\n"
    lines = [line((col, col.value) for col in columns), rule]
    for name, c in rows:
        pct = 100.0 * c.ns / total_ns if c.ns else 0.0
        # strace: the total as a timespec divided by the calls, shown in whole µs
        lines.append(line(values(c, name, pct, c.ns // c.calls // 1000, c.min_ns, c.max_ns)))
    lines.append(rule)
    total = _Count(0, calls, errors, denied, total_ns)
    avg_us = int(total_ns / 1e9 / calls * 1e6) if calls else 0
    lines.append(line(values(total, "total", 100.0, avg_us, min_ns, max_ns)))
    return "".join(lines)


class SystemClock:
    """A recorder for the loop: the system CPU time of each call, for ``strace -c``
    without ``-w``.  Between its syscall-entry and -exit stops a thread runs only the
    kernel's code for the call, so the growth of its on-CPU time
    (``/proc/TID/schedstat``'s first field, in ns, read at both stops) is the call's
    system time.  strace reads the stime of wait4's rusage instead, which counts the
    whole process in coarser steps; this is the thread's own.

    ``times`` maps (tid, entry time) to the ns, for :meth:`Summary.syscall_exit` to
    take.  Costs two ``pread`` of a kept-open file per syscall (about 1 µs each)."""

    def __init__(self) -> None:
        self.times: dict[tuple[int, float], int] = {}
        self._fds: dict[int, int] = {}
        self._entry: dict[int, int] = {}

    def _now(self, tid: int) -> int | None:
        fd = self._fds.get(tid)
        try:
            if fd is None:
                fd = self._fds[tid] = os.open(f"/proc/{tid}/schedstat", os.O_RDONLY)
            return int(os.pread(fd, 64, 0).split(None, 1)[0])
        except (OSError, ValueError, IndexError):
            return None

    def record_entry(self, call: SyscallCall, decision: Decision, tracee: Tracee) -> None:
        ns = self._now(call.tid)
        if ns is not None:
            self._entry[call.tid] = ns

    def record_exit(self, call: SyscallCall, ret: int | None, decision: Decision,
                    tracee: Tracee | None, ts: float) -> None:
        start = self._entry.pop(call.tid, None)
        if start is None or tracee is None:
            return
        ns = self._now(call.tid)
        if ns is not None:
            self.times[(call.tid, call.ts)] = max(ns - start, 0)

    def record_event(self, ev: ProcessEvent) -> None:
        if isinstance(ev, (Exited, Killed, Detached)):
            self._forget(ev.tid)
        elif isinstance(ev, Exec) and ev.former_tid != ev.tid:
            self._forget(ev.former_tid)     # took over the leader's tid: a new file
            self._forget(ev.tid)

    def _forget(self, tid: int) -> None:
        fd = self._fds.pop(tid, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        """Close the kept files (the summary's close does it too)."""
        for tid in list(self._fds):
            self._forget(tid)


__all__ = ["COLUMN_NAMES", "DEFAULT_COLUMNS", "Column", "Summary", "SystemClock",
           "parse_columns", "parse_sort_by"]
