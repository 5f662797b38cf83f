#!/usr/bin/env python3
"""Benchmark: verifying the bundled probe, ours beside the host kernel's.

    python3 scripts/bench_verifier.py [--rounds 7] [--probe FILE]

Loads the default probe (probes/syscalls.bpf.c, built as trace-run builds it) and
verifies every program of it with bpf_vm.verifier, ``--rounds`` times (a fresh verify
each round: nothing cached); prints the median wall time of a round, per program and
in all, with our processed-instruction count.  Then loads the same bytes into the host
kernel (bpf_vm.kernel_verify: the maps created with bpf(2), references rewritten) and
prints the kernel's verdict and processed count beside ours; without bpf(2) it says so
and prints ours alone.  The target (issue 13): the whole probe in at most 0.3 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout

from bpf_vm import Vm
from bpf_vm import kernel as K
from bpf_vm.kernel_verify import kernel_code, kernel_verify
from bpf_vm.load import prog_kind
from bpf_vm.verifier import KERNEL_NUMBER, verify
from probes import DEFAULT_PROBE
from probes.seccomp_helper import install as install_seccomp_helper
from tracer.probe_handler import load_probe


def _processed(log: str) -> int | None:
    for line in reversed(log.splitlines()):
        if line.startswith("processed "):
            return int(line.split()[1])
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--probe", type=Path, default=DEFAULT_PROBE)
    args = ap.parse_args()
    vm = Vm(helpers=install_seccomp_helper())
    obj = load_probe(args.probe, vm)
    programs = list(obj.programs.values())
    maps = vm._maps_by_fd
    per_prog: dict[str, list[float]] = {p.name: [] for p in programs}
    totals: list[float] = []
    verdicts = {}
    for _ in range(args.rounds):
        start = time.perf_counter()
        for p in programs:
            t0 = time.perf_counter()
            v = verify(p, prog_type=prog_kind(p.section), maps=maps, helpers=vm.helpers,
                       log_level=0)
            per_prog[p.name].append(time.perf_counter() - t0)
            verdicts[p.name] = v
        totals.append(time.perf_counter() - start)
    kernel: dict[str, tuple[bool, int | None]] = {}
    note = ""
    try:
        with ExitStack() as stack:
            for p in programs:
                code = kernel_code(p, vm.map_by_fd, stack)
                kind = prog_kind(p.section)
                kv = kernel_verify(code, KERNEL_NUMBER[kind], license=p.license,
                                   flags=K.BPF_F_SLEEPABLE if kind.value == "syscall" else 0,
                                   name=p.name)
                kernel[p.name] = (kv.accepted, _processed(kv.log))
    except K.KernelUnavailable as e:
        note = f"(the host kernel was not asked: {e})"
    print(f"{args.probe.name}: {len(programs)} programs, {args.rounds} rounds, medians")
    print(f"{'program':28} {'ours ms':>8} {'ours insns':>10} {'kernel insns':>12}  verdicts")
    for p in programs:
        v = verdicts[p.name]
        k = kernel.get(p.name)
        kv = "" if k is None else ("accepted" if k[0] else "REFUSED")
        print(f"{p.name:28} {statistics.median(per_prog[p.name]) * 1e3:8.1f} "
              f"{v.processed:10d} {'' if k is None else k[1]!s:>12}  "
              f"{'accepted' if v.accepted else 'REFUSED'} / {kv}")
    ours_total = sum(v.processed for v in verdicts.values())
    kern_total = sum(k[1] or 0 for k in kernel.values())
    print(f"{'all':28} {statistics.median(totals) * 1e3:8.1f} {ours_total:10d} "
          f"{kern_total if kernel else '':>12}")
    print(f"target: the whole probe in at most 300 ms: "
          f"{'met' if statistics.median(totals) <= 0.3 else 'NOT met'} {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
