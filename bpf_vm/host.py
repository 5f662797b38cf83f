"""The host interface: everything a helper may ask of the world outside the VM.

The VM never touches processes.  What ``bpf_get_current_pid_tgid``, ``bpf_probe_read_user``,
the clocks and ``bpf_trace_printk``'s line need to know comes through one object
implementing :class:`Host`: the tracer implements it for a real tracee,
:class:`ProcessHost` answers for ``bpf-vm run`` from options and the command's own
process, and :class:`FakeHost` is the deterministic one tests use.

The host only answers questions.  What a run does to the outside world (signals, return
overrides, printk lines, ring-buffer and perf records) is the run's own record,
:class:`bpf_vm.effects.Effects`, returned on its result.
"""

from __future__ import annotations

import os
import random
import time
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

#: Highest user address + 1 on x86-64 (TASK_SIZE_MAX: one guard page below 2**47).
TASK_SIZE = 0x00007FFFFFFFF000
TASK_COMM_LEN = 16


@runtime_checkable
class Host(Protocol):
    """What helpers need of the outside world (the "current task" is the tracee)."""

    def pid_tgid(self) -> tuple[int, int]:
        """(tgid, pid): process id and thread id, as the kernel names them."""
        ...

    def uid_gid(self) -> tuple[int, int]: ...

    def comm(self) -> bytes:
        """The task's name (at most 15 bytes, no NUL)."""
        ...

    def read_user(self, addr: int, size: int) -> bytes | None:
        """``size`` bytes of the task's memory at ``addr``; None if any is unreadable."""
        ...

    def read_kernel(self, addr: int, size: int) -> bytes | None:
        """Kernel memory outside the VM; None when there is none (there is no kernel)."""
        ...

    def ktime_ns(self) -> int:
        """CLOCK_MONOTONIC in ns (bpf_ktime_get_ns, trace_pipe timestamps)."""
        ...

    def boot_ns(self) -> int:
        """CLOCK_BOOTTIME in ns."""
        ...

    def cpu(self) -> int: ...

    def prandom_u32(self) -> int: ...

    @property
    def printk_enabled(self) -> bool:
        """False when nobody reads printk lines: the helpers then skip building them
        (what they return, the text's length, is computed all the same)."""
        ...


class UserMemory:
    """Sparse fake memory of a task: ranges ``{addr: bytes}``.  A read succeeds only
    if every byte lies in some range (adjacent ranges join)."""

    def __init__(self, ranges: Mapping[int, bytes] | None = None) -> None:
        self._starts: list[int] = []
        self._data: list[bytes] = []
        for addr, data in sorted((ranges or {}).items()):
            self.add(addr, data)

    def add(self, addr: int, data: bytes) -> None:
        i = bisect_right(self._starts, addr)
        self._starts.insert(i, addr)
        self._data.insert(i, bytes(data))

    def read(self, addr: int, size: int) -> bytes | None:
        if size == 0:
            return b""
        out = bytearray()
        pos, end = addr, addr + size
        while pos < end:
            i = bisect_right(self._starts, pos) - 1
            if i < 0:
                return None
            start, data = self._starts[i], self._data[i]
            if pos >= start + len(data):
                return None
            chunk = data[pos - start:min(len(data), end - start)]
            out += chunk
            pos += len(chunk)
        return bytes(out)


def parse_user_mem(items: Iterable[str]) -> dict[int, bytes]:
    """``--user-mem ADDR=HEX`` options: ADDR in any base Python accepts (0x...), HEX the
    bytes.  Raises ValueError naming the bad item."""
    out: dict[int, bytes] = {}
    for item in items:
        addr_s, sep, hex_s = item.partition("=")
        try:
            if not sep:
                raise ValueError("missing '='")
            out[int(addr_s, 0)] = bytes.fromhex(hex_s)
        except ValueError as exc:
            raise ValueError(f"--user-mem {item!r}: expected ADDR=HEX ({exc})") from None
    return out


