"""VM vs host kernel on hypothesis-generated programs.

Each program initialises r0 and r2-r9 with random 64-bit constants, runs a random
straight-line-or-forward-jumping body drawn from the opcode table (ALU64/ALU32 with imm
and reg, v4 signed division, movsx, byte swaps, JMP/JMP32 forward jumps, forward
may_goto (which falls through: no loop spends its counter), stack and context loads and
stores of every size, sign-extending loads, atomics on the stack), then stores every
register into the context memory so that the full 64-bit state, not just the kernel's
32-bit retval, is compared.  r1 (the context pointer) is never an ALU
operand: the verifier forbids pointer arithmetic of that kind.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpf_vm import kernel
from bpf_vm.helper_table import HelperTable
from bpf_vm.insn import Insn, encode, ld_imm64
from bpf_vm.isa import (
    END_WIDTHS,
    FRAME_POINTER,
    MOVSX_OFFSETS,
    OPCODES,
    SIZE_BYTES,
    AluOp,
    AtomicOp,
    Class,
    Kind,
    Mode,
    Size,
    Source,
)
from bpf_vm.program import Program
from bpf_vm.vm import Vm
from tests.hypothesis_profiles import examples

pytestmark = pytest.mark.kernel

DATA_REGS = [0, 2, 3, 4, 5, 6, 7, 8, 9]
CTX_DATA = 64                      # random input bytes the program may load and store
CTX_SIZE = CTX_DATA + 8 * len(DATA_REGS)

ALU_SPECS = [s for s in OPCODES.values() if s.kind is Kind.ALU]
END_SPECS = [s for s in OPCODES.values() if s.kind in (Kind.END, Kind.NEG)]
JCOND_SPECS = [s for s in OPCODES.values() if s.kind in (Kind.JCOND, Kind.MAY_GOTO)]
imm32 = st.one_of(st.integers(-(2**31), 2**31 - 1),
                  st.sampled_from([0, 1, -1, 2**31 - 1, -(2**31), 31, 32, 63, 64, 0x7fff]))
u64 = st.one_of(st.integers(0, 2**64 - 1),
                st.sampled_from([0, 1, 2**63, 2**63 - 1, 2**64 - 1, 2**32 - 1, 2**32, 0x80,
                                 0x8000, 0x80000000]))
reg = st.sampled_from(DATA_REGS)


@st.composite
def alu(draw: st.DrawFn) -> Insn:
    spec = draw(st.sampled_from(ALU_SPECS))
    off = 0
    if spec.op in (AluOp.DIV, AluOp.MOD):
        off = draw(st.sampled_from([0, 1]))
    elif spec.op is AluOp.MOV and spec.source is Source.X:
        off = draw(st.sampled_from((0,) + MOVSX_OFFSETS[spec.cls]))
    if spec.source is Source.X:
        return Insn(spec.opcode, draw(reg), draw(reg), off, 0)
    imm = draw(imm32)
    if spec.op in (AluOp.DIV, AluOp.MOD) and imm == 0:
        imm = 3   # the verifier refuses a constant zero divisor
    if spec.op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH):
        imm &= 63 if spec.cls is Class.ALU64 else 31   # and out-of-range constant shifts
    return Insn(spec.opcode, draw(reg), 0, off, imm)


@st.composite
def unary(draw: st.DrawFn) -> Insn:
    spec = draw(st.sampled_from(END_SPECS))
    if spec.kind is Kind.NEG:
        return Insn(spec.opcode, draw(reg))
    return Insn(spec.opcode, draw(reg), 0, 0, draw(st.sampled_from(END_WIDTHS)))


@st.composite
def mem(draw: st.DrawFn) -> Insn:
    size = draw(st.sampled_from(list(Size)))
    n = SIZE_BYTES[size]
    on_stack = draw(st.booleans())
    if on_stack:
        slot = -8 * draw(st.integers(1, 8))
        base, off = FRAME_POINTER, slot + n * draw(st.integers(0, 8 // n - 1))
    else:
        base, off = 1, n * draw(st.integers(0, CTX_DATA // n - 1))
    what = draw(st.sampled_from(["ldx", "ldsx", "st", "stx", "atomic"]))
    if what == "ldsx" and size is not Size.DW and on_stack:
        return Insn(Class.LDX | Mode.MEMSX | size, draw(reg), base, off)
    if what in ("ldx", "ldsx"):
        return Insn(Class.LDX | Mode.MEM | size, draw(reg), base, off)
    if what == "st":
        return Insn(Class.ST | Mode.MEM | size, base, 0, off, draw(imm32))
    if what == "atomic" and on_stack and size in (Size.W, Size.DW):
        op = draw(st.sampled_from(list(AtomicOp)))
        src = draw(st.sampled_from([r for r in DATA_REGS if r != 0]))
        return Insn(Class.STX | Mode.ATOMIC | size, base, src, off, int(op))
    return Insn(Class.STX | Mode.MEM | size, base, draw(reg), off)


@st.composite
def programs(draw: st.DrawFn) -> list[Insn]:
    body = draw(st.lists(st.one_of(alu(), alu(), unary(), mem(), mem(), st.just(None)),
                         min_size=1, max_size=24))
    insns: list[Insn] = []
    for r in DATA_REGS:
        insns.append(ld_imm64(r, draw(u64)))
    # initialise the stack so that loads see defined bytes in both engines
    for slot in range(1, 9):
        insns.append(Insn(Class.ST | Mode.MEM | Size.DW, FRAME_POINTER, 0, -8 * slot,
                          draw(imm32)))
    for i, insn in enumerate(body):
        if insn is None:   # a forward conditional jump over some of what follows
            spec = draw(st.sampled_from(JCOND_SPECS))
            skip = draw(st.integers(0, max(0, sum(x.slots for x in body[i + 1:] if x))))
            if spec.kind is Kind.MAY_GOTO:
                insn = Insn(spec.opcode, 0, 0, skip, 0)
            elif spec.source is Source.X:
                insn = Insn(spec.opcode, draw(reg), draw(reg), skip, 0)
            else:
                insn = Insn(spec.opcode, draw(reg), 0, skip, draw(imm32))
        insns.append(insn)
    for i, r in enumerate(DATA_REGS):
        insns.append(Insn(Class.STX | Mode.MEM | Size.DW, 1, r, CTX_DATA + 8 * i))
    insns.append(Insn(Class.JMP | 0x90))   # exit
    return insns


@pytest.mark.slow
@settings(max_examples=examples(250), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.binary(min_size=CTX_DATA, max_size=CTX_DATA))
def test_vm_matches_kernel(insns: list[Insn], data: bytes) -> None:
    code = encode(insns)
    ctx = data + bytes(CTX_SIZE - CTX_DATA)
    try:
        ref = kernel.run_program(code, ctx)
    except kernel.KernelReject as exc:   # pragma: no cover - a generator bug
        pytest.fail(f"kernel rejected a generated program: {exc}\n{exc.log[-2000:]}")
    ours = Vm(helpers=HelperTable()).run(Program.from_bytes(code), ctx,
                                         regs={2: len(ctx)})
    assert ours.ctx == ref.mem
    assert ours.r0 & 0xFFFFFFFF == ref.r0
