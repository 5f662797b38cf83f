"""The contexts the kernel hands a tracing program at a syscall, by attach point.

Where a program attaches decides what ``r1`` points to.  These are the kernel's layouts
(x86-64), as pure functions of one syscall event (:class:`SyscallEvent`: number,
arguments, the user ``struct pt_regs`` the kernel saved at entry, return value, thread
id); the VM knows no syscall table, so callers name the syscall by number and pass its
arguments.

* ``tracepoint/syscalls/sys_enter_NAME`` (``tp/...``): the record of
  ``include/trace/events/syscalls.h``'s per-syscall events, as tracefs's ``format``
  file lists it: an 8-byte common header (``u16 common_type``, ``u8 common_flags``,
  ``u8 common_preempt_count``, ``s32 common_pid``), ``int __syscall_nr`` at 8, then
  each of *that syscall's* arguments as 8 bytes at ``16 + 8*i``.  ``sys_exit_NAME``:
  ``__syscall_nr`` at 8, ``long ret`` at 16.  (A tracepoint program may not read the
  first 8 bytes at all; the verifier refuses offsets below 8, because the kernel
  keeps a ``struct pt_regs *`` there for the helpers.)
* ``tracepoint/raw_syscalls/sys_enter``: ``long id`` at 8, ``unsigned long args[6]``
  at 16; ``sys_exit``: ``long id`` at 8, ``long ret`` at 16.
* ``raw_tracepoint/sys_enter|sys_exit``, ``tp_btf/sys_enter|sys_exit``: ``u64
  args[2]``, the tracepoint's arguments: ``{struct pt_regs *regs, long id}`` at entry,
  ``{struct pt_regs *regs, long ret}`` at exit.
* the x86-64 syscall wrapper's kprobes (``kprobe/__x64_sys_NAME``, ``ksyscall/NAME``;
  ``kretprobe/...``, ``kretsyscall/...``): the wrapper is called as
  ``__x64_sys_NAME(const struct pt_regs *regs)``, so the probe's own pt_regs has
  ``di`` = a pointer to the user pt_regs (what libbpf's ``PT_REGS_SYSCALL_REGS`` and
  ``BPF_KSYSCALL`` follow); at return, ``ax`` = the return value.
* ``kprobe/__seccomp_filter`` (samples/bpf tracex5): ``__seccomp_filter(int
  this_syscall, const struct seccomp_data *sd, bool recheck_after_trace)``: ``di`` =
  the number, ``si`` -> a ``struct seccomp_data`` (``int nr; u32 arch; u64
  instruction_pointer; u64 args[6]``), ``dx`` = 0.

Pointers point into the VM's emulated kernel memory (:mod:`bpf_vm.kernel_mem`), where
:func:`build_ctx` places the user pt_regs (and seccomp_data) at each event, under fixed
keys, so ``bpf_probe_read_kernel`` reads them and nothing can write them.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from .kernel_mem import KernelMemory
from .pt_regs import FIELDS as PT_REGS_FIELDS
from .pt_regs import SIZE as PT_REGS_SIZE
from .pt_regs import STRUCT as PT_REGS
from .sections import SectionInfo

M64 = (1 << 64) - 1
TRACE_ENTRY = struct.Struct("<HBBi")
"""``struct trace_entry``: common_type, common_flags, common_preempt_count, common_pid."""
SYSCALL_NR = struct.Struct("<i4x")
"""``int __syscall_nr`` at 8, padded to the 8-byte arguments at 16."""
SECCOMP_DATA = struct.Struct("<iIQ6Q")
"""``struct seccomp_data`` (include/uapi/linux/seccomp.h): 64 bytes."""
MAX_SYSCALL_ARGS = 6

#: the kernel-memory keys of the objects the contexts point to
REGS_KEY = "syscall pt_regs"
SECCOMP_DATA_KEY = "seccomp_data"

_DI = PT_REGS_FIELDS.index("di")
_SI = PT_REGS_FIELDS.index("si")
_AX = PT_REGS_FIELDS.index("ax")


class CtxKind(enum.StrEnum):
    """Which context a program gets, by where it attaches."""
    PT_REGS = "pt_regs"                    # trace-run's dispatcher: the user registers
    PT_REGS_EXIT = "pt_regs exit"          # ... at exit, ax = the return value
    SYSCALL_TP_ENTER = "syscalls/sys_enter_NAME record"
    SYSCALL_TP_EXIT = "syscalls/sys_exit_NAME record"
    RAW_SYSCALLS_ENTER = "raw_syscalls/sys_enter record"
    RAW_SYSCALLS_EXIT = "raw_syscalls/sys_exit record"
    RAW_TP_ENTER = "u64 args[2] = {regs, id}"
    RAW_TP_EXIT = "u64 args[2] = {regs, ret}"
    WRAPPER_ENTER = "wrapper pt_regs (di -> user pt_regs)"
    WRAPPER_EXIT = "wrapper pt_regs at return (ax = ret)"
    SECCOMP_FILTER = "__seccomp_filter(nr, seccomp_data *, 0)"
    SCHED_EXEC = "sched/sched_process_exec record"   # process events, not syscalls
    SCHED_EXIT = "sched/sched_process_exit record"
    SCHED_FORK = "sched/sched_process_fork record"

    @property
    def at_exit(self) -> bool:
        return self in _EXIT_KINDS


_EXIT_KINDS = frozenset({CtxKind.PT_REGS_EXIT, CtxKind.SYSCALL_TP_EXIT,
                         CtxKind.RAW_SYSCALLS_EXIT, CtxKind.RAW_TP_EXIT,
                         CtxKind.WRAPPER_EXIT})


@dataclass(slots=True)
class SyscallEvent:
    """One syscall as the kernel's probes see it.  ``nr`` as the kernel has it in
    ``orig_ax`` (a compat number for an i386 call), ``args`` the six argument values,
    ``regs`` the 168-byte user pt_regs saved at entry, ``ret`` the return value (exit
    events), ``tid`` the thread (``common_pid``), ``arch`` the audit arch and ``ip`` the
    user instruction pointer (for seccomp_data)."""
    nr: int
    args: Sequence[int]
    regs: bytes
    ret: int = 0
    tid: int = 0
    arch: int = 0xC000003E   # AUDIT_ARCH_X86_64
    ip: int = 0


# -- the layouts --------------------------------------------------------------------------

def trace_entry(event_id: int, pid: int, flags: int = 0, preempt_count: int = 0) -> bytes:
    """The 8-byte common header of a tracepoint record."""
    return TRACE_ENTRY.pack(event_id & 0xFFFF, flags & 0xFF, preempt_count & 0xFF,
                            _s32(pid))


def syscall_enter_record(event_id: int, pid: int, nr: int, args: Sequence[int]) -> bytes:
    """``syscalls/sys_enter_NAME``: only the syscall's own arguments (``args`` as many
    as it takes), so the record is ``16 + 8 * len(args)`` bytes."""
    return (trace_entry(event_id, pid) + SYSCALL_NR.pack(_s32(nr))
            + struct.pack(f"<{len(args)}Q", *(a & M64 for a in args)))


def syscall_exit_record(event_id: int, pid: int, nr: int, ret: int) -> bytes:
    """``syscalls/sys_exit_NAME``: 24 bytes."""
    return trace_entry(event_id, pid) + SYSCALL_NR.pack(_s32(nr)) + struct.pack("<Q", ret & M64)


def raw_syscalls_enter_record(event_id: int, pid: int, nr: int, args: Sequence[int]) -> bytes:
    """``raw_syscalls/sys_enter``: ``long id``, all six ``args``: 64 bytes."""
    six = [*(a & M64 for a in args[:MAX_SYSCALL_ARGS]), 0, 0, 0, 0, 0, 0][:MAX_SYSCALL_ARGS]
    return trace_entry(event_id, pid) + struct.pack("<7Q", nr & M64, *six)


def raw_syscalls_exit_record(event_id: int, pid: int, nr: int, ret: int) -> bytes:
    """``raw_syscalls/sys_exit``: ``long id``, ``long ret``: 24 bytes."""
    return trace_entry(event_id, pid) + struct.pack("<2Q", nr & M64, ret & M64)


def u64_args(*values: int) -> bytes:
    """A raw tracepoint's (and tp_btf's) context: the tracepoint's arguments as u64s."""
    return struct.pack(f"<{len(values)}Q", *(v & M64 for v in values))


