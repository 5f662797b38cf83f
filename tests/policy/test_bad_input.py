"""Bad input to --policy and its options: one line ``trace-run: PROFILE: ...`` (or a
usage line) and exit 2, never a traceback, a hang or a crash: deep nesting, integers of
any size, FIFOs, devices, directories, huge files, unknown capabilities; and a rule set
beyond a 16-bit jump's reach compiles and runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from probes.abi import Abi, syscall_number
from probes.policy.models import MAX_PROFILE_BYTES, ProfileError, load_profile
from probes.policy.resolve import Environment, decide, resolve

from .conftest import compiled
from .test_cli import Cli, invoke

PROG = [sys.executable, "-c", "from tracer.cli import main; main()"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PROG, *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2])))


def one_error_line(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("trace-run: "), r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("depth", [40, 985, 5000, 200_000])
def test_any_nesting_depth(tmp_path: Path, depth: int) -> None:
    f = tmp_path / "deep.json"
    f.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "comment": ' + "[" * depth
                 + "]" * depth + "}")
    with pytest.raises(ProfileError) as info:
        load_profile(f)
    (line,) = info.value.lines()
    assert "nested" in line and "deep" in line
    if depth < 900:
        assert line.startswith(f"{f}: comment[0][0]")


def test_integers_of_any_size(tmp_path: Path) -> None:
    f = tmp_path / "big.json"
    f.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "op": "SCMP_CMP_EQ", "value": 0}]}]}).replace(
        '"value": 0', '"value": ' + "9" * 5000))
    with pytest.raises(ProfileError) as info:
        load_profile(f)
    assert info.value.lines() == [f"{f}: syscalls[0].args[0].value: expected an unsigned"
                                  " integer, got an integer of 5000 digits"]


@pytest.mark.parametrize("what", ["fifo", "dir", "/dev/zero", "/dev/null", "huge"])
def test_files_that_are_no_profile(tmp_path: Path, what: str) -> None:
    path = str(tmp_path / "p")
    if what == "fifo":
        os.mkfifo(path)
    elif what == "dir":
        os.mkdir(path)
    elif what == "huge":
        with open(path, "wb") as f:
            f.truncate(MAX_PROFILE_BYTES + 1)
    else:
        path = what
    r = run_cli("--policy", path, "--print-programs")
    one_error_line(r, f"trace-run: {path}: ")
    assert ("not a regular file" in r.stderr or "16 MiB" in r.stderr
            or "not valid JSON" in r.stderr)


def test_unicode_and_control_characters_stay_on_one_line(tmp_path: Path) -> None:
    f = tmp_path / "u.json"
    f.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "a\\nb\\ud800": 1, "syscalls":'
                 ' [{"names": ["r\\u00e9ad\\n"], "action": "SCMP_ACT_ERRNO"}]}')
    r = run_cli("--policy", str(f), "--print-programs")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "unknown field" in r.stderr


def test_errno_ret_libseccomp_refuses(tmp_path: Path) -> None:
    cli = Cli()
    f = tmp_path / "e.json"
    f.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4094},
        {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}]}))
    r = invoke(cli, "--policy", f, "--print-programs")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        f"trace-run: {f}: syscalls[1].errnoRet: 4095 is refused by libseccomp:"
        " SCMP_ACT_ERRNO takes an errno below 4095, and runc fails with EINVAL"]


def test_caps_validated_and_need_policy() -> None:
    cli = Cli()
    r = invoke(cli, "--policy", "x.json", "--cap", "CAP_FOO", "true")
    assert r.exit_code == 2 and r.stderr.splitlines() == [
        "trace-run: --cap: unknown capability 'CAP_FOO' (expected a name of"
        " capabilities(7), e.g. CAP_SYS_ADMIN, or ALL, or none)"]
    for args in (["--cap", "CAP_CHOWN", "true"], ["--cap", "none", "true"],
                 ["--strict", "true"]):
        r = invoke(cli, *args)
        assert r.exit_code == 2 and "need --policy PROFILE" in r.stderr, (args, r.stderr)


def test_empty_capability_set(tmp_path: Path) -> None:
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["chroot"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_CHROOT"]}}]}
    from probes.policy.models import parse_profile
    chroot = syscall_number(Abi.X86_64, "chroot")
    assert chroot is not None
    docker = resolve(parse_profile(prof), Environment.from_host())
    assert decide(docker, Abi.X86_64, chroot, [0] * 6).action.value == "SCMP_ACT_ALLOW"
    none = resolve(parse_profile(prof), Environment.from_host(["none"]))
    assert decide(none, Abi.X86_64, chroot, [0] * 6).action.value == "SCMP_ACT_ERRNO"


@pytest.mark.slow
def test_rules_beyond_a_16_bit_jump_compile_and_run() -> None:
    """10,900 argument rules on one syscall: the shared actions are far away (gotol)."""
    from probes.policy.models import parse_profile
    from probes.policy.runtime import PolicyRunner, pt_regs
    rules = [{"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 + k % 2,
              "args": [{"index": 1, "value": 0x5400 + k, "op": "SCMP_CMP_EQ"}]}
             for k in range(10_900)]
    policy = resolve(parse_profile({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}),
                     Environment.from_host())
    runner = PolicyRunner(compiled(policy))
    ioctl = syscall_number(Abi.X86_64, "ioctl")
    assert ioctl is not None
    for k in (0, 1, 5000, 10_899, 10_900, -1):
        args = [3, 0x5400 + k, 0, 0, 0, 0]
        want = decide(policy, Abi.X86_64, ioctl, args)
        assert want.errno == (1 + k % 2 if 0 <= k < 10_900 else None)
        assert runner.run(Abi.X86_64, pt_regs(Abi.X86_64, ioctl, args)).verdict == want


@pytest.mark.parametrize("line", ["r0 = {n}", "r0 = *(u64 *)(r10 - {n})", "if r1 > {n} goto +0"])
def test_asm_integers_of_any_size(line: str) -> None:
    """bpf-vm's assembler (the policy compiler's too): a 5000-digit number is a syntax
    error with its line and column, not Python's integer-string ValueError."""
    from bpf_vm.asm import assemble
    from bpf_vm.errors import AsmSyntaxError
    with pytest.raises(AsmSyntaxError, match="5000 characters does not fit in 64 bits"):
        assemble(line.format(n="9" * 5000) + "\nexit\n")
