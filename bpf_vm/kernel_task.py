"""The current task's task_struct, emulated in kernel memory for the programs that read it.

``bpf_get_current_task`` returns :func:`task_handle` (the thread's address in the
direct map); :func:`current_task` maps a task_struct there, laid out by the target BTF
(:func:`bpf_vm.core_match.target_btf`, the BTF CO-RE relocations resolve against), so
``BPF_CORE_READ(task, real_parent, tgid)`` and ``bpf_probe_read_kernel(&x, 4,
&task->tgid)`` read the bytes the relocated offsets point at.

What is provided, from the host's :class:`~bpf_vm.host.TaskFacts`:

* ``task_struct``: pid, tgid, comm, flags, start_time, start_boottime, exit_code,
  exit_signal, and the pointers real_parent, parent, group_leader, cred, real_cred,
  nsproxy;
* the parent (``real_parent`` and ``parent``, the same object): a task_struct with pid
  and tgid (both the parent's tgid: /proc does not say which of its threads forked)
  and comm, everything else zero, unless that task is itself mapped whole;
* the thread group leader (``group_leader``; the task itself for a leader): the task's
  own facts under the leader's pid and comm;
* ``cred`` (cred and real_cred point at one object, as they do unless a task overrides
  its credentials): uid, gid, suid, sgid, euid, egid, fsuid, fsgid;
* ``nsproxy``: pid_ns_for_children (``pid_namespace``: ns.inum, level) and mnt_ns
  (``mnt_namespace``: ns.inum);
* ``thread_pid`` (``struct pid``): level and ``numbers[]``, the thread's id in each
  pid namespace from the initial one in, the innermost one's ``ns`` pointing at its
  pid_namespace (the outer ones' NULL).

Every other byte of these objects reads as zero, so every other pointer is NULL; an
address no object covers (through a NULL pointer, past an object's end) fails as the
kernel's probe read of a bad address does: the helper's error and a zeroed
destination.  ``exit_code`` is 0 while the task runs; the front end sets it at the
task's exit with :func:`set_exit_code`.  ``start_time`` (CLOCK_MONOTONIC) is
start_boottime less the time the machine has been suspended since boot, as of now.
A field the target BTF lacks (an older kernel's names) is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from .btf import Btf, Kind
from .core_match import target_btf
from .host import TASK_COMM_LEN, TaskFacts

if TYPE_CHECKING:
    from .host import Host
    from .kernel_mem import KernelMemory

#: Where task handles start: the x86-64 direct map (page_offset_base without KASLR),
#: one 16 KiB slot per thread id.  Never a VM address (those are small numbers).
TASK_HANDLE_BASE = 0xFFFF_8880_0000_0000
TASK_HANDLE_STRIDE = 1 << 14
M64 = (1 << 64) - 1

#: The fields laid out, per struct: (path, kind) where kind names the fact.
TASK_FIELDS = ("pid", "tgid", "comm", "flags", "start_time", "start_boottime",
               "exit_code", "exit_signal", "real_parent", "parent", "group_leader",
               "cred", "real_cred", "nsproxy", "thread_pid")
CRED_FIELDS = ("uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid")


def task_handle(tid: int) -> int:
    """The address bpf_get_current_task returns for thread ``tid``."""
    return TASK_HANDLE_BASE + (tid & 0x3FFFFF) * TASK_HANDLE_STRIDE


@dataclass(frozen=True)
class Struct:
    """A struct of the target BTF: its size and the (offset, size) of each member path
    we write that it has."""
    size: int
    fields: dict[str, tuple[int, int]]


def _member_path(btf: Btf, type_id: int, path: str) -> tuple[int, int] | None:
    """(byte offset, size) of ``a.b.c`` inside struct ``type_id``, searching anonymous
    members as C does; None when the BTF has no such member."""
    off, tid = 0, type_id
    for name in path.split("."):
        found = _find_member(btf, tid, name)
        if found is None:
            return None
        moff, tid = found
        off += moff
    return off, btf.resolve_size(tid)


def _find_member(btf: Btf, type_id: int, name: str) -> tuple[int, int] | None:
    t = btf.skip_mods_and_typedefs(type_id)
    if t.kind not in (Kind.STRUCT, Kind.UNION):
        return None
    for m in t.members:
        if m.name == name:
            return m.bit_offset // 8, m.type
        if not m.name:
            inner = _find_member(btf, m.type, name)
            if inner is not None:
                return m.bit_offset // 8 + inner[0], inner[1]
    return None


def _struct(btf: Btf, name: str, paths: tuple[str, ...]) -> Struct | None:
    t = btf.find(name, Kind.STRUCT)
    if t is None:
        return None
    fields = {}
    for p in paths:
        where = _member_path(btf, t.id, p)
        if where is not None and where[0] + where[1] <= t.size:
            fields[p] = where
    return Struct(t.size, fields)


@dataclass(frozen=True)
class Layout:
    """The target BTF's layout of every object we emulate (None: the BTF lacks it)."""
    task: Struct | None
    cred: Struct | None
    nsproxy: Struct | None
    pid_ns: Struct | None
    mnt_ns: Struct | None
    pid: Struct | None
    upid: Struct | None

    @classmethod
    def of(cls, btf: Btf) -> Layout:
        return cls(_struct(btf, "task_struct", TASK_FIELDS),
                   _struct(btf, "cred", tuple(f"{n}.val" for n in CRED_FIELDS)),
                   _struct(btf, "nsproxy", ("pid_ns_for_children", "mnt_ns")),
                   _struct(btf, "pid_namespace", ("ns.inum", "level")),
                   _struct(btf, "mnt_namespace", ("ns.inum",)),
                   _struct(btf, "pid", ("level", "numbers")),
                   _struct(btf, "upid", ("nr", "ns")))


