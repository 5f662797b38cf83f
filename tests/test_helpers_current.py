"""Issue 15's helpers on a FakeHost: the task handle, cgroups, the pid namespace, the
stack helpers (user stacks from frame pointers), jiffies and the other clocks."""

from __future__ import annotations

import errno
import struct

import pytest

from bpf_vm.helpers.current import TASK_HANDLE_BASE, TASK_HANDLE_STRIDE, task_handle
from bpf_vm.helpers.task import INITIAL_JIFFIES, TICK_NS
from bpf_vm.host import FakeHost
from bpf_vm.maps import Cgroup
from tests.vm_kit import load

M64 = (1 << 64) - 1


def s64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def run(body: str, host: FakeHost | None = None) -> tuple[int, object]:
    L = load(body, host=host or FakeHost())
    return s64(L.vm.run(L.prog, bytes(168)).r0), L


def call(helper: str, host: FakeHost, args: str = "") -> int:
    return run(f"{args}    call bpf_{helper}\n    exit\n", host)[0]


def test_clocks_numa_jiffies() -> None:
    host = FakeHost(now_ns=10 * 10**9 + 123)
    assert call("get_numa_node_id", host) == 0
    assert call("ktime_get_coarse_ns", host) == 10 * 10**9
    assert call("ktime_get_tai_ns", host) == 10 * 10**9 + 123 + host.tai_offset_ns
    assert call("jiffies64", host) == INITIAL_JIFFIES + 10 * 10**9 // TICK_NS
    assert INITIAL_JIFFIES > 1 << 31      # -300 s of jiffies, as u32


def test_get_current_task_is_a_stable_emulated_task() -> None:
    """The handle is the thread's task_struct (bpf_vm.kernel_task, laid out by the target
    BTF): its pid reads back; past the object's end reads fail as probe_read does for
    a bad address, -EFAULT and a zeroed destination."""
    from bpf_vm.core_match import target_btf
    from bpf_vm.kernel_task import Layout
    pid_off = Layout.of(target_btf().btf).task.fields["pid"][0]   # type: ignore[union-attr]
    host = FakeHost(pid=77, tgid=66)
    a = call("get_current_task", host) & M64
    assert a == call("get_current_task_btf", host) & M64 == task_handle(77)
    assert a >= TASK_HANDLE_BASE
    assert call("get_current_task", FakeHost(pid=78)) & M64 != a
    read = """
        call bpf_get_current_task
        r3 = r0
        r3 += {off}
        *(u64 *)(r10 - 8) = 0x55
        r1 = r10
        r1 += -8
        r2 = 4
        call bpf_probe_read_kernel
        r6 = r0
        r0 = *(u32 *)(r10 - 8)
        if r6 == 0 goto out
        if r0 != 0 goto bad
        r0 = r6
    out:
        exit
    bad:
        r0 = 1
        exit
    """
    assert run(read.format(off=pid_off), host)[0] == 77
    assert run(read.format(off=TASK_HANDLE_STRIDE - 2), host)[0] == -errno.EFAULT


def test_cgroup_ids() -> None:
    host = FakeHost(cgroups=[1, 500, 600])
    assert call("get_current_cgroup_id", host) == 600
    for level, want in ((0, 1), (1, 500), (2, 600), (3, 0), (-1 & M64, 0)):
        assert call("get_current_ancestor_cgroup_id", host, f"    r1 = {level} ll\n") == want
    assert call("get_current_cgroup_id", FakeHost(cgroups=[])) == 1   # no v2: the root


UNDER = """
.map cg cgroup_array key=4 value=4 max_entries=2
    r1 = map[cg] ll
    r2 = {index}
    call bpf_current_task_under_cgroup
    exit
"""


