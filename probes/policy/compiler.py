"""Policy -> BPF: assembly text for the tracex5 pattern, assembled by :mod:`bpf_vm.asm`.

Per ABI the filter allows, one dispatcher and one prog array::

    dispatch:  (x86_64)                     x86_64_openat:  (one per syscall with rules)
        r6 = r1                                 r6 = r1
        r3 = *(u32 *)(r1 + 0x78)  ; orig_ax     r2 = *(u64 *)(r6 + 0x70)   ; arg0 (di)
        r2 = map[progs_x86_64] ll               if r2 != 0x1 goto rule_1
        call bpf_tail_call                      goto act_0
        <the default action>                ...
                                            act_0:  <the rule's action>

The default action lives in the dispatcher's fall-through: the kernel's tail-call rules
bring every syscall without a program there (an empty slot, or an index past
max_entries).  A syscall program tests its rules in evaluation order (highest
precedence first, then profile order, see :mod:`probes.policy.resolve`) and ends in the
default action too, for when none matches.  An ABI the filter lacks gets a dispatcher
that only kills (libseccomp's bad-arch action).

Actions become helper calls on the traced thread:

==================  ======================================================================
ALLOW               nothing
ERRNO(n)            ``bpf_override_return(ctx, -n)``: the syscall is skipped, returns -n
KILL_PROCESS        ``bpf_seccomp_return(SECCOMP_RET_KILL_PROCESS)`` (trace-run's helper,
                    :mod:`probes.seccomp_helper`: the kernel's seccomp gives the outcome)
KILL, KILL_THREAD   ``bpf_seccomp_return(SECCOMP_RET_KILL_THREAD)`` (SCMP_ACT_KILL is
                    KILL_THREAD)
TRAP                ``bpf_seccomp_return(SECCOMP_RET_TRAP)``
LOG                 ``bpf_trace_printk("SCMP_ACT_LOG <abi> <name>\\n")``, then allow
==================  ======================================================================

The syscall number is ``seccomp_data.nr``, an ``int``: the low 32 bits of orig_ax.
Arguments are compared as unsigned 64-bit values on x86_64; on i386 and x32 as 32-bit
values with 32-bit jumps (``if w2 > 0x7 goto``), as libseccomp does for 32-bit ABIs.
i386 arguments are in bx, cx, dx, si, di, bp; x86_64 and x32 ones in di, si, dx, r10,
r8, r9.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from probes.abi import ARG_REGS, PT_REGS_OFFSET, X32_SYSCALL_BIT, Abi, syscall_name, syscalls
from probes.prefilter import SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP
from probes.seccomp_helper import HELPER_ID as SECCOMP_HELPER_ID
from probes.seccomp_helper import install as install_seccomp_helper

from .models import Action, Op
from .resolve import BAD_ARCH, Cond, Policy, PolicyRule, Verdict, arg_bits, describe, errno_name
from .seccomp_db import NodeCond

if TYPE_CHECKING:
    from bpf_vm import BpfObject, Program, Vm

__all__ = [
    "SECTION",
    "CompiledPolicy",
    "Slot",
    "compile_policy",
    "generate_asm",
]


#: The section of every policy program: a kprobe, so its ctx is pt_regs and it may use
#: bpf_override_return.  Slots are set by the compiler, not by a section convention.
SECTION = "kprobe"

_SECCOMP_RET = {
    Action.KILL_PROCESS: (SECCOMP_RET_KILL_PROCESS, "SECCOMP_RET_KILL_PROCESS"),
    Action.KILL: (SECCOMP_RET_KILL_THREAD, "SECCOMP_RET_KILL_THREAD"),
    Action.KILL_THREAD: (SECCOMP_RET_KILL_THREAD, "SECCOMP_RET_KILL_THREAD"),
    Action.TRAP: (SECCOMP_RET_TRAP, "SECCOMP_RET_TRAP"),
}
MAX_IMM = 0x7FFFFFFF       # largest immediate that means the same as a 32- and 64-bit value


@dataclass(frozen=True)
class Slot:
    """One program of a compiled policy, and where it sits."""
    abi: Abi
    program: str           # program name in the object
    nr: int | None         # syscall number (x32: with the x32 bit); None for a dispatcher
    index: int | None      # prog-array index; None for a dispatcher
    name: str              # syscall name, or "dispatcher"
    rules: tuple[PolicyRule, ...] = ()

    @property
    def is_dispatcher(self) -> bool:
        return self.nr is None


def _prog_array(abi: Abi) -> str:
    return f"progs_{abi.value}"


def _entry(abi: Abi) -> str:
    """``dispatch`` for x86_64, ``dispatch_i386`` and ``dispatch_x32`` for the others: the
    names the tracer's probe handler looks for (``<entry>_<abi>``)."""
    return "dispatch" if abi is Abi.X86_64 else f"dispatch_{abi.value}"


