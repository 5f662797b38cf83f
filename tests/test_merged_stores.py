"""Merged stores (bpf_vm.engine.codegen ``CodeGen.merged_stores``): consecutive stores through one
checked base register are written by one ``pack_into`` or one slice assignment.

Random sequences of stores and loads through one base (the stack, the context, a copy
of the context pointer), with random sizes and offsets, some out of range, on a
writable or read-only context, give the same outcome (r0, context bytes, instruction
count, fault type, pc and message) under both engines, under budgets, and one
instruction at a time (the traced loop, which renders every instruction on its own and
merges nothing); in-range ones give the kernel's bytes.  Targeted programs: the fault
of a store in the middle of a merged run names that store and leaves the earlier
stores done, overlapping stores keep program order, and the probe's memset is merged.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpf_vm import errors, kernel
from bpf_vm.asm import assemble
from bpf_vm.engine.block import BlockGen
from bpf_vm.helper_table import HelperTable
from bpf_vm.insn import Insn, encode, ld_imm64
from bpf_vm.isa import FRAME_POINTER, SIZE_BYTES, Class, Mode, Size
from bpf_vm.maps import create_map
from bpf_vm.maps.spec import MapSpec
from bpf_vm.program import Program
from bpf_vm.vm import ENGINES, Vm
from tests.hypothesis_profiles import examples

CTX = 128          # the context: stores through r1 may land anywhere in it (or outside)
DUMP = 64          # where the registers and three stack words are copied at the end
VALUE_REGS = [2, 3, 4, 5]
SIZES = list(Size)

Outcome = tuple[Any, ...]


def outcome(vm: Vm, prog: Program, ctx: bytes, **kw: Any) -> Outcome:
    try:
        res = vm.run(prog, ctx, **kw)
    except errors.BpfError as exc:
        return ("error", type(exc).__name__, getattr(exc, "pc", None), str(exc))
    return ("ok", res.r0, res.ctx, res.insns)


def every_way(prog: Program, ctx: bytes, **kw: Any) -> Outcome:
    """The outcome under each engine and one instruction at a time; all must agree."""
    outs = {e: outcome(Vm(helpers=HelperTable(), engine=e), prog, ctx, **kw)
            for e in ENGINES}
    outs["stepped"] = outcome(Vm(helpers=HelperTable()), prog, ctx,
                              trace=lambda step: None, **kw)
    first, *rest = outs.values()
    for other in rest:
        assert other == first, outs
    return first


@st.composite
def access(draw: st.DrawFn, base: int, lo: int, hi: int) -> Insn:
    size = draw(st.sampled_from(SIZES))
    n = SIZE_BYTES[size]
    aligned = draw(st.booleans())
    off = draw(st.integers(lo, hi))
    if aligned:
        off -= off % n
    what = draw(st.sampled_from(["st", "st", "stx", "stx", "ldx"]))
    if what == "st":
        return Insn(Class.ST | Mode.MEM | size, base, 0, off,
                    draw(st.integers(-(2**31), 2**31 - 1)))
    if what == "stx":
        return Insn(Class.STX | Mode.MEM | size, base, draw(st.sampled_from(VALUE_REGS)), off)
    return Insn(Class.LDX | Mode.MEM | size, draw(st.sampled_from([0, *VALUE_REGS])), base, off)


def epilogue() -> list[Insn]:
    """Copy r0, r2-r5 and the stack's top three words into the context's dump area."""
    out = [Insn(Class.STX | Mode.MEM | Size.DW, 1, r, DUMP + 8 * i)
           for i, r in enumerate([0, *VALUE_REGS])]
    for i in range(3):
        out.append(Insn(Class.LDX | Mode.MEM | Size.DW, 2, FRAME_POINTER, -8 * (i + 1)))
        out.append(Insn(Class.STX | Mode.MEM | Size.DW, 1, 2, DUMP + 40 + 8 * i))
    return [*out, Insn(Class.JMP | 0x90)]


@st.composite
def store_programs(draw: st.DrawFn) -> list[Insn]:
    where = draw(st.sampled_from(["stack", "ctx", "copy"]))
    insns = [ld_imm64(r, draw(st.integers(0, 2**64 - 1))) for r in [0, *VALUE_REGS]]
    if where == "stack":
        base, lo, hi = FRAME_POINTER, -530, 8
    elif where == "ctx":
        base, lo, hi = 1, -12, CTX + 4
    else:   # r6 = r1 + k: the group's base is not the context pointer itself
        k = draw(st.integers(0, 16))
        insns += [Insn(Class.ALU64 | 0xb0 | 0x08, 6, 1, 0, 0),          # r6 = r1
                  Insn(Class.ALU64 | 0x00, 6, 0, 0, k)]                 # r6 += k
        base, lo, hi = 6, -12 - k, CTX + 4 - k
    insns += draw(st.lists(access(base, lo, hi), min_size=1, max_size=30))
    return insns + epilogue()


@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(store_programs(), st.binary(min_size=CTX, max_size=CTX), st.booleans(),
       st.integers(1, 60))
def test_store_runs_agree_everywhere(insns: list[Insn], data: bytes, writable: bool,
                                     budget: int) -> None:
    prog = Program.from_bytes(encode(insns))
    every_way(prog, data, ctx_writable=writable)
    every_way(prog, data, ctx_writable=writable, budget=budget)


# --- against the kernel: in-range stores the verifier accepts ------------------------

@st.composite
def kernel_store_programs(draw: st.DrawFn) -> list[Insn]:
    insns = [ld_imm64(r, draw(st.integers(0, 2**64 - 1))) for r in [0, *VALUE_REGS]]
    # the stack's top three words are defined before anything reads them
    insns += [Insn(Class.ST | Mode.MEM | Size.DW, FRAME_POINTER, 0, -8 * (i + 1), 0)
              for i in range(3)]
    body = []
    for _ in range(draw(st.integers(1, 30))):
        size = draw(st.sampled_from(SIZES))
        n = SIZE_BYTES[size]
        on_stack = draw(st.booleans())
        if on_stack:
            base, off = FRAME_POINTER, -n * draw(st.integers(1, 24 // n))
        else:
            base, off = 1, n * draw(st.integers(0, DUMP // n - 1))
        if draw(st.booleans()):
            body.append(Insn(Class.ST | Mode.MEM | size, base, 0, off,
                             draw(st.integers(-(2**31), 2**31 - 1))))
        else:
            body.append(Insn(Class.STX | Mode.MEM | size, base,
                             draw(st.sampled_from(VALUE_REGS)), off))
    return insns + body + epilogue()


@pytest.mark.slow
@pytest.mark.kernel
@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kernel_store_programs(), st.binary(min_size=CTX, max_size=CTX))
def test_store_runs_match_the_kernel(insns: list[Insn], data: bytes) -> None:
    code = encode(insns)
    ref = kernel.run_program(code, data)
    out = every_way(Program.from_bytes(code), data)
    assert out[0] == "ok", out
    assert out[2] == ref.mem
    assert out[1] & 0xFFFFFFFF == ref.r0


# --- targeted ------------------------------------------------------------------------

def asm_prog(text: str) -> Program:
    return Program(list(assemble(text).insns), name="t")


def test_fault_in_a_merged_run_names_its_store_and_keeps_the_earlier_ones() -> None:
    text = """
        r2 = 0x1122334455667788 ll
        *(u64 *)(r1 + 0x0) = r2
        *(u64 *)(r1 + 0x8) = r2
        *(u32 *)(r1 + 0x10) = 0x7
        *(u64 *)(r1 + 0x14) = r2
        *(u64 *)(r1 + 0x1c) = r2
        r0 = 0x0
        exit
    """
    prog = asm_prog(text)
    assert "_pk_" in BlockGen(prog, Vm(helpers=HelperTable()).state).build()[0]
    for size, fault_pc in ((36, None), (28, 6), (24, 5), (20, 5), (8, 3)):
        ctx = bytes(size)
        out = every_way(prog, ctx)
        if fault_pc is None:
            assert out[0] == "ok"
            assert out[2] == (bytes.fromhex("8877665544332211") * 2 + b"\x07\0\0\0"
                              + bytes.fromhex("8877665544332211") * 2)
        else:
            assert out[:3] == ("error", "VmFault", fault_pc), out
    # the stores before the faulting one are done: a map value shows them
    for engine in ENGINES:
        vm = Vm(engine=engine)
        arr = create_map(MapSpec("a", "array", 4, 24, 1), vm)
        handle = vm.map_handle(arr)
        prog = asm_prog(f"""
            r6 = 0x0
            *(u32 *)(r10 - 0x4) = r6
            r2 = r10
            r2 += -0x4
            r1 = {handle:#x} ll
            call 1
            if r0 == 0x0 goto out
            r2 = 0x1122334455667788 ll
            *(u64 *)(r0 + 0x0) = r2
            *(u64 *)(r0 + 0x8) = r2
            *(u64 *)(r0 + 0x10) = r2
            *(u64 *)(r0 + 0x18) = r2
        out:
            r0 = 0x0
            exit
        """)
        with pytest.raises(errors.VmFault) as info:
            vm.run(prog)
        assert info.value.pc == 13, info.value
        assert arr.lookup(0) == bytes.fromhex("8877665544332211") * 3


def test_overlapping_stores_keep_program_order() -> None:
    text = """
        r2 = -0x1
        *(u64 *)(r10 - 0x8) = r2
        *(u8 *)(r10 - 0x5) = 0x0
        *(u16 *)(r10 - 0x10) = 0x1234
        *(u64 *)(r10 - 0x10) = 0x0
        *(u8 *)(r10 - 0xf) = 0x56
        r0 = *(u64 *)(r10 - 0x8)
        r1 = *(u64 *)(r10 - 0x10)
        r0 ^= r1
        exit
    """
    out = every_way(asm_prog(text), bytes(8))
    assert out[1] == 0xFFFFFFFF00FFFFFF ^ 0x5600


def test_immediate_stores_become_one_slice() -> None:
    text = "\n".join(f"*(u64 *)(r10 - {8 * i:#x}) = 0x{i:x}" for i in range(1, 9))
    prog = asm_prog(text + "\nr0 = *(u64 *)(r10 - 0x18)\nexit\n")
    source = BlockGen(prog, Vm(helpers=HelperTable()).state).build()[0]
    assert "] = _k" in source and "_p64" not in source.split("else:")[0]
    assert every_way(prog, bytes(8))[1] == 3
