"""Following threads and children: every one traced, every exit status kept."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from tracer.events import Exec, Exited, Fork, Killed


@pytest.mark.parametrize("seize", [True, False])
def test_threads_making_syscalls_at_once(cprog, traced, seize: bool) -> None:  # type: ignore[no-untyped-def]
    nthreads, ncalls = 8, 300
    t = traced([str(cprog("threads")), str(nthreads), str(ncalls)], seize=seize)
    assert t.code == 0 and t.stdout == "ok\n"
    per_tid = Counter(r.call.tid for r in t.calls("getppid"))
    assert len(per_tid) == nthreads
    assert set(per_tid.values()) == {ncalls}
    pids = {r.call.pid for r in t.records}
    assert len(pids) == 1
    (pid,) = pids
    assert pid not in per_tid  # the leader made none of them
    clones = [e for e in t.of(Fork) if e.kind == "clone"]
    assert sorted(e.child for e in clones) == sorted(per_tid)
    thread_exits = [e for e in t.of(Exited) if e.tid in per_tid]
    assert len(thread_exits) == nthreads and all(e.pid == pid for e in thread_exits)


@pytest.mark.parametrize("seize", [True, False])
def test_sh_pipeline_fork_exec_chain(traced, seize: bool) -> None:  # type: ignore[no-untyped-def]
    t = traced(["sh", "-c", "echo one two | tr a-z A-Z | wc -w; exit 3"], seize=seize)
    assert t.code == 3
    assert t.stdout.strip() == "2"
    forks = t.of(Fork)
    execs = t.of(Exec)
    assert len(forks) >= 3 and all(f.kind in ("fork", "clone", "vfork") for f in forks)
    children = {f.child for f in forks}
    # every child exec'd (echo is a builtin in a forked subshell: the others exec)
    assert len([e for e in execs if e.pid in children]) >= 2
    exits = {e.tid: e.status for e in t.of(Exited)}
    assert children <= set(exits)
    assert exits[t.loop.initial_pid] == 3
    # every syscall of a child is attributed to it, from its first one
    for child in children:
        assert child in {r.call.tid for r in t.records}


def test_vfork_and_posix_spawn(cprog, traced) -> None:  # type: ignore[no-untyped-def]
    t = traced([str(cprog("spawners"))])
    assert t.code == 5
    assert "vfork child exited 0" in t.stdout and "posix_spawn child exited 5" in t.stdout
    kinds = [f.kind for f in t.of(Fork)]
    assert kinds.count("vfork") >= 1
    assert len(kinds) >= 2
    # both children are traced through exec to exit
    exec_pids = {e.pid for e in t.of(Exec)}
    assert {f.child for f in t.of(Fork)} <= exec_pids
    assert any(r.call.name == "exit_group" and r.call.pid != t.loop.initial_pid
               for r in t.records)


@pytest.mark.parametrize("seize", [True, False])
def test_exec_from_a_non_leader_thread(cprog, traced, seize: bool) -> None:  # type: ignore[no-untyped-def]
    t = traced([str(cprog("thread_exec"))], seize=seize)
    pid = t.loop.initial_pid
    assert t.code == 7
    assert f"leader {pid}" in t.stdout and f"exec-from-thread {pid}" in t.stdout
    (clone,) = [f for f in t.of(Fork) if f.kind == "clone"]
    thread_exec = [e for e in t.of(Exec) if e.former_tid == clone.child]
    assert len(thread_exec) == 1 and thread_exec[0].pid == thread_exec[0].tid == pid
    # the execve was made by the thread and returns 0 in the process it became
    (ex,) = [r for r in t.calls("execve") if r.call.tid == clone.child]
    assert ex.ret == 0
    # after exec, the shell's syscalls carry the leader's tid
    after = t.records[t.records.index(ex) + 1:]
    assert after and all(r.call.tid == pid and r.call.pid == pid for r in after)
    assert not t.loop.threads


def test_exit_code_and_death_by_signal(traced) -> None:  # type: ignore[no-untyped-def]
    assert traced(["sh", "-c", "exit 3"]).code == 3
    t = traced(["sh", "-c", "kill -KILL $$"])
    assert t.code == 128 + signal.SIGKILL
    killed = t.of(Killed)
    assert killed and killed[-1].sig == signal.SIGKILL
    t = traced(["sh", "-c", "kill -TERM $$"])
    assert t.code == 128 + signal.SIGTERM


def test_exit_status_of_the_initial_process_not_the_last(traced) -> None:  # type: ignore[no-untyped-def]
    """A background child outliving the shell does not decide trace-run's status."""
    t = traced(["sh", "-c", "(sleep 0.2; exit 9) & exit 4"])
    assert t.code == 4
    statuses = sorted(e.status for e in t.of(Exited) if e.tid == e.pid)
    assert 9 in statuses and 4 in statuses


class _Comms:
    """A handler noting the thread's comm at every syscall entry."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes]] = []

    def on_entry(self, call, tracee):  # type: ignore[no-untyped-def]
        from tracer.handler import ALLOW
        self.seen.append((call.name, tracee.comm().rstrip(b"\0")))
        return ALLOW

    def on_exit(self, call, ret, tracee) -> None:  # type: ignore[no-untyped-def]
        return None


def test_comm_follows_exec_and_prctl(traced) -> None:  # type: ignore[no-untyped-def]
    """The tracee's comm is cached per thread: an exec and prctl(PR_SET_NAME) renew it."""
    import sys
    script = ("import ctypes, os; os.getppid(); "
              "ctypes.CDLL(None).prctl(15, b'renamed', 0, 0, 0); os.getppid()")
    h = _Comms()
    t = traced(["sh", "-c", f"exec {sys.executable} -c \"{script}\""], h)
    assert t.code == 0, t.stderr
    execs = [comm for name, comm in h.seen if name == "execve"]
    assert execs[-1] == b"sh"                      # sh's own exec of python
    getppid = [comm for name, comm in h.seen if name == "getppid"]
    assert getppid[-2].startswith(b"python") and getppid[-1] == b"renamed"
