"""Every BPF program trace-run ships or generates passes the verifier: the bundled probe
(C and assembly), the test probes that are meant to load, the programs of every
profile in tests/policy/data, and injections of each kind.  And verification happens
once per program object: a policy's programs shared by hundreds of slots are verified
once each, and a second load of the same programs verifies nothing again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import bpf_vm.verifier
from bpf_vm import FakeHost, Program, Vm, load_any, load_programs, prog_kind, prog_load
from bpf_vm.load import verify_program
from probes import DEFAULT_PROBE
from probes.abi import x86_64_syscall_number
from probes.policy.compiler import compile_policy
from probes.seccomp_helper import install as install_seccomp_helper

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "tests" / "policy" / "data" / "profiles"
TEST_PROBES = ROOT / "tests" / "tracer" / "probes"


def _refused(vm: Vm, programs: list[Program]) -> list[str]:
    out = []
    for p in programs:
        v = verify_program(p, vm=vm)
        if not v.accepted:
            out.append(f"{p.name} ({p.section}): {v.error}\n" + "\n".join(v.last_lines(8)))
    return out


def _load(path: Path) -> tuple[Vm, list[Program]]:
    vm = Vm(helpers=install_seccomp_helper(), host=FakeHost())
    obj = load_any(path, vm, syscall_number=x86_64_syscall_number)
    return vm, list(obj.programs.values())


@pytest.mark.parametrize("path", [
    ROOT / "probes" / "dispatch.s", ROOT / "probes" / "examples" / "sum.s",
    *(p for p in sorted(TEST_PROBES.glob("*.s")) if p.name != "faulty.s"),
], ids=lambda p: p.name)
def test_assembly_probes_are_accepted(path: Path) -> None:
    if path.name == "sum.s" and ".prog" not in path.read_text():
        from bpf_vm import assemble
        prog = Program.from_bytes(assemble(path.read_text()).code, name="sum")
        assert verify_program(prog, prog_type="syscall").accepted
        return
    vm, programs = _load(path)
    assert not _refused(vm, programs)


def test_faulty_probe_is_refused() -> None:
    vm, programs = _load(TEST_PROBES / "faulty.s")
    v = verify_program(programs[0], vm=vm)
    assert not v.accepted
    assert v.error == "invalid bpf_context access off=168 size=8"


@pytest.mark.needs_bpf_cc
def test_bundled_c_probe_is_accepted() -> None:
    from probes import build
    vm, programs = _load(build(DEFAULT_PROBE))
    assert len(programs) > 5
    assert not _refused(vm, programs)


def _policy(profile: dict[str, Any]) -> Any:
    from probes.policy.models import parse_profile
    from probes.policy.resolve import Environment, resolve
    return resolve(parse_profile(profile), Environment(caps=frozenset(), kernel=(6, 1)))


@pytest.mark.parametrize("name", sorted(p.name for p in PROFILES.glob("*.json")))
def test_policy_programs_are_accepted(name: str) -> None:
    compiled = compile_policy(_policy(json.loads((PROFILES / name).read_text())),
                              host=FakeHost())
    assert not _refused(compiled.vm, list(compiled.obj.programs.values()))


def test_injection_programs_are_accepted() -> None:
    from probes.inject import compile_injections
    from tracer.qualify import Qualifiers
    q = Qualifiers()
    for expr in ("inject=getpid:retval=42:signal=USR1:when=2..9+3",
                 "inject=openat:error=ENOENT:when=3+", "fault=mkdir:when=1",
                 "inject=read:signal=TERM", "inject=write:retval=0"):
        q.apply(expr)
    c = compile_injections(q.injections(), host=FakeHost())
    assert not _refused(c.obj.vm, list(c.obj.programs.values()))


def test_each_policy_program_is_verified_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Program] = []
    real = bpf_vm.verifier.verify

    def counting(program: Program, **kw: Any) -> Any:
        calls.append(program)
        return real(program, **kw)
    monkeypatch.setattr(bpf_vm.verifier, "verify", counting)
    compiled = compile_policy(_policy(json.loads((PROFILES / "docker-default.json")
                                                 .read_text())), host=FakeHost())
    programs = list(compiled.obj.programs.values())
    slots = len(compiled.slots)
    assert slots > 5 * len(programs)           # most slots share a program
    verdicts = [verify_program(p, vm=compiled.vm) for p in programs]
    assert sorted(map(id, calls)) == sorted(map(id, programs))   # each once
    again = [verify_program(p, vm=compiled.vm) for p in programs]   # the verdicts kept
    assert all(a is b for a, b in zip(verdicts, again, strict=True))
    if all(v.accepted for v in verdicts):      # loading verifies nothing again
        load_programs(compiled.vm, programs)
        for p in programs:
            prog_load(compiled.vm, p)
    assert len(calls) == len(programs)


@pytest.mark.parametrize("section, kind", [
    ("kprobe/do_sys_open", "kprobe"), ("kretprobe/x", "kprobe"),
    ("ksyscall/openat", "kprobe"), ("uprobe/bin:f", "kprobe"),
    ("tracepoint/syscalls/sys_enter_openat", "tracepoint"), ("tp/a/b", "tracepoint"),
    ("raw_tracepoint/sys_enter", "raw_tracepoint"), ("raw_tp/sys_enter", "raw_tracepoint"),
    ("tp_btf/sys_enter", "raw_tracepoint"), ("syscall", "syscall"),
    ("socket", "socket_filter"), ("xdp", "kprobe"), ("", "kprobe"), (".text", "kprobe"),
])
def test_prog_kind_by_section(section: str, kind: str) -> None:
    assert prog_kind(section) == kind
