"""Where each program of a loaded object attaches, as libbpf's skeleton would attach it,
and which of those attach points trace-run provides.

trace-run sees the syscalls of the command it runs, so it provides the attach points
that fire at syscalls (:mod:`bpf_vm.attach_ctx` builds their contexts):

* ``kprobe/syscall_entry`` (``_i386``, ``_x32``): trace-run's dispatcher, at every
  syscall entry of that ABI, ctx = the user pt_regs; ``kretprobe/syscall_entry`` at
  every x86_64 syscall exit, ``ax`` = the return value;
* ``ksyscall/NAME``, ``kprobe/__x64_sys_NAME`` (and their ``kret`` forms) at x86_64
  calls of NAME (and x32 ones, which share the wrapper below x32's number 512);
  ``kprobe/__ia32_sys_NAME``, ``__ia32_compat_sys_NAME`` at i386 calls,
  ``kprobe/__x32_compat_sys_NAME`` at x32 ones: the syscall wrapper's pt_regs, whose
  ``di`` points to the user pt_regs;
* ``tracepoint/syscalls/sys_enter_NAME`` / ``sys_exit_NAME`` (``tp/``): x86_64 calls
  only, as in the kernel (these tracepoints skip compat calls); NAME is the kernel's
  SYSCALL_DEFINE name (``newstat`` for the table's ``stat``);
* ``tracepoint/raw_syscalls/sys_enter|sys_exit``, ``raw_tracepoint/`` (``raw_tp/``) and
  ``tp_btf/sys_enter|sys_exit``: every call of every ABI, with the number as the kernel
  has it (an i386 call's i386 number);
* ``kprobe/__seccomp_filter`` (tracex5): every call, as under trace-run's own seccomp
  filter, ``di`` = the number, ``si`` -> its ``struct seccomp_data``;
* ``tracepoint/sched/sched_process_exec|exit|fork``: at ptrace's exec, exit and fork
  events (``Attachment.process_event``), with tracefs's record layouts.

A program the loader put into a prog array (``kprobe/<N>``, ``ksyscall/NAME`` slots,
``.values``) is a tail-call target and attaches nowhere.  Every other program gets a
:class:`Refusal` saying why trace-run cannot provide its attach point.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bpf_vm import attach_ctx, section_info

from .abi import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, Abi, syscall_number
from .abi._generated_tracepoints import SYSCALL_TRACEPOINTS

if TYPE_CHECKING:
    from bpf_vm import BpfObject, Program

CtxKind = attach_ctx.CtxKind

#: the process-lifetime tracepoints trace-run provides, at ptrace's events (no syscall
#: fires them: their attachments fire for no ABI)
SCHED_EVENTS = {"sched_process_exec": CtxKind.SCHED_EXEC,
                "sched_process_exit": CtxKind.SCHED_EXIT,
                "sched_process_fork": CtxKind.SCHED_FORK}
_PROCESS_EVENTS = {CtxKind.SCHED_EXEC: "exec", CtxKind.SCHED_EXIT: "exit",
                   CtxKind.SCHED_FORK: "fork"}

TRACEFS_ROOTS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))

#: x86_64 table names whose SYSCALL_DEFINE (so tracepoint and wrapper) name differs
#: (arch/x86/entry/syscalls/syscall_64.tbl's entry points: sys_newstat for stat...).
TRACEPOINT_NAMES: dict[str, str] = {
    "stat": "newstat",
    "fstat": "newfstat",
    "lstat": "newlstat",
    "uname": "newuname",
    "sendfile": "sendfile64",
    "umount2": "umount",
}
_TABLE_NAMES = {tp: table for table, tp in TRACEPOINT_NAMES.items()}

#: compat wrapper prefixes: the kprobe target prefix -> the ABI whose calls reach it
COMPAT_WRAPPERS: tuple[tuple[str, Abi], ...] = (
    ("__ia32_compat_sys_", Abi.I386), ("__ia32_sys_", Abi.I386),
    ("__x32_compat_sys_", Abi.X32),
)

#: x32's own entry points (__x32_compat_sys_*) are numbered from 512; below, x32 calls
#: share x86_64's (arch/x86/entry/syscalls/syscall_64.tbl)
X32_COMPAT_FIRST = 512
_ALL_ABIS = frozenset(Abi)
_X86_64 = frozenset({Abi.X86_64})
#: the dispatcher sections: kprobe/syscall_entry[_abi]
DISPATCHERS = {"syscall_entry": Abi.X86_64, "syscall_entry_i386": Abi.I386,
               "syscall_entry_x32": Abi.X32}


def tracepoint_name(table_name: str) -> str:
    """The kernel's SYSCALL_DEFINE name of an x86_64 syscall (its tracepoint's NAME)."""
    return TRACEPOINT_NAMES.get(table_name, table_name)


def table_name(define_name: str) -> str:
    """The x86_64 table's name of a SYSCALL_DEFINE name."""
    return _TABLE_NAMES.get(define_name, define_name)


