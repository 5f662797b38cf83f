"""Session fixtures of the vendored-programs tests: the generated headers (vmlinux.h
from the host's BTF, samples/bpf's syscall_nrs.h) and each program built once."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.libbpf import catalogue
from tests.libbpf.catalogue import HOST_BTF, PROGS, Vendored


@dataclass
class Headers:
    """The generated include directory and how its vmlinux.h was made."""
    dir: Path
    vmlinux_by: str          # "bpf-vm btf dump --format c", or the bpftool fallback
    bpf_vm_dump_missing: str | None  # why bpf-vm's dump was not used (None: it was)


@pytest.fixture(scope="session")
def headers(tmp_path_factory: pytest.TempPathFactory) -> Headers:
    if not HOST_BTF.is_file():
        pytest.skip(f"{HOST_BTF} is missing: no host BTF to generate vmlinux.h from")
    gen = tmp_path_factory.mktemp("libbpf-gen")
    text, why = catalogue.btf_dump_c(HOST_BTF)
    missing = None
    if text is None:
        # FALLBACK until bpf-vm btf dump --format c lands (bpf_vm/btf_c.py)
        missing = why
        try:
            text = catalogue.bpftool_dump_c(HOST_BTF)
        except (OSError, subprocess.CalledProcessError) as exc:
            pytest.skip(f"no vmlinux.h: {why}; bpftool fallback failed: {exc}")
        why = "bpftool btf dump file /sys/kernel/btf/vmlinux format c (fallback)"
    (gen / "vmlinux.h").write_text(text)
    ktree = catalogue.kernel_tree_includes(gen / "ktree")
    try:
        nrs = catalogue.syscall_nrs_h(PROGS / "kernel_samples" / "syscall_nrs.c", ktree)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot generate samples/bpf's syscall_nrs.h with gcc: {exc}")
    (gen / "syscall_nrs.h").write_text(nrs)
    return Headers(gen, why, missing)


@dataclass
class Built:
    prog: Vendored
    obj: Path | None
    exit_code: int
    output: str


@pytest.fixture(scope="session")
def build_all(headers: Headers, tmp_path_factory: pytest.TempPathFactory) \
        -> dict[str, Built]:
    """Every vendored program built with `bpf-vm build` (clang-14 as $BPF_CC where
    installed, else the bundled compiler)."""
    if catalogue.compiler() is None:
        from tests.conftest import bpf_cc_reason
        if (why := bpf_cc_reason()) is not None:
            pytest.skip(why)
    out = tmp_path_factory.mktemp("libbpf-objs")
    built: dict[str, Built] = {}
    with catalogue.compiler_env():
        for prog in catalogue.PROGRAMS:
            obj = out / f"{prog.name}.bpf.o"
            code, text = catalogue.bpf_vm_build(prog, headers.dir, obj)
            built[prog.name] = Built(prog, obj if code == 0 else None, code, text)
    return built


@pytest.fixture(scope="session")
def objects(build_all: dict[str, Built]) -> dict[str, Path]:
    """The objects that built (by program name)."""
    return {name: b.obj for name, b in build_all.items() if b.obj is not None}
