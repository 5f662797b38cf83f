"""Where trace-run's time goes, per syscall: one traced run with a timer around each phase.

    python3 scripts/trace_phases.py [--count 20000] [--probe FILE] [-- TRACE-RUN OPTIONS]

Runs ``trace-run -o /dev/null [--probe FILE] -- dd if=/dev/zero of=/dev/null bs=1
count=COUNT`` in this process with ``time.perf_counter`` around the loop's phases and
prints each phase's total and its µs per syscall (the syscalls counted by the loop's
entry stops).  The phases nest: ``at the stop`` holds the ptrace requests made there,
the probe and the recorder's reads; ``after the resume`` is the recorders' flush (the
text, JSON and summary built and written while the tracee runs).

Each timer costs about 0.2 µs per call, so the figures are a little high, and the
machine's noise applies: use it to see proportions, scripts/bench_trace.py for the
comparison with strace.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

import tracer.loop as loop_mod
from tracer import (
    cli,
    probe_handler,
    record,
)
from tracer import ptrace_api as pt

_clock = time.perf_counter
totals: dict[str, float] = {}
calls: dict[str, int] = {}


def timed(owner: Any, attr: str, label: str) -> None:
    """Replace ``owner.attr`` by a wrapper adding its time to ``totals[label]``."""
    fn: Callable[..., Any] = getattr(owner, attr)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = _clock()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[label] = totals.get(label, 0.0) + _clock() - t
            calls[label] = calls.get(label, 0) + 1

    setattr(owner, attr, wrapper)


class _TimedOs:
    """``os`` for tracer.loop, with waitpid timed (the loop binds it by attribute)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def waitpid(pid: int, options: int) -> tuple[int, int]:
        t = _clock()
        try:
            return os.waitpid(pid, options)
        finally:
            totals["waitpid"] = totals.get("waitpid", 0.0) + _clock() - t
            calls["waitpid"] = calls.get("waitpid", 0) + 1


PHASES = [
    ("waitpid", "waiting for the tracee to stop"),
    ("at the stop", "a syscall stop, until the tracee is resumed"),
    ("  GET_SYSCALL_INFO", "entry or exit, ABI, nr, args, rval"),
    ("  GETREGS", "pt_regs for the probe (entry)"),
    ("  probe", "the probe's programs (entry)"),
    ("  record at stop", "the recorder's memory reads (entry and exit)"),
    ("  PTRACE_SYSCALL", "resuming the tracee"),
    ("after the resume", "the outputs built and written"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--probe", default=None, help="a probe instead of the default one")
    ap.add_argument("extra", nargs="*", help="more trace-run options (after --)")
    args = ap.parse_args()

    loop_mod.os = _TimedOs()  # type: ignore[assignment]
    timed(loop_mod.Loop, "_syscall_stop", "at the stop")
    timed(loop_mod.Loop, "_flush", "after the resume")
    timed(pt, "syscall_stop", "  GET_SYSCALL_INFO")
    timed(pt, "get_regs_bytes", "  GETREGS")
    timed(pt, "resume_syscall", "  PTRACE_SYSCALL")
    timed(probe_handler.ProbeHandler, "on_entry", "  probe")
    timed(record.OutputRecorder, "record_entry", "  record at stop")
    timed(record.OutputRecorder, "record_exit", "  record at stop")

    probe = ["--probe", args.probe] if args.probe else []
    sys.argv = ["trace-run", "-o", os.devnull, *probe, *args.extra, "--",
                "dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={args.count}"]
    t = _clock()
    cpu = time.process_time()
    with contextlib.suppress(SystemExit):
        cli.main()
    wall, cpu = _clock() - t, time.process_time() - cpu
    syscalls = calls.get("  probe", 0) or 1
    print(f"{syscalls} syscalls; wall {wall:.2f} s, trace-run's CPU {cpu:.2f} s "
          f"({cpu / syscalls * 1e6:.0f} µs/syscall)")
    print(f"{'phase':<22}{'seconds':>9}{'µs/syscall':>12}  what")
    for label, what in PHASES:
        total = totals.get(label, 0.0)
        print(f"{label:<22}{total:9.2f}{total / syscalls * 1e6:12.1f}  {what}")


if __name__ == "__main__":
    main()
