"""Policies on real processes, through the trace-run CLI (``python -m tracer.cli``):
enforce, audit, record -> enforce round trips, a Docker-format profile, a sweep."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import DATA

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.ptrace, pytest.mark.slow]


def trace_run(*args: str | Path, cwd: Path | None = None, timeout: float = 120
              ) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "tracer.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)


def write_profile(path: Path, profile: dict[str, Any]) -> Path:
    path.write_text(json.dumps(profile))
    return path


def syscall_lines(path: Path) -> list[dict[str, Any]]:
    return [o for o in map(json.loads, path.read_text().splitlines()) if "event" not in o]


DENY_MKDIR = {"defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}


def test_mkdir_denied_with_eperm(tmp_path: Path) -> None:
    prof = write_profile(tmp_path / "p.json", DENY_MKDIR)
    target = tmp_path / "newdir"
    jl = tmp_path / "calls.jsonl"
    r = trace_run("--policy", prof, "-o", os.devnull, "--json", jl,
                  "sh", "-c", f"mkdir {target}; echo status=$?")
    assert r.returncode == 0, r.stderr
    assert not target.exists()
    assert "status=1" in r.stdout
    assert "Operation not permitted" in r.stderr       # mkdir(1) reports it as it should
    (call,) = [c for c in syscall_lines(jl) if c["name"] in ("mkdir", "mkdirat")]
    assert (call["action"], call["errno"], call["ret"]) == ("deny", 1, -1)


def test_socket_inet_denied_unix_allowed(tmp_path: Path) -> None:
    prof = write_profile(tmp_path / "p.json", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
                      "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]})
    code = ("import socket\n"
            "u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); print('unix', u.fileno() > 2)\n"
            "try:\n    socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
            "except OSError as e:\n    print('inet', e.errno)\n"
            "else:\n    print('inet ok')\n")
    r = trace_run("--policy", prof, "-o", os.devnull, "python3", "-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["unix True", "inet 97"]


def test_masked_eq_on_open_flags(tmp_path: Path) -> None:
    """openat(dirfd, path, flags, mode) with O_CREAT (0x40) in its flags (argument 2) is
    refused with EROFS; plain reads still work."""
    prof = write_profile(tmp_path / "p.json", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30,
                      "args": [{"index": 2, "value": 64, "valueTwo": 64,
                                "op": "SCMP_CMP_MASKED_EQ"}]}]})
    out = tmp_path / "out.txt"
    r = trace_run("--policy", prof, "-o", os.devnull, "sh", "-c",
                  f"test -n \"$(cat /etc/passwd)\" && echo read-ok; echo x > {out}; echo $?")
    assert "read-ok" in r.stdout
    assert r.stdout.strip().endswith("2")                     # the redirection failed
    assert "Read-only file system" in r.stderr
    assert not out.exists()


def test_default_action_through_the_fall_through(tmp_path: Path) -> None:
    """Record a program, then run one that also calls mkdir: mkdir has no program in the
    prog array, so the dispatcher's fall-through (defaultAction ERRNO(1)) decides."""
    prof = tmp_path / "rec.json"
    base = "import os\nprint('hello')\n"
    r = trace_run("--record-profile", prof, "-o", os.devnull, "python3", "-c", base)
    assert r.returncode == 0, r.stderr
    assert "mkdir" not in json.loads(prof.read_text())["syscalls"][0]["names"]
    code = base + ("try:\n    os.mkdir('made')\nexcept OSError as e:\n"
                   "    print('mkdir', e.errno)\n")
    jl = tmp_path / "c.jsonl"
    r = trace_run("--policy", prof, "-o", os.devnull, "--json", jl, "python3", "-c", code,
                  cwd=tmp_path)
    assert r.stdout.split() == ["hello", "mkdir", "1"], r.stderr
    assert not (tmp_path / "made").exists()
    (call,) = [c for c in syscall_lines(jl) if c["name"] == "mkdir"]
    assert (call["action"], call["errno"]) == ("deny", 1)


