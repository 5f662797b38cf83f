"""What one run did to the world outside the VM: its effects.

Helpers that act on the outside (signals, return overrides) or produce output (printk
lines, ring-buffer and perf records) record it in the run's :class:`Effects` instead of
telling the host.  The record belongs to the run: it is created when the first such
helper fires (a run without one has none), and ``Vm.run`` returns it on the result
(``RunResult.effects``; after ``Vm.run_r0``, ``vm.state.effects``, None when the run had
no effect).  Applying them (delivering a signal, skipping a syscall, writing a line) is
the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Effects:
    """The effects of one run, each kind in the order the program caused them.

    ``signals``: (sig, thread) of every bpf_send_signal (thread False) and
    bpf_send_signal_thread (thread True).  ``override``: the last bpf_override_return
    value (signed), None without one.  ``printk``: the trace_pipe lines of
    bpf_trace_printk / bpf_trace_vprintk (built only when the host's ``printk_enabled``).
    ``ringbuf``: (map name, record) of every record submitted to a ring buffer.
    ``perf``: (map name, slot, record) of every bpf_perf_event_output."""

    signals: list[tuple[int, bool]] = field(default_factory=list)
    override: int | None = None
    printk: list[str] = field(default_factory=list)
    ringbuf: list[tuple[str, bytes]] = field(default_factory=list)
    perf: list[tuple[str, int, bytes]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.signals or self.override is not None or self.printk
                    or self.ringbuf or self.perf)


__all__ = ["Effects"]
