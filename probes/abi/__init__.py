"""The syscall ABIs of an x86_64 kernel: numbers, names, registers, audit arches.

One x86_64 process can enter the kernel through three ABIs, each with its own numbering:
``syscall`` with a plain number (x86_64), ``syscall`` with ``__X32_SYSCALL_BIT`` set (x32),
and ``int 0x80`` / ``sysenter`` (i386, even from a 64-bit process).  The same number means
different calls in each (x86_64 5 is fstat, i386 5 is open), so every lookup here takes the
ABI; nothing defaults to x86_64.

x32 numbers are kept as the kernel (and seccomp) sees them in ``orig_ax``, with the x32
bit set: ``X32_SYSCALL_BIT + 0`` is x32 read.  Lookups also accept an x32 number with the
bit cleared (:func:`normalize_nr`), since callers that split ABI and number often clear it.

This is the one home of these facts for the probes, the policy compiler and the tracer.
The pt_regs layout itself is the VM's (:mod:`bpf_vm.pt_regs`, the kprobe context) and is
re-exported here with the argument registers of each ABI.  The number tables are
generated (``scripts/gen_syscall_tables.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from bpf_vm import pt_regs

from . import _generated_i386, _generated_x32, _generated_x86_64

__all__ = [
    "ARG_REGS",
    "AUDIT_ARCH_I386",
    "AUDIT_ARCH_X86_64",
    "PT_REGS",
    "PT_REGS_FIELDS",
    "PT_REGS_OFFSET",
    "PT_REGS_SIZE",
    "X32_SYSCALL_BIT",
    "Abi",
    "abi_for",
    "normalize_nr",
    "syscall_name",
    "syscall_number",
    "syscalls",
    "word_size",
    "x86_64_syscall_number",
]

PT_REGS_FIELDS: Final = pt_regs.FIELDS
PT_REGS_OFFSET: Final = pt_regs.OFFSET
PT_REGS_SIZE: Final = pt_regs.SIZE
PT_REGS: Final = pt_regs.STRUCT
"""The VM's pt_regs layout (:mod:`bpf_vm.pt_regs`), under the names the probes use."""

X32_SYSCALL_BIT = 0x40000000
"""Set in the syscall number of x32 calls (arch/x86/include/uapi/asm/unistd.h)."""

AUDIT_ARCH_X86_64 = 0xC000003E
"""``ptrace_syscall_info.arch`` of x86_64 and x32 calls (EM_X86_64 | 64BIT | LE)."""
AUDIT_ARCH_I386 = 0x40000003
"""``ptrace_syscall_info.arch`` of i386 calls (EM_386 | LE)."""


class Abi(StrEnum):
    """The syscall ABI of one call; its value is what JSON output and the CLI show."""

    X86_64 = "x86_64"
    I386 = "i386"
    X32 = "x32"


ARG_REGS: Final[Mapping[Abi, tuple[str, ...]]] = MappingProxyType({
    Abi.X86_64: ("di", "si", "dx", "r10", "r8", "r9"),
    Abi.X32: ("di", "si", "dx", "r10", "r8", "r9"),
    Abi.I386: ("bx", "cx", "dx", "si", "di", "bp"),
})
"""The pt_regs fields that carry syscall arguments 0-5 (syscall_get_arguments)."""

_TABLES: dict[Abi, Mapping[int, str]] = {
    Abi.X86_64: MappingProxyType(_generated_x86_64.SYSCALLS),
    Abi.I386: MappingProxyType(_generated_i386.SYSCALLS),
    Abi.X32: MappingProxyType(_generated_x32.SYSCALLS),
}
_NUMBERS: dict[Abi, dict[str, int]] = {
    abi: {name: nr for nr, name in table.items()} for abi, table in _TABLES.items()
}

def syscalls(abi: Abi) -> Mapping[int, str]:
    """The read-only number -> name table of one ABI."""
    return _TABLES[abi]


def normalize_nr(abi: Abi, nr: int) -> int:
    """``nr`` as the tables key it: x32 with the x32 bit set, i386 cut to 32 bits."""
    if abi is Abi.X32:
        return nr | X32_SYSCALL_BIT
    if abi is Abi.I386:
        return nr & 0xFFFFFFFF
    return nr


def syscall_name(abi: Abi, nr: int) -> str:
    """The name of syscall ``nr``; unknown numbers are named as strace names them
    (``syscall_0x1f4``, x32 ``syscall_0x400001f4``) so output stays comparable."""
    nr = normalize_nr(abi, nr)
    name = _TABLES[abi].get(nr)
    if name is not None:
        return name
    nr &= 0xFFFFFFFFFFFFFFFF
    return f"syscall_{nr:#x}" if nr else "syscall_0"  # C's %#lx prints 0 bare


def syscall_number(abi: Abi, name: str) -> int | None:
    """The number of ``name`` in ``abi`` (x32: with the x32 bit), or None if it has none."""
    return _NUMBERS[abi].get(name)


def abi_for(arch: int, nr: int) -> Abi:
    """The ABI of a call from ``ptrace_syscall_info.arch`` and the syscall number.

    The kernel reports x32 calls with the x86_64 audit arch; only the number tells them
    apart.  An unknown arch raises ValueError: guessing would misname every call."""
    if arch == AUDIT_ARCH_I386:
        return Abi.I386
    if arch == AUDIT_ARCH_X86_64:
        return Abi.X32 if nr & X32_SYSCALL_BIT else Abi.X86_64
    raise ValueError(f"unknown audit arch {arch:#x}")


def word_size(abi: Abi) -> int:
    """Bytes in a pointer or ``long`` of the tracee's memory under ``abi``."""
    return 8 if abi is Abi.X86_64 else 4




def x86_64_syscall_number(name: str) -> int | None:
    """The x86_64 number of ``name``: the resolver for ``ksyscall/<name>`` sections that
    the VM's loader takes from its caller (it knows no syscall table of its own)."""
    return _NUMBERS[Abi.X86_64].get(name)
