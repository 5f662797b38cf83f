"""The run loops: they call the engines' generated code from a pc until the frame
exits, keep the instruction count and budget, and turn faults into VmFault.

``run_translate`` (the translating engine), ``run_blocks`` (the block engine) and
``run_traced`` (one instruction at a time, reporting each :class:`Step`) give the same
results, counts and faults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import BudgetExceeded, InternalError, VerifierReject, VmFault
from ..helper_table import HelperFault
from .compiled import Compiled
from .control import EngineState, _Exit, _Fault, _Switch, internal_error, vm_fault
from .translate import HANDOFF, RETURN, SWITCH


@dataclass(slots=True)
class Step:
    """One executed instruction, for ``--trace`` and the teaching demo."""
    program: str
    pc: int
    text: str
    before: list[int]
    after: list[int]
    depth: int
    event: str = ""   # "", "call", "exit", "tail_call", "tail_call_failed"


StepHook = Callable[[Step], None]


class LoopState(EngineState, Protocol):
    """What the loops keep in the run state (:class:`bpf_vm.vm.RunState`)."""
    cur: Compiled | None     # the program running
    remaining: int           # the budget left
    executed: int            # instructions executed
    tail_event: str          # the traced loop's: what the last tail call did
    at: int                  # translated code: the block it was in when it raised
    left: int                # translated code: the budget it had left then


def _exhausted(st: LoopState, cur: Compiled, pc: int) -> BudgetExceeded:
    return BudgetExceeded(pc, cur.text(pc),
                          f"instruction budget of {st.vm.budget} exhausted")


def run_translate(st: LoopState, pc: int, r: list[int]) -> int:
    """The translating engine's loop: calls a program's whole function, and again
    after each tail call or return into another program.  When the budget may not
    cover the next block, the block engine takes over from there (it steps the last
    instructions), so counts and the stopping point are the same as its own."""
    cur = st.cur
    assert cur is not None
    start = left = st.remaining
    while True:
        whole = cur._whole   # the property's cache: no call per run
        if whole is None:
            whole = cur.whole
        try:
            how, obj, left, at = whole(r, pc, left)
        except (_Fault, HelperFault) as f:
            st.executed += start - st.left
            where = cur.block_last[st.at]
            if isinstance(f, _Fault) and f.pc is not None:
                where = f.pc
            raise vm_fault(st.space, cur, where, f) from None
        except (VmFault, VerifierReject, InternalError):
            raise
        except Exception as exc:   # a bug of ours, never the program's
            raise internal_error(cur, cur.block_last[st.at], exc) from exc
        if how == SWITCH:
            cur = st.cur = obj
            pc = 0
            continue
        if how == RETURN and obj.ret_pc >= 0:
            cur = st.cur = obj.compiled
            pc = obj.ret_pc
            continue
        used = start - left
        st.remaining -= used
        st.executed += used
        if how == HANDOFF:
            st.cur = cur
            return run_blocks(st, at, r)
        # EXIT, or RETURN out of a helper's callback frame
        if st.remaining < 0:
            raise _exhausted(st, cur, at)
        return r[0]


def run_blocks(st: LoopState, pc: int, r: list[int]) -> int:
    """Run from ``pc`` until the frame exits.  A basic block at a time (one call runs
    all its instructions) while the budget covers the whole block; then one
    instruction at a time, so that the budget runs out at the exact instruction."""
    cur = st.cur
    assert cur is not None
    blocks, sizes = cur.blocks, cur.sizes
    start = left = st.remaining
    stepping = False
    while True:
        try:
            if not stepping:
                while True:
                    k = sizes[pc]
                    if k > left:
                        break
                    left -= k
                    pc = blocks[pc](r)  # type: ignore[misc]
                stepping = True
            ops = cur.ops
            while left > 0:
                left -= 1
                pc = ops[pc](r)
            st.remaining -= start
            st.executed += start
            raise _exhausted(st, cur, pc)
        except _Switch as sw:
            cur = st.cur
            assert cur is not None
            blocks, sizes = cur.blocks, cur.sizes
            pc = sw.pc
            stepping = False
        except _Exit:
            st.remaining -= start - left
            st.executed += start - left
            if st.remaining < 0:
                raise _exhausted(st, cur, pc if stepping else cur.block_last[pc]) from None
            return r[0]
        except (_Fault, HelperFault) as f:
            st.executed += start - left
            at = pc if stepping else cur.block_last[pc]
            if isinstance(f, _Fault) and f.pc is not None:
                at = f.pc
            raise vm_fault(st.space, cur, at, f) from None
        except (VmFault, VerifierReject, InternalError):
            raise
        except Exception as exc:   # a bug of ours, never the program's
            raise internal_error(cur, pc if stepping else cur.block_last[pc], exc) from exc


def run_traced(st: LoopState, pc: int, r: list[int], hook: StepHook) -> int:
    """The same semantics as the other loops, one instruction at a time, reporting each."""
    cur = st.cur
    assert cur is not None
    while True:
        if st.remaining <= 0:
            raise _exhausted(st, cur, pc)
        before = r.copy()
        depth = len(st.frames)
        name, text = cur.program.name, cur.text(pc)
        st.tail_event = ""
        event = ""
        st.remaining -= 1
        st.executed += 1
        try:
            nxt = cur.ops[pc](r)
            if st.tail_event:
                event = st.tail_event
            elif len(st.frames) > depth:
                event = "call"
            elif len(st.frames) < depth:
                event = "exit"
        except _Switch as sw:
            event = "tail_call" if st.tail_event == "tail_call" else "exit"
            hook(Step(name, pc, text, before, r.copy(), depth, event))
            cur = st.cur
            assert cur is not None
            pc = sw.pc
            continue
        except _Exit:
            hook(Step(name, pc, text, before, r.copy(), depth, "exit"))
            return r[0]
        except (_Fault, HelperFault) as f:
            raise vm_fault(st.space, cur, pc, f) from None
        hook(Step(name, pc, text, before, r.copy(), depth, event))
        pc = nxt


__all__ = ["LoopState", "Step", "StepHook", "run_blocks", "run_traced", "run_translate"]
