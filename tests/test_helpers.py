"""Helpers: each one on a FakeHost, printk formats and gpl_only flags against the kernel.

Programs are written in assembly (bpf_vm.asm); ``put`` stores bytes on the stack.  The
kernel comparisons load the same bytecode with bpf(2): bpf_trace_printk and bpf_snprintf
in a syscall program (accepted or refused, returned length, formatted text), and every
helper in a non-GPL kprobe program (does the verifier call it GPL-restricted?)."""

from __future__ import annotations

import errno
import struct
from contextlib import ExitStack

import pytest

from bpf_vm import kernel
from bpf_vm.effects import Effects
from bpf_vm.errors import VerifierReject, VmFault
from bpf_vm.helper_table import HelperTable, RetType
from bpf_vm.helpers import default_helpers
from bpf_vm.helpers.printk import trace_pipe_line
from bpf_vm.host import FakeHost, ProcessHost, UserMemory, parse_user_mem
from bpf_vm.maps import PerfEventArray
from bpf_vm.vm import Vm
from tests.kernel_kit import twin
from tests.vm_kit import load, s64

M64 = (1 << 64) - 1


def put(data: bytes, at: int) -> str:
    """Assembly storing ``data`` (NUL-padded to 8 bytes) at r10 - ``at``."""
    data += bytes(-len(data) % 8)
    assert len(data) <= at
    lines = []
    for i in range(0, len(data), 8):
        lines += [f"    r1 = {int.from_bytes(data[i:i + 8], 'little'):#x} ll",
                  f"    *(u64 *)(r10 - {at - i}) = r1"]
    return "\n".join(lines)


def run(body: str, host: FakeHost | None = None, **kw: object) -> tuple[int, Effects]:
    """r0 and the effects of one run of ``body``."""
    host = host or FakeHost()
    L = load(body, host=host, **kw)  # type: ignore[arg-type]
    return L.run(), L.effects


# --- the table ---------------------------------------------------------------------------

KERNEL_IDS = {
    "map_lookup_elem": 1, "map_update_elem": 2, "map_delete_elem": 3, "probe_read": 4,
    "ktime_get_ns": 5, "trace_printk": 6, "get_prandom_u32": 7, "get_smp_processor_id": 8,
    "tail_call": 12, "get_current_pid_tgid": 14, "get_current_uid_gid": 15,
    "get_current_comm": 16, "perf_event_output": 25, "probe_read_str": 45,
    "override_return": 58, "send_signal": 109, "probe_read_user": 112,
    "probe_read_kernel": 113, "probe_read_user_str": 114, "probe_read_kernel_str": 115,
    "send_signal_thread": 117, "ktime_get_boot_ns": 125, "ringbuf_output": 130,
    "ringbuf_reserve": 131, "ringbuf_submit": 132, "ringbuf_discard": 133, "snprintf": 165,
    "trace_vprintk": 177, "loop": 181,
    # issue 15
    "get_stackid": 27, "get_current_task": 35, "current_task_under_cgroup": 37,
    "get_numa_node_id": 42, "get_stack": 67, "get_current_cgroup_id": 80,
    "jiffies64": 118, "get_ns_current_pid_tgid": 120, "get_current_ancestor_cgroup_id": 123,
    "get_current_task_btf": 158, "ktime_get_coarse_ns": 160, "ktime_get_tai_ns": 208,
    "task_pt_regs": 175,
}


def test_every_helper_of_the_issue_has_the_kernels_id() -> None:
    table = default_helpers()
    assert {h.proto.name: h.proto.func_id for h in table} == KERNEL_IDS
    assert table.get(1).proto.ret is RetType.PTR_TO_MAP_VALUE_OR_NULL  # type: ignore[union-attr]
    assert table.get(131).proto.ret is RetType.PTR_TO_ALLOC_MEM_OR_NULL  # type: ignore[union-attr]
    assert default_helpers() is not default_helpers()      # copies: extending one is local


GPL_ONLY = {"probe_read", "trace_printk", "perf_event_output", "probe_read_str",
            "override_return", "probe_read_user", "probe_read_kernel", "probe_read_user_str",
            "probe_read_kernel_str", "snprintf", "trace_vprintk",
            "get_stackid", "get_current_task", "get_stack", "get_current_task_btf",
            "task_pt_regs"}


def test_gpl_only_flags() -> None:
    assert {h.proto.name for h in default_helpers() if h.proto.gpl_only} == GPL_ONLY


