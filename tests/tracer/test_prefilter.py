"""The seccomp prefilter (probes/prefilter.py) and seccomp's own outcomes, against the
kernel: the same filter loaded with seccomp(2) answers as the Python evaluation says,
and a program under ``--policy`` sees what it sees under a seccomp filter of its own."""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.abi import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT
from probes.prefilter import (
    RESERVED,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_KILL_THREAD,
    SECCOMP_RET_TRACE,
    SECCOMP_RET_TRAP,
    Outcome,
    Prefilter,
    run,
)
from tests.tracer.conftest import run_cli

numbers = st.frozensets(st.integers(0, 520), max_size=300)


@settings(max_examples=60, deadline=None)
@given(allowed=numbers, cookie=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
       probes=st.lists(st.integers(0, 600), min_size=1, max_size=40))
def test_the_filter_allows_exactly_its_set(allowed: frozenset[int], cookie: int | None,
                                           probes: list[int]) -> None:
    prog = Prefilter(allowed, cookie).program()
    for nr in probes:
        want = SECCOMP_RET_ALLOW if nr in allowed else SECCOMP_RET_TRACE
        assert run(prog, nr, AUDIT_ARCH_X86_64) == want, nr
        # another ABI is always traced, whatever the number
        assert run(prog, nr, AUDIT_ARCH_I386) == SECCOMP_RET_TRACE
        assert run(prog, nr | X32_SYSCALL_BIT, AUDIT_ARCH_X86_64) == SECCOMP_RET_TRACE
    assert run(prog, -1, AUDIT_ARCH_X86_64) == SECCOMP_RET_TRACE


@pytest.mark.parametrize("outcome,ret", [(Outcome.KILL_PROCESS, SECCOMP_RET_KILL_PROCESS),
                                         (Outcome.KILL_THREAD, SECCOMP_RET_KILL_THREAD),
                                         (Outcome.TRAP, SECCOMP_RET_TRAP)])
def test_reserved_numbers_need_the_cookie(outcome: Outcome, ret: int) -> None:
    prog = Prefilter(frozenset({0, 1}), cookie=0xC0FFEE).program()
    args = (0, 0, 0, 0, 0, 0xABCD_0000_00C0_FFEE)   # only the low half is compared
    for arch in (AUDIT_ARCH_X86_64, AUDIT_ARCH_I386):
        assert run(prog, RESERVED + outcome, arch, args) == ret
        assert run(prog, RESERVED + outcome, arch, (0,) * 6) == SECCOMP_RET_TRACE
    assert run(Prefilter(frozenset()).program(), RESERVED, AUDIT_ARCH_X86_64,
               args) == SECCOMP_RET_TRACE   # no cookie: an unknown number, traced


# ---- the kernel runs the same filter ------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_CHILD_NEEDS = frozenset({1, 3, 60, 231})   # write, close, exit, exit_group: the child's own
_libc.syscall.restype = ctypes.c_long


def _in_child(prefilter: Prefilter, calls: list[tuple[int, tuple[int, ...]]]) -> tuple[
        list[int], int]:
    """Fork; the child installs ``prefilter`` (no tracer: SECCOMP_RET_TRACE answers
    ENOSYS) and makes ``calls``; returns what each returned (-errno on failure) and the
    child's wait status."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # pragma: no cover - the child
        try:
            os.close(r)
            from tracer.seccomp_install import install
            install(prefilter.bytes())
            for nr, args in calls:
                ret = _libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
                value = -ctypes.get_errno() if ret == -1 else ret
                os.write(w, f"{value}\n".encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = [int(line) for line in f]
    _, status = os.waitpid(pid, 0)
    return out, status


def test_the_kernel_answers_as_the_evaluation() -> None:
    getpid, getppid, getuid = 39, 110, 102
    allowed = frozenset({getpid, getuid}) | _CHILD_NEEDS
    pf = Prefilter(allowed)
    calls = [(getpid, ()), (getppid, ()), (getuid, ()), (9999, ())]
    got, status = _in_child(pf, calls)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    for (nr, _), value in zip(calls, got, strict=True):
        verdict = run(pf.program(), nr, AUDIT_ARCH_X86_64)
        if verdict == SECCOMP_RET_ALLOW:
            assert value >= 0 or nr == 9999
        else:   # traced, and nobody traces the child
            assert verdict == SECCOMP_RET_TRACE and value == -38, (nr, value)


@pytest.mark.parametrize("outcome", list(Outcome))
def test_the_kernel_gives_the_reserved_outcomes(outcome: Outcome) -> None:
    cookie = 0x5EC0_3E11
    pf = Prefilter(frozenset({39}) | _CHILD_NEEDS, cookie)
    # with the cookie: the outcome; without: an unknown traced number (ENOSYS)
    got, status = _in_child(pf, [(RESERVED + outcome, (0, 0, 0, 0, 0, 1)),
                                 (RESERVED + outcome, (0, 0, 0, 0, 0, cookie))])
    assert got[0] == -38
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


# ---- seccomp's outcomes through trace-run -------------------------------------------

OUTCOMES_PROFILE = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
    {"names": ["chdir"], "action": "SCMP_ACT_TRAP"},
    {"names": ["rmdir"], "action": "SCMP_ACT_KILL_THREAD"},
    {"names": ["mkdir"], "action": "SCMP_ACT_KILL_PROCESS"}]}


def _raw_run(argv: list[str], cwd: Path) -> tuple[str, int]:
    """Run ``argv`` with core dumps allowed (into ``cwd``); its stdout and raw status."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # pragma: no cover - the child
        try:
            os.chdir(cwd)
            os.dup2(w, 1)
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    _, status = os.waitpid(pid, 0)
    return out, status


