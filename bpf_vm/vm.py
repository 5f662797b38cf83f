"""The VM: one "kernel" instance that owns an address space, maps and compiled programs,
and runs programs on a context.

``Vm.run`` is the public entry point.  Frames, the tail-call counter, the instruction
budget and the run's effects live in :class:`RunState`, which the generated instruction
functions call back into for the rare operations (calls, exits, tail calls, helpers).
The engines that compile and run programs are in :mod:`bpf_vm.engine`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .effects import Effects
from .engine.compiled import Compiled, compile_program
from .engine.control import M64, Frame, _Exit, _Fault, _Switch
from .engine.loops import StepHook, run_blocks, run_traced, run_translate
from .errors import InternalError, VerifierReject
from .helper_table import HelperFault, HelperTable
from .insn import Insn
from .isa import BPF_MAX_LOOPS, MAX_CALL_FRAMES, MAX_TAIL_CALL_CNT, Pseudo
from .kernel_mem import KernelMemory
from .memory import (
    CODE_SLOT,
    CTX_SLOT,
    MAP_HANDLE_SLOT,
    ZERO_STACK,
    AddressSpace,
    slot_base,
    slot_of,
    stack_top,
)
from .program import MapLike, Program
from .verified import verifier_facts

if TYPE_CHECKING:
    from .maps import Map

DEFAULT_BUDGET = 1_000_000
_STACK_TOP = stack_top(0)
_CTX_BASE = slot_base(CTX_SLOT)


class TailCallCounting(enum.StrEnum):
    """Which failed bpf_tail_call attempts count against MAX_TAIL_CALL_CNT.

    ``jit`` (the default): only successful tail calls count, as with the x86-64 JIT;
    tests/test_tailcall.py checks that this reproduces the host kernel's rules, measured
    there by :func:`bpf_vm.kernel.measure_tail_call_rules`.  ``interpreter``: an attempt
    on an empty slot counts too, because kernel/bpf/core.c's interpreter increments the
    counter before it reads the slot.  An index out of range never counts."""
    JIT = "jit"
    INTERPRETER = "interpreter"


class RunResult:
    """What one run gave: r0, the instructions executed, the tail calls taken, the
    context's bytes after the run (None without a context), the entry program's name and
    the run's :class:`~bpf_vm.effects.Effects` (signals, override, output).

    The context is kept as the run's own buffer and made ``bytes`` when first read, so a
    caller that does not look at it pays for no copy; a run without effects has an empty
    record made when first read."""

    __slots__ = ("_ctx", "_effects", "insns", "program", "r0", "tail_calls")

    def __init__(self, r0: int, insns: int, tail_calls: int,
                 ctx: bytes | bytearray | None, program: str,
                 effects: Effects | None = None) -> None:
        self.r0 = r0
        self.insns = insns
        self.tail_calls = tail_calls
        self._ctx = ctx
        self.program = program
        self._effects = effects

    @property
    def ctx(self) -> bytes | None:
        c = self._ctx
        if c is not None and type(c) is not bytes:
            c = self._ctx = bytes(c)
        return c

    @ctx.setter
    def ctx(self, value: bytes | None) -> None:
        self._ctx = value

    @property
    def effects(self) -> Effects:
        e = self._effects
        if e is None:
            e = self._effects = Effects()
        return e

    def _key(self) -> tuple[int, int, int, bytes | None, str, Effects]:
        return (self.r0, self.insns, self.tail_calls, self.ctx, self.program, self.effects)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunResult):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"RunResult(r0={self.r0!r}, insns={self.insns!r}, tail_calls="
                f"{self.tail_calls!r}, ctx={self.ctx!r}, program={self.program!r},"
                f" effects={self.effects!r})")


#: The engines that run programs when no step hook is given: ``translate`` (the
#: default: a whole program per Python function, bpf_vm.engine.translate) and ``block``
#: (a basic block per Python call, bpf_vm.engine.block).  Both give the same results, counts and
#: faults; tests run both.
ENGINES = ("translate", "block")


class RunState:
    """Per-VM mutable state of the current invocation."""

    def __init__(self, vm: Vm) -> None:
        self.vm = vm
        self.space = vm.space
        self.frames: list[Frame] = []
        #: may_goto's counter per frame depth (see EngineState); filled as frames start
        self.loops: list[int] = [BPF_MAX_LOOPS] * MAX_CALL_FRAMES
        self.cur: Compiled | None = None
        self.tail_calls = 0
        self.remaining = 0
        self.executed = 0
        self.tail_event = ""
        self.ctx_addr = 0
        #: the run's context buffer (None without one, or when r1 was preset), and the
        #: same when it is writable: what code compiled with ctx facts reads and writes
        #: directly (bpf_vm.engine.facts)
        self.cx: bytearray | None = None
        self.cxw: bytearray | None = None
        #: what the run did outside the VM; None until a helper records an effect
        self.effects: Effects | None = None
        self.at = 0      # translated code: the block it was in when it raised
        self.left = 0    # translated code: the budget it had left then
        #: prog array handle -> the map (checked once; maps are never unregistered)
        self._prog_arrays: dict[int, Any] = {}

    # -- called from generated code ---------------------------------------------------

    def make_call(self, compiled: Compiled) -> Callable[[list[int], int, int], int]:
        def call(r: list[int], ret_pc: int, target: int) -> int:
            depth = len(self.frames) + 1
            if depth >= MAX_CALL_FRAMES:
                raise _Fault(f"call stack too deep: more than {MAX_CALL_FRAMES} frames")
            assert self.cur is not None
            self.frames.append(Frame(self.cur, ret_pc, (r[6], r[7], r[8], r[9], r[10])))
            self.space.stacks[depth].buf[:] = ZERO_STACK
            self.loops[depth] = BPF_MAX_LOOPS
            r[10] = stack_top(depth)
            return target
        return call

    def exit_frame(self, r: list[int]) -> int:
        if not self.frames:
            raise _Exit()
        frame = self.frames.pop()
        r[6], r[7], r[8], r[9], r[10] = frame.saved
        if frame.ret_pc < 0:
            raise _Exit()
        if frame.compiled is not self.cur:
            self.cur = frame.compiled
            raise _Switch(frame.ret_pc)
        return frame.ret_pc

    def tail_target(self, r2: int, r3: int) -> Compiled | None:
        """bpf_tail_call(ctx, r2 = prog array, r3 = index): the program to switch to, or
        None when the call falls through (index out of range, empty slot, the limit of
        MAX_TAIL_CALL_CNT reached); counts the tail call as the VM's mode says."""
        vm = self.vm
        prog_array: Any = self._prog_arrays.get(r2)
        if prog_array is None:
            prog_array = vm._maps_by_handle.get(r2)
            if not callable(getattr(prog_array, "program_at", None)):
                raise _Fault("bpf_tail_call: r2 is not a pointer to a prog array map")
            self._prog_arrays[r2] = prog_array
        index = r3 & 0xFFFFFFFF
        self.tail_event = "tail_call_failed"
        if vm.tail_call_counting is TailCallCounting.INTERPRETER:
            # an index out of range never counts; an empty slot does
            if index >= prog_array.max_entries or self.tail_calls >= MAX_TAIL_CALL_CNT:
                return None
            self.tail_calls += 1
            target = prog_array.program_at(index)
            if target is None:
                return None
        else:
            target = prog_array.program_at(index)   # None out of range too
            if target is None or self.tail_calls >= MAX_TAIL_CALL_CNT:
                return None
            self.tail_calls += 1
        self.tail_event = "tail_call"
        # the target runs in this frame, from its first instruction: in the kernel, the
        # store that fills its may_goto counter
        self.loops[len(self.frames)] = BPF_MAX_LOOPS
        compiled = vm._compiled.get(id(target))
        if compiled is None or compiled.program is not target:
            compiled = vm.compile(target)
        return compiled

    def tail_call(self, r: list[int], nxt: int) -> int:
        """The block engine's bpf_tail_call: returns ``nxt`` or raises _Switch."""
        target = self.tail_target(r[2], r[3])
        if target is None:
            return nxt
        self.cur = target
        raise _Switch(0)


