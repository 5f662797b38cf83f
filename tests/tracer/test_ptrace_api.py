"""tracer.ptrace_api against a real tracee: a forked child of this process that asks to
be traced (PTRACE_TRACEME), maps and fills memory above 4 GiB, stops itself, makes one
known syscall (getppid through syscall(2), so its 64-bit return reaches the child whole),
raises SIGUSR2 and exits.

The calls go through ctypes without argtypes (see the module docstring), where a bare
Python int would be cut to a C int: these tests pass values that need all 64 bits (a
register value with the top bit set, buffer addresses above 4 GiB) and check that they
arrive whole.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tracer import ptrace_api as pt
from tracer import regs

pytestmark = pytest.mark.ptrace

SYS_GETPPID = 110
O_TRACEEXIT = 0x40
ENOSYS_RET = 0xFFFFFFFFFFFFFFDA            # -ENOSYS: rax at a syscall-entry stop
POKED = 0xFEDCBA9876543210                # top bit set, not in the -4095..-1 error range
MAP_HINT = 0x5A5A_0000_0000               # above 4 GiB; its low 32 bits are zero
MAP_SIZE = 0x20000                        # 128 KiB: more than vm_read's 64 KiB buffer
_MAP_PRIVATE, _MAP_ANONYMOUS, _MAP_FIXED_NOREPLACE = 0x02, 0x20, 0x100000
_PROT_RW = 0x1 | 0x2


def pattern(pid: int, size: int = MAP_SIZE) -> bytes:
    """What the child writes into its mapping (its pid in it: the parent has no copy)."""
    unit = b"child %d memory;" % pid
    return (unit * (size // len(unit) + 1))[:size]


def _child(w: int) -> None:
    """In the forked child; never returns."""
    code = 1
    try:
        pt.traceme()
        libc = ctypes.CDLL(None, use_errno=True)
        mmap = libc.mmap
        mmap.restype = ctypes.c_void_p
        mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                         ctypes.c_int, ctypes.c_long)
        addr = mmap(MAP_HINT, MAP_SIZE, _PROT_RW,
                    _MAP_PRIVATE | _MAP_ANONYMOUS | _MAP_FIXED_NOREPLACE, -1, 0)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            addr = mmap(MAP_HINT, MAP_SIZE, _PROT_RW, _MAP_PRIVATE | _MAP_ANONYMOUS, -1, 0)
        data = pattern(os.getpid())
        ctypes.memmove(addr, data, len(data))
        os.write(w, struct.pack("<Q", addr))
        signal.signal(signal.SIGUSR2, lambda *_: os.write(w, b"U"))
        os.kill(os.getpid(), signal.SIGSTOP)
        syscall = libc.syscall
        syscall.restype = ctypes.c_long
        got = syscall(SYS_GETPPID)
        os.write(w, struct.pack("<Q", got & 0xFFFFFFFFFFFFFFFF))
        os.kill(os.getpid(), signal.SIGUSR2)
        code = 3
    finally:
        os._exit(code)


@dataclass
class Child:
    pid: int
    addr: int
    r: int
    status: int = 0

    def wait(self) -> int:
        _, self.status = os.waitpid(self.pid, 0)
        return self.status

    def to_syscall_stop(self, sig: int = 0, limit: int = 200
                        ) -> tuple[int, int, int, tuple[int, ...]]:
        """Resume with PTRACE_SYSCALL until the next syscall stop (signal stops passed on)."""
        for _ in range(limit):
            pt.resume_syscall(self.pid, sig)
            sig = 0
            st = self.wait()
            assert os.WIFSTOPPED(st), st
            if os.WSTOPSIG(st) == pt.SYSCALL_TRAP:
                return pt.syscall_stop(self.pid)
            sig = os.WSTOPSIG(st)
        raise AssertionError("no syscall stop")

    def to_signal_stop(self, sig: int, limit: int = 200) -> None:
        """Resume with PTRACE_SYSCALL (nothing injected) until a stop for signal ``sig``."""
        for _ in range(limit):
            pt.resume_syscall(self.pid)
            st = self.wait()
            assert os.WIFSTOPPED(st), st
            if os.WSTOPSIG(st) == sig:
                return
        raise AssertionError(f"no stop for signal {sig}")

    def to_entry_of(self, nr: int) -> tuple[int, int, int, tuple[int, ...]]:
        for _ in range(200):
            stop = self.to_syscall_stop()
            if stop[0] == pt.OP_ENTRY and stop[2] == nr:
                return stop
        raise AssertionError(f"no entry of syscall {nr}")


@pytest.fixture
def child() -> Iterator[Child]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(w)
    os.close(w)
    c = Child(pid, 0, r)
    try:
        c.addr = struct.unpack("<Q", os.read(r, 8))[0]
        st = c.wait()
        assert os.WIFSTOPPED(st) and os.WSTOPSIG(st) == signal.SIGSTOP, st
        pt.set_options(pid, pt.O_TRACESYSGOOD | O_TRACEEXIT | pt.O_EXITKILL)
        yield c
    finally:
        os.close(r)
        _reap(pid)


def _reap(pid: int) -> None:
    """SIGKILL and wait; a tracee in a ptrace-stop (PTRACE_EVENT_EXIT's, which SIGKILL
    does not end) is resumed until it is gone."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while True:
        with contextlib.suppress(OSError):
            pt.cont(pid)
        try:
            _, st = os.waitpid(pid, 0)
        except ChildProcessError:
            return
        if not os.WIFSTOPPED(st):
            return