def regs_with(base: bytes | None = None, **fields: int) -> bytes:
    """A pt_regs: ``base`` (or zeros) with the named fields set."""
    values = list(PT_REGS.unpack(base)) if base is not None else [0] * len(PT_REGS_FIELDS)
    for name, v in fields.items():
        values[PT_REGS_FIELDS.index(name)] = v & M64
    return PT_REGS.pack(*values)


def wrapper_regs(inner: int) -> bytes:
    """The pt_regs a kprobe on ``__x64_sys_NAME`` gets: ``di`` -> the user pt_regs."""
    values = [0] * len(PT_REGS_FIELDS)
    values[_DI] = inner & M64
    return PT_REGS.pack(*values)


def wrapper_exit_regs(ret: int) -> bytes:
    """The pt_regs of a kretprobe on ``__x64_sys_NAME``: ``ax`` = the return value."""
    values = [0] * len(PT_REGS_FIELDS)
    values[_AX] = ret & M64
    return PT_REGS.pack(*values)


def seccomp_data(nr: int, arch: int, ip: int, args: Sequence[int]) -> bytes:
    """``struct seccomp_data`` of a syscall (``args`` as the kernel widens them)."""
    six = [*(a & M64 for a in args[:MAX_SYSCALL_ARGS]), 0, 0, 0, 0, 0, 0][:MAX_SYSCALL_ARGS]
    return SECCOMP_DATA.pack(_s32(nr), arch & 0xFFFFFFFF, ip & M64, *six)