@pytest.mark.parametrize("name", sorted(GPL_ONLY))
def test_gpl_only_helper_refused_for_non_gpl_program(name: str) -> None:
    L = load(f"    call bpf_{name}\n    exit\n", license="Proprietary")
    with pytest.raises(VerifierReject) as exc:
        L.run()
    assert exc.value.pc == 0 and name in exc.value.reason
    L2 = load(f"    call bpf_{name}\n    r0 = 0\n    exit\n", license="Dual BSD/GPL")
    L2.vm.compile(L2.prog)                                 # accepted


@pytest.mark.kernel
def test_gpl_only_flags_match_kernel() -> None:
    """A kprobe program with license "Proprietary" calling each helper: the kernel's
    verifier says "GPL-restricted" before it looks at arguments, for exactly the
    helpers whose proto is gpl_only."""
    checked = 0
    for h in default_helpers():
        code = struct.pack("<BBhi", 0x85, 0, 0, h.proto.func_id) + \
            bytes.fromhex("b700000000000000" "9500000000000000")
        try:
            fd = kernel.prog_load(code, kernel.BPF_PROG_TYPE_KPROBE, license="Proprietary")
            kernel.close_fd(fd)
            log = ""
        except kernel.KernelReject as exc:
            log = exc.log
        if any(why in log for why in ("unknown func", "invalid func", "cannot use helper")):
            continue                    # not offered to kprobe programs by this kernel
        kernel_gpl = "GPL-restricted" in log
        assert kernel_gpl == h.proto.gpl_only, (h.proto.name, log[-200:])
        checked += 1
    assert checked >= 20


# --- task helpers ------------------------------------------------------------------------

def test_pid_tgid_uid_gid_cpu_clocks_random() -> None:
    host = FakeHost(pid=77, tgid=66, uid=1001, gid=2002, now_ns=5_000, boot_ns_offset=7)
    for helper, want in (("get_current_pid_tgid", 66 << 32 | 77),
                         ("get_current_uid_gid", 2002 << 32 | 1001),
                         ("get_smp_processor_id", 0), ("ktime_get_ns", 5_000),
                         ("ktime_get_boot_ns", 5_007)):
        assert run(f"    call bpf_{helper}\n    exit\n", host)[0] == want, helper
    r1 = run("    call bpf_get_prandom_u32\n    exit\n", FakeHost(seed=3))[0]
    r2 = run("    call bpf_get_prandom_u32\n    exit\n", FakeHost(seed=3))[0]
    assert r1 == r2 and 0 <= r1 < 1 << 32


COMM = """
{fill}
    r1 = r10
    r1 += -16
    r2 = {size}
    call bpf_get_current_comm
    r6 = r0
    r1 = *(u64 *)(r10 - 16)
    r2 = *(u64 *)(r10 - 8)
    *(u64 *)(r10 - 32) = r1
    *(u64 *)(r10 - 24) = r2
    r0 = r6
    exit
"""


@pytest.mark.parametrize("comm,size,want", [
    (b"bash", 16, b"bash" + bytes(12)),                       # NUL-padded
    (b"a-very-long-name-x", 16, b"a-very-long-nam" + b"\0"),   # comm is 15 bytes at most
    (b"abcdefgh", 4, b"abc\0" + b"\xaa" * 12),                # truncated, rest untouched
])
def test_get_current_comm(comm: bytes, size: int, want: bytes) -> None:
    L = load(COMM.format(fill=put(b"\xaa" * 16, 16), size=size), host=FakeHost(comm=comm))
    assert L.run() == 0
    assert L.vm.space.read(L.vm.space.stacks[0].base + 512 - 16, 16) == want


def test_get_current_comm_size_zero_is_a_fault() -> None:
    with pytest.raises(VmFault):
        run("    r1 = r10\n    r1 += -8\n    r2 = 0\n    call bpf_get_current_comm\n    exit\n")


def test_send_signal_and_thread() -> None:
    rc, eff = run("    r1 = 9\n    call bpf_send_signal\n    exit\n")
    assert rc == 0 and eff.signals == [(9, False)]
    rc, eff = run("    r1 = 10\n    call bpf_send_signal_thread\n    exit\n")
    assert rc == 0 and eff.signals == [(10, True)]
    rc, eff = run("    r1 = 65\n    call bpf_send_signal\n    exit\n")
    assert s64(rc) == -errno.EINVAL and eff.signals == []


def test_override_return_records_and_sets_ax() -> None:
    host = FakeHost()
    L = load("    r2 = -13\n    call bpf_override_return\n    exit\n", host=host)
    res = L.vm.run(L.prog, bytes(168))
    assert res.r0 == 0 and res.effects.override == -13
    assert struct.unpack_from("<q", res.ctx or b"", 80)[0] == -13   # pt_regs->ax
    with pytest.raises(VmFault):
        L2 = load("    r1 = r10\n    r2 = 1\n    call bpf_override_return\n    exit\n")
        L2.vm.run(L2.prog, bytes(168))


