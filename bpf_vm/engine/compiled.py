"""A program bound to one VM: its block layout, and each engine's code, made on first
use."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..verified import verifier_facts
from .block import Op, build_blocks, build_ops
from .cfg import block_layout
from .control import EngineState
from .facts import access_plan
from .translate import WholeFn, translate

if TYPE_CHECKING:
    from ..program import Program

#: The size of a pc where no block starts: more than any budget, so the run loop steps
#: one instruction at a time from there (never reached: every jump target, call target
#: and return point starts a block).
NO_BLOCK = 1 << 62


class Compiled:
    """A program bound to one VM: its layout and generated code (each engine's compiled
    on first use), plus the function that renders pc -> instruction text for errors and
    traces.

    ``sizes[pc]``, for each pc where a basic block starts, is the number of instructions
    of that block and ``block_last[pc]`` the pc of its last one (where a helper or call
    fault happened); other pcs have no block and a size no budget reaches.

    The block engine: ``blocks[pc]`` runs the block at ``pc`` in one call and returns
    the next pc; ``ops[pc]`` runs the one instruction at ``pc`` (for the traced loop,
    and the last steps before the budget runs out).  The translating engine:
    ``whole`` is the whole program as one function (:mod:`bpf_vm.engine.translate`),
    without the checks the verifier's facts make unnecessary when the program carries
    them (``plan``, :mod:`bpf_vm.engine.facts`; ``verified`` is the facts object it was
    compiled with); ``checked_whole`` keeps every check (the same function when there
    is no plan)."""

    __slots__ = ("_blocks", "_checked", "_globals", "_ops", "_ops_source", "_state",
                 "_whole", "block_last", "layout", "plan", "program", "sizes", "text",
                 "verified")

    def __init__(self, program: Program, text: Callable[[int], str],
                 state: EngineState) -> None:
        self.program = program
        self.text = text
        self._state = state
        self._ops_source = ""
        self._globals: dict[str, Any] = {}
        self._ops: list[Op] | None = None
        self._blocks: list[Op | None] | None = None
        self._whole: WholeFn | None = None
        self._checked: WholeFn | None = None
        self.verified = verifier_facts(program)
        self.plan = access_plan(program)
        n = len(program.insns) + 1
        self.layout = block_layout(program.insns)
        self.sizes = [NO_BLOCK] * n
        self.block_last = list(range(n))
        for start, size, last in self.layout:
            self.sizes[start] = size
            self.block_last[start] = last

    @property
    def blocks(self) -> list[Op | None]:
        """The block engine's functions, indexed by the pc where each block starts."""
        if self._blocks is None:
            self._blocks, self._ops_source, self._globals = build_blocks(
                self.program, self._state, self)
        return self._blocks

    @property
    def ops(self) -> list[Op]:
        """The one-instruction functions, indexed by pc."""
        if self._ops is None:
            self.blocks   # noqa: B018  (renders the statements the ops are made of)
            self._ops = build_ops(self.program, self._ops_source, self._globals)
        return self._ops

    @property
    def whole(self) -> WholeFn:
        """The translating engine's function for the whole program."""
        if self._whole is None:
            self._whole = translate(self.program, self._state, self, self.plan)
        return self._whole

    @property
    def checked_whole(self) -> WholeFn:
        """The whole program as one function with every check."""
        if self.plan is None:
            return self.whole
        if self._checked is None:
            self._checked = translate(self.program, self._state, self)
        return self._checked

    def run_checked(self, r: list[int], pc: int, left: int) -> tuple[int, Any, int, int]:
        """:attr:`checked_whole` called: where ``whole`` hands over when the run's
        context is not one the facts hold for."""
        return self.checked_whole(r, pc, left)


def compile_program(program: Program, state: EngineState, text: Callable[[int], str],
                    engine: str = "block") -> Compiled:
    """Bind ``program`` to the VM that owns ``state`` and render it for ``engine``
    (``"block"`` or ``"translate"``) now, so that what refuses a program (a map
    reference without a map) does so at load; the other engine's code is made if and
    when it is needed."""
    compiled = Compiled(program, text, state)
    if engine == "translate":
        compiled.whole   # noqa: B018
    else:
        compiled.blocks   # noqa: B018
    return compiled


__all__ = ["NO_BLOCK", "Compiled", "compile_program"]