def test_kill_process(tmp_path: Path) -> None:
    prof = write_profile(tmp_path / "p.json", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL_PROCESS"}]})
    jl = tmp_path / "c.jsonl"
    r = trace_run("--policy", prof, "-o", os.devnull, "--json", jl, "python3", "-c",
                  "import os; os.mkdir('x'); print('after')", cwd=tmp_path)
    # seccomp's kill, given by the kernel: SIGSYS (trace-run dies of it too, as strace)
    assert r.returncode == -signal.SIGSYS, r.stderr
    assert "after" not in r.stdout
    assert not (tmp_path / "x").exists()
    (call,) = [c for c in syscall_lines(jl) if c["name"] == "mkdir"]
    assert call["action"] == "kill" and call["ret"] is None


def test_audit_changes_nothing(tmp_path: Path) -> None:
    prof = write_profile(tmp_path / "p.json", DENY_MKDIR)
    script = f"mkdir {tmp_path}/d && echo made; rmdir {tmp_path}/d; mkdir {tmp_path}/e; exit 7"
    plain = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
    report = tmp_path / "report.json"
    r = trace_run("--policy", prof, "--audit", "--report", report, "-o", tmp_path / "lines",
                  "sh", "-c", script)
    assert (r.returncode, r.stdout) == (plain.returncode, plain.stdout) == (7, "made\n")
    assert (tmp_path / "e").is_dir()
    # the report is on stderr although -o took the syscall lines
    assert "audit of" in r.stderr and "would have been denied" in r.stderr
    assert "SCMP_ACT_ERRNO(EPERM)" in r.stderr and f'mkdir("{tmp_path}/d", 0777)' in r.stderr
    rep = json.loads(report.read_text())
    assert rep["mode"] == "audit"
    (row,) = rep["denied"]
    assert (row["syscall"], row["count"], row["errno"]) == ("mkdir", 2, 1)
    assert "DENIED" not in (tmp_path / "lines").read_text()


THREADS = ("import threading\n"
           "out = []\n"
           "ts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]\n"
           "[t.start() for t in ts]; [t.join() for t in ts]\n"
           "print(sorted(out))\n")


def listed_dir(tmp_path: Path) -> Path:
    """A directory only this test changes, with fixed contents and times: the output of
    ``ls`` compared across runs must not depend on what other processes do meanwhile."""
    d = tmp_path / "listed"
    d.mkdir()
    for i, name in enumerate(["a", "b.txt", "c.sh", "sub"]):
        path = d / name
        if name == "sub":
            path.mkdir()
        else:
            path.write_text("x" * i)
        os.utime(path, (1_600_000_000 + i, 1_600_000_000 + i))
    return d


@pytest.mark.parametrize("cmd", [
    ["sh", "-c", "ls {listed} | wc -l"],
    ["python3", "-c", THREADS],
    ["ls", "-l", "{listed}"],
], ids=["pipeline", "python-threads", "ls"])
def test_record_then_enforce_round_trip(tmp_path: Path, cmd: list[str]) -> None:
    listed = listed_dir(tmp_path)
    cmd = [arg.replace("{listed}", str(listed)) for arg in cmd]
    prof = tmp_path / "rec.json"
    plain = subprocess.run(cmd, capture_output=True, text=True, check=False)
    r = trace_run("--record-profile", prof, "-o", os.devnull, *cmd)
    assert r.returncode == 0 and r.stdout == plain.stdout, r.stderr
    # a second recording merged in: calls that depend on timing (futex waits) get in too
    r = trace_run("--record-profile", prof, "--merge", prof, "-o", os.devnull, *cmd)
    assert r.returncode == 0
    recorded = json.loads(prof.read_text())
    assert recorded["defaultAction"] == "SCMP_ACT_ERRNO" and recorded["defaultErrnoRet"] == 1
    names = recorded["syscalls"][0]["names"]
    assert names == sorted(names) and "execve" in names
    jl = tmp_path / "c.jsonl"
    r = trace_run("--policy", prof, "-o", os.devnull, "--json", jl, *cmd)
    assert r.returncode == 0, r.stderr
    assert r.stdout == plain.stdout
    assert all(c["action"] == "allow" for c in syscall_lines(jl))


def test_record_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for p in (a, b):
        assert trace_run("--record-profile", p, "-o", os.devnull, "true").returncode == 0
    assert a.read_bytes() == b.read_bytes()


def test_docker_format_profile_enforced(tmp_path: Path) -> None:
    """archMap, includes/excludes, args: AF_VSOCK sockets are refused (EPERM from the
    default), clone3 gets ENOSYS so threads fall back to clone, and without
    CAP_SYS_ADMIN (--cap) unshare is refused."""
    prof = DATA / "docker_like.json"
    code = ("import socket, threading\n"
            "t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
            "socket.socket(socket.AF_UNIX).close(); print('unix')\n"
            "try:\n    socket.socket(40, socket.SOCK_STREAM)\n"
            "except OSError as e:\n    print('vsock', e.errno)\n")
    jl = tmp_path / "c.jsonl"
    r = trace_run("--policy", prof, "--cap", "CAP_CHOWN", "-o", os.devnull, "--json", jl,
                  "python3", "-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["thread", "unix", "vsock 1"]
    clone3 = [c for c in syscall_lines(jl) if c["name"] == "clone3"]
    assert clone3 and all(c["errno"] == 38 for c in clone3)
    r = trace_run("--policy", prof, "-o", os.devnull, "sh", "-c", "ls / | wc -l")
    assert r.returncode == 0 and int(r.stdout) > 3
    if shutil.which("unshare"):
        r = trace_run("--policy", prof, "--cap", "CAP_CHOWN", "-o", os.devnull,
                      "unshare", "--user", "true")
        assert r.returncode != 0 and "Operation not permitted" in r.stderr


TINY = r"""
static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return r;
}
void _start(void) {
    sys3(1, 1, (long)"hi\n", 3);   /* write: a failure shows only on stdout */
    sys3(39, 0, 0, 0);             /* getpid: the result is ignored */
    sys3(231, 0, 0, 0);            /* exit_group(0) */
    sys3(60, 3, 0, 0);             /* exit(3): reached only if exit_group failed */
    for (;;) {}
}
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    src, exe = tmp_path / "tiny.c", tmp_path / "tiny"
    src.write_text(TINY)
    subprocess.run(["gcc", "-static", "-nostdlib", "-O1", "-o", str(exe), str(src)],
                   check=True)
    return exe


@pytest.mark.needs_gcc
def test_sweep_table_and_minimal_profile(tmp_path: Path, tiny: Path) -> None:
    res, prof = tmp_path / "sweep.json", tmp_path / "min.json"
    r = trace_run("--sweep", "--json", res, "--record-profile", prof, "--sweep-timeout", "30",
                  tiny)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(res.read_text())
    table = {row["syscall"]: (row["calls"], row["end"], row["stdout_differs"], row["needed"])
             for row in data["results"]}
    assert table["getpid"] == (1, "exit 0", False, False)
    assert table["write"] == (1, "exit 0", True, True)
    assert table["exit_group"] == (1, "exit 3", False, True)
    fallbacks = {row["syscall"]: row["fallbacks"] for row in data["results"]}
    assert fallbacks["exit_group"] == ["exit"] and fallbacks["getpid"] == []
    assert table["execve"][3] is True
    assert set(table) == {"execve", "write", "getpid", "exit_group"}
    assert data["baseline"]["end"] == "exit 0" and data["verified"] is True
    minimal = json.loads(prof.read_text())
    # exit and exit_group are always allowed: the command must be able to end
    assert minimal["syscalls"] == [{"names": ["execve", "exit", "exit_group", "write"],
                                    "action": "SCMP_ACT_ALLOW"}]
    assert "exit_group" in r.stdout and "reproduces the baseline" in r.stdout
    # and the suggested profile does run the program
    r = trace_run("--policy", prof, "-o", os.devnull, tiny)
    assert (r.returncode, r.stdout) == (0, "hi\n")


def test_sweep_of_a_missing_command_fails_first(tmp_path: Path) -> None:
    r = trace_run("--sweep", tmp_path / "no-such-command")
    assert r.returncode == 127 and "No such file or directory" in r.stderr
    assert "baseline" not in r.stdout + r.stderr and "Traceback" not in r.stderr


@pytest.mark.needs_gcc
def test_sweep_with_another_errno(tmp_path: Path, tiny: Path) -> None:
    res = tmp_path / "sweep.json"
    r = trace_run("--sweep", "--sweep-errno", "ENOSYS", "--json", res, tiny)
    assert r.returncode == 0
    data = json.loads(res.read_text())
    assert data["errno"] == "ENOSYS" and data["suggested_profile"]["defaultErrnoRet"] == 38


ABIS = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    long r32;
    /* i386 getpid, with 7 in ebx: the i386 ABI's first argument register */
    __asm__ volatile("int $0x80" : "=a"(r32) : "a"(20L), "b"(7L) : "memory");
    printf("i386_getpid=%s getpid=%s\n", r32 == getpid() ? "ok" : "failed",
           getpid() > 0 ? "ok" : "failed");
    printf("errno=%ld\n", r32 < 0 ? -r32 : 0L);
    return 0;
}
"""


@pytest.fixture
def abis(tmp_path: Path) -> Path:
    src, exe = tmp_path / "abis.c", tmp_path / "abis"
    src.write_text(ABIS)
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(src)], check=True)
    return exe


