"""What the recorder's batching keeps: lines never cut, JSON valid line by line after
every flush, order, nothing lost at close or when trace-run is stopped, and an entry to a
stream the traced program shares written before the call runs."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from probes.abi import Abi, syscall_number
from tests.test_format import FakeMemory
from tests.test_output import lines_left_by
from tracer.events import Exited, Fork
from tracer.handler import ALLOW, Decision, SyscallCall, Tracee
from tracer.output import sink
from tracer.output.jsonl import JsonWriter
from tracer.output.sink import Fanout
from tracer.output.strace import PidPrefix, StraceWriter
from tracer.output.summary import Summary
from tracer.record import OutputRecorder

ROOT = Path(__file__).resolve().parents[2]
MEM = FakeMemory()
BUF = MEM.put(b"hello world\n\0")
PATH = MEM.put(b"/etc/ld.so.cache\0")


class _Thread:
    """A stopped tracee as the recorder sees it."""

    def __init__(self, tid: int, pid: int | None = None) -> None:
        self.tid = tid
        self.pid = pid or tid

    def read_memory(self, addr: int, size: int) -> bytes | None:
        return MEM(addr, size)


def Thread(tid: int, pid: int | None = None) -> Tracee:
    return cast(Tracee, _Thread(tid, pid))


def call(tid: int, name: str, *args: int, pid: int | None = None) -> SyscallCall:
    nr = syscall_number(Abi.X86_64, name)
    assert nr is not None
    regs = (tuple(args) + (0,) * 6)[:6]
    return SyscallCall(pid or tid, tid, Abi.X86_64, nr, nr, name, regs,  # type: ignore[arg-type]
                       bytes(168), 1000.0 + tid)


# A run of two tasks: interleaved calls, a denied one, one that never returns.
def script() -> Iterator[tuple[str, Any]]:
    read = call(10, "read", 0, BUF, 12)
    yield "entry", (read, ALLOW)
    yield "exit", (read, 12, ALLOW)
    yield "event", Fork(10, 10, 1000.5, "fork", 11)
    wait = call(10, "wait4", 2**64 - 1, 0, 0, 0)
    yield "entry", (wait, ALLOW)
    write = call(11, "write", 1, BUF, 12, pid=10)
    yield "entry", (write, ALLOW)
    yield "exit", (write, 12, ALLOW)
    denied = Decision.deny(13)
    openat = call(11, "openat", 2**64 - 100, PATH, 0o2000000, pid=10)
    yield "entry", (openat, denied)
    yield "exit", (openat, -13, denied)
    leave = call(11, "exit_group", 3, pid=10)
    yield "entry", (leave, ALLOW)
    yield "exit", (leave, None, ALLOW)
    yield "event", Exited(10, 11, 1001.0, 3)
    yield "exit", (wait, 11, ALLOW)
    close = call(10, "close", 3)
    yield "entry", (close, ALLOW)
    yield "exit", (close, 0, ALLOW)


def play(rec: OutputRecorder, *, after: Callable[[str], None] | None = None) -> None:
    """Feed :func:`script` as the loop does: a flush after every stop (then ``after``,
    given the step's kind)."""
    for kind, item in script():
        if kind == "entry":
            c, decision = item
            rec.record_entry(c, decision, Thread(c.tid, c.pid))
        elif kind == "exit":
            c, ret, decision = item
            th = Thread(c.tid, c.pid) if ret is not None else None
            rec.record_exit(c, ret, decision, th, 1002.0)
        else:
            rec.record_event(item)
        rec.flush()
        if after is not None:
            after(kind)


def direct_text(pid_prefix: PidPrefix) -> str:
    """The same run written straight to a StringIO, no holding."""
    out = io.StringIO()
    w = Fanout([StraceWriter(out, pid_prefix=pid_prefix)])
    rec = OutputRecorder(w)
    play(rec)
    w.close()
    return out.getvalue()


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bytes]]:
    """Every write(2) the writers make, by fd."""
    seen: list[tuple[int, bytes]] = []
    real = os.write

    def spy(fd: int, data: bytes | memoryview) -> int:
        seen.append((fd, bytes(data)))
        return real(fd, data)

    monkeypatch.setattr(sink.os, "write", spy)
    return seen


