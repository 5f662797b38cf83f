"""JSON Lines (:class:`JsonWriter`): one object per finished syscall and per process
event."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
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
from tracer.handler import Action
from tracer.output.records import SyscallRecord
from tracer.output.sink import Sink, flush_sinks
from tracer.syscalls.xlat import signal_name


def syscall_json(rec: SyscallRecord) -> dict[str, object]:
    """The JSON object of one syscall, in the documented key order."""
    return {
        "ts": float(rec.ts), "pid": rec.pid, "tid": rec.tid, "abi": str(rec.abi),
        "nr": rec.nr, "name": rec.name, "args": [int(a) for a in rec.args], "ret": rec.ret,
        "action": rec.action.value, "errno": rec.errno,
    }


@functools.lru_cache(maxsize=4096)
def _json_str(text: str) -> str:
    return json.dumps(text)


# '"abi":"x86_64","nr":0,"name":"read",' by (abi, nr, name), and "allow" -> '"allow"'.
_JSON_CALLS: dict[tuple[Abi, int, str], str] = {}
_JSON_LINE = ('{"ts":%r,"pid":%d,"tid":%d,%s"args":[%d,%d,%d,%d,%d,%d],"ret":%s,'
              '"action":%s,"errno":%s}\n')


_JSON_ACTIONS = {a: _json_str(a.value) for a in Action}


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
    action = _JSON_ACTIONS[rec.action]
    ret, errno = rec.ret, rec.errno
    return _JSON_LINE % (float(rec.ts), rec.pid, rec.tid, call, *rec.args,
                         "null" if ret is None else str(int(ret)), action,
                         "null" if errno is None else str(int(errno)))


# The "event" key of each process event type.
_EVENT_NAMES: dict[type, str] = {Fork: "fork", Exec: "exec", SignalDelivery: "signal",
                                 GroupStop: "stop", Exited: "exit", Killed: "exit",
                                 Detached: "detach"}


def event_json(event: ProcessEvent) -> dict[str, object]:
    """The JSON object of one process event: common keys, then the kind's own."""
    name = "thread" if isinstance(event, Fork) and event.thread else _EVENT_NAMES[type(event)]
    obj: dict[str, object] = {"event": name, "ts": float(event.ts), "pid": event.pid,
                              "tid": event.tid}
    match event:
        case Exited(status=status):
            obj.update(status=status, signal=None, signo=None, core_dumped=False)
        case Killed(sig=sig, core_dumped=core):
            obj.update(status=None, signal=signal_name(sig), signo=sig, core_dumped=core)
        case SignalDelivery(sig=sig, siginfo=info):
            obj.update(signal=signal_name(sig), signo=sig,
                       siginfo=dict(info) if info is not None else None)
        case GroupStop(sig=sig):
            obj.update(signal=signal_name(sig), signo=sig)
        case Exec(former_tid=former, path=path):
            obj.update(path=path, former_tid=former if former != event.tid else None)
        case Fork(kind=kind, child=child):
            obj.update(kind=kind, child=child)
    return obj


class JsonWriter:
    """JSON Lines: one object per finished syscall and per process event, each line
    written whole (see the module docstring), so the file parses line by line."""

    entries_may_wait = True   # nothing is written at an entry
    needs_entries = False
    needs_text = False

    def __init__(self, stream: TextIO) -> None:
        self._out = Sink(stream)

    def hold(self) -> None:
        """Keep the lines until :meth:`flush` (all of them are whole)."""
        self._out.hold(whole_lines=True)

    def flush(self, final: bool = False) -> None:
        flush_sinks((self._out,), final)

    def _held_sinks(self) -> tuple[Sink, ...]:
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
        flush_sinks((self._out,), final=True)


