"""The code generator: a program's instructions become Python statements.

Semantics follow the kernel interpreter (kernel/bpf/core.c, ``___bpf_prog_run``).  Each
opcode family has one expression template below; the 32/64-bit masking lives in the
templates' width parameters, nowhere else.  At load time every instruction is rendered
into a few Python statements with its operands baked in as literals (:class:`CodeGen`);
each engine joins them into functions its own way (:mod:`.block`: a function per basic
block, ``r`` the list of the eleven registers; :mod:`.translate`: a function per
program, registers as locals) and says how control leaves a block.

Memory accesses go through :class:`~bpf_vm.memory.AddressSpace`'s ``table`` (one dict
lookup, one bounds check; in a block, accesses through one unchanged base register share
one check of their offsets' range, and fall back to one check each when that range would
fault, so a fault still names its own pc; consecutive stores of such a group that write
disjoint bytes are written by one ``pack_into`` or one slice assignment per contiguous
run, see :meth:`CodeGen.merged_stores`).
"""

from __future__ import annotations

import itertools
import struct
from typing import TYPE_CHECKING, Any

from ..errors import InternalError
from ..insn import Insn
from ..isa import (
    FRAME_POINTER,
    SIZE_BYTES,
    AluOp,
    AtomicOp,
    CallKind,
    Class,
    JmpOp,
    Kind,
    Mode,
    Pseudo,
    Source,
)
from ..memory import CODE_SLOT, slot_base
from .cfg import ENDS_BLOCK, written
from .control import M32, M64, EngineState
from .runtime import BASE_GLOBALS, STRUCT_CODE

if TYPE_CHECKING:
    from ..program import Program

# ---------------------------------------------------------------------------------------
# Expression templates.  {a} and {b} are operand expressions, {m} the width mask,
# {bsh} the shift amount ({b} masked to 63 or 31; a literal when {b} is one) and {sg}
# the sign bit of the width.

_ALU: dict[AluOp, str] = {
    AluOp.ADD: "({a} + {b}) & {m}",
    AluOp.SUB: "({a} - {b}) & {m}",
    AluOp.MUL: "({a} * {b}) & {m}",
    AluOp.OR: "{a} | {b}",
    AluOp.AND: "{a} & {b}",
    AluOp.XOR: "{a} ^ {b}",
    AluOp.LSH: "({a} << {bsh}) & {m}",
    AluOp.RSH: "{a} >> {bsh}",
    AluOp.ARSH: "((({a} ^ {sg}) - {sg}) >> {bsh}) & {m}",
    AluOp.MOV: "{b}",
    AluOp.DIV: "{a} // {b} if {b} else 0",             # division by zero gives 0
    AluOp.MOD: "{a} % {b} if {b} else {a}",            # modulo by zero keeps dst
}
_SIGNED_ALU: dict[AluOp, str] = {   # off = 1 (v4): sdiv / smod, truncating toward zero
    AluOp.DIV: "_sdiv({a}, {b}, {sg}, {m})",
    AluOp.MOD: "_smod({a}, {b}, {sg}, {m})",
}
_JCOND: dict[JmpOp, str] = {
    JmpOp.JEQ: "{a} == {b}",
    JmpOp.JNE: "{a} != {b}",
    JmpOp.JGT: "{a} > {b}",
    JmpOp.JGE: "{a} >= {b}",
    JmpOp.JLT: "{a} < {b}",
    JmpOp.JLE: "{a} <= {b}",
    JmpOp.JSET: "{a} & {b}",
    # signed order is unsigned order after flipping the sign bit
    JmpOp.JSGT: "({a} ^ {sg}) > {bs}",
    JmpOp.JSGE: "({a} ^ {sg}) >= {bs}",
    JmpOp.JSLT: "({a} ^ {sg}) < {bs}",
    JmpOp.JSLE: "({a} ^ {sg}) <= {bs}",
}
_ATOMIC: dict[int, str] = {
    AtomicOp.ADD & ~1: "(old + v) & {m}",
    AtomicOp.OR & ~1: "old | v",
    AtomicOp.AND & ~1: "old & v",
    AtomicOp.XOR & ~1: "old ^ v",
}


def _lit(v: int) -> str:
    return hex(v) if v > 9 else str(v)


def _size_of(insn: Insn) -> int:
    """Bytes accessed by a load, store or atomic (their opcodes always carry a size)."""
    size = insn.spec.size
    assert size is not None, insn
    return SIZE_BYTES[size]


