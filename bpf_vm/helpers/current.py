"""Helpers about the current task's kernel objects: its task_struct, cgroups and pid
namespace.

Every answer comes from the host (:meth:`~bpf_vm.host.Host.cgroup_ids`,
:meth:`~bpf_vm.host.Host.pid_ns`).  Prototypes and gpl_only are the kernel's
(kernel/bpf/helpers.c, kernel/trace/bpf_trace.c).

``bpf_get_current_task`` and ``bpf_get_current_task_btf`` return the address of the
current thread's emulated task_struct (:mod:`bpf_vm.kernel_task`: a stable address per
thread in the kernel's direct-map range, the struct laid out by the target BTF, with
the fields tools read and zeros elsewhere), which bpf_probe_read_kernel and so
BPF_CORE_READ read.  ``get_current_task_btf``'s prototype here returns an integer, not
the kernel's trusted BTF pointer: a program that dereferences the task directly
(``task->tgid`` without a probe read) is refused by the verifier ("invalid mem access
'scalar'").
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from .. import pt_regs
from ..helper_table import ArgType, HelperFault, RetType
from ..kernel_task import TASK_HANDLE_BASE, TASK_HANDLE_STRIDE, current_task, task_handle
from ..maps.fd_array import CgroupArray
from ._mem import M32, M64, host_of, prog_write
from ._registry import BUILTIN

if TYPE_CHECKING:
    from ..context import RunContext

__all__ = ["TASK_HANDLE_BASE", "TASK_HANDLE_STRIDE", "task_handle"]

PIDNS_INFO_SIZE = 8      # struct bpf_pidns_info { __u32 pid; __u32 tgid; }
ROOT_CGROUP_ID = 1


def _task(state: RunContext) -> int:
    return current_task(state.vm.kernel_mem, host_of(state))


@BUILTIN.helper("get_current_task", RetType.INTEGER, gpl_only=True)
def get_current_task(state: RunContext, *_: int) -> int:
    """u64 bpf_get_current_task(void): the task's task_struct (see the module's doc)."""
    return _task(state)


@BUILTIN.helper("get_current_task_btf", RetType.INTEGER, gpl_only=True)
def get_current_task_btf(state: RunContext, *_: int) -> int:
    """struct task_struct *bpf_get_current_task_btf(void): the same task_struct."""
    return _task(state)


@BUILTIN.helper("task_pt_regs", RetType.INTEGER, ArgType.ANYTHING, gpl_only=True)
def task_pt_regs(state: RunContext, task: int, *_: int) -> int:
    """struct pt_regs *bpf_task_pt_regs(struct task_struct *task): the task's user
    registers as its syscall entry saved them (x86-64 pt_regs in kernel memory, one per
    thread).  What the host knows of them is ip, sp and bp (:meth:`Host.user_regs`,
    what user-stack unwinding needs); the other registers read as zero, and all of
    them for a task other than the current one or a host without registers.  Like
    get_current_task_btf here, the argument and the result are integers to the
    verifier (the kernel's are BTF pointers)."""
    host = host_of(state)
    off = (task & M64) - TASK_HANDLE_BASE
    tid = off // TASK_HANDLE_STRIDE if 0 <= off < (1 << 22) * TASK_HANDLE_STRIDE else -1
    _tgid, pid = host.pid_tgid()
    regs = [0] * len(pt_regs.FIELDS)
    user = host.user_regs() if tid == (pid & 0x3FFFFF) else None
    if user is not None:
        for name, value in zip(("ip", "sp", "bp"), user, strict=True):
            regs[pt_regs.FIELDS.index(name)] = value & M64
    return state.vm.kernel_mem.place(f"pt_regs:{tid}", pt_regs.STRUCT.pack(*regs))


def _cgroup_ids(state: RunContext) -> list[int]:
    """The task's cgroup-v2 ids from the root; the root alone when the host cannot say
    (no cgroup-v2 mount: every task is in the default hierarchy's root, id 1)."""
    return host_of(state).cgroup_ids() or [ROOT_CGROUP_ID]


@BUILTIN.helper("get_current_cgroup_id", RetType.INTEGER)
def get_current_cgroup_id(state: RunContext, *_: int) -> int:
    """u64 bpf_get_current_cgroup_id(void): the id of the task's cgroup-v2 cgroup."""
    return _cgroup_ids(state)[-1] & M64


@BUILTIN.helper("get_current_ancestor_cgroup_id", RetType.INTEGER, ArgType.ANYTHING)
def get_current_ancestor_cgroup_id(state: RunContext, level: int, *_: int) -> int:
    """u64 bpf_get_current_ancestor_cgroup_id(int level): the id of the task's cgroup's
    ancestor at ``level`` (0: the root); 0 when the cgroup is not that deep or level
    is negative."""
    lvl = level & M32
    if lvl >> 31:
        return 0
    ids = _cgroup_ids(state)
    return ids[lvl] & M64 if lvl < len(ids) else 0


@BUILTIN.helper("current_task_under_cgroup", RetType.INTEGER, ArgType.CONST_MAP_PTR,
                ArgType.ANYTHING)
def current_task_under_cgroup(state: RunContext, r1: int, index: int, *_: int) -> int:
    """long bpf_current_task_under_cgroup(map, u32 index): 1 when the task is in the
    cgroup at ``index`` of cgroup array ``map`` or below it, 0 when not, -E2BIG for an
    index beyond the array, -EAGAIN for an empty slot."""
    m = state.vm.map_at(r1)
    if not isinstance(m, CgroupArray):
        name = getattr(m, "name", f"0x{r1:x}")
        raise HelperFault(f"bpf_current_task_under_cgroup: map '{name}' is not a cgroup"
                          " array")
    idx = index & M32
    if idx >= m.max_entries:
        return -errno.E2BIG
    cg = m.cgroup_at(idx)
    if cg is None:
        return -errno.EAGAIN
    return 1 if cg.id in _cgroup_ids(state) else 0


@BUILTIN.helper("get_ns_current_pid_tgid", RetType.INTEGER, ArgType.ANYTHING,
                ArgType.ANYTHING, ArgType.PTR_TO_UNINIT_MEM, ArgType.CONST_SIZE)
def get_ns_current_pid_tgid(state: RunContext, dev: int, ino: int, nsdata: int,
                            size: int, *_: int) -> int:
    """long bpf_get_ns_current_pid_tgid(u64 dev, u64 ino, struct bpf_pidns_info *nsdata,
    u32 size): the task's pid and tgid as the pid namespace (dev, ino) sees them, when
    that is the task's namespace (``stat /proc/self/ns/pid``); else -EINVAL.  -EINVAL
    also for a size other than 8 or a dev above 32 bits, -ENOENT without a namespace;
    nsdata is zeroed on error."""
    size &= M32
    ns = host_of(state).pid_ns()
    if size != PIDNS_INFO_SIZE or dev >> 32:
        err = -errno.EINVAL
    elif ns is None:
        err = -errno.ENOENT
    elif (ns[0], ns[1]) != (dev & M64, ino & M64):
        err = -errno.EINVAL
    else:
        data = (ns[2] & M32).to_bytes(4, "little") + (ns[3] & M32).to_bytes(4, "little")
        prog_write(state, nsdata, data, "bpf_get_ns_current_pid_tgid nsdata")
        return 0
    prog_write(state, nsdata, bytes(size), "bpf_get_ns_current_pid_tgid nsdata")
    return err
