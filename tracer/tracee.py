"""One traced thread: the loop's bookkeeping and the :class:`tracer.handler.Tracee` view.

Memory reads try process_vm_readv (one syscall), then /proc/TID/mem (works where
process_vm_readv is refused or a page straddles an unreadable one), then PTRACE_PEEKDATA
word by word (works while the thread is in a ptrace-stop even without /proc).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tracer import ptrace_api as pt
from tracer.handler import Decision, SignalRequest, SyscallCall

_WORD = 8
_USER_END = 1 << 63   # above: the kernel's half of the address space


def read_memory(tid: int, addr: int, size: int) -> bytes | None:
    """``size`` bytes at ``addr`` in ``tid``'s address space, or None (where the
    kernel's copy_from_user would fail with EFAULT).  Nothing of user space lies in
    the upper half of the 64-bit space (x86_64's kernel half), and /proc/TID/mem's
    offsets are signed: such an address, however the tracee made it, is unreadable."""
    if size < 0 or addr < 0 or addr + size > _USER_END:
        return None
    if size == 0:
        return b""
    data = pt.vm_read(tid, addr, size)
    if data is not None:
        return data
    try:
        fd = os.open(f"/proc/{tid}/mem", os.O_RDONLY)
    except OSError:
        fd = -1
    if fd >= 0:
        try:
            data = os.pread(fd, size, addr)
            if len(data) == size:
                return data
        except OSError:
            pass
        finally:
            os.close(fd)
    return _peek_range(tid, addr, size)


def _peek_range(tid: int, addr: int, size: int) -> bytes | None:
    start = addr - addr % _WORD
    out = bytearray()
    try:
        for word_addr in range(start, addr + size, _WORD):
            out += pt.peek_data(tid, word_addr).to_bytes(_WORD, "little")
    except OSError:
        return None
    off = addr - start
    return bytes(out[off:off + size])


@dataclass(slots=True)
class TracedThread:
    """The loop's state for one thread; also the handler's :class:`Tracee`.

    ``started`` is False for the spawned child until it reaches its first execve, so
    trace-run's own pre-exec code (running in the child) is neither shown nor judged.
    ``fresh``: the auto-attach stop (SIGSTOP, or PTRACE_EVENT_STOP with SEIZE) is still
    to come and must be swallowed, not delivered.
    """

    tid: int
    tgid: int
    started: bool = True
    fresh: bool = False
    call: SyscallCall | None = None          # the syscall it is in, when in one
    decision: Decision | None = None
    listening: bool = False                  # in a group-stop, PTRACE_LISTENed
    hidden: bool = False                     # its call is outside -e trace=: not recorded
    signals: list[SignalRequest] = field(default_factory=list)
    # With a seccomp prefilter: resume it with PTRACE_SYSCALL (its call's exit stop is
    # wanted) rather than PTRACE_CONT; and, after a TRAP asked of the kernel, what the
    # SIGSYS delivery must show: (syscall number, arg 5's register offset, arg 5)
    await_exit: bool = False
    trap_fix: tuple[int, int, int] | None = None
    comm_cache: bytes | None = field(default=None, repr=False)
    memory_seen: tuple[int, bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.tgid

    def read_memory(self, addr: int, size: int) -> bytes | None:
        """The last successful read is kept in ``memory_seen``: a read within it is
        answered from it (the probe and then the strace line both read write's buffer,
        say), and shows the same bytes.  Memory is read only at syscall stops, and the
        loop empties ``memory_seen`` at every syscall entry and exit stop (it sets the
        field to None itself, without a method call, on its hot path), so a kept read
        never outlives the stop it was made at."""
        seen = self.memory_seen
        if seen is not None:
            start, kept = seen
            off = addr - start
            if off >= 0 and off + size <= len(kept) and size >= 0:
                return kept[off:off + size]
        data = read_memory(self.tid, addr, size)
        if data:
            self.memory_seen = (addr, data)
        return data

    def comm(self) -> bytes:
        """Read from /proc once, then cached until :meth:`forget_comm` (the loop calls
        it at exec and after prctl).  A write to /proc/PID/comm is not noticed until then."""
        if self.comm_cache is not None:
            return self.comm_cache
        try:
            with open(f"/proc/{self.tgid}/task/{self.tid}/comm", "rb") as f:
                name = f.read().rstrip(b"\n")
        except OSError:
            return bytes(16)   # gone: not cached
        self.comm_cache = name[:15].ljust(16, b"\0")
        return self.comm_cache

    def forget_comm(self) -> None:
        self.comm_cache = None

    def uid_gid(self) -> tuple[int, int]:
        uid = gid = -1
        try:
            with open(f"/proc/{self.tgid}/task/{self.tid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"Uid:"):
                        uid = int(line.split()[1])
                    elif line.startswith(b"Gid:"):
                        gid = int(line.split()[1])
                        break
        except OSError:
            pass
        return uid, gid

    def send_signal(self, sig: int, thread: bool = False) -> None:
        self.signals.append(SignalRequest(sig, thread))

    def take_signals(self) -> list[SignalRequest]:
        out, self.signals = self.signals, []
        return out


def tgid_of(tid: int) -> int:
    """The thread group of a tid not announced yet (its stop beat its parent's event)."""
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return tid