def seccomp_filter_regs(nr: int, data: int) -> bytes:
    """The pt_regs of a kprobe on ``__seccomp_filter(nr, sd, false)``."""
    values = [0] * len(PT_REGS_FIELDS)
    values[_DI] = _s32(nr) & M64
    values[_SI] = data & M64
    return PT_REGS.pack(*values)


def exit_regs(regs: bytes, ret: int) -> bytes:
    """The user pt_regs at syscall exit: as at entry, with ``ax`` = the return value."""
    values = list(PT_REGS.unpack(regs))
    values[_AX] = ret & M64
    return PT_REGS.pack(*values)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


# -- process events: sched tracepoints ---------------------------------------------------
#
# ``sched/sched_process_exec``, ``sched_process_exit`` and ``sched_process_fork`` as Linux
# 6.18's tracefs lays them out.  A ``__data_loc char[]`` field is a u32, ``length << 16 |
# offset``, the string (with its NUL) stored after the fixed fields.

def _data_loc(offset: int, text: bytes) -> tuple[int, bytes]:
    data = text.split(b"\0", 1)[0] + b"\0"
    return len(data) << 16 | offset, data


def _pad4(rec: bytes) -> bytes:
    return rec + bytes(-len(rec) % 4)


def sched_process_exec_record(event_id: int, pid: int, filename: bytes, old_pid: int
                              ) -> bytes:
    """``__data_loc char[] filename`` @8, ``pid_t pid`` @12, ``pid_t old_pid`` @16."""
    loc, data = _data_loc(20, filename)
    return _pad4(trace_entry(event_id, pid) + struct.pack("<Iii", loc, _s32(pid),
                                                          _s32(old_pid)) + data)


def sched_process_exit_record(event_id: int, pid: int, comm: bytes, prio: int = 120,
                              group_dead: bool = True) -> bytes:
    """``char comm[16]`` @8, ``pid_t pid`` @24, ``int prio`` @28, ``bool group_dead``
    @32."""
    return _pad4(trace_entry(event_id, pid) + comm[:15].ljust(16, b"\0")
                 + struct.pack("<iiB", _s32(pid), prio, int(group_dead)))


def sched_process_fork_record(event_id: int, parent_comm: bytes, parent_pid: int,
                              child_comm: bytes, child_pid: int) -> bytes:
    """``__data_loc char[] parent_comm`` @8, ``pid_t parent_pid`` @12, ``__data_loc
    char[] child_comm`` @16, ``pid_t child_pid`` @20; the fork runs in the parent."""
    ploc, pdata = _data_loc(24, parent_comm)
    cloc, cdata = _data_loc(24 + len(pdata), child_comm)
    return _pad4(trace_entry(event_id, parent_pid)
                 + struct.pack("<IiIi", ploc, _s32(parent_pid), cloc, _s32(child_pid))
                 + pdata + cdata)


# -- one entry point ----------------------------------------------------------------------

def build_ctx(kind: CtxKind, ev: SyscallEvent, kmem: KernelMemory, *, event_id: int = 0,
              nargs: int = MAX_SYSCALL_ARGS) -> bytes:
    """The context of ``kind`` for ``ev``, placing what it points to in ``kmem``.
    ``event_id`` is the tracepoint's id (``common_type``), ``nargs`` how many arguments
    the syscall of a ``syscalls/sys_enter_NAME`` record takes."""
    if kind is CtxKind.PT_REGS:
        return ev.regs
    if kind is CtxKind.PT_REGS_EXIT:
        return exit_regs(ev.regs, ev.ret)
    if kind is CtxKind.SYSCALL_TP_ENTER:
        return syscall_enter_record(event_id, ev.tid, ev.nr, list(ev.args)[:nargs])
    if kind is CtxKind.SYSCALL_TP_EXIT:
        return syscall_exit_record(event_id, ev.tid, ev.nr, ev.ret)
    if kind is CtxKind.RAW_SYSCALLS_ENTER:
        return raw_syscalls_enter_record(event_id, ev.tid, ev.nr, ev.args)
    if kind is CtxKind.RAW_SYSCALLS_EXIT:
        return raw_syscalls_exit_record(event_id, ev.tid, ev.nr, ev.ret)
    if kind is CtxKind.RAW_TP_ENTER:
        return u64_args(kmem.place(REGS_KEY, ev.regs), ev.nr)
    if kind is CtxKind.RAW_TP_EXIT:
        return u64_args(kmem.place(REGS_KEY, exit_regs(ev.regs, ev.ret)), ev.ret)
    if kind is CtxKind.WRAPPER_ENTER:
        return wrapper_regs(kmem.place(REGS_KEY, ev.regs))
    if kind is CtxKind.WRAPPER_EXIT:
        return wrapper_exit_regs(ev.ret)
    if kind is CtxKind.SECCOMP_FILTER:
        sd = kmem.place(SECCOMP_DATA_KEY, seccomp_data(ev.nr, ev.arch, ev.ip, ev.args))
        return seccomp_filter_regs(ev.nr, sd)
    raise AssertionError(kind)


