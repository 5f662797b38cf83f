"""CLONE_UNTRACED is taken out at clone/clone3 entry: every child of a traced program is
traced, shows in the trace, and dies with the trace when trace-run is interrupted."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tracer.untraced import CLONE_UNTRACED

from .conftest import cli_popen

pytestmark = [pytest.mark.ptrace, pytest.mark.slow]


def _alive(pid: int) -> bool:
    """Neither gone nor a zombie (dead, waiting for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_untraced_children_are_traced_and_killed(signum: int, tmp_path: Path, cprog) -> None:  # type: ignore[no-untyped-def]
    log, js = tmp_path / "log", tmp_path / "log.json"
    # -I waiting: with -o FILE CMD, strace's default (never) would ignore the signal
    proc = cli_popen("-I", "waiting", "--kill-on-exit", "-o", str(log), "--json", str(js),
                     str(cprog("untraced")),
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    children: list[int] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:     # the program says "ready" once every child wrote
            if line.startswith("child "):
                children.append(int(line.split()[1]))
            elif line == "ready\n":
                break
        assert len(children) == 8, children
        proc.send_signal(signum)
        proc.wait(timeout=60)   # not communicate(): an untraced child keeps stdout open
        survivors = [pid for pid in children if _alive(pid)]
        assert survivors == [], "children outlived trace-run"
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    records = [json.loads(line) for line in js.read_text().splitlines()]
    seen = {r.get("tid", r.get("pid")) for r in records}
    assert set(children) <= seen, (children, seen)
    # each child's own calls are in the trace: its getpid and its write of the pid
    for pid in children:
        names = [r.get("name") for r in records if r.get("tid") == pid]
        assert "getpid" in names and "write" in names, (pid, names)
    # the text shows the flags as the program passed them, as strace does
    text = log.read_text()
    assert text.count("flags=CLONE_UNTRACED|SIGCHLD") == 4, text    # 3 clone, 1 i386 clone
    assert text.count("flags=CLONE_UNTRACED, ") == 3, text          # clone3's struct
    # (i386 clone3 from this 64-bit program has no stack below 4 GiB for the copy: its
    # flags are cleared in place, and the text shows what the kernel read)
    assert text.count("clone3({flags=0, exit_signal=SIGCHLD") == 1, text
    clones = [r for r in records if r.get("name") == "clone"]
    assert sum(1 for r in clones if r["args"][0] & CLONE_UNTRACED) == 4, clones


def test_constant_is_the_kernels() -> None:
    assert CLONE_UNTRACED == 0x00800000