def _index(abi: Abi, nr: int) -> int:
    return nr - X32_SYSCALL_BIT if abi is Abi.X32 else nr


def max_entries(abi: Abi) -> int:
    """One slot per number of the ABI's table (x32: counted from the x32 bit)."""
    return max(_index(abi, nr) for nr in syscalls(abi)) + 1


# --- code generation --------------------------------------------------------------------

class _Emitter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str, comment: str = "") -> None:
        self.lines.append(f"    {text:<34}; {comment}" if comment else f"    {text}")

    def label(self, name: str) -> None:
        self.lines.append(f"{name}:")

    def raw(self, text: str) -> None:
        self.lines.append(text)


def _printk(e: _Emitter, text: str, arg_reg: str | None = None) -> None:
    """bpf_trace_printk of ``text`` built on the stack (a program of an .s file has no
    .rodata), 8 bytes at a time, NUL-terminated."""
    data = text.encode() + b"\0"
    size = (len(data) + 7) // 8 * 8
    data = data.ljust(size, b"\0")
    for off in range(0, size, 8):
        chunk = int.from_bytes(data[off:off + 8], "little")
        e(f"r1 = {chunk:#x} ll", repr(data[off:off + 8].rstrip(b'\0').decode()))
        e(f"*(u64 *)(r10 - {size - off:#x}) = r1")
    if arg_reg is not None:
        e(f"r3 = {arg_reg}")
    e("r1 = r10")
    e(f"r1 += -{size:#x}")
    e(f"r2 = {len(text.encode()) + 1:#x}", "size with the NUL")
    e("call bpf_trace_printk")


def _action(e: _Emitter, v: Verdict, abi: Abi, what: str, nr_reg: str | None = None) -> None:
    """The code of one action, ending in exit.  ``r6`` holds ctx."""
    match v.action:
        case Action.ALLOW:
            pass
        case Action.ERRNO:
            n = v.errno or 0
            e("r1 = r6")
            e(f"r2 = {-n:#x}" if n else "r2 = 0x0", f"-{errno_name(n)}" if n else "0")
            e("call bpf_override_return")
        case Action.KILL_PROCESS | Action.KILL | Action.KILL_THREAD | Action.TRAP:
            ret, name = _SECCOMP_RET[v.action]
            e(f"r1 = {ret:#x} ll", name)
            e(f"call {SECCOMP_HELPER_ID:#x}", "bpf_seccomp_return (probes/seccomp_helper.py)")
        case Action.LOG:
            if nr_reg is None:
                _printk(e, f"SCMP_ACT_LOG {abi.value} {what}\n")
            else:
                _printk(e, f"SCMP_ACT_LOG {abi.value} nr=%u\n", nr_reg)
        case _:
            raise AssertionError(f"{v.action} reached the compiler")
    e("r0 = 0x0")
    e("exit")


_SKIP_IF_NOT = {   # the jump that leaves a rule when its comparison does not hold
    Op.EQ: "!=", Op.NE: "==", Op.LT: ">=", Op.LE: ">", Op.GT: "<=", Op.GE: "<",
    Op.MASKED_EQ: "!=",
}


_SKIP_NODE = {  # a tree test (truth, op) -> the jump that leaves the path when it fails
    (True, Op.EQ): "!=", (True, Op.MASKED_EQ): "!=", (True, Op.GT): "<=", (True, Op.GE): "<",
    (False, Op.EQ): "==", (False, Op.MASKED_EQ): "==", (False, Op.GT): ">",
    (False, Op.GE): ">=",
}


