"""Helper implementations, registered under the kernel's ids with its prototypes.

Modules by concern: :mod:`.maps` (map, ring-buffer and perf helpers, and the
bpf_tail_call prototype), :mod:`.task` (ids, comm, signals, override_return, clocks),
:mod:`.probe` (bpf_probe_read*), :mod:`.printk` (trace_printk, trace_vprintk,
snprintf, over the kernel's printf rules in :mod:`.bprintf`), :mod:`.loop` (bpf_loop),
:mod:`.current` (task handle, cgroups, pid namespace), :mod:`.stack` (get_stackid,
get_stack).
"""

from __future__ import annotations

from ..helper_table import HelperTable
from . import (  # noqa: F401  (they register themselves)
    current,
    loop,
    maps,
    printk,
    probe,
    stack,
    task,
)
from ._registry import BUILTIN


def default_helpers() -> HelperTable:
    """The helpers every VM offers unless told otherwise (a copy: extend it freely)."""
    return BUILTIN.copy()
