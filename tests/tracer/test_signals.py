"""Signals: delivered as without trace-run; job control stops really stop (SEIZE)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from tracer.events import GroupStop, SignalDelivery
from tracer.loop import Loop


@pytest.mark.parametrize("seize", [True, False])
def test_signal_handler_runs(cprog, traced, seize: bool) -> None:  # type: ignore[no-untyped-def]
    t = traced([str(cprog("sigs"))], seize=seize)
    assert t.code == 0
    assert t.stdout == "handled\ngot 1\n"
    assert [e.sig for e in t.of(SignalDelivery)] == [signal.SIGUSR1]
    assert t.calls("rt_sigreturn")


def test_job_control_seen_by_the_real_parent(cprog, traced) -> None:  # type: ignore[no-untyped-def]
    """With SEIZE + PTRACE_LISTEN the child really stops: its parent's waitpid(WUNTRACED)
    reports it stopped, and SIGCONT resumes it."""
    t = traced([str(cprog("stopcont"))])
    assert t.stdout == "child stopped by 19\nchild resumed\nchild exited 4\n", t.stdout
    assert t.code == 0
    assert [e.sig for e in t.of(GroupStop)] == [signal.SIGSTOP]


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_sigstop_stays_stopped_until_sigcont(traced) -> None:  # type: ignore[no-untyped-def]
    notes: list[str] = []
    events: list[object] = []

    class Tap:
        def record_entry(self, *a: object) -> None:
            pass

        def record_exit(self, *a: object) -> None:
            pass

        def record_event(self, ev: object) -> None:
            events.append(ev)

    def watch(pid: int) -> None:
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if any(isinstance(e, GroupStop) for e in events):
                    break
                time.sleep(0.01)
            time.sleep(0.3)  # were it not stopped, it would have finished by now
            notes.append(_state(pid))
        finally:
            os.kill(pid, signal.SIGCONT)

    def before(loop: Loop, pid: int) -> None:
        loop.recorders.append(Tap())
        threading.Thread(target=watch, args=(pid,), daemon=True).start()

    t = traced(["sh", "-c", "kill -STOP $$; echo resumed"], before=before)
    assert t.code == 0 and t.stdout == "resumed\n"
    assert notes and notes[0] in ("t", "T")
    assert [e.sig for e in t.of(SignalDelivery)] == [signal.SIGSTOP, signal.SIGCONT]


def test_sigstop_without_seize_does_not_hang(traced) -> None:  # type: ignore[no-untyped-def]
    """Without SEIZE there is no LISTEN: the group-stop is told apart by GETSIGINFO
    failing, not re-injected, and the tracee resumed (strace's behaviour too)."""
    t = traced(["sh", "-c", "kill -STOP $$; echo resumed"], seize=False)
    assert t.code == 0 and t.stdout == "resumed\n"
    assert [e.sig for e in t.of(GroupStop)] == [signal.SIGSTOP]
    assert [e.sig for e in t.of(SignalDelivery)] == [signal.SIGSTOP]


@pytest.mark.parametrize("seize", [True, False])
def test_sigkill_exit_137(traced, seize: bool) -> None:  # type: ignore[no-untyped-def]
    t = traced(["sh", "-c", "kill -KILL $$; echo not reached"], seize=seize)
    assert t.code == 137 and t.stdout == ""
    # kill(2) never returned: reported as unfinished
    kills = t.calls("kill")
    assert kills and kills[-1].ret is None
