"""Decisions applied to the real process: skip with a return value, kill before the
call runs, signals; and what the handler can see of the tracee."""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

import pytest

from tracer.handler import ALLOW, Action, Decision, SignalRequest, SyscallCall, Tracee


class DenyMkdir:
    def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
        if call.name in ("mkdir", "mkdirat"):
            return Decision.deny(errno.EACCES)
        return ALLOW

    def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
        pass


class KillOn:
    def __init__(self, name: str) -> None:
        self.name = name

    def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
        return Decision.kill() if call.name == self.name else ALLOW

    def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
        pass


@pytest.mark.parametrize("seize", [True, False])
def test_deny_mkdir_with_eacces(tmp_path: Path, traced, seize: bool) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "newdir"
    t = traced(["mkdir", str(target)], DenyMkdir(), seize=seize)
    assert not target.exists()
    assert t.code == 1
    assert "Permission denied" in t.stderr
    (rec,) = [r for r in t.records if r.call.name in ("mkdir", "mkdirat")]
    assert rec.ret == -errno.EACCES and rec.decision.action is Action.DENY
    assert rec.decision.errno == errno.EACCES


def test_kill_decision_stops_the_call_before_it_runs(tmp_path: Path, traced) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "newdir"
    t = traced(["mkdir", str(target)], KillOn("mkdir"))
    assert not target.exists()
    assert t.code == 128 + signal.SIGKILL
    (rec,) = t.calls("mkdir")
    assert rec.ret is None and rec.decision.action is Action.KILL


def test_kill_decision_in_a_threaded_process(cprog, traced) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL goes to the whole thread group: no thread survives, no thread is lost."""
    t = traced([str(cprog("threads")), "4", "200"], KillOn("getppid"))
    assert t.code == 137
    assert len(t.calls("getppid")) >= 1
    assert t.loop is not None and not t.loop.threads


def test_override_with_a_value(cprog, traced) -> None:  # type: ignore[no-untyped-def]
    class FakePid:
        def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
            return Decision("fake", 4242) if call.name == "getpid" else ALLOW

        def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
            pass

    t = traced([str(cprog("getpid"))], FakePid())
    assert t.stdout == "4242\n" and t.code == 0
    (rec,) = t.calls("getpid")
    assert rec.ret == 4242 and rec.decision.errno is None


def test_signals_from_the_handler(cprog, traced) -> None:  # type: ignore[no-untyped-def]
    """send_signal(thread=True) at the getpid entry: the call still runs, then the
    program's own SIGUSR1 handler runs; a fatal one in a Decision kills before the call."""

    class Usr1:
        def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
            if call.name == "getpid":
                tracee.send_signal(signal.SIGUSR1, thread=True)
            return ALLOW

        def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
            pass

    t = traced([str(cprog("getpid"))], Usr1())
    # SIGUSR1's default action terminates: the signal arrived after getpid returned
    assert t.code == 128 + signal.SIGUSR1
    (rec,) = t.calls("getpid")
    assert rec.ret == t.loop.initial_pid  # type: ignore[union-attr]

    class Fatal:
        def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
            if call.name == "getpid":
                return Decision(Action.ALLOW, signals=(SignalRequest(signal.SIGKILL),))
            return ALLOW

        def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
            pass

    t = traced([str(cprog("getpid"))], Fatal())
    assert t.code == 137 and t.stdout == ""


def test_tracee_view_memory_comm_ids(tmp_path: Path, traced) -> None:  # type: ignore[no-untyped-def]
    seen: dict[str, object] = {}
    path = tmp_path / "some-file"
    path.write_text("x")

    class Look:
        def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
            if call.name == "openat" and "path" not in seen:
                raw = tracee.read_memory(call.args[1], 4096 - call.args[1] % 4096)
                if raw is not None and raw.split(b"\0")[0] == str(path).encode():
                    seen["path"] = raw.split(b"\0")[0]
                    seen["comm"] = tracee.comm()
                    seen["ids"] = tracee.uid_gid()
                    seen["pidtid"] = (tracee.pid, tracee.tid, call.pid, call.tid)
                    seen["bad"] = tracee.read_memory(8, 16)
                    from tracer.tracee import _peek_range
                    seen["peek"] = _peek_range(tracee.tid, call.args[1] + 1, 5)
            return ALLOW

        def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
            pass

    t = traced(["cat", str(path)], Look())
    assert t.code == 0 and t.stdout == "x"
    assert seen["path"] == str(path).encode()
    assert seen["comm"] == b"cat".ljust(16, b"\0")
    assert seen["ids"] == (os.getuid(), os.getgid())
    pid, tid, cpid, ctid = seen["pidtid"]  # type: ignore[misc]
    assert pid == tid == cpid == ctid == t.loop.initial_pid  # type: ignore[union-attr]
    assert seen["bad"] is None
    assert seen["peek"] == str(path).encode()[1:6]
