"""Benchmark: interpreter speed of each VM engine (block, translate), side by side with
the host kernel; the translating engine with and without the verifier's facts; and the
start-up time of the conformance plugin.

    python3 scripts/bench_vm.py [--n 200000] [--runs 5]

Prints medians over ``--runs`` runs (the engines' runs interleaved). The program is a
loop of ALU and stack load/store instructions (7 per iteration). The kernel runs the
same bytecode as a socket filter through BPF_PROG_TEST_RUN (JIT-compiled on this
machine), which reports its own duration, so its figure excludes the syscall.

The facts' comparison (``bpf_vm.engine.facts``) runs the loop of 4000 iterations that
the kernel runs (the verifier walks every iteration, and 200,000 would exceed its
1,000,000-instruction limit, in the kernel as in ours) ``n / 4000`` times per round,
loaded as ``bpf-vm run`` loads a program (``prog_load``: verified, so marked with its
facts) beside the same program loaded with ``verify=False``; and a second loop that
also reads the context (pt_regs) and updates an array map's value each iteration
(10 instructions).  Rounds alternate the two; medians of ``--runs`` rounds, in CPU
time (``time.process_time``: the ratio of a shared machine varies less than with
wall-clock time).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

from bpf_vm import FakeHost, kernel, load_asm, prog_load
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
#: the iterations of one run in the facts' comparison: what the kernel's bench runs
FACTS_CHUNK = 4000
MEM_LOOP = """\
.map values array key=4 value=8 max_entries=1
.prog mem_loop kprobe/bench
r6 = r1
*(u32 *)(r10 - 4) = 0
r1 = map[values] ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem
if r0 == 0 goto out
r7 = r0
r0 = 0
r1 = {n}
loop:
r2 = *(u64 *)(r6 + 8)
r0 += r2
*(u64 *)(r10 - 16) = r0
r3 = *(u64 *)(r10 - 16)
r4 = *(u64 *)(r7 + 0)
r4 += r3
*(u64 *)(r7 + 0) = r4
r1 -= 1
if r1 != 0 goto loop
out:
exit
"""


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


def bench_facts(n: int, runs: int) -> dict[str, tuple[float, float, int]]:
    """loop -> (median ns/insn without facts, with facts, instructions per round): the
    translating engine on each loop, loaded with and without verification."""
    reps = max(1, n // FACTS_CHUNK)
    ctx = bytes(range(168))
    out = {}
    for name, text in (("stack loop", ".prog loop socket\n" + LOOP),
                       ("ctx/stack/map value loop", MEM_LOOP)):
        runners = []
        for verified in (False, True):
            vm = Vm(host=FakeHost(), budget=20 * FACTS_CHUNK)
            obj = load_asm(text.format(n=FACTS_CHUNK), vm)
            prog = next(iter(obj.programs.values()))
            prog_load(vm, prog, verify=verified)
            assert (vm.compile(prog).plan is not None) == verified
            runners.append((vm, prog))
        times: list[list[float]] = [[], []]
        insns = 0
        for _ in range(runs):
            for i, (vm, prog) in enumerate(runners):
                t = time.process_time()
                insns = sum(vm.run(prog, ctx).insns for _ in range(reps))
                times[i].append(time.process_time() - t)
        without, with_ = (statistics.median(t) / insns * 1e9 for t in times)
        out[name] = (without, with_, insns)
    return out


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
    for name, (without, with_, insns) in bench_facts(args.n, args.runs).items():
        print(f"translate engine, {name} ({insns} insns per round, median of {args.runs}):"
              f" {without:.0f} ns/insn unverified, {with_:.0f} ns/insn with the verifier's"
              f" facts = {without / with_:.2f}x ({1e3 / without:.2f} -> {1e3 / with_:.2f}"
              " M insns/s)")
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
