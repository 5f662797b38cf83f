"""µs per syscall spent on trace-run's outputs: strace text, JSON Lines, the -c summary.

Each case is one common call (read, write, openat, close, mmap, newfstatat, fstat, brk)
with its arguments and the memory its pointers refer to.  It goes through the path the
tracer's loop takes at every syscall: ``OutputRecorder.record_entry`` at the entry stop,
``flush()``, ``record_exit`` at the exit stop, ``flush()``, with the writers trace-run
builds for ``-o FILE`` (strace text with the pid column), ``--json FILE`` and ``-c``,
writing to /dev/null (as ``scripts/bench_trace.py`` does) or, with ``--file``, to a
temporary regular file.  The loop's own work (ptrace, the probe) is not included.

    python3 scripts/bench_output.py [--calls N] [--reps R] [--file]

Prints, per output and call, the median over R runs of N calls each, in µs per syscall:
``stop`` is the time spent in record_entry + record_exit (at the stops, while the tracee
waits: the loop's critical path), ``after`` the time spent in the two flushes (after the
loop resumed the tracee, overlapping its run), ``all`` the whole loop.  The split is timed
with four perf_counter() calls per syscall, whose own cost (~0.1 µs each) lands in ``all``
and is shared out between ``stop`` and ``after``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes.abi import Abi, syscall_number
from tracer.handler import ALLOW, SyscallCall
from tracer.output.jsonl import JsonWriter
from tracer.output.records import Writer
from tracer.output.strace import PidPrefix, StraceWriter
from tracer.output.summary import Summary
from tracer.record import OutputRecorder

_PAGE = 4096


class Memory:
    """A small tracee address space: blobs placed at page-aligned addresses."""

    def __init__(self) -> None:
        self.blobs: list[tuple[int, bytes]] = []
        self.next = 0x7F0000000000

    def put(self, data: bytes) -> int:
        addr = self.next
        self.blobs.append((addr, data))
        self.next += (len(data) // _PAGE + 2) * _PAGE
        return addr

    def read(self, addr: int, size: int) -> bytes | None:
        for start, data in self.blobs:
            off = addr - start
            if off >= 0 and off + size <= len(data):
                return data[off:off + size]
        return None


@dataclass
class Thread:
    """What the recorder needs of a tracee: ids and its memory."""

    pid: int
    tid: int
    read_memory: Callable[[int, int], bytes | None]


@dataclass
class Case:
    name: str
    nr: int
    args: tuple[int, int, int, int, int, int]
    ret: int


def _stat(mode: int, size: int) -> bytes:
    data = bytearray(144)
    struct.pack_into("<I", data, 24, mode)
    struct.pack_into("<q", data, 48, size)
    return bytes(data)


def cases(mem: Memory) -> list[Case]:
    """The calls of a typical program (``dd bs=1``'s read and write first)."""
    def nr(name: str) -> int:
        n = syscall_number(Abi.X86_64, name)
        assert n is not None
        return n

    byte = mem.put(b"\0" * 64)
    path = mem.put(b"/etc/ld.so.cache\0")
    empty = mem.put(b"\0" * 8)
    st = mem.put(_stat(0o100644, 26461))
    return [
        Case("read", nr("read"), (0, byte, 1, 0, 0, 0), 1),
        Case("write", nr("write"), (1, byte, 1, 0, 0, 0), 1),
        Case("openat", nr("openat"), (0xFFFFFFFFFFFFFF9C, path, 0o2000000, 0, 0, 0), 3),
        Case("openat-ENOENT", nr("openat"), (0xFFFFFFFFFFFFFF9C, path, 0o2000000, 0, 0, 0), -2),
        Case("close", nr("close"), (3, 0, 0, 0, 0, 0), 0),
        Case("mmap", nr("mmap"), (0, 8192, 3, 0x22, 0xFFFFFFFFFFFFFFFF, 0), 0x7F1234560000),
        Case("newfstatat", nr("newfstatat"), (3, empty, st, 0x1000, 0, 0), 0),
        Case("fstat", nr("fstat"), (3, st, 0, 0, 0, 0), 0),
        Case("brk", nr("brk"), (0, 0, 0, 0, 0, 0), 0x5555D2F3C000),
    ]


@contextlib.contextmanager
def sink(to_file: bool) -> Iterator[TextIO]:
    """A stream of trace-run's own: /dev/null, or a fresh regular file."""
    if not to_file:
        with open(os.devnull, "w") as f:
            yield f
        return
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "out", "w") as f:
        yield f


OUTPUTS: dict[str, Callable[[TextIO], Writer]] = {
    "text": lambda f: StraceWriter(f, pid_prefix=PidPrefix.ALWAYS),   # -o FILE
    "json": lambda f: JsonWriter(f),                                   # --json FILE
    "summary": lambda f: Summary(f),                                   # -c
}


def run_once(make: Callable[[TextIO], Writer], case: Case, thread: Thread, calls: int,
             to_file: bool) -> tuple[float, float, float]:
    """µs per syscall for ``calls`` syscalls of ``case``: (at the stops, after, all)."""
    clock = time.perf_counter
    with sink(to_file) as f:
        writer = make(f)
        rec = OutputRecorder(writer)
        call = SyscallCall(thread.pid, thread.tid, Abi.X86_64, case.nr, case.nr, case.name,
                           case.args, bytes(168), 1.0)
        entry, exit_, flush = rec.record_entry, rec.record_exit, rec.flush
        ret = case.ret
        stop = after = 0.0
        t0 = clock()
        for _ in range(calls):
            a = clock()
            entry(call, ALLOW, thread)  # type: ignore[arg-type]
            b = clock()
            flush()
            c = clock()
            exit_(call, ret, ALLOW, thread, 1.5)  # type: ignore[arg-type]
            d = clock()
            flush()
            e = clock()
            stop += (b - a) + (d - c)
            after += (c - b) + (e - d)
        elapsed = clock() - t0
        writer.close()
    return stop / calls * 1e6, after / calls * 1e6, elapsed / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--file", action="store_true", help="a regular file, not /dev/null")
    opts = parser.parse_args()
    mem = Memory()
    thread = Thread(4242, 4242, mem.read)
    all_cases = cases(mem)
    print(f"µs per syscall (median of {opts.reps} x {opts.calls} calls), "
          f"to {'a regular file' if opts.file else '/dev/null'}: "
          "stop = record_entry + record_exit, after = the flushes")
    print(f"{'':<15}" + "".join(f"{name:^24}" for name in OUTPUTS))
    print(f"{'call':<15}" + "".join(f"{'stop':>8}{'after':>8}{'all':>8}" for _ in OUTPUTS))
    totals: dict[str, list[tuple[float, float, float]]] = {name: [] for name in OUTPUTS}
    for case in all_cases:
        row: list[float] = []
        for name, make in OUTPUTS.items():
            runs = [run_once(make, case, thread, opts.calls, opts.file) for _ in range(opts.reps)]
            med = tuple(statistics.median(r[i] for r in runs) for i in range(3))
            totals[name].append(med)  # type: ignore[arg-type]
            row.extend(med)
        print(f"{case.name:<15}" + "".join(f"{v:8.2f}" for v in row))
    print(f"{'mean':<15}" + "".join(f"{statistics.mean(t[i] for t in v):8.2f}"
                                    for v in totals.values() for i in range(3)))

if __name__ == "__main__":
    main()