@functools.cache
def event_id(category: str, event: str) -> int:
    """A tracepoint's id (its records' ``common_type``) from tracefs, when it is
    mounted and readable; else 0 (a tracepoint program cannot read the header)."""
    for root in TRACEFS_ROOTS:
        try:
            return int((root / "events" / category / event / "id").read_text())
        except (OSError, ValueError):
            continue
    return 0


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attached program: the context it gets, the ABIs and syscall numbers it fires
    for (``nrs`` None: every call), and for syscall tracepoints the record's argument
    count and event id."""
    program: Program
    section: str
    kind: CtxKind
    abis: frozenset[Abi]
    nrs: frozenset[int] | None = None
    nargs: int = 6
    event_id: int = 0

    @property
    def at_exit(self) -> bool:
        return self.kind.at_exit

    @property
    def process_event(self) -> str | None:
        """exec, exit or fork for a program on a process event (a sched tracepoint,
        which no syscall fires), else None."""
        return _PROCESS_EVENTS.get(self.kind)

    def fires(self, abi: Abi, raw_nr: int) -> bool:
        return abi in self.abis and (self.nrs is None or raw_nr in self.nrs)

    def ctx(self, ev: attach_ctx.SyscallEvent, kmem: attach_ctx.KernelMemory) -> bytes:
        return attach_ctx.build_ctx(self.kind, ev, kmem, event_id=self.event_id, nargs=self.nargs)

    def describe(self) -> str:
        return f"{self.program.name} ({self.section}): {self.kind.value}"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A program whose attach point trace-run does not provide, and why."""
    program: str
    section: str
    reason: str


@dataclass
class AttachPlan:
    """Every program of an object: attached, a tail-call target, or refused."""
    attached: list[Attachment]
    refused: list[Refusal]
    tail_calls: list[str]

    @property
    def process(self) -> list[Attachment]:
        """The attached programs on process events (sched tracepoints)."""
        return [a for a in self.attached if a.process_event is not None]

    def dispatcher(self, abi: Abi) -> Attachment | None:
        for a in self.attached:
            if a.kind is CtxKind.PT_REGS and a.abis == frozenset({abi}):
                return a
        return None


def event_arch(abi: Abi) -> int:
    return AUDIT_ARCH_I386 if abi is Abi.I386 else AUDIT_ARCH_X86_64


def plan(obj: BpfObject) -> AttachPlan:
    """The attach plan of a loaded object (in its programs' order)."""
    in_arrays = {p for slots in obj.prog_arrays.values() for p in slots.values()}
    out = AttachPlan([], [], [])
    for prog in obj.programs.values():
        if prog.name in in_arrays:
            out.tail_calls.append(prog.name)
            continue
        got = attach_point(prog)
        if isinstance(got, str):
            out.refused.append(Refusal(prog.name, prog.section, got))
        else:
            out.attached.append(got)
    return out


