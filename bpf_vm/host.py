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

    def tai_ns(self) -> int:
        """CLOCK_TAI in ns (bpf_ktime_get_tai_ns)."""
        ...

    def cpu(self) -> int: ...

    def prandom_u32(self) -> int: ...

    @property
    def printk_enabled(self) -> bool:
        """False when nobody reads printk lines: the helpers then skip building them
        (what they return, the text's length, is computed all the same)."""
        ...

    def user_regs(self) -> tuple[int, int, int] | None:
        """The task's user-mode (ip, sp, bp), what the kernel's task_pt_regs holds and
        bpf_get_stack(id) unwinds from; None when there are none (a kernel thread)."""
        ...

    def cgroup_ids(self) -> list[int]:
        """The ids of the task's cgroup-v2 cgroup and its ancestors, root (level 0)
        first: a cgroup's id is its directory's inode number.  [] when unknown."""
        ...

    def pid_ns(self) -> tuple[int, int, int, int] | None:
        """The task's pid namespace and its ids in it: (dev, inode) of the namespace
        file (``stat /proc/PID/ns/pid``), pid and tgid as that namespace sees them."""
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


CGROUP2_ROOT = "/sys/fs/cgroup"


def cgroup2_root() -> str:
    """Where the cgroup-v2 hierarchy is mounted: the first ``cgroup2`` mount of
    /proc/self/mounts (``/sys/fs/cgroup``, or ``/sys/fs/cgroup/unified`` on a hybrid
    system), else :data:`CGROUP2_ROOT`."""
    try:
        with open("/proc/self/mounts") as f:
            for ln in f:
                fields = ln.split()
                if len(fields) > 2 and fields[2] == "cgroup2":
                    return fields[1]
    except OSError:
        pass
    return CGROUP2_ROOT


def proc_cgroup_ids(pid: int | str, root: str | None = None) -> list[int]:
    """:meth:`Host.cgroup_ids` for process ``pid`` of this machine, from its
    ``/proc/PID/cgroup`` line ``0::/path`` and the inode numbers of the directories
    from the cgroup-v2 mount ``root`` down to that path; [] when either is missing."""
    root = root or cgroup2_root()
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            path = next((ln[3:].strip() for ln in f if ln.startswith("0::")), None)
        if path is None:
            return []
        parts = [p for p in path.split("/") if p]
        ids = [os.stat(root).st_ino]
        for i in range(len(parts)):
            ids.append(os.stat(os.path.join(root, *parts[:i + 1])).st_ino)
        return ids
    except OSError:
        return []


def proc_pid_ns(pid: int | str) -> tuple[int, int, int, int] | None:
    """:meth:`Host.pid_ns` for process/thread ``pid`` of this machine (the last entries
    of NSpid and NStgid in /proc/PID/status are the innermost namespace's)."""
    try:
        st = os.stat(f"/proc/{pid}/ns/pid")
        ids: dict[str, int] = {}
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                key, _, rest = ln.partition(":")
                if key in ("NSpid", "NStgid") and rest.split():
                    ids[key] = int(rest.split()[-1])
        return st.st_dev, st.st_ino, ids["NSpid"], ids["NStgid"]
    except (OSError, KeyError, ValueError):
        return None


class BaseHost:
    """What the hosts below share: no kernel memory, one CPU, a seeded random source,
    printk lines wanted, no user registers; cgroups and the pid namespace of
    :meth:`proc_pid` (this process unless a subclass says otherwise)."""

    def __init__(self, *, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def tai_ns(self) -> int:
        return time.clock_gettime_ns(time.CLOCK_TAI)

    def proc_pid(self) -> int | str:
        """The /proc entry of the current task, for cgroups and namespaces."""
        return "self"

    def user_regs(self) -> tuple[int, int, int] | None:
        return None

    def cgroup_ids(self) -> list[int]:
        return proc_cgroup_ids(self.proc_pid())

    def pid_ns(self) -> tuple[int, int, int, int] | None:
        return proc_pid_ns(self.proc_pid())

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
    ``boot_ns_offset`` is added for CLOCK_BOOTTIME, ``kernel_mem`` serves read_kernel,
    ``regs`` is the task's user (ip, sp, bp), ``cgroups`` its cgroup ids from the root
    (default: the root only, id 1), ``pidns`` (dev, inode, pid, tgid) its pid namespace.
    """

    def __init__(self, *, pid: int = 4242, tgid: int = 4242, uid: int = 1000,
                 gid: int = 1000, comm: bytes = b"fake-comm",
                 user_mem: Mapping[int, bytes] | None = None,
                 kernel_mem: Mapping[int, bytes] | None = None,
                 now_ns: int = 12_345_678_901_234, tick_ns: int = 0,
                 boot_ns_offset: int = 1_000_000_000, cpu: int = 0,
                 seed: int = 0, regs: tuple[int, int, int] | None = None,
                 cgroups: list[int] | None = None,
                 pidns: tuple[int, int, int, int] | None = (4, 0xEFFFFFFC, 42, 42)
                 ) -> None:
        super().__init__(seed=seed)
        self.pid, self.tgid, self.uid, self.gid = pid, tgid, uid, gid
        self.task_comm = comm
        self.user_memory = UserMemory(user_mem)
        self.kernel_memory = UserMemory(kernel_mem)
        self.now_ns, self.tick_ns, self.boot_ns_offset = now_ns, tick_ns, boot_ns_offset
        self.cpu_id = cpu
        self.regs = regs
        self.cgroups = [1] if cgroups is None else list(cgroups)
        self.pidns = pidns
        self.tai_offset_ns = 1_700_000_000 * 10**9

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

    def user_regs(self) -> tuple[int, int, int] | None:
        return self.regs

    def cgroup_ids(self) -> list[int]:
        return list(self.cgroups)

    def pid_ns(self) -> tuple[int, int, int, int] | None:
        return self.pidns

    def tai_ns(self) -> int:
        """CLOCK_TAI: the monotonic time plus ``tai_offset_ns``."""
        return self.now_ns + self.tai_offset_ns
