"""Helpers about the current task and time: ids, comm, signals, return override, clocks.

Every answer comes from the host (:mod:`bpf_vm.host`); the VM itself knows no process.
Signals and return overrides are effects of the run (:mod:`bpf_vm.effects`), which the
caller applies.
Prototypes and gpl_only are the kernel's (kernel/bpf/helpers.c, kernel/trace/bpf_trace.c).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from .. import pt_regs
from ..context import effects_of
from ..helper_table import ArgType, HelperFault, RetType
from ..memory import CTX_SLOT
from ._mem import M32, M64, host_of, prog_write
from ._registry import BUILTIN

if TYPE_CHECKING:
    from ..context import RunContext

_NSIG = 64
PT_REGS_AX = pt_regs.OFFSET["ax"]
PT_REGS_SIZE = pt_regs.SIZE


@BUILTIN.helper("get_current_pid_tgid", RetType.INTEGER)
def get_current_pid_tgid(state: RunContext, *_: int) -> int:
    """u64 bpf_get_current_pid_tgid(void): tgid << 32 | pid (pid = the thread's id)."""
    host = state.vm.host
    if host is None:
        host = host_of(state)
    tgid: int
    pid: int
    tgid, pid = host.pid_tgid()
    return ((tgid & M32) << 32) | (pid & M32)


@BUILTIN.helper("get_current_uid_gid", RetType.INTEGER)
def get_current_uid_gid(state: RunContext, *_: int) -> int:
    """u64 bpf_get_current_uid_gid(void): gid << 32 | uid."""
    uid, gid = host_of(state).uid_gid()
    return ((gid & M32) << 32) | (uid & M32)


@BUILTIN.helper("get_current_comm", RetType.INTEGER, ArgType.PTR_TO_UNINIT_MEM,
                ArgType.CONST_SIZE)
def get_current_comm(state: RunContext, buf: int, size: int, *_: int) -> int:
    """long bpf_get_current_comm(char *buf, u32 size): strscpy_pad of the task's comm,
    so truncated to size - 1 bytes, NUL-terminated and NUL-padded; returns 0."""
    size &= M32
    if size == 0:
        raise HelperFault("bpf_get_current_comm: size must be > 0 (ARG_CONST_SIZE)")
    comm = host_of(state).comm()[:size - 1]
    prog_write(state, buf, comm + bytes(size - len(comm)), "bpf_get_current_comm buf")
    return 0


def _send_signal(state: RunContext, sig: int, thread: bool) -> int:
    sig &= M32
    if sig > _NSIG:
        return -errno.EINVAL
    effects_of(state).signals.append((sig, thread))
    return 0


@BUILTIN.helper("send_signal", RetType.INTEGER, ArgType.ANYTHING)
def send_signal(state: RunContext, sig: int, *_: int) -> int:
    """long bpf_send_signal(u32 sig): to the whole process; -EINVAL above 64."""
    return _send_signal(state, sig, thread=False)


@BUILTIN.helper("send_signal_thread", RetType.INTEGER, ArgType.ANYTHING)
def send_signal_thread(state: RunContext, sig: int, *_: int) -> int:
    """long bpf_send_signal_thread(u32 sig): to the current thread only."""
    return _send_signal(state, sig, thread=True)


@BUILTIN.helper("override_return", RetType.INTEGER, ArgType.PTR_TO_CTX, ArgType.ANYTHING,
                gpl_only=True)
def override_return(state: RunContext, ctx: int, rc: int, *_: int) -> int:
    """long bpf_override_return(struct pt_regs *regs, u64 rc): the probed function (here:
    the syscall) returns ``rc`` without running.  As the kernel's
    regs_set_return_value, ``rc`` is also stored in the context's ax when the context is
    a pt_regs; the run's effects record it (as a signed value)."""
    if ctx != state.ctx_addr or ctx == 0:
        raise HelperFault("bpf_override_return: r1 must be the context pointer")
    region = state.space.regions.get(CTX_SLOT)
    if region is not None and region.size >= PT_REGS_SIZE:
        struct.pack_into("<Q", region.buf, PT_REGS_AX, rc & M64)
    effects_of(state).override = rc - (1 << 64) if rc >> 63 else rc
    return 0


@BUILTIN.helper("ktime_get_ns", RetType.INTEGER)
def ktime_get_ns(state: RunContext, *_: int) -> int:
    """u64 bpf_ktime_get_ns(void): CLOCK_MONOTONIC."""
    return host_of(state).ktime_ns() & M64


@BUILTIN.helper("ktime_get_boot_ns", RetType.INTEGER)
def ktime_get_boot_ns(state: RunContext, *_: int) -> int:
    """u64 bpf_ktime_get_boot_ns(void): CLOCK_BOOTTIME (counts suspend)."""
    return host_of(state).boot_ns() & M64


@BUILTIN.helper("get_prandom_u32", RetType.INTEGER)
def get_prandom_u32(state: RunContext, *_: int) -> int:
    return host_of(state).prandom_u32() & M32


@BUILTIN.helper("get_smp_processor_id", RetType.INTEGER)
def get_smp_processor_id(state: RunContext, *_: int) -> int:
    """u32 bpf_get_smp_processor_id(void): always the one emulated CPU (0)."""
    return host_of(state).cpu() & M32



@BUILTIN.helper("get_numa_node_id", RetType.INTEGER)
def get_numa_node_id(state: RunContext, *_: int) -> int:
    """long bpf_get_numa_node_id(void): the NUMA node of the (one, emulated) CPU: 0."""
    return 0


def kernel_hz() -> int:
    """CONFIG_HZ of the running kernel (from /boot/config-RELEASE), else 250 (Debian's
    and Ubuntu's)."""
    import os
    try:
        with open(f"/boot/config-{os.uname().release}") as f:
            for line in f:
                if line.startswith("CONFIG_HZ="):
                    return int(line.split("=", 1)[1])
    except (OSError, ValueError):
        pass
    return 250


HZ = kernel_hz()
#: jiffies at boot on 64-bit (INITIAL_JIFFIES: -300 s, so wrap bugs show early)
INITIAL_JIFFIES = (-300 * HZ) & M32
TICK_NS = 1_000_000_000 // HZ


@BUILTIN.helper("jiffies64", RetType.INTEGER)
def jiffies64(state: RunContext, *_: int) -> int:
    """u64 bpf_jiffies64(void): INITIAL_JIFFIES plus the ticks of CLOCK_MONOTONIC."""
    return (INITIAL_JIFFIES + host_of(state).ktime_ns() // TICK_NS) & M64


@BUILTIN.helper("ktime_get_coarse_ns", RetType.INTEGER)
def ktime_get_coarse_ns(state: RunContext, *_: int) -> int:
    """u64 bpf_ktime_get_coarse_ns(void): CLOCK_MONOTONIC_COARSE, the monotonic time as
    of the last tick (here: rounded down to a multiple of 1/HZ s)."""
    now = host_of(state).ktime_ns()
    return (now - now % TICK_NS) & M64


@BUILTIN.helper("ktime_get_tai_ns", RetType.INTEGER)
def ktime_get_tai_ns(state: RunContext, *_: int) -> int:
    """u64 bpf_ktime_get_tai_ns(void): CLOCK_TAI."""
    return host_of(state).tai_ns() & M64