# -- which context a section asks for -----------------------------------------------------

#: trace-run's dispatcher: every syscall entry (exit for kretprobe), ctx = user pt_regs
DISPATCHER = "syscall_entry"
WRAPPER_PREFIX = "__x64_sys_"
SYSCALL_TP_ENTER_PREFIX = "sys_enter_"
SYSCALL_TP_EXIT_PREFIX = "sys_exit_"


@dataclass(frozen=True, slots=True)
class SyscallAttach:
    """A section's syscall attach point: the context kind, and which syscall it fires
    for (a name as the section spells it: a wrapper's or tracepoint's name; None:
    every syscall)."""
    kind: CtxKind
    syscall: str | None


def syscall_attach(info: SectionInfo) -> SyscallAttach | None:
    """The syscall attach point a section names, or None when it names none that these
    contexts cover (the caller says why)."""
    kind, target = info.kind, info.target
    if kind in ("kprobe", "kretprobe"):
        ret = kind == "kretprobe"
        if target == DISPATCHER:
            return SyscallAttach(CtxKind.PT_REGS_EXIT if ret else CtxKind.PT_REGS, None)
        if target.startswith(WRAPPER_PREFIX) and len(target) > len(WRAPPER_PREFIX):
            return SyscallAttach(CtxKind.WRAPPER_EXIT if ret else CtxKind.WRAPPER_ENTER,
                                 target[len(WRAPPER_PREFIX):])
        if target == "__seccomp_filter" and not ret:
            return SyscallAttach(CtxKind.SECCOMP_FILTER, None)
        return None
    if kind in ("ksyscall", "kretsyscall") and target:
        return SyscallAttach(CtxKind.WRAPPER_EXIT if kind == "kretsyscall"
                             else CtxKind.WRAPPER_ENTER, target)
    if kind in ("tracepoint", "tp"):
        category, _, event = target.partition("/")
        if category == "syscalls" and event.startswith(SYSCALL_TP_ENTER_PREFIX):
            return SyscallAttach(CtxKind.SYSCALL_TP_ENTER, event[len(SYSCALL_TP_ENTER_PREFIX):])
        if category == "syscalls" and event.startswith(SYSCALL_TP_EXIT_PREFIX):
            return SyscallAttach(CtxKind.SYSCALL_TP_EXIT, event[len(SYSCALL_TP_EXIT_PREFIX):])
        if category == "raw_syscalls" and event in ("sys_enter", "sys_exit"):
            return SyscallAttach(CtxKind.RAW_SYSCALLS_ENTER if event == "sys_enter"
                                 else CtxKind.RAW_SYSCALLS_EXIT, None)
        return None
    if kind in ("raw_tracepoint", "raw_tp", "tp_btf") and target in ("sys_enter", "sys_exit"):
        return SyscallAttach(CtxKind.RAW_TP_ENTER if target == "sys_enter"
                             else CtxKind.RAW_TP_EXIT, None)
    return None


__all__ = [
    "DISPATCHER",
    "PT_REGS_SIZE",
    "REGS_KEY",
    "SECCOMP_DATA",
    "SECCOMP_DATA_KEY",
    "TRACE_ENTRY",
    "CtxKind",
    "KernelMemory",
    "SyscallAttach",
    "SyscallEvent",
    "build_ctx",
    "exit_regs",
    "raw_syscalls_enter_record",
    "raw_syscalls_exit_record",
    "regs_with",
    "sched_process_exec_record",
    "sched_process_exit_record",
    "sched_process_fork_record",
    "seccomp_data",
    "seccomp_filter_regs",
    "syscall_attach",
    "syscall_enter_record",
    "syscall_exit_record",
    "trace_entry",
    "u64_args",
    "wrapper_exit_regs",
    "wrapper_regs",
]
