"""Shared pieces of the policy tests: profiles from tests/policy/data, compiled policies
run on synthetic pt_regs through a FakeHost, and verdicts written as short strings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from probes.abi import Abi, syscall_number
from probes.policy.compiler import CompiledPolicy, compile_policy
from probes.policy.models import Action, parse_profile
from probes.policy.resolve import Environment, Policy, Verdict, resolve
from probes.policy.runtime import PolicyRunner, pt_regs

DATA = Path(__file__).parent / "data"


def load_json(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def env_of(spec: dict[str, Any] | None) -> Environment:
    spec = spec or {}
    return Environment(caps=frozenset(spec.get("caps", [])),
                       kernel=tuple(spec.get("kernel", (6, 1))))  # type: ignore[arg-type]


def make_policy(profile: dict[str, Any], env: Environment | None = None,
                strict: bool = False) -> Policy:
    return resolve(parse_profile(profile), env or env_of(None), strict=strict)


def compiled(policy: Policy) -> CompiledPolicy:
    from bpf_vm.host import FakeHost
    return compile_policy(policy, host=FakeHost())


_VERDICT = re.compile(r"^([A-Z_]+)(?:\((\d+)\))?$")


def verdict(text: str) -> Verdict:
    """``ERRNO(13)`` -> Verdict(SCMP_ACT_ERRNO, 13)."""
    m = _VERDICT.match(text)
    assert m, text
    action = Action("SCMP_ACT_" + m.group(1))
    return Verdict(action, int(m.group(2)) if m.group(2) is not None else None)


def show(v: Verdict) -> str:
    name = v.action.value.removeprefix("SCMP_ACT_")
    if v.action is Action.KILL:
        name = "KILL_THREAD"
    return f"{name}({v.errno})" if v.errno is not None else name


def number(abi: Abi, syscall: str) -> int:
    """A syscall name, or ``nr:N`` for a raw number."""
    if syscall.startswith("nr:"):
        return int(syscall[3:])
    nr = syscall_number(abi, syscall)
    assert nr is not None, (abi, syscall)
    return nr


def run_bpf(cp: CompiledPolicy, abi: Abi, nr: int, args: list[int]) -> Verdict:
    return PolicyRunner(cp).run(abi, pt_regs(abi, nr, args)).verdict


@pytest.fixture
def data_dir() -> Path:
    return DATA