# --- probe_read* -------------------------------------------------------------------------

PROBE = """
{fill}
    r1 = r10
    r1 += -16
    r2 = {size}
{src}
    call bpf_{helper}
    exit
"""
STACK = -1   # src: the string "stacked!" the program keeps at r10 - 32


def _probe(helper: str, size: int, src: int, host: FakeHost) -> tuple[int, bytes]:
    """Run ``helper(r10 - 16, size, src)`` over a 16-byte buffer of 0xaa; returns the
    result and the buffer afterwards."""
    src_asm = "    r3 = r10\n    r3 += -32" if src == STACK else f"    r3 = {src:#x} ll"
    L = load(PROBE.format(fill=put(b"stacked!\0".ljust(16, b"\0") + b"\xaa" * 16, 32),
                          size=size, src=src_asm, helper=helper), host=host)
    rc = s64(L.run())
    top = L.vm.space.stacks[0].base + 512
    return rc, L.vm.space.read(top - 16, 16) or b""


USER = {0x1000: b"hello\0world", 0x2000: b"0123456789abcdefXYZ"}


@pytest.mark.parametrize("helper", ["probe_read_user", "probe_read"])
def test_probe_read_user(helper: str) -> None:
    host = FakeHost(user_mem=USER)
    assert _probe(helper, 8, 0x1000, host) == (0, b"hello\0wo" + b"\xaa" * 8)
    assert _probe(helper, 16, 0x1008, host) == (-errno.EFAULT, bytes(16))   # zeroed
    assert _probe(helper, 0, 0x9999, host) == (0, b"\xaa" * 16)             # size 0


@pytest.mark.parametrize("helper", ["probe_read_user_str", "probe_read_str"])
def test_probe_read_user_str(helper: str) -> None:
    host = FakeHost(user_mem=USER)
    assert _probe(helper, 16, 0x1000, host) == (6, b"hello\0" + b"\xaa" * 10)
    assert _probe(helper, 16, 0x2000, host) == (16, b"0123456789abcde\0")   # truncated
    assert _probe(helper, 4, 0x2000, host) == (4, b"012\0" + b"\xaa" * 12)
    assert _probe(helper, 16, 0x2008, host) == (-errno.EFAULT, bytes(16))  # no NUL, fault
    assert _probe(helper, 16, 0x5000, host) == (-errno.EFAULT, bytes(16))
    assert _probe(helper, 0, 0x1000, host) == (0, b"\xaa" * 16)


def test_probe_read_kernel_reads_vm_memory_then_host_kernel() -> None:
    host = FakeHost(kernel_mem={0xFFFF_8000_0000_0000: b"kernel!\0"})
    assert _probe("probe_read_kernel", 8, 0xFFFF_8000_0000_0000, host) == \
        (0, b"kernel!\0" + b"\xaa" * 8)
    assert _probe("probe_read_kernel_str", 16, 0xFFFF_8000_0000_0000, host) == \
        (8, b"kernel!\0" + b"\xaa" * 8)
    # user memory is not kernel memory: x86-64 refuses the user half with -ERANGE
    assert _probe("probe_read_kernel", 8, 0x1000, FakeHost(user_mem=USER)) == \
        (-errno.ERANGE, bytes(8) + b"\xaa" * 8)
    assert _probe("probe_read_kernel_str", 8, 0x1000, FakeHost(user_mem=USER)) == \
        (-errno.ERANGE, bytes(8) + b"\xaa" * 8)
    # a kernel address nothing covers: -EFAULT
    assert _probe("probe_read_kernel", 8, 0xFFFF_9000_0000_0000, host)[0] == -errno.EFAULT
    # the program's own stack is "kernel" memory (a string placed at r10 - 32)
    assert _probe("probe_read_kernel_str", 16, STACK, host) == (9, b"stacked!\0" + b"\xaa" * 7)
    assert _probe("probe_read_str", 16, STACK, host) == (9, b"stacked!\0" + b"\xaa" * 7)
    assert _probe("probe_read_user_str", 16, STACK, host)[0] == -errno.EFAULT


def test_probe_read_into_bad_destination_is_a_fault() -> None:
    with pytest.raises(VmFault):
        run("    r1 = 0\n    r2 = 8\n    r3 = 0x1000\n    call bpf_probe_read_user\n    exit\n",
            FakeHost(user_mem=USER))