class CodeGen:
    """Renders one program's instructions into Python statements.

    Every per-opcode template is rendered here, over two engine-specific hooks: ``R(n)``,
    the expression naming register ``n``, and the control-flow renderers (``fall``,
    ``jump``, ``branch``, ``local_call``, ``tail_call``, ``exit``), which say how control
    leaves a block.  :class:`bpf_vm.engine.block.BlockGen` and
    :class:`bpf_vm.engine.translate.WholeGen` implement them."""

    def __init__(self, program: Program, state: EngineState) -> None:
        self.program = program
        self.state = state
        self.globals: dict[str, Any] = dict(BASE_GLOBALS)
        self.globals["tab"] = state.space.table
        self.globals["_st"] = state
        self.globals["_frames"] = state.frames
        self.globals["_loops"] = state.loops

    @staticmethod
    def R(n: int) -> str:
        """The expression of register ``n``."""
        raise NotImplementedError

    def slot(self, pc: int) -> tuple[list[str], bool]:
        """The statements of the instruction slot at ``pc`` and whether they end a block."""
        insn = self.program.insns[pc]
        if insn is None:   # second half of ld_imm64: reached only by a bad jump
            return [f"raise _Fault('jump into the middle of ld_imm64', pc={pc})"], True
        return self.insn(insn, pc)

    def fell_off(self) -> list[str]:
        n = len(self.program.insns)
        return [f"raise _Fault('fell off the end of the program (no exit)', pc={n})"]

    def block_body(self, start: int, starts: set[int],
                   stmts: list[tuple[list[str], bool]] | None = None) -> list[str]:
        """The statements of the block at ``start``, with grouped memory accesses, ending
        in the engine's way of leaving it.  ``stmts`` are the slots' statements when
        already rendered (else each is rendered here)."""
        insns = self.program.insns
        body: list[str] = []
        pc = start
        groups = self.groups(start, starts)
        while True:
            group = groups.get(pc)
            run = (self.store_run(pc, groups) if group is not None
                   else self.fact_run(pc, starts))
            if len(run) > 1:
                if group is None:
                    body += self.fact_stores(run)
                else:
                    checked = [stmts[p][0] if stmts is not None else self.slot(p)[0]
                               for p in run]
                    body += self.merged_stores(run, checked, *group)
                pc = run[-1] + 1
                ends = False
            else:
                lines, ends = stmts[pc] if stmts is not None else self.slot(pc)
                if group is not None:
                    lines = self.grouped(insns[pc], lines, *group)  # type: ignore[arg-type]
                body += lines
                insn = insns[pc]
                pc += insn.slots if insn is not None else 1
            if ends:
                return body
            if pc in starts:
                return [*body, *self.fall(pc)]

    # -- memory accesses grouped by base register --------------------------------------
    # In a block, loads and stores through one base register that the block does not
    # change in between (a struct filled field by field, the stack through r10) are
    # checked once for the whole range of their offsets.  When the range is in one
    # region (writable, if one of them stores), each access is one load or store; when
    # it is not, each is checked as usual, so the fault comes from the same instruction.

    def groups(self, start: int, starts: set[int]
               ) -> dict[int, tuple[int, bool, int, int, bool]]:
        """pc -> (group id, first of its group, lowest offset, end offset, stores)."""
        insns = self.program.insns
        open_: dict[int, list[int]] = {}        # base register -> pcs of its open group
        done: list[tuple[int, list[int]]] = []
        pc = start
        while True:
            insn = insns[pc]
            if insn is None:
                break
            if self.unchecked(pc):
                pass
            elif insn.kind in (Kind.ST, Kind.STX):
                open_.setdefault(insn.dst, []).append(pc)
            elif insn.kind is Kind.LDX and insn.dst != FRAME_POINTER:   # (else: a fault)
                open_.setdefault(insn.src, []).append(pc)
            for reg in written(insn):
                if reg in open_:
                    done.append((reg, open_.pop(reg)))
            if insn.kind in ENDS_BLOCK:
                break
            pc += insn.slots
            if pc in starts:
                break
        done += open_.items()
        out: dict[int, tuple[int, bool, int, int, bool]] = {}
        for _, pcs in done:
            if len(pcs) < 2:
                continue
            members = [insns[p] for p in pcs]
            low = min(m.off for m in members)  # type: ignore[union-attr]
            end = max(m.off + SIZE_BYTES[m.spec.size]  # type: ignore[union-attr,index,operator]
                      for m in members)
            stores = any(m.kind is not Kind.LDX for m in members)  # type: ignore[union-attr]
            for p in pcs:
                out[p] = (pcs[0], p == pcs[0], low, end, stores)
        return out

    def group_check(self, base: str, gid: int, low: int, end: int, stores: bool
                    ) -> list[str]:
        """At a group's first member: ``g<gid>`` = the buffer when all of ``base + low
        .. base + end`` is mapped (and writable, if the group stores), else None, and
        ``o<gid>`` = the base's offset in its region."""
        writable = " and t[2]" if stores else ""
        return [f"t = tab.get({base} >> 32)",
                f"o{gid} = {base} & 0xffffffff",
                (f"g{gid} = t[0] if t is not None{writable} and o{gid} + {low} >= 0"
                 f" and o{gid} + {end} <= t[1] else None")]

    def grouped(self, insn: Insn, checked: list[str], gid: int, first: bool, low: int,
                end: int, stores: bool) -> list[str]:
        """One member of a group: the access itself when the group's range passed its
        check, else the instruction's own ``checked`` statements."""
        base = self.R(insn.src if insn.kind is Kind.LDX else insn.dst)
        lines = self.group_check(base, gid, low, end, stores) if first else []
        return [*lines, f"if g{gid} is not None:",
                f"    {self.access(insn, f'g{gid}', f'o{gid} + {insn.off}')}",
                "else:", *(f"    {line}" for line in checked)]

    # Consecutive stores of one group (a struct or a memset filled field by field) whose
    # bytes do not overlap write the same bytes in any order, and none of them can fault
    # once the group's range passed its check.  So they are written together: each run
    # of them that is contiguous in memory as one slice assignment of constant bytes (all
    # immediates) or one ``pack_into`` of a struct of their sizes; when the check failed,
    # each store runs its own checked statements in program order, as unmerged.

    def store_run(self, pc: int, groups: dict[int, tuple[int, bool, int, int, bool]]
                  ) -> list[int]:
        """The pcs of the stores from ``pc`` on that are consecutive instructions of
        ``pc``'s group and write disjoint bytes (empty when ``pc`` is not a store)."""
        insns = self.program.insns
        gid = groups[pc][0]
        run: list[int] = []
        spans: list[tuple[int, int]] = []
        p = pc
        while True:
            group = groups.get(p)   # (pcs of this block only)
            if group is None or group[0] != gid:
                return run
            insn = insns[p]
            if insn is None or insn.kind not in (Kind.ST, Kind.STX):
                return run
            lo, hi = insn.off, insn.off + _size_of(insn)
            if any(lo < b and a < hi for a, b in spans):
                return run
            spans.append((lo, hi))
            run.append(p)
            p += 1

    def merged_stores(self, run: list[int], checked: list[list[str]], gid: int, first: bool,
                      low: int, end: int, stores: bool) -> list[str]:
        """The stores at the pcs of ``run`` (see :meth:`store_run`), merged; ``checked``
        are their own statements, for when the group's check failed."""
        insns = self.program.insns
        members: list[Insn] = [insns[p] for p in run]  # type: ignore[misc]
        g, o = f"g{gid}", f"o{gid}"
        lines = self.group_check(self.R(members[0].dst), gid, low, end, stores) if first else []
        lines.append(f"if {g} is not None:")
        lines += [f"    {line}" for line in self.store_chunks(
            [(m.off, m) for m in members], g, f"{o} + ", run[0])]
        lines.append("else:")
        for stmt in checked:
            lines += [f"    {line}" for line in stmt]
        return lines

    def store_chunks(self, members: list[tuple[int, Insn]], buf: str, base: str,
                     tag: int) -> list[str]:
        """Stores that write disjoint bytes of ``buf``, each at ``base`` + its offset
        (the first of each pair), as one statement per run of them contiguous in memory:
        a slice assignment of constant bytes when all are immediates, else one
        ``pack_into`` of a struct of their sizes.  ``tag`` names the constants."""
        chunks: list[list[tuple[int, Insn]]] = []
        for off, insn in sorted(members, key=lambda m: m[0]):
            if chunks and chunks[-1][-1][0] + _size_of(chunks[-1][-1][1]) == off:
                chunks[-1].append((off, insn))
            else:
                chunks.append([(off, insn)])
        lines = []
        for chunk in chunks:
            at = f"{base}{chunk[0][0]}"
            insns = [m for _, m in chunk]
            if len(insns) == 1:
                lines.append(self.access(insns[0], buf, at))
            elif all(m.kind is Kind.ST for m in insns):
                data = b"".join((m.imm & ((1 << (8 * _size_of(m))) - 1)).to_bytes(
                    _size_of(m), "little") for m in insns)
                name = f"_k{tag}_{chunk[0][0] & M64:x}"
                self.globals[name] = bytearray(data)   # never written: copied from
                lines.append(f"{buf}[{at}:{base}{chunk[0][0] + len(data)}] = {name}")
            else:
                codes = [STRUCT_CODE[_size_of(m)] for m in insns]
                counts = [(code, len(list(same))) for code, same in itertools.groupby(codes)]
                fmt = "<" + "".join(f"{n}{code}" if n > 1 else code for code, n in counts)
                name = f"_pk_{fmt[1:]}"
                self.globals[name] = struct.Struct(fmt).pack_into
                values = ", ".join(self.stored_value(m) for m in insns)
                lines.append(f"{name}({buf}, {at}, {values})")
        return lines

    def fact_run(self, pc: int, starts: set[int]) -> list[int]:
        """The pcs of consecutive stores of one block (``starts``: where blocks start)
        from ``pc`` on that need no check and may be written together
        (:mod:`bpf_vm.engine.facts`); none here: every access is checked."""
        return []

    def fact_stores(self, run: list[int]) -> list[str]:
        """The stores of a :meth:`fact_run`, merged."""
        raise NotImplementedError

    def unchecked(self, pc: int) -> bool:
        """Whether the access at ``pc`` needs no run-time check (then it joins no group
        of checked accesses); never here."""
        return False

    # -- per-kind renderers ------------------------------------------------------------
    # Each returns (statements, ends): a statement list that either falls through to the
    # next instruction (ends False) or leaves with return/raise (ends True: the block
    # ends here).  A fault names its pc, since a block runs several instructions.

    def insn(self, insn: Insn, pc: int) -> tuple[list[str], bool]:
        kind = insn.kind
        nxt = pc + insn.slots
        if insn.dst == FRAME_POINTER and kind in (Kind.ALU, Kind.NEG, Kind.END,
                                                  Kind.LD_IMM64, Kind.LDX):
            return [f"raise _Fault('r10 is read-only (the frame pointer)', pc={pc})"], False
        if kind is Kind.ALU:
            return self.alu(insn), False
        if kind is Kind.NEG:
            m = M64 if insn.spec.wide else M32
            d = self.R(insn.dst)
            src = d if insn.spec.wide else f"({d} & 0xffffffff)"
            return [f"{d} = (-{src}) & {_lit(m)}"], False
        if kind is Kind.END:
            return self.end(insn), False
        if kind is Kind.LD_IMM64:
            return self.ld_imm64(insn, pc), False
        if kind is Kind.LDX:
            return self.ldx(insn, pc), False
        if kind in (Kind.ST, Kind.STX):
            return self.store(insn, pc), False
        if kind is Kind.ATOMIC:
            return self.atomic(insn, pc), False
        if kind is Kind.JA:
            off = insn.imm if insn.spec.cls is Class.JMP32 else insn.off
            return self.jump(pc, pc + 1 + off), True
        if kind is Kind.JCOND:
            return self.jcond(insn, pc, nxt), True
        if kind is Kind.MAY_GOTO:
            return self.may_goto(pc, pc + 1 + insn.off, nxt), True
        if kind is Kind.CALL:
            return self.call(insn, pc, nxt), True
        if kind is Kind.EXIT:
            return self.exit(pc), True
        raise InternalError(f"no renderer for {kind}")

    def alu(self, insn: Insn) -> list[str]:
        spec = insn.spec
        op = AluOp(spec.op or 0)
        wide = spec.wide
        m, sh, sg = (M64, 63, 1 << 63) if wide else (M32, 31, 1 << 31)
        d = insn.dst
        lines = []
        if spec.source is Source.K:
            b = _lit(insn.imm & m)
        else:
            b = f"{self.R(insn.src)}" if wide else "b"
            if not wide:
                lines.append(f"b = {self.R(insn.src)} & 0xffffffff")
        if op is AluOp.MOV:
            if spec.source is Source.X and insn.off:   # movsx: sign-extend the low bits
                low, half = _lit((1 << insn.off) - 1), _lit(1 << (insn.off - 1))
                ext = f"((({self.R(insn.src)} & {low}) ^ {half}) - {half}) & {_lit(m)}"
                return [f"{self.R(d)} = {ext}"]
            return [*lines, f"{self.R(d)} = {b}"]
        a = f"{self.R(d)}"
        if not wide:
            lines.append(f"a = {self.R(d)} & 0xffffffff")
            a = "a"
        elif op in (AluOp.DIV, AluOp.MOD) and spec.source is Source.X:
            lines.append(f"b = {self.R(insn.src)}")
            b = "b"
        template = _SIGNED_ALU[op] if (op in _SIGNED_ALU and insn.off == 1) else _ALU[op]
        bsh = _lit(insn.imm & m & sh) if spec.source is Source.K else f"({b} & {sh})"
        expr = template.format(a=a, b=b, m=_lit(m), bsh=bsh, sg=_lit(sg))
        return [*lines, f"{self.R(d)} = {expr}"]

    def end(self, insn: Insn) -> list[str]:
        d, width = insn.dst, insn.imm
        if insn.spec.cls is Class.ALU and insn.spec.source is Source.K:
            # to little-endian on a little-endian machine: truncate only
            expr = f"{self.R(d)} & {_lit((1 << width) - 1)}"
        else:
            mask = ")" if width == 64 else f" & {_lit((1 << width) - 1)})"
            expr = f"_bswap{width}({self.R(d)}{mask}"
        return [f"{self.R(d)} = {expr}"]

    def ld_imm64(self, insn: Insn, pc: int) -> list[str]:
        d, src = insn.dst, insn.src
        if src == Pseudo.IMM:
            return [f"{self.R(d)} = {_lit(insn.imm64)}"]
        if src == Pseudo.FUNC:
            target = pc + 1 + insn.imm
            return [f"{self.R(d)} = {_lit(slot_base(CODE_SLOT) | target)}"]
        if src == Pseudo.BTF_ID:
            return [("raise _Fault('ld_imm64 of a kernel symbol (BTF id "
                     f"{insn.imm}) has no object in this VM', pc={pc})")]
        value = self.state.vm.resolve_map_ref(self.program, insn)
        if value is None:
            return [(f"raise _Fault('ld_imm64 refers to a map that does not exist "
                     f"(src {src}, imm {insn.imm})', pc={pc})")]
        return [f"{self.R(d)} = {_lit(value)}"]

    def _addr(self, reg: int, off: int) -> str:
        return f"a = ({self.R(reg)} + {off}) & {_lit(M64)}" if off else f"a = {self.R(reg)}"

    def ldx(self, insn: Insn, pc: int) -> list[str]:
        size = _size_of(insn)
        return [self._addr(insn.src, insn.off),
                "t = tab.get(a >> 32)",
                f"if t is None or (o := a & 0xffffffff) + {size} > t[1]:",
                f"    _rfault(a, {size}, {pc})",
                self.access(insn, "t[0]", "o")]

    def access(self, insn: Insn, buf: str, off: str) -> str:
        """The load or store itself, at ``buf[off]`` (already checked)."""
        size = _size_of(insn)
        if insn.kind is Kind.LDX:
            if size == 1:
                val = (f"(({buf}[{off}] ^ 0x80) - 0x80) & 0xffffffffffffffff"
                       if insn.spec.mode is Mode.MEMSX else f"{buf}[{off}]")
            elif insn.spec.mode is Mode.MEMSX:
                val = f"_s{size * 8}({buf}, {off})[0] & 0xffffffffffffffff"
            else:
                val = f"_u{size * 8}({buf}, {off})[0]"
            return f"{self.R(insn.dst)} = {val}"
        val = self.stored_value(insn)
        return f"{buf}[{off}] = {val}" if size == 1 else f"_p{size * 8}({buf}, {off}, {val})"

    def stored_value(self, insn: Insn) -> str:
        """The value a store (ST, STX) writes, masked to its size."""
        size = _size_of(insn)
        mask = (1 << (8 * size)) - 1
        if insn.kind is Kind.ST:
            return _lit(insn.imm & mask)
        if size == 8:   # registers always hold 64-bit values
            return self.R(insn.src)
        return f"{self.R(insn.src)} & {_lit(mask)}"

    def _writable(self, insn: Insn, pc: int) -> list[str]:
        """The address of a store, checked: mapped, writable, in bounds."""
        size = _size_of(insn)
        return [self._addr(insn.dst, insn.off),
                "t = tab.get(a >> 32)",
                f"if t is None or not t[2] or (o := a & 0xffffffff) + {size} > t[1]:",
                f"    _wfault(a, {size}, {pc})"]

    def store(self, insn: Insn, pc: int) -> list[str]:
        return [*self._writable(insn, pc), self.access(insn, "t[0]", "o")]

    def atomic(self, insn: Insn, pc: int) -> list[str]:
        return [*self._writable(insn, pc), *self.atomic_op(insn, "t[0]", "o")]

    def atomic_op(self, insn: Insn, buf: str, off: str) -> list[str]:
        """An atomic read-modify-write at ``buf[off]`` (already checked)."""
        size = _size_of(insn)
        bits = size * 8
        m = _lit((1 << bits) - 1)
        op = insn.imm
        s = insn.src
        body = [f"old = _u{bits}({buf}, {off})[0]"]
        if op == AtomicOp.XCHG:
            body += [f"_p{bits}({buf}, {off}, {self.R(s)} & {m})", f"{self.R(s)} = old"]
        elif op == AtomicOp.CMPXCHG:
            body += [f"if old == {self.R(0)} & {m}:",
                     f"    _p{bits}({buf}, {off}, {self.R(s)} & {m})", f"{self.R(0)} = old"]
        else:
            expr = _ATOMIC[op & ~1].format(m=m)
            body += [f"v = {self.R(s)} & {m}", f"_p{bits}({buf}, {off}, {expr})"]
            if op & 1:   # BPF_FETCH: src receives the old value (zero-extended)
                body.append(f"{self.R(s)} = old")
        return body

    def jcond(self, insn: Insn, pc: int, nxt: int) -> list[str]:
        spec = insn.spec
        wide = spec.wide
        m, sg = (M64, 1 << 63) if wide else (M32, 1 << 31)
        a = f"{self.R(insn.dst)}" if wide else f"({self.R(insn.dst)} & 0xffffffff)"
        if spec.source is Source.K:
            k = insn.imm & m
            b, bs = _lit(k), _lit(k ^ sg)
        else:
            b = f"{self.R(insn.src)}" if wide else f"({self.R(insn.src)} & 0xffffffff)"
            bs = f"({b} ^ {_lit(sg)})"
        cond = _JCOND[JmpOp(spec.op or 0)].format(a=a, b=b, bs=bs, sg=_lit(sg))
        return self.branch(cond, pc, pc + 1 + insn.off, nxt)

    def may_goto(self, pc: int, target: int, nxt: int) -> list[str]:
        """may_goto: jump when the frame's counter is spent, else count one and fall
        through (the kernel's rewrite: load the slot, jeq 0, subtract 1, store)."""
        return ["_d = len(_frames)",
                "_c = _loops[_d]",
                "if _c:",
                "    _loops[_d] = _c - 1",
                *self.branch("not _c", pc, target, nxt)]

    def call(self, insn: Insn, pc: int, nxt: int) -> list[str]:
        if insn.src == CallKind.LOCAL:
            return self.local_call(pc, nxt, pc + 1 + insn.imm)
        if insn.imm == 12:   # bpf_tail_call: the interpreter's own instruction
            return self.tail_call(pc, nxt)
        helper = self.state.vm.helpers.get(insn.imm)
        if helper is None:
            return [f"raise _Fault('unknown helper function {insn.imm}', pc={pc})"]
        name = f"_h{pc}"
        self.globals[name] = helper.fn
        args = ", ".join(self.R(n) for n in range(1, 6))
        return [f"{self.R(0)} = {name}(_st, {args}) & {_lit(M64)}", *self.fall(nxt)]


    # -- control flow: how a block is left, each engine's own ---------------------------

    def fall(self, nxt: int) -> list[str]:
        """Continue at ``nxt``, the start of the next block."""
        raise NotImplementedError

    def jump(self, pc: int, target: int) -> list[str]:
        raise NotImplementedError

    def branch(self, cond: str, pc: int, target: int, nxt: int) -> list[str]:
        raise NotImplementedError

    def local_call(self, pc: int, nxt: int, target: int) -> list[str]:
        raise NotImplementedError

    def tail_call(self, pc: int, nxt: int) -> list[str]:
        raise NotImplementedError

    def exit(self, pc: int) -> list[str]:
        raise NotImplementedError


def compile_source(source: str, name: str) -> Any:
    try:
        return compile(source, f"<bpf:{name}>", "exec")
    except (SyntaxError, RecursionError) as exc:  # pragma: no cover - a generator bug
        raise InternalError(f"generated code for {name} does not compile: {exc}") from exc



__all__ = ["CodeGen", "compile_source"]
