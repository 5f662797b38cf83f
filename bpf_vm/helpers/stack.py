"""bpf_get_stackid and bpf_get_stack: the task's user stack, from its frame pointers.

The user stack is unwound as x86-64's perf_callchain_user does: the task's user-mode ip
(from the host's :meth:`~bpf_vm.host.Host.user_regs`, the kernel's task_pt_regs), then
the return address of each frame of the frame-pointer chain (``[bp]`` is the caller's
bp, ``[bp + 8]`` the return address), read through the host's ``read_user``, until a
frame is unreadable, outside user space, or the depth is reached.  A binary built
without frame pointers therefore gives a short (often one- or two-frame) stack, as in
the kernel.

There is no kernel here, so a kernel stack (BPF_F_USER_STACK unset) has no frames:
bpf_get_stack returns 0 and bpf_get_stackid -EFAULT, which is what the kernel returns
when the context's registers are user-mode ones (a uprobe).  Build ids
(BPF_F_USER_BUILD_ID, BPF_F_STACK_BUILD_ID maps) are not looked up: each frame is
reported with status BPF_STACK_BUILD_ID_IP and its ip, the kernel's fallback when it
cannot read a build id.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ..helper_table import ArgType, HelperFault, RetType
from ..host import TASK_SIZE, Host
from ..maps.spec import perf_max_stack
from ..maps.stack_trace import (
    BPF_F_FAST_STACK_CMP,
    BPF_F_REUSE_STACKID,
    BPF_F_SKIP_FIELD_MASK,
    BPF_F_USER_BUILD_ID,
    BPF_F_USER_STACK,
    StackTraceMap,
    build_id_records,
)
from ._mem import M32, host_of, prog_write
from ._registry import BUILTIN

if TYPE_CHECKING:
    from ..context import RunContext

STACKID_FLAGS = (BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP
                 | BPF_F_REUSE_STACKID)
STACK_FLAGS = BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_USER_BUILD_ID
FRAME = struct.Struct("<QQ")       # struct stack_frame { next_frame; return_address; }


def user_stack(host: Host, max_depth: int) -> list[int]:
    """perf_callchain_user on x86-64: at most ``max_depth`` user ips, innermost first."""
    regs = host.user_regs()
    if regs is None or max_depth <= 0:
        return []
    ip, _sp, fp = regs
    ips = [ip]
    while len(ips) < max_depth:
        if fp + FRAME.size > TASK_SIZE:
            break
        raw = host.read_user(fp, FRAME.size)
        if raw is None or len(raw) != FRAME.size:
            break
        fp, ret = FRAME.unpack(raw)
        ips.append(ret)
    return ips


def _callchain(state: RunContext, user: bool, max_depth: int) -> list[int]:
    """get_perf_callchain: the user stack, or the (empty) kernel stack."""
    return user_stack(host_of(state), max_depth) if user else []


def _check_ctx(state: RunContext, ctx: int, helper: str) -> None:
    if ctx != state.ctx_addr:
        raise HelperFault(f"bpf_{helper}: r1 must be the context pointer")


@BUILTIN.helper("get_stackid", RetType.INTEGER, ArgType.PTR_TO_CTX, ArgType.CONST_MAP_PTR,
                ArgType.ANYTHING, gpl_only=True)
def get_stackid(state: RunContext, ctx: int, r2: int, flags: int, *_: int) -> int:
    """long bpf_get_stackid(ctx, map, u64 flags): the id of the stack in STACK_TRACE
    ``map``; -EINVAL for unknown flags, -EFAULT when no more than ``skip`` frames were
    collected, -EEXIST when the id's bucket holds another stack (without
    BPF_F_REUSE_STACKID), -ENOMEM when the map is full."""
    _check_ctx(state, ctx, "get_stackid")
    m = state.vm.map_at(r2)
    if not isinstance(m, StackTraceMap):
        name = getattr(m, "name", f"0x{r2:x}")
        raise HelperFault(f"bpf_get_stackid: map '{name}' is not a stack trace map")
    if flags & ~STACKID_FLAGS:
        return -errno.EINVAL
    skip = flags & BPF_F_SKIP_FIELD_MASK
    depth = min(m.max_depth + skip, perf_max_stack())
    trace = _callchain(state, bool(flags & BPF_F_USER_STACK), depth)
    if len(trace) <= skip:
        return -errno.EFAULT
    return m.get_stackid(trace[skip:], flags)


@BUILTIN.helper("get_stack", RetType.INTEGER, ArgType.PTR_TO_CTX,
                ArgType.PTR_TO_UNINIT_MEM, ArgType.CONST_SIZE_OR_ZERO, ArgType.ANYTHING,
                gpl_only=True)
def get_stack(state: RunContext, ctx: int, buf: int, size: int, flags: int,
              *_: int) -> int:
    """long bpf_get_stack(ctx, void *buf, u32 size, u64 flags): the stack's ips (or
    struct bpf_stack_build_id records) copied to ``buf``, the rest zeroed; returns the
    bytes copied.  -EINVAL (buf zeroed) for unknown flags, a build id asked of a kernel
    stack, a size not a multiple of the element; -EFAULT when fewer than ``skip`` frames
    were collected."""
    _check_ctx(state, ctx, "get_stack")
    size &= M32
    user = bool(flags & BPF_F_USER_STACK)
    build_id = bool(flags & BPF_F_USER_BUILD_ID)
    elem = 32 if build_id else 8
    err = -errno.EINVAL
    if not flags & ~STACK_FLAGS and (user or not build_id) and size % elem == 0:
        skip = flags & BPF_F_SKIP_FIELD_MASK
        num = size // elem
        trace = _callchain(state, user, min(num + skip, perf_max_stack()))
        if len(trace) >= skip:
            ips = trace[skip:skip + num]
            data = (build_id_records(ips) if build_id
                    else struct.pack(f"<{len(ips)}Q", *ips))
            prog_write(state, buf, data + bytes(size - len(data)), "bpf_get_stack buf")
            return len(data)
        err = -errno.EFAULT
    prog_write(state, buf, bytes(size), "bpf_get_stack buf")
    return err
