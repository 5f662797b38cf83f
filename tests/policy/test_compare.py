"""``trace-run --policy P --compare CMD`` on a table of real profiles and real commands.

Each case runs the ``--compare`` path of the CLI (``--json -``), which runs CMD emulated
and under the kernel's seccomp with libseccomp's filter (as runc builds it), and asserts
that the two agree.  The kernel is the expectation everywhere: a case where trace-run
does not yet behave as seccomp is an ``xfail(strict=True)`` naming the difference, so it
turns into a failure ("XPASS") the day the difference is fixed, and the mark must go.
Every such difference is in the README's limits table (``Compare with the kernel``).

Some cases also check what the kernel did (``kernel=``: a substring of its stdout, or its
end), so that a case cannot silently stop exercising what it is about.

The cases run in parallel in one module fixture (subprocesses, as many as CPUs); each
test then reads its result.  Nothing waits on time: every command ends by itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from probes.policy.resolve import CAPABILITIES

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
CSRC = Path(__file__).parent / "csrc"

pytestmark = [pytest.mark.ptrace, pytest.mark.needs_gcc, pytest.mark.slow]

#: Docker's default container capabilities (moby's oci/caps/defaults.go), which decide
#: Docker's ``includes``/``excludes`` for a container that was given no --cap-add.
DOCKER_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE")

PROFILES: dict[str, tuple[str, tuple[str, ...]]] = {
    # key: (file under tests/policy/data, the --cap options)
    "docker": ("profiles/docker-default.json", DOCKER_CAPS),
    "docker-root": ("profiles/docker-default.json", CAPABILITIES),   # every capability
    "podman": ("profiles/podman-containers-common.json", DOCKER_CAPS),
    "runc1": ("profiles/runc-seccomp_syscall_test1.json", ()),
    "runc2": ("profiles/runc-seccomp_syscall_test2.json", ()),
    "k8s-audit": ("profiles/k8s-audit.json", ()),
    "k8s-violation": ("profiles/k8s-violation.json", ()),
    "k8s-fine": ("profiles/k8s-fine-grained.json", ()),
    "actions": ("compare/actions.json", ()),
    "precedence": ("compare/precedence.json", ()),
    "errno-range": ("compare/errno-range.json", ()),
    "no-execve": ("compare/no-execve.json", ()),
    "socket-i386": ("compare/socket-i386.json", ()),
}

# The differences being fixed (issue 12, items 3-4); each is a row of the README's table.
# (KILL giving SIGKILL, KILL_THREAD killing the process and TRAP's siginfo were fixed by the
# prefilter's seccomp outcomes: their cases agree and carry no mark.)
MERGE = "limit: rules of one syscall combine otherwise than in libseccomp's one filter"
SOCKETCALL = "limit: no i386 socketcall multiplexing (libseccomp adds socketcall rules)"
PODMAN = "limit: containers-common's format (errno/defaultErrno names) is refused"
ERRNO_RANGE = "limit: errnoRet > 4095 is accepted where libseccomp refuses the profile"
VSYSCALL = "limit: vsyscall calls make no ptrace stop (seccomp sees them)"

PY_THREADS = ("import threading; t = threading.Thread(target=print, args=('thread ran',));"
              " t.start(); t.join()")
PY_SOCKET = ("import socket\ntry:\n    socket.socket({}, socket.SOCK_STREAM)\n"
             "    print('socket ok')\nexcept OSError as e:\n    print('socket:', e)")
PY_SUBPROCESS = ("import subprocess; print(subprocess.run(['echo', 'child'],"
                 " capture_output=True).stdout)")


@dataclass(frozen=True)
class Case:
    id: str
    profile: str
    argv: tuple[str, ...]
    xfail: str | None = None
    kernel: str | None = None      # a substring of the kernel run's stdout, or "end:..."
    refused: bool = False          # the expectation is trace-run refusing the profile (2)


def case(id: str, profile: str, *argv: str, xfail: str | None = None,
         kernel: str | None = None, refused: bool = False) -> Case:
    return Case(id, profile, argv, xfail, kernel, refused)


SC = "@sc"          # tests/policy/csrc/sc.c, built here
RUNC1 = "@runc1"    # runc's seccomp_syscall_test1.c
RUNC2 = "@runc2"

CASES = [
    # -- Docker's default profile, Docker's default capabilities
    case("docker-true", "docker", "true", kernel="end:exit 0"),
    case("docker-ls", "docker", "ls", "/"),
    case("docker-echo", "docker", "echo", "hello", kernel="hello"),
    case("docker-cat", "docker", "cat", "/etc/passwd", kernel="root:"),
    case("docker-sh-status", "docker", "sh", "-c", "echo out; echo err >&2; exit 3",
         kernel="end:exit 3"),
    case("docker-pipeline", "docker", "sh", "-c", "seq 1 500 | sort -rn | head -3",
         kernel="500"),
    case("docker-ls-missing", "docker", "ls", "/nonexistent", kernel="end:exit 2"),
    case("docker-id", "docker", "id", "-u", kernel="0"),
    case("docker-uname", "docker", "uname", "-s", kernel="Linux"),
    case("docker-python", "docker", "python3", "-c", "print(sum(range(10)))", kernel="45"),
    case("docker-python-threads", "docker", "python3", "-c", PY_THREADS, kernel="thread ran"),
    case("docker-python-vsock", "docker", "python3", "-c", PY_SOCKET.format(40),
         kernel="[Errno 1]"),
    case("docker-python-inet", "docker", "python3", "-c", PY_SOCKET.format(2),
         kernel="socket ok"),
    case("docker-python-subprocess", "docker", "python3", "-c", PY_SUBPROCESS,
         kernel="child"),
    case("docker-mount", "docker", SC, "165", kernel="165=-EPERM"),
    case("docker-reboot", "docker", SC, "169", kernel="169=-EPERM"),
    case("docker-personality", "docker", SC, "135:0xffffffff", "135:0x1234",
         kernel="135=-EPERM"),
    case("docker-clone3", "docker", SC, "435", kernel="435=-ENOSYS"),
    case("docker-keyctl-bpf", "docker", SC, "250", "321", kernel="321=-EPERM"),
    case("docker-unknown-nr", "docker", SC, "1000", kernel="1000=-EPERM"),
    case("docker-unshare-setns", "docker", SC, "272:0x20000", "308:-1:0",
         kernel="272=-EPERM"),
    case("docker-chroot", "docker", SC, "161", kernel="161=-EFAULT"),
    case("docker-ptrace", "docker", SC, "101:0", kernel="101=-EPERM"),
    case("docker-x32", "docker", SC, "x32", "39", kernel="x32 39"),
    case("docker-i386-socketcall", "docker", SC, "socketcall32",
         kernel="socketcall(SYS_SOCKET)=0"),
    # -- Docker's default profile with trace-run's own (root's) capabilities
    case("docker-root-mount", "docker-root", SC, "165", kernel="165=-EFAULT"),
    case("docker-root-clone3", "docker-root", SC, "435", kernel="435=-EINVAL"),
    case("docker-root-bpf", "docker-root", SC, "321", kernel="321=-E"),
    case("docker-root-python-threads", "docker-root", "python3", "-c", PY_THREADS,
         kernel="thread ran"),
    # -- Podman's (containers-common) default profile
    case("podman-true", "podman", "true", xfail=PODMAN),
    case("podman-ls", "podman", "ls", "/", xfail=PODMAN),
    case("podman-python", "podman", "python3", "-c", "print(6 * 7)", xfail=PODMAN),
    case("podman-bpf", "podman", SC, "321", xfail=PODMAN),
    case("podman-python-vsock", "podman", "python3", "-c", PY_SOCKET.format(40),
         xfail=PODMAN),
    # -- runc's test profiles, with runc's own test programs
    case("runc1-runc-test", "runc1", RUNC1, kernel="end:exit 32"),
    case("runc2-runc-test", "runc2", RUNC2, kernel="end:exit 0"),
    case("runc1-ls", "runc1", "ls", "/"),
    case("runc1-python", "runc1", "python3", "-c", "print('hi')", kernel="hi"),
    case("runc1-dup3", "runc1", SC, "292:0:-100:0xffff", "292:1:-100:0xffff",
         "292:3:50:0", kernel="292=-EPERM"),
    case("runc1-i386-bad-arch", "runc1", SC, "socketcall32",
         kernel="end:killed by SIGSYS"),
    case("runc2-sh-cd", "runc2", "sh", "-c", "cd / && echo moved"),
    # -- Kubernetes' examples
    case("k8s-audit-ls", "k8s-audit", "ls", "/"),
    case("k8s-audit-python", "k8s-audit", "python3", "-c", "print('logged')",
         kernel="logged"),
    case("k8s-audit-unknown-nr", "k8s-audit", SC, "1000", kernel="1000=-ENOSYS"),
    case("k8s-audit-i386-bad-arch", "k8s-audit", SC, "socketcall32",
         kernel="end:killed by SIGSYS"),
    case("k8s-violation-true", "k8s-violation", "true"),
    case("k8s-violation-echo", "k8s-violation", "echo", "hi"),
    case("k8s-fine-true", "k8s-fine", "true"),
    case("k8s-fine-echo", "k8s-fine", "echo", "hi"),
    case("k8s-fine-sh", "k8s-fine", "sh", "-c", "echo hi"),
    case("k8s-fine-python", "k8s-fine", "python3", "-c", "print('hi')"),
    case("k8s-fine-c-program", "k8s-fine", SC, "39", kernel="end:exit 127"),
    # -- every action, on hand-written rules (real profiles use ERRNO and ALLOW only)
    case("actions-kill-process", "actions", SC, "102",
         kernel="end:killed by SIGSYS"),
    case("actions-kill", "actions", SC, "39", kernel="end:killed by SIGSYS"),
    case("actions-kill-thread", "actions", SC, "thread", "186",
         kernel="main survived"),
    case("actions-trap-default", "actions", SC, "110", kernel="end:killed by SIGSYS"),
    case("actions-trap-handler", "actions", SC, "trap", "110",
         kernel="SIGSYS code=1 syscall=110"),
    case("actions-log", "actions", SC, "111", kernel="111=ok"),
    case("actions-errno", "actions", "mkdir", "d", kernel="end:exit 1"),
    case("actions-errno-thread", "actions", SC, "thread", "83", kernel="83=-EROFS"),
    case("actions-errno-args", "actions", SC, "41:2:1:0", "41:1:1:0",
         kernel="41=-EAFNOSUPPORT"),
    case("i386-socketcall", "socket-i386", SC, "socketcall32", xfail=SOCKETCALL,
         kernel="errno=EACCES"),
    case("i386-socket-x86_64", "socket-i386", SC, "41:1:1:0", kernel="41=-EACCES"),
    case("actions-vsyscall", "actions", SC, "vsyscall",
         kernel="gettimeofday=EPERM"),
    case("no-execve", "no-execve", "true", kernel="end:execve failed: Permission denied"),
    # -- rules of one syscall that overlap
    case("precedence-unconditional", "precedence", SC, "292:100:200:0", xfail=MERGE,
         kernel="292=-E2BIG"),
    case("precedence-equal-actions", "precedence", SC, "33:100:200", xfail=MERGE),
    case("precedence-le-eq", "precedence", SC, "81:100", "81:50", kernel="81=-EACCES"),
    case("precedence-kill-over-errno", "precedence", SC, "73:100:1", "73:100:100",
         kernel="end:killed by SIGSYS"),
    # -- a profile libseccomp refuses: trace-run should refuse it too (exit 2)
    case("errno-range-refused", "errno-range", "true", xfail=ERRNO_RANGE, refused=True),
]


def _argv(c: Case, built: dict[str, Path]) -> list[str]:
    path, caps = PROFILES[c.profile]
    cmd = [str(built[a[1:]]) if a.startswith("@") else a for a in c.argv]
    return [sys.executable, "-m", "tracer.cli", "--policy", str(DATA / path),
            *(x for cap in caps for x in ("--cap", cap)), "--compare", "--json", "-",
            "--", *cmd]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from probes.policy import libseccomp
    if not libseccomp.available():
        pytest.skip("libseccomp.so.2 is not installed")
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    out = tmp_path_factory.mktemp("compare")
    built: dict[str, Path] = {}
    for name, src in (("sc", CSRC / "sc.c"),
                      ("runc1", DATA / "profiles/runc-seccomp_syscall_test1.c"),
                      ("runc2", DATA / "profiles/runc-seccomp_syscall_test2.c")):
        built[name] = out / name
        subprocess.run(["gcc", "-O1", "-pthread", "-o", str(built[name]), str(src)],
                       check=True, capture_output=True)

    def run(c: Case) -> Any:
        cwd = out / c.id     # each case its own directory (mkdir d)
        cwd.mkdir()
        return subprocess.run(_argv(c, built), cwd=cwd, capture_output=True, text=True,
                              timeout=300, check=False, stdin=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip((c.id for c in CASES), pool.map(run, CASES), strict=True))


def _still_there(limit: str) -> bool:
    """Whether this tree still has ``limit``, asked of trace-run's model of a profile
    (:func:`probes.policy.resolve.decide`, which the compiled BPF is tested against), so
    that a case's mark follows the fix that lands, and stays strict: a case that passes
    while the model says the limit is there is an XPASS failure."""
    from probes.abi import Abi
    from probes.policy.models import ProfileError, load_profile
    from probes.policy.resolve import Environment, decide, resolve

    def policy(name: str) -> Any:
        return resolve(load_profile(DATA / PROFILES[name][0]), Environment.from_host())
    try:
        if limit == PODMAN:
            policy("podman")
        elif limit == ERRNO_RANGE:
            policy("errno-range")
        elif limit == MERGE:   # dup3(100): libseccomp keeps the unconditional E2BIG rule
            return decide(policy("precedence"), Abi.X86_64, 292, [100, 0, 0, 0, 0, 0]).errno != 7
        elif limit == SOCKETCALL:   # i386 socketcall(SYS_SOCKET) under a socket rule
            return decide(policy("socket-i386"), Abi.I386, 102, [1, 0, 0, 0, 0, 0]).errno != 13
        else:
            return True
    except ProfileError:
        return limit != ERRNO_RANGE
    return limit == ERRNO_RANGE


def _params() -> list[Any]:
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)]
                         if c.xfail and _still_there(c.xfail) else []) for c in CASES]


def _doc(proc: Any) -> dict[str, Any]:
    try:
        return json.loads(proc.stdout)  # type: ignore[no-any-return]
    except json.JSONDecodeError:
        pytest.fail(f"no comparison (exit {proc.returncode}): {proc.stderr.strip()[-600:]}")


def _summary(doc: dict[str, Any]) -> str:
    e, k = doc["emulated"], doc["kernel"]
    return (f"ends {e['end']!r} / {k['end']!r}; stdout {e['stdout'][-300:]!r} /"
            f" {k['stdout'][-300:]!r}; stderr {e['stderr'][-200:]!r} / {k['stderr'][-200:]!r};"
            f" syscalls {doc['syscall_differences']}; unconfirmed {k['unconfirmed']}"
            f"{'; kernel: ' + k['error'] if k['error'] else ''}")


def test_table_size() -> None:
    assert len(CASES) >= 50
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("c", _params())
def test_emulation_agrees_with_the_kernel(c: Case, results: dict[str, Any]) -> None:
    proc = results[c.id]
    if c.refused:
        assert proc.returncode == 2 and proc.stderr.startswith("trace-run: "), proc.stderr
        return
    doc = _doc(proc)
    assert doc["agree"] and proc.returncode == 0, _summary(doc)


@pytest.mark.parametrize("c", [c for c in CASES if c.kernel], ids=lambda c: c.id)
def test_the_case_exercises_what_it_says(c: Case, results: dict[str, Any]) -> None:
    """The kernel run did what the case is about (a case must not pass by accident)."""
    doc = _doc(results[c.id])
    kernel = doc["kernel"]
    assert c.kernel is not None
    if c.kernel.startswith("end:"):
        assert kernel["end"] == c.kernel[4:], _summary(doc)
    else:
        assert c.kernel in kernel["stdout"], _summary(doc)
