"""What bpf_get_current_task costs now that it maps an emulated task_struct
(bpf_vm.kernel_task): per call, with the task's facts cached (the /proc stamp still
valid), uncached (every /proc file read and the objects laid out again), and on a
FakeHost (no /proc at all); a whole VM run of ``call bpf_get_current_task`` for scale.

    python3 -m scripts.bench_kernel_task [-n CALLS]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from bpf_vm.host import FakeHost, ProcessHost
from bpf_vm.kernel_task import _table, current_task
from bpf_vm.vm import Vm


def per_call_us(fn: Callable[[], object], n: int) -> float:
    fn()
    best = float("inf")
    for _ in range(5):                      # best of five: the machine is shared
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=2000)
    n = ap.parse_args(argv).n

    fake = Vm(host=FakeHost())
    proc_host = ProcessHost()
    proc = Vm(host=proc_host)

    def uncached() -> None:
        proc_host._facts.clear()
        _table(proc.kernel_mem).mapped.clear()
        current_task(proc.kernel_mem, proc_host)

    from bpf_vm.asm import assemble
    from bpf_vm.program import Program
    p = assemble("call bpf_get_current_task\nexit\n").programs[0]
    prog = Program(p.insns, name="bench", license="GPL")
    ctx = bytes(168)
    rows = [
        ("FakeHost, facts unchanged", per_call_us(
            lambda: current_task(fake.kernel_mem, fake.host), n)),
        ("this process, /proc stamp valid (cached)", per_call_us(
            lambda: current_task(proc.kernel_mem, proc_host), n)),
        ("this process, uncached (every /proc file, laid out again)",
         per_call_us(uncached, n)),
        ("VM run of `call bpf_get_current_task; exit`, cached", per_call_us(
            lambda: proc.run(prog, ctx), n)),
    ]
    for what, us in rows:
        print(f"{us:8.1f} us  {what}")


if __name__ == "__main__":
    main()
