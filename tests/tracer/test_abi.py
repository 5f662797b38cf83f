"""Syscalls through other ABIs are told apart: i386 getpid (int 0x80, nr 20) is never
x86_64 writev (nr 20), and x32 numbers lose their bit."""

from __future__ import annotations

import errno

from probes.abi import Abi
from tracer import ptrace_api as pt
from tracer.events import abi_of
from tracer.handler import ALLOW, Decision, SyscallCall, Tracee
from tracer.regs import field


def test_three_abis_from_one_64_bit_program(cprog, traced) -> None:  # type: ignore[no-untyped-def]
    t = traced([str(cprog("abis"))])
    pid = t.loop.initial_pid
    assert t.code == 0, t.stdout
    nr20 = [r for r in t.records if r.call.nr == 20]
    i386 = [r for r in nr20 if r.call.abi is Abi.I386]
    x64 = [r for r in nr20 if r.call.abi is Abi.X86_64]
    assert [(r.call.name, r.ret) for r in i386] == [("getpid", pid)]
    assert [(r.call.name, r.ret) for r in x64] == [("writev", -errno.EBADF)]
    (x32,) = [r for r in t.records if r.call.abi is Abi.X32]
    assert (x32.call.nr, x32.call.raw_nr, x32.call.name) == (39, 0x40000027, "getpid")
    assert field(x32.call.regs, "orig_ax") == 0x40000027
    assert f"i386_getpid={pid} pid={pid} writev=-9" in t.stdout


def test_deny_by_abi(cprog, traced) -> None:  # type: ignore[no-untyped-def]
    """A handler refusing i386 calls leaves the x86_64 call of the same number alone."""

    class NoI386:
        def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
            return Decision.deny(errno.ENOSYS) if call.abi is Abi.I386 else ALLOW

        def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
            pass

    t = traced([str(cprog("abis"))], NoI386())
    assert t.code == 1  # the program checks i386 getpid == getpid
    assert "i386_getpid=-38 " in t.stdout and "writev=-9 " in t.stdout


def test_abi_of_info() -> None:
    def info(arch: int, nr: int) -> pt.SyscallInfo:
        return pt.SyscallInfo(pt.OP_ENTRY, arch, 0, 0, nr)

    assert abi_of(info(pt.AUDIT_ARCH_X86_64, 20)) == (Abi.X86_64, 20)
    assert abi_of(info(pt.AUDIT_ARCH_I386, 20)) == (Abi.I386, 20)
    assert abi_of(info(pt.AUDIT_ARCH_X86_64, 0x40000000 | 1)) == (Abi.X32, 1)
