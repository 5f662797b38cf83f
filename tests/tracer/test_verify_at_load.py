"""trace-run verifies its BPF programs at load, before the command starts: a refused
``--probe`` is one error naming the program, the end of the verifier's log (all of it
with ``--verifier-log``) and exit 2, like trace-run's other bad input; ``--no-verify``
runs it on the VM's run-time checks alone (tests/tracer/test_probe_handler.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tracer.conftest import run_cli

PROBES = Path(__file__).parent / "probes"
REFUSED = ("trace-run: faulty: prog 'bad': verifier refused the program: invalid "
           "bpf_context access off=168 size=8")


@pytest.mark.ptrace
def test_refused_probe_exits_2_before_the_command(tmp_path: Path) -> None:
    res = run_cli("--probe", str(PROBES / "faulty.s"), "sh", "-c", "echo ran")
    assert res.returncode == 2
    assert res.stdout == ""                   # the command never started
    lines = res.stderr.splitlines()
    assert lines[0] == REFUSED
    assert lines[-2:] == ["0: (79) r0 = *(u64 *)(r1 +168)",
                          "invalid bpf_context access off=168 size=8"]
    assert "Traceback" not in res.stderr


@pytest.mark.ptrace
def test_verifier_log_prints_the_whole_log(tmp_path: Path) -> None:
    res = run_cli("--verifier-log", "--probe", str(PROBES / "faulty.s"), "true")
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert lines[0] == REFUSED
    assert lines[1].startswith("0: R1=ctx() R10=fp0")
    assert lines[-1].startswith("processed 1 insns (limit 1000000)")


@pytest.mark.ptrace
def test_refused_probe_with_an_injection_is_refused_too(tmp_path: Path) -> None:
    res = run_cli("--probe", str(PROBES / "faulty.s"), "-e", "inject=getpid:retval=1",
                  "true")
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == REFUSED


@pytest.mark.ptrace
@pytest.mark.needs_bpf_cc
def test_no_verify_with_the_default_probe_traces_as_usual() -> None:
    res = run_cli("--no-verify", "-e", "trace=none", "sh", "-c", "echo ok")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "ok\n"


def test_help_lists_the_options() -> None:
    res = run_cli("-h")
    assert res.returncode == 0
    assert "--no-verify" in res.stdout and "--verifier-log" in res.stdout