def _reg(data: bytes, name: str) -> int:
    return int.from_bytes(data[regs.OFFSET[name]:regs.OFFSET[name] + 8], "little")


def test_vm_read_above_4gib_both_paths(child: Child) -> None:
    assert child.addr > 1 << 32
    want = pattern(child.pid)
    assert pt.vm_read(child.pid, child.addr, 64) == want[:64]
    assert pt.vm_read(child.pid, child.addr + 4096 + 5, 1000) == want[4096 + 5:4096 + 1005]
    # more than the 64 KiB buffer: the other path
    assert pt.vm_read(child.pid, child.addr, MAP_SIZE) == want
    # past the end of the mapping: not wholly readable
    assert pt.vm_read(child.pid, child.addr + MAP_SIZE - 8, 16) is None
    # the stack (near the top of the address space) is readable too
    sp = pt.get_regs(child.pid).rsp
    assert sp > 1 << 32
    assert pt.vm_read(child.pid, sp, 8) is not None


def test_registers_poke_and_syscall_info_at_a_known_syscall(child: Child) -> None:
    op, arch, _nr, _args = child.to_entry_of(SYS_GETPPID)
    assert (op, arch) == (pt.OP_ENTRY, pt.AUDIT_ARCH_X86_64)
    data = pt.get_regs_bytes(child.pid, regs.PT_REGS_SIZE)
    assert len(data) == regs.PT_REGS_SIZE
    assert _reg(data, "orig_ax") == SYS_GETPPID
    assert _reg(data, "ax") == ENOSYS_RET        # x86_64 entry: rax = -ENOSYS
    full = pt.get_regs(child.pid)
    assert full.orig_rax == SYS_GETPPID and full.rax == ENOSYS_RET
    assert full.rsp == _reg(data, "sp") and full.rip == _reg(data, "ip")
    info = pt.syscall_info(child.pid)
    assert (info.op, info.nr, info.stack_pointer) == (pt.OP_ENTRY, SYS_GETPPID, full.rsp)

    op, _arch, rval, _ = child.to_syscall_stop()
    assert (op, rval) == (pt.OP_EXIT, os.getpid())
    assert _reg(pt.get_regs_bytes(child.pid, regs.PT_REGS_SIZE), "ax") == os.getpid()

    # a value with the top bit set, whole: -ENOSYS, seen by GETREGS and GET_SYSCALL_INFO
    # (a bare int would pass this one by luck: cut to 32 bits and sign-extended, -38 is
    # still -38; POKED below would not)
    pt.poke_user(child.pid, regs.OFFSET["ax"], ENOSYS_RET)
    assert _reg(pt.get_regs_bytes(child.pid, regs.PT_REGS_SIZE), "ax") == ENOSYS_RET
    info = pt.syscall_info(child.pid)
    assert (info.op, info.rval, info.is_error) == (pt.OP_EXIT, -errno.ENOSYS, True)
    # _call (the path of SEIZE, INTERRUPT, LISTEN) passes data whole too
    pt.poke_user(child.pid, regs.OFFSET["ax"], 0)
    pt._call(pt.PTRACE_POKEUSER, child.pid, regs.OFFSET["ax"], POKED, "PTRACE_POKEUSER")
    assert pt.get_regs(child.pid).rax == POKED
    # a negative value given as such is the same 64 bits
    pt.poke_user(child.pid, regs.OFFSET["ax"], -errno.ENOSYS)
    assert pt.get_regs(child.pid).rax == ENOSYS_RET
    # and the one the child is left with reaches it whole
    pt.poke_user(child.pid, regs.OFFSET["ax"], POKED)
    assert pt.get_regs(child.pid).rax == POKED
    assert pt.syscall_stop(child.pid) == (pt.OP_EXIT, 0, POKED - (1 << 64), ())

    # the child reports what its syscall returned, then raises SIGUSR2
    child.to_signal_stop(signal.SIGUSR2)
    assert struct.unpack("<Q", os.read(child.r, 8))[0] == POKED

    # the signal-delivery-stop: its siginfo, then the signal passed on through data
    si = pt.get_siginfo(child.pid)
    assert si is not None
    assert (si["si_signo"], si["si_code"], si["si_pid"], si["si_uid"]) == \
        (signal.SIGUSR2, 0, child.pid, os.getuid())   # SI_USER, sent by the child itself
    stop = child.to_syscall_stop(signal.SIGUSR2)
    assert stop[0] in (pt.OP_ENTRY, pt.OP_EXIT)
    # run to the exit event: its message is the wait status of the exit
    while True:
        pt.resume_syscall(child.pid)
        st = child.wait()
        if os.WIFSTOPPED(st) and st >> 16 == pt.EVENT_EXIT:
            break
        assert os.WIFSTOPPED(st), st
    assert pt.event_msg(child.pid) == 3 << 8
    pt.resume_syscall(child.pid)
    st = child.wait()
    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 3
    # read once the child is gone (no blocking): the handler ran, SIGUSR2 was delivered
    assert os.read(child.r, 16) == b"U"


