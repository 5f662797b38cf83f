"""scripts/conformance_suite.py on .data files written here (the suite itself is not
vendored): its assembler, its section parsing and its verdicts."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from bpf_vm.disasm import disassemble
from bpf_vm.insn import decode
from scripts import conformance_suite as cs


def _write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(("line", "text"), [
    ("mov32 %r0, -1", "w0 = -0x1"),
    ("mov r3, 0x80000000", "r3 = -0x80000000"),
    ("mov32 r1, 0x1ffffffff", "w1 = -0x1"),
    ("add r2, r4", "r2 += r4"),
    ("sdiv32 %r0, %r1", "w0 s/= w1"),
    ("smod r0, -3", "r0 s%= -0x3"),
    ("neg32 r5", "w5 = -w5"),
    ("movsx1664 %r0, %r1", "r0 = (s16)r1"),
    ("movsx832 r2, r3", "w2 = (s8)w3"),
    ("le16 r0", "r0 = le16 r0"),
    ("be64 r0", "r0 = be64 r0"),
    ("swap32 r0", "r0 = bswap32 r0"),
    ("ldxh r0, [r1+0x2]", "r0 = *(u16 *)(r1 + 0x2)"),
    ("ldxsb r0, [r10-1]", "r0 = *(s8 *)(r10 - 0x1)"),
    ("stdw [r1], -1", "*(u64 *)(r1 + 0x0) = -0x1"),
    ("stxw [%r10-8], %r2", "*(u32 *)(r10 - 0x8) = r2"),
    ("lock add32 [r10-8], r1", "lock *(u32 *)(r10 - 0x8) += w1"),
    ("lock fetch xor [r10-8], r1", "r1 = atomic_fetch_xor((u64 *)(r10 - 0x8), r1)"),
    ("lock xchg32 [r10-4], r1", "w1 = xchg32_32(r10 - 0x4, w1)"),
    ("lock cmpxchg [r10-8], r1", "r0 = cmpxchg_64(r10 - 0x8, r0, r1)"),
    ("jsgt32 r1, -2, +3", "if w1 s> -0x2 goto +3"),
    ("jset r1, r2, -1", "if r1 & r2 goto -1"),
    ("ja32 +7", "gotol +7"),
    ("call 12", "call bpf_tail_call"),
])
def test_assembler_matches_our_disassembler(line: str, text: str) -> None:
    code = cs.assemble_suite([line])
    assert disassemble(decode(code))[-1] == text


def test_labels_exit_and_local_calls() -> None:
    code = cs.assemble_suite("""\
        lddw r1, 0x1122334455667788   # two slots
        jeq r1, 0, exit
        call local f
        exit
        f:
        mov r0, 1
        exit""".splitlines())
    insns = [struct.unpack_from("<BBhi", code, i) for i in range(0, len(code), 8)]
    assert insns[2][2] == 1         # jeq to the first exit (pc 4): 4 - 2 - 1
    assert insns[3][3] == 1         # call f (pc 5): 5 - 3 - 1
    assert insns[1][3] == 0x11223344


def test_kfunc_call_encoding() -> None:
    assert cs.assemble_suite(["call runtime 0x2a"]) == bytes.fromhex("852000002a000000")


def test_raw_words_are_little_endian_instructions() -> None:
    code = cs.parse_raw(["0x0000002a000000b7", "0x0000000000000095"])
    assert code == bytes.fromhex("b7000000 2a000000 95000000 00000000".replace(" ", ""))


def test_verdicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "ok.data", "# c\n-- asm\nmov32 %r0, 7\nadd32 %r0, r2 # len\nexit\n"
                                "-- mem\n01 02\n03\n-- result\n0xa\n")
    _write(tmp_path, "sub/raw.data", "-- asm\nignored\n-- raw\n0x0000002a000000b7\n"
                                     "0x0000000000000095\n-- result\n42\n")
    _write(tmp_path, "err.data", "-- asm\nldxb r0, [r1]\nexit\n-- error\nanything\n")
    _write(tmp_path, "wrong.data", "-- asm\nmov r0, 1\nexit\n-- result\n0x2\n")
    _write(tmp_path, "maps.data", "-- map\nm 2 4 4 1\n-- asm\nlddw r1, map_by_fd(m)\n"
                                  "exit\n-- result\n0\n")
    _write(tmp_path, "callx.data", "-- asm\ncall %r2\nexit\n-- result\n0\n")
    _write(tmp_path, "helper.data", "-- asm\ncall 5\nexit\n-- result\n0\n")
    assert cs.main([str(tmp_path), "--json"]) == 1          # wrong.data fails
    out = json.loads(capsys.readouterr().out)
    status = {r["test"]: r["status"] for r in out["results"]}
    assert status == {"ok.data": "pass", "sub/raw.data": "pass", "err.data": "pass",
                      "wrong.data": "FAIL", "maps.data": "skip", "callx.data": "skip",
                      "helper.data": "skip"}
    assert (out["passed"], out["failed"], out["skipped"]) == (3, 1, 3)
    assert cs.main([str(tmp_path), "-k", "ok"]) == 0
    assert "1 tests: 1 passed, 0 failed" in capsys.readouterr().out


def test_listed_divergence_that_passes_is_a_failure(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, "x.data", "-- asm\nmov r0, 1\nexit\n-- result\n1\n")
    monkeypatch.setitem(cs.KNOWN_DIVERGENCES, "x.data", "the kernel returns 0")
    assert cs.main([str(tmp_path)]) == 1
    _write(tmp_path, "x.data", "-- asm\nmov r0, 0\nexit\n-- result\n1\n")
    assert cs.main([str(tmp_path)]) == 0                    # an xfail
