"""SIGINT/SIGTERM to trace-run: tracees killed (default) or detached and running on;
either way the outputs are complete."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import cli_popen

pytestmark = [pytest.mark.ptrace, pytest.mark.slow]


def _wait_for(pred, timeout: float = 30.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _sleeping_pids(jsonl: Path) -> list[int]:
    """pids that reached their nanosleep (its entry is where the JSON shows nothing yet,
    so look for the exec of sleep and the loader's last call before sleeping)."""
    pids = []
    if not jsonl.exists():
        return pids
    for line in jsonl.read_text().splitlines():
        obj = json.loads(line)
        if obj.get("event") == "exec" and str(obj.get("path", "")).endswith("/sleep"):
            pids.append(obj["pid"])
    return pids


def _state(pid: int) -> tuple[str, int] | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except FileNotFoundError:
        return None
    return fields["State"].split()[0], int(fields["TracerPid"])


def _asleep(pid: int) -> bool:
    """``pid`` sleeps in (clock_)nanosleep: state S, in syscall 35 or 230."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            nr = f.read().split()[0]
    except (FileNotFoundError, IndexError):
        return False
    st = _state(pid)
    return nr in ("35", "230") and st is not None and st[0] == "S"


def _start(tmp_path: Path, *opts: str, script: str = "sleep 30; echo never",
           ) -> tuple[subprocess.Popen[str], Path, int]:
    jsonl = tmp_path / "t.jsonl"
    # files, not pipes: detached tracees keep them open after trace-run has gone
    with open(tmp_path / "stdout", "w") as so, open(tmp_path / "stderr", "w") as se:
        proc = cli_popen("-o", str(tmp_path / "log"), "--json", str(jsonl), *opts,
                         "sh", "-c", script, stdout=so, stderr=se)
    _wait_for(lambda: bool(_sleeping_pids(jsonl)), what="sleep's exec in the JSON")
    (pid,) = _sleeping_pids(jsonl)
    _wait_for(lambda: _asleep(pid), what="sleep in nanosleep")
    return proc, jsonl, pid


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_kill_on_exit_kills_the_tracees(tmp_path: Path, sig: int) -> None:
    """-I waiting: the signal ends the trace (with -o FILE CMD strace's default ignores
    it); --kill-on-exit: every tracee is killed; trace-run dies of the signal."""
    proc, jsonl, pid = _start(tmp_path, "-I", "waiting", "--kill-on-exit")
    shell = json.loads(jsonl.read_text().splitlines()[0])["pid"]  # sh, the first tracee
    assert shell != pid
    proc.send_signal(sig)
    proc.wait(timeout=20)
    assert proc.returncode == -sig
    assert "never" not in (tmp_path / "stdout").read_text()
    for tracee in (pid, shell):  # sleep and the shell waiting for it are dead
        st = _state(tracee)
        assert st is None or st[0] == "Z", (tracee, st)  # a zombie until it is reaped
    objs = [json.loads(line) for line in jsonl.read_text().splitlines()]  # every line whole
    exits = [o for o in objs if o.get("event") == "exit"]
    assert {o["pid"] for o in exits} >= {pid, shell}
    assert all(o["signal"] == "SIGKILL" for o in exits)
    log = (tmp_path / "log").read_text()
    assert log.endswith("+++ killed by SIGKILL +++\n")


def test_detach_on_exit_lets_them_run(tmp_path: Path) -> None:
    proc, jsonl, pid = _start(tmp_path, "-I", "waiting", "--detach-on-exit", "-e",
                              "quiet=none", script="sleep 2; echo after")
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert proc.returncode == -signal.SIGTERM
        assert f"trace-run: Process {pid} detached\n" in (tmp_path / "stderr").read_text()
        st = _state(pid)
        assert st is not None, "the detached tracee died"
        state, tracer = st
        assert tracer == 0 and state == "S"  # untraced, sleeping, not stopped
        for line in jsonl.read_text().splitlines():
            json.loads(line)
        # the shell goes on too: after its sleep it runs the rest of its script
        _wait_for(lambda: (tmp_path / "stdout").read_text() == "after\n")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_ctrl_c_to_the_whole_group(tmp_path: Path) -> None:
    """As a terminal does: SIGINT to trace-run and to the tracees at once."""
    jsonl = tmp_path / "t.jsonl"
    proc = cli_popen("--json", str(jsonl), "sleep", "30", stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, start_new_session=True)
    _wait_for(lambda: bool(_sleeping_pids(jsonl)), what="sleep's exec in the JSON")
    (pid,) = _sleeping_pids(jsonl)
    _wait_for(lambda: _asleep(pid), what="sleep in nanosleep")
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    # strace's clean-up: SIGINT to the command, detach; trace-run dies of SIGINT too
    objs = [json.loads(line) for line in jsonl.read_text().splitlines()]  # every line whole
    assert proc.returncode == -signal.SIGINT, (proc.returncode, err, objs[-3:])
    assert f"Process {pid} detached" in err
    _wait_for(lambda: _state(pid) is None, what="sleep dead of the terminal's SIGINT")