@pytest.mark.parametrize("mode", ["trap", "thread", "process"])
def test_outcomes_are_the_kernels(mode: str, tmp_path: Path,
                                  cprog: Callable[[str], Path]) -> None:
    """The same program under its own seccomp filter and under trace-run --policy:
    the same stdout (TRAP's siginfo, registers and return value), the same end (the
    signal and the core-dump flag of the traced process)."""
    exe = cprog("seccomp_outcomes")
    kernel_out, status = _raw_run([str(exe), "kernel", mode], tmp_path)
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps(OUTCOMES_PROFILE))
    jl = tmp_path / "c.jsonl"
    (tmp_path / "core").unlink(missing_ok=True)
    res = subprocess.run(
        [sys.executable, "-m", "tracer.cli", "--policy", str(profile), "-o", os.devnull,
         "--json", str(jl), str(exe), mode], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False, env={**os.environ, "PYTHONPATH": str(Path.cwd())},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE,
                                              (resource.RLIM_INFINITY,) * 2))
    assert "Traceback" not in res.stderr
    assert res.stdout == kernel_out
    events = [json.loads(line) for line in jl.read_text().splitlines()]
    (end,) = [e for e in events if e.get("event") == "exit" and e["pid"] == e["tid"]
              and e["tid"] == min(x["tid"] for x in events if "tid" in x)]
    if os.WIFSIGNALED(status):
        assert (end["signo"], end["core_dumped"]) == (os.WTERMSIG(status),
                                                      os.WCOREDUMP(status))
        assert res.returncode == -os.WTERMSIG(status)
    else:
        assert end["status"] == os.WEXITSTATUS(status) == res.returncode


def test_seccomp_bpf_installs_a_filter() -> None:
    """--seccomp-bpf: the command runs under a seccomp filter (Seccomp: 2); plain
    tracing does not add one."""
    code = "print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])"
    with_filter = run_cli("--seccomp-bpf", "-e", "trace=openat", "-o", os.devnull,
                          sys.executable, "-c", code)
    without = run_cli("-e", "trace=openat", "-o", os.devnull, sys.executable, "-c", code)
    assert (with_filter.stdout, without.stdout) == ("2\n", "0\n"), with_filter.stderr


def test_seccomp_bpf_with_p_says_so() -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        r = run_cli("--seccomp-bpf", "-e", "trace=none", "-p", str(sleeper.pid), "true")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert "--seccomp-bpf is not enabled for processes attached with -p" in r.stderr


@pytest.mark.needs_strace
@pytest.mark.parametrize("expr", ["trace=openat,close", "trace=%file", "trace=write"])
def test_seccomp_bpf_lines_are_strace_s(expr: str, tmp_path: Path) -> None:
    argv = ["dd", "if=/dev/zero", f"of={tmp_path}/out", "bs=1", "count=5"]
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    r = run_cli("--seccomp-bpf", "-e", expr, "-o", str(ours), *argv)
    subprocess.run(["strace", "--seccomp-bpf", "-e", expr, "-o", str(theirs), *argv],
                   capture_output=True, check=True, timeout=60)
    assert r.returncode == 0, r.stderr

    def lines(p: Path) -> list[str]:   # dd reports its own timing; the rest must agree
        return [re.sub(r"0x[0-9a-f]+ /\* \d+ vars \*/", "ENV", ln)
                for ln in p.read_text().splitlines() if "copied" not in ln]
    assert lines(ours) == lines(theirs)


# ---- what each run traces (tracer/prefilter_choice.py) ------------------------------

def test_what_each_run_traces() -> None:
    from probes.abi import Abi, syscall_number
    from tracer.prefilter_choice import ALWAYS_TRACED, choose
    from tracer.qualify import parse_syscall_set

    openat, read, clone = (syscall_number(Abi.X86_64, n) for n in ("openat", "read", "clone"))
    trace = parse_syscall_set("openat")
    common = {"trace": trace, "outputs": True, "injections": False, "attaching": False}
    # no --seccomp-bpf, no policy, no probe asking: no filter, as strace
    assert choose(seccomp_bpf=False, policy_allowed=None, **common) is None
    # --seccomp-bpf -e trace=openat: openat and the always-traced calls stop, read runs
    pf = choose(seccomp_bpf=True, policy_allowed=None, **common)
    assert pf is not None and pf.cookie is None
    assert openat not in pf.allowed and read in pf.allowed and clone not in pf.allowed
    assert not ALWAYS_TRACED & pf.allowed
    # a policy allowing read and openat outright: openat is still traced for the lines,
    # with -e trace=none neither; and the filter carries the outcomes (a cookie)
    allowed = frozenset({read, openat})
    pf = choose(seccomp_bpf=False, policy_allowed=allowed, **common)
    assert pf is not None and pf.cookie is not None and pf.allowed == {read}
    pf = choose(seccomp_bpf=False, policy_allowed=allowed,
                **{**common, "trace": parse_syscall_set("none")})
    assert pf is not None and pf.allowed == allowed
    # injections see every call; -p cannot have a filter
    pf = choose(seccomp_bpf=True, policy_allowed=allowed, **{**common, "injections": True})
    assert pf is not None and pf.allowed == frozenset()
    assert choose(seccomp_bpf=True, policy_allowed=allowed,
                  **{**common, "attaching": True}) is None
    # a probe calling bpf_seccomp_return: every call seen, with the outcomes
    pf = choose(seccomp_bpf=False, policy_allowed=None, outcomes=True, **common)
    assert pf is not None and pf.cookie is not None and pf.allowed == frozenset()
