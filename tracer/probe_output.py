"""Where a probe's output goes: ``--printk`` (readable lines) and ``--records`` (JSON).

A run's output (:class:`bpf_vm.Effects`) is, in the order the programs produced it,
bpf_trace_printk lines, ring-buffer records and perf-event records.  ``--printk FILE``
gets one line each: the printk text as the kernel's trace_pipe shows it, and each record
decoded through the object's BTF (or DWARF) when its type is known
(``ringbuf events: pid=1234 comm="cat" ...``, ``perf events cpu 0: ...``), else in hex.
``--records FILE`` gets each record as one JSON object (``{"map": "events", "record":
{...}}``, with ``"cpu"`` for perf records, ``"data"`` in hex when undecoded).  How a
record type was chosen is said once per map and size on stderr (see
:class:`bpf_vm.RecordDecoder`).
"""

from __future__ import annotations

import sys
from typing import IO

from bpf_vm import Effects, PrintkLine, RecordDecoder, RingbufRecord


class ProbeOutput:
    """The sinks of one probe's output; ``decoder`` None: records in hex."""

    def __init__(self, printk: IO[str] | None, records: IO[str] | None = None,
                 decoder: RecordDecoder | None = None, notes: IO[str] | None = None,
                 *, quiet: bool = False) -> None:
        self.printk = printk
        self.records = records
        self.decoder = decoder
        self.notes = notes if notes is not None else sys.stderr
        self.quiet = quiet     # no notes (the bundled probe: its record types are known)

    @property
    def active(self) -> bool:
        return self.printk is not None or self.records is not None

    def write(self, effects: Effects) -> None:
        printk, records, decoder = self.printk, self.records, self.decoder
        if printk is None and records is None:
            return
        for o in effects.output:
            if isinstance(o, PrintkLine):
                if printk is not None:
                    printk.write(o.text + "\n")
                continue
            if decoder is None:
                if printk is not None:
                    if isinstance(o, RingbufRecord):
                        printk.write(f"ringbuf {o.map}: {o.data.hex()}\n")
                    else:
                        printk.write(f"perf {o.map} cpu {o.slot}: {o.data.hex()}\n")
                continue
            lines = decoder.render(o)
            if lines.note is not None and not self.quiet:
                print(f"trace-run: {lines.note}", file=self.notes, flush=True)
            if printk is not None:
                printk.write(f"{lines.kind} {lines.text}\n")
            if records is not None:
                records.write(lines.json + "\n")

    def flush(self) -> None:
        for f in (self.printk, self.records):
            if f is not None:
                f.flush()
