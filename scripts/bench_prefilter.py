"""Benchmark: the seccomp prefilter against native and strace --seccomp-bpf, and --sweep.

    python3 scripts/bench_prefilter.py [--count 100000] [--reps 5] [--sweep-reps 3]
                                       [--sweep-before DIR] [--no-full] [--markdown]

The workload is ``dd if=/dev/zero of=/dev/null bs=1 count=COUNT`` (one read and one
write per byte).  Each round runs, in turn:

* ``native``: the command alone;
* ``strace --seccomp-bpf``: ``strace -f --seccomp-bpf -e trace=openat -o /dev/null``;
* ``trace-run --seccomp-bpf``: ``trace-run --seccomp-bpf -e trace=openat -o /dev/null``;
* ``trace-run --policy docker``: ``trace-run --policy docker-default.json -e trace=openat
  -o /dev/null`` (Docker's default profile, vendored in tests/policy/data/profiles);
* ``trace-run, no prefilter``: ``trace-run -e trace=openat -o /dev/null``, where every
  syscall still stops twice (the figure the prefilter removes).

``--sweep-before DIR``: a checkout of trace-run from before the zygote and trial
prefilters (``git worktree add DIR REV``); ``trace-run --sweep ls /usr`` from there and
from this checkout run alternately, ``--sweep-reps`` rounds each.  The rounds are
interleaved so that a noisy neighbour hurts every variant alike; figures are medians,
ratios are over ``native`` (dd) and over the before sweep.  Each dd variant also runs with
``count=0``: that is its start-up (for trace-run: Python, imports, loading the probe or
compiling the profile), and the difference is the cost of the command's own syscalls.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "tests" / "policy" / "data" / "profiles" / "docker-default.json"


def _timed(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   env=env, cwd=cwd)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sweep-reps", type=int, default=3)
    ap.add_argument("--sweep-before", type=Path)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--no-full", action="store_true",
                    help="leave out trace-run without a prefilter (for large counts)")
    a = ap.parse_args()
    dd = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={a.count}"]
    tr = [sys.executable, "-m", "tracer.cli"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    variants: dict[str, list[str]] = {"native": dd}
    if shutil.which("strace"):
        variants["strace --seccomp-bpf"] = ["strace", "-f", "--seccomp-bpf", "-e",
                                            "trace=openat", "-o", os.devnull, *dd]
    variants["trace-run --seccomp-bpf"] = [*tr, "--seccomp-bpf", "-e", "trace=openat", "-o",
                                           os.devnull, *dd]
    variants["trace-run --policy docker"] = [*tr, "--policy", str(DOCKER), "-e",
                                             "trace=openat", "-o", os.devnull, *dd]
    if not a.no_full:
        variants["trace-run, no prefilter"] = [*tr, "-e", "trace=openat", "-o", os.devnull,
                                               *dd]
    times: dict[str, list[float]] = {k: [] for k in variants}
    empty: dict[str, list[float]] = {k: [] for k in variants}   # count=0: start-up
    for _ in range(a.reps):
        for name, argv in variants.items():
            times[name].append(_timed(argv, env))
            empty[name].append(_timed([*argv[:-1], "count=0"], env))
    med = {k: statistics.median(v) for k, v in times.items()}
    start = {k: statistics.median(v) for k, v in empty.items()}
    work = {k: max(med[k] - start[k], 1e-9) for k in med}
    print(f"dd bs=1 count={a.count}, {a.reps} interleaved rounds, medians; 'start-up' is"
          " the same with count=0, 'work' the difference:")
    _table(["variant", "seconds", "x native", "start-up", "work", "work x native"],
           [(n, f"{med[n]:.3f}", f"{med[n] / med['native']:.2f}", f"{start[n]:.3f}",
             f"{work[n]:.3f}", f"{work[n] / work['native']:.2f}") for n in med], a.markdown)
    if a.sweep_before is not None:
        sweeps: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(a.sweep_reps):
            for tag, root in (("before", a.sweep_before), ("after", ROOT)):
                senv = {**os.environ, "PYTHONPATH": str(root)}
                sweeps[tag].append(_timed([sys.executable, "-m", "tracer.cli", "--sweep",
                                           "ls", "/usr"], senv, cwd=root))
        before, after = (statistics.median(sweeps[k]) for k in ("before", "after"))
        print(f"\n--sweep ls /usr, {a.sweep_reps} interleaved rounds, medians:")
        _table(["", "seconds", "rounds"],
               [("before", f"{before:.2f}", " ".join(f"{x:.2f}" for x in sweeps["before"])),
                ("after", f"{after:.2f}", " ".join(f"{x:.2f}" for x in sweeps["after"])),
                ("speed-up", f"{before / after:.1f}x", "")], a.markdown)


def _table(head: list[str], rows: list[tuple[str, ...]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    width = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"  {r[0]:<{width}}  " + "  ".join(f"{c:>10}" for c in r[1:]))


if __name__ == "__main__":
    main()
