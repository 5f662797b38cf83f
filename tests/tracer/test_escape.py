"""The escape suite: C programs that try to get out from under a denying profile, or to
switch trace-run off, each run under ``trace-run --policy P`` and under the kernel's own
seccomp with the same profile (built by libseccomp, as runc builds it).

Every case is a row of :data:`CASES`.  Each program marks with ``mkdirat`` (the call the
profile denies with EPERM) in every process and thread it makes, one ``M`` line per mark
(tests/tracer/escape/escape.h).  A run happens in its own session
(tests/tracer/escape/session.py), which reports a trace-run that stopped, and any process
left behind, at once; a run that does not end within :data:`TIMEOUT` has its whole session
killed and fails.  Per case:

* no hang: nothing stopped, nothing timed out;
* no Python traceback on trace-run's stderr;
* no escape: the marks give under trace-run exactly what they give under the kernel (an
  ``M`` line "made" where the kernel says "denied" is an escape), and the same
  directories exist afterwards;
* no process outlives trace-run;
* trace-run exits with the command's status (the same wait status as the program's
  under the kernel);
* where the row says so, the attacks on trace-run got the guard's answers (``I`` lines)
  and trace-run's stderr says what it must (the io_uring warning).

Under the kernel alone the attacks on the parent are skipped (ESCAPE_ORACLE): there is no
trace-run to attack, and the parent there is the session's leader.

Each case runs in two :data:`MODES`: every syscall stopping, and the tightest prefilter.
Rows that fail until the loop calls tracer/guard.py (:func:`guard_wired`), until every
prefilter traces what the guard must see (:func:`guard_always_traced`) or until the
seccomp prefilter is installed (:func:`prefilter_wired`) are ``xfail(strict=True)`` with
the reason, on the condition that the fix is not there yet (:func:`pending`): once it
lands they must pass.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .escape import kernel_seccomp
from .escape.session import kill_session

ROOT = Path(__file__).resolve().parents[2]
ESCAPE = Path(__file__).parent / "escape"
TIMEOUT = 60.0   # seconds per run; only ever reached by a hang (the storm takes ~5 s)

pytestmark = [pytest.mark.ptrace, pytest.mark.needs_gcc, pytest.mark.slow]

ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
PROFILES: dict[str, dict[str, Any]] = {
    "deny": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES,
             "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                           "errnoRet": 1}]},
    "vsyscall": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES,
                 "syscalls": [{"names": ["gettimeofday", "time", "getcpu", "mkdir",
                                         "mkdirat"],
                               "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]},
}


def _no_vsyscall() -> str | None:
    maps = Path("/proc/self/maps").read_text()
    if "[vsyscall]" not in maps:
        cmdline = Path("/proc/cmdline").read_text()
        return f"no vsyscall page on this kernel (boot: {cmdline.strip()[:80]!r})"
    return None


def _not_root() -> str | None:
    return None if os.geteuid() == 0 else "a setuid program of another user needs root"


@dataclass(frozen=True)
class Case:
    id: str
    prog: str                           # tests/tracer/escape/PROG.c
    args: tuple[str, ...]
    profile: str = "deny"
    opts: tuple[str, ...] = ()          # trace-run's options besides --policy
    info: tuple[str, ...] = ()          # I lines trace-run's run must print
    warn: str | None = None             # text trace-run's stderr must hold
    needs: Callable[[], str | None] | None = None
    xfail: tuple[str, str] | None = None   # (the fix it waits for, what fails until then)


def guard_wired() -> bool:
    """Whether tracer/loop.py calls tracer/guard.py (has it in its namespace)."""
    import tracer.guard
    import tracer.loop
    return any(v is tracer.guard or v is tracer.guard.guard for v in vars(tracer.loop).values())


def prefilter_wired() -> bool:
    """Whether the loop takes a seccomp prefilter."""
    from tracer.loop import Loop
    return "prefilter" in inspect.signature(Loop).parameters


def guard_always_traced() -> bool:
    """Whether every prefilter traces the calls tracer/guard.py must see."""
    try:
        from tracer.prefilter_choice import ALWAYS_TRACED
    except ImportError:
        return True     # no prefilter: every call stops
    from probes.abi import Abi
    from tracer.guard import GUARDED_NRS
    return GUARDED_NRS[Abi.X86_64] <= ALWAYS_TRACED


def until_guard(why: str) -> tuple[str, str]:
    return "guard", why


def until_prefilter(why: str) -> tuple[str, str]:
    return "prefilter", why


def pending(fix: str, mode: str) -> str | None:
    """Why a row of ``fix`` fails in ``mode`` here, or None if the fix is in."""
    if fix == "prefilter" and not prefilter_wired():
        return "until the seccomp prefilter is installed under --policy: "
    if fix == "guard":
        if not guard_wired():
            return "until the loop calls tracer/guard.py at syscall entry: "
        if mode == "prefilter" and not guard_always_traced():
            return ("until every prefilter traces tracer.guard.GUARDED_NRS (the profile "
                    "allows them outright, so they make no stop): ")
    return None


CASES = [
    Case("threads", "procs", ("threads",)),
    Case("fork", "procs", ("fork",)),
    Case("vfork", "procs", ("vfork",)),
    Case("posix_spawn", "procs", ("posix_spawn",)),
    Case("exec_from_thread", "procs", ("exec_thread",)),
    Case("leader_exits_first", "procs", ("leader_exit",)),
    Case("clone_untraced", "procs", ("clone_untraced",)),
    Case("clone3_untraced", "procs", ("clone3_untraced",)),
    Case("fork_storm_200", "procs", ("storm",)),
    Case("signal_flood", "procs", ("flood",)),
    Case("setuid_exec", "procs", ("setuid", "{setuid}"), needs=_not_root),
    Case("i386_int80", "abis", ("i386",)),
    Case("x32", "abis", ("x32",)),
    Case("high_bits_in_rax", "abis", ("highbits",)),
    Case("vsyscall", "abis", ("vsyscall",), profile="vsyscall", needs=_no_vsyscall,
         xfail=until_prefilter("an emulated vsyscall makes no ptrace stop, only seccomp "
                               "sees it: gettimeofday, time and getcpu run")),
    Case("ptrace_seize_parent", "attacks", ("ptrace_parent",),
         info=("I ptrace-seize EPERM", "I ptrace-interrupt ESRCH"),
         xfail=until_guard("PTRACE_SEIZE of trace-run succeeds and PTRACE_INTERRUPT stops "
                           "it; its tracee then waits for it at its next stop (hang)")),
    Case("kill_parent_sigstop", "attacks", ("kill_parent",), info=("I kill-stop EPERM",),
         xfail=until_guard("kill(getppid(), SIGSTOP) stops trace-run (hang)")),
    Case("signal_parent", "attacks", ("signal_parent",),
         info=("I tkill-stop EPERM", "I tgkill-stop EPERM", "I sigqueueinfo-stop EPERM",
               "I kill-usr1 EPERM", "I kill-term EPERM", "I kill-kill EPERM",
               "I kill-zero ok"),
         xfail=until_guard("tkill(getppid(), SIGSTOP) stops trace-run (hang)")),
    Case("pidfd_vm_prlimit_parent", "attacks", ("pidfd_parent",),
         info=("I pidfd-open EPERM", "I pidfd-send-stop EPERM", "I vm-readv EPERM",
               "I prlimit-set EPERM", "I prlimit-get ok"),
         xfail=until_guard("pidfd_send_signal(SIGSTOP) through an fd of /proc/PPID "
                           "stops trace-run (hang)")),
    Case("kill0_sigtstp", "attacks", ("kill0_tstp",), info=("I kill0-tstp ok",),
         xfail=until_guard("kill(0, SIGTSTP) reaches trace-run, in the group, which "
                           "stops (hang)")),
    Case("sigterm_parent_force_detach", "attacks", ("sigterm_parent",),
         opts=("--detach-on-exit", "--force-detach", "-I", "waiting"),
         info=("I kill-term EPERM",),
         xfail=until_guard("kill(getppid(), SIGTERM) ends trace-run, which dies of "
                           "SIGTERM (wait status 15, the kernel's run exits 7) and the "
                           "program never marks")),
    Case("io_uring_mkdirat", "io_uring", (), warn="io_uring is allowed"),
]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    outdir = tmp_path_factory.mktemp("escape")
    built: dict[str, Path] = {}

    def one(name: str) -> Path:
        if name not in built:
            exe = outdir / name
            r = subprocess.run(["gcc", "-O1", "-Wall", "-pthread", "-o", str(exe),
                                str(ESCAPE / f"{name}.c")], capture_output=True, text=True,
                               check=False)
            assert r.returncode == 0, r.stderr
            built[name] = exe
        return built[name]

    return one


@dataclass
class Run:
    status: int | None
    stopped: bool
    leftovers: list[str]
    stdout: str
    stderr: str
    dirs: set[str]
    timed_out: bool = False

    def marks(self) -> dict[str, str]:
        out = {}
        for line in self.stdout.splitlines():
            if line.startswith("M "):
                label, _, rest = line[2:].partition(" ")
                out[label] = rest
        return out

    def info(self) -> set[str]:
        return {line for line in self.stdout.splitlines() if line.startswith("I ")}


def run_session(where: Path, args: list[str]) -> Run:
    """One run in its own session (tests/tracer/escape/session.py), in the fresh
    directory ``where`` (world-writable: a setuid child of another user can mark)."""
    where.mkdir()
    where.chmod(0o777)
    report = where.parent / f"{where.name}.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ESCAPE_ORACLE", None)
    proc = subprocess.Popen([sys.executable, str(ESCAPE / "session.py"), str(report), *args],
                            cwd=where, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Run(None, False, [], out, err, set(), timed_out=True)
    got = json.loads(report.read_text()) if report.exists() else {
        "status": None, "stopped": False, "leftovers": []}
    return Run(got["status"], got["stopped"], got["leftovers"], out, err,
               {p.name for p in where.iterdir()})


#: How trace-run runs each case: with every syscall stopping (lines are written, if to
#: /dev/null), and with the tightest prefilter (no output: only what the profile does not
#: allow outright, and what trace-run always traces, makes a stop).
MODES = {"full": ("-o", os.devnull), "prefilter": ("-o", os.devnull, "-e", "trace=none")}


def _params() -> list[Any]:
    out = []
    for case in CASES:
        for mode in MODES:
            marks = []
            if case.xfail is not None:
                fix, why = case.xfail
                until = pending(fix, mode)
                marks.append(pytest.mark.xfail(condition=until is not None,
                                               reason=(until or "") + why, strict=True))
            out.append(pytest.param(case, mode, id=f"{case.id}-{mode}", marks=marks))
    return out


def _setuid_copy(exe: Path, where: Path) -> Path:
    copy = where / f"{exe.name}-setuid"
    shutil.copy(exe, copy)
    os.chown(copy, 65534, 65534)
    copy.chmod(0o4755)
    return copy


def _escapes(kernel: Run, traced: Run) -> list[str]:
    """Where the kernel held and trace-run did not."""
    km, tm = kernel.marks(), traced.marks()
    out = [f"{label}: kernel {k!r}, trace-run {tm.get(label)!r}" for label, k in km.items()
           if ("denied" in k or "made=0" in k) and tm.get(label) != k]
    out += [f"{d}: made under trace-run only" for d in sorted(traced.dirs - kernel.dirs)]
    return out


@pytest.mark.parametrize(("case", "mode"), _params())
def test_escape(case: Case, mode: str, build: Callable[[str], Path], tmp_path: Path) -> None:
    for why in (kernel_seccomp.available(), case.needs() if case.needs else None):
        if why:
            pytest.skip(why)
    exe = build(case.prog)
    args = [a.replace("{setuid}", str(_setuid_copy(exe, tmp_path))) if "{setuid}" in a
            else a for a in case.args]
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(PROFILES[case.profile]))

    kernel = run_session(tmp_path / "kernel", ["--seccomp", str(profile), "--", str(exe),
                                               *args])
    assert not (kernel.timed_out or kernel.stopped or kernel.leftovers), \
        f"the kernel run itself went wrong: {kernel}"
    traced = run_session(tmp_path / "traced",
                         ["--", sys.executable, "-m", "tracer.cli", "--policy", str(profile),
                          *MODES[mode], *case.opts, str(exe), *args])

    assert not traced.timed_out, f"hang: no end within {TIMEOUT:.0f} s\n{traced.stderr}"
    assert not traced.stopped, f"hang: trace-run was stopped or traced\n{traced}"
    assert "Traceback" not in traced.stderr, traced.stderr
    assert not _escapes(kernel, traced), "\n".join(_escapes(kernel, traced))
    assert not traced.leftovers, f"outlived trace-run: {traced.leftovers}"
    assert sorted(traced.marks().items()) == sorted(kernel.marks().items())
    assert traced.dirs == kernel.dirs
    assert traced.status == kernel.status, (traced.status, kernel.status, traced.stderr)
    missing = set(case.info) - traced.info()
    assert not missing, f"attacks answered otherwise: {sorted(traced.info())}"
    if case.warn is not None:
        assert case.warn in traced.stderr, traced.stderr