def test_user_memory_and_user_mem_option() -> None:
    mem = UserMemory(parse_user_mem(["0x10=6162", "18=6364"]))
    assert mem.read(0x10, 4) == b"abcd" and mem.read(0x10, 5) is None
    assert mem.read(0x11, 0) == b""
    with pytest.raises(ValueError):
        parse_user_mem(["0x10:aa"])
    host = ProcessHost({0x10: b"x"}, comm=b"run", pid=5, tgid=4)
    assert host.read_user(0x10, 1) == b"x" and host.read_kernel(0x10, 1) is None
    assert host.comm() == b"run" and host.pid_tgid() == (4, 5)
    assert ProcessHost().pid_tgid()[0] > 0 and ProcessHost().comm()


def test_vm_without_host_gets_a_process_host() -> None:
    L = load("    call bpf_get_current_pid_tgid\n    exit\n", vm=Vm())
    import os
    assert L.run() >> 32 == os.getpid()
    assert isinstance(L.vm.host, ProcessHost)


# --- ring buffer and perf event output ---------------------------------------------------

RINGBUF = """
.map rb ringbuf key=0 value=0 max_entries=4096
    r1 = map[rb] ll
    r2 = 8
    r3 = 0
    call bpf_ringbuf_reserve
    if r0 == 0 goto fail
    r6 = r0
    r1 = map[rb] ll
    r2 = 8
    r3 = 0
    call bpf_ringbuf_reserve
    if r0 == 0 goto fail
    r7 = r0
    r1 = 0x41
    *(u64 *)(r6 + 0) = r1
    r1 = 0x42
    *(u64 *)(r7 + 0) = r1
    r1 = r7
    r2 = 0
    call bpf_ringbuf_submit
    r1 = map[rb] ll
    r2 = 4
    r3 = 0
    call bpf_ringbuf_reserve
    if r0 == 0 goto fail
    r1 = r0
    r2 = 0
    call bpf_ringbuf_discard
    r1 = r6
    r2 = 0
    call bpf_ringbuf_submit
    *(u64 *)(r10 - 8) = 0x43
    r1 = map[rb] ll
    r2 = r10
    r2 += -8
    r3 = 8
    r4 = 0
    call bpf_ringbuf_output
    exit
fail:
    r0 = -1
    exit
"""


def test_ringbuf_helpers_deliver_in_reservation_order() -> None:
    rc, eff = run(RINGBUF)
    assert rc == 0
    assert eff.ringbuf == [("rb", struct.pack("<Q", 0x41)),
                          ("rb", struct.pack("<Q", 0x42)),
                          ("rb", struct.pack("<Q", 0x43))]


def test_output_keeps_program_order_across_kinds() -> None:
    """A ring-buffer record, then a printk line, then another record: Effects.output has
    them in that order (a sink that shows both, trace-run --printk, prints them so)."""
    rc, eff = run("""
.map rb ringbuf key=0 value=0 max_entries=4096
    *(u64 *)(r10 - 8) = 0x41
    r1 = map[rb] ll
    r2 = r10
    r2 += -8
    r3 = 8
    r4 = 0
    call bpf_ringbuf_output
    *(u32 *)(r10 - 16) = 0x216968      # "hi!"
    r1 = r10
    r1 += -16
    r2 = 4
    call bpf_trace_printk
    *(u64 *)(r10 - 8) = 0x42
    r1 = map[rb] ll
    r2 = r10
    r2 += -8
    r3 = 8
    r4 = 0
    call bpf_ringbuf_output
    exit
""")
    assert rc == 0
    assert [type(o).__name__ for o in eff.output] == ["RingbufRecord", "PrintkLine",
                                                      "RingbufRecord"]
    assert eff.printk[0].endswith("bpf_trace_printk: hi!")
    assert eff.ringbuf == [("rb", struct.pack("<Q", 0x41)), ("rb", struct.pack("<Q", 0x42))]


@pytest.mark.parametrize("snippet,want", [
    ("    r1 = map[rb] ll\n    r2 = 8\n    r3 = 1\n    call bpf_ringbuf_reserve\n", 0),
    ("    r1 = map[rb] ll\n    r2 = 4096\n    r3 = 0\n    call bpf_ringbuf_reserve\n", 0),
    (("    *(u64 *)(r10 - 8) = 0\n    r1 = map[rb] ll\n    r2 = r10\n    r2 += -8\n"
     "    r3 = 8\n    r4 = 4\n    call bpf_ringbuf_output\n"), -errno.EINVAL),
    (("    *(u64 *)(r10 - 8) = 0\n    r1 = map[rb] ll\n    r2 = r10\n    r2 += -8\n"
     "    r3 = 8\n    r4 = 2\n    call bpf_ringbuf_output\n"), 0),
])
def test_ringbuf_helper_codes(snippet: str, want: int) -> None:
    rc, _ = run(".map rb ringbuf key=0 value=0 max_entries=4096\n" + snippet + "    exit\n")
    assert s64(rc) == want


