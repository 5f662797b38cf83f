"""The trace-run command line: options only before CMD, outputs, errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracer import cli
from tracer.handler import AllowAll

from .conftest import run_cli


@pytest.mark.slow
@pytest.mark.ptrace
def test_options_stop_at_cmd(tmp_path: Path) -> None:
    """``-fo log sh -c 'exit 3'``: -f and -o are trace-run's, -c is sh's; with -f the
    lines have strace -f -o's pid column, without it (one task) none."""
    log = tmp_path / "log"
    r = run_cli("-fo", str(log), "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == "out\n" and r.stderr == "err\n"  # nothing of trace-run's mixed in
    text = log.read_text()
    lines = text.splitlines()
    pid, first = lines[0].split(None, 1)
    assert first.startswith('execve("/usr/bin/sh", ["sh", "-c", ')
    assert lines[-1].split(None, 1) == [pid, "+++ exited with 3 +++"]
    assert "exit_group(3)" in text
    r = run_cli("-o", str(log), "sh", "-c", "exit 3")
    lines = log.read_text().splitlines()
    assert lines[0].startswith('execve("/usr/bin/sh", ["sh", "-c", "exit 3"]')
    assert lines[-1] == "+++ exited with 3 +++"


@pytest.mark.slow
@pytest.mark.ptrace
def test_double_dash_and_cmd_options(tmp_path: Path) -> None:
    log = tmp_path / "log"
    r = run_cli("-q", "-o", str(log), "--", "sh", "-c", "exit 4", "-o", "x")
    assert r.returncode == 4
    assert '"-c", "exit 4", "-o", "x"]' in log.read_text()


@pytest.mark.slow
@pytest.mark.ptrace
def test_unknown_option_is_refused() -> None:
    r = run_cli("--bogus", "true")
    assert r.returncode == 2
    assert r.stderr == "trace-run: unrecognized option '--bogus' (see 'trace-run -h')\n"


@pytest.mark.slow
@pytest.mark.ptrace
def test_lines_go_to_stderr_by_default() -> None:
    r = run_cli("sh", "-c", "echo hi")
    assert r.returncode == 0 and r.stdout == "hi\n"
    assert r.stderr.startswith("execve(") and "+++ exited with 0 +++" in r.stderr


@pytest.mark.slow
@pytest.mark.ptrace
def test_json_lines_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    r = run_cli("--json", str(out), "-c", "sh", "-c", "mkdir -p /; exit 2")
    assert r.returncode == 2
    objs = [json.loads(line) for line in out.read_text().splitlines()]
    calls = [o for o in objs if "event" not in o]
    events = [o for o in objs if "event" in o]
    assert calls[0]["name"] == "execve" and calls[0]["ret"] == 0
    assert set(calls[0]) >= {"ts", "pid", "tid", "abi", "nr", "name", "args", "ret",
                             "action", "errno"}
    assert all(len(c["args"]) == 6 and c["abi"] == "x86_64" for c in calls)
    assert any(e["event"] == "exec" for e in events)
    assert events[-1]["event"] == "exit" and events[-1]["status"] == 2
    assert "syscall" in r.stderr and "total" in r.stderr  # the -c table, no lines
    assert "execve(" not in r.stderr


def test_probe_handler_is_used_when_present() -> None:
    handler = cli.make_handler()
    assert not isinstance(handler, AllowAll)
    close = getattr(handler, "close", None)
    if callable(close):
        close()


# A hostile tracee: pointers no user mapping can have (the kernel half of the address
# space, the very top, a range that wraps), in calls whose text reads them.
_BAD_POINTERS = """\
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for p in (1 << 63, (1 << 64) - 8, (1 << 63) - 4):
    libc.syscall(83, ctypes.c_void_p(p), 0o755)                  # mkdir(path)
    libc.syscall(1, 1, ctypes.c_void_p(p), 16)                    # write(buf)
    libc.syscall(4, ctypes.c_void_p(p), ctypes.c_void_p(p))       # stat(path, buf)
print("survived")
"""


@pytest.mark.ptrace
@pytest.mark.needs_strace
def test_pointers_outside_user_space_are_efault_not_a_crash(tmp_path: Path) -> None:
    """The text of a call whose pointer no user mapping can hold shows the address, as
    strace's does, and trace-run neither crashes nor stops tracing (it raised
    OverflowError at 2**63 before: /proc/PID/mem's offsets are signed)."""
    import subprocess
    import sys

    script = tmp_path / "bad.py"
    script.write_text(_BAD_POINTERS)
    theirs, ours = tmp_path / "strace.txt", tmp_path / "ours.txt"
    calls = "trace=mkdir,write,stat"
    subprocess.run(["strace", "-e", calls, "-o", str(theirs), sys.executable, str(script)],
                   check=True, capture_output=True)
    r = run_cli("-e", calls, "-o", str(ours), sys.executable, str(script))
    assert (r.returncode, r.stdout) == (0, "survived\n"), r.stderr
    assert "Traceback" not in r.stderr
    lines = [ln for ln in ours.read_text().splitlines() if "(0x" in ln or "(1, 0x" in ln]
    assert len(lines) == 9, ours.read_text()
    assert lines == [ln for ln in theirs.read_text().splitlines()
                     if "(0x" in ln or "(1, 0x" in ln]
