"""The verifier at the bpf-vm CLI, in real processes: ``bpf-vm verify`` (exit codes,
the log, ``--kernel``'s two verdicts) and ``bpf-vm run`` refusing a program at load
(one error line and the log's end) or running it with ``--no-verify``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

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
NO_R0 = "r1 = 1\nexit\n"                      # R0 !read_ok
STACK_PAST_TOP = "r0 = *(u64 *)(r10 + 0)\nexit\n"   # a read above the stack
CTX_WRITE = "r2 = 1\n*(u64 *)(r1 + 0) = r2\nr0 = 0\nexit\n"
OBJECT = """\
.license "GPL"
.map counts array key=4 value=8 max_entries=1

.prog good kprobe/sys_enter
        r0 = *(u64 *)(r1 + 0x78)
        exit

.prog writes_ctx kprobe/sys_exit
        r2 = 1
        *(u64 *)(r1 + 0x0) = r2
        r0 = 0
        exit

.prog counts_it tracepoint/raw_syscalls/sys_enter
        w1 = 0
        *(u32 *)(r10 - 4) = r1
        r2 = r10
        r2 += -4
        r1 = map[counts] ll
        call bpf_map_lookup_elem
        if r0 == 0 goto out
        r1 = 1
        lock *(u64 *)(r0 + 0) += r1
out:
        r0 = 0
        exit
