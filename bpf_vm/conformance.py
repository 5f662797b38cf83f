"""``bpf-vm-conformance``: the plugin protocol of the bpf_conformance suite.

Protocol (as ubpf's and rbpf's plugins implement it):

* argv[1], optional: the input memory as hex bytes separated by spaces;
* stdin: the program as hex bytes (separated by spaces or contiguous);
* the program runs with r1 = the memory's address and r2 = its length (0 and 0 without
  memory);
* on success r0 is printed in hex on stdout and the exit status is 0; on failure the
  error is printed and the exit status is 1.

Kept free of typer and pydantic so that it starts quickly: the suite starts one process
per test.  The helpers registered are the kernel's that mean something without a traced
task (:data:`HELPERS`: clocks, random numbers, the CPU, maps, printk, bpf_loop, kernel
reads); a call of any other is the unknown helper it would be to a runtime without them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .helper_table import HelperTable

HELPERS = (
    "ktime_get_ns", "ktime_get_boot_ns", "get_prandom_u32", "get_smp_processor_id",
    "map_lookup_elem", "map_update_elem", "map_delete_elem", "ringbuf_output",
    "ringbuf_reserve", "ringbuf_submit", "ringbuf_discard", "trace_printk", "trace_vprintk",
    "snprintf", "loop", "probe_read_kernel", "probe_read_kernel_str",
)
"""The helpers ``bpf-vm-conformance`` offers: none about a task (pid, uid, comm, signals,
``bpf_override_return``, user memory, perf events)."""


def helpers() -> HelperTable:
    """:data:`HELPERS`, from the VM's built-in table."""
    from .helper_table import HelperTable, helper_id
    from .helpers import default_helpers
    every = default_helpers()
    table = HelperTable()
    for name in HELPERS:
        h = every.get(helper_id(name))
        if h is not None:
            table.register(h.proto, h.fn)
    return table


def parse_hex(text: str) -> bytes:
    """Hex bytes separated by whitespace, or one contiguous hex string."""
    compact = "".join(text.split())
    if len(compact) % 2:
        raise ValueError("odd number of hex digits")
    return bytes.fromhex(compact)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        mem = parse_hex(argv[0]) if argv and argv[0].strip() else None
        code = parse_hex(sys.stdin.read())
    except ValueError as exc:
        print(f"bad input: {exc}")
        return 1
    from .errors import BpfError, InternalError
    from .program import Program
    from .vm import Vm
    try:
        program = Program.from_bytes(code, name="conformance")
        vm = Vm(helpers=helpers())
        result = vm.run(program, mem, regs={2: len(mem) if mem else 0})
    except (BpfError, InternalError) as exc:
        print(exc)
        return 1
    print(f"{result.r0:x}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
