"""The walk: every path of the program, one instruction at a time, from the entry
state, with the kernel's exploration order (fall-through first, the branch saved),
state pruning at its prune points, loop detection and the instruction limit
(do_check and is_state_visited in kernel/bpf/verifier.c)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..helper_table import HelperTable
from ..insn import Insn
from ..isa import CallKind, Class, Kind, Pseudo
from . import alu, calls, jumps, mem
from .cfg import Subprog
from .ctx import ProgKind
from .decode import reserved
from .errors import Refuse
from .kdisasm import MAY_GOTO
from .log import Log
from .prune import covers, equal
from .regs import NOT_INIT, RT, Reg, fmt_reg
from .scalar import Scalar
from .state import Frame, State, fmt_items, fmt_state

COMPLEXITY_LIMIT = 1_000_000
MAX_CALL_FRAMES = 8
E2BIG = 7
EINVAL = 22


@dataclass(slots=True)
class Entry:
    """A saved state at a prune point; ``done`` once every path from it is walked."""
    state: State
    pc: int = -1
    done: bool = False
    hit: int = 0
    miss: int = 0


@dataclass(slots=True)
class Pending:
    state: State
    pc: int
    prev: int
    mark: int
    path_len: int


@dataclass
class Facts:
    """What the walk proved of each load, store and atomic, on every path that reaches
    it, for the engines (:attr:`access`: pc -> fact; a pc missing was never reached):

    * ``("ctx", off)``: the context at the fixed offset ``off``, in bounds;
    * ``("stack", off)``: the running frame's own stack at ``off`` from its top
      (-512 <= off, off + size <= 0), in bounds;
    * ``("map_value", None)``: some map value, non-NULL and in bounds;
    * ``("mem", None)``: a ring-buffer record (bpf_ringbuf_reserve's), non-NULL, in
      bounds, writable;
    * ``("mixed", None)``: different kinds of memory on different paths (no fact).

    An instruction with a fact cannot fault; the engine may drop its runtime check."""
    access: dict[int, tuple[str, int | None]] = field(default_factory=dict)

    def note(self, pc: int, fact: tuple[str, int | None]) -> None:
        old = self.access.get(pc)
        if old is None:
            self.access[pc] = fact
        elif old != fact:
            self.access[pc] = ("mixed", None)


class Checker:
    def __init__(self, insns: list[Insn | None], subs: list[Subprog], kind: ProgKind,
                 helpers: HelperTable, maps: Any, privileged: bool, log: Log,
                 live: list[frozenset[int]], gpl: bool, record: bool,
                 func_info: bool = False) -> None:
        self.insns = insns
        self.subs = subs
        self.sub_start = {sp.start: i for i, sp in enumerate(subs)}
        self.kind = kind
        self.helpers = helpers
        self.maps = maps
        self.privileged = privileged
        self.log = log
        self.live = live
        self.gpl = gpl
        self.func_info = func_info
        self.record = record
        self.id_gen = 0
        self.processed = 0
        self.jmps = 0
        self.prev_insns = 0
        self.prev_jmps = 0
        self.total_states = 0
        self.peak_states = 0
        self.cur_states = 0
        self.max_per_insn = 0
        self.explored: dict[int, list[Entry]] = {}
        self.path: list[Entry] = []
        self.pending: list[Pending] = []
        self.stack_depth = [0] * len(subs)
        self.tail_call_subs: set[int] = set()
        self.facts = Facts()
        self.states: dict[int, list[dict[str, str]]] = {}
        self.pc = 0
        self._added: Entry | None = None
        self._scr_regs: set[int] = set()
        self._scr_slots: set[int] = set()
        self.st = self._entry_state()
        self.prune_points = _prune_points(insns)

    # -- state access used by alu/mem/calls --------------------------------------------

    def _entry_state(self) -> State:
        regs = [NOT_INIT] * 11
        regs[1] = Reg(RT.CTX)
        regs[10] = Reg(RT.STACK)
        return State([Frame(regs)])

    def new_id(self) -> int:
        self.id_gen += 1
        return self.id_gen

    def reg(self, i: int) -> Reg:
        return self.st.cur.regs[i]

    def read(self, i: int) -> Reg:
        if i > 10:
            raise Refuse(f"R{i} is invalid", errno=EINVAL)
        r = self.st.cur.regs[i]
        self._scr_regs.add(i)
        if r.type is RT.NOT_INIT:
            raise Refuse(f"R{i} !read_ok")
        return r

    def check_writable(self, i: int) -> None:
        if i > 10:
            raise Refuse(f"R{i} is invalid", errno=EINVAL)
        if i == 10:
            raise Refuse("frame pointer is read only")

    def write(self, i: int, r: Reg, scratch: bool = True) -> None:
        self.st.cur.regs[i] = r
        if scratch:
            self._scr_regs.add(i)

    def scratch_slot(self, spi: int) -> None:
        self._scr_slots.add(spi)

    def note_stack_depth(self, frame: Frame, depth: int) -> None:
        sub = frame.subprog
        if depth > self.stack_depth[sub]:
            self.stack_depth[sub] = depth

    def note_tail_call(self) -> None:
        self.tail_call_subs.add(self.st.cur.subprog)

    def note_access(self, kind: str, off: int | None = None) -> None:
        self.facts.note(self.pc, (kind, off))

    # -- the walk ----------------------------------------------------------------------

    def run(self) -> None:
        log = self.log
        pc = 0
        log.write(f"0:{fmt_state(self.st)}\n")
        while True:
            self.processed += 1
            if self.processed > COMPLEXITY_LIMIT:
                raise Refuse(f"BPF program is too large. Processed {self.processed} insn",
                             errno=E2BIG)
            self.pc = pc
            if self._prune_point(pc) and self._visited(pc):
                if log.level >= 2:
                    log.write(f"{pc}: safe\n")
                nxt = self._pop()
                if nxt is None:
                    return
                pc = nxt[0]
                continue
            insn = self.insns[pc]
            assert insn is not None
            if self.record:
                self._record(pc)
            log.insn(pc, insn, self._ld_value(insn))
            self._scr_regs = set()
            self._scr_slots = set()
            try:
                nxt_pc = self._step(pc, insn)
            except Refuse as e:
                if e.pc is None:
                    e.pc = pc
                raise
            if nxt_pc is None:
                nxt = self._pop()
                if nxt is None:
                    return
                pc = nxt[0]
                continue
            pc = nxt_pc

    def _record(self, pc: int) -> None:
        f = self.st.cur
        regs = {f"R{i}": fmt_reg(r, f.frameno) for i, r in enumerate(f.regs)
                if r.type is not RT.NOT_INIT}
        text = fmt_state(self.st)
        regs["_state"] = text.strip()
        regs["_frame"] = str(f.frameno)
        self.states.setdefault(pc, []).append(regs)

    def _ld_value(self, insn: Insn) -> int | None:
        if insn.opcode == 0x18 and insn.src in (Pseudo.MAP_FD, Pseudo.MAP_IDX):
            return 0xFFFF_8880_0000_0000 | (insn.imm & 0xFFFF) << 8
        return None

    def _pop(self) -> tuple[int, int] | None:
        if not self.pending:
            return None
        p = self.pending.pop()
        for e in self.path[p.path_len:]:
            e.done = True
        del self.path[p.path_len:]
        log = self.log
        if log.level == 1:
            log.reset(p.mark)
            log.strip_newline()
            st, target = p.state.copy(), p.pc
            log.write_lazy(lambda: f" {target}:{fmt_state(st)}\n")
        elif log.level >= 2:
            log.write(f"\nfrom {p.prev} to {p.pc}:{fmt_state(p.state)}\n")
        self.st = p.state
        return p.pc, p.prev

    def push(self, pc: int, state: State, prev: int) -> None:
        self.pending.append(Pending(state, pc, prev, self.log.mark(), len(self.path)))
        if len(self.pending) > 8192:
            raise Refuse("The sequence of 8193 jumps is too complex.", errno=E2BIG)

    # -- pruning -----------------------------------------------------------------------

    def _prune_point(self, pc: int) -> bool:
        return pc in self.prune_points

    def _visited(self, pc: int) -> bool:
        cur = self.st
        self._added = None
        live = self._live_sets()
        entries = self.explored.get(pc, [])
        may_goto = self.insns[pc] is not None and self.insns[pc].opcode == MAY_GOTO  # type: ignore[union-attr]
        evict = False
        for e in entries:
            if e.done:
                if covers(e.state, cur, live):
                    e.hit += 1
                    return True
            elif may_goto:
                if e.state.may_goto_depth != cur.may_goto_depth and \
                        covers(e.state, cur, live):
                    e.hit += 1
                    return True
            elif equal(e.state, cur, live):
                raise Refuse(f"infinite loop detected at insn {pc}", errno=EINVAL,
                             tail=("cur state:" + fmt_state(cur),
                                   "old state:" + fmt_state(e.state, precise=True)))
            e.miss += 1
            if e.miss > e.hit * 3 + 3:
                evict = True
        if evict:
            # as the kernel does: a state that keeps missing is unlikely to help
            kept = [e for e in entries if e.miss <= e.hit * 3 + 3]
            self.explored[pc] = kept
            self.cur_states -= len(entries) - len(kept)
        force = self.insns[pc] is not None and self.insns[pc].opcode == MAY_GOTO  # type: ignore[union-attr]
        if force or (self.jmps - self.prev_jmps >= 2 and self.processed - self.prev_insns >= 8):
            entry = self._added = Entry(cur.copy(), pc)
            self.explored.setdefault(pc, []).append(entry)
            self.path.append(entry)
            self.prev_jmps, self.prev_insns = self.jmps, self.processed
            self.total_states += 1
            self.cur_states += 1
            self.peak_states = max(self.peak_states, self.cur_states)
            self.max_per_insn = max(self.max_per_insn, len(self.explored[pc]) - 1)
        return False

    def _live_sets(self) -> list[frozenset[int]]:
        out = []
        frames = self.st.frames
        for i in range(len(frames)):
            if i == len(frames) - 1:
                out.append(self.live[self.pc])
            else:
                ret = frames[i + 1].callsite + 1
                out.append(self.live[ret] if 0 <= ret < len(self.live) else frozenset(range(10)))
        return out

    # -- one instruction ---------------------------------------------------------------

    def _step(self, pc: int, insn: Insn) -> int | None:
        """Execute ``insn`` abstractly; the next pc, or None when the path ends."""
        bad = reserved(insn)
        if bad is not None:
            if insn.spec is not None and insn.kind is Kind.JCOND:
                self.read(insn.dst)  # the kernel reads the first operand first
            raise Refuse(bad, errno=EINVAL)
        if insn.spec is None:
            if insn.opcode & 0x07 == Class.LD:
                self._ld_abs(insn)
                self._print_insn_state()
                return pc + 1
            if insn.opcode & 0x07 == Class.LDX:
                raise Refuse("BPF_LDX uses reserved fields", errno=EINVAL)
            raise Refuse(f"unknown opcode {insn.opcode:02x}", errno=EINVAL)
        if insn.opcode == MAY_GOTO:
            # the kernel saves the loop body (one more may_goto deep, its imprecise
            # scalars widened against the last pass) and goes on at the target first
            self.jmps += 1
            body = self.st.copy()
            body.may_goto_depth += 1
            prev = next((e.state for e in reversed(self.path)
                         if e.pc == pc and not e.done and e is not self._added), None)
            if prev is not None:
                jumps.widen(prev, body)
            self.push(pc + 1, body, pc)
            return pc + 1 + insn.off
        k = insn.kind
        spec = insn.spec
        if k in (Kind.ALU, Kind.NEG, Kind.END):
            alu.check_alu(self, insn)
            self._print_insn_state()
            return pc + 1
        if k is Kind.LD_IMM64:
            self.check_writable(insn.dst)
            self.write(insn.dst, self._ld_imm64(pc, insn))
            self._print_insn_state()
            return pc + 2
        if k is Kind.LDX:
            self.read(insn.src)
            self.check_writable(insn.dst)
            size = _size(insn)
            val = mem.access(self, insn.src, insn.off, size, False, None,
                             sign=spec.mode is not None and spec.mode.name == "MEMSX")
            assert val is not None
            self.write(insn.dst, val)
            self._print_insn_state()
            return pc + 1
        if k is Kind.ST:
            self.read(insn.dst)
            mem.access(self, insn.dst, insn.off, _size(insn), True, None, st_imm=insn.imm)
            self._print_insn_state()
            return pc + 1
        if k is Kind.STX:
            value = self.read(insn.src)
            self.read(insn.dst)
            mem.access(self, insn.dst, insn.off, _size(insn), True, value)
            self._print_insn_state()
            return pc + 1
        if k is Kind.ATOMIC:
            self._atomic(insn)
            self._print_insn_state()
            return pc + 1
        self.jmps += 1
        if k is Kind.JA:
            off = insn.imm if spec.cls is Class.JMP32 else insn.off
            return pc + 1 + off
        if k is Kind.JCOND:
            return self._cond(pc, insn)
        if k is Kind.CALL:
            return self._call(pc, insn)
        if k is Kind.EXIT:
            return self._exit(pc)
        raise Refuse(f"unknown opcode {insn.opcode:02x}", errno=EINVAL)

    def _ld_abs(self, insn: Insn) -> None:
        """Legacy packet loads (BPF_LD | BPF_ABS/IND): socket filters only, with the
        skb in R6; they clobber R1-R5 and load into R0."""
        if self.kind is not ProgKind.SOCKET_FILTER:
            raise Refuse("BPF_LD_[ABS|IND] instructions not allowed for this program type",
                         errno=EINVAL)
        if self.st.cur.subprog and not self.func_info:
            raise Refuse("LD_ABS is not allowed in subprogs without BTF", errno=EINVAL)
        mode = insn.opcode & 0xE0
        size = insn.opcode & 0x18
        if insn.dst or insn.off or size == 0x18 or \
                (mode == 0x20 and insn.src) or mode not in (0x20, 0x40):
            raise Refuse("BPF_LD_[ABS|IND] uses reserved fields", errno=EINVAL)
        r6 = self.read(6)
        if mode == 0x40:
            self.read(insn.src)
        if r6.type is not RT.CTX:
            raise Refuse("at the time of BPF_LD_ABS|IND R6 != pointer to skb", errno=EINVAL)
        if self.st.refs:
            raise Refuse("BPF_LD_[ABS|IND] cannot be mixed with socket references",
                         errno=EINVAL)
        for r in range(1, 6):
            self.write(r, NOT_INIT, scratch=False)
        bytes_ = {0x00: 4, 0x08: 2, 0x10: 1}[size]
        self.write(0, mem.loaded(bytes_, False))

    def _print_insn_state(self) -> None:
        if self.log.level:
            f = self.st.cur
            regs = [(i, f.regs[i]) for i in self._scr_regs]
            slots = [(k, f.stack[k]) for k in self._scr_slots if k in f.stack]
            refs = self.st.refs
            fn = f.frameno
            self.log.insn_state(lambda: fmt_items(regs, slots, refs, fn))

    def _ld_imm64(self, pc: int, insn: Insn) -> Reg:
        src = insn.src
        if src == Pseudo.IMM:
            return Reg.const(insn.imm64)
        if src in (Pseudo.MAP_FD, Pseudo.MAP_VALUE, Pseudo.MAP_IDX, Pseudo.MAP_IDX_VALUE):
            m = self.maps(src, insn.imm)
            if m is None:
                if src in (Pseudo.MAP_FD, Pseudo.MAP_VALUE):
                    raise Refuse(f"fd {insn.imm} is not pointing to valid bpf_map",
                                 errno=9)
                raise Refuse(f"fd_idx {insn.imm} is not pointing to valid bpf_map",
                             errno=9)
            if src in (Pseudo.MAP_FD, Pseudo.MAP_IDX):
                return Reg(RT.MAP_PTR, map=m)
            off = insn.imm_hi & 0xFFFFFFFF
            if off >= m.value_size:
                raise Refuse(f"invalid access to map value pointer, value_size="
                             f"{m.value_size} off={off}", errno=EINVAL)
            return Reg(RT.MAP_VALUE, map=m, off=off)
        if src == Pseudo.FUNC:
            target = pc + 1 + insn.imm
            return Reg(RT.FUNC, subprog=target)
        raise Refuse("unrecognized bpf_ld_imm64 insn", errno=EINVAL)

    def _atomic(self, insn: Insn) -> None:
        self.read(insn.src)
        d = self.read(insn.dst)
        size = _size(insn)
        if insn.imm == 0xF1:
            self.read(0)
        if d.type is RT.CTX or d.type is RT.PACKET:
            raise Refuse(f"BPF_ATOMIC stores into R{insn.dst} {d.type_name()} is not allowed")
        value = self.reg(insn.src)
        if value.is_pointer and not self.privileged:
            raise Refuse(f"R{insn.src} leaks addr into mem")
        if insn.imm & 1 and insn.src == 10 and insn.imm != 0xF1:
            raise Refuse("frame pointer is read only")
        # as check_atomic_rmw: read (into the fetch register), then write through dst,
        # which the fetch may just have overwritten
        mem.access(self, insn.dst, insn.off, size, False, None, atomic=True)
        if insn.imm == 0xF1:
            self.write(0, Reg.unknown())
        elif insn.imm & 1:
            self.write(insn.src, Reg.unknown())
        mem.access(self, insn.dst, insn.off, size, True, Reg.unknown(), atomic=True)

    # -- branches ----------------------------------------------------------------------

    _cond = jumps.cond

    # -- calls and exits ---------------------------------------------------------------

    def _call(self, pc: int, insn: Insn) -> int | None:
        if insn.src == CallKind.LOCAL:
            return self._local_call(pc, pc + 1 + insn.imm, callback=False)
        if insn.src == CallKind.KFUNC:
            # kfuncs are named by the kernel's BTF ids, which we do not read
            raise Refuse(f"kernel btf_id {insn.imm} is not a function", errno=EINVAL)
        ctx_arg = self.reg(3)
        cb_map = self.reg(1)
        cb = calls.check_helper_call(self, pc, insn)
        self._print_insn_state()
        if cb is not None:
            return self._callback(pc, cb, ctx_arg, insn.imm, cb_map)
        return pc + 1

    def _local_call(self, pc: int, target: int, *, callback: bool) -> int:
        st = self.st
        if len(st.frames) >= MAX_CALL_FRAMES:
            raise Refuse(f"the call stack of {len(st.frames) + 1} frames is too deep",
                         errno=E2BIG)
        caller = st.cur
        regs = [NOT_INIT] * 11
        for r in range(1, 6):
            regs[r] = caller.regs[r]
            caller.regs[r] = NOT_INIT
        fn = len(st.frames)
        regs[10] = Reg(RT.STACK, frameno=fn)
        sub = self.sub_start[target]
        st.frames.append(Frame(regs, {}, pc, sub, fn, callback))
        if self.log.level and not callback:
            self._log_call(target)
        return target

    def _log_call(self, target: int) -> None:
        st = self.st
        self.log.write(f"caller:\n{fmt_state(st, frame=st.frames[-2])}\n"
                       f"callee:\n{fmt_state(st, frame=st.cur)}\n"
                       f"{target}:{fmt_state(st)}\n")

    def _callback(self, pc: int, start: int, ctx_arg: Reg, func_id: int,
                  cb_map: Reg | None) -> int:
        """bpf_loop: walk the callback as a call from the helper, with R1 = the index
        and R2 = the callback context (once: the kernel walks it again until the
        states converge, which matters only when a callback changes what the next
        iteration sees)."""
        st = self.st
        ret = self._local_call(pc, start, callback=True)
        callee = st.cur
        for r in range(1, 6):
            callee.regs[r] = NOT_INIT
        if func_id == calls.LOOP:
            callee.regs[1] = Reg.scalar(Scalar.load(4))
            callee.regs[2] = ctx_arg
        else:  # bpf_for_each_map_elem(map, cb, ctx, flags): cb(map, key, value, ctx)
            m = cb_map.map if cb_map is not None else None
            callee.regs[1] = Reg(RT.MAP_PTR, map=m)
            callee.regs[2] = Reg(RT.MAP_KEY, map=m)
            callee.regs[3] = Reg(RT.MAP_VALUE, map=m)
            callee.regs[4] = ctx_arg
        if self.log.level:
            self._log_call(start)
        return ret

    def _exit(self, pc: int) -> int | None:
        st = self.st
        f = st.cur
        if len(st.frames) == 1:
            if st.refs:
                ref = st.refs[0]
                raise Refuse("BPF_EXIT instruction in main prog would lead to reference "
                             "leak", lines=(f"Unreleased reference id={ref.id} "
                                            f"alloc_insn={ref.insn}",))
            self.read(0)
            return None
        r0 = f.regs[0]   # a subprogram may leave R0 unset: the caller may not read it
        if r0.type is RT.STACK and r0.frameno == f.frameno:
            raise Refuse("cannot return stack pointer to the caller", errno=EINVAL)
        if f.callback:
            if not r0.is_scalar:
                raise Refuse("R0 not a scalar value", errno=EINVAL)
            if r0.s.smin < 0 or r0.s.smax > 1:
                rng = (f"smin={r0.s.smin} smax={r0.s.smax}" if r0.is_scalar
                       else f"type={r0.type_name()}")
                raise Refuse(f"At callback return the register R0 has {rng} should have "
                             f"been in [0, 1]", errno=EINVAL)
        st.frames.pop()
        caller = st.cur
        for r in range(1, 6):
            caller.regs[r] = NOT_INIT
        if f.callback:
            caller.regs[0] = Reg.unknown()
        else:
            caller.regs[0] = r0
        if self.log.level:
            self.log.write(f"returning from callee:\n{fmt_state(st, frame=f)}\n"
                           f"to caller at {f.callsite + 1}:\n{fmt_state(st, frame=caller)}\n")
        return f.callsite + 1


def _size(insn: Insn) -> int:
    from ..isa import SIZE_BYTES, Size
    return SIZE_BYTES[insn.spec.size if insn.spec.size is not None else Size.DW]


def _prune_points(insns: list[Insn | None]) -> set[int]:
    """Where the kernel may save and compare states: conditional jumps, jump targets,
    calls and may_goto."""
    out: set[int] = set()
    for pc, insn in enumerate(insns):
        if insn is None or (insn.spec is None and insn.opcode != MAY_GOTO):
            continue
        if insn.opcode == MAY_GOTO or insn.kind is Kind.JCOND:
            out.add(pc)
            out.add(pc + 1 + insn.off)
        elif insn.kind is Kind.JA:
            out.add(pc + 1 + (insn.imm if insn.spec.cls is Class.JMP32 else insn.off))
        elif insn.kind is Kind.CALL:
            out.add(pc)
    return out
