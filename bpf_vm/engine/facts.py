"""The verifier's facts, put to use: loads and stores it proved safe lose their checks.

A verified program carries the verifier's facts (:mod:`bpf_vm.verified`): for each load,
store and atomic, what it touches on every path that reaches it.  The translating engine
renders three of them without the run-time check every other access gets (a region
lookup, a bounds test, a writability test, see :meth:`CodeGen.ldx`):

* ``("ctx", off)``: the context at the fixed offset ``off``.  The access is
  ``cx[off]``, ``cx`` being the run's context buffer, a local of the generated function.
  What the verifier proved holds for the context of the program's type, so the function
  checks once, at entry, that this run's context is one: a context was given, r1 holds
  it at pc 0, it has the bytes the facts reach and, if one of them stores, it is
  writable.  When it is not (``Vm.run(prog, None)``, a short or read-only context, a
  tail call into the program from an unverified one with another r1), the function
  hands over to the program's fully checked code for the rest of the run, which then
  faults as always.
* ``("stack", off)``: the running frame's own stack, ``off`` below its top.  The access
  is ``sk[512 + off]``, ``sk`` being the running frame's stack buffer, a local set at
  entry and wherever a BPF-to-BPF call or return changes frames.  Consecutive such stores
  are written together, as stores of one checked group are.
* ``("map_value", None)``, ``("mem", None)``: a map value or a ring-buffer record, not
  NULL, in bounds; which one depends on the key or the reservation.  The region is
  still looked up from the address, without the NULL and bounds tests (a store still
  tests that the region is writable), once for the accesses of a block through one
  base register it does not change (no helper runs inside a block, so no element can
  go away, and no record be submitted, in between).  A pointer kept past the deletion of its
  element (the verifier allows it, the VM unmaps the element) then meets no region, or
  another region: the lookup or the access raises, and the function turns that into
  the fault the checked code gives, found by the line that raised (each such access's
  lines end in a ``#@<pc>`` comment) and the address its base register gives.

``("mixed", None)`` and pcs without a fact keep their check; so does every access of a
program without facts, and every access in the block engine and the traced loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..insn import Insn
from ..isa import MAX_BPF_STACK, SIZE_BYTES, Kind
from ..memory import CTX_SLOT, slot_base
from ..verified import verifier_facts
from .cfg import ENDS_BLOCK, written
from .codegen import CodeGen, _lit
from .control import M64

if TYPE_CHECKING:
    from ..program import Program
    from .control import EngineState

#: the context's address: r1 at entry
CTX_ADDR = slot_base(CTX_SLOT)
_MEMORY = (Kind.LDX, Kind.ST, Kind.STX, Kind.ATOMIC)


@dataclass(frozen=True, slots=True)
class AccessPlan:
    """What the engine takes from a program's facts: ``ctx`` (pc -> offset in the
    context), ``stack`` (pc -> offset in the running frame's stack buffer, 0..511) and
    ``map_value`` (the pcs of map value accesses); ``ctx_end``, the bytes of context
    the ctx accesses reach, and ``ctx_stores``, whether one of them writes."""
    ctx: Mapping[int, int]
    stack: Mapping[int, int]
    map_value: frozenset[int]
    ctx_end: int
    ctx_stores: bool

    def __contains__(self, pc: int) -> bool:
        return pc in self.ctx or pc in self.stack or pc in self.map_value


def _size(insn: Insn) -> int:
    size = insn.spec.size
    assert size is not None, insn
    return SIZE_BYTES[size]


def access_plan(program: Program) -> AccessPlan | None:
    """The plan for ``program``'s facts, or None when it has none that drop a check.
    A fact that does not fit its instruction (another program's facts) is ignored."""
    facts = verifier_facts(program)
    if facts is None:
        return None
    insns = program.insns
    ctx: dict[int, int] = {}
    stack: dict[int, int] = {}
    map_value: set[int] = set()
    ctx_end, ctx_stores = 0, False
    for pc, (kind, off) in facts.access.items():
        insn = insns[pc] if 0 <= pc < len(insns) else None
        if insn is None or insn.kind not in _MEMORY:
            continue
        size = _size(insn)
        if kind == "ctx" and off is not None and off == insn.off >= 0 \
                and insn.kind is not Kind.ATOMIC:
            ctx[pc] = off
            ctx_end = max(ctx_end, off + size)
            ctx_stores = ctx_stores or insn.kind is not Kind.LDX
        elif kind == "stack" and off is not None and -MAX_BPF_STACK <= off <= -size:
            stack[pc] = MAX_BPF_STACK + off
        elif kind in ("map_value", "mem"):   # a region looked up, mapped and in bounds
            map_value.add(pc)
    if not (ctx or stack or map_value):
        return None
    return AccessPlan(ctx, stack, frozenset(map_value), ctx_end, ctx_stores)


class FactGen(CodeGen):
    """The code generator with a program's :class:`AccessPlan` (None: every access
    checked, as :class:`CodeGen`).  The translating engine's generator derives from it
    and calls :meth:`prologue`, :meth:`frame_changed` and :meth:`stale_handler`."""

    def __init__(self, program: Program, state: EngineState,
                 plan: AccessPlan | None = None) -> None:
        super().__init__(program, state)
        self.plan = plan
        #: the block being rendered: map value pc -> (its group's first pc, first?)
        self.value_groups: dict[int, tuple[int, bool]] = {}

    def unchecked(self, pc: int) -> bool:
        return self.plan is not None and pc in self.plan

    def groups(self, start: int, starts: set[int]
               ) -> dict[int, tuple[int, bool, int, int, bool]]:
        """The checked groups of the block at ``start`` (:meth:`CodeGen.groups`); the
        map value accesses of that block through one unchanged base register are
        grouped too, in :attr:`value_groups`, for the accesses rendered next."""
        self.value_groups = {}
        plan = self.plan
        if plan is not None and plan.map_value:
            insns = self.program.insns
            open_: dict[int, int] = {}       # base register -> its group's first pc
            pc = start
            while (insn := insns[pc]) is not None:
                if pc in plan.map_value:
                    base = insn.src if insn.kind is Kind.LDX else insn.dst
                    first = open_.setdefault(base, pc)
                    self.value_groups[pc] = (first, first == pc)
                for reg in written(insn):
                    open_.pop(reg, None)
                pc += insn.slots
                if insn.kind in ENDS_BLOCK or pc in starts:
                    break
        return super().groups(start, starts)

    # -- the function's entry, frame changes, faults of stale map values ------------------

    def prologue(self) -> list[str]:
        """Statements at the function's entry (after the registers are unpacked): the
        running frame's stack, and the run's context checked against the facts."""
        plan = self.plan
        if plan is None:
            return []
        lines = ["sk = _stacks[len(_frames)]"] if plan.stack else []
        if plan.ctx:
            lines += [f"cx = _st.{'cxw' if plan.ctx_stores else 'cx'}",
                      f"if cx is None or len(cx) < {plan.ctx_end} or"
                      f" (pc == 0 and r1 != {_lit(CTX_ADDR)}):",
                      "    _st.cx = _st.cxw = None",
                      "    return _checked(r, pc, left)"]
        return lines

    def frame_changed(self, depth: str) -> list[str]:
        """After a call or return made the frame at ``depth`` (an expression) run."""
        return [f"sk = _stacks[{depth}]"] if self.plan is not None and self.plan.stack else []

    def stale_handler(self, source: str
                      ) -> tuple[list[str], dict[int, tuple[str, int, int, str, int]]]:
        """The ``except`` clause that turns what a stale map value pointer raises into
        the checked code's fault, and the table it reads: line -> (read or write, size,
        pc, base register, offset), from the ``#@<pc>`` marks in ``source`` (the
        function's statements so far, its first line ``def``).  The registers are
        those of the access: it raised before writing any."""
        if self.plan is None or not self.plan.map_value:
            return [], {}
        insns = self.program.insns
        lines: dict[int, tuple[str, int, int, str, int]] = {}
        for n, line in enumerate(source.splitlines(), 1):
            at = line.rfind("  #@")
            if at >= 0:
                pc = int(line[at + 4:])
                insn = insns[pc]
                assert insn is not None
                load = insn.kind is Kind.LDX
                lines[n] = ("read" if load else "write", _size(insn), pc,
                            self.R(insn.src if load else insn.dst), insn.off)
        return ["    except _StaleErrors as _e:",
                "        _st.at = pc",
                "        _st.left = left",
                "        _w = _stale.get(_e.__traceback__.tb_lineno)",
                "        if _w is None:",
                "            raise",
                "        _a = (locals()[_w[3]] + _w[4]) & 0xffffffffffffffff",
                "        raise _Fault(_w[0], _a, _w[1], _w[2]) from None"], lines

    # -- the accesses ---------------------------------------------------------------------

    def _map_value(self, insn: Insn, pc: int, body: list[str]) -> list[str]:
        """``body``, an access to ``v<g>[0]`` at ``w<g> + off`` (``v<g>``: the region of
        its group, ``w<g>`` the base register's offset in it), its group's lookup first
        when it is the group's first; each line marked."""
        first, lookup = self.value_groups.get(pc, (pc, True))
        base = self.R(insn.src if insn.kind is Kind.LDX else insn.dst)
        head = [f"v{first} = tab[{base} >> 32]", f"w{first} = {base} & 0xffffffff"] \
            if lookup else []
        return [f"{line}  #@{pc}" for line in (*head, *body)]

    def _at(self, pc: int, insn: Insn) -> tuple[str, str]:
        """The buffer and offset expressions of the map value access at ``pc``."""
        g = self.value_groups.get(pc, (pc, True))[0]
        return f"v{g}[0]", f"w{g} + {insn.off}" if insn.off else f"w{g}"

    def ldx(self, insn: Insn, pc: int) -> list[str]:
        plan = self.plan
        if plan is None or pc not in plan:
            return super().ldx(insn, pc)
        if pc in plan.ctx:
            return [self.access(insn, "cx", str(plan.ctx[pc]))]
        if pc in plan.stack:
            return [self.access(insn, "sk", str(plan.stack[pc]))]
        return self._map_value(insn, pc, [self.access(insn, *self._at(pc, insn))])

    def _value_writable(self, insn: Insn, pc: int) -> list[str]:
        """A map value store's writability test."""
        g = self.value_groups.get(pc, (pc, True))[0]
        addr = f"({self.R(insn.dst)} + {insn.off}) & {_lit(M64)}" if insn.off \
            else self.R(insn.dst)
        return [f"if not v{g}[2]:", f"    _wfault({addr}, {_size(insn)}, {pc})"]

    def store(self, insn: Insn, pc: int) -> list[str]:
        plan = self.plan
        if plan is None or pc not in plan:
            return super().store(insn, pc)
        if pc in plan.ctx:
            return [self.access(insn, "cx", str(plan.ctx[pc]))]
        if pc in plan.stack:
            return [self.access(insn, "sk", str(plan.stack[pc]))]
        return self._map_value(insn, pc, [*self._value_writable(insn, pc),
                                          self.access(insn, *self._at(pc, insn))])

    def atomic(self, insn: Insn, pc: int) -> list[str]:
        plan = self.plan
        if plan is None or pc not in plan or pc in plan.ctx:
            return super().atomic(insn, pc)
        if pc in plan.stack:
            return self.atomic_op(insn, "sk", str(plan.stack[pc]))
        return self._map_value(insn, pc, [*self._value_writable(insn, pc),
                                          *self.atomic_op(insn, *self._at(pc, insn))])

    # -- consecutive stack stores, written together ---------------------------------------

    def fact_run(self, pc: int, starts: set[int]) -> list[int]:
        """The stack stores with facts from ``pc`` on, consecutive instructions of one
        block writing disjoint bytes (empty when ``pc`` is not one)."""
        plan = self.plan
        if plan is None:
            return []
        insns = self.program.insns
        run: list[int] = []
        spans: list[tuple[int, int]] = []
        while True:
            insn = insns[pc] if pc < len(insns) else None
            if insn is None or insn.kind not in (Kind.ST, Kind.STX) or pc not in plan.stack:
                return run
            lo = plan.stack[pc]
            hi = lo + _size(insn)
            if any(lo < b and a < hi for a, b in spans):
                return run
            spans.append((lo, hi))
            run.append(pc)
            pc += 1
            if pc in starts:
                return run

    def fact_stores(self, run: list[int]) -> list[str]:
        assert self.plan is not None
        members = [(self.plan.stack[pc], self.program.insns[pc]) for pc in run]
        return self.store_chunks(members, "sk", "", run[0])  # type: ignore[arg-type]


__all__ = ["CTX_ADDR", "AccessPlan", "FactGen", "access_plan"]
