"""trace-run's policy options: --print-programs, bad profiles (exit 2, JSON paths), option
combinations, --strict.  In-process (``tracer.cli.main``) where no command runs."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tracer.cli import main

from .conftest import DATA


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Cli:
    """trace-run run in this process, its stdout and stderr captured."""


@pytest.fixture
def cli() -> Cli:
    return Cli()


def invoke(cli: Cli, *args: str | Path) -> Result:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


def test_print_programs(cli: Cli, tmp_path: Path) -> None:
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}))
    r = invoke(cli, "--policy", prof, "--print-programs")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "dispatch: entry program of the x86_64 ABI" in out
    assert "x86_64_socket: progs_x86_64[41] = x86_64 socket (nr 41)" in out
    assert "i386_socket: progs_i386[359] = i386 socket (nr 359)" in out
    assert "dispatch_x32: entry program of the x32 ABI (not allowed: kills)" in out
    assert "; syscalls[0]: SCMP_ACT_ALLOW if arg0 == 0x1" in out
    for insn in ("r3 = *(u32 *)(r1 + 0x78)", "r2 = map[progs_x86_64] ll",
                 "call bpf_tail_call", "r2 = -0x1", "call bpf_override_return",
                 "r2 = *(u32 *)(r6 + 0x74)", "r2 = *(u32 *)(r6 + 0x70)",
                 "r2 = *(u32 *)(r6 + 0x28)"):
        assert insn in out, insn


def test_print_programs_of_docker_profile(cli: Cli) -> None:
    r = invoke(cli, "--policy", DATA / "docker_like.json", "--cap", "CAP_CHOWN",
               "--print-programs")
    assert r.exit_code == 0, r.output
    assert "x86_64_clone: progs_x86_64[56]" in r.stdout
    assert "(arg0 & 0x7e020000) == 0x0" in r.stdout
    assert "x32_clone3: progs_x32[435] = x32 clone3 (nr 0x400001b3)" in r.stdout


def test_bad_profile_exits_2_with_json_path(cli: Cli, tmp_path: Path) -> None:
    prof = tmp_path / "bad.json"
    prof.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["a"], "action": "SCMP_ACT_ALLOW"}, {"names": ["b"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["c"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]}))
    r = invoke(cli, "--policy", prof, "true")
    assert r.exit_code == 2
    assert (f"trace-run: {prof}: syscalls[3].args[0].op: expected one of SCMP_CMP_NE,"
            " SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT,"
            " SCMP_CMP_MASKED_EQ, got 'SCMP_CMP_FOO'") in r.stderr
    assert "Traceback" not in r.output


def test_missing_profile_and_bad_json(cli: Cli, tmp_path: Path) -> None:
    r = invoke(cli, "--policy", tmp_path / "none.json", "true")
    assert r.exit_code == 2 and "No such file or directory" in r.stderr
    (tmp_path / "x.json").write_text("{")
    r = invoke(cli, "--policy", tmp_path / "x.json", "true")
    assert r.exit_code == 2 and "not valid JSON" in r.stderr


def test_unknown_names_warn_and_strict_fails(cli: Cli, tmp_path: Path) -> None:
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdri"], "action": "SCMP_ACT_ERRNO"}]}))
    r = invoke(cli, "--policy", prof, "--print-programs")
    assert r.exit_code == 0
    assert ("trace-run: warning: " + str(prof) + ": syscalls[0].names[1]: unknown syscall"
            " 'mkdri'") in r.stderr
    r = invoke(cli, "--policy", prof, "--strict", "--print-programs")
    assert r.exit_code == 2
    assert f"trace-run: {prof}: syscalls[0].names[1]: unknown syscall 'mkdri'" in r.stderr


def test_trace_action_is_refused(cli: Cli, tmp_path: Path) -> None:
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 1}]}))
    r = invoke(cli, "--policy", prof, "true")
    assert r.exit_code == 2
    assert "syscalls[0].action: SCMP_ACT_TRACE is not supported" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--audit", "true"], "need --policy PROFILE"),
    (["--print-programs"], "need --policy PROFILE"),
    (["--policy", "P", "--print-programs", "true"], "runs no command"),
    (["--policy", "P"], "missing CMD"),
    (["--policy", "P", "--sweep", "true"], "do not go together"),
    (["--policy", "P", "--record-profile", "o.json", "true"], "do not go together"),
    (["--merge", "b.json", "true"], "--merge needs --record-profile"),
    (["--policy", "P", "--probe", "x.s", "true"], "--probe does not go with"),
    (["--sweep", "--sweep-errno", "EWHAT", "true"], "unknown errno 'EWHAT'"),
    (["--sweep", "--sweep-errno", "0", "true"], "--sweep-errno: 0 is not an errno (1 to 4095)"),
    (["--sweep", "--sweep-errno", "4096", "true"], "--sweep-errno: 4096 is not an errno"),
    ([], "must have CMD [ARGS] or -p PID"),
])
def test_option_combinations(cli: Cli, tmp_path: Path, args: list[str],
                             message: str) -> None:
    prof = tmp_path / "p.json"
    prof.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    r = invoke(cli, *[str(prof) if a == "P" else a for a in args])
    assert r.exit_code == 2, r.output
    assert message in r.stderr


def test_record_to_stdout(cli: Cli) -> None:
    r = invoke(cli, "--record-profile", "-", "-o", "/dev/null", "true")
    assert r.exit_code == 0, r.output
    prof = json.loads(r.stdout)
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO"
    assert {"execve", "exit_group"} <= set(prof["syscalls"][0]["names"])


def test_merge_keeps_the_base(cli: Cli, tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                                "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
        {"names": ["zzz_not_used", "execve"], "action": "SCMP_ACT_ALLOW"}]}))
    out = tmp_path / "out.json"
    r = invoke(cli, "--record-profile", out, "--merge", base, "-o", "/dev/null", "true")
    assert r.exit_code == 0, r.output
    merged = json.loads(out.read_text())
    assert merged["defaultErrnoRet"] == 38
    assert merged["syscalls"][0]["args"][0]["op"] == "SCMP_CMP_EQ"
    names = merged["syscalls"][1]["names"]
    assert names == sorted(names) and "zzz_not_used" in names and "exit_group" in names
    assert len(merged["syscalls"]) == 2
