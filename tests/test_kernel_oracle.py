"""The kernel oracle against the host kernel: the answers other tests trust must be right.

Bytecode is written by hand (struct '<BBhi') so these tests do not depend on our own
assembler, which the oracle exists to check."""

from __future__ import annotations

import errno
import struct

import pytest

from bpf_vm import kernel
from bpf_vm.errors import BpfError
from bpf_vm.kernel import (
    BPF_EXIST,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_NOEXIST,
    KernelReject,
    KernelRunError,
    map_create,
    map_delete,
    map_get_next_key,
    map_lookup,
    map_update,
    owned_fd,
    run_program,
)

pytestmark = pytest.mark.kernel


def insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, dst | src << 4, off, imm)


MOV64_IMM, MOV64_REG, ADD64_IMM, MUL64_IMM = 0xB7, 0xBF, 0x07, 0x27
LDX_DW, STX_DW, STX_B = 0x79, 0x7B, 0x73
EXIT = insn(0x95)


def ld_imm64(dst: int, value: int) -> bytes:
    return (struct.pack("<BBhI", 0x18, dst, 0, value & 0xFFFF_FFFF)
            + struct.pack("<BBhI", 0, 0, 0, value >> 32))


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


# --- programs -------------------------------------------------------------------------

def test_alu_program_returns_r0() -> None:
    code = insn(MOV64_IMM, 0, imm=40) + insn(ADD64_IMM, 0, imm=2) + insn(MUL64_IMM, 0, imm=3)
    run = run_program(code + EXIT)
    assert run.r0 == 126
    assert run.mem is None
    assert run.r0_bits == 32


def test_r0_is_truncated_to_32_bits() -> None:
    run = run_program(ld_imm64(0, 0x1234_5678_9ABC_DEF0) + EXIT)
    assert run.r0 == 0x9ABC_DEF0
    assert run_program(insn(MOV64_IMM, 0, imm=-1) + EXIT).r0 == 0xFFFF_FFFF


def test_memory_round_trip_and_r2_is_len() -> None:
    # *(u64 *)(r1 + 0) = r2; *(u8 *)(r1 + 9) = r2; r0 = *(u64 *)(r1 + 16); exit
    code = (insn(STX_DW, 1, 2, 0) + insn(STX_B, 1, 2, 9) + insn(LDX_DW, 0, 1, 16) + EXIT)
    mem = bytes(range(100, 124))
    run = run_program(code, mem)
    assert run.mem == struct.pack("<Q", 24) + bytes([108, 24]) + mem[10:]
    assert run.r0 == struct.unpack_from("<Q", mem, 16)[0] & 0xFFFF_FFFF


def test_without_mem_r1_is_null() -> None:
    # r0 = r1; exit — the kernel passes no context, so r1 is 0
    assert run_program(insn(MOV64_REG, 0, 1) + EXIT).r0 == 0


def test_ctx_access_beyond_mem_is_refused_at_run() -> None:
    with pytest.raises(KernelRunError) as info:
        run_program(insn(LDX_DW, 0, 1, 64) + EXIT, bytes(8))
    assert info.value.errno == errno.EINVAL
    assert isinstance(info.value, BpfError)


def test_verifier_rejection_carries_errno_and_log() -> None:
    # r0 = r3: reading an uninitialised register
    with pytest.raises(KernelReject) as info:
        run_program(insn(MOV64_REG, 0, 3) + EXIT)
    assert info.value.errno == errno.EACCES
    assert "R3 !read_ok" in info.value.log


def test_missing_exit_is_einval() -> None:
    with pytest.raises(KernelReject) as info:
        run_program(insn(MOV64_IMM, 0, imm=0))
    assert info.value.errno == errno.EINVAL
    assert info.value.log.strip()


# --- maps -----------------------------------------------------------------------------

def test_hash_map_return_codes() -> None:
    with owned_fd(map_create(BPF_MAP_TYPE_HASH, 4, 8, 2, name="t_hash")) as fd:
        v1, v2 = struct.pack("<Q", 1), struct.pack("<Q", 2)
        assert map_lookup(fd, u32(1), 8) is None
        assert map_update(fd, u32(1), v1, BPF_EXIST) == -errno.ENOENT
        assert map_update(fd, u32(1), v1, BPF_NOEXIST) == 0
        assert map_update(fd, u32(1), v2, BPF_NOEXIST) == -errno.EEXIST
        assert map_update(fd, u32(1), v2, BPF_EXIST) == 0
        assert map_lookup(fd, u32(1), 8) == v2
        assert map_update(fd, u32(2), v1) == 0
        assert map_update(fd, u32(3), v1) == -errno.E2BIG  # full
        assert map_update(fd, u32(2), v2) == 0  # replacing in a full map is fine
        assert {map_get_next_key(fd, None, 4), map_get_next_key(
            fd, map_get_next_key(fd, None, 4), 4)} == {u32(1), u32(2)}
        assert map_delete(fd, u32(1)) == 0
        assert map_delete(fd, u32(1)) == -errno.ENOENT
        assert map_get_next_key(fd, u32(2), 4) is None
        assert map_update(fd, u32(3), v1) == 0  # room again


def test_array_map_return_codes() -> None:
    with owned_fd(map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 3, name="t_array")) as fd:
        assert map_lookup(fd, u32(2), 4) == bytes(4)  # arrays are zero-filled
        assert map_lookup(fd, u32(3), 4) is None
        assert map_update(fd, u32(0), u32(7), BPF_NOEXIST) == -errno.EEXIST
        assert map_update(fd, u32(0), u32(7), BPF_EXIST) == 0
        assert map_lookup(fd, u32(0), 4) == u32(7)
        assert map_update(fd, u32(3), u32(7)) == -errno.E2BIG
        assert map_delete(fd, u32(0)) == -errno.EINVAL
        assert map_get_next_key(fd, None, 4) == u32(0)
        assert map_get_next_key(fd, u32(2), 4) is None


def test_map_create_refusal_is_oserror() -> None:
    with pytest.raises(OSError) as info:
        map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 0)  # max_entries 0
    assert info.value.errno == errno.EINVAL


# --- tail calls -------------------------------------------------------------------------

def test_tail_call_rules_measured() -> None:
    rules = kernel.measure_tail_call_rules()
    assert rules.max_chain == 33  # MAX_TAIL_CALL_CNT
    assert rules.empty_slot_counts is False
    assert rules.out_of_range_counts is False


def test_tail_call_rules_same_for_constant_index() -> None:
    # constant keys take the JIT's patched direct-jump path; the rules must not change
    assert kernel.measure_tail_call_rules(const_index=True) == kernel.measure_tail_call_rules()