class _Obj:
    """An object being laid out: zeros of the struct's size, fields written by name."""

    def __init__(self, st: Struct, limit: int | None = None, size: int = 0) -> None:
        self.st = st
        self.buf = bytearray(min(st.size, limit) if limit else max(st.size, size))

    def put(self, path: str, value: int | bytes, base: int = 0) -> None:
        """Write member ``path`` (at ``base`` + its offset: an array element's)."""
        where = self.st.fields.get(path)
        if where is None:
            return
        self.put_at(base + where[0], where[1], value)

    def put_at(self, off: int, size: int, value: int | bytes) -> None:
        if off + size > len(self.buf):
            return
        if isinstance(value, bytes):
            raw = value[:size].ljust(size, b"\0")
        else:
            raw = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        self.buf[off:off + size] = raw


@dataclass
class TaskTable:
    """The tasks mapped in one VM's kernel memory, and what each was built from."""
    kmem: KernelMemory
    layout: Layout
    mapped: dict[int, TaskFacts] = field(default_factory=dict)     # tid -> whole task
    stubs: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # tid -> parent stub
    exit_codes: dict[int, int] = field(default_factory=dict)
    #: CLOCK_BOOTTIME - CLOCK_MONOTONIC (time suspended), taken at the first task
    boot_offset_ns: int | None = None

    # -- the objects ---------------------------------------------------------------------

    def _cred(self, f: TaskFacts) -> int:
        st = self.layout.cred
        if st is None:
            return 0
        o = _Obj(st)
        for name, v in zip(CRED_FIELDS, (*f.uids, *f.gids), strict=True):
            o.put(f"{name}.val", v)
        return self.kmem.place(f"cred:{f.uids}:{f.gids}", bytes(o.buf))

    def _ns(self, kind: str, st: Struct | None, inum: int, level: int = 0) -> int:
        if st is None or not inum:
            return 0
        o = _Obj(st)
        o.put("ns.inum", inum)
        o.put("level", level)
        return self.kmem.place(f"{kind}:{inum}:{level}", bytes(o.buf))

    def _nsproxy(self, f: TaskFacts) -> int:
        st = self.layout.nsproxy
        if st is None:
            return 0
        o = _Obj(st)
        o.put("pid_ns_for_children",
              self._ns("pid_namespace", self.layout.pid_ns, f.pid_ns_inum, f.pid_ns_level))
        o.put("mnt_ns", self._ns("mnt_namespace", self.layout.mnt_ns, f.mnt_ns_inum))
        return self.kmem.place(f"nsproxy:{f.pid_ns_inum}:{f.pid_ns_level}:{f.mnt_ns_inum}",
                               bytes(o.buf))

    def _thread_pid(self, f: TaskFacts, pid_ns: int) -> int:
        """struct pid: its level and ``numbers[]`` (struct upid: the id in each pid
        namespace from the initial one in; ``ns`` known only for the task's own)."""
        st, up = self.layout.pid, self.layout.upid
        if st is None or up is None or "numbers" not in st.fields or not f.ns_pids:
            return 0
        base = st.fields["numbers"][0]
        o = _Obj(st, size=base + up.size * len(f.ns_pids))
        level = len(f.ns_pids) - 1
        o.put("level", level)
        for i, nr in enumerate(f.ns_pids):
            el = _Obj(up)
            el.put("nr", nr)
            el.put("ns", pid_ns if i == level else 0)
            o.put_at(base + i * up.size, up.size, bytes(el.buf))
        return self.kmem.place(f"pid:{f.tid}", bytes(o.buf))

    def _stub(self, pid: int, comm: bytes) -> None:
        """A task known only by pid and comm (a parent), unless it is mapped whole."""
        st = self.layout.task
        if st is None or pid in self.mapped or self.stubs.get(pid) == (pid, comm):
            return
        o = _Obj(st, TASK_HANDLE_STRIDE)
        o.put("pid", pid)
        o.put("tgid", pid)
        o.put("comm", comm)
        self.kmem.map_at(task_handle(pid), bytes(o.buf))
        self.stubs[pid] = (pid, comm)

    def _task(self, f: TaskFacts) -> bytes:
        st = self.layout.task
        assert st is not None
        o = _Obj(st, TASK_HANDLE_STRIDE)
        o.put("pid", f.tid)
        o.put("tgid", f.tgid)
        o.put("comm", f.comm[:TASK_COMM_LEN - 1])
        o.put("flags", f.flags)
        o.put("start_boottime", f.start_boottime_ns)
        o.put("start_time", max(f.start_boottime_ns - (self.boot_offset_ns or 0), 0))
        o.put("exit_code", self.exit_codes.get(f.tid, 0))
        o.put("exit_signal", f.exit_signal)
        parent = task_handle(f.ppid)
        o.put("real_parent", parent)
        o.put("parent", parent)
        o.put("group_leader", task_handle(f.tgid))
        cred = self._cred(f)
        o.put("cred", cred)
        o.put("real_cred", cred)
        o.put("nsproxy", self._nsproxy(f))
        o.put("thread_pid", self._thread_pid(
            f, self._ns("pid_namespace", self.layout.pid_ns, f.pid_ns_inum, f.pid_ns_level)))
        return bytes(o.buf)

    def map_task(self, f: TaskFacts) -> int:
        """Map the task ``f`` describes (and its parent and leader) and return its
        handle."""
        addr = task_handle(f.tid)
        if self.layout.task is None:
            return addr
        self.kmem.map_at(addr, self._task(f))
        self.mapped[f.tid] = f
        self.stubs.pop(f.tid, None)
        if f.tid != f.tgid and self.mapped.get(f.tgid) is None:
            leader = replace(f, tid=f.tgid, comm=f.leader_comm)
            self.kmem.map_at(task_handle(f.tgid), self._task(leader))
            self.stubs[f.tgid] = (f.tgid, f.leader_comm)
        self._stub(f.ppid, f.parent_comm)
        return addr


