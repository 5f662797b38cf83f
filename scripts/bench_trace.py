"""Benchmark: a syscall-heavy command natively, under strace, and under trace-run.

    python3 scripts/bench_trace.py [--count 20000] [--reps 5] [--markdown]

The workload is ``dd if=/dev/zero of=/dev/null bs=1 count=COUNT`` (one read and one
write per byte).  Each repetition runs, in turn:

* ``native``: the command alone;
* ``strace``: ``strace -f -o /dev/null``;
* ``trace-run``: ``trace-run -o /dev/null`` with the default probe (probes/syscalls.bpf.c:
  tail calls, ring-buffer records, a bpf_trace_printk per read and write);
* ``trace-run trivial``: the same with ``--probe`` of a two-instruction program
  (``r0 = 0; exit``), which separates the cost of the probe's work from the loop's and
  the strace-like lines';
* ``strace -c``: ``strace -f -c -o /dev/null``, strace counting calls only (no lines; its
  table goes to /dev/null);
* ``trace-run -c trivial``: the floor of trace-run's stop loop, ``trace-run -c`` with the
  two-instruction probe: the summary only (no strace-like lines, so no memory is read for
  them; the table goes to stderr, discarded like every variant's), the reference being
  ``strace -c``.

The rounds are interleaved so that a noisy neighbour hurts every variant alike; the
figures are medians.  "x strace" is each variant's time over ``strace``'s; "x strace -c"
(the last column, shown when both ``-c`` variants run) is each one's over ``strace -c``'s,
so the floor pair's ratio is the ``trace-run -c trivial`` row's.  "µs/syscall" is the
extra wall time over the native run divided by the number of syscalls the command makes
(counted once with ``strace -f -c``), so it includes trace-run's start-up (Python,
loading the probe) spread over the calls; "start-up" (``--startup``) measures that fixed
part separately with ``count=0``.

Where PYTHONDONTWRITEBYTECODE is set (as on these machines), Python compiles trace-run's
own modules from source at every start (about 0.2 s); the benchmark byte-compiles them
once first (``compileall``, into the ignored ``__pycache__`` directories), as an installed
package is, unless ``--no-compile``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

TRIVIAL_PROBE = "; allow every syscall, do nothing else\nr0 = 0\nexit\n"
STRACE_C = "strace -c"
TRACE_RUN_C = "trace-run -c trivial"


@dataclass
class Variant:
    name: str
    argv: list[str]
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def workload(count: int) -> list[str]:
    return ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={count}"]


def trace_run() -> list[str]:
    """trace-run through this interpreter (no console-script or pyenv shim in the time)."""
    return [sys.executable, "-m", "tracer.cli"]


def variants(cmd: Sequence[str], probe: Path, strace: str | None) -> list[Variant]:
    out = [Variant("native", list(cmd))]
    if strace is not None:
        out.append(Variant("strace", [strace, "-f", "-o", "/dev/null", *cmd]))
    out.append(Variant("trace-run", [*trace_run(), "-o", "/dev/null", "--", *cmd]))
    out.append(Variant("trace-run trivial",
                       [*trace_run(), "-o", "/dev/null", "--probe", str(probe), "--", *cmd]))
    # the floor: counting only, each side (appended, so the rows above keep their order)
    if strace is not None:
        out.append(Variant(STRACE_C, [strace, "-f", "-c", "-o", "/dev/null", *cmd]))
    out.append(Variant(TRACE_RUN_C,
                       [*trace_run(), "-c", "--probe", str(probe), "--", *cmd]))
    return out


def timed(argv: Sequence[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def count_syscalls(cmd: Sequence[str], strace: str | None) -> int | None:
    """The command's syscalls, from ``strace -f -c``'s total line."""
    if strace is None:
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as f:
        subprocess.run([strace, "-f", "-c", "-o", f.name, *cmd], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        for line in f.read().splitlines():
            if line.rstrip().endswith(" total"):
                fields = line.split()
                # "100.00  seconds  usecs/call  calls  [errors]  total"
                nums = [x for x in fields[:-1] if re.fullmatch(r"\d+", x)]
                return int(nums[1]) if len(nums) >= 2 else None
    return None


def measure(vs: list[Variant], reps: int) -> None:
    for v in vs:   # warm-up: page cache, the probe build cache, .pyc files
        timed(v.argv)
    for _ in range(reps):
        for v in vs:
            v.times.append(timed(v.argv))


def report(vs: list[Variant], calls: int | None, startup: dict[str, float],
           markdown: bool, reps: int) -> str:
    native = vs[0].median
    ref = next((v.median for v in vs if v.name == "strace"), None)
    # the floor's reference; its column comes last, so the others keep their places
    ref_c = next((v.median for v in vs if v.name == STRACE_C), None)
    if not any(v.name == TRACE_RUN_C for v in vs):
        ref_c = None
    head = ["", "wall (s)", "µs/syscall", "x strace"]
    if startup:
        head.append("start-up (s)")
    if ref_c is not None:
        head.append("x strace -c")
    rows = []
    for v in vs:
        per = "" if calls is None or v.name == "native" else \
            f"{(v.median - native) / calls * 1e6:.1f}"
        ratio = "" if ref is None else f"{v.median / ref:.2f}"
        row = [v.name, f"{v.median:.3f}", per, ratio]
        if startup:
            row.append(f"{startup[v.name]:.3f}")
        if ref_c is not None:
            row.append(f"{v.median / ref_c:.2f}")
        rows.append(row)
    spread = {v.name: f"{min(v.times):.3f}-{max(v.times):.3f}" for v in vs}
    lines = []
    if markdown:
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        for r in [head, *rows]:
            lines.append("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                                   for i, c in enumerate(r)))
    lines.append("")
    lines.append(f"medians of {reps} interleaved runs; range: "
                 + ", ".join(f"{k} {s}" for k, s in spread.items()))
    if calls is not None:
        lines.append(f"{calls} syscalls (strace -f -c), about {2 * calls} ptrace stops")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20_000, help="dd count= (bytes, bs=1)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions (medians)")
    ap.add_argument("--startup", action="store_true",
                    help="also time each variant with count=0 (fixed cost)")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table")
    ap.add_argument("--no-compile", action="store_true",
                    help="do not byte-compile trace-run's modules first")
    ap.add_argument("--only", action="append", default=None, metavar="NAME",
                    help="run only these variants (native is always run)")
    args = ap.parse_args()

    strace = shutil.which("strace")
    if strace is None:
        print("strace not found: its column is left out", file=sys.stderr)
    root = Path(__file__).resolve().parent.parent
    os.chdir(root)   # `-m tracer.cli` from the checkout
    if not args.no_compile:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "bpf_vm", "tracer", "probes"],
                       stdout=subprocess.DEVNULL, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "allow_all.s"
        probe.write_text(TRIVIAL_PROBE)
        cmd = workload(args.count)
        vs = variants(cmd, probe, strace)
        if args.only:
            vs = [v for v in vs if v.name == "native" or v.name in args.only]
        calls = count_syscalls(cmd, strace)
        measure(vs, args.reps)
        startup: dict[str, float] = {}
        if args.startup:
            zero = variants(workload(0), probe, strace)
            zero = [z for z in zero if any(z.name == v.name for v in vs)]
            measure(zero, args.reps)
            startup = {z.name: z.median for z in zero}
    print(f"dd if=/dev/zero of=/dev/null bs=1 count={args.count}")
    print(report(vs, calls, startup, args.markdown, args.reps))


if __name__ == "__main__":
    main()
