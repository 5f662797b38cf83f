"""The block engine's code: one Python function per basic block (``_b<pc>``), which runs
the whole block and returns the next pc, and one per instruction slot (``_i<pc>``, made
only when needed: tracing, the last steps of a budget), from the same statements.  ``r``
is the list of the eleven registers (unsigned 64-bit ints); one ``exec`` compiles all
the blocks of a program.  The run loop (:func:`bpf_vm.engine.loops.run_blocks`) calls a
block while the budget covers all of it, then the one-instruction functions, so counts,
budget and fault pcs are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .cfg import block_layout, block_starts
from .codegen import CodeGen, compile_source
from .control import EngineState

if TYPE_CHECKING:
    from ..program import Program

Op = Callable[[list[int]], int]


class BlockGen(CodeGen):
    """Renders a program as the block engine's source: ``r[n]`` names register ``n``; a
    block is left by returning the next pc (calls, exits and tail calls go through the
    run state, which raises to leave the program)."""

    @staticmethod
    def R(n: int) -> str:
        return f"r[{n}]"

    @staticmethod
    def fn(name: str, body: list[str]) -> str:
        return f"def {name}(r):\n" + "".join(f"    {line}\n" for line in body)

    def build(self) -> tuple[str, str, dict[str, Any]]:
        """The source of the blocks (``_b<pc>``, one per entry of :func:`block_layout`),
        that of the one-instruction functions (``_i<pc>``), and their globals."""
        insns = self.program.insns
        n = len(insns)
        stmts: list[tuple[list[str], bool]] = []
        parts = []
        for pc, insn in enumerate(insns):
            stmt = self.slot(pc)
            stmts.append(stmt)
            body, ends = stmt
            parts.append(self.fn(f"_i{pc}", body if ends else
                                 [*body, f"return {pc + insn.slots if insn else pc + 1}"]))
        parts.append(self.fn(f"_i{n}", self.fell_off()))
        ops_source = "".join(parts)
        parts = []
        starts = block_starts(insns)
        for start, _, _ in block_layout(insns):
            if start == n:
                parts.append(self.fn(f"_b{n}", self.fell_off()))
                continue
            parts.append(self.fn(f"_b{start}", self.block_body(start, starts, stmts)))
        return "".join(parts), ops_source, self.globals

    # -- control flow: the block engine returns the next pc --------------------------------

    def fall(self, nxt: int) -> list[str]:
        return [f"return {nxt}"]

    def jump(self, pc: int, target: int) -> list[str]:
        return [f"return {target}"]

    def branch(self, cond: str, pc: int, target: int, nxt: int) -> list[str]:
        return [f"return {target} if {cond} else {nxt}"]

    def local_call(self, pc: int, nxt: int, target: int) -> list[str]:
        return [f"return _call(r, {nxt}, {target})"]

    def tail_call(self, pc: int, nxt: int) -> list[str]:
        return [f"return _tail_call(r, {nxt})"]

    def exit(self, pc: int) -> list[str]:
        return ["return _exit(r)"]


def build_blocks(program: Program, state: EngineState, me: object
                 ) -> tuple[list[Op | None], str, dict[str, Any]]:
    """Compile ``program``'s blocks for the VM of ``state``: the block functions indexed
    by the pc where each starts (None elsewhere, one entry past the end included), the
    source of the one-instruction functions (for :func:`build_ops`) and the globals they
    share.  ``me`` is the program's Compiled, which frames of its calls name."""
    source, ops_source, g = BlockGen(program, state).build()
    g["_call"] = state.make_call(me)
    g["_exit"] = state.exit_frame
    g["_tail_call"] = state.tail_call
    exec(compile_source(source, program.name), g)
    blocks: list[Op | None] = [None] * (len(program.insns) + 1)
    for start, _, _ in block_layout(program.insns):
        blocks[start] = g[f"_b{start}"]
    return blocks, ops_source, g


def build_ops(program: Program, ops_source: str, g: dict[str, Any]) -> list[Op]:
    """Compile the one-instruction functions, indexed by pc (one past the end included)."""
    exec(compile_source(ops_source, program.name), g)
    return [g[f"_i{pc}"] for pc in range(len(program.insns) + 1)]


__all__ = ["BlockGen", "Op", "build_blocks", "build_ops"]
