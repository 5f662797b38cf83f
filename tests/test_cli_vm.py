"""The bpf-vm CLI through typer's CliRunner: exit codes and output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpf_vm.cli import app

runner = CliRunner()

SUM = """\
; sum 1..10
r0 = 0
r1 = 10
loop:
r0 += r1
r1 -= 1
if r1 != 0 goto loop
exit
"""


@pytest.fixture
def prog(tmp_path: Path) -> Path:
    p = tmp_path / "sum.s"
    p.write_text(SUM)
    return p


def test_run_assembly_prints_r0_in_hex(prog: Path) -> None:
    res = runner.invoke(app, ["run", str(prog)])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "0x37"


def test_asm_disasm_asm_gives_the_same_bytes(prog: Path, tmp_path: Path) -> None:
    out = tmp_path / "sum.bin"
    assert runner.invoke(app, ["asm", str(prog), "-o", str(out)]).exit_code == 0
    listing = runner.invoke(app, ["disasm", str(out)])
    assert listing.exit_code == 0
    again = tmp_path / "again.s"
    again.write_text(listing.output)
    out2 = tmp_path / "again.bin"
    assert runner.invoke(app, ["asm", str(again), "-o", str(out2)]).exit_code == 0
    assert out.read_bytes() == out2.read_bytes()


def test_disasm_hex_input(tmp_path: Path) -> None:
    p = tmp_path / "p.txt"
    p.write_text("b7 00 00 00 2a 00 00 00\n95 00 00 00 00 00 00 00\n")
    res = runner.invoke(app, ["disasm", "--hex", str(p)])
    assert res.exit_code == 0
    assert "r0 = 0x2a" in res.output and "exit" in res.output


def test_run_with_memory(tmp_path: Path) -> None:
    p = tmp_path / "m.s"
    p.write_text("r0 = *(u16 *)(r1 + 2)\nr0 += r2\nexit\n")
    res = runner.invoke(app, ["run", str(p), "--mem", "00 00 34 12"])
    assert res.exit_code == 0
    assert res.output.strip() == "0x1238"


def test_trace_shows_each_step(prog: Path) -> None:
    res = runner.invoke(app, ["run", str(prog), "--trace"])
    assert res.exit_code == 0
    lines = res.output.strip().splitlines()
    assert lines[-1] == "0x37"
    assert "r0 = 0x0" in lines[0]
    assert sum("r0 += r1" in line for line in lines) == 10
    assert "r1 0x1 -> 0x0" in res.output


@pytest.mark.kernel
def test_engine_kernel_agrees(prog: Path) -> None:
    res = runner.invoke(app, ["run", str(prog), "--engine", "kernel"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "0x37"


@pytest.mark.parametrize("text, needle", [
    ("r0 = 1\nr11 = 2\nexit\n", ":2:1: expected a register"),
    ("r0 = *(u64 *)(r10 + 0)\nexit\n", "0: invalid read of 8 bytes"),
    ("r0 = 0\n", "fell off the end"),
])
def test_errors_are_one_line_exit_1(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "bad.s"
    p.write_text(text)
    # unverified: the run-time checks' errors (the verifier's: tests/test_cli_verify.py)
    res = runner.invoke(app, ["run", "--no-verify", str(p)])
    assert res.exit_code == 1
    assert needle in res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_missing_file(tmp_path: Path) -> None:
    res = runner.invoke(app, ["run", str(tmp_path / "nope.s")])
    assert res.exit_code == 1
    assert "No such file" in res.output


def _conformance(argv: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpf_vm.conformance", *argv], input=stdin,
                          capture_output=True, text=True, timeout=30)


def test_conformance_protocol() -> None:
    # r0 = *(u32 *)(r1 + 0); r0 += r2; exit
    prog = "61 10 00 00 00 00 00 00 0f 20 00 00 00 00 00 00 95 00 00 00 00 00 00 00"
    res = _conformance(["01 00 00 00"], prog)
    assert res.returncode == 0 and res.stdout.strip() == "5"
    res = _conformance([], prog.replace(" ", ""))     # contiguous hex, no memory
    assert res.returncode == 1                          # NULL read: an error, exit 1
    assert "NULL" in res.stdout


def test_conformance_offers_the_helpers_that_need_no_task() -> None:
    # call 5 (bpf_ktime_get_ns); r0 = r0 != 0; exit
    prog = "85 00 00 00 05 00 00 00 55 00 01 00 00 00 00 00 05 00 01 00 00 00 00 00" \
           " b7 00 00 00 01 00 00 00 95 00 00 00 00 00 00 00"
    res = _conformance([], prog)
    assert (res.returncode, res.stdout.strip()) == (0, "1"), res.stdout
    # call 14 (bpf_get_current_pid_tgid): there is no task here, no such helper
    res = _conformance([], "85 00 00 00 0e 00 00 00 95 00 00 00 00 00 00 00")
    assert res.returncode == 1 and "helper" in res.stdout


def test_conformance_imports_neither_typer_nor_pydantic() -> None:
    """Start-up time is measured by scripts/bench_conformance_startup.py; here we only
    check that the heavy imports stay out of the plugin's path."""
    code = ("import sys, bpf_vm.conformance;"
            "print(sorted(m for m in ('typer', 'pydantic', 'rich', 'click') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.strip() == "[]"


def test_version_option() -> None:
    from bpf_vm._version import __version__
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output == f"bpf-vm (trace-run) {__version__}\n"
