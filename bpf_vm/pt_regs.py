"""x86_64 ``struct pt_regs``: the context of kprobe programs, defined once.

The kernel's layout (arch/x86/include/asm/ptrace.h): 21 u64 = 168 bytes, in the order of
:data:`FIELDS`, which is also the order of the first 21 fields of PTRACE_GETREGS's
``user_regs_struct``.  Everything else that needs the layout (the VM's ``--regs`` parser,
``bpf_get_func_ret``-style helpers, the seccomp compiler's argument loads, the tracer's
register copies, ``probes/include/bpf_tracing.h``) takes it from here; a test checks the
C header against it.
"""

from __future__ import annotations

import struct
from typing import Final

FIELDS: Final = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax",
                 "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss")
"""The fields' kernel names, in memory order."""

STRUCT: Final = struct.Struct(f"<{len(FIELDS)}Q")
SIZE: Final = STRUCT.size
"""168 bytes."""

OFFSET: Final[dict[str, int]] = {name: 8 * i for i, name in enumerate(FIELDS)}
"""Byte offset of each field (also its PTRACE_PEEKUSER offset)."""

__all__ = ["FIELDS", "OFFSET", "SIZE", "STRUCT"]