def _node_cond(e: _Emitter, c: NodeCond, abi: Abi, skip: str) -> None:
    """Jump to ``skip`` unless the tree test ``c`` (a 32-bit word of an argument) has
    its truth value: the load, mask and 32-bit compare libseccomp's BPF does."""
    reg = ARG_REGS[abi][c.index]
    off = PT_REGS_OFFSET[reg] + (4 if c.hi else 0)
    e(f"r2 = *(u32 *)(r6 + {off:#x})", f"arg{c.index} ({reg}), {'high' if c.hi else 'low'}"
      " 32 bits")
    if c.mask != 0xFFFFFFFF:
        e(f"w2 &= {c.mask:#x}")
    e(f"if w2 {_SKIP_NODE[(c.truth, c.op)]} {c.datum:#x} goto {skip}", str(c))


def _cond(e: _Emitter, c: Cond | NodeCond, abi: Abi, skip: str) -> None:
    """Jump to ``skip`` unless ``c`` holds.  r2, r3 are scratch."""
    if isinstance(c, NodeCond):
        _node_cond(e, c, abi, skip)
        return
    reg = ARG_REGS[abi][c.index]
    off = PT_REGS_OFFSET[reg]
    jump = _SKIP_IF_NOT[c.op]
    if arg_bits(abi) == 32:
        mask, value = c.value & 0xFFFFFFFF, c.value_two & 0xFFFFFFFF
        e(f"r2 = *(u32 *)(r6 + {off:#x})", f"arg{c.index} ({reg}), low 32 bits")
        if c.op is Op.MASKED_EQ:
            e(f"w2 &= {mask:#x}")
            e(f"if w2 {jump} {value:#x} goto {skip}", str(c))
        else:
            e(f"if w2 {jump} {mask:#x} goto {skip}", str(c))
        return
    e(f"r2 = *(u64 *)(r6 + {off:#x})", f"arg{c.index} ({reg})")
    datum = c.value
    if c.op is Op.MASKED_EQ:
        if c.value <= MAX_IMM:
            e(f"r2 &= {c.value:#x}")
        else:
            e(f"r3 = {c.value:#x} ll")
            e("r2 &= r3")
        datum = c.value_two
    if datum <= MAX_IMM:
        e(f"if r2 {jump} {datum:#x} goto {skip}", str(c))
    else:
        e(f"r3 = {datum:#x} ll")
        e(f"if r2 {jump} r3 goto {skip}", str(c))


def _syscall_program(e: _Emitter, policy: Policy, abi: Abi, nr: int, prog: str,
                     rules: list[PolicyRule]) -> None:
    name = syscall_name(abi, nr)
    e.raw(f"\n; {abi.value} {name} ({nr}{'' if abi is not Abi.X32 else ' with the x32 bit'}):"
          f" {len(rules)} rule(s) in evaluation order")
    e.raw(f".prog {prog} {SECTION}")
    e("r6 = r1", "ctx (pt_regs), kept across helper calls")
    # An action used by one rule is written inline after its comparisons; one shared by
    # several rules once at the end (jumps stay forward, as old verifiers require).
    uses: dict[Verdict, int] = {}
    for rule in rules:
        uses[rule.verdict] = uses.get(rule.verdict, 0) + 1
    shared: dict[Verdict, str] = {}
    needs_default = True
    # the shared actions follow every rule: past a 16-bit jump's reach, ``gotol`` (JMP32
    # JA with a 32-bit offset) reaches them
    far = sum(3 * len(r.conds) + 2 for r in rules) > 30_000
    goto = "gotol" if far else "goto"
    for k, rule in enumerate(rules):
        where = f"syscalls[{rule.source}]: {rule.verdict}"
        e.label(f"rule_{k}")
        if rule.conds:
            skip = f"rule_{k + 1}" if k + 1 < len(rules) else "default"
            e.raw(f"    ; {where} if " + describe(rule.conds))
            for c in rule.conds:
                _cond(e, c, abi, skip)
        else:
            e.raw(f"    ; {where}, always")
            needs_default = False
        if uses[rule.verdict] == 1:
            _action(e, rule.verdict, abi, name)
        else:
            e(f"{goto} {shared.setdefault(rule.verdict, f'act_{len(shared)}')}")
        if not rule.conds:
            break
    if needs_default:
        e.label("default")
        e.raw(f"    ; no rule matched: the default action, {policy.default}")
        _action(e, policy.default, abi, name)
    for verdict, label in shared.items():
        e.label(label)
        e.raw(f"    ; {verdict}")
        _action(e, verdict, abi, name)


