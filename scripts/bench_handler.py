"""Benchmark: the tracer's per-syscall cost of a probe, handler included.

    python3 scripts/bench_handler.py [--probe OBJ] [--n 5000] [--rounds 7]

``scripts/bench_probe.py`` times the VM running the default probe's dispatcher; this
times what the stop loop calls per syscall, ``ProbeHandler.on_entry`` and ``on_exit``,
with a fake tracee (no ptrace), for read (0), write (1) and getpid (39): the attach
plan, the dispatcher, and for a ``--probe`` with programs on other attach points
(tracepoints, raw tracepoints, syscall wrappers) those too, contexts built and placed.
Prints the median of the rounds in µs of CPU time per syscall.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout

from probes.abi import Abi
from tracer.handler import SyscallCall
from tracer.probe_handler import make_handler
from tracer.regs import FIELDS, PT_REGS

SYSCALLS = (("read", 0), ("write", 1), ("getpid", 39))


class FakeTracee:
    pid = tid = 4242

    def uid_gid(self) -> tuple[int, int]:
        return (0, 0)

    def comm(self) -> bytes:
        return b"bench"

    def read_memory(self, addr: int, size: int) -> bytes | None:
        return b"/etc/hostname\0"[:size].ljust(size, b"\0")

    def send_signal(self, sig: int, thread: bool = False) -> None:
        pass


def call(name: str, nr: int) -> SyscallCall:
    v = [0] * len(FIELDS)
    for f, x in (("orig_ax", nr), ("di", 1), ("si", 0x1000), ("dx", 1)):
        v[FIELDS.index(f)] = x
    return SyscallCall(4242, 4242, Abi.X86_64, nr, nr, name, (1, 0x1000, 1, 0, 0, 0),
                       PT_REGS.pack(*v), 0.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", type=Path, default=None)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    handler = make_handler(probe=args.probe)
    tracee = FakeTracee()
    for name, nr in SYSCALLS:
        c = call(name, nr)
        times = []
        for _ in range(args.rounds):
            t0 = time.process_time()
            for _ in range(args.n):
                handler.on_entry(c, tracee)  # type: ignore[arg-type]
                handler.on_exit(c, 0, tracee)  # type: ignore[arg-type]
            times.append((time.process_time() - t0) / args.n * 1e6)
        print(f"{name:8s} {statistics.median(times):7.2f} µs per syscall (entry + exit)")


if __name__ == "__main__":
    main()