class BaseHost:
    """What the hosts below share: no kernel memory, one CPU, a seeded random source,
    printk lines wanted."""

    def __init__(self, *, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def read_kernel(self, addr: int, size: int) -> bytes | None:
        return None

    def cpu(self) -> int:
        return 0

    def prandom_u32(self) -> int:
        return self._rng.getrandbits(32)

    @property
    def printk_enabled(self) -> bool:
        return True


class ProcessHost(BaseHost):
    """The host of ``bpf-vm run``: the current task is this Python process, except where
    an option says otherwise.  Its memory is *not* read (reading our own heap through
    raw addresses would be neither safe nor meaningful); ``user_mem`` fakes the tracee's
    memory instead."""

    def __init__(self, user_mem: Mapping[int, bytes] | None = None, *,
                 comm: bytes | None = None, pid: int | None = None, tgid: int | None = None,
                 uid: int | None = None, gid: int | None = None,
                 seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.user_memory = UserMemory(user_mem)
        self._comm = comm
        self._pid, self._tgid, self._uid, self._gid = pid, tgid, uid, gid

    def pid_tgid(self) -> tuple[int, int]:
        tgid = self._tgid if self._tgid is not None else os.getpid()
        pid = self._pid if self._pid is not None else tgid
        return tgid, pid

    def uid_gid(self) -> tuple[int, int]:
        return (self._uid if self._uid is not None else os.getuid(),
                self._gid if self._gid is not None else os.getgid())

    def comm(self) -> bytes:
        if self._comm is not None:
            return self._comm[:TASK_COMM_LEN - 1]
        try:
            with open("/proc/self/comm", "rb") as f:
                return f.read().rstrip(b"\n")[:TASK_COMM_LEN - 1]
        except OSError:
            return b"python"

    def read_user(self, addr: int, size: int) -> bytes | None:
        return self.user_memory.read(addr, size)

    def ktime_ns(self) -> int:
        return time.monotonic_ns()

    def boot_ns(self) -> int:
        return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


class FakeHost(BaseHost):
    """A deterministic host for tests: every answer is an attribute to set.

    ``now_ns`` is CLOCK_MONOTONIC (advanced by ``tick_ns`` on every read, 0 by default),
    ``boot_ns_offset`` is added for CLOCK_BOOTTIME, ``kernel_mem`` serves read_kernel."""

    def __init__(self, *, pid: int = 4242, tgid: int = 4242, uid: int = 1000,
                 gid: int = 1000, comm: bytes = b"fake-comm",
                 user_mem: Mapping[int, bytes] | None = None,
                 kernel_mem: Mapping[int, bytes] | None = None,
                 now_ns: int = 12_345_678_901_234, tick_ns: int = 0,
                 boot_ns_offset: int = 1_000_000_000, cpu: int = 0,
                 seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.pid, self.tgid, self.uid, self.gid = pid, tgid, uid, gid
        self.task_comm = comm
        self.user_memory = UserMemory(user_mem)
        self.kernel_memory = UserMemory(kernel_mem)
        self.now_ns, self.tick_ns, self.boot_ns_offset = now_ns, tick_ns, boot_ns_offset
        self.cpu_id = cpu

    def pid_tgid(self) -> tuple[int, int]:
        return self.tgid, self.pid

    def uid_gid(self) -> tuple[int, int]:
        return self.uid, self.gid

    def comm(self) -> bytes:
        return self.task_comm[:TASK_COMM_LEN - 1]

    def read_user(self, addr: int, size: int) -> bytes | None:
        return self.user_memory.read(addr, size)

    def read_kernel(self, addr: int, size: int) -> bytes | None:
        return self.kernel_memory.read(addr, size)

    def ktime_ns(self) -> int:
        now = self.now_ns
        self.now_ns += self.tick_ns
        return now

    def boot_ns(self) -> int:
        return self.now_ns + self.boot_ns_offset

    def cpu(self) -> int:
        return self.cpu_id
