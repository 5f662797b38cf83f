"""Assembler: every accepted spelling, labels, directives, errors with line:column, and
properties (the disassembler's output is a fixed point; respellings assemble alike)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpf_vm.asm import AsmProgram, MapDecl, assemble, assemble_bytes
from bpf_vm.disasm import disassemble, disassemble_text
from bpf_vm.errors import AsmSyntaxError
from bpf_vm.insn import Insn, decode, encode
from bpf_vm.isa import Pseudo
from tests.hypothesis_profiles import examples

from .insn_strategies import programs

# (text, encoding): the forms of issue 2 as people write them, and the variants accepted.
CASES: list[tuple[str, str]] = [
    # loads, both spacings and bases
    ("r0 = *(u32 *)(r1 + 8)", "61 10 08 00 00 00 00 00"),
    ("r0 = *(u32 *)(r1 +8)", "61 10 08 00 00 00 00 00"),
    ("r0 = *(u32 *)(r1 + 0x8)", "61 10 08 00 00 00 00 00"),
    ("r0 = *(u32 *)(r1+8)", "61 10 08 00 00 00 00 00"),
    ("r0 = *(u32 *)(r1)", "61 10 00 00 00 00 00 00"),
    ("w0 = *(u32 *)(r1 + 8)", "61 10 08 00 00 00 00 00"),
    ("r1 = *(u64 *)(r10 - 8)", "79 a1 f8 ff 00 00 00 00"),
    ("r1 = *(u64 *)(r10-8)", "79 a1 f8 ff 00 00 00 00"),
    ("r1 = *(u64 *)(r10 -0x8)", "79 a1 f8 ff 00 00 00 00"),
    ("r0 = *(s8 *)(r1 + 0)", "91 10 00 00 00 00 00 00"),
    ("r0 = *(s16 *)(r1 + 2)", "89 10 02 00 00 00 00 00"),
    ("r0 = *(s32 *)(r1 + 4)", "81 10 04 00 00 00 00 00"),
    ("r0 = *(u8 *)(r1 + 32767)", "71 10 ff 7f 00 00 00 00"),
    ("r0 = *(u8 *)(r1 - 32768)", "71 10 00 80 00 00 00 00"),
    # stores
    ("*(u64 *)(r10 - 8) = 7", "7a 0a f8 ff 07 00 00 00"),
    ("*(u32 *)(r10 - 4) = -7", "62 0a fc ff f9 ff ff ff"),
    ("*(u16 *)(r10 - 2) = 0xffff", "6a 0a fe ff ff ff 00 00"),
    ("*(u8 *)(r10 - 1) = r1", "73 1a ff ff 00 00 00 00"),
    ("*(u8 *)(r10 - 1) = w1", "73 1a ff ff 00 00 00 00"),
    ("*(u64 *)(r10 - 8) = r1", "7b 1a f8 ff 00 00 00 00"),
    # ALU
    ("w1 += w2", "0c 21 00 00 00 00 00 00"),
    ("r1 += -8", "07 01 00 00 f8 ff ff ff"),
    ("r1 += -0x8", "07 01 00 00 f8 ff ff ff"),
    ("w2 = 2660", "b4 02 00 00 64 0a 00 00"),
    ("w2 = 0xffffffff", "b4 02 00 00 ff ff ff ff"),
    ("r2 = -1", "b7 02 00 00 ff ff ff ff"),
    ("r2 = -2147483648", "b7 02 00 00 00 00 00 80"),
    ("r1 = r2", "bf 21 00 00 00 00 00 00"),
    ("w1 = w2", "bc 21 00 00 00 00 00 00"),
    ("r1 = -r1", "87 01 00 00 00 00 00 00"),
    ("w1 = -w1", "84 01 00 00 00 00 00 00"),
    ("r0 /= r1", "3f 10 00 00 00 00 00 00"),
    ("r0 s/= r1", "3f 10 01 00 00 00 00 00"),
    ("w0 s/= 3", "34 00 01 00 03 00 00 00"),
    ("r0 %= r1", "9f 10 00 00 00 00 00 00"),
    ("r0 s%= 3", "97 00 01 00 03 00 00 00"),
    ("r0 s>>= 3", "c7 00 00 00 03 00 00 00"),
    ("w0 >>= w1", "7c 10 00 00 00 00 00 00"),
    ("r0 <<= 63", "67 00 00 00 3f 00 00 00"),
    ("r0 *= r9", "2f 90 00 00 00 00 00 00"),
    ("r0 -= 1", "17 00 00 00 01 00 00 00"),
    ("r0 |= 1", "47 00 00 00 01 00 00 00"),
    ("r0 &= 1", "57 00 00 00 01 00 00 00"),
    ("r0 ^= r1", "af 10 00 00 00 00 00 00"),
    ("r1 = (s8)r2", "bf 21 08 00 00 00 00 00"),
    ("r1 = (s16)r2", "bf 21 10 00 00 00 00 00"),
    ("r1 = (s32)r2", "bf 21 20 00 00 00 00 00"),
    ("w1 = (s8)w2", "bc 21 08 00 00 00 00 00"),
    ("w1 = (s16)w2", "bc 21 10 00 00 00 00 00"),
    ("r1 = be16 r1", "dc 01 00 00 10 00 00 00"),
    ("r1 = be64 r1", "dc 01 00 00 40 00 00 00"),
    ("r1 = le32 r1", "d4 01 00 00 20 00 00 00"),
    ("r1 = bswap16 r1", "d7 01 00 00 10 00 00 00"),
    ("r1 = bswap32 r1", "d7 01 00 00 20 00 00 00"),
    # ld_imm64 and its pseudo forms
    ("r1 = 0x1122334455667788 ll", "18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11"),
    ("r1 = 1234605616436508552 ll", "18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11"),
    ("r1 = -1 ll", "18 01 00 00 ff ff ff ff 00 00 00 00 ff ff ff ff"),
    ("r1 = map[fd:3] ll", "18 11 00 00 03 00 00 00 00 00 00 00 00 00 00 00"),
    ("r1 = map[fd:3][0]+8 ll", "18 21 00 00 03 00 00 00 00 00 00 00 08 00 00 00"),
    ("r1 = map[fd:3][0]+0x8 ll", "18 21 00 00 03 00 00 00 00 00 00 00 08 00 00 00"),
    ("r1 = map[idx:0] ll", "18 51 00 00 00 00 00 00 00 00 00 00 00 00 00 00"),
    ("r1 = map[idx:0][0]+8 ll", "18 61 00 00 00 00 00 00 00 00 00 00 08 00 00 00"),
    ("r1 = btf_id[42] ll", "18 31 00 00 2a 00 00 00 00 00 00 00 00 00 00 00"),
    ("r1 = func[pc+5] ll", "18 41 00 00 05 00 00 00 00 00 00 00 00 00 00 00"),
    ("r1 = func[pc-2] ll", "18 41 00 00 fe ff ff ff 00 00 00 00 00 00 00 00"),
    # atomics
    ("lock *(u64 *)(r10 - 8) += r1", "db 1a f8 ff 00 00 00 00"),
    ("lock *(u32 *)(r10 - 8) += w1", "c3 1a f8 ff 00 00 00 00"),
    ("lock *(u32 *)(r10 -8) += r1", "c3 1a f8 ff 00 00 00 00"),
    ("lock *(u32 *)(r10 - 0x8) |= w1", "c3 1a f8 ff 40 00 00 00"),
    ("lock *(u64 *)(r10 - 8) &= r1", "db 1a f8 ff 50 00 00 00"),
    ("lock *(u64 *)(r10 - 8) ^= r1", "db 1a f8 ff a0 00 00 00"),
    ("r0 = atomic_fetch_add((u64 *)(r10 - 8), r0)", "db 0a f8 ff 01 00 00 00"),
    ("r2 = atomic_fetch_or((u64 *)(r10 - 8), r2)", "db 2a f8 ff 41 00 00 00"),
    ("r2 = atomic_fetch_and((u64 *)(r10 - 8), r2)", "db 2a f8 ff 51 00 00 00"),
    ("r2 = atomic_fetch_xor((u64 *)(r10 - 8), r2)", "db 2a f8 ff a1 00 00 00"),
    ("w2 = atomic_fetch_add((u32 *)(r10 - 8), w2)", "c3 2a f8 ff 01 00 00 00"),
    ("r0 = xchg_64(r10 - 8, r0)", "db 0a f8 ff e1 00 00 00"),
    ("w0 = xchg32_32(r10 - 8, w0)", "c3 0a f8 ff e1 00 00 00"),
    ("r0 = cmpxchg_64(r10 - 8, r0, r1)", "db 1a f8 ff f1 00 00 00"),
    ("w0 = cmpxchg32_32(r10 - 8, w0, w1)", "c3 1a f8 ff f1 00 00 00"),
    # jumps and calls
    ("if r1 s> 0x10 goto +3", "65 01 03 00 10 00 00 00"),
    ("if r1 s> 16 goto +3", "65 01 03 00 10 00 00 00"),
    ("if r1 s> 16 goto pc+3", "65 01 03 00 10 00 00 00"),
    ("if w2 != w3 goto -2", "5e 32 fe ff 00 00 00 00"),
    ("if r1 & 3 goto +0", "45 01 00 00 03 00 00 00"),
    ("if w1 s<= -5 goto +1", "d6 01 01 00 fb ff ff ff"),
    ("if r1 < r2 goto +3 <LBB0_2>", "ad 21 03 00 00 00 00 00"),
    ("goto -1", "05 00 ff ff 00 00 00 00"),
    ("goto +32767", "05 00 ff 7f 00 00 00 00"),
    ("gotol +70000", "06 00 00 00 70 11 01 00"),
    ("gotol -1", "06 00 00 00 ff ff ff ff"),
    ("call bpf_tail_call", "85 00 00 00 0c 00 00 00"),
    ("call tail_call", "85 00 00 00 0c 00 00 00"),
    ("call 12", "85 00 00 00 0c 00 00 00"),
    ("call bpf_map_lookup_elem#1", "85 00 00 00 01 00 00 00"),
    ("call 12345", "85 00 00 00 39 30 00 00"),
    ("call pc+5", "85 10 00 00 05 00 00 00"),
    ("call pc-3", "85 10 00 00 fd ff ff ff"),
    ("exit", "95 00 00 00 00 00 00 00"),
    ("may_goto +2", "e5 00 02 00 00 00 00 00"),
    ("may_goto pc+2", "e5 00 02 00 00 00 00 00"),                      # verifier log
    ("may_goto -0x3", "e5 00 fd ff 00 00 00 00"),
    ("may_goto pc-32768", "e5 00 00 80 00 00 00 00"),
    # columns and comments
    ("  12:\t85 00 00 00 0c 00 00 00\tcall bpf_tail_call", "85 00 00 00 0c 00 00 00"),
    ("12: exit", "95 00 00 00 00 00 00 00"),
    ("0: (85) call bpf_tail_call#12", "85 00 00 00 0c 00 00 00"),         # verifier log
    ("1: (61) r0 = *(u32 *)(r1 +8)", "61 10 08 00 00 00 00 00"),
    ("1: (e5) may_goto pc+2", "e5 00 02 00 00 00 00 00"),
    ("  3:\t18 01 00 00 01 00 00 00 00 00 00 00 00 00 00 00\tr1 = 0x1 ll",
     "18 01 00 00 01 00 00 00 00 00 00 00 00 00 00 00"),
    ("exit ; done", "95 00 00 00 00 00 00 00"),
    ("exit // done", "95 00 00 00 00 00 00 00"),
    ("exit # done", "95 00 00 00 00 00 00 00"),
    ("\tEXIT_LABEL: exit", "95 00 00 00 00 00 00 00"),
]


@pytest.mark.parametrize("text, hexcode", CASES, ids=[t for t, _ in CASES])
def test_assembles(text: str, hexcode: str) -> None:
    assert assemble_bytes(text) == bytes.fromhex(hexcode)


def test_insns_are_indexed_by_pc_like_decode() -> None:
    r = assemble("r1 = 0x5 ll\nexit")
    assert r.insns == decode(r.code)
    assert r.insns[1] is None
    assert r.programs[0].lines == [1, 1, 2]


# --- labels -----------------------------------------------------------------------------

def test_jumps_and_calls_to_labels() -> None:
    text = """
    start:
        r0 = 0
    loop:   r0 += 1          ; backward target
        if r0 < 10 goto loop
        if w0 == 3 goto done
        call helper          // a label of this program: a local call
        call bpf_ktime_get_ns
        r2 = func[helper] ll
        goto done
    done:
        exit
    helper:
        r0 = 7
        exit
    """
    r = assemble(text)
    assert r.programs[0].labels == {"start": 0, "loop": 1, "done": 9, "helper": 10}
    assert disassemble(r.insns) == [
        "r0 = 0x0", "r0 += 0x1", "if r0 < 0xa goto -2", "if w0 == 0x3 goto +5",
        "call pc+5", "call bpf_ktime_get_ns", "r2 = func[pc+3] ll", "goto +0", "exit",
        "r0 = 0x7", "exit"]


def test_bare_helper_name_vs_label() -> None:
    # A label wins over a helper of the same bare name; bpf_-prefixed is always a helper.
    code = assemble_bytes("call loop\ncall bpf_loop\nexit\nloop: exit")
    assert disassemble(code) == ["call pc+2", "call bpf_loop", "exit", "exit"]
    assert assemble_bytes("call loop\nexit") == bytes.fromhex(
        "85 00 00 00 b5 00 00 00 95 00 00 00 00 00 00 00")


@pytest.mark.slow
def test_gotol_to_label_far_away() -> None:
    text = "gotol far\n" + "r0 += 1\n" * 40000 + "far: exit\n"
    code = assemble_bytes(text)
    assert decode(code)[0] == Insn(0x06, imm=40000)


def test_label_at_end_and_several_per_line() -> None:
    r = assemble("goto end\na: b: exit\nend:")
    assert r.programs[0].labels == {"a": 1, "b": 1, "end": 2}
    assert decode(r.code)[0] == Insn(0x05, off=1)


def test_may_goto_to_labels() -> None:
    r = assemble("r0 = 0\nloop: may_goto done\nr0 += 1\ngoto loop\ndone: exit")
    assert disassemble(r.insns) == ["r0 = 0x0", "may_goto +2", "r0 += 0x1", "goto -3", "exit"]
    assert disassemble(r.insns, labels=True) == [
        "r0 = 0x0", "LBB0_0:", "may_goto LBB0_1", "r0 += 0x1", "goto LBB0_0", "LBB0_1:",
        "exit"]


# --- directives -------------------------------------------------------------------------

DISPATCHER = """\
; the tracex5 pattern: dispatch on the syscall number
.license "GPL"
.map progs prog_array key=4 value=4 max_entries=512
.map counts percpu_array key=4 value=8 max_entries=1 flags=0x0

