"""No untraced children: CLONE_UNTRACED is taken out of clone and clone3 at their entry.

A child made with ``clone(CLONE_UNTRACED)`` (or ``clone3`` with the flag in
``struct clone_args.flags``) is not auto-attached by PTRACE_O_TRACECLONE/FORK/VFORK: it
would run unobserved, escape any policy, and outlive trace-run.  The kernel reads the
flags after the syscall-entry stop, so the loop calls :func:`keep_traced` at every
clone/clone3 entry of a traced thread (``nr in CLONE_NRS``: one set test per syscall),
and the bit is cleared before the kernel looks:

* ``clone``: the flags are a register (arg 0: rdi, i386 ebx), cleared with
  PTRACE_POKEUSER;
* ``clone3``: the flags are the first u64 of the ``struct clone_args`` that arg 0
  points to (arg 1 its size).  The program's own struct is left alone: a copy with the
  bit cleared is written below the thread's stack pointer (past the 128-byte red zone,
  where a signal frame would go) and arg 0 is pointed at the copy.  Only when that
  copy can't be written (no stack below sp, or an i386 call whose copy would be above
  4 GiB) is the flags word rewritten in place, with PTRACE_POKEDATA (which also
  writes a ``const`` struct on a read-only page).

What the program passed is what trace-run shows: the text and JSON decode the
arguments read at the stop before the change (``SyscallCall.args``), and clone3's
struct through the original pointer.  strace 6.1 leaves the flag alone (src/clone.c
keeps this as a TODO), so its children made with CLONE_UNTRACED go untraced.

What remains: the register keeps the cleared bit after clone returns (x86_64's syscall
preserves rdi); and between this write and the kernel's copy of ``clone_args`` another
thread of the tracee can rewrite the copy (or, in place, the struct), a TOCTOU race like
every check on memory behind a pointer.  The copy's address is not published, which
makes the race harder to win, not impossible.
"""

from __future__ import annotations

from typing import Final

from probes.abi import ARG_REGS, Abi
from tracer import ptrace_api as pt
from tracer import regs
from tracer.tracee import read_memory

CLONE_UNTRACED: Final = 0x00800000
"""``linux/sched.h``: "set if the tracing process can't force CLONE_PTRACE on this clone"."""

CLONE_NRS: Final = frozenset({56, 120, 435})
"""The numbers :func:`keep_traced` must see: clone (x86_64 and x32 56, i386 120) and
clone3 (435 in every ABI).  x86_64 120 (getpgid) is let through by the ABI check."""

_CLONE: Final = {Abi.X86_64: 56, Abi.X32: 56, Abi.I386: 120}
_CLONE3: Final = 435
_RED_ZONE: Final = 128          # the x86_64 ABI's red zone below sp, never touched
_CLONE_ARGS_SIZE_VER0: Final = 64   # the kernel refuses a smaller clone_args (EINVAL)
_PAGE_SIZE: Final = 4096            # and a larger one than a page (E2BIG)
_ARG0_OFFSET: Final = {abi: regs.OFFSET[names[0]] for abi, names in ARG_REGS.items()}
_MASK64: Final = (1 << 64) - 1


def keep_traced(tid: int, abi: Abi, nr: int, args: tuple[int, ...]) -> bool:
    """At the syscall-entry stop of ``tid`` in clone/clone3 (``nr`` the ABI's number,
    x32's without its bit; ``args`` as the stop reported them): clear CLONE_UNTRACED
    from the flags the kernel is about to read.  Returns whether anything was changed.
    Any other call is left alone (returns False)."""
    try:
        if nr == _CLONE.get(abi):
            return _clone(tid, abi, args[0])
        if nr == _CLONE3:
            return _clone3(tid, abi, args[0], args[1])
    except OSError:
        pass    # ESRCH: SIGKILLed at the stop, it won't clone
    return False


def _clone(tid: int, abi: Abi, flags: int) -> bool:
    if not flags & CLONE_UNTRACED:
        return False
    pt.poke_user(tid, _ARG0_OFFSET[abi], flags & ~CLONE_UNTRACED)
    return True


def _clone3(tid: int, abi: Abi, addr: int, size: int) -> bool:
    if abi is Abi.I386:
        addr &= 0xFFFFFFFF
    if not _CLONE_ARGS_SIZE_VER0 <= size <= _PAGE_SIZE:
        return False    # the kernel refuses it without cloning
    data = read_memory(tid, addr, size)
    if data is None:
        return False    # EFAULT from the kernel too
    flags = int.from_bytes(data[:8], "little")
    if not flags & CLONE_UNTRACED:
        return False
    cleared = (flags & ~CLONE_UNTRACED).to_bytes(8, "little") + data[8:]
    copy = _copy_below_sp(tid, abi, cleared)
    if copy is not None:
        pt.poke_user(tid, _ARG0_OFFSET[abi], copy)
        return True
    pt.poke_data(tid, addr, int.from_bytes(cleared[:8], "little"))
    return True


def _copy_below_sp(tid: int, abi: Abi, data: bytes) -> int | None:
    """Write ``data`` below the thread's stack pointer and the red zone, 16-aligned;
    its address, or None where it can't go."""
    sp = regs.field(regs.read(tid), "sp")
    padded = data + b"\0" * (-len(data) % 8)
    addr = (sp - _RED_ZONE - len(padded)) & ~15 & _MASK64
    if sp < _RED_ZONE + len(padded) or (abi is Abi.I386 and addr + len(padded) > 0xFFFFFFFF):
        return None
    try:
        for off in range(0, len(padded), 8):
            pt.poke_data(tid, addr + off, int.from_bytes(padded[off:off + 8], "little"))
    except OSError as exc:
        if isinstance(exc, ProcessLookupError):
            raise
        return None     # no stack page there (GUP does not grow the stack)
    return addr


__all__ = ["CLONE_NRS", "CLONE_UNTRACED", "keep_traced"]
