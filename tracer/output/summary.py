"""The ``-c`` table (:class:`Summary`): calls, errors, denials and time per syscall."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from probes.abi import Abi
from tracer.events import ProcessEvent
from tracer.format import is_error
from tracer.handler import Action
from tracer.output.records import SyscallRecord
from tracer.output.sink import Sink, flush_sinks
from tracer.output.strace import PERSONALITY


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
        if ret is None and action is Action.ALLOW:
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
                    parts.append(f"System call usage summary for {PERSONALITY[abi]} mode:\n")
                parts.append(self._table(self._counts[abi]))
        return "".join(parts)

    def close(self) -> None:
        """Write the tables (and anything else held)."""
        if self._out is not None:
            text = self.render()
            if text:
                self._out.write(text)
            flush_sinks((self._out,), final=True)


def _blank_zero(n: int) -> str:
    return f"{n:9d}" if n else " " * 9


def _row(pct: str, seconds: float, calls: int, errors: int, denied: int, name: str) -> str:
    # strace: the total as a timespec divided by the calls, then shown in whole µs
    usecs = round(seconds * 1e9) // calls // 1000 if calls else 0
    return (f"{pct:>6} {seconds:11.6f} {usecs:11d} {calls:9d} {_blank_zero(errors)} "
            f"{_blank_zero(denied)} {name}\n")