@pytest.mark.parametrize("index,slot,want", [
    (0, 500, 1), (0, 600, 1), (0, 700, 0), (0, 1, 1), (1, 500, -errno.EAGAIN),
    (2, 500, -errno.E2BIG),
])
def test_current_task_under_cgroup(index: int, slot: int, want: int) -> None:
    L = load(UNDER.format(index=index), host=FakeHost(cgroups=[1, 500, 600]))
    L.maps["cg"].update(0, Cgroup(slot))
    assert s64(L.vm.run(L.prog, bytes(168)).r0) == want


NS = """
    *(u64 *)(r10 - 8) = 0x5555
    r1 = {dev} ll
    r2 = {ino} ll
    r3 = r10
    r3 += -8
    r4 = 8
    call bpf_get_ns_current_pid_tgid
    r6 = r0
    r7 = *(u64 *)(r10 - 8)
    r0 = {ret}
    exit
"""


@pytest.mark.parametrize("dev,ino,pidns,want,data", [
    (4, 0xEFFFFFFC, (4, 0xEFFFFFFC, 7, 5), 0, 7 | 5 << 32),
    (4, 0xEFFFFFFD, (4, 0xEFFFFFFC, 7, 5), -errno.EINVAL, 0),
    (1 << 32 | 4, 0xEFFFFFFC, (4, 0xEFFFFFFC, 7, 5), -errno.EINVAL, 0),
    (4, 0xEFFFFFFC, None, -errno.ENOENT, 0),
])
def test_get_ns_current_pid_tgid(dev: int, ino: int, pidns: tuple[int, ...] | None,
                                 want: int, data: int) -> None:
    host = FakeHost(pidns=pidns)   # type: ignore[arg-type]
    assert run(NS.format(dev=dev, ino=ino, ret="r6"), host)[0] == want
    assert run(NS.format(dev=dev, ino=ino, ret="r7"), host)[0] == data


def test_get_ns_current_pid_tgid_bad_size() -> None:
    body = NS.format(dev=4, ino=0xEFFFFFFC, ret="r6").replace("r4 = 8", "r4 = 4")
    assert run(body, FakeHost())[0] == -errno.EINVAL


# -- stacks ------------------------------------------------------------------------------

SP, BP0, BP1 = 0x7FFF_0000_1000, 0x7FFF_0000_1100, 0x7FFF_0000_1200


def stack_host(frames: bool = True) -> FakeHost:
    """ip 0x401010; frame BP0 -> (BP1, ret 0x402020); BP1 -> (0, ret 0x403030)."""
    mem = {BP0: struct.pack("<QQ", BP1, 0x402020), BP1: struct.pack("<QQ", 0, 0x403030)}
    return FakeHost(regs=(0x401010, SP, BP0), user_mem=mem if frames else {})


GET_STACK = """
    r7 = r1
    *(u64 *)(r10 - 64) = 1
    r1 = r7
    r2 = r10
    r2 += -64
    r3 = {size}
    r4 = {flags} ll
    call bpf_get_stack
{after}    exit
"""


def get_stack(host: FakeHost, size: int, flags: int, word: int | None = None) -> int:
    """get_stack's return, or (``word`` given) the u64 at that index of the buffer."""
    after = "" if word is None else f"    r0 = *(u64 *)(r10 - {64 - 8 * word})\n"
    L = load(GET_STACK.format(size=size, flags=flags, after=after), host=host)
    return s64(L.vm.run(L.prog, bytes(168)).r0)


@pytest.mark.parametrize("size,flags,want", [
    (64, 1 << 8, 24), (16, 1 << 8, 16), (64, (1 << 8) | 1, 16), (64, (1 << 8) | 3, 0),
    (64, (1 << 8) | 4, -errno.EFAULT), (64, 0, 0), (12, 1 << 8, -errno.EINVAL),
    (64, 1 << 12, -errno.EINVAL), (64, 1 << 11, -errno.EINVAL),
    (64, (1 << 8) | (1 << 11), 64), (0, 1 << 8, 0),
])
def test_get_stack_codes(size: int, flags: int, want: int) -> None:
    assert get_stack(stack_host(), size, flags) == want


