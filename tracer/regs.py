"""x86_64 ``struct pt_regs``: the 168-byte context a kprobe program sees.

The kernel's pt_regs (arch/x86/include/asm/ptrace.h) is the first 21 u64 fields of
``struct user_regs_struct`` in the same order, so the bytes are a prefix copy of what
PTRACE_GETREGS returns.  Writing back goes field by field through the same layout.
"""

from __future__ import annotations

import ctypes
from typing import Final

from probes.abi import PT_REGS, PT_REGS_FIELDS, PT_REGS_SIZE
from tracer import ptrace_api as pt
from tracer.ptrace_api import UserRegs

# The layout is the ABI home's (probes.abi, from the VM's kprobe context);
# here each kernel name gets the user_regs_struct field it comes from.
FIELDS: Final = PT_REGS_FIELDS
_USER_FIELDS: Final = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
                       "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
                       "rsp", "ss")
OFFSET: Final = {name: i * 8 for i, name in enumerate(FIELDS)}
"""Byte offset of each field in pt_regs, which is also its PTRACE_PEEKUSER offset."""


def _check_layout() -> None:
    names = tuple(name for name, _ in UserRegs._fields_[:21])
    if names != _USER_FIELDS:
        raise ImportError(f"unexpected user_regs_struct layout: {names}")


_check_layout()


def to_pt_regs(regs: UserRegs) -> bytes:
    """The 168 pt_regs bytes of a user_regs_struct."""
    return ctypes.string_at(ctypes.addressof(regs), PT_REGS_SIZE)


def read(tid: int) -> bytes:
    """The stopped thread's pt_regs, straight from PTRACE_GETREGS."""
    return pt.get_regs_bytes(tid, PT_REGS_SIZE)


def pack_fields(regs: UserRegs) -> bytes:
    """Same result as :func:`to_pt_regs`, built field by field (the reference)."""
    return PT_REGS.pack(*(getattr(regs, name) for name in _USER_FIELDS))


def from_pt_regs(data: bytes, into: UserRegs | None = None) -> UserRegs:
    """Write 168 pt_regs bytes back into a user_regs_struct (fs_base etc. untouched)."""
    target = into if into is not None else UserRegs()
    for name, value in zip(_USER_FIELDS, PT_REGS.unpack(data), strict=True):
        setattr(target, name, value)
    return target


def field(data: bytes, name: str) -> int:
    """One u64 of pt_regs bytes by its kernel name (``orig_ax``, ``ax``...)."""
    return int.from_bytes(data[OFFSET[name]:OFFSET[name] + 8], "little")


_IP: Final = OFFSET["ip"]
_VSYSCALL_PAGE: Final = 0xFFFFFFFFFF600000 >> 12


def in_vsyscall_page(data: bytes) -> bool:
    """Whether pt_regs ``data`` was taken in x86_64's vsyscall page: a legacy
    ``gettimeofday``/``time``/``getcpu`` that the kernel emulates, which seccomp judges
    (a seccomp stop) but which has no syscall-exit stop."""
    return int.from_bytes(data[_IP:_IP + 8], "little") >> 12 == _VSYSCALL_PAGE