def _dispatcher(e: _Emitter, policy: Policy, abi: Abi) -> None:
    e.raw(f"\n; {abi.value}: the entry program, tail-calling by syscall number")
    e.raw(f".prog {_entry(abi)} {SECTION}")
    e("r6 = r1", "ctx (pt_regs)")
    if abi not in policy.abis:
        e.raw(f"    ; {abi.value} is not in the profile's architectures: {BAD_ARCH}")
        _action(e, BAD_ARCH, abi, "")
        return
    e("r3 = *(u32 *)(r1 + 0x78)", "orig_ax: seccomp_data.nr is an int")
    if abi is Abi.X86_64:
        # libseccomp's x86_64 section hands numbers from __X32_SYSCALL_BIT up (but -1)
        # to its x32 section (no rule there has them) or to the bad-arch action
        e(f"if w3 < {X32_SYSCALL_BIT:#x} goto native")
        e("if w3 == 0xffffffff goto native")
        other = policy.default if Abi.X32 in policy.abis else BAD_ARCH
        e.raw(f"    ; x32-range number on the x86_64 ABI: {other}")
        _action(e, other, abi, "")
        e.label("native")
    if abi is Abi.X32:
        e(f"w3 += {-X32_SYSCALL_BIT:#x}", "x32 slot = nr - __X32_SYSCALL_BIT")
    e(f"r2 = map[{_prog_array(abi)}] ll")
    e("call bpf_tail_call")
    e.raw(f"    ; fall-through (no program for this number): the default action,"
          f" {policy.default}")
    nr_reg: str | None = None
    if policy.default.action is Action.LOG:
        e("r4 = *(u32 *)(r6 + 0x78)", "orig_ax again: helpers clobber r1-r5")
        nr_reg = "r4"
    _action(e, policy.default, abi, "", nr_reg)


def plan(policy: Policy) -> list[Slot]:
    """Every program the policy compiles to: per ABI its dispatcher, then its syscall
    programs by number."""
    slots: list[Slot] = []
    for abi in Abi:
        slots.append(Slot(abi, _entry(abi), None, None, "dispatcher"))
        if abi not in policy.abis:
            continue
        for nr in sorted(policy.rules.get(abi, {})):
            rules = policy.ordered(abi, nr)
            if not rules:
                continue
            name = syscall_name(abi, nr)
            slots.append(Slot(abi, f"{abi.value}_{name}", nr, _index(abi, nr), name,
                              tuple(rules)))
    return slots


def generate_asm(policy: Policy, slots: list[Slot] | None = None) -> str:
    """The whole policy as one assembly file (``.map`` / ``.prog`` declarations)."""
    return _generate(policy, plan(policy) if slots is None else slots)[0]


def _generate(policy: Policy, slots: list[Slot]) -> tuple[str, dict[str, str]]:
    """:func:`generate_asm`, and the programs left out because an earlier one has the
    same instructions: ``{program: the program its slot holds}``.  One program in many
    prog-array slots, as a loader may put one program fd in many (Docker's profile:
    about 980 programs become a few dozen, and loading takes a fraction)."""
    e = _Emitter()
    seen: dict[tuple[Abi, tuple[str, ...]], str] = {}
    aliases: dict[str, str] = {}
    e.raw(f"; seccomp policy compiled by trace-run: default action {policy.default},"
          f" ABIs {', '.join(a.value for a in policy.abis)}")
    e.raw('.license "GPL"')
    for abi in policy.abis:
        e.raw(f".map {_prog_array(abi)} prog_array key=4 value=4"
              f" max_entries={max_entries(abi)}")
    for abi in Abi:
        _dispatcher(e, policy, abi)
        if abi not in policy.abis:
            continue
        for s in slots:
            if s.abi is abi and not s.is_dispatcher:
                one = _Emitter()
                _syscall_program(one, policy, abi, s.nr, s.program, list(s.rules))  # type: ignore[arg-type]
                body = _drop_jumps_to_next(one.lines)
                key = (abi, tuple(ln.split(";")[0].rstrip() for ln in body
                                  if ln.strip() and not ln.startswith((";", ".prog", "\n;"))))
                if key in seen:
                    aliases[s.program] = seen[key]
                    continue
                seen[key] = s.program
                e.lines += body
    return "\n".join(_drop_jumps_to_next(e.lines)) + "\n", aliases


