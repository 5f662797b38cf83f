"""Benchmark: interpreter speed of each VM engine (block, translate), side by side with
the host kernel, and the start-up time of the conformance plugin.

    python3 scripts/bench_vm.py [--n 200000] [--runs 5]

Prints medians over ``--runs`` runs (the engines' runs interleaved). The program is a
loop of ALU and stack load/store instructions (7 per iteration). The kernel runs the
same bytecode as a socket filter through BPF_PROG_TEST_RUN (JIT-compiled on this
machine), which reports its own duration, so its figure excludes the syscall.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

from bpf_vm import kernel
from bpf_vm.asm import assemble
from bpf_vm.helper_table import HelperTable
from bpf_vm.program import Program
from bpf_vm.vm import ENGINES, Vm

LOOP = """\
r0 = 0
r1 = {n}
loop:
r0 += r1
*(u64 *)(r10 - 8) = r0
r2 = *(u64 *)(r10 - 8)
r2 ^= 0x5a
r2 >>= 1
r1 -= 1
if r1 != 0 goto loop
exit
"""
BPF_PROG_TYPE_SOCKET_FILTER = 1


def bench_interp(n: int, runs: int) -> dict[str, tuple[float, int]]:
    """engine -> (median seconds per run, instructions per run)."""
    code = assemble(LOOP.format(n=n)).code
    prog = Program.from_bytes(code, name="loop")
    vms = {e: Vm(helpers=HelperTable(), budget=10 * n + 100, engine=e) for e in ENGINES}
    for vm in vms.values():
        vm.run(prog)   # compile once
    times: dict[str, list[float]] = {e: [] for e in ENGINES}
    insns: dict[str, int] = {}
    for _ in range(runs):
        for e, vm in vms.items():
            t = time.perf_counter()
            res = vm.run(prog)
            times[e].append(time.perf_counter() - t)
            insns[e] = res.insns
    return {e: (statistics.median(times[e]), insns[e]) for e in ENGINES}


def bench_kernel(n: int, runs: int) -> float | None:
    if kernel.kernel_unavailable_reason() is not None:
        return None
    # socket filters may loop (bounded loops are verified since 5.3) and accept repeat
    code = assemble(LOOP.format(n=min(n, 4000))).code
    fd = kernel.prog_load(code, BPF_PROG_TYPE_SOCKET_FILTER)
    try:
        per = []
        for _ in range(runs):
            r = kernel.prog_test_run(fd, data_in=bytes(64), repeat=100)
            per.append(r.duration_ns / 1e9)   # per run of the program
        insns = 7 * min(n, 4000) + 3
        return statistics.median(per) / insns
    finally:
        kernel.close_fd(fd)


def bench_startup(runs: int) -> tuple[float, float]:
    exe = shutil.which("bpf-vm-conformance")
    cmd = [exe] if exe else [sys.executable, "-m", "bpf_vm.conformance"]
    prog = "b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00"
    plugin, bare = [], []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, input=prog, capture_output=True, text=True, check=True)
        plugin.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-S", "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t)
    return statistics.median(plugin), statistics.median(bare)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000, help="loop iterations")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    ips = 0.0
    for engine, (dt, insns) in bench_interp(args.n, args.runs).items():
        rate = insns / dt
        ips = max(ips, rate)
        print(f"interpreter ({engine} engine): {insns} insns in {dt:.3f} s (median of "
              f"{args.runs}) = {rate / 1e6:.2f} M insns/s, {1e9 / rate:.0f} ns/insn")
    k = bench_kernel(args.n, args.runs)
    if k is None:
        print(f"kernel: skipped ({kernel.kernel_unavailable_reason()})")
    else:
        print(f"kernel (JIT, BPF_PROG_TEST_RUN): {k * 1e9:.2f} ns/insn; "
              f"fastest interpreter/kernel ratio: {(1 / ips) / k:.0f}x")
    plugin, bare = bench_startup(max(args.runs, 5))
    print(f"bpf-vm-conformance start-up, trivial program: {plugin * 1000:.0f} ms "
          f"(bare `python -S -c pass`: {bare * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