class Vm:
    """A BPF virtual machine: address space, maps, helpers and compiled programs.

    ``host`` answers what helpers need of the world outside (see bpf_vm.host); the VM
    itself never touches processes."""

    def __init__(self, *, helpers: HelperTable | None = None, host: Any = None,
                 budget: int = DEFAULT_BUDGET,
                 tail_call_counting: TailCallCounting | str = TailCallCounting.JIT,
                 engine: str = "translate") -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.engine = engine
        if helpers is None:
            from .helpers import default_helpers
            helpers = default_helpers()
        self.helpers = helpers
        self.host = host
        #: emulated kernel objects (bpf_vm.kernel_mem): what probe-read helpers reach
        #: behind kernel pointers the VM hands programs
        self.kernel_mem = KernelMemory()
        self.budget = budget
        self.tail_call_counting = TailCallCounting(tail_call_counting)
        self.space = AddressSpace()
        self._stack0 = self.space.stacks[0].buf
        self.state = RunState(self)
        self._ctx_buf: bytearray | None = None   # the last run's context (see _invoke)
        self._compiled: dict[int, Compiled] = {}
        self._maps_by_handle: dict[int, Any] = {}
        self._maps_by_fd: dict[int, Any] = {}
        self._next_fd = 3

    # -- maps --------------------------------------------------------------------------

    def register_map(self, m: Map | MapLike) -> int:
        """Make ``m`` known to programs of this VM; returns its fd (for BPF_PSEUDO_MAP_FD)."""
        for fd, known in self._maps_by_fd.items():
            if known is m:
                return fd
        fd = self._next_fd
        self._next_fd += 1
        self._maps_by_fd[fd] = m
        self._maps_by_handle[self.map_handle(m, fd)] = m
        return fd

    def map_handle(self, m: Any, fd: int | None = None) -> int:
        """The value a program holds for a map pointer (never dereferenceable)."""
        if fd is None:
            fd = self.register_map(m)
        return slot_base(MAP_HANDLE_SLOT) | (fd << 8)

    def map_at(self, handle: int) -> Any:
        return self._maps_by_handle.get(handle)

    def map_by_fd(self, fd: int) -> Any:
        return self._maps_by_fd.get(fd)

    def resolve_map_ref(self, program: Program, insn: Insn) -> int | None:
        """The 64-bit value of an ld_imm64 that refers to a map (by fd or by index)."""
        src = insn.src
        if src in (Pseudo.MAP_FD, Pseudo.MAP_VALUE):
            m = self._maps_by_fd.get(insn.imm)
        else:
            idx = insn.imm
            m = program.maps[idx] if 0 <= idx < len(program.maps) else None
        if m is None:
            return None
        if src in (Pseudo.MAP_FD, Pseudo.MAP_IDX):
            return self.map_handle(m)
        offset = insn.imm_hi & 0xFFFFFFFF
        addr: int | None = (m.direct_value_address(offset)
                            if hasattr(m, "direct_value_address") else None)
        if addr is None:
            raise VerifierReject(f"map '{getattr(m, 'name', '?')}' has no direct value access"
                                 f" at offset {offset}")
        return addr

    # -- programs ----------------------------------------------------------------------

    def compile(self, program: Program) -> Compiled:
        """Bind ``program`` to this VM (once; again when the verifier's facts it carries
        changed since, see :mod:`bpf_vm.verified`) and render its code."""
        c = self._compiled.get(id(program))
        if c is None or c.program is not program or c.verified is not verifier_facts(program):
            def text(pc: int, _p: Program = program) -> str:
                from .disasm import format_insn
                if pc >= len(_p.insns):
                    return "<end of program>"
                insn = _p.insns[pc]
                return "<second half of ld_imm64>" if insn is None else format_insn(insn, pc)
            self._check_license(program)
            for m in program.maps:
                self.register_map(m)
            c = compile_program(program, self.state, text, self.engine)
            self._compiled[id(program)] = c
        return c

    def _check_license(self, program: Program) -> None:
        from .license import license_is_gpl_compatible
        if license_is_gpl_compatible(program.license):
            return
        from .isa import CallKind, Kind
        for pc, insn in enumerate(program.insns):
            if insn is not None and insn.kind is Kind.CALL and insn.src == CallKind.HELPER:
                h = self.helpers.get(insn.imm)
                if h is not None and h.proto.gpl_only:
                    raise VerifierReject(f"cannot call GPL-restricted function bpf_{h.proto.name}"
                                         f" from a program with license '{program.license}'", pc)

    def run(self, program: Program, ctx: bytes | bytearray | None = None, *,
            ctx_writable: bool = True, regs: dict[int, int] | None = None,
            trace: StepHook | None = None, budget: int | None = None) -> RunResult:
        """Run ``program`` once.  r1 = the context's address (0 without one), r10 = the
        top of a zeroed 512-byte stack.  ``regs`` presets other registers (the
        conformance protocol puts the memory length in r2).  The context is copied once,
        into the buffer the program sees; the result's ``ctx`` is that buffer."""
        r0 = self._invoke(program, ctx, ctx_writable, regs, trace, budget)
        st = self.state
        return RunResult(r0, st.executed, st.tail_calls, self._ctx_buf, program.name,
                         st.effects)

    def run_r0(self, program: Program, ctx: bytes | bytearray | None = None, *,
               ctx_writable: bool = True) -> int:
        """``run(program, ctx, ctx_writable=...).r0`` without building a RunResult: the
        same run, faults and budget (``self.budget``).  The counts stay readable in
        ``self.state.executed`` and ``self.state.tail_calls``, and the run's effects in
        ``self.state.effects`` (None when it had none), until the next run."""
        return self._invoke(program, ctx, ctx_writable, None, None, None)

    def _invoke(self, program: Program, ctx: bytes | bytearray | None, ctx_writable: bool,
                regs: dict[int, int] | None, trace: StepHook | None, budget: int | None
                ) -> int:
        """One run: returns r0 and leaves the context's buffer (None without a context)
        in ``self._ctx_buf`` for ``run``'s result."""
        compiled = self._compiled.get(id(program))
        if compiled is None or compiled.program is not program:
            compiled = self.compile(program)
        st = self.state
        if st.frames:
            raise InternalError("Vm.run called re-entrantly")
        st.cur = compiled
        st.tail_calls = 0
        st.executed = 0
        st.remaining = self.budget if budget is None else budget
        st.effects = None
        st.loops[0] = BPF_MAX_LOOPS
        self._stack0[:] = ZERO_STACK
        if ctx is None:
            self._ctx_buf = st.cx = st.cxw = None
            st.ctx_addr = 0
            r = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, _STACK_TOP]
        else:
            ctx_buf = self._ctx_buf = st.cx = bytearray(ctx)
            st.cxw = ctx_buf if ctx_writable else None
            self.space.set_context(ctx_buf, ctx_writable)
            st.ctx_addr = _CTX_BASE
            r = [0, _CTX_BASE, 0, 0, 0, 0, 0, 0, 0, 0, _STACK_TOP]
        if regs:
            for k, v in regs.items():
                r[k] = v & M64
            if 1 in regs:
                st.cx = st.cxw = None
        try:
            if trace is not None:
                return run_traced(st, 0, r, trace)
            if self.engine == "translate":
                return run_translate(st, 0, r)
            return run_blocks(st, 0, r)
        finally:
            if st.frames:
                st.frames.clear()
            if ctx is not None:
                self.space.clear_context()
                st.cx = st.cxw = None

    def call_function(self, func_addr: int, args: tuple[int, ...]) -> int:
        """Run the subprogram at a BPF_PSEUDO_FUNC address as a callback (bpf_loop):
        a new frame, r1-r5 = args, returns its r0.  Shares the invocation's budget."""
        st = self.state
        if slot_of(func_addr) != CODE_SLOT or st.cur is None:
            raise HelperFault(f"0x{func_addr:x} is not a function pointer")
        target = func_addr & 0xFFFFFFFF
        regs = [0] * 11
        regs[1:1 + len(args)] = args
        depth = len(st.frames) + 1
        if depth >= MAX_CALL_FRAMES:
            raise HelperFault(f"call stack too deep: more than {MAX_CALL_FRAMES} frames")
        caller = st.cur
        st.frames.append(Frame(caller, -1, (0, 0, 0, 0, stack_top(depth - 1))))
        self.space.stacks[depth].buf[:] = ZERO_STACK
        st.loops[depth] = BPF_MAX_LOOPS
        regs[10] = stack_top(depth)
        try:
            if self.engine == "translate":
                return run_translate(st, target, regs)
            return run_blocks(st, target, regs)
        finally:
            st.cur = caller
