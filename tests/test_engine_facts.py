"""The verifier's facts put to use (bpf_vm.engine.facts, bpf_vm.verified): a verified
program runs in the translating engine without the checks its facts prove unnecessary,
and nothing a run shows changes.

For every program the verifier accepts (the data-driven VM cases, the differential
corpus's clang-built, hand-written and generated programs, the bundled probes), the
translating engine with the facts, the translating engine without them and the block
engine give the same r0, context, instruction count, tail calls, effects, maps and
faults, also under budgets that stop them midway.  The facts do drop checks (the
generated code, and runs whose stack and context are unmapped behind the engine's
back); ``prog_load(verify=False)`` and programs never verified keep them all; a run
whose context is not one the facts hold for, and a map value used after its element
was deleted, fault as without facts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bpf_vm import FakeHost, Program, Vm, dump_maps, errors, load_any, prog_load
from bpf_vm.asm import assemble
from bpf_vm.engine.facts import access_plan
from bpf_vm.engine.translate import WholeGen
from bpf_vm.helper_table import HelperTable
from bpf_vm.isa import Kind, Pseudo
from bpf_vm.memory import CTX_SLOT, KEY_SHIFT, STACK_SLOT
from bpf_vm.pt_regs import FIELDS, STRUCT
from bpf_vm.verified import FACTS_KEY, clear_verified, mark_verified, verifier_facts
from bpf_vm.verifier import verify
from scripts import verifier_agreement as A
from tests.vm_cases import all_cases
from tests.vm_kit import load

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("facts", "checked", "block")
Outcome = tuple[Any, ...]
#: build(engine) -> (vm, program, object or None), everything fresh
Build = Callable[[str], tuple[Vm, Program, Any]]


def outcome(vm: Vm, prog: Program, ctx: bytes | None, obj: Any = None,
            **kw: Any) -> Outcome:
    """Everything a run shows: its result and effects (and the object's maps), or its
    error's type, pc and message."""
    try:
        res = vm.run(prog, ctx, **kw)
    except errors.BpfError as exc:
        return ("error", type(exc).__name__, getattr(exc, "pc", None), str(exc))
    maps = None
    if obj is not None:   # prog arrays hold program ids, numbered per process
        maps = {k: v for k, v in dump_maps(obj).items()
                if not hasattr(obj.maps[k], "program_at")}
    return ("ok", res.r0, res.ctx, res.insns, res.tail_calls, repr(res.effects), maps)


def variants(build: Build, verdict: Any, ctxs: list[bytes | None],
             **kw: Any) -> dict[str, list[Outcome]]:
    """The outcomes of running the program on each of ``ctxs`` in turn (one VM per
    variant, so maps carry over from run to run): the translating engine with
    ``verdict``'s facts, without them, and the block engine with them."""
    out = {}
    for variant in VARIANTS:
        vm, prog, obj = build("block" if variant == "block" else "translate")
        if variant != "checked":
            mark_verified(prog, verdict)
            vm.compile(prog)
        out[variant] = [outcome(vm, prog, ctx, obj, **kw) for ctx in ctxs]
    return out


def assert_same(outs: dict[str, list[Outcome]], block: bool = True) -> list[Outcome]:
    """The variants' outcomes are the same; ``block=False``: the block engine's are not
    compared (a budget running out around a bpf_loop callback is counted differently
    by the two engines, with or without facts)."""
    first = outs["checked"]
    for name, other in outs.items():
        if block or name != "block":
            assert other == first, (name, outs)
    return first


def has_callbacks(prog: Program) -> bool:
    """Whether ``prog`` takes a function's address (for bpf_loop and the like)."""
    return any(i is not None and i.kind is Kind.LD_IMM64 and i.src == Pseudo.FUNC
               for i in prog.insns)


# --- the data-driven VM cases ----------------------------------------------------------

def test_vm_cases_agree_with_facts() -> None:
    """Every case the verifier accepts as a syscall program (its memory as the
    context), with and without facts, and under budgets that stop it midway."""
    verified = planned = 0
    for case in all_cases():
        prog = Program(list(assemble(case.asm, source=case.id).insns), name=case.name)
        verdict = verify(prog, prog_type="syscall")
        if not verdict.accepted:
            continue
        verified += 1

        def build(engine: str, _p: Program = prog) -> tuple[Vm, Program, Any]:
            return (Vm(helpers=HelperTable(), budget=100_000, engine=engine),
                    Program(list(_p.insns), name=_p.name), None)
        regs = {2: len(case.mem) if case.mem else 0}
        first = assert_same(variants(build, verdict, [case.mem], regs=regs))[0]
        if first[0] == "ok":
            for budget in sorted({1, first[3] // 2, first[3] - 1} - {0}):
                assert_same(variants(build, verdict, [case.mem], regs=regs, budget=budget))
        mark_verified(prog, verdict)
        planned += access_plan(prog) is not None
    assert verified >= 100 and planned >= 20, (verified, planned)


# --- the verifier's differential corpus --------------------------------------------------

RECORDS = [r for r in A.load_corpus() if r["kernel"]["accepted"]]
#: a context per program type: the type's context size, the agreement script's bytes
CTX_SIZE = {"syscall": 512, "kprobe": 168, "tracepoint": 512, "raw_tracepoint": 96,
            "socket_filter": 192}


def _record_build(rec: dict[str, Any]) -> Build:
    code = A.by_index(bytes.fromhex(rec["insns"]))

    def build(engine: str) -> tuple[Vm, Program, Any]:
        vm = Vm(engine=engine, host=FakeHost(), budget=100_000)
        prog = Program.from_bytes(code, name="p", license=rec["license"],
                                  maps=A.vm_maps(rec.get("maps", []), vm),
                                  meta={"func_info": bool(rec.get("func_info", False))})
        return vm, prog, None
    return build


@pytest.mark.parametrize("kind", ["clang", "hand", "hyp", "mut"])
def test_corpus_programs_agree_with_facts(kind: str) -> None:
    """The corpus's programs the kernel accepts (clang-built test programs, hand-written
    cases, generated ones) that ours accepts too, each on a context of its program
    type's size, in full and with half the instructions it needs."""
    verified = planned = 0
    for rec in (r for r in RECORDS if r["name"].startswith(kind + "/")):
        build = _record_build(rec)
        try:
            _, prog, _ = build("translate")
        except errors.BpfError:     # the decoder refuses it (a kernel-only encoding)
            continue
        verdict = verify(prog, prog_type=rec["prog_type"])
        if not verdict.accepted:
            continue
        verified += 1
        mark_verified(prog, verdict)
        planned += access_plan(prog) is not None
        ctx = A.CTX_IN[:CTX_SIZE[rec["prog_type"]]]
        first = assert_same(variants(build, verdict, [ctx]))[0]
        if first[0] == "ok" and first[3] > 1:
            assert_same(variants(build, verdict, [ctx], budget=first[3] // 2),
                        block=not has_callbacks(prog))
    assert verified >= 40 and planned >= 20, (verified, planned)


# --- the bundled probes ------------------------------------------------------------------

#: (orig_ax, di, si, dx): read, write, openat, execve, close, getpid (no program), an
#: unknown number, clone3 and connect (structs on the stack), write again
CALLS = [(0, 3, 0x1000, 64), (1, 1, 0x1000, 5), (257, 0xFFFFFF9C, 0x1000, 0),
         (59, 0x1000, 0x2000, 0x3000), (3, 4, 0, 0), (39, 0, 0, 0), (9999, 0, 0, 0),
         (435, 0x2000, 88, 0), (42, 3, 0x2000, 16), (1, 2, 0x1000, 300)]
USER_MEM = {0x1000: b"/etc/passwd\0hello world" + bytes(300), 0x2000: bytes(range(200))}


def pt_regs(nr: int, di: int, si: int, dx: int) -> bytes:
    values = dict.fromkeys(FIELDS, 0)
    values.update(orig_ax=nr, di=di, si=si, dx=dx, ax=nr)
    return STRUCT.pack(*values.values())


def _probe_runs(path: Path, entry: str, engine: str, verified: bool
                ) -> list[Outcome]:
    """The probe loaded as trace-run loads it (every program through prog_load,
    verified or not), its entry program run on each of CALLS in turn."""
    from probes.abi import x86_64_syscall_number
    from probes.seccomp_helper import install
    vm = Vm(helpers=install(), host=FakeHost(user_mem=USER_MEM), engine=engine)
    obj = load_any(path, vm, syscall_number=x86_64_syscall_number)
    for p in obj.programs.values():
        prog_load(vm, p, verify=verified)
        assert (verifier_facts(p) is not None) == verified
    if verified:
        assert any(p.ctx for p in map(access_plan, obj.programs.values()) if p is not None)
    return [outcome(vm, obj.programs[entry], pt_regs(*c), obj, ctx_writable=False)
            for c in CALLS]


def _probe_agrees(path: Path, entries: list[str]) -> None:
    for entry in entries:
        outs = {"facts": _probe_runs(path, entry, "translate", True),
                "checked": _probe_runs(path, entry, "translate", False),
                "block": _probe_runs(path, entry, "block", True)}
        first = assert_same(outs)
        assert all(o[0] == "ok" for o in first), first


@pytest.mark.needs_bpf_cc
def test_bundled_c_probe_agrees_with_facts() -> None:
    from probes import DEFAULT_PROBE, build
    _probe_agrees(build(DEFAULT_PROBE), ["dispatch", "dispatch_i386", "dispatch_x32"])


def test_bundled_assembly_probe_agrees_with_facts() -> None:
    _probe_agrees(ROOT / "probes" / "dispatch.s", ["dispatch"])


# --- the checks are gone, or kept ---------------------------------------------------------

STACK_AND_CTX = """
    r2 = *(u64 *)(r1 + 8)
    *(u64 *)(r10 - 8) = r2
    *(u32 *)(r10 - 16) = 7
    *(u32 *)(r10 - 12) = 9
    r0 = *(u64 *)(r10 - 8)
    r3 = *(u32 *)(r10 - 12)
    r0 += r3
    exit
"""


def _verified(text: str, prog_type: str = "kprobe") -> Program:
    prog = Program(list(assemble(text).insns), name="t")
    verdict = verify(prog, prog_type=prog_type)
    assert verdict.accepted, verdict.log
    mark_verified(prog, verdict)
    return prog


def test_facts_drop_the_region_lookups_from_the_code() -> None:
    prog = _verified(STACK_AND_CTX)
    vm = Vm(helpers=HelperTable())
    plan = access_plan(prog)
    assert plan is not None and dict(plan.ctx) == {0: 8}
    assert dict(plan.stack) == {1: 504, 2: 496, 3: 500, 4: 504, 5: 500}
    source = WholeGen(prog, vm.state, plan).source()
    assert "tab" not in source
    assert "_u64(cx, 8)" in source and "_u64(sk, 504)" in source
    # three contiguous stores (two constants, a register): one pack_into
    assert "_pk_2IQ(sk, 496, 7, 9, r2)" in source
    checked = WholeGen(prog, vm.state).source()
    assert checked.count("tab.get(") >= 3


def _unmapped_behind_its_back(vm: Vm) -> None:
    """Make the stack of frame 0 and every run's context look unmapped to checked code
    (their table entries: no bytes), while their buffers stay where they are."""
    real = vm.space.set_context
    nothing = (bytearray(), 0, False)

    def set_context(buf: bytearray, writable: bool, *a: Any) -> Any:
        region = real(buf, writable, *a)
        vm.space.table[CTX_SLOT << KEY_SHIFT] = nothing
        return region
    vm.space.set_context = set_context   # type: ignore[method-assign,assignment]
    vm.space.table[STACK_SLOT << KEY_SHIFT] = nothing


def test_facts_really_skip_the_checks() -> None:
    """With the stack and the context unmapped behind the engine's back, the checked
    code faults at the first access and the code with facts runs as before."""
    prog = _verified(STACK_AND_CTX)
    ctx = bytes(range(168))
    expected = int.from_bytes(ctx[8:16], "little") + 9
    for facts in (True, False):
        vm = Vm(helpers=HelperTable())
        if not facts:
            clear_verified(prog)
        vm.compile(prog)
        assert vm.run(prog, ctx).r0 == expected
        _unmapped_behind_its_back(vm)
        if facts:
            assert vm.run(prog, ctx).r0 == expected
        else:
            with pytest.raises(errors.VmFault) as info:
                vm.run(prog, ctx)
            assert info.value.pc == 0


def test_no_verify_keeps_every_check() -> None:
    prog = Program(list(assemble(STACK_AND_CTX).insns), name="t", section="kprobe/x")
    vm = Vm(helpers=HelperTable())
    assert prog_load(vm, prog) is not None
    assert FACTS_KEY in prog.meta and vm.compile(prog).plan is not None
    assert prog_load(vm, prog, verify=False) is None
    assert verifier_facts(prog) is None
    assert vm.compile(prog).plan is None
    never = Program(list(assemble(STACK_AND_CTX).insns), name="t")
    assert Vm(helpers=HelperTable()).compile(never).plan is None


def test_a_program_compiled_before_its_facts_is_compiled_again() -> None:
    prog = Program(list(assemble(STACK_AND_CTX).insns), name="t")
    vm = Vm(helpers=HelperTable())
    before = vm.compile(prog)
    assert before.plan is None
    mark_verified(prog, verify(prog))
    after = vm.compile(prog)
    assert after is not before and after.plan is not None
    assert vm.compile(prog) is after
    assert vm.run(prog, bytes(168)).r0 == 9


def test_a_refused_program_cannot_be_marked() -> None:
    prog = Program(list(assemble("r0 = *(u64 *)(r10 + 8)\nexit\n").insns))
    verdict = verify(prog)
    assert not verdict.accepted
    with pytest.raises(ValueError):
        mark_verified(prog, verdict)


# --- contexts the facts do not hold for ---------------------------------------------------

def _both(prog: Program, ctx: bytes | None, **kw: Any) -> Outcome:
    facts = verifier_facts(prog)
    assert facts is not None
    plain = Program(list(prog.insns), name=prog.name)
    out = [outcome(Vm(helpers=HelperTable(), engine=e), p, ctx, **kw)
           for p in (prog, plain) for e in ("translate", "block")]
    assert all(o == out[0] for o in out), out
    return out[0]


@pytest.mark.parametrize("ctx, kw, error", [
    (None, {}, "NULL pointer"),
    (bytes(12), {}, "outside context"),
    (bytes(168), {"regs": {1: 0}}, "NULL pointer"),
    (bytes(168), {}, None),
])
def test_contexts_the_facts_do_not_cover_fault_as_without(
        ctx: bytes | None, kw: dict[str, Any], error: str | None) -> None:
    out = _both(_verified(STACK_AND_CTX), ctx, **kw)
    if error is None:
        assert out[:2] == ("ok", 9)
    else:
        assert out[:3] == ("error", "VmFault", 0) and error in out[3], out


CTX_STORE = """
    r2 = *(u32 *)(r1 + 0)
    r2 += 1
    *(u32 *)(r1 + 0) = r2
    r0 = r2
    exit
"""


def test_a_read_only_context_faults_at_a_store_the_facts_allow() -> None:
    prog = _verified(CTX_STORE, "syscall")
    plan = access_plan(prog)
    assert plan is not None and plan.ctx_stores
    assert _both(prog, bytes([41, 0, 0, 0]))[:3] == ("ok", 42, bytes([42, 0, 0, 0]))
    out = _both(prog, bytes(4), ctx_writable=False)
    assert out[:3] == ("error", "VmFault", 2) and "read-only" in out[3]


TAIL = """
.map progs prog_array key=4 value=4 max_entries=1
.prog caller
    r6 = r1
    r1 = r10
    r1 += -8
    *(u64 *)(r10 - 8) = 5
    r2 = map[progs] ll
    r3 = 0
    call bpf_tail_call
    r0 = 77
    exit
.prog target
    r0 = *(u64 *)(r1 + 0)
    exit
"""


def test_a_tail_call_from_an_unverified_program_with_another_r1() -> None:
    """``target`` is verified (its r1 is the context); ``caller`` is not, and tail-calls
    it with r1 = a stack address: the target reads the stack, as without facts."""
    outs = []
    for facts, engine in ((True, "translate"), (False, "translate"), (True, "block")):
        L = load(TAIL, engine=engine, helpers=HelperTable())
        target = L.progs["target"]
        if facts:
            v = verify(target)
            assert v.accepted
            mark_verified(target, v)
        L.vm.compile(target)
        L.maps["progs"].update(0, target)
        outs.append(outcome(L.vm, L.progs["caller"], bytes(range(168))))
    assert outs[0] == outs[1] == outs[2] and outs[0][:2] == ("ok", 5), outs


# --- frames: calls, callbacks, stale map values ---------------------------------------------

CALLS_AND_CALLBACKS = """
.prog main
    *(u64 *)(r10 - 8) = 3
    r1 = 1
    call f
    r6 = r0
    r1 = 4
    r2 = func[cb] ll
    r3 = 0
    r4 = 0
    call bpf_loop
    r0 = *(u64 *)(r10 - 8)
    r0 += r6
    exit
f:
    *(u64 *)(r10 - 8) = r1
    r1 += 1
    call g
    r1 = *(u64 *)(r10 - 8)
    r0 += r1
    exit
g:
    *(u64 *)(r10 - 16) = r1
    r0 = *(u64 *)(r10 - 16)
    exit
cb:
    *(u64 *)(r10 - 16) = r1
    r0 = *(u64 *)(r10 - 16)
    r0 = 0
    exit
"""


def test_stack_facts_in_calls_and_callbacks_use_the_running_frame() -> None:
    def build(engine: str) -> tuple[Vm, Program, Any]:
        L = load(CALLS_AND_CALLBACKS, engine=engine)
        L.prog.meta["func_info"] = True
        return L.vm, L.prog, None
    _, prog, _ = build("translate")
    verdict = verify(prog)
    assert verdict.accepted, verdict.log
    mark_verified(prog, verdict)
    plan = access_plan(prog)
    assert plan is not None and len(plan.stack) == 8
    first = assert_same(variants(build, verdict, [bytes(168)]))[0]
    assert first[:2] == ("ok", 3 + 1 + 2)
    for budget in range(1, first[3] + 1):
        assert_same(variants(build, verdict, [bytes(168)], budget=budget), block=False)


STALE = """
.map h hash key=4 value=16 max_entries=4
.map other hash key=4 value=8 max_entries=4
.prog main
    *(u32 *)(r10 - 4) = 1
    *(u64 *)(r10 - 16) = 0
    *(u64 *)(r10 - 24) = 0
    r1 = map[h] ll
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -24
    r4 = 0
    call bpf_map_update_elem
    r1 = map[h] ll
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem
    if r0 == 0 goto out
    r6 = r0
    *(u64 *)(r6 + 8) = 7
    r1 = map[h] ll
    r2 = r10
    r2 += -4
    call bpf_map_delete_elem
    {after}
    r1 = *(u64 *)(r6 + 0)
    r0 = *(u64 *)(r6 + 8)
    r0 += r1
out:
    exit
"""
REFILL = """r1 = map[{m}] ll
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -24
    r4 = 0
    call bpf_map_update_elem"""


@pytest.mark.parametrize("after, result, fault_at", [
    ("", "not in any region", 0),
    (REFILL.format(m="h"), 0, None),
    (REFILL.format(m="other"), "offset 8 outside map 'other' value of 8 bytes", 1),
], ids=["deleted", "slot-reused", "slot-reused-by-a-smaller-value"])
def test_a_map_value_used_after_its_deletion(after: str, result: int | str,
                                             fault_at: int | None) -> None:
    """The verifier lets a program keep a map value pointer past its element's
    deletion (the kernel frees it after the program); the VM unmaps the element, so
    the first load faults, or the loads read the element that reuses the slot, the
    second faulting when that one is smaller, with facts as without (the two loads
    share one lookup of the region with facts)."""
    text = STALE.format(after=after)

    def build(engine: str) -> tuple[Vm, Program, Any]:
        L = load(text, engine=engine)
        return L.vm, L.prog, None
    _, prog, _ = build("translate")
    verdict = verify(prog)
    assert verdict.accepted, verdict.log
    mark_verified(prog, verdict)
    plan = access_plan(prog)
    assert plan is not None and len(plan.map_value) == 3
    out = assert_same(variants(build, verdict, [bytes(168)]))[0]
    if isinstance(result, int):
        assert out[:2] == ("ok", result), out
    else:
        assert fault_at is not None
        load_pc = sorted(plan.map_value)[1 + fault_at]
        assert out[:3] == ("error", "VmFault", load_pc) and result in out[3], out