.prog dispatch kprobe/__seccomp_filter
    r6 = r1
    r3 = *(u64 *)(r1 + 0x78)       ; orig_ax
    r2 = map[progs] ll
    call bpf_tail_call
    r2 = map[counts][0]+0 ll
    r0 = 0
    exit

.prog sys_write
.section kprobe/1
    r0 = 1
    if r0 == 1 goto out
    r0 = 2
out:
    exit
"""


def test_programs_maps_license() -> None:
    r = assemble(DISPATCHER)
    assert r.license == "GPL"
    assert r.maps == [MapDecl("progs", "prog_array", 4, 4, 512, 0, line=3),
                      MapDecl("counts", "percpu_array", 4, 8, 1, 0, line=4)]
    assert r.maps[0].type_id == 3
    assert [(p.name, p.section, len(p.insns)) for p in r.programs] == [
        ("dispatch", "kprobe/__seccomp_filter", 9), ("sys_write", "kprobe/1", 4)]
    d = r.programs[0].insns
    assert d[2] == Insn(0x18, 2, Pseudo.MAP_IDX, 0, 0, 0)
    assert d[5] == Insn(0x18, 2, Pseudo.MAP_IDX_VALUE, 0, 1, 0)
    assert r.programs[1].labels == {"out": 3}
    assert r.code == r.programs[0].code + r.programs[1].code
    assert disassemble(r.programs[0].insns, map_name=r.map_name)[2] == "r2 = map[progs] ll"


def test_file_without_prog_is_one_program() -> None:
    r = assemble(".section socket\nexit\n")
    assert r.programs == [AsmProgram("prog", "socket", decode(b"\x95" + bytes(7)), {}, [2])]
    assert r.license is None and r.maps == []


def test_labels_are_local_to_a_program() -> None:
    r = assemble(".prog a\nout: exit\n.prog b\ngoto out\nout: exit\n")
    assert disassemble(r.programs[1].insns) == ["goto +0", "exit"]
    with pytest.raises(AsmSyntaxError) as info:
        assemble(".prog a\nout: exit\n.prog b\ngoto out\nexit\n")
    assert (info.value.line, info.value.column) == (4, 6)


def test_map_used_before_declaration() -> None:
    r = assemble("r1 = map[m] ll\nexit\n.map m hash key=8 value=8 max_entries=4")
    assert r.insns[0] == Insn(0x18, 1, Pseudo.MAP_IDX, 0, 0, 0)


# --- errors: (text, line, column, what the message says) --------------------------------

ERRORS: list[tuple[str, int, int, str]] = [
    ("r11 = 1", 1, 1, "expected a register, got 'r11'"),
    ("r0 = r11", 1, 6, "expected a register, got 'r11'"),
    ("foo r1, r2", 1, 1, "unknown mnemonic 'foo'"),
    ("r0 = frob r1", 1, 6, "unknown mnemonic 'frob'"),
    ("exit\ngoto +40000", 2, 6, "offset 40000 out of range for a 16-bit jump; use gotol"),
    ("goto far\n" + "exit\n" * 40000 + "far: exit", 1, 6,
     "out of range for a 16-bit jump; use gotol"),
    ("exit\n\n  goto foo", 3, 8, "undefined label 'foo'"),
    ("if r1 > 2 goto nowhere", 1, 16, "undefined label 'nowhere'"),
    ("may_goto nowhere", 1, 10, "undefined label 'nowhere'"),
    ("may_goto +32768", 1, 10, "offset 32768 out of range for a 16-bit jump"),
    ("may_goto r1", 1, 10, "expected a jump target"),
    ("may_goto +1 r0", 1, 13, "expected end of line, got 'r0'"),
    ("w1 = 0x1ffffffff", 1, 6, "immediate 0x1ffffffff does not fit in 32 bits"),
    ("r1 += -0x80000001", 1, 7, "immediate -0x80000001 does not fit in 32 bits"),
    ("r1 = 0x1ffffffff", 1, 6, "immediate 0x1ffffffff does not fit in 32 bits"),
    ("r1 = 0x10000000000000000 ll", 1, 6, "does not fit in 64 bits"),
    ("r0 = *(u32 *)(r1 + 40000)", 1, 18, "offset +40000 does not fit in 16 bits"),
    ("r1 += w2", 1, 7, "expected a 64-bit register (rN), got 'w2'"),
    ("w1 += r2", 1, 7, "expected a 32-bit register (wN), got 'r2'"),
    ("if r1 > w2 goto +1", 1, 9, "expected a 64-bit register (rN), got 'w2'"),
    ("if r1 ~ r2 goto +1", 1, 7, "unexpected character '~'"),
    ("if r1 = r2 goto +1", 1, 7, "expected a comparison"),
    ("if r1 > r2 jump +1", 1, 12, "expected 'goto', got 'jump'"),
    ("goto 3", 1, 6, "expected a jump target"),
    ("exit r0", 1, 6, "expected end of line, got 'r0'"),
    ("r0 = 1 2", 1, 8, "expected end of line, got '2'"),
    ("r0 = *(u128 *)(r1 + 0)", 1, 8, "expected a type"),
    ("r0 = *(u32 *)(w1 + 0)", 1, 15, "expected a 64-bit register (rN), got 'w1'"),
    ("w0 = *(u64 *)(r1 + 0)", 1, 1, "expected a 64-bit register (rN) for this load"),
    ("*(s8 *)(r10 - 8) = 1", 1, 3, "expected an unsigned type for a store"),
    ("*(u64 *)(r10 - 8) = w1", 1, 21, "expected a 64-bit register (rN), got 'w1'"),
    ("r1 = -r2", 1, 7, "expected 'r1' (neg works in place), got 'r2'"),
    ("r1 = be16 r2", 1, 11, "expected 'r1' (byte swaps work in place), got 'r2'"),
    ("r1 = le8 r1", 1, 6, "byte swap width must be 16, 32 or 64, got 8"),
    ("w1 = be16 w1", 1, 1, "expected a 64-bit register (rN) for a byte swap"),
    ("w1 = (s32)w2", 1, 7, "expected a sign-extension cast (s8, s16), got 's32'"),
    ("w1 = 5 ll", 1, 1, "expected a 64-bit register (rN) for ld_imm64"),
    ("call bpf_no_such_helper", 1, 6, "unknown helper 'bpf_no_such_helper'"),
    ("call nowhere", 1, 6, "undefined label 'nowhere'"),
    ("r1 = map[nosuch] ll", 1, 10, "undefined map 'nosuch'"),
    ("r1 = map[fd:3]", 1, 15, "expected 'll', got end of line"),
    ("r1 = map[fd:3][1]+8 ll", 1, 16, "expected [0]"),
    ("r1 = map[fd:3][0] ll", 1, 19, "expected +OFFSET after [0]"),
    ("lock *(u8 *)(r10 - 8) += r1", 1, 8, "expected u32 or u64 for an atomic operation"),
    ("lock *(u64 *)(r10 - 8) -= r1", 1, 24, "expected +=, |=, &= or ^="),
    ("r1 = atomic_fetch_add((u64 *)(r10 - 8), r2)", 1, 1,
     "the result register must be the operand register 'r2'"),
    ("r1 = cmpxchg_64(r10 - 8, r0, r2)", 1, 1, "expected 'r0'"),
    ("r0 = cmpxchg_64(r10 - 8, r1, r2)", 1, 26, "expected 'r0' (cmpxchg compares with r0)"),
    ("r1: exit", 1, 1, "'r1' is reserved and cannot be a label"),
    ("a: exit\na: exit", 2, 1, "label 'a' is already defined"),
    (".map m hash key=4", 1, 18, "missing value, max_entries"),
    (".map m blah key=4 value=4 max_entries=1", 1, 8, "unknown map type 'blah'"),
    (".map m hash key=4 value=x max_entries=1", 1, 25, "expected a number, got 'x'"),
    (".map m hash key=4 value=4 max_entries=1 color=3", 1, 41, "got 'color=3'"),
    (".map m hash key=4 value=4 max_entries=1\n.map m hash key=4 value=4 max_entries=1",
     2, 6, "map 'm' is already declared"),
    (".license \"GPL\"\n.license \"MIT\"", 2, 1, "license already set on line 1"),
    (".frobnicate", 1, 1, "unknown directive '.frobnicate'"),
    ("exit\n.prog a\nexit", 1, 1, "statement before the first .prog"),
    (".prog a\n.prog b\nexit", 1, 1, "program 'a' has no instructions"),
    (".prog a\nexit\n.prog a\nexit", 3, 7, "program 'a' is already defined"),
    ("x: .license \"GPL\"", 1, 4, "a directive cannot follow a label on the same line"),
]


@pytest.mark.parametrize("text, line, column, message", ERRORS,
                         ids=[e[3][:40] for e in ERRORS])
def test_errors_carry_line_and_column(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(AsmSyntaxError) as info:
        assemble(text, source="t.s")
    err = info.value
    assert (err.line, err.column) == (line, column), err.message
    assert message in err.message
    assert err.source == "t.s"


# --- properties -------------------------------------------------------------------------

@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None)
@given(programs())
def test_disassembly_is_a_fixed_point(insns: list[Insn]) -> None:
    text = disassemble_text(encode(insns))
    again = disassemble_text(assemble_bytes(text))
    assert again == text


def _respell(text: str, rnd: st.DataObject) -> str:
    """The same program in the other accepted spellings: decimal numbers, the verifier
    log's memory operands, extra spaces, comments, pc columns."""
    def num(m: re.Match[str]) -> str:
        return str(int(m.group(), 0)) if rnd.draw(st.booleans()) else m.group()
    out = []
    for pc, line in enumerate(text.splitlines()):
        line = re.sub(r"-?0x[0-9a-f]+(?![\]\w])", num, line)
        if rnd.draw(st.booleans()):
            line = re.sub(r"\((r\d+) ([+-]) ", r"(\1 \2", line)      # (r1 +8)
        if rnd.draw(st.booleans()):
            line = f"  {pc}:\t{line}"
        if rnd.draw(st.booleans()):
            line = f"{line}   ; {pc}"
        out.append(line)
    return "\n".join(out)


@pytest.mark.slow
@settings(max_examples=examples(200), deadline=None)
@given(programs(), st.data())
def test_respellings_assemble_alike(insns: list[Insn], data: st.DataObject) -> None:
    code = encode(insns)
    text = disassemble_text(code)
    assert assemble_bytes(_respell(text, data)) == code