@pytest.mark.needs_gcc
def test_i386_syscalls_follow_the_architectures(tmp_path: Path, abis: Path) -> None:
    """Without SCMP_ARCH_X86 an int 0x80 syscall is killed (libseccomp's bad-arch
    action); with it, i386 getpid (20) has rules of its own, never x86_64 writev (20)'s."""
    no_x86 = write_profile(tmp_path / "a.json", {"defaultAction": "SCMP_ACT_ALLOW"})
    r = trace_run("--policy", no_x86, "-o", os.devnull, abis)
    assert r.returncode == -signal.SIGSYS and r.stdout == ""
    x86 = write_profile(tmp_path / "b.json", {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                      "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]},
                     {"names": ["writev"], "action": "SCMP_ACT_KILL_PROCESS"}]})
    jl = tmp_path / "c.jsonl"
    r = trace_run("--policy", x86, "-o", os.devnull, "--json", jl, abis)
    assert r.returncode == 0, r.stderr
    # the i386 call (arg0 = ebx = 7) was denied; glibc's x86_64 getpid only if di was 7
    assert r.stdout.startswith("i386_getpid=failed") and "errno=13" in r.stdout
    calls = [c for c in syscall_lines(jl) if c["name"] == "getpid"]
    (i386,) = [c for c in calls if c["abi"] == "i386"]
    assert (i386["action"], i386["errno"], i386["args"][0]) == ("deny", 13, 7)
    x64 = [c for c in calls if c["abi"] == "x86_64"]
    assert x64 and all(c["action"] == ("deny" if c["args"][0] == 7 else "allow") for c in x64)


def test_trap_kills_with_sigsys_and_log_allows(tmp_path: Path) -> None:
    prof = write_profile(tmp_path / "p.json", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_TRAP"},
        {"names": ["mkdir"], "action": "SCMP_ACT_LOG"}]})
    r = trace_run("--policy", prof, "-o", os.devnull, "python3", "-c",
                  "import os; print('start', flush=True); os.getppid(); print('after')")
    assert r.returncode == -31 and r.stdout == "start\n"  # trace-run dies of SIGSYS too
    r = trace_run("--policy", prof, "--audit", "--printk", "-", "-o", os.devnull,
                  "python3", "-c", "import os; os.mkdir('d'); print(os.path.isdir('d'))",
                  cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "True" in r.stdout
    assert "bpf_trace_printk: SCMP_ACT_LOG x86_64 mkdir" in r.stdout
    assert "logged (SCMP_ACT_LOG): mkdir (x86_64), 1 call(s)" in r.stderr