def attach_point(prog: Program) -> Attachment | str:
    """Where ``prog`` attaches, or why trace-run cannot provide that."""
    info = section_info(prog.section)
    target = info.target
    if info.kind in ("tracepoint", "tp"):
        category, _, event = target.partition("/")
        if category == "sched" and event in SCHED_EVENTS:
            return Attachment(prog, prog.section, SCHED_EVENTS[event], frozenset(),
                              frozenset(), event_id=event_id("sched", event))
    if info.kind in ("kprobe", "kretprobe") and target in DISPATCHERS:
        abi = DISPATCHERS[target]
        if info.kind == "kretprobe":
            if abi is not Abi.X86_64:
                return f"return probes of the {abi} dispatcher are not provided"
            return Attachment(prog, prog.section, CtxKind.PT_REGS_EXIT, _X86_64)
        return Attachment(prog, prog.section, CtxKind.PT_REGS, frozenset({abi}))
    if info.kind in ("kprobe", "kretprobe"):
        for prefix, abi in COMPAT_WRAPPERS:
            if target.startswith(prefix) and len(target) > len(prefix):
                return _wrapper(prog, info.kind == "kretprobe", abi, target[len(prefix):])
    sa = attach_ctx.syscall_attach(info)
    if sa is not None:
        if sa.kind in (CtxKind.WRAPPER_ENTER, CtxKind.WRAPPER_EXIT):
            assert sa.syscall is not None
            return _wrapper(prog, sa.kind is CtxKind.WRAPPER_EXIT, Abi.X86_64, sa.syscall)
        if sa.kind in (CtxKind.SYSCALL_TP_ENTER, CtxKind.SYSCALL_TP_EXIT):
            assert sa.syscall is not None
            return _syscall_tracepoint(prog, sa.kind, sa.syscall)
        if sa.kind in (CtxKind.RAW_SYSCALLS_ENTER, CtxKind.RAW_SYSCALLS_EXIT):
            event = "sys_enter" if sa.kind is CtxKind.RAW_SYSCALLS_ENTER else "sys_exit"
            return Attachment(prog, prog.section, sa.kind, _ALL_ABIS,
                              event_id=event_id("raw_syscalls", event))
        return Attachment(prog, prog.section, sa.kind, _ALL_ABIS)
    return refusal_reason(info.kind, target)


def _wrapper(prog: Program, ret: bool, abi: Abi, name: str) -> Attachment | str:
    nr = syscall_number(abi, table_name(name) if abi is Abi.X86_64 else name)
    if nr is None and abi is Abi.X86_64:
        nr = syscall_number(abi, name)
    if nr is None:
        return f"'{name}' is not an {abi} syscall, so no syscall wrapper fires for it"
    kind = CtxKind.WRAPPER_EXIT if ret else CtxKind.WRAPPER_ENTER
    abis, nrs = {abi}, {nr}
    if abi is Abi.X86_64:   # x32 calls below 512 go through the same __x64_sys_ wrappers
        x32 = syscall_number(Abi.X32, table_name(name))
        if x32 is not None and x32 & ~X32_SYSCALL_BIT < X32_COMPAT_FIRST:
            abis.add(Abi.X32)
            nrs.add(x32)
    return Attachment(prog, prog.section, kind, frozenset(abis), frozenset(nrs))


def _syscall_tracepoint(prog: Program, kind: CtxKind, name: str) -> Attachment | str:
    enter = kind is CtxKind.SYSCALL_TP_ENTER
    event = f"sys_{'enter' if enter else 'exit'}_{name}"
    nargs = SYSCALL_TRACEPOINTS.get(name)
    if nargs is None:
        hint = ""
        if name in TRACEPOINT_NAMES:
            hint = f" (the kernel names {name}'s sys_{'enter' if enter else 'exit'}_" \
                   f"{TRACEPOINT_NAMES[name]})"
        return f"the kernel has no tracepoint syscalls/{event}{hint}"
    nr = syscall_number(Abi.X86_64, table_name(name))
    if nr is None:
        return f"syscalls/{event} is no x86_64 syscall's tracepoint"
    return Attachment(prog, prog.section, kind, _X86_64, frozenset({nr}), nargs,
                      event_id("syscalls", event))