def test_ringbuf_output_without_room_is_eagain() -> None:
    L = load(".map rb ringbuf key=0 value=0 max_entries=4096\n"
             "    r1 = map[rb] ll\n    r2 = 4080\n    r3 = 0\n    call bpf_ringbuf_reserve\n"
             "    *(u64 *)(r10 - 8) = 0\n    r1 = map[rb] ll\n    r2 = r10\n    r2 += -8\n"
             "    r3 = 8\n    r4 = 0\n    call bpf_ringbuf_output\n    exit\n")
    assert s64(L.run()) == -errno.EAGAIN


def test_ringbuf_submit_twice_is_a_fault() -> None:
    with pytest.raises(VmFault):
        run(".map rb ringbuf key=0 value=0 max_entries=4096\n"
            "    r1 = map[rb] ll\n    r2 = 8\n    r3 = 0\n    call bpf_ringbuf_reserve\n"
            "    r6 = r0\n    r1 = r6\n    r2 = 0\n    call bpf_ringbuf_submit\n"
            "    r1 = r6\n    r2 = 0\n    call bpf_ringbuf_submit\n    exit\n")


PERF = """
.map events perf_event_array key=4 value=4 max_entries=2
    r6 = r1
    *(u64 *)(r10 - 8) = 0x1234
    r1 = r6
    r2 = map[events] ll
    r3 = {flags} ll
    r4 = r10
    r4 += -8
    r5 = 8
    call bpf_perf_event_output
    exit
"""


@pytest.mark.parametrize("flags,opened,want", [
    (0xFFFFFFFF, True, 0), (0, True, 0), (1, True, -errno.EOPNOTSUPP), (2, True, -errno.E2BIG),
    (0xFFFFFFFF, False, -errno.ENOENT), (1 << 32, True, -errno.EINVAL),
])
def test_perf_event_output(flags: int, opened: bool, want: int) -> None:
    host = FakeHost()
    L = load(PERF.format(flags=flags), host=host)
    events = L.maps["events"]
    assert isinstance(events, PerfEventArray)
    if opened:
        events.open_all()
    res = L.vm.run(L.prog, bytes(168))
    assert s64(res.r0) == want
    assert res.effects.perf == ([("events", 0, struct.pack("<Q", 0x1234))] if want == 0
                                else [])


# --- bpf_loop ----------------------------------------------------------------------------

LOOP = """
    *(u64 *)(r10 - 8) = 0
    r1 = {n:#x} ll
    r2 = func[cb] ll
    r3 = r10
    r3 += -8
    r4 = {flags}
    call bpf_loop
    exit
cb:
    r3 = *(u64 *)(r2 + 0)
    r3 += r1
    *(u64 *)(r2 + 0) = r3
    r0 = 0
    if r1 != {stop} goto +1
    r0 = 1
    exit
"""


@pytest.mark.parametrize("n,flags,stop,want_rc,want_sum", [
    (5, 0, 99, 5, 0 + 1 + 2 + 3 + 4),
    (10, 0, 3, 4, 0 + 1 + 2 + 3),                  # the stopping iteration counts
    (0, 0, 99, 0, 0),
    (5, 1, 99, -errno.EINVAL, 0),
    ((1 << 23) + 1, 0, 99, -errno.E2BIG, 0),
    ((1 << 32) + 3, 0, 99, 3, 3),                  # nr_loops is a u32
])
def test_bpf_loop(n: int, flags: int, stop: int, want_rc: int, want_sum: int) -> None:
    L = load(LOOP.format(n=n, flags=flags, stop=stop))
    assert s64(L.run()) == want_rc
    top = L.vm.space.stacks[0].base + 512
    assert L.vm.space.read(top - 8, 8) == struct.pack("<Q", want_sum)


# --- printk ------------------------------------------------------------------------------

def test_trace_pipe_line_format() -> None:
    line = trace_pipe_line(b"bash", 1234, 5_123_456_789, b"hello\n")
    assert line == "            bash-1234    [000] d..31     5.123456: bpf_trace_printk: hello"
    assert trace_pipe_line(b"x", 1, 0, b"a\0b").endswith(": a")
    assert trace_pipe_line(b"x", 1, 0, b"two\n\n").endswith(": two\n")