def test_get_stack_buffer() -> None:
    host = stack_host()
    assert [get_stack(host, 64, 1 << 8, i) for i in range(5)] == [
        0x401010, 0x402020, 0x403030, 0, 0]
    assert [get_stack(host, 64, (1 << 8) | 1, i) for i in range(3)] == [0x402020, 0x403030, 0]
    assert get_stack(host, 64, 1 << 12, 0) == 0          # zeroed on error
    # build-id records: status BPF_STACK_BUILD_ID_IP (2), no build id, the ip
    assert get_stack(host, 64, (1 << 8) | (1 << 11), 0) == 2
    assert get_stack(host, 64, (1 << 8) | (1 << 11), 3) == 0x401010
    assert get_stack(host, 64, (1 << 8) | (1 << 11), 7) == 0x402020


def test_user_stack_unwinds_frame_pointers() -> None:
    from bpf_vm.helpers.stack import user_stack
    host = stack_host()
    assert user_stack(host, 10) == [0x401010, 0x402020, 0x403030]
    assert user_stack(host, 2) == [0x401010, 0x402020]
    assert user_stack(stack_host(frames=False), 10) == [0x401010]
    assert user_stack(FakeHost(), 10) == []          # no user registers: a kernel thread


STACKID = """
.map stacks stack_trace key=4 value=32 max_entries=16
    r2 = map[stacks] ll
    r3 = {flags} ll
    call bpf_get_stackid
    exit
"""


def test_get_stackid_stores_the_user_stack() -> None:
    L = load(STACKID.format(flags=1 << 8), host=stack_host())
    sid = s64(L.vm.run(L.prog, bytes(168)).r0)
    assert sid >= 0
    assert L.maps["stacks"].lookup(sid) == struct.pack("<4Q", 0x401010, 0x402020, 0x403030, 0)
    assert s64(L.vm.run(L.prog, bytes(168)).r0) == sid       # the same stack again


@pytest.mark.parametrize("flags,want", [
    (0, -errno.EFAULT),                  # no kernel frames here
    ((1 << 8) | 3, -errno.EFAULT),       # skipping every frame
    (1 << 12, -errno.EINVAL),
])
def test_get_stackid_codes(flags: int, want: int) -> None:
    L = load(STACKID.format(flags=flags), host=stack_host())
    assert s64(L.vm.run(L.prog, bytes(168)).r0) == want


def test_get_stackid_skip() -> None:
    L = load(STACKID.format(flags=(1 << 8) | 1), host=stack_host())
    sid = s64(L.vm.run(L.prog, bytes(168)).r0)
    assert L.maps["stacks"].lookup(sid) == struct.pack("<4Q", 0x402020, 0x403030, 0, 0)


PT_REGS_READ = """
    call bpf_get_current_task_btf
    r1 = r0
    r1 += {delta}
    call bpf_task_pt_regs
    r3 = r0
    r3 += {off}
    r1 = r10
    r1 += -8
    r2 = 8
    call bpf_probe_read_kernel
    if r0 != 0 goto fail
    r0 = *(u64 *)(r10 - 8)
    exit
fail:
    r0 = -1
    exit
"""


@pytest.mark.parametrize("field,delta,want", [
    ("ip", 0, 0x401000), ("sp", 0, 0x7FFE0000), ("bp", 0, 0x7FFE0100), ("ax", 0, 0),
    ("ip", TASK_HANDLE_STRIDE, 0),          # another task: nothing known, zeros
])
def test_task_pt_regs(field: str, delta: int, want: int) -> None:
    from bpf_vm.pt_regs import OFFSET
    host = FakeHost(pid=77, regs=(0x401000, 0x7FFE0000, 0x7FFE0100))
    assert run(PT_REGS_READ.format(delta=delta, off=OFFSET[field]), host)[0] == want
    no_regs = FakeHost(pid=77)
    assert run(PT_REGS_READ.format(delta=0, off=OFFSET["ip"]), no_regs)[0] == 0
