"""Malformed ``.BTF.ext`` records (func_info, line_info, CO-RE relocations) and ``.BTF``
type records: the loader answers with one error line naming the section and the offset,
never a traceback.  A CI-sized run of scripts/fuzz_btf_ext.py's structure-aware mutator
(the script runs 10,000 cases for the README's figure)."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest

from bpf_vm.core_match import VMLINUX
from bpf_vm.errors import ElfLoadError
from scripts.fuzz_btf_ext import (
    field_map,
    fuzz,
    mutate,
    run_case,
    seed_object,
    well_formed,
)

pytestmark = pytest.mark.skipif(not os.access(VMLINUX, os.R_OK),
                                reason=f"{VMLINUX} is not readable (the seed's CO-RE target)")


@pytest.fixture(scope="module", name="seed")
def seed_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    tmp = tmp_path_factory.mktemp("btf-ext-fuzz")
    return seed_object(tmp), tmp


def test_the_seed_loads_and_every_part_is_mapped(seed: tuple[bytes, Path]) -> None:
    data, tmp = seed
    assert run_case(data, tmp)[0] == "loaded"
    labels = {f.label for f in field_map(data)}
    for part in ("func_info.type_id", "line_info.line_col", "core_relo.kind",
                 "core_relo.access_str_off", "core_relo.sec_name_off", "core_relo.num",
                 "core_relo.rec_size", "access_str.byte", "ext.hdr_len", "type.info",
                 "type.member.1", "btf.hdr.str_len"):
        assert part in labels, part


def test_a_mutation_changes_only_mapped_bytes(seed: tuple[bytes, Path]) -> None:
    data, _tmp = seed
    fields = field_map(data)
    covered = {f.offset + k for f in fields for k in range(f.size)}
    rnd = random.Random(7)
    for _ in range(50):
        case, _what = mutate(data, fields, rnd)
        assert len(case) == len(data)
        assert {i for i, (a, b) in enumerate(zip(data, case, strict=True)) if a != b} <= covered


@pytest.mark.parametrize("label, value, words", [
    ("core_relo.kind", 77, ("'.BTF.ext'", "offset", "unknown relocation kind 77")),
    ("core_relo.rec_size", 6, ("'.BTF.ext'", "offset", "record size 6")),
    ("core_relo.num", 0xFFFF, ("'.BTF.ext'", "offset", "do not fit")),
    ("core_relo.type_id", 0xFFFFFF, (".BTF.ext record at offset", "relocation failed")),
    ("line_info.file_name_off", 0xFFFFFF, (".BTF.ext", "line info record at offset")),
    ("type.kind", 0x1F, (".BTF", "at offset", "unknown kind 31")),
    ("type.name_off", 0xFFFFFF, (".BTF", "at offset", "outside the string section")),
])
def test_one_bad_field_is_one_line_naming_section_and_offset(
        seed: tuple[bytes, Path], label: str, value: int, words: tuple[str, ...]) -> None:
    data, tmp = seed
    first = next(f for f in field_map(data) if f.label == label)
    bad = bytearray(data)
    bad[first.offset:first.offset + first.size] = value.to_bytes(first.size, "little")
    outcome, message, exc = run_case(bytes(bad), tmp)
    assert outcome == "error" and isinstance(exc, ElfLoadError), message
    assert "\n" not in message
    for w in words:
        assert w in message, (w, message)
    assert well_formed(exc, message)


def test_a_truncated_section_is_an_error_not_a_traceback(seed: tuple[bytes, Path]) -> None:
    data, tmp = seed
    size = next(f for f in field_map(data) if f.label == "ext.sh_size")
    for n in (0, 7, 31, 40):
        bad = bytearray(data)
        struct.pack_into("<Q", bad, size.offset, n)
        assert run_case(bytes(bad), tmp)[0] in ("loaded", "error")


def test_fuzz_ci_sized_no_tracebacks() -> None:
    r = fuzz(250, seed=15)
    outcomes = r["outcomes"]
    assert isinstance(outcomes, dict)
    assert r["tracebacks"] == []
    assert r["malformed_messages"] == []
    # the mutator reaches both sides: cases that still load, and refused ones
    assert outcomes.get("loaded", 0) > 0 and outcomes.get("error", 0) > 0
