"""What the writers are given: one :class:`SyscallRecord` per syscall (at its entry, and
again complete at its exit) and the process events of :mod:`tracer.events`; and the
:class:`Writer` protocol every output implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from probes.abi import Abi
from tracer.events import ProcessEvent
from tracer.format import CallText, MemoryReader, is_error
from tracer.format_results import format_return
from tracer.handler import Action


@dataclass(slots=True)
class SyscallRecord:
    """Per-syscall type 4 of 4 (see :mod:`tracer.record`): what the writers get.

    One syscall of one thread.  ``text`` is the formatted call without its result:
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
    action: Action  # what became of the call at its entry
    errno: int | None  # -ret when ret is an error, else None
    text: str
    result: str | None = None  # strace's text after "= "; None: derived from ret
    duration: float | None = None  # seconds from entry stop to exit stop

    def __post_init__(self) -> None:
        if len(self.args) != 6:
            raise ValueError(f"SyscallRecord needs 6 args, got {len(self.args)}: {self.args}")

    @classmethod
    def at_entry(cls, call: CallText, *, ts: float, pid: int, tid: int,
                 action: Action = Action.ALLOW) -> SyscallRecord:
        """The record of a call at its entry stop."""
        return cls(ts, pid, tid, call.abi, call.nr, call.name, call.args, None, action,
                   None, call.entry)

    def at_exit(self, call: CallText, ret: int | None, read_memory: MemoryReader, *,
                duration: float | None = None, action: Action | None = None) -> SyscallRecord:
        """This record completed at the exit stop (``ret`` None: the call never returned)."""
        return SyscallRecord(self.ts, self.pid, self.tid, self.abi, self.nr, self.name,
                             self.args, ret, self.action if action is None else action,
                             errno_of(ret, self.abi),
                             call.finish(ret, read_memory), call.result(ret, read_memory), duration)

    def result_text(self) -> str:
        if self.result is not None:
            return self.result
        return format_return(self.ret, name=self.name, abi=self.abi, args=self.args)


def errno_of(ret: int | None, abi: Abi) -> int | None:
    """A :attr:`SyscallRecord.errno`: the error number when ``ret`` (the raw return
    register, either sign) is an error, else None."""
    if ret is None or not is_error(ret, abi):
        return None
    return -ret if ret < 0 else (1 << (32 if abi is _I386 else 64)) - ret


_I386 = Abi.I386   # a global: an enum member read from its class costs ~0.1 µs


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


