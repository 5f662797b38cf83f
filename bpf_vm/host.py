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
from dataclasses import dataclass, replace
from typing import Protocol, cast, runtime_checkable

#: Highest user address + 1 on x86-64 (TASK_SIZE_MAX: one guard page below 2**47).
TASK_SIZE = 0x00007FFFFFFFF000
TASK_COMM_LEN = 16
#: USER_HZ: the unit of /proc/PID/stat's starttime (clock ticks since boot)
USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """What the emulated task_struct of the current task holds (bpf_vm.kernel_task).

    ``uids``/``gids`` are (real, effective, saved, fs), as /proc/PID/status lists them;
    ``ppid`` is the parent's tgid (/proc's PPid: ``real_parent->tgid``); namespace
    inums are those of /proc/PID/ns/{pid_for_children,mnt}, ``pid_ns_level`` the depth
    of the task's pid namespace (0: the initial one); ``start_boottime_ns`` the task's
    start on CLOCK_BOOTTIME (/proc/PID/stat's starttime, so a multiple of the clock
    tick); ``flags`` its PF_* flags and ``exit_signal`` the signal its parent gets at
    its exit (stat's fields 9 and 38); ``ns_pids`` its thread id in each pid namespace
    from the initial one in (/proc's NSpid; ``(tid,)`` without namespaces)."""
    tid: int
    tgid: int
    ppid: int
    comm: bytes
    parent_comm: bytes
    leader_comm: bytes
    uids: tuple[int, int, int, int]
    gids: tuple[int, int, int, int]
    pid_ns_inum: int = 0
    mnt_ns_inum: int = 0
    pid_ns_level: int = 0
    start_boottime_ns: int = 0
    flags: int = 0
    exit_signal: int = 17
    ns_pids: tuple[int, ...] = ()



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

    def task_facts(self) -> TaskFacts:
        """The facts of the current task's task_struct (ids, names, credentials,
        namespaces, start time), what bpf_get_current_task's object holds.  Called at
        every get_current_task: a host caches them."""
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


def _read(path: str) -> bytes:
    """A small /proc file whole (os.open/read: half the cost of open() for these; they
    come whole in one read when the buffer holds them)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        out = chunk = os.read(fd, 1 << 16)
        while len(chunk) == 1 << 16:
            chunk = os.read(fd, 1 << 16)
            out += chunk
        return out
    finally:
        os.close(fd)


def _ns_inum(pid: int | str, *names: str) -> int:
    """The inode number of the first readable /proc/PID/ns/NAME (``pid:[4026531836]``)."""
    for name in names:
        try:
            link = os.readlink(f"/proc/{pid}/ns/{name}")
            return int(link[link.index("[") + 1:-1])
        except (OSError, ValueError):
            continue
    return 0


def _comm_of(pid: int) -> bytes:
    try:
        return _read(f"/proc/{pid}/comm").rstrip(b"\n")[:TASK_COMM_LEN - 1]
    except OSError:
        return b""


#: (stat stamp, facts) per /proc entry: see proc_task_facts
_Stamp = tuple[bytes, int, int, int, int, int, int]


def _stat_stamp(pid: int | str) -> _Stamp | None:
    """What /proc/PID/stat and the directory's owner say cheaply: comm, ppid, flags,
    starttime, exit_signal, and the euid/egid /proc shows as the entry's owner."""
    try:
        raw = _read(f"/proc/{pid}/stat")
        st = os.stat(f"/proc/{pid}")
    except OSError:
        return None
    lp, rp = raw.find(b"("), raw.rfind(b")")
    rest = raw[rp + 2:].split()
    try:
        return (raw[lp + 1:rp], int(rest[1]), int(rest[6]), int(rest[19]), int(rest[35]),
                st.st_uid, st.st_gid)
    except (IndexError, ValueError):
        return None


def _ids4(vals: list[bytes]) -> tuple[int, int, int, int]:
    r, e, s, f = (int(v) for v in vals[:4])
    return r, e, s, f