def test_held_text_is_byte_identical_and_written_in_whole_lines(
        tmp_path: Path, writes: list[tuple[int, bytes]]) -> None:
    path = tmp_path / "trace.txt"
    with path.open("w") as f:
        w = Fanout([StraceWriter(f, pid_prefix=PidPrefix.ALWAYS)])
        assert w.entries_may_wait   # a file of our own
        play(OutputRecorder(w))
        w.close()
        fd = f.fileno()
    text = path.read_text()
    assert text == direct_text(PidPrefix.ALWAYS)
    assert "<unfinished ...>" in text and "resumed>" in text and "(DENIED)" in text
    chunks = [data for wfd, data in writes if wfd == fd]
    assert b"".join(chunks) == text.encode()
    assert all(chunk.endswith(b"\n") for chunk in chunks)   # a line is never cut


def test_entry_waits_in_memory_until_its_line_ends_then_one_write(
        tmp_path: Path, writes: list[tuple[int, bytes]]) -> None:
    path = tmp_path / "trace.txt"
    with path.open("w") as f:
        w = Fanout([StraceWriter(f, pid_prefix=PidPrefix.ALWAYS)])
        rec = OutputRecorder(w)
        c = call(7, "read", 0, BUF, 12)
        rec.record_entry(c, ALLOW, Thread(7))
        rec.flush()
        assert path.read_text() == "" and writes == []
        rec.record_exit(c, 12, ALLOW, Thread(7), 1.0)
        assert path.read_text() == ""   # written at flush, once the tracee runs again
        rec.flush()
        line = '7     read(0, "hello world\\n", 12)      = 12\n'
        assert path.read_text() == line
        assert writes == [(f.fileno(), line.encode())]
        rec.record_entry(c, ALLOW, Thread(7))
        rec.flush()
        w.close()   # the held entry is not lost
    assert path.read_text() == line + "7     read(0,  <unfinished ...>\n"


def test_an_entry_to_a_shared_stream_goes_out_before_the_call_runs(
        writes: list[tuple[int, bytes]]) -> None:
    r, wfd = os.pipe()   # shared: -o /dev/stderr into a pipe, say
    try:
        with open(wfd, "w") as stream:
            text = StraceWriter(stream)
            assert not text.entries_may_wait
            fan = Fanout([text, Summary()])
            rec = OutputRecorder(fan)
            c = call(7, "write", 1, BUF, 12)
            rec.record_entry(c, ALLOW, Thread(7))   # no flush: the call has not run yet
            assert os.read(r, 4096) == b'write(1, "hello world\\n", 12'
            rec.record_exit(c, 12, ALLOW, Thread(7), 1.0)
            rec.flush()
            assert os.read(r, 4096) == b")" + b" " * 11 + b"= 12\n"   # "=" at column 40
            fan.close()
    finally:
        os.close(r)


