"""Compiling BPF C at test time, for the object-file tests.

Every test object is built from source by probes.build (bpf_vm.toolchain with
probes/include; ziglang's clang, or $BPF_CC),
with a cache private to the test session, so the tests exercise the compiler the
project ships with and never depend on a stale object.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bpf_vm.toolchain import BuildError
from probes import build

PRELUDE = '#include "bpf_helpers.h"\n#include "bpf_tracing.h"\n#include "syscall_nrs.h"\n'


class Compiler:
    """``cc(source) -> Path`` of the object; sources are dedented and get PRELUDE."""

    def __init__(self, workdir: Path, cache: Path) -> None:
        self.workdir = workdir
        self.cache = cache
        self.count = 0

    def __call__(self, source: str, name: str | None = None, prelude: bool = True) -> Path:
        self.count += 1
        stem = name or f"t{self.count}"
        src = self.workdir / f"{stem}.bpf.c"
        src.write_text((PRELUDE if prelude else "") + textwrap.dedent(source))
        return build(src, self.workdir / f"{stem}.o", cache=self.cache)


@pytest.fixture(scope="session", name="cc")
def cc_fixture(tmp_path_factory: pytest.TempPathFactory) -> Compiler:
    return Compiler(tmp_path_factory.mktemp("bpf-src"), tmp_path_factory.mktemp("bpf-cache"))


__all__ = ["PRELUDE", "BuildError", "Compiler", "cc_fixture"]