def _drop_jumps_to_next(lines: list[str]) -> list[str]:
    """Peephole: ``goto L`` right before ``L:`` (comments between allowed) is a no-op;
    its comment stays as a comment line."""
    out: list[str] = []
    for k, line in enumerate(lines):
        code, _, comment = line.partition(";")
        words = code.split()
        if len(words) == 2 and words[0] == "goto":
            nxt = next((x for x in lines[k + 1:] if not x.lstrip().startswith(";")), "")
            if nxt == f"{words[1]}:":
                if comment.strip():
                    out.append(f"    ; {comment.strip()}")
                continue
        out.append(line)
    return out


# --- the compiled object ------------------------------------------------------------------

@dataclass
class CompiledPolicy:
    """A policy loaded into a VM, shaped like any probe object: ``obj`` is the
    :class:`~bpf_vm.objfile.BpfObject` (programs, maps, ``prog_arrays``), ``entries`` the
    entry program of each ABI, ``slots`` what each program is for."""
    policy: Policy
    asm: str
    obj: BpfObject
    slots: list[Slot]
    entries: dict[Abi, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)   # slot program -> the one run

    @property
    def vm(self) -> Vm:
        return self.obj.vm

    def entry(self, abi: Abi) -> Program:
        """The program to run for a syscall of ``abi``."""
        return self.obj.programs[self.entries[abi]]

    def slot_of(self, program: str) -> Slot:
        for s in self.slots:
            if s.program == program:
                return s
        raise KeyError(program)

    def listing(self) -> str:
        """Every program disassembled, with its slot: what ``--print-programs`` prints."""
        from bpf_vm import disassemble
        out: list[str] = []
        for s in self.slots:
            prog = self.obj.programs[self.aliases.get(s.program, s.program)]
            if s.is_dispatcher:
                what = (f"entry program of the {s.abi.value} ABI" if s.abi in self.policy.abis
                        else f"entry program of the {s.abi.value} ABI (not allowed: kills)")
            else:
                what = (f"{_prog_array(s.abi)}[{s.index}] = {s.abi.value} {s.name}"
                        f" (nr {s.nr:#x})" if s.abi is Abi.X32 else
                        f"{_prog_array(s.abi)}[{s.index}] = {s.abi.value} {s.name} (nr {s.nr})")
            out.append(f"{s.program}: {what}, {len(prog.insns)} insns")
            for rule in s.rules:
                conds = describe(rule.conds)
                out.append(f"  ; syscalls[{rule.source}]: {rule.verdict}"
                           + (f" if {conds}" if conds else ", always"))
            if s.program in self.aliases:   # one program in several slots
                out += [f"  (the program {self.aliases[s.program]})", ""]
                continue
            lines = disassemble(prog.insns, map_name=self.obj.map_name, labels=True,
                                pcs=True, helper_name=_helper_name)
            out += [f"  {line}" for line in lines]
            out.append("")
        return "\n".join(out)


def _helper_name(func_id: int) -> str | None:
    return "bpf_seccomp_return" if func_id == SECCOMP_HELPER_ID else None


def compile_policy(policy: Policy, vm: Vm | None = None, *,
                   helpers: Any = None, host: Any = None) -> CompiledPolicy:
    """Assemble ``policy`` and load it into ``vm`` (a new VM by default, with ``helpers``
    and ``host``), prog arrays filled."""
    from bpf_vm import Vm, load_asm, set_prog_slot

    if vm is None:
        vm = Vm(helpers=install_seccomp_helper(helpers), host=host)
    else:
        install_seccomp_helper(vm.helpers)
    slots = plan(policy)
    text, aliases = _generate(policy, slots)
    obj = load_asm(text, vm, name="policy", populate=False)
    obj.prog_arrays = {}
    for s in slots:
        if s.is_dispatcher:
            continue
        mname = _prog_array(s.abi)
        assert s.index is not None
        program = aliases.get(s.program, s.program)
        set_prog_slot(obj.maps[mname], s.index, obj.programs[program])
        obj.prog_arrays.setdefault(mname, {})[s.index] = program
    return CompiledPolicy(policy, text, obj, slots, {abi: _entry(abi) for abi in Abi},
                          aliases)
