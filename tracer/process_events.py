"""A probe's programs on process events: ``tracepoint/sched/sched_process_exec``,
``sched_process_fork`` and ``sched_process_exit``, at ptrace's exec, fork and exit events.

The records are tracefs's (:mod:`bpf_vm.attach_ctx`).  What ptrace reports late is made
up for from what was seen earlier, so that the programs see what the kernel's would:

* exec's ``filename`` is the path execve was given (read at its entry, as the kernel's
  ``bprm->filename``), not the resolved /proc/PID/exe;
* an exit is reported once the task is gone, where the kernel's tracepoint runs while
  it is still alive: its name and task facts (parent, start time; read at its fork
  and at its exit or exit_group entry) are the last ones seen, and its ``exit_code``
  (``bpf_get_current_task``'s task_struct) is set from the wait status first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bpf_vm import BpfError, attach_ctx, forget_task, set_exit_code
from tracer.events import Exec, Exited, Fork, Killed, ProcessEvent

if TYPE_CHECKING:
    from bpf_vm import Vm
    from probes.attach import Attachment
    from tracer.handler import SyscallCall, Tracee
    from tracer.probe_handler import TraceeHost


class ProcessPrograms:
    """The programs on process events, by event (exec, fork, exit)."""

    def __init__(self, attachments: list[Attachment], vm: Vm, host: TraceeHost,
                 fault: Callable[[str, int, BpfError], None]) -> None:
        self.events: dict[str, list[Attachment]] = {}
        for a in attachments:
            if a.process_event is not None:
                self.events.setdefault(a.process_event, []).append(a)
        self.vm = vm
        self.host = host
        self.fault = fault
        self._exec_names: dict[int, bytes] = {}   # tid -> execve's filename, for exec
        self._comms: dict[int, bytes] = {}        # tid -> comm, for a task that exits unseen

    def note_entry(self, call: SyscallCall, tracee: Tracee) -> None:
        """At a syscall entry (the host bound to ``tracee``): what the events to come
        need and will not find afterwards."""
        if "exec" in self.events and call.name in ("execve", "execveat"):
            self._exec_names[call.tid] = _read_str(tracee, call.args[call.name == "execveat"])
        elif "exit" in self.events and call.name in ("exit", "exit_group"):
            self.host.task_facts()   # read while the task is alive, for its exit event

    def on_event(self, ev: ProcessEvent, tracee: Tracee) -> None:
        """Run the programs of ``ev``'s event on its record."""
        ac = attach_ctx
        kmem = self.vm.kernel_mem
        match ev:
            case Exec():
                self._comms[ev.tid] = tracee.comm()
                progs = self.events.get("exec")
                path = self._exec_names.pop(ev.former_tid, None) or (ev.path or "").encode()
                ctx = [ac.sched_process_exec_record(a.event_id, ev.tid, path, ev.former_tid)
                       for a in progs or ()]
            case Fork():
                progs = self.events.get("fork")
                comm = self._comms[ev.child] = tracee.comm()   # the child's, until it execs
                if "exit" in self.events:   # the child's facts while it is alive
                    self.host.bind(_Child(ev.child, ev.pid if ev.thread else ev.child,
                                          tracee))
                    self.host.task_facts()
                ctx = [ac.sched_process_fork_record(a.event_id, comm, ev.tid, comm, ev.child)
                       for a in progs or ()]
            case Exited() | Killed():
                progs = self.events.get("exit")
                known = self._comms.pop(ev.tid, None)
                if not progs:
                    return
                if known is not None and not any(tracee.comm()) and hasattr(
                        tracee, "comm_cache"):   # gone before anything read its name
                    tracee.comm_cache = known
                code = ((ev.status & 0xFF) << 8 if isinstance(ev, Exited)
                        else ev.sig | (0x80 if ev.core_dumped else 0))
                set_exit_code(kmem, ev.tid, code)
                comm = tracee.comm()
                ctx = [ac.sched_process_exit_record(a.event_id, ev.tid, comm, 120,
                                                    ev.tid == ev.pid) for a in progs]
            case _:
                return
        if not progs:
            return
        self.host.bind(tracee)
        state = self.vm.state
        for a, rec in zip(progs, ctx, strict=True):
            try:
                self.vm.run_r0(a.program, rec, ctx_writable=False)
            except BpfError as exc:
                self.fault(a.section, ev.tid, exc)
            if state.effects is not None:
                self.host.write(state.effects)
        if isinstance(ev, Exited | Killed):
            forget_task(kmem, ev.tid)   # its id may come back as another task's
            self.host.last_facts.pop(ev.tid, None)


class _Child:
    """A new child as a :class:`Tracee` for reading its task facts at its fork: ids of
    its own, the rest its parent's."""

    def __init__(self, tid: int, pid: int, parent: Tracee) -> None:
        self.tid, self.pid, self.parent = tid, pid, parent

    def comm(self) -> bytes:
        return self.parent.comm()

    def uid_gid(self) -> tuple[int, int]:
        return self.parent.uid_gid()

    def read_memory(self, addr: int, size: int) -> bytes | None:
        return None

    def send_signal(self, sig: int, thread: bool = False) -> None:
        pass


def _read_str(tracee: Tracee, addr: int, limit: int = 4096) -> bytes:
    """The NUL-terminated string at ``addr`` in the tracee (without its NUL), read a
    page piece at a time so no read crosses into an unmapped page."""
    out = b""
    while len(out) < limit:
        n = min(256, 4096 - (addr + len(out)) % 4096)
        chunk = tracee.read_memory(addr + len(out), n)
        if not chunk:
            break
        end = chunk.find(b"\0")
        if end >= 0:
            return out + chunk[:end]
        out += chunk
    return out


__all__ = ["ProcessPrograms"]