def test_suppressed_signal_is_not_delivered(child: Child) -> None:
    """The counterpart of the above: resumed with sig 0, the handler does not run."""
    child.to_entry_of(SYS_GETPPID)
    child.to_signal_stop(signal.SIGUSR2)
    while True:
        pt.resume_syscall(child.pid, 0)
        st = child.wait()
        if not os.WIFSTOPPED(st):
            break
    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 3
    assert os.read(child.r, 16) == struct.pack("<Q", os.getpid())   # no b"U"


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


@pytest.mark.parametrize(("what", "call"), [
    ("PTRACE_SYSCALL", lambda pid: pt.resume_syscall(pid)),
    ("PTRACE_SYSCALL", lambda pid: pt.resume_syscall(pid, signal.SIGUSR1)),
    ("PTRACE_GET_SYSCALL_INFO", pt.syscall_stop),
    ("PTRACE_GET_SYSCALL_INFO", pt.syscall_info),
    ("PTRACE_GETREGS", lambda pid: pt.get_regs_bytes(pid, 168)),
    ("PTRACE_GETREGS", pt.get_regs),
    ("PTRACE_POKEUSER", lambda pid: pt.poke_user(pid, regs.OFFSET["ax"], POKED)),
    ("PTRACE_GETSIGINFO", pt.get_siginfo),
    ("PTRACE_GETEVENTMSG", pt.event_msg),
    ("PTRACE_INTERRUPT", pt.interrupt),
    ("PTRACE_LISTEN", pt.listen),
])
def test_dead_pid_raises_process_lookup_error_naming_the_request(what, call) -> None:  # type: ignore[no-untyped-def]
    pid = _dead_pid()
    with pytest.raises(ProcessLookupError) as exc:
        call(pid)
    assert exc.value.errno == errno.ESRCH
    assert f"{what}({pid})" in str(exc.value)


def test_dead_pid_vm_read_is_none() -> None:
    pid = _dead_pid()
    assert pt.vm_read(pid, 0x7FFF_0000_0000, 8) is None
    assert pt.vm_read(pid, 0x7FFF_0000_0000, 1 << 17) is None


def test_not_our_tracee_is_esrch_too() -> None:
    """pid 1 exists but is not traced by us."""
    with pytest.raises(ProcessLookupError, match=r"PTRACE_GETREGS\(1\)"):
        pt.get_regs_bytes(1, 168)


def test_calls_are_made_without_argtypes() -> None:
    """The point of the module's calling convention (speed); and the ctypes behaviour
    that makes it need care: without argtypes a bare int is cut to a C int."""
    assert pt._ptrace.argtypes is None
    assert pt._process_vm_readv.argtypes is None
    labs = ctypes.CDLL(None)["labs"]
    labs.restype = ctypes.c_long
    assert labs(0x1_0000_0005) == 5                     # low 32 bits only
    assert labs(ctypes.c_long(0x1_0000_0005)) == 0x1_0000_0005
