"""The vendored public programs (tests/libbpf_progs) build with `bpf-vm build`, load and
verify in the VM, and each program's attach point under `trace-run --probe` is either
provided or refused with a reason (issue 15, "Tests and targets")."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bpf_vm import FakeHost, Vm, load_object
from bpf_vm.load import load_programs
from tests.libbpf import catalogue
from tests.libbpf.catalogue import PROGRAMS, PROGS, Vendored
from tests.libbpf.conftest import Built, Headers

# building the 20 programs against a 2.8 MB vmlinux.h takes ~20 s on a cold cache
pytestmark = [pytest.mark.needs_bpf_cc, pytest.mark.slow]

NAMES = [p.name for p in PROGRAMS]


def test_at_least_twenty_vendored_programs_each_with_an_origin() -> None:
    origin = (PROGS / "ORIGIN.md").read_text()
    assert len(PROGRAMS) >= 20
    for prog in PROGRAMS:
        assert prog.path.is_file(), prog.path
        assert f"`{prog.source}`" in origin, f"{prog.source} has no entry in ORIGIN.md"
    for header in sorted(PROGS.glob("*/*.h")):
        rel = header.relative_to(PROGS).as_posix()
        assert f"`{rel}`" in origin, f"{rel} has no entry in ORIGIN.md"


def test_vmlinux_h_comes_from_bpf_vm_btf_dump(headers: Headers) -> None:
    """The vmlinux.h the programs build against is trace-run's own dump of the host BTF
    (until `bpf-vm btf dump --format c` lands, bpftool's is used and this test says so)."""
    if headers.bpf_vm_dump_missing is not None:
        pytest.skip("waiting on `bpf-vm btf dump --format c` (bpf_vm/btf_c.py): "
                    f"{headers.bpf_vm_dump_missing}; vmlinux.h came from bpftool")
    text = (headers.dir / "vmlinux.h").read_text()
    for decl in ("struct task_struct {", "struct pt_regs {", "struct seccomp_data {",
                 "struct trace_event_raw_sys_enter {", "#ifndef __VMLINUX_H__"):
        assert decl in text


@pytest.mark.parametrize("name", NAMES)
def test_builds(name: str, build_all: dict[str, Built]) -> None:
    b = build_all[name]
    if b.prog.build_fails is not None:
        assert b.exit_code != 0, f"{name} builds now: drop its build_fails note"
        pytest.xfail(b.prog.build_fails)
    assert b.exit_code == 0, b.output
    assert b.obj is not None and b.obj.stat().st_size > 0


def _loaded(name: str, objects: dict[str, Path]) -> tuple[Vendored, Vm, object]:
    prog = catalogue.BY_NAME[name]
    if name not in objects:
        pytest.skip(f"{name} did not build: {prog.build_fails or 'see test_builds'}")
    vm = Vm(host=FakeHost())
    return prog, vm, load_object(objects[name], vm)


@pytest.mark.parametrize("name", NAMES)
def test_loads_and_verifies(name: str, objects: dict[str, Path]) -> None:
    """Every program whose attach point trace-run provides verifies in the VM; a
    program refused at attach may also be refused by the verifier (its context is not
    one trace-run builds), but the object still loads."""
    prog, vm, obj = _loaded(name, objects)
    programs = obj.programs  # type: ignore[attr-defined]
    assert programs, f"{name}: no programs"
    must_run = prog.attach | prog.tail_calls
    load_programs(vm, [p for p in programs.values() if p.name in must_run])
    for p in programs.values():
        if p.name in must_run:
            continue
        try:
            load_programs(vm, [p])
        except Exception as exc:  # refused here: must be refused at attach too
            assert p.name in prog.refuse or not prog.attach, (p.name, exc)


def _attach_module():  # type: ignore[no-untyped-def]
    if importlib.util.find_spec("probes.attach") is None:
        pytest.skip("waiting on probes/attach.py (attach points from section names)")
    import probes.attach as attach
    return attach


@pytest.mark.parametrize("name", NAMES)
def test_attach_plan(name: str, objects: dict[str, Path]) -> None:
    """The programs at syscall attach points attach, prog-array members are tail-call
    targets, the others are refused with a reason naming the section."""
    attach = _attach_module()
    prog, _vm, obj = _loaded(name, objects)
    plan = attach.plan(obj)
    attached = {a.program.name for a in plan.attached}
    refused = {r.program: r for r in plan.refused}
    programs = set(obj.programs)  # type: ignore[attr-defined]
    assert attached | set(refused) | set(plan.tail_calls) == programs
    assert prog.attach <= attached, (prog.attach - attached, refused)
    assert prog.tail_calls == set(plan.tail_calls) or not prog.tail_calls
    assert prog.refuse <= set(refused)
    for r in refused.values():
        assert r.reason.strip(), f"{r.program} ({r.section}) refused without a reason"
