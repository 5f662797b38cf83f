"""The VM's exception hierarchy.

Bad input (a program, an assembly line, an object file) is separated from our own
bugs: every class under :class:`BpfError` describes something wrong with what the user
gave us, and carries where it happened (pc, line:column, section).  :class:`InternalError`
is the only one that means trace-run itself is wrong.  CLIs catch :class:`BpfError` and
print ``str(exc)`` on one line; tests check the type and the fields, not the text.
"""

from __future__ import annotations


class BpfError(Exception):
    """Base of every error caused by the input (program, object, text)."""


class InvalidInstruction(BpfError):
    """An encoding the ISA does not define: bad opcode, register, reserved field,
    a truncated ld_imm64, a jump out of the program.  Raised when a program is loaded."""

    def __init__(self, pc: int, raw: bytes, reason: str) -> None:
        self.pc = pc
        self.raw = raw
        self.reason = reason
        super().__init__(f"{pc}: {reason} [{raw.hex(' ')}]")


class VmFault(BpfError):
    """The program did something at run time that the kernel's verifier would have
    refused: an access outside every region, a write to read-only memory, a write to
    r10, a call nesting too deep, an unknown helper.  ``insn`` is the disassembled text."""

    def __init__(self, pc: int, insn: str, reason: str,
                 addr: int | None = None, size: int | None = None) -> None:
        self.pc = pc
        self.insn = insn
        self.reason = reason
        self.addr = addr
        self.size = size
        super().__init__(f"{pc}: {reason} [{insn}]")


class BudgetExceeded(VmFault):
    """The run executed more instructions than its budget allows."""


class AsmSyntaxError(BpfError):
    """A line of assembly that does not parse; ``line`` and ``column`` are 1-based."""

    def __init__(self, line: int, column: int, message: str, source: str = "") -> None:
        self.line = line
        self.column = column
        self.message = message
        self.source = source
        where = f"{source}:" if source else ""
        super().__init__(f"{where}{line}:{column}: {message}")


class ElfLoadError(BpfError):
    """A malformed or unsupported object file; the message names section, symbol or
    relocation."""


class VerifierReject(BpfError):
    """A program refused before it runs (license, helper prototype, structure)."""

    def __init__(self, reason: str, pc: int | None = None) -> None:
        self.reason = reason
        self.pc = pc
        super().__init__(f"{pc}: {reason}" if pc is not None else reason)


class MapError(BpfError):
    """A map operation from user space that the kernel would refuse; ``errno`` is the
    positive errno value bpf(2) would set."""

    def __init__(self, errno: int, message: str) -> None:
        self.errno = errno
        super().__init__(message)


class InternalError(Exception):
    """A bug in trace-run itself, never the user's input."""
