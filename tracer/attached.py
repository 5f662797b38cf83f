"""Every attached program of a ``--probe`` object, each on its own events.

:func:`probes.attach.plan` says where each program attaches; this runs them at the
syscall stops, in the kernel's order:

* entry: ``kprobe/__seccomp_filter`` (seccomp runs first in syscall_trace_enter), the
  sys_enter tracepoints (raw_syscalls, raw_tp, tp_btf, syscalls/sys_enter_NAME, in the
  object's order), trace-run's dispatcher (the ProbeHandler runs it, in between), then
  the syscall wrapper's kprobes (``ksyscall``, ``kprobe/__x64_sys_NAME``), which do
  not fire when the call is skipped or the process killed before it runs;
* exit: the wrapper's kretprobes, ``kretprobe/syscall_entry``, then the sys_exit
  tracepoints.

Each program's effects are merged into one :class:`bpf_vm.Effects` per stop, so
``bpf_override_return`` and ``bpf_send_signal`` decide as they do from the dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bpf_vm import BpfError, Effects, attach_ctx
from probes.abi import Abi
from probes.attach import Attachment, event_arch
from tracer.regs import FIELDS

if TYPE_CHECKING:
    from bpf_vm import Vm
    from tracer.handler import SyscallCall

CtxKind = attach_ctx.CtxKind
SyscallEvent = attach_ctx.SyscallEvent

_IP = FIELDS.index("ip")
_STAGE = {CtxKind.SECCOMP_FILTER: 0, CtxKind.SYSCALL_TP_ENTER: 1,
          CtxKind.RAW_SYSCALLS_ENTER: 1, CtxKind.RAW_TP_ENTER: 1,
          CtxKind.WRAPPER_ENTER: 3,
          CtxKind.WRAPPER_EXIT: 0, CtxKind.PT_REGS_EXIT: 1, CtxKind.SYSCALL_TP_EXIT: 2,
          CtxKind.RAW_SYSCALLS_EXIT: 2, CtxKind.RAW_TP_EXIT: 2}
BEFORE_DISPATCH = 2
"""Entry stages below this run before the dispatcher, the others after it."""

Fault = Callable[["SyscallCall", BpfError], None]
Write = Callable[[Effects], None]


def event(call: SyscallCall, ret: int = 0) -> SyscallEvent:
    """The kernel's view of one call: the number as in orig_ax (x32 with its bit)."""
    ip = int.from_bytes(call.regs[8 * _IP:8 * _IP + 8], "little")
    return SyscallEvent(call.raw_nr, call.args, call.regs, ret, call.tid,
                        event_arch(call.abi), ip)


def merge(into: Effects | None, e: Effects | None) -> Effects | None:
    """``e``'s signals, override, output and requests added to ``into``'s."""
    if e is None:
        return into
    if into is None:
        into = Effects()
    into.signals.extend(e.signals)
    if e.override is not None:
        into.override = e.override
    into.output.extend(e.output)
    into.requests.extend(e.requests)
    return into


class Attached:
    """The non-dispatcher programs of a plan, indexed by stop and ABI."""

    def __init__(self, attachments: list[Attachment], vm: Vm, write: Write,
                 fault: Fault) -> None:
        self.vm = vm
        self.kmem: attach_ctx.KernelMemory = vm.kernel_mem
        self.write = write
        self.fault = fault
        order = sorted(attachments, key=lambda a: _STAGE[a.kind])   # stable: object order
        entry = [a for a in order if not a.at_exit]
        self.before = [a for a in entry if _STAGE[a.kind] < BEFORE_DISPATCH]
        self.after = [a for a in entry if _STAGE[a.kind] >= BEFORE_DISPATCH]
        self.exit = [a for a in order if a.at_exit]
        # per (abi, nr): the attachments that fire, computed at the first such call
        self._cache: dict[tuple[str, Abi, int], list[Attachment]] = {}

    @property
    def wants_exit(self) -> bool:
        return bool(self.exit)

    def _firing(self, stage: str, group: list[Attachment], abi: Abi, nr: int
                ) -> list[Attachment]:
        key = (stage, abi, nr)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = [a for a in group if a.fires(abi, nr)]
        return got

    def run(self, stage: str, call: SyscallCall, ret: int = 0) -> Effects | None:
        """Run the programs of ``stage`` (before, after, exit) that fire for ``call``;
        their merged effects (None: none)."""
        group = self.before if stage == "before" else self.after if stage == "after" \
            else self.exit
        if not group:
            return None
        firing = self._firing(stage, group, call.abi, call.raw_nr)
        if not firing:
            return None
        ev = event(call, ret)
        out: Effects | None = None
        state = self.vm.state
        for a in firing:
            ctx = a.ctx(ev, self.kmem)
            try:
                self.vm.run_r0(a.program, ctx, ctx_writable=False)
            except BpfError as exc:
                self.fault(call, exc)
            effects = state.effects
            if effects is not None:
                self.write(effects)
                out = merge(out, effects)
        return out


def process_hook(handler: object) -> Callable[[Any, Any], None] | None:
    """For the stop loop: the ``on_process_event(ev, tracee)`` of ``handler`` or of the
    probe it wraps (an injection's ``inner``, --explain's ``probe``), when that probe
    has programs on process events (``wants_process_events``); else None."""
    h: object | None = handler
    for _ in range(4):
        hook = getattr(h, "on_process_event", None)
        if hook is not None:
            return hook if getattr(h, "wants_process_events", False) else None
        h = getattr(h, "inner", None) or getattr(h, "probe", None)
        if h is None:
            break
    return None


__all__ = ["BEFORE_DISPATCH", "Attached", "event", "merge", "process_hook"]
