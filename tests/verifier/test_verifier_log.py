"""The verifier's log, line for line against the host kernel's, and its public API.

Each program here is loaded into the host kernel at log level 1 and verified by
bpf_vm.verifier; the two logs must be the same text, except for what cannot be the
same: the address the kernel prints for a map (``r1 = 0xffff88810967e600``) and the
state counts of the statistics line (the kernel's pruning heuristics keep different
states; ``processed N insns`` must still agree).  Skips, saying why, only where
bpf(2) is refused.
"""

from __future__ import annotations

import re

import pytest

from bpf_vm.asm import assemble
from bpf_vm.maps.spec import MapType
from bpf_vm.verifier import VerifierRefused, check, verify, verify_bytes
from tests.verifier.kernel_load import BpfRefused, KernelMaps, load

_ADDR = re.compile(r"0xffff[0-9a-f]{12}")
_STATS = re.compile(r"(processed \d+ insns \(limit 1000000\)).*")

Spec = tuple[str, int, int, int]
RINGBUF: Spec = ("ringbuf", 0, 0, 4096)
HASH: Spec = ("hash", 4, 8, 4)

#: name -> (assembly, maps, program type)
CASES: dict[str, tuple[str, tuple[Spec, ...], str]] = {
    "branch_then_modified_ctx": ("""
        r6 = r1
        r2 = *(u64 *)(r1 +8)
        if r2 > 5 goto +2
        r0 = 1
        exit
        r1 = 0
        *(u32 *)(r10 -4) = r1
        *(u8 *)(r10 -12) = r1
        r7 = r10
        r7 += -4
        r3 = r6
        r3 += 8
        r0 = *(u64 *)(r3 +0)
        exit""", (), "kprobe"),
    "ringbuf_leak": ("""
        r1 = map[fd:0] ll
        r2 = 8
        r3 = 0
        call 131
        if r0 == 0 goto +3
        r1 = 5
        *(u64 *)(r0 +0) = r1
        r0 = 0
        exit""", (RINGBUF,), "kprobe"),
    "map_value_or_null": ("""
        r1 = map[fd:0] ll
        r2 = r10
        r2 += -8
        r6 = 0
        *(u64 *)(r10 -8) = r6
        call 1
        r0 = *(u64 *)(r0 +0)
        exit""", (HASH,), "kprobe"),
    "subprog_return": ("""
        r6 = 1
        r1 = 5
        call pc+2
        r0 = r1
        exit
        r0 = r1
        exit""", (), "kprobe"),
    "uninit_register": ("r2 = 1\nr0 = r3\nexit", (), "kprobe"),
    "infinite_loop": ("r0 = 0\nif r0 == 0 goto -1\nexit", (), "kprobe"),
    "misaligned_stack": ("r1 = 0\n*(u64 *)(r10 -4) = r1\nr0 = 0\nexit", (), "kprobe"),
    "map_value_bounds": ("""
        r1 = map[fd:0] ll
        r2 = r10
        r2 += -8
        r3 = 0
        *(u64 *)(r10 -8) = r3
        call 1
        if r0 == 0 goto +5
        r1 = *(u64 *)(r0 +0)
        r1 &= 15
        r0 += r1
        r0 = *(u64 *)(r0 +0)
        exit
        r0 = 0
        exit""", (HASH,), "kprobe"),
    "socket_filter_cb_write": ("""
        r2 = 7
        *(u32 *)(r1 +48) = r2
        r0 = *(u32 *)(r1 +0)
        *(u32 *)(r1 +0) = r0
        exit""", (), "socket_filter"),
}


class _Map:
    """What the verifier reads of a map."""

    def __init__(self, spec: Spec, index: int) -> None:
        kind, self.key_size, self.value_size, self.max_entries = spec
        self.type = MapType[kind.upper()]
        self.name = f"m{index}"      # as KernelMaps names them


def _normalise(log: str) -> str:
    return _STATS.sub(r"\1", _ADDR.sub("ADDR", log)).rstrip()


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(CASES))
def test_level1_log_is_the_kernels(name: str) -> None:
    text, maps, prog_type = CASES[name]
    code = assemble(text).code
    specs = [{"type": t, "key_size": k, "value_size": v, "max_entries": n}
             for t, k, v, n in maps]
    try:
        with KernelMaps(specs) as kmaps:
            kernel = load(code, prog_type, fds=kmaps.fds, log_on_success=True)
    except BpfRefused as e:
        pytest.skip(f"bpf(2) refused here: {e}")
    ours = verify_bytes(code, prog_type=prog_type,
                        maps={i: _Map(m, i) for i, m in enumerate(maps)})
    assert ours.accepted == kernel.accepted
    assert _normalise(ours.log) == _normalise(kernel.log)


def test_accepted_level1_log_is_the_statistics_line() -> None:
    v = verify_bytes(assemble("r0 = 1\nexit").code)
    assert v.accepted and v.error is None and v.errno == 0
    assert v.log.startswith("processed 2 insns (limit 1000000)")


def test_level2_logs_every_path() -> None:
    code = assemble("r2 = *(u64 *)(r1 +0)\nif r2 > 5 goto +1\nr0 = 0\nr0 = 1\nexit").code
    v = verify_bytes(code, log_level=2)
    assert v.accepted
    assert "Live regs before insn:" in v.log
    assert "\nfrom 1 to 3: " in v.log


def test_refusal_carries_pc_errno_and_last_lines() -> None:
    v = verify_bytes(assemble("r0 = 1\nr0 /= 0\nexit").code)
    assert (v.accepted, v.error, v.pc, v.errno) == (False, "div by zero", 1, 22)
    assert v.last_lines(2) == ["1: (37) r0 /= 0", "div by zero"]


def test_check_raises_with_the_verdict() -> None:
    from bpf_vm import Program
    prog = Program.from_bytes(assemble("r0 = r5\nexit").code, name="bad")
    with pytest.raises(VerifierRefused) as info:
        check(prog)
    assert info.value.verdict.error == "R5 !read_ok"
    assert str(info.value) == "bad: verifier refused the program: R5 !read_ok"


def test_recorded_states_are_per_instruction_and_per_path() -> None:
    from bpf_vm import Program
    code = assemble("r2 = *(u64 *)(r1 +0)\nif r2 > 5 goto +1\nr0 = 0\nr0 = 1\nexit").code
    v = verify(Program.from_bytes(code), record=True)
    assert v.states[0][0]["R1"] == "ctx()"
    assert v.states[2][0]["R2"] == \
        "scalar(smin=smin32=0,smax=umax=smax32=umax32=5,var_off=(0x0; 0x7))"
    # insn 3 is reached on both paths: from 2 (r2 <= 5) and by the jump (r2 > 5)
    assert sorted(s["R2"] for s in v.states[3]) == [
        "scalar(smin=smin32=0,smax=umax=smax32=umax32=5,var_off=(0x0; 0x7))",
        "scalar(umin=6)"]


def test_facts_name_what_each_access_touches() -> None:
    code = assemble("r2 = *(u64 *)(r1 +8)\n*(u64 *)(r10 -8) = r2\n"
                    "r0 = *(u64 *)(r10 -8)\nexit").code
    v = verify_bytes(code)
    assert v.facts.access == {0: ("ctx", 8), 1: ("stack", -8), 2: ("stack", -8)}


def test_unprivileged_loader_gets_the_unprivileged_rules() -> None:
    code = assemble("r0 = 0\nr0 += 1\nif r0 < 3 goto -2\nexit").code
    assert verify_bytes(code).accepted
    v = verify_bytes(code, privileged=False)
    assert v.error == "back-edge from insn 2 to 1"
