"""Control flow between generated code and the run loops: the exceptions that leave the
straight line, call frames, and what generated code needs of the run.

Control that leaves a block's straight line (exit of the entry frame, tail calls that
switch programs, returns into another program) is signalled with the small exceptions
below, which cost nothing until raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..context import RunContext
from ..errors import InternalError, VmFault

if TYPE_CHECKING:
    from ..helper_table import HelperFault
    from ..memory import AddressSpace

M64 = (1 << 64) - 1
M32 = 0xFFFFFFFF


class _Exit(Exception):
    """The entry frame (or a helper's callback frame) executed ``exit``."""


class _Switch(Exception):
    """Control moves to another compiled program (tail call, or return into a caller
    that lives in another program); ``state.cur`` already names it."""

    def __init__(self, pc: int) -> None:
        self.pc = pc


class _Fault(Exception):
    """A run-time fault inside generated code; the run loop adds pc and instruction."""

    def __init__(self, reason: str, addr: int | None = None, size: int | None = None,
                 pc: int | None = None) -> None:
        self.reason = reason
        self.addr = addr
        self.size = size
        self.pc = pc       # where, when raised inside a block of several instructions


class Frame:
    """A BPF-to-BPF call frame (or a helper's callback frame): where to return, and the
    caller's r6-r9 and r10 to restore.  ``compiled`` is the caller's
    :class:`~bpf_vm.engine.compiled.Compiled`."""

    __slots__ = ("compiled", "ret_pc", "saved")

    def __init__(self, compiled: Any, ret_pc: int,
                 saved: tuple[int, int, int, int, int]) -> None:
        self.compiled = compiled
        self.ret_pc = ret_pc    # -1: return to the host (entry of a helper callback)
        self.saved = saved


class EngineState(RunContext, Protocol):
    """What generated code calls back into (:class:`bpf_vm.vm.RunState` implements it):
    the frame stack and the rare operations (calls, exits, tail calls).

    ``loops[d]`` is may_goto's counter of the frame at depth ``d`` (``len(frames)``):
    whoever starts a frame (an invocation, a BPF-to-BPF call, a callback, a tail call,
    which reuses its frame) sets it to BPF_MAX_LOOPS, as the kernel's prologue store does
    (see :class:`bpf_vm.isa.CondPseudo`).  The list is made once and changed in place."""

    frames: list[Frame]
    loops: list[int]

    def make_call(self, compiled: Any) -> Callable[[list[int], int, int], int]:
        """The block engine's BPF-to-BPF call from ``compiled``: (r, ret_pc, target)
        -> target."""
        ...

    def exit_frame(self, r: list[int]) -> int:
        """The block engine's ``exit``: the pc to return to, or raises _Exit/_Switch."""
        ...

    def tail_call(self, r: list[int], nxt: int) -> int:
        """The block engine's bpf_tail_call: ``nxt`` or raises _Switch."""
        ...

    def tail_target(self, r2: int, r3: int) -> Any:
        """The Compiled a bpf_tail_call switches to, or None when it falls through."""
        ...


def vm_fault(space: AddressSpace, cur: Any, pc: int, f: _Fault | HelperFault) -> VmFault:
    """The VmFault of a fault at ``pc`` of ``cur`` (a Compiled)."""
    reason = f.reason
    if isinstance(f, _Fault) and reason in ("read", "write") and f.addr is not None:
        reason = space.describe(f.addr, f.size or 0, reason == "write")
    return VmFault(pc, cur.text(pc), reason, f.addr, f.size)


def internal_error(cur: Any, pc: int, exc: Exception) -> InternalError:
    """A Python exception out of the engine at ``pc`` of ``cur`` (a Compiled): a bug of
    ours, named with the instruction it happened at."""
    return InternalError(f"{cur.program.name}:{pc}: {type(exc).__name__}: {exc}"
                         f" [{cur.text(pc)}]")


__all__ = ["M32", "M64", "EngineState", "Frame", "_Exit", "_Fault", "_Switch",
           "internal_error", "vm_fault"]
