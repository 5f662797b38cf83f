"""Arrays of kernel objects: BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_PERF_EVENT_ARRAY and
BPF_MAP_TYPE_CGROUP_ARRAY.

User space fills their slots (bpf(2) takes an fd; here the object itself), programs
cannot look them up or change them, and they are iterated like arrays.  The kernel's
rules for these "fd arrays": updates take only BPF_ANY (else -EINVAL), an index beyond
max_entries is -E2BIG, deleting an empty slot is -ENOENT.

A prog array holds :class:`~bpf_vm.program.Program` objects for bpf_tail_call, which the
interpreter implements (``RunState.tail_call`` reads ``max_entries`` and
:meth:`ProgArray.program_at` at the moment of the call, so a slot updated from user space
takes effect at the next call).  The kernel does not check here that the programs are of
one type (``bpf_prog_map_compatible``); the loader puts only its own programs in.

A perf event array holds, per slot, a perf event of type BPF_OUTPUT that user space has
opened (libbpf's perf_buffer opens one per CPU).  Here a slot is "open" or not: open it
with :meth:`PerfEventArray.open` (or any 4-byte value through ``update``), as a consumer
would.  ``bpf_perf_event_output`` appends records that :meth:`PerfEventArray.poll`
returns in output order.

A cgroup array holds cgroup-v2 cgroups, which user space stores by the fd of the
cgroup's directory (``m.update(0, os.open("/sys/fs/cgroup/x", os.O_RDONLY))``; an fd
that is not a cgroup-v2 directory is -EBADF, as ``cgroup_get_from_fd``).  A slot keeps
the cgroup's id (its directory's inode number), which
``bpf_current_task_under_cgroup`` compares with the task's cgroup and its ancestors.
User space cannot read it back (-ENOTSUPP, no ``map_fd_sys_lookup_elem``).
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
import stat
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import MapError
from .array import array_next_key
from .base import Map
from .spec import BPF_ANY, ENOTSUPP, MapSpec

if TYPE_CHECKING:
    from ..context import VmContext
    from ..program import Program

_prog_ids = itertools.count(1)


def prog_id(program: Program) -> int:
    """The id bpf(2) reports for a program stored in a prog array (assigned on first use,
    like the kernel's idr, and kept in ``program.meta["prog_id"]``)."""
    pid = program.meta.get("prog_id")
    if pid is None:
        pid = program.meta["prog_id"] = next(_prog_ids)
    return int(pid)


@dataclass(frozen=True)
class BadFd:
    """A value that is not an object of the right kind (bpf(2) would say EBADF)."""
    errno: int = errno.EBADF


class FdArray(Map):
    """Slots of objects; ``None`` is empty."""
    prog_lookup = False
    prog_update = False

    def __init__(self, spec: MapSpec, vm: VmContext) -> None:
        super().__init__(spec, vm)
        self._slots: list[Any] = [None] * spec.max_entries

    def _index(self, key: bytes) -> int:
        return int.from_bytes(key[:4], "little")

    def _object(self, value: Any) -> Any:
        """The object to store for a user-space value, or a :class:`BadFd` (the kernel's
        ``map_fd_get_ptr`` refusing the fd, which it checks after flags and index)."""
        raise NotImplementedError

    def _value_bytes(self, value: Any) -> Any:
        return self._object(value)   # an object, not bytes: the kernel resolves the fd

    def update_elem(self, key: bytes, value: Any, flags: int, *,
                    from_prog: bool = False) -> int:
        if flags != BPF_ANY:
            return -errno.EINVAL
        index = self._index(key)
        if index >= self.max_entries:
            return -errno.E2BIG
        if isinstance(value, BadFd):
            return -value.errno
        self._slots[index] = value
        return 0

    def delete_elem(self, key: bytes, *, from_prog: bool = False) -> int:
        index = self._index(key)
        if index >= self.max_entries:
            return -errno.E2BIG
        if self._slots[index] is None:
            return -errno.ENOENT
        self._slots[index] = None
        return 0

    def next_key(self, key: bytes | None) -> bytes | None:
        return array_next_key(key, self.max_entries)

    def clear(self) -> None:
        self._slots = [None] * self.max_entries


class ProgArray(FdArray):
    """The table bpf_tail_call jumps through."""

    def program_at(self, index: int) -> Program | None:
        """The program in slot ``index`` (None when empty or out of range)."""
        if 0 <= index < self.max_entries:
            prog: Program | None = self._slots[index]
            return prog
        return None

    def _object(self, value: Any) -> Any:
        from ..program import Program
        return value if isinstance(value, Program) else BadFd()

    def read_value(self, key: bytes) -> bytes | None:
        """bpf(2) reports the program's id for a filled slot."""
        prog = self.program_at(self._index(key))
        return None if prog is None else prog_id(prog).to_bytes(4, "little")

    def slots(self) -> dict[int, Program]:
        """Filled slots: index -> program."""
        return {i: p for i, p in enumerate(self._slots) if p is not None}


class PerfEventArray(FdArray):
    """Per-slot BPF_OUTPUT perf events and the records written to them."""

    def __init__(self, spec: MapSpec, vm: VmContext) -> None:
        super().__init__(spec, vm)
        self._records: deque[tuple[int, bytes]] = deque()

    def _object(self, value: Any) -> Any:
        return BadFd() if value is None else True

    def open(self, index: int = 0) -> None:
        """Attach a consumer's perf event to slot ``index`` (CPU 0 is the only CPU)."""
        self.update(index, True)

    def open_all(self) -> None:
        """What libbpf's perf_buffer__new does: one event per slot."""
        for i in range(self.max_entries):
            self._slots[i] = True

    def read_value(self, key: bytes) -> bytes | None:
        raise MapError(ENOTSUPP, f"map '{self.name}': perf event arrays cannot be read"
                                 " from user space")

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(())

    def output(self, index: int, data: bytes, cpu: int = 0) -> int:
        """Append a record to slot ``index`` from ``cpu``: 0, -E2BIG beyond max_entries,
        -ENOENT for a slot without an event, -EOPNOTSUPP when the slot's event belongs
        to another CPU (slot i is CPU i's event, as perf_buffer opens them), all as
        ``__bpf_perf_event_output``."""
        if index >= self.max_entries:
            return -errno.E2BIG
        if self._slots[index] is None:
            return -errno.ENOENT
        if index != cpu:
            return -errno.EOPNOTSUPP
        self._records.append((index, bytes(data)))
        return 0

    def poll(self) -> list[tuple[int, bytes]]:
        """Take every record written so far: (slot, data), in output order."""
        out = list(self._records)
        self._records.clear()
        return out


CGROUP2_SUPER_MAGIC = 0x63677270


@dataclass(frozen=True)
class Cgroup:
    """A cgroup-v2 cgroup, as a cgroup array slot holds it: its id (the inode number of
    its directory, what bpf_get_current_cgroup_id returns)."""
    id: int


def _fs_magic(fd: int) -> int | None:
    """fstatfs(fd)'s f_type (the first field of x86-64's struct statfs)."""
    buf = ctypes.create_string_buffer(120)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.fstatfs(fd, buf) != 0:
        return None
    return int.from_bytes(buf.raw[:8], "little")


def cgroup_from_fd(fd: int) -> Cgroup | BadFd:
    """The kernel's cgroup_get_from_fd: the cgroup-v2 directory open as ``fd``."""
    try:
        st = os.fstat(fd)
    except (OSError, OverflowError):
        return BadFd()
    if not stat.S_ISDIR(st.st_mode) or _fs_magic(fd) != CGROUP2_SUPER_MAGIC:
        return BadFd()
    return Cgroup(st.st_ino)


class CgroupArray(FdArray):
    """Slots of cgroups for bpf_current_task_under_cgroup (and skb_under_cgroup)."""

    def _object(self, value: Any) -> Any:
        if isinstance(value, Cgroup):
            return value
        if isinstance(value, (bytes, bytearray)) and len(value) == 4:
            value = int.from_bytes(value, "little", signed=True)
        if isinstance(value, int) and not isinstance(value, bool):
            return cgroup_from_fd(value)
        return BadFd()

    def read_value(self, key: bytes) -> bytes | None:
        raise MapError(ENOTSUPP, f"map '{self.name}': cgroup arrays cannot be read from"
                                 " user space")

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(())

    def cgroup_at(self, index: int) -> Cgroup | None:
        """The cgroup in slot ``index`` (None when empty or out of range)."""
        if 0 <= index < self.max_entries:
            cg: Cgroup | None = self._slots[index]
            return cg
        return None
