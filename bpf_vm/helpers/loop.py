"""bpf_loop (kernel/bpf/bpf_iter.c): call a callback subprogram up to 2**23 times.

The callback is a BPF_PSEUDO_FUNC address; :meth:`bpf_vm.vm.Vm.call_function` runs it in
a new frame with r1 = the iteration index and r2 = callback_ctx, sharing the
invocation's instruction budget.  A non-zero return stops the loop (the verifier only
allows 0 and 1).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..helper_table import ArgType, RetType
from ..isa import BPF_MAX_LOOPS
from ._mem import M32, M64
from ._registry import BUILTIN

if TYPE_CHECKING:
    from ..context import RunContext


@BUILTIN.helper("loop", RetType.INTEGER, ArgType.ANYTHING, ArgType.PTR_TO_FUNC,
                ArgType.PTR_TO_STACK_OR_NULL, ArgType.ANYTHING)
def bpf_loop(state: RunContext, nr_loops: int, callback: int, ctx: int, flags: int,
             *_: int) -> int:
    """long bpf_loop(u32 nr_loops, callback_fn, void *callback_ctx, u64 flags): the
    number of iterations run (the stopping one included); -EINVAL for flags != 0,
    -E2BIG for more than 2**23 loops."""
    if flags:
        return -errno.EINVAL
    nr_loops &= M32
    if nr_loops > BPF_MAX_LOOPS:
        return -errno.E2BIG
    vm = state.vm
    for i in range(nr_loops):
        if vm.call_function(callback, (i, ctx, 0, 0, 0)) & M64:
            return i + 1
    return nr_loops