def _printk_prog(fmt: bytes, args: tuple[int, ...] = (), fmt_size: int | None = None,
                 strings: dict[int, bytes] | None = None) -> str:
    """A program calling bpf_trace_printk(fmt, fmt_size, args...); an arg that is a key
    of ``strings`` becomes a pointer to that string on the stack."""
    size = len(fmt) + 1 if fmt_size is None else fmt_size
    lines = [put(fmt + b"\0", 128)]
    strings = strings or {}
    at = 192
    ptrs = {}
    for key, s in strings.items():
        lines.append(put(s + b"\0", at))
        ptrs[key] = at
        at += 64
    lines += ["    r1 = r10", "    r1 += -128", f"    r2 = {size}"]
    for reg, a in zip((3, 4, 5), args, strict=False):
        if a in ptrs:
            lines += [f"    r{reg} = r10", f"    r{reg} += -{ptrs[a]}"]
        else:
            lines.append(f"    r{reg} = {a & M64:#x} ll")
    lines += ["    call bpf_trace_printk", "    exit"]
    return "\n".join(lines) + "\n"


S1, S2 = 0x5151, 0x5252     # markers replaced by pointers to stack strings
PRINTK_CASES: list[tuple[bytes, tuple[int, ...]]] = [
    (b"hello", ()), (b"%d", (-5,)), (b"%i|%u|%x|%X", (-1, -1, 255)), (b"%ld %li", (-7, 7)),
    (b"%lu %lx %lX", (-1, 0xABC, 0xABC)), (b"%lld %lli %llu", (-1, 2, -3)),
    (b"%llx %llX", (0xDEAD, 0xBEEF, 0)), (b"%p", (0x1234,)), (b"%pK", (0,)),
    (b"%px", (0xFFFF8000DEADBEEF,)), (b"%ps %pS", (0x1234, 0x5678)), (b"%pB", (0x4321,)),
    (b"%s", (S1,)), (b"[%10s] [%-6s]", (S1, S2)), (b"%c%c%c", (0x41, 0x42, 0x43)),
    (b"100%%", ()), (b"%%%d%%", (9,)), (b"%5d|%-5d|%05d", (42, 42, 42)), (b"%+d % d", (3, 3)),
    (b"%+u %+x", (3, 3)), (b"%d %d %d", (1, 2, 3)), (b"%pI4", (S1,)), (b"%pi4", (S1,)),
    (b"%pI6", (S1,)), (b"%pi6", (S1,)), (b"%pks", (S1,)), (b"%pus", (S1,)), (b"%s.", (S1,)),
    (b"%s-x", (S1,)), (b"tab\there\n", ()), (b"%08llx", (0x1F,)), (b"%s", (0,)),
    (b"%d %d %d %d", (1, 2, 3)), (b"%hd", (1,)), (b"%hhd", (1,)), (b"%zu", (1,)),
    (b"%o", (1,)), (b"%f", (1,)), (b"%e", (1,)), (b"%#x", (1,)), (b"%.3s", (S1,)),
    (b"%5.2d", (1,)), (b"%pa", (1,)), (b"%pd", (1,)), (b"%sabc", (S1,)), (b"%n", (1,)),
    (b"%ls", (S1,)), (b"%lc", (1,)), (b"%Lx", (1,)), (b"%lllx", (1,)), (b"%", ()),
    (b"x %", ()), (b"caf\xc3\xa9", ()), (b"bell\x07", ()), (b"%pI5", (S1,)), (b"%pi", (S1,)),
    (b"%llhd", (1,)), (b"a\x80b", ()), (b"a\xffb", ()), (b"a\x7fb", ()), (b"a\x1bb", ()),
    (b"\v\f\r", ()), (b"%s\xa0", (S1,)), (b"%s\xa1", (S1,)), (b"%s\xc3", (S1,)),
    (b"%p\xa1", (1,)), (b"%5\xc3d", (1,)),
]
STRINGS = {S1: b"\x7f\x00\x00\x01 - abc", S2: b"xy"}


def _vm_printk(fmt: bytes, args: tuple[int, ...], fmt_size: int | None = None
               ) -> tuple[int, list[str]]:
    host = FakeHost(comm=b"tester", pid=99, now_ns=3_000_001_000)
    L = load(_printk_prog(fmt, args, fmt_size, STRINGS), host=host)
    return s64(L.run()), L.effects.printk


