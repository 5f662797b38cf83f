"""The translating engine: a whole program becomes one Python function.

The eleven registers are local variables ``r0`` .. ``r10`` of that function, and the
instructions are rendered by the same per-opcode templates as the block engine's
(:class:`bpf_vm.engine.codegen.CodeGen`; only the register names and the control flow
differ).  The basic blocks (:func:`bpf_vm.engine.cfg.block_layout`) follow one another in pc order
inside ``while True:``, each under an ``if pc == <start>:`` guard::

    def _run(r, pc, left):
        r0, r1, ..., r10 = r
        while True:
            if pc == 0:
                if left < 7: break          # the budget may not cover the block
                left -= 7
                ...                         # its instructions
                pc = 7                      # a forward edge falls through the guards
            if pc == 7:
                ...
                if r1 != 0:
                    pc = 7
                    continue                # a back edge restarts the guards
                pc = 12
            ...
        r[:] = r0, ..., r10                 # hand the state back
        return HANDOFF, None, left, pc

``left`` is the budget left; a block is charged in full before it runs, as in the block
engine.  When a block's size exceeds ``left``, the function returns HANDOFF and the run
loop continues with the block engine from that pc (which steps the last instructions one
at a time), so the count and the stopping point of an exhausted budget are exact.

How the function returns, as ``(how, obj, left, pc)``:

* ``EXIT``: the entry frame executed ``exit`` at ``pc``; ``r[0]`` holds r0.
* ``HANDOFF``: the block at ``pc`` does not fit the budget; ``r`` holds the registers.
* ``SWITCH``: a tail call succeeded at ``pc``; ``obj`` is the target's
  :class:`~bpf_vm.engine.compiled.Compiled`, to be entered at pc 0 with the same ``r``.
* ``RETURN``: ``exit`` at ``pc`` popped a frame (``obj``) that is not a return within
  this program: into another program (after a tail call in a subprogram), or out of a
  helper's callback frame (``ret_pc < 0``).

A verified program's function leaves out the checks of the loads and stores its
verifier facts prove safe (:mod:`bpf_vm.engine.facts`): the context and the running
frame's stack are read and written at constant offsets of their buffers (``cx`` and
``sk``, locals set at entry and, for ``sk``, at each call and return), map values without
their NULL and bounds tests.  Its entry checks that the run's context is one the facts
hold for, and otherwise hands over to the program's fully checked function
(``Compiled.checked_whole``; a program without facts has only that one).

BPF-to-BPF calls within the program push a :class:`~bpf_vm.engine.control.Frame` on the
invocation's frame stack, zero the next stack, fill the callee's may_goto counter and
continue at the callee; ``exit`` pops it.  Faults raise as in the block engine; the
function records the block it was in (``state.at``) and the budget left
(``state.left``) on the way out, so the run loop can name the pc of a fault that does
not carry its own (a helper's, a call's).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import InternalError
from ..isa import BPF_MAX_LOOPS, MAX_CALL_FRAMES
from ..memory import ZERO_STACK, stack_top
from .cfg import block_layout, block_starts
from .codegen import compile_source
from .control import EngineState, Frame, _Fault
from .facts import AccessPlan, FactGen

if TYPE_CHECKING:
    from ..program import Program

EXIT = 0
HANDOFF = 1
SWITCH = 2
RETURN = 3

#: A whole-program function: ``(r, pc, left)`` -> ``(how, obj, left, pc)``, ``how`` one
#: of the codes above.
WholeFn = Callable[[list[int], int, int], tuple[int, Any, int, int]]

_REGS = ", ".join(f"r{n}" for n in range(11))


class WholeGen(FactGen):
    """Renders a program as one function with the registers as locals; with a ``plan``
    (:mod:`bpf_vm.engine.facts`), without the checks the verifier's facts drop."""

    def __init__(self, program: Program, state: EngineState,
                 plan: AccessPlan | None = None) -> None:
        super().__init__(program, state, plan)
        self.start = 0   # the block being rendered (jumps to it or before it loop back)
        #: source line -> (read or write, size, pc, base register, offset) of the map
        #: value accesses with facts (see FactGen.stale_handler)
        self.stale_lines: dict[int, tuple[str, int, int, str, int]] = {}

    @staticmethod
    def R(n: int) -> str:
        return f"r{n}"

    def source(self) -> str:
        insns = self.program.insns
        n = len(insns)
        starts = block_starts(insns)
        out = ["def _run(r, pc, left):", f"    {_REGS} = r",
               *("    " + line for line in self.prologue()), "    try:", "        while True:"]
        ind = " " * 16
        for start, size, _ in block_layout(insns):
            self.start = start
            body = self.fell_off() if start == n else self.block_body(start, starts)
            out += [f"            if pc == {start}:",
                    f"{ind}if left < {size}:", f"{ind}    break", f"{ind}left -= {size}",
                    *(ind + line for line in body)]
        out.append("            raise _NoBlock(f'no basic block starts at pc {pc}')")
        handler, self.stale_lines = self.stale_handler("\n".join(out))
        out += [*handler,
                "    except BaseException:",
                "        _st.at = pc",
                "        _st.left = left",
                "        raise",
                f"    r[:] = {_REGS}",
                f"    return {HANDOFF}, None, left, pc"]
        return "".join(line + "\n" for line in out)

    # -- control flow ---------------------------------------------------------------------

    def _goto(self, target: int) -> list[str]:
        """Continue at ``target``: later blocks are reached by falling through the guards,
        this one and earlier ones by restarting them."""
        return [f"pc = {target}"] if target > self.start else [f"pc = {target}", "continue"]

    def fall(self, nxt: int) -> list[str]:
        return [f"pc = {nxt}"]

    def jump(self, pc: int, target: int) -> list[str]:
        return self._goto(target)

    def branch(self, cond: str, pc: int, target: int, nxt: int) -> list[str]:
        if target > self.start:
            return [f"pc = {target} if {cond} else {nxt}"]
        return [f"if {cond}:", *(f"    {line}" for line in self._goto(target)), f"pc = {nxt}"]

    def local_call(self, pc: int, nxt: int, target: int) -> list[str]:
        return [f"if len(_frames) >= {MAX_CALL_FRAMES - 1}:",
                f"    raise _Fault('call stack too deep: more than {MAX_CALL_FRAMES} frames',"
                f" pc={pc})",
                f"_frames.append(_Frame(_me, {nxt}, (r6, r7, r8, r9, r10)))",
                "_d = len(_frames)",
                "_stacks[_d][:] = _ZERO_STACK",
                f"_loops[_d] = {BPF_MAX_LOOPS}",
                "r10 = _tops[_d]",
                *self.frame_changed("_d"),
                *self._goto(target)]

    def tail_call(self, pc: int, nxt: int) -> list[str]:
        return ["_tc = _tail(r2, r3)",
                "if _tc is not None:",
                f"    r[:] = {_REGS}",
                f"    return {SWITCH}, _tc, left, {pc}",
                f"pc = {nxt}"]

    def exit(self, pc: int) -> list[str]:
        return ["if _frames:",
                "    _fr = _frames.pop()",
                "    r6, r7, r8, r9, r10 = _fr.saved",
                "    if _fr.compiled is _me and _fr.ret_pc >= 0:",
                "        pc = _fr.ret_pc",
                *("        " + line for line in self.frame_changed("len(_frames)")),
                "        continue",
                f"    r[:] = {_REGS}",
                f"    return {RETURN}, _fr, left, {pc}",
                "r[0] = r0",
                f"return {EXIT}, None, left, {pc}"]


