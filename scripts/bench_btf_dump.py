"""Benchmark: ``bpf-vm btf dump`` of the host's vmlinux BTF, next to bpftool's.

    python3 scripts/bench_btf_dump.py [--runs 5] [--btf /sys/kernel/btf/vmlinux]

Prints, for ``format raw`` and ``format c``: the wall and CPU time of the ``bpf-vm`` command
(interpreter start-up and imports included) and of ``bpftool btf dump file F format
...``, medians of ``--runs`` runs in this one process's session; the in-process phases
(parsing the BTF, writing the text); whether the texts are equal; and, with clang,
the number of structs whose size or member offsets in each header differ from BTF
(static asserts, as tests/test_btf_dump_c.py generates them).  Figures for the README's
``vmlinux.h`` section.  Not a test: nothing here fails a build."""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # run from a checkout

from bpf_vm.btf_c import dump_c  # noqa: E402
from bpf_vm.btf_file import dump_raw, load_btf_file  # noqa: E402
from tests.test_btf_dump_c import dumper, embedding, failing_asserts  # noqa: E402


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def wall(argv: list[str], runs: int) -> tuple[float, float, str]:
    """Median wall time and median CPU time (user + system) of a command, its output."""
    times, cpu, out = [], [], ""
    for _ in range(runs):
        t0, c0 = time.perf_counter(), _child_cpu()
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        times.append(time.perf_counter() - t0)
        cpu.append(_child_cpu() - c0)
    return statistics.median(times), statistics.median(cpu), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--btf", type=Path, default=Path("/sys/kernel/btf/vmlinux"))
    args = ap.parse_args()
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    bpf_vm = [sys.executable, "-m", "bpf_vm.cli"] if not shutil.which("bpf-vm") \
        else ["bpf-vm"]

    t0 = time.perf_counter()
    loaded = load_btf_file(args.btf)
    t_parse = time.perf_counter() - t0
    btf = loaded.btf
    print(f"{args.btf}: {len(btf.types) - 1} types, {len(loaded.data)} bytes;"
          f" parse {t_parse:.2f} s")
    for fmt in ("raw", "c"):
        t0 = time.perf_counter()
        text = dump_raw(btf) if fmt == "raw" else dump_c(btf, enum_modes=False)
        t_text = time.perf_counter() - t0
        legacy = ["--legacy-enums"] if fmt == "c" else []
        ours_t, ours_cpu, ours = wall([*bpf_vm, "btf", "dump", str(args.btf), "-f", fmt,
                                       *legacy], args.runs)
        theirs_t, theirs_cpu, theirs = wall([bpftool, "btf", "dump", "file", str(args.btf),
                                             "format", fmt], args.runs)
        print(f"format {fmt}: bpf-vm {ours_t:.2f} s wall, {ours_cpu:.2f} s CPU (writing the"
              f" text in-process {t_text:.2f} s); bpftool {theirs_t:.2f} s wall,"
              f" {theirs_cpu:.2f} s CPU; {len(text.splitlines())} lines;"
              f" identical to bpftool's: {ours == theirs == text}")

    clang = shutil.which("clang-14") or shutil.which("clang")
    if clang is None:
        print("no clang: layout not checked")
        return
    text, d = dumper(btf)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        ours_h, theirs_h = tmp / "ours.h", tmp / "bpftool.h"
        ours_h.write_text(text)
        theirs_h.write_text(wall([bpftool, "btf", "dump", "file", str(args.btf), "format",
                                  "c"], 1)[2])
        structs = sum(1 for t in btf.types if t.kind.name in ("STRUCT", "UNION") and t.name)
        va_list = embedding(btf, lambda t: t.kind.name == "TYPEDEF"
                            and t.name == "__builtin_va_list")
        for name, header in (("bpf-vm", ours_h), ("bpftool", theirs_h)):
            bad = failing_asserts(tmp, btf, d, header)
            print(f"layout, {name}'s header: {len(bad)} of {structs} named structs/unions"
                  f" differ from BTF ({len(bad & va_list)} hold a va_list):"
                  f" {', '.join(sorted(btf[i].name for i in bad)[:8])}")


if __name__ == "__main__":
    main()