def test_printk_accepts_and_refuses_like_bprintf_prepare() -> None:
    assert _vm_printk(b"%d %s|", (7, S1)) == (len(b"7 \x7f|"), [
        "          tester-99      [000] d..31     3.000001: bpf_trace_printk: 7 \x7f|"])
    assert _vm_printk(b"%d %d %d %d", (1, 2, 3))[0] == -errno.EINVAL
    assert _vm_printk(b"%hd", (1,)) == (-errno.EINVAL, [])
    assert _vm_printk(b"abc", (), fmt_size=3)[0] == -errno.EINVAL     # no NUL in fmt_size
    assert _vm_printk(b"%lx|%X", (-1, -1))[1][0].endswith("ffffffffffffffff|FFFFFFFF")


@pytest.mark.parametrize("fmt,args,text", [
    (b"%5d|%-5d|%05d", (42, 42, 42), "   42|42   |00042"),
    (b"%+d|% d|%+u", (3, 3, 3), "+3| 3|3"),
    (b"%d|%u|%x", (-1, -1, -1), "-1|4294967295|ffffffff"),
    (b"%lld|%llu", (-1, -1), "-1|18446744073709551615"),
    (b"%c%c|%3c", (0x68, 0x69, 0x21), "hi|  !"),
    (b"%px|%pK", (0xABC, 0), "0000000000000abc|0000000000000000"),
    (b"%ps|%pB", (0x1234, 0x10), "0x1234|0x10"),
    (b"%pI4|%pi4", (S1, S1), "127.0.0.1|127.000.000.001"),
    (b"[%s] [%5s] [%-4s]", (S2, S2, S2), "[xy] [   xy] [xy  ]"),
    (b"%s|%pks|%pus", (0, 0, S2), "||"),
    (b"50%% off\n", (), "50% off"),
])
def test_printk_formats_text(fmt: bytes, args: tuple[int, ...], text: str) -> None:
    host = FakeHost(comm=b"t", pid=1)
    L = load(_printk_prog(fmt, args, None, STRINGS), host=host)
    assert s64(L.run()) == len(text) + fmt.endswith(b"\n")
    assert L.effects.printk == [trace_pipe_line(b"t", 1, host.now_ns, text.encode())]


class _NoPrintkHost(FakeHost):
    """A host whose printk lines go nowhere."""

    @property
    def printk_enabled(self) -> bool:
        return False

    def printk(self, line: str) -> None:
        raise AssertionError("no line is built for a host without a printk sink")

    def comm(self) -> bytes:
        raise AssertionError("comm is read only for the line")


@pytest.mark.parametrize("fmt,args", PRINTK_CASES, ids=lambda v: repr(v)[:30])
def test_printk_without_a_sink_returns_the_same(fmt: bytes, args: tuple[int, ...]) -> None:
    """No line is built when the host has no printk sink; the result is unchanged."""
    want, _ = _vm_printk(fmt, args)
    L = load(_printk_prog(fmt, args, None, STRINGS), host=_NoPrintkHost())
    assert s64(L.run()) == want


@pytest.mark.kernel
@pytest.mark.parametrize("fmt,args", PRINTK_CASES, ids=lambda v: repr(v)[:30])
def test_printk_matches_kernel(fmt: bytes, args: tuple[int, ...]) -> None:
    """Accepted or refused, and the returned length (bstr_printf's), as the kernel's
    bpf_trace_printk says for the same bytecode."""
    with ExitStack() as stack:
        t = twin(_printk_prog(fmt, args, None, STRINGS), stack)
        krun = t.run_kernel(bytes(8))
        r0, _ = t.run_vm(bytes(8))
    assert r0 & 0xFFFFFFFF == krun.r0, (fmt, s64(r0), krun.r0)


@pytest.mark.kernel
def test_printk_fmt_size_without_nul_matches_kernel() -> None:
    with ExitStack() as stack:
        t = twin(_printk_prog(b"abcdefgh", (), fmt_size=8), stack)
        assert t.run_vm(bytes(8))[0] & 0xFFFFFFFF == t.run_kernel(bytes(8)).r0 == \
            (-errno.EINVAL) & 0xFFFFFFFF


SNPRINTF = """
.map fmt array key=4 value={fsize} max_entries=1 flags=0x80
    r9 = r1
{strings}
{args}
{zero}
    r1 = r10
    r1 += -64
    r2 = 64
    r3 = map[fmt][0]+0 ll
    r4 = r10
    r4 += -96
    r5 = {data_len}
    call bpf_snprintf
    *(u64 *)(r9 + 64) = r0
{copy}
    r0 = 0
    exit
"""