class _NoBlock(InternalError):
    """The generated code was entered at a pc where no block starts (a bug of ours)."""


def translate(program: Program, state: EngineState, me: Any,
              plan: AccessPlan | None = None) -> WholeFn:
    """Render and compile ``program`` as one function for the VM of ``state`` (see the
    module doc).  ``me`` is the program's Compiled, which frames of its calls name;
    with a ``plan``, the checks the verifier's facts make unnecessary are left out, and
    the function hands over to ``me.run_checked`` when the run's context is not one
    the facts hold for (:mod:`bpf_vm.engine.facts`)."""
    gen = WholeGen(program, state, plan)
    source = gen.source()
    g = gen.globals
    g.update(_frames=state.frames, _Frame=Frame, _me=me, _tail=state.tail_target,
             _stacks=[region.buf for region in state.space.stacks],
             _tops=[stack_top(d) for d in range(MAX_CALL_FRAMES)],
             _ZERO_STACK=ZERO_STACK, _NoBlock=_NoBlock)
    if plan is not None:
        g.update(_checked=me.run_checked, _stale=gen.stale_lines, _Fault=_Fault,
                 _StaleErrors=(KeyError, IndexError, struct.error))
    exec(compile_source(source, program.name), g)
    fn: WholeFn = g["_run"]
    return fn


__all__ = ["EXIT", "HANDOFF", "RETURN", "SWITCH", "WholeFn", "WholeGen", "translate"]