def proc_task_facts(pid: int | str, cache: dict[int | str, tuple[_Stamp, TaskFacts]]
                    | None = None) -> TaskFacts | None:
    """:meth:`Host.task_facts` for process/thread ``pid`` of this machine, from
    /proc/PID/{stat,status,ns/pid_for_children,ns/mnt} and the parent's and thread
    group leader's /proc/*/comm; None when ``pid`` is gone.

    With ``cache``, the facts are read again only when the cheap stamp changed (one
    read of /proc/PID/stat and a stat of /proc/PID: comm, ppid, flags, start time and
    the effective ids).  A change that leaves all of those alone (setresuid of the
    real or saved id only, unshare, a parent renaming itself) is seen once something
    in the stamp changes."""
    stamp = _stat_stamp(pid)
    if stamp is None:
        return None
    if cache is not None:
        hit = cache.get(pid)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    comm, ppid, flags, starttime, exit_signal = stamp[:5]
    fields: dict[bytes, list[bytes]] = {}
    try:
        for ln in _read(f"/proc/{pid}/status").splitlines():
            key, _, rest = ln.partition(b":")
            if key in (b"Pid", b"Tgid", b"Uid", b"Gid", b"NSpid"):
                fields[key] = rest.split()
        tid, tgid = int(fields[b"Pid"][0]), int(fields[b"Tgid"][0])
        uids, gids = _ids4(fields[b"Uid"]), _ids4(fields[b"Gid"])
    except (OSError, KeyError, IndexError, ValueError):
        return None
    comm = comm[:TASK_COMM_LEN - 1]
    facts = TaskFacts(
        tid=tid, tgid=tgid, ppid=ppid, comm=comm, parent_comm=_comm_of(ppid),
        leader_comm=comm if tid == tgid else _comm_of(tgid),
        uids=uids, gids=gids,
        pid_ns_inum=_ns_inum(pid, "pid_for_children", "pid"),
        mnt_ns_inum=_ns_inum(pid, "mnt"),
        pid_ns_level=max(len(fields.get(b"NSpid", ())) - 1, 0),
        ns_pids=tuple(int(v) for v in fields.get(b"NSpid", ())) or (tid,),
        start_boottime_ns=starttime * (10**9 // USER_HZ), flags=flags,
        exit_signal=exit_signal)
    if cache is not None:
        cache[pid] = (stamp, facts)
    return facts


class BaseHost:
    """What the hosts below share: no kernel memory, one CPU, a seeded random source,
    printk lines wanted, no user registers; cgroups, the pid namespace and the task
    facts of :meth:`proc_pid` (this process unless a subclass says otherwise)."""

    def __init__(self, *, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._facts: dict[int | str, tuple[_Stamp, TaskFacts]] = {}

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

    def task_facts(self) -> TaskFacts:
        """The facts of :meth:`proc_pid` (cached per entry, see proc_task_facts);
        when it is gone, what the other methods say, with no parent or namespaces."""
        facts = proc_task_facts(self.proc_pid(), self._facts)
        if facts is not None:
            return facts
        host = cast(Host, self)
        tgid, pid = host.pid_tgid()
        uid, gid = host.uid_gid()
        comm = host.comm()
        return TaskFacts(tid=pid, tgid=tgid, ppid=0, comm=comm, parent_comm=b"",
                         leader_comm=comm, uids=(uid, uid, uid, uid),
                         gids=(gid, gid, gid, gid))

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

    def task_facts(self) -> TaskFacts:
        """This process's facts, with what the options override (pid, tgid, comm,
        uid, gid: every id of its kind), so the task agrees with the other helpers."""
        facts = super().task_facts()
        if (self._pid, self._tgid, self._comm, self._uid, self._gid) == (None,) * 5:
            return facts
        tgid, pid = self.pid_tgid()
        uid, gid = self._uid, self._gid
        comm = self.comm()
        return replace(facts, tid=pid, tgid=tgid, comm=comm,
                       leader_comm=comm if pid == tgid else facts.leader_comm,
                       uids=facts.uids if uid is None else (uid, uid, uid, uid),
                       gids=facts.gids if gid is None else (gid, gid, gid, gid))

    def ktime_ns(self) -> int:
        return time.monotonic_ns()

    def boot_ns(self) -> int:
        return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


class FakeHost(BaseHost):
    """A deterministic host for tests: every answer is an attribute to set.

    ``now_ns`` is CLOCK_MONOTONIC (advanced by ``tick_ns`` on every read, 0 by default),
    ``boot_ns_offset`` is added for CLOCK_BOOTTIME, ``kernel_mem`` serves read_kernel,
    ``regs`` is the task's user (ip, sp, bp), ``cgroups`` its cgroup ids from the root
    (default: the root only, id 1), ``pidns`` (dev, inode, pid, tgid) its pid namespace;
    ``ppid``, ``parent_comm`` and ``mnt_ns_inum`` complete :meth:`task_facts`, which
    ``facts`` replaces whole when set.
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
        self.ppid, self.parent_comm, self.mnt_ns_inum = 1, b"fake-parent", 0xEFFFFFF8
        self.facts: TaskFacts | None = None

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

    def task_facts(self) -> TaskFacts:
        if self.facts is not None:
            return self.facts
        comm = self.comm()
        u, g = self.uid, self.gid
        return TaskFacts(
            tid=self.pid, tgid=self.tgid, ppid=self.ppid, comm=comm,
            parent_comm=self.parent_comm,
            leader_comm=comm if self.pid == self.tgid else b"fake-leader",
            uids=(u, u, u, u), gids=(g, g, g, g),
            pid_ns_inum=self.pidns[1] if self.pidns else 0xEFFFFFFC,
            mnt_ns_inum=self.mnt_ns_inum, start_boottime_ns=self.boot_ns_offset,
            flags=0x400000, ns_pids=(self.pid,))   # PF_RANDOMIZE
