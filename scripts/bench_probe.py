"""Benchmark: the default probe (probes/syscalls.bpf.c) per syscall, engine by engine.

    python3 scripts/bench_probe.py [--n 5000] [--rounds 7]

Loads the probe as trace-run does (``tracer.probe_handler.make_handler``), once per VM
engine, and runs its entry program on a 168-byte pt_regs as the tracer calls it
(``vm.run(prog, regs, ctx_writable=False)``, the host bound to a fake tracee first) for
read (0), write (1: reads 1 byte of the tracee's memory) and getpid (39: no program in
the prog array, so the dispatcher's tail call fails and it counts the syscall in a hash
map).  Rounds interleave the engines; it prints the median of the rounds in µs of CPU
time (``time.process_time``: the figures of a shared machine vary less than wall-clock
ones) per run, and for the translating engine also ``vm.run_r0`` (the same run without
a RunResult).

The probe's programs are loaded unverified (``prog_load(verify=False)``: every run-time
check), and once more verified (``prog_load``: marked with the verifier's facts, which
let the translating engine drop the checks they prove unnecessary, see
``bpf_vm.engine.facts``), for a last column, ``verified run_r0``, and the ratio of the
two ``run_r0`` columns.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout

from bpf_vm import load_programs
from bpf_vm.vm import ENGINES
from tracer.probe_handler import ProbeHandler, make_handler
from tracer.regs import FIELDS, PT_REGS

SYSCALLS = (("read", 0), ("write", 1), ("getpid", 39))


class FakeTracee:
    """What the probe's helpers ask of a tracee: ids, comm, memory (zeros)."""
    pid = 1000
    tid = 1000

    def read_memory(self, addr: int, size: int) -> bytes:
        return bytes(size)

    def comm(self) -> bytes:
        return b"dd".ljust(16, b"\0")

    def uid_gid(self) -> tuple[int, int]:
        return (0, 0)

    def send_signal(self, *_: object) -> None:
        pass


def pt_regs(nr: int, di: int = 0, si: int = 0x1000, dx: int = 1) -> bytes:
    values = [0] * len(FIELDS)
    for name, v in (("orig_ax", nr), ("di", di), ("si", si), ("dx", dx)):
        values[FIELDS.index(name)] = v
    return PT_REGS.pack(*values)


def timer(h: ProbeHandler, regs: bytes, r0_only: bool) -> Callable[[int], float]:
    """A function timing ``n`` runs, returning µs per run."""
    tracee = FakeTracee()
    prog = h.entry["x86_64"]
    vm, host = h.vm, h.host

    def go(n: int) -> float:
        t = time.process_time()
        if r0_only:
            for _ in range(n):
                host.bind(tracee)   # type: ignore[arg-type]
                vm.run_r0(prog, regs, ctx_writable=False)
        else:
            for _ in range(n):
                host.bind(tracee)   # type: ignore[arg-type]
                vm.run(prog, regs, ctx_writable=False)
        return (time.process_time() - t) / n * 1e6
    return go


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000, help="runs per round")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    handlers = {engine: make_handler(engine=engine) for engine in ENGINES}
    for h in handlers.values():
        load_programs(h.vm, h.obj.programs.values(), verify=False)
    verified = make_handler(engine="translate")
    load_programs(verified.vm, verified.obj.programs.values())
    columns = [(f"{e} run", handlers[e], False) for e in reversed(ENGINES)]
    columns.append(("translate run_r0", handlers["translate"], True))
    columns.append(("verified run_r0", verified, True))
    print(f"default probe, µs per run (median of {args.rounds} rounds of {args.n} runs)")
    print(f"{'syscall':<10}" + "".join(f"{name:>18}" for name, _, _ in columns)
          + f"{'ratio':>8}")
    for name, nr in SYSCALLS:
        regs = pt_regs(nr)
        timers = [timer(h, regs, r0_only) for _, h, r0_only in columns]
        for go in timers:
            go(200)   # warm up: compile, caches
        samples: list[list[float]] = [[] for _ in timers]
        for _ in range(args.rounds):
            for i, go in enumerate(timers):
                samples[i].append(go(args.n))
        medians = [statistics.median(s) for s in samples]
        print(f"{name + f' ({nr})':<10}" + "".join(f"{m:>18.2f}" for m in medians)
              + f"{medians[-2] / medians[-1]:>7.2f}x")


if __name__ == "__main__":
    main()
