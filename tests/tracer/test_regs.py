"""pt_regs bytes from user_regs_struct: layout, prefix copy equals field packing."""

from __future__ import annotations

import ctypes
import os

from tracer import ptrace_api as pt
from tracer import regs


def test_pt_regs_is_168_bytes_with_kernel_offsets() -> None:
    assert regs.PT_REGS_SIZE == 168
    assert regs.OFFSET["orig_ax"] == 15 * 8
    assert regs.OFFSET["ax"] == 10 * 8
    assert regs.OFFSET["di"] == 14 * 8
    assert regs.FIELDS[-1] == "ss"


def test_prefix_copy_equals_field_packing() -> None:
    u = pt.UserRegs()
    for i, (name, _) in enumerate(u._fields_):
        setattr(u, name, (0x1111111111111111 * (i % 15 + 1)) & 0xFFFFFFFFFFFFFFFF)
    data = regs.to_pt_regs(u)
    assert data == regs.pack_fields(u)
    assert regs.field(data, "orig_ax") == u.orig_rax
    assert regs.field(data, "ip") == u.rip
    assert regs.field(data, "flags") == u.eflags


def test_round_trip_leaves_the_tail_alone() -> None:
    u = pt.UserRegs()
    u.fs_base = 0xDEAD
    data = bytes(range(168))
    back = regs.from_pt_regs(data, u)
    assert back is u
    assert regs.to_pt_regs(u) == data
    assert u.fs_base == 0xDEAD
    assert ctypes.sizeof(u) == 216


def test_regs_of_a_stopped_tracee(traced) -> None:  # type: ignore[no-untyped-def]
    """The pt_regs the handler sees at entry hold the syscall number in orig_ax and the
    first argument in di."""
    seen: list[bytes] = []

    class Grab:
        def on_entry(self, call, tracee):  # type: ignore[no-untyped-def]
            if call.name == "exit_group":
                seen.append(call.regs)
            from tracer.handler import ALLOW
            return ALLOW

        def on_exit(self, call, ret, tracee):  # type: ignore[no-untyped-def]
            pass

    t = traced(["sh", "-c", "exit 42"], Grab())
    assert t.code == 42
    (data,) = seen
    assert len(data) == 168
    assert regs.field(data, "orig_ax") == 231
    assert regs.field(data, "di") == 42
    assert os.getpid() > 0


def test_memory_read_within_a_stop_is_answered_from_the_last_read(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The probe and the strace line read write's buffer at the same stop: one
    process_vm_readv, the same bytes; once the loop empties memory_seen (every syscall
    stop) memory is read anew."""
    from tracer import tracee as tt

    calls: list[tuple[int, int]] = []

    def fake(tid: int, addr: int, size: int) -> bytes | None:
        calls.append((addr, size))
        return bytes((addr + i) & 0xFF for i in range(size)) if addr < 0x2000 else None

    monkeypatch.setattr(tt, "read_memory", fake)
    th = tt.TracedThread(1, 1)
    assert th.read_memory(0x1000, 16) == bytes(range(16))
    assert th.read_memory(0x1004, 4) == bytes(range(4, 8))      # inside: no new read
    assert th.read_memory(0x1000, 0) == b""
    assert calls == [(0x1000, 16)]
    assert th.read_memory(0x100C, 8) == bytes(range(12, 20))    # past the end: read
    assert th.read_memory(0x3000, 4) is None                    # failures are not kept
    assert th.read_memory(0x100C, 2) == bytes(range(12, 14))
    th.memory_seen = None  # as the loop does at each syscall stop
    th.read_memory(0x100C, 2)
    assert calls == [(0x1000, 16), (0x100C, 8), (0x3000, 4), (0x100C, 2)]
