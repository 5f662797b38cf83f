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

from typing import NamedTuple


class PrintkLine(NamedTuple):
    """A trace_pipe line of bpf_trace_printk / bpf_trace_vprintk."""

    text: str


class RingbufRecord(NamedTuple):
    """A record submitted to the ring buffer ``map``."""

    map: str
    data: bytes


class PerfRecord(NamedTuple):
    """A bpf_perf_event_output record, to ``slot`` (the CPU) of ``map``."""

    map: str
    slot: int
    data: bytes


Output = PrintkLine | RingbufRecord | PerfRecord


class Effects:
    """The effects of one run.

    ``signals``: (sig, thread) of every bpf_send_signal (thread False) and
    bpf_send_signal_thread (thread True), in order.  ``override``: the last
    bpf_override_return value (signed), None without one.  ``output``: the printk lines
    (built only when the host's ``printk_enabled``), ring-buffer and perf records, in the
    order the program produced them, which is the order a sink that shows them together
    must keep; :attr:`printk`, :attr:`ringbuf` and :attr:`perf` select one kind.
    ``requests``: (name, value) of each call of a helper that a front end registered to
    ask its caller for something the kernel's helpers cannot express (trace-run's
    ``bpf_seccomp_return``), in order."""

    __slots__ = ("output", "override", "requests", "signals")

    def __init__(self) -> None:
        self.signals: list[tuple[int, bool]] = []
        self.override: int | None = None
        self.output: list[Output] = []
        self.requests: list[tuple[str, int]] = []

    @property
    def printk(self) -> list[str]:
        return [o.text for o in self.output if type(o) is PrintkLine]

    @property
    def ringbuf(self) -> list[RingbufRecord]:
        return [o for o in self.output if type(o) is RingbufRecord]

    @property
    def perf(self) -> list[PerfRecord]:
        return [o for o in self.output if type(o) is PerfRecord]

    def __bool__(self) -> bool:
        return bool(self.signals or self.override is not None or self.output
                    or self.requests)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Effects):
            return NotImplemented
        return ((self.signals, self.override, self.output, self.requests)
                == (other.signals, other.override, other.output, other.requests))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Effects(signals={self.signals!r}, override={self.override!r},"
                f" output={self.output!r}, requests={self.requests!r})")


__all__ = ["Effects", "Output", "PerfRecord", "PrintkLine", "RingbufRecord"]