_NOT_PROVIDED: dict[str, str] = {
    "fentry": "fentry/fexit attach to a kernel function's BTF entry and exit, and "
              "trace-run runs no kernel functions",
    "uprobe": "user-space probes (uprobe, uretprobe, usdt) are not provided: trace-run "
              "stops the command at syscalls only",
    "perf_event": "perf events (sampling, hardware counters) are not provided",
    "lsm": "LSM hooks run inside the kernel's security checks, which trace-run does not"
           " emulate",
    "iter": "BPF iterators walk kernel objects; trace-run has none to walk",
    "struct_ops": "struct_ops programs implement kernel interfaces; no kernel here calls"
                  " them",
    "net": "a networking program (packets, sockets, cgroups) has no event at a syscall",
}
_FAMILY = {
    "fentry": "fentry", "fexit": "fentry", "fmod_ret": "fentry", "fentry.s": "fentry",
    "fexit.s": "fentry", "fmod_ret.s": "fentry", "freplace": "fentry",
    "uprobe": "uprobe", "uretprobe": "uprobe", "uprobe.s": "uprobe", "uretprobe.s": "uprobe",
    "uprobe.multi": "uprobe", "uretprobe.multi": "uprobe", "usdt": "uprobe",
    "usdt.s": "uprobe", "perf_event": "perf_event", "lsm": "lsm", "lsm.s": "lsm",
    "lsm_cgroup": "lsm", "iter": "iter", "iter.s": "iter", "struct_ops": "struct_ops",
    "struct_ops.s": "struct_ops",
}


def refusal_reason(kind: str, target: str) -> str:
    """Why a section's attach point is not provided, in the words of its kind."""
    family = _FAMILY.get(kind)
    if family is not None:
        return _NOT_PROVIDED[family]
    if kind in ("kprobe", "kretprobe", "kprobe.multi", "kretprobe.multi"):
        if target.isdigit():
            return (f"kprobe/{target} is a prog-array slot (samples/bpf's convention) and "
                    "the object has no prog array it went into")
        return (f"a kprobe on the kernel function '{target or '?'}': trace-run provides "
                "only the syscall entry points (ksyscall/NAME, kprobe/__x64_sys_NAME, "
                "kprobe/__seccomp_filter, kprobe/syscall_entry)")
    if kind in ("ksyscall", "kretsyscall"):
        return "ksyscall needs a syscall name (ksyscall/NAME)"
    if kind in ("tracepoint", "tp"):
        return (f"tracepoint {target or '?'}: only the syscalls/*, raw_syscalls/* and "
                "sched/sched_process_exec|exit|fork tracepoints are provided")
    if kind in ("raw_tracepoint", "raw_tp", "tp_btf", "raw_tracepoint.w", "raw_tp.w"):
        return (f"{kind} {target or '?'}: only the sys_enter and sys_exit tracepoints are"
                " provided")
    if kind in ("xdp", "tc", "tcx", "classifier", "action", "socket", "sk_skb", "sk_msg",
                "sockops", "sk_lookup", "sk_reuseport", "flow_dissector", "cgroup",
                "cgroup_skb", "lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local",
                "netfilter", "lirc_mode2"):
        return _NOT_PROVIDED["net"]
    if kind == "syscall":
        return "a BPF_PROG_TYPE_SYSCALL program runs only when bpf(BPF_PROG_TEST_RUN) runs it"
    return f"section '{kind}{'/' + target if target else ''}' names no attach point " \
           "trace-run knows"


__all__ = [
    "COMPAT_WRAPPERS",
    "DISPATCHERS",
    "SCHED_EVENTS",
    "TRACEPOINT_NAMES",
    "AttachPlan",
    "Attachment",
    "Refusal",
    "attach_point",
    "event_arch",
    "event_id",
    "plan",
    "refusal_reason",
    "table_name",
    "tracepoint_name",
]