"""


def bpf_vm(*args: str | Path, columns: int | None = None
           ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run([sys.executable, "-c", "from bpf_vm.cli import main; main()",
                           *map(str, args)], capture_output=True, text=True, timeout=60,
                          env=env, check=False)


Write = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    def put(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p
    return put


# -- bpf-vm verify ----------------------------------------------------------------------

def test_verify_accepted_program_exits_0_with_the_statistics(write: Write) -> None:
    res = bpf_vm("verify", write("sum.s", SUM))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "prog 'sum' (raw program, syscall): accepted"
    assert lines[1].startswith("processed ") and "insns (limit 1000000)" in lines[1]
    assert res.stderr == ""


def test_verify_refused_program_exits_1_with_the_log(write: Write) -> None:
    res = bpf_vm("verify", write("bad.s", NO_R0))
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert lines[0] == "prog 'bad' (raw program, syscall): refused (EACCES): R0 !read_ok"
    assert "1: (95) exit" in lines
    assert lines[-2] == "R0 !read_ok"
    assert lines[-1].startswith("processed 2 insns")
    assert "Traceback" not in res.stderr


def test_verify_level_2_shows_every_state(write: Write) -> None:
    prog = write("sum.s", SUM)
    level1 = bpf_vm("verify", prog)
    level2 = bpf_vm("verify", "--log-level", "2", prog)
    assert level2.returncode == 0
    assert len(level2.stdout.splitlines()) > len(level1.stdout.splitlines()) + 5
    assert "R1=10" in level2.stdout or "R1_w=10" in level2.stdout


def test_verify_object_every_program_by_its_section(write: Write) -> None:
    obj = write("obj.s", OBJECT)
    res = bpf_vm("verify", obj)
    assert res.returncode == 1     # one of the three is refused
    heads = [ln for ln in res.stdout.splitlines() if ln.startswith("prog '")]
    assert heads == [
        "prog 'good' (section 'kprobe/sys_enter', kprobe): accepted",
        "prog 'writes_ctx' (section 'kprobe/sys_exit', kprobe): refused (EACCES): invalid"
        " bpf_context access off=0 size=8",
        "prog 'counts_it' (section 'tracepoint/raw_syscalls/sys_enter', tracepoint):"
        " accepted",
    ]
    assert bpf_vm("verify", "--prog", "good", obj).returncode == 0
    one = bpf_vm("verify", "--prog", "writes_ctx", obj)
    assert one.returncode == 1 and one.stdout.count("prog '") == 1


def test_verify_prog_type_overrides_the_section(write: Write) -> None:
    prog = write("w.s", CTX_WRITE)
    assert bpf_vm("verify", prog).returncode == 0          # raw: syscall, ctx writable
    res = bpf_vm("verify", "--prog-type", "kprobe", prog)
    assert res.returncode == 1
    assert "(raw program, kprobe): refused (EACCES): invalid bpf_context access off=0" \
        " size=8" in res.stdout


@pytest.mark.parametrize("args, needle", [
    (["--log-level", "3"], "--log-level: expected 1 or 2"),
    (["--prog-type", "xdp"], "--prog-type: expected one of kprobe"),
    (["--prog", "x"], "--prog applies to object files"),
])
def test_verify_bad_usage_exits_2(write: Write, args: list[str], needle: str) -> None:
    res = bpf_vm("verify", *args, write("sum.s", SUM))
    assert res.returncode == 2
    assert needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_verify_bad_input_exits_2(write: Write, tmp_path: Path) -> None:
    syntax = bpf_vm("verify", write("s.s", "r0 = r11\nexit\n"))
    assert syntax.returncode == 2 and "s.s:1:" in syntax.stderr
    missing = bpf_vm("verify", tmp_path / "nope.o")
    assert missing.returncode == 2 and "No such file" in missing.stderr
    no_prog = bpf_vm("verify", "--prog", "nope", write("obj.s", OBJECT))
    assert no_prog.returncode == 2 and "no program 'nope'" in no_prog.stderr
    for res in (syntax, missing, no_prog):
        assert "Traceback" not in res.stderr


def _kernel_or_skip() -> None:
    from bpf_vm import kernel
    reason = kernel.kernel_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.mark.kernel
def test_verify_kernel_side_by_side(write: Write) -> None:
    _kernel_or_skip()
    res = bpf_vm("verify", "--kernel", write("bad.s", NO_R0), columns=200)
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert lines[0] == "prog 'bad' (raw program, syscall):"
    left, _, right = lines[1].partition(" | ")
    assert left.strip() == "bpf-vm: refused (EACCES): R0 !read_ok"
    assert right == "kernel: refused (EACCES): R0 !read_ok"
    assert any(ln.startswith("R0 !read_ok") and ln.endswith("| R0 !read_ok")
               for ln in lines)
    assert lines[-1] == "verdicts agree"


@pytest.mark.kernel
def test_verify_kernel_narrow_terminal_two_blocks(write: Write) -> None:
    _kernel_or_skip()
    res = bpf_vm("verify", "--kernel", write("obj.s", OBJECT), columns=80)
    assert res.returncode == 1
    out = res.stdout
    assert "== bpf-vm: accepted" in out and "== kernel: accepted" in out
    assert ("== bpf-vm: refused (EACCES): invalid bpf_context access off=0 size=8" in out
            and "== kernel: refused (EACCES): invalid bpf_context access off=0 size=8"
            in out)
    assert out.count("verdicts agree") == 3, out


@pytest.mark.kernel
def test_verify_kernel_accepts_a_map_program_with_its_maps(write: Write) -> None:
    _kernel_or_skip()
    res = bpf_vm("verify", "--kernel", "--prog", "counts_it", write("obj.s", OBJECT),
                 columns=80)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "== kernel: accepted" in res.stdout and "verdicts agree" in res.stdout


# -- bpf-vm run: verified at load ----------------------------------------------------------

def test_run_refuses_an_unverifiable_program(write: Write) -> None:
    res = bpf_vm("run", write("bad.s", STACK_PAST_TOP))
    assert res.returncode == 1
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert lines[0].startswith("bpf-vm: error: bad: verifier refused the program: ")
    assert "(79) r0 = *(u64 *)(r10 +0)" in res.stderr     # the log's end, kernel syntax
    assert not any(ln.startswith("processed ") for ln in lines)
    assert "Traceback" not in res.stderr


def test_run_no_verify_shows_the_runtime_fault(write: Write) -> None:
    res = bpf_vm("run", "--no-verify", write("bad.s", STACK_PAST_TOP))
    assert res.returncode == 1
    assert res.stderr.startswith("bpf-vm: error: 0: invalid read of 8 bytes")
    assert len(res.stderr.strip().splitlines()) == 1


def test_run_no_verify_runs_what_the_verifier_refuses(write: Write) -> None:
    prog = write("bad.s", NO_R0)
    assert bpf_vm("run", prog).returncode == 1
    res = bpf_vm("run", "--no-verify", prog)
    assert res.returncode == 0 and res.stdout.strip() == "0x0"   # the VM zeroes r0


def test_run_verifier_log_whole_log_of_a_refused_program(write: Write) -> None:
    res = bpf_vm("run", "--verifier-log", write("bad.s", NO_R0))
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert lines[0] == "bpf-vm: error: bad: verifier refused the program: R0 !read_ok"
    assert lines[-1].startswith("processed 2 insns")


def test_run_verifier_log_of_an_accepted_program_is_level_2(write: Write) -> None:
    res = bpf_vm("run", "--verifier-log", write("sum.s", SUM))
    assert res.returncode == 0
    assert res.stdout.strip() == "0x37"
    assert res.stderr.startswith("-- verifier log of prog 'sum': accepted --\n")
    assert "(0f) r0 += r1                      ; R0=10 R1=10" in res.stderr
    assert "processed " in res.stderr


def test_run_with_memory_is_verified_with_r2_set(write: Write) -> None:
    res = bpf_vm("run", write("m.s", "r0 = *(u16 *)(r1 + 2)\nr0 += r2\nexit\n"),
                 "--mem", "00 00 34 12")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "0x1238"


def test_run_object_refuses_any_refused_program(write: Write) -> None:
    obj = write("obj.s", OBJECT)
    res = bpf_vm("run", obj, "--prog", "good", "--regs", "orig_ax=7")
    assert res.returncode == 1     # the object's writes_ctx is refused: nothing runs
    assert res.stderr.splitlines()[0] == (
        "bpf-vm: error: writes_ctx: verifier refused the program: invalid bpf_context"
        " access off=0 size=8")
    ok = bpf_vm("run", obj, "--prog", "good", "--regs", "orig_ax=7", "--no-verify")
    assert ok.returncode == 0 and ok.stdout.startswith("r0 = 0x7 (7)")
