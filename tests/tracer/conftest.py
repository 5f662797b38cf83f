"""Real-process fixtures: C programs built with gcc at test time, an in-process trace
runner that records everything the loop reports, and the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tracer.handler import Decision, SyscallCall, SyscallHandler
from tracer.loop import Loop
from tracer.spawn import spawn

ROOT = Path(__file__).resolve().parents[2]
CSRC = Path(__file__).parent / "csrc"


@dataclass
class Record:
    call: SyscallCall
    ret: int | None
    decision: Decision


@dataclass
class Trace:
    code: int
    records: list[Record] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    loop: Loop | None = None

    def names(self, tid: int | None = None) -> list[str]:
        return [r.call.name for r in self.records if tid is None or r.call.tid == tid]

    def calls(self, name: str) -> list[Record]:
        return [r for r in self.records if r.call.name == name]

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class Collect:
    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.entries: list[SyscallCall] = []

    def record_entry(self, call: SyscallCall, decision: Decision, tracee: Any) -> None:
        self.entries.append(call)

    def record_exit(self, call: SyscallCall, ret: int | None, decision: Decision,
                    tracee: Any, ts: float) -> None:
        self.trace.records.append(Record(call, ret, decision))

    def record_event(self, ev: object) -> None:
        self.trace.events.append(ev)


def run_traced(argv: Sequence[str], handler: SyscallHandler | None = None, *,
               seize: bool = True, env: dict[str, str] | None = None,
               before: Callable[[Loop, int], None] | None = None) -> Trace:
    """Trace ``argv`` in this process; the child's stdout/stderr go to temp files."""
    trace = Trace(code=-1)
    loop = Loop(handler, [Collect(trace)])
    trace.loop = loop
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = spawn(argv, seize=seize, env=env,
                      redirect={1: out.fileno(), 2: err.fileno()})
        if before is not None:
            before(loop, child.pid)
        trace.code = loop.run(child)
        failure = child.exec_error()
        if failure is not None:
            raise failure
        out.seek(0)
        err.seek(0)
        trace.stdout = out.read().decode(errors="replace")
        trace.stderr = err.read().decode(errors="replace")
    return trace


@pytest.fixture
def traced() -> Callable[..., Trace]:
    return run_traced


@pytest.fixture(scope="session")
def cprog(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Build tests/tracer/csrc/NAME.c once per session; returns the binary's path.
    (A test using this fixture is marked needs_gcc by tests/conftest.py.)"""
    outdir = tmp_path_factory.mktemp("cprog")
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in built:
            exe = outdir / name
            subprocess.run(["gcc", "-O1", "-pthread", "-o", str(exe), str(CSRC / f"{name}.c")],
                           check=True, capture_output=True, text=True)
            built[name] = exe
        return built[name]

    return build


def run_cli(*args: str, timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``trace-run ARGS`` in a subprocess (in the checkout unless ``cwd=`` says where)."""
    kwargs.setdefault("cwd", ROOT)
    return subprocess.run([sys.executable, "-m", "tests.tracer.cli_runner", *args],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, **kwargs)


def cli_popen(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.tracer.cli_runner", *args],
                            cwd=ROOT, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            **kwargs)