def test_json_parses_line_by_line_after_every_flush(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with path.open("w") as f:
        w = Fanout([JsonWriter(f)])
        finished = 0
        objs: list[dict[str, Any]] = []

        def check(kind: str) -> None:
            nonlocal finished, objs
            finished += kind != "entry"   # an exit or an event makes one line
            data = path.read_text()
            assert data == "" or data.endswith("\n")
            objs = [json.loads(line) for line in data.splitlines()]
            assert len(objs) == finished

        play(OutputRecorder(w), after=check)
        w.close()
    names = [o.get("name", o.get("event")) for o in objs]
    assert names == ["read", "fork", "write", "openat", "exit_group", "exit", "wait4", "close"]
    openat = objs[3]
    assert openat["action"] == "deny" and openat["ret"] == -13 and openat["errno"] == 13
    assert openat["args"] == [2**64 - 100, PATH, 0o2000000, 0, 0, 0]


def test_json_and_summary_alone_are_not_formatted_but_say_the_same(tmp_path: Path) -> None:
    """No writer reads the text: the records carry none, and the JSON is the same as
    when a text writer is there too."""
    alone, both = io.StringIO(), io.StringIO()
    summary_alone, summary_both = Summary(), Summary()
    play(OutputRecorder(Fanout([JsonWriter(alone), summary_alone])))
    play(OutputRecorder(Fanout([StraceWriter(io.StringIO()), JsonWriter(both), summary_both])))
    assert alone.getvalue() == both.getvalue()
    assert summary_alone.render() == summary_both.render() != ""


def test_one_signal_block_per_flush_for_all_files(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    blocks: list[int] = []
    real = sink._sigmask

    def counting(how: int, mask: object) -> object:
        if how == signal.SIG_BLOCK:
            blocks.append(1)
        return real(how, mask)  # type: ignore[arg-type]

    monkeypatch.setattr(sink, "_sigmask", counting)
    with (tmp_path / "t").open("w") as t, (tmp_path / "j").open("w") as j:
        w = Fanout([StraceWriter(t, pid_prefix=PidPrefix.ALWAYS), JsonWriter(j), Summary(t)])
        rec = OutputRecorder(w)
        c = call(7, "close", 3)
        rec.record_entry(c, ALLOW, Thread(7))
        rec.flush()
        assert blocks == []   # nothing whole to write: no system call at all
        rec.record_exit(c, 0, ALLOW, Thread(7), 1.0)
        rec.flush()
        assert blocks == [1]  # text and JSON, one block
        w.close()
    assert (tmp_path / "t").read_text().startswith("7     close(3)")
    assert json.loads((tmp_path / "j").read_text())["name"] == "close"


_RECORDER_CHILD = textwrap.dedent("""
    import sys, itertools
    from tracer.handler import ALLOW, SyscallCall
    from tracer.output.jsonl import JsonWriter
    from tracer.output.sink import Fanout
    from tracer.output.strace import PidPrefix, StraceWriter
    from tracer.record import OutputRecorder
    from probes.abi import Abi

    class Thread:
        pid = tid = 1
        def read_memory(self, addr, size):
            return b"x" * size

    w = Fanout([JsonWriter(open(sys.argv[1], "w")),
                StraceWriter(open(sys.argv[2], "w"), pid_prefix=PidPrefix.ALWAYS)])
    rec = OutputRecorder(w)
    th = Thread()
    for i in itertools.count():
        call = SyscallCall(1, 1, Abi.X86_64, 1, 1, "write", (1, 4096, i % 5000, 0, 0, 0),
                           bytes(168), float(i))
        rec.record_entry(call, ALLOW, th)
        rec.flush()
        rec.record_exit(call, i, ALLOW, th, float(i))
        rec.flush()
        if i == 10:
            print("ready", flush=True)  # 11 calls written; it writes on until stopped
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_files_stay_valid_line_by_line_when_stopped(tmp_path: Path, sig: int) -> None:
    """The recorder and its writers killed mid-run: every JSON line parses, in order;
    the text file holds whole lines only."""
    jpath, tpath, script_path = tmp_path / "out.jsonl", tmp_path / "out.txt", tmp_path / "c.py"
    script_path.write_text(_RECORDER_CHILD)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(script_path), str(jpath), str(tpath)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    proc.send_signal(sig)  # while it writes: "ready" comes after its 11th call
    proc.wait(timeout=30)
    assert proc.returncode != 0  # it was stopped, not done
    lines = lines_left_by(sig, jpath.read_bytes())
    assert len(lines) > 10
    for i, line in enumerate(lines):
        assert json.loads(line)["ret"] == i
    text = lines_left_by(sig, tpath.read_bytes())
    assert len(text) > 10
    for i, line in enumerate(text):
        assert line.startswith('1     write(1, "') and line.endswith(f"= {i}")


@pytest.mark.slow
@pytest.mark.ptrace
def test_a_blocked_call_shows_in_the_o_file_while_it_blocks(tmp_path: Path) -> None:
    """With -o FILE a line normally goes out whole, but a call that blocks is not held
    back: its beginning is in the file while it blocks, as strace -o writes it.  The
    call is cat's read of a pipe the test holds: it blocks until the test closes it."""
    from tests.tracer.conftest import cli_popen

    out = tmp_path / "lines"
    proc = cli_popen("-f", "-o", str(out), "cat", stdin=subprocess.PIPE,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        seen = ""
        give_up = time.monotonic() + 60  # a hang guard, not a speed assumption
        while "read(0, " not in seen:
            assert proc.poll() is None, "trace-run ended before cat read its stdin"
            assert time.monotonic() < give_up, seen[-300:]
            time.sleep(0.02)
            seen = out.read_text() if out.exists() else ""
        # cat stays in that read until stdin is closed below
        last = seen.rstrip("\n").splitlines()[-1]
        assert last.endswith(" read(0, "), seen[-300:]  # "PID read(0, ": unfinished
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert proc.returncode == 0
    done = out.read_text()
    assert "+++ exited with 0 +++" in done
    line = next(x for x in done.splitlines() if " read(0, " in x)
    assert line.rstrip().endswith("= 0"), line   # the line completed in place (EOF)
