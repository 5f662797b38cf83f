"""The bundled probe is passive for every ABI: i386 (int 0x80) and x32 calls from a
traced program return what they return untraced, run the probe's own i386 and x32
entry programs, and show in the text as strace shows them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.tracer.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.ptrace]

I386_CALLS = re.compile(r"^\[ Process PID=\d+ runs in 32 bit mode\. \]\n"
                        r".*?\bwrite\(1, \"hello from int 0x80.*?$", re.MULTILINE | re.DOTALL)


def _untraced(exe: Path) -> str:
    return subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout


def _i386_lines(text: str, pid: str) -> str:
    """From the switch to 32 bit mode to the i386 write."""
    m = I386_CALLS.search(text)
    assert m, text
    return m.group(0).replace(pid, "PID")


def test_i386_and_x32_calls_are_unchanged_by_plain_tracing(tmp_path: Path, cprog) -> None:  # type: ignore[no-untyped-def]
    exe = cprog("abi32")
    plain = _untraced(exe)
    log, js, pk = tmp_path / "log", tmp_path / "log.json", tmp_path / "printk"
    res = run_cli("-o", str(log), "--json", str(js), "--printk", str(pk), str(exe))
    assert res.returncode == 0, res.stdout + res.stderr
    # the same values as untraced, the pid aside: getpid is the real pid, write wrote
    assert "hello from int 0x80\n" in res.stdout
    pid = re.search(r"pid=(\d+) real=\1 ", res.stdout)
    assert pid, res.stdout
    normal = re.compile(r"pid=\d+ real=\d+ ")
    assert normal.sub("", res.stdout) == normal.sub("", plain)
    records = [json.loads(line) for line in js.read_text().splitlines()]
    i386 = [r for r in records if r.get("abi") == "i386"]
    assert [r["name"] for r in i386] == ["getpid", "open", "read", "close", "write"]
    assert {r["action"] for r in i386} == {"allow"}
    (x32,) = [r for r in records if r.get("abi") == "x32"]
    assert x32["action"] == "allow"
    # the i386 programs ran (their slots, their argument registers)
    printk = pk.read_text()
    assert 'open("/proc/self/comm", 0x0) [i386]' in printk, printk
    assert "write(1, 0x" in printk and ", 20) [i386]" in printk, printk


@pytest.mark.needs_strace
def test_i386_text_is_strace_s(cprog) -> None:  # type: ignore[no-untyped-def]
    """strace -f's lines on stderr, the personality switches included (strace -o leaves
    those out of the file; it writes them only with the trace on stderr)."""
    exe = cprog("abi32")
    done = subprocess.run(["strace", "-f", str(exe)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0
    theirs_pid = re.search(r"real=(\d+)", done.stdout)
    res = run_cli(str(exe))
    ours_pid = re.search(r"real=(\d+)", res.stdout)
    assert theirs_pid and ours_pid
    assert (_i386_lines(res.stderr, ours_pid.group(1))
            == _i386_lines(done.stderr, theirs_pid.group(1)))


def test_x32_is_exercised_or_the_kernel_lacks_it(cprog) -> None:  # type: ignore[no-untyped-def]
    """Where the kernel runs x32 (CONFIG_X86_X32_ABI), x32 getpid is the pid under
    tracing too; elsewhere it is ENOSYS traced and untraced (the test above)."""
    out = _untraced(cprog("abi32"))
    if "x32=-38" in out:
        pytest.skip("the kernel has no x32 ABI (CONFIG_X86_X32_ABI is off): x32 calls are"
                    " ENOSYS whether traced or not")
    res = run_cli("-o", "/dev/null", str(cprog("abi32")))
    m = re.search(r"real=(\d+) .* x32=(\d+)", res.stdout)
    assert m and m.group(1) == m.group(2), res.stdout


def test_compat_numbers_header_is_generated() -> None:
    """probes/include/syscall_nrs_compat.h is what scripts/gen_compat_nrs.py makes of
    the tables the tracer uses."""
    import sys
    done = subprocess.run([sys.executable, "scripts/gen_compat_nrs.py", "--check"],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