def _snprintf_prog(fmt: bytes, args: tuple[int, ...]) -> tuple[str, bytes]:
    fsize = len(fmt) + 1 + (-(len(fmt) + 1) % 8)
    strings, ptr = [], {}
    at = 160
    for key, s in STRINGS.items():
        strings.append(put(s + b"\0", at))
        ptr[key] = at
        at += 32
    arg_lines = []
    for i, a in enumerate(args):
        if a in ptr:
            arg_lines += ["    r1 = r10", f"    r1 += -{ptr[a]}"]
        else:
            arg_lines.append(f"    r1 = {a & M64:#x} ll")
        arg_lines.append(f"    *(u64 *)(r10 - {96 - 8 * i}) = r1")
    zero = "\n".join(f"    *(u64 *)(r10 - {64 - 8 * i}) = 0" for i in range(8))
    copy = "\n".join(f"    r1 = *(u64 *)(r10 - {64 - 8 * i})\n    *(u64 *)(r9 + {8 * i}) = r1"
                     for i in range(8))
    text = SNPRINTF.format(fsize=fsize, strings="\n".join(strings), args="\n".join(arg_lines),
                           zero=zero, data_len=8 * len(args), copy=copy)
    return text, fmt + bytes(fsize - len(fmt))


# %p and %pK print a per-boot hash in the kernel: their text cannot be compared
SNPRINTF_CASES = [c for c in PRINTK_CASES if c[0] not in (b"%p", b"%pK", b"%p\xa1")]


@pytest.mark.kernel
@pytest.mark.parametrize("fmt,args", SNPRINTF_CASES, ids=lambda v: repr(v)[:30])
def test_snprintf_text_matches_kernel(fmt: bytes, args: tuple[int, ...]) -> None:
    """bpf_snprintf: the kernel's verifier checks a constant format at load; our VM
    refuses it at run time with -EINVAL.  Accepted formats must give the same bytes."""
    text, fmt_value = _snprintf_prog(fmt, args)
    with ExitStack() as stack:
        t = twin(text, stack, init={"fmt": {b"\0\0\0\0": fmt_value}}, freeze=("fmt",))
        _, vmem = t.run_vm(bytes(72))
        try:
            krun = t.run_kernel(bytes(72))
        except kernel.KernelReject as exc:
            assert exc.errno == errno.EINVAL
            assert s64(struct.unpack_from("<Q", vmem, 64)[0]) == -errno.EINVAL, fmt
            return
    assert vmem == krun.mem, (fmt, vmem, krun.mem)


def test_snprintf_truncates_and_returns_needed_length() -> None:
    text, fmt_value = _snprintf_prog(b"%s and %s and more text than fits", (S1, S2))
    L = load(text.replace("r2 = 64", "r2 = 10"), host=FakeHost())
    L.maps["fmt"].update(0, fmt_value)
    res = L.vm.run(L.prog, bytes(72), regs={2: 72})
    mem = res.ctx or b""
    assert mem[:10] == b"\x7f and xy \0"               # str_size - 1 bytes and a NUL
    full = b"\x7f and xy and more text than fits"     # %s stops at the string's NUL
    assert struct.unpack_from("<q", mem, 64)[0] == len(full) + 1


def test_trace_vprintk_takes_up_to_12_args() -> None:
    fmt = b" ".join([b"%d"] * 12)
    lines = [put(fmt + b"\0", 64)]
    for i in range(12):
        lines.append(f"    *(u64 *)(r10 - {160 - 8 * i}) = {i}")
    lines += ["    r1 = r10", "    r1 += -64", f"    r2 = {len(fmt) + 1}", "    r3 = r10",
              "    r3 += -160", "    r4 = {n}", "    call bpf_trace_vprintk", "    exit"]
    body = "\n".join(lines) + "\n"
    rc, eff = run(body.replace("{n}", "96"))
    assert rc == len(b"0 1 2 3 4 5 6 7 8 9 10 11")
    assert eff.printk[0].endswith(": 0 1 2 3 4 5 6 7 8 9 10 11")
    assert s64(run(body.replace("{n}", "88"))[0]) == -errno.EINVAL    # 12 specs, 11 args
    assert s64(run(body.replace("{n}", "12"))[0]) == -errno.EINVAL    # not a multiple of 8
    assert s64(run(body.replace("{n}", "104"))[0]) == -errno.EINVAL   # 13 args


def test_helpers_can_be_replaced_per_vm() -> None:
    table = default_helpers()
    called = []
    proto = table.get(5).proto  # type: ignore[union-attr]
    table.register(proto, lambda state, *r: called.append(1) or 7)
    assert isinstance(table, HelperTable)
    L = load("    call bpf_ktime_get_ns\n    exit\n", helpers=table)
    assert L.run() == 7 and called == [1]
    assert default_helpers().get(5).fn is not table.get(5).fn  # type: ignore[union-attr]