_TABLES: WeakKeyDictionary[KernelMemory, TaskTable] = WeakKeyDictionary()


def _table(kmem: KernelMemory) -> TaskTable:
    table = _TABLES.get(kmem)
    if table is None:
        table = _TABLES[kmem] = TaskTable(kmem, Layout.of(target_btf().btf))
    return table


def current_task(kmem: KernelMemory, host: Host) -> int:
    """The current task's handle, its task_struct mapped behind it (built again only
    when the host's facts changed)."""
    f = host.task_facts()
    table = _table(kmem)
    if table.mapped.get(f.tid) == f:
        return task_handle(f.tid)
    if table.boot_offset_ns is None:
        table.boot_offset_ns = max(host.boot_ns() - host.ktime_ns(), 0)
    return table.map_task(f)


def set_exit_code(kmem: KernelMemory, tid: int, code: int) -> None:
    """Set the ``exit_code`` task ``tid`` shows from now on: the kernel's value at
    exit, a wait status (``(status & 0xff) << 8`` for exit(status), the signal number
    for a death by signal, | 0x80 with a core dump).  The front end calls it at the
    task's exit event, before running the programs attached there."""
    table = _table(kmem)
    table.exit_codes[tid] = code
    f = table.mapped.pop(tid, None)
    if f is not None:
        table.map_task(f)


def forget_task(kmem: KernelMemory, tid: int) -> None:
    """Drop what is known of task ``tid`` (its id may be reused by a new task)."""
    table = _table(kmem)
    table.mapped.pop(tid, None)
    table.stubs.pop(tid, None)
    table.exit_codes.pop(tid, None)


__all__ = [
    "TASK_HANDLE_BASE",
    "TASK_HANDLE_STRIDE",
    "Layout",
    "TaskTable",
    "current_task",
    "forget_task",
    "set_exit_code",
    "task_handle",
]
