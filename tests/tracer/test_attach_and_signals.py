"""Attaching, detaching and trace-run's own signals on real processes, each case run by
trace-run and, as the reference, by strace 6.1 with the same assertions.

* ``-p PID``: every thread traced; SIGINT/SIGTERM detaches, and the program (blocked in
  read() at that moment) finishes its work untraced.
* Ctrl-C on a real terminal, with and without ``-o FILE``.
* SIGQUIT/SIGHUP with ``-o FILE --json FILE -c``: ignored by default (``-o FILE CMD``),
  an interruption with ``-I waiting``; every output complete either way.
* The command's death signal re-raised on the tracer, without a core file.
* ``-b execve`` and ``-u USER``.

Where strace needs an option trace-run implies (``-f`` to attach every thread of a
``-p`` process, to follow a shell's child), the strace run says it.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import select
import signal
import subprocess
import sys
import termios
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = [pytest.mark.ptrace, pytest.mark.slow]

TOOLS = [pytest.param("trace-run", id="trace-run"),
         pytest.param("strace", id="strace", marks=pytest.mark.needs_strace)]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
DEADLINE = 60.0   # only reached when something is wrong


def _tool(tool: str) -> list[str]:
    """The command that runs ``tool`` (trace-run from this checkout, whatever the cwd)."""
    return [sys.executable, "-m", "tests.tracer.cli_runner"] if tool == "trace-run" \
        else ["strace"]


def _wait_for(pred: Callable[[], bool], what: str) -> None:
    """Poll ``pred`` until it holds; fail after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Reader:
    """A child's output (a pipe or a pty master), read as it comes, never longer than
    DEADLINE seconds in all."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = b""
        self.eof = False
        self._deadline = time.monotonic() + DEADLINE

    def _fill(self) -> None:
        left = self._deadline - time.monotonic()
        assert left > 0 and not self.eof, ("no more output", self.data)
        if select.select([self.fd], [], [], min(left, 1.0))[0]:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:   # EIO: a pty nothing holds any more
                chunk = b""
            self.data += chunk
            self.eof = not chunk

    def until(self, text: bytes) -> None:
        """Read until ``text`` shows (anywhere in what was read)."""
        while text not in self.data:
            self._fill()

    def line(self) -> str:
        """The next line, taken out of what was read."""
        while b"\n" not in self.data:
            self._fill()
        line, self.data = self.data.split(b"\n", 1)
        return line.decode() + "\n"

    def rest(self) -> str:
        """What is left, up to EOF."""
        while not self.eof:
            self._fill()
        return self.data.decode()


def _reap(proc: subprocess.Popen[bytes]) -> int:
    """Wait for ``proc`` (at most DEADLINE seconds); its raw wait status, which tells
    a core dump (Popen.wait() does not)."""
    found: list[int] = []

    def ended() -> bool:
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            found.append(status)
        return bool(pid)
    _wait_for(ended, f"pid {proc.pid} to end")
    proc.returncode = os.waitstatus_to_exitcode(found[0])
    return found[0]


def _kill(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


def _task_state(pid: int, tid: int) -> tuple[str, int, str]:
    """(state, TracerPid, syscall number or "running") of thread ``tid`` of ``pid``."""
    base = f"/proc/{pid}/task/{tid}"
    with open(f"{base}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    with open(f"{base}/syscall") as f:
        nr = f.read().split()[0]
    return fields["State"].split()[0], int(fields["TracerPid"]), nr


# ---- -p PID: attach to every thread, detach on SIGINT/SIGTERM ---------------------------

def _tids_in(log: Path) -> dict[int, int]:
    """The getppid calls of each tid in a trace with a pid column."""
    counts: dict[int, int] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            m = re.match(r"(\d+) +getppid\(", line)
            if m:
                counts[int(m[1])] = counts.get(int(m[1]), 0) + 1
    return counts


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_attach_all_threads_then_detach(tool: str, sig: int, tmp_path: Path,
                                        cprog) -> None:  # type: ignore[no-untyped-def]
    """attach_work: 4 threads, 200 getppid calls each per phase, a phase per "go" line.
    Phase 1 runs traced: every thread's 200 calls are in the trace.  Then, with every
    thread blocked in read(), the tracer is signalled: it detaches from the 5 tasks and
    dies of the signal (strace's terminate()); the tasks are neither stopped nor traced,
    and phase 2, started by the line the main thread's restarted read() gets, runs
    untraced to the right checksum and exit status 0."""
    log = tmp_path / "log"
    prog = subprocess.Popen([str(cprog("attach_work"))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    tracer = None
    try:
        assert prog.stdin is not None and prog.stdout is not None
        out = Reader(prog.stdout.fileno())
        threads: list[int] = []
        ready = False
        while not (ready and len(threads) == 4):
            line = out.line()
            if line.startswith("thread "):
                threads.append(int(line.split()[1]))
            ready = ready or line == "ready\n"
        tasks = [prog.pid, *threads]
        follow = ["-f"] if tool == "strace" else []  # strace -p attaches all threads with -f
        tracer = subprocess.Popen([*_tool(tool), *follow, "-p", str(prog.pid), "-o", str(log)],
                                  stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env=ENV)
        assert tracer.stderr is not None
        err = Reader(tracer.stderr.fileno())
        # said once every thread is seized: what they do from now on is traced
        assert err.line() == f"{tool}: Process {prog.pid} attached with 5 threads\n"
        prog.stdin.write(b"go\n")
        prog.stdin.flush()
        assert out.line() == "phase 1 2079600\n"
        # every task blocked in read(): the threads on their go pipes, main on stdin
        def blocked_in_read(tid: int) -> bool:
            state, _, nr = _task_state(prog.pid, tid)
            return state == "S" and nr == "0"
        _wait_for(lambda: all(blocked_in_read(t) for t in tasks),
                  "every task blocked in read()")
        _wait_for(lambda: all(_tids_in(log).get(t) == 200 for t in threads),
                  "each thread's phase-1 calls in the trace")
        tracer.send_signal(sig)
        said = err.rest()
        assert tracer.wait(timeout=DEADLINE) == -sig, said
        for t in tasks:
            assert f"{tool}: Process {t} detached\n" in said, said
            state, tracer_pid, _ = _task_state(prog.pid, t)
            assert tracer_pid == 0 and state not in ("T", "t"), (t, state, tracer_pid)
        text = log.read_text()
        assert text.endswith("\n")   # the last line is whole
        assert _tids_in(log) == dict.fromkeys(threads, 200)  # nothing of phase 2
        prog.stdin.write(b"go\n")
        prog.stdin.close()
        assert out.rest() == "sum 4159200 ok\n"
        assert prog.wait(timeout=DEADLINE) == 0
    finally:
        _kill(tracer)
        _kill(prog)


# ---- Ctrl-C on a terminal ---------------------------------------------------------------

# The session leader of a pty (its fds 0-2): it makes the pty its controlling terminal,
# runs argv[3:] as the terminal's foreground process group (as a shell runs a job),
# writes that child's pid and then its wait status to fd argv[1], and stays until fd
# argv[2] reaches EOF (the session leader's exit would hang up the terminal).
_LEADER = """\
import fcntl, os, signal, sys, termios
status, hold = int(sys.argv[1]), int(sys.argv[2])
fcntl.ioctl(0, termios.TIOCSCTTY, 0)
pid = os.fork()
if pid == 0:
    os.close(status)
    os.close(hold)
    os.setpgid(0, 0)
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    os.tcsetpgrp(0, os.getpid())
    signal.signal(signal.SIGTTOU, signal.SIG_DFL)
    os.execvp(sys.argv[3], sys.argv[3:])
os.write(status, b"%d\\n" % pid)
_, st = os.waitpid(pid, 0)
os.write(status, b"%d\\n" % st)
os.close(status)
os.read(hold, 1)
"""


class Terminal:
    """``argv`` run in the foreground of a new pty, as from an interactive shell."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.master, slave = os.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] |= termios.NOFLSH   # ^C must not throw away output not read yet
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        status_r, status_w = os.pipe()
        hold_r, self._hold = os.pipe()
        try:
            self.leader = subprocess.Popen(
                [sys.executable, "-c", _LEADER, str(status_w), str(hold_r), *argv],
                stdin=slave, stdout=slave, stderr=slave, pass_fds=(status_w, hold_r),
                start_new_session=True, cwd=cwd, env=ENV)
        finally:
            for fd in (slave, status_w, hold_r):
                os.close(fd)
        self._status = Reader(status_r)
        self.screen = Reader(self.master)   # its newlines are \\r\\n
        self.job = 0
        try:
            self.job = int(self._status.line())  # the foreground job's pid and pgid
        except BaseException:
            self.close()
            raise

    def status(self) -> int:
        """The job's wait status."""
        return int(self._status.line())

    def text(self) -> str:
        return self.screen.data.decode(errors="replace").replace("\r\n", "\n")

    def close(self) -> None:
        if self.job:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.job, signal.SIGKILL)
        os.close(self._hold)
        os.close(self._status.fd)
        _kill(self.leader)
        os.close(self.master)


@pytest.mark.parametrize("tool", TOOLS)
def test_ctrl_c_on_a_terminal(tool: str, tmp_path: Path, cprog) -> None:  # type: ignore[no-untyped-def]
    """No -o: the tracer is interactive.  ^C reaches both: the tracer sends the command
    SIGINT too and detaches, then dies of SIGINT (strace's terminate(); not the
    command's exit status); the command's handler runs and it cleans up untraced.
    Unless the command's handler ran and it exited before the tracer took its own
    SIGINT: then, strace as trace-run, the trace ends with its exit and status 0."""
    term = Terminal([*_tool(tool), str(cprog("ctrl_c"))], tmp_path)
    try:
        term.screen.until(b"ready\r\n")    # the handler is in place
        os.write(term.master, b"\x03")
        status = term.status()
        if os.WIFSIGNALED(status):
            term.screen.until(b" detached\r\n")
        term.screen.until(b"cleaned up\r\n")
    finally:
        term.close()
    out = term.text()
    assert 'write(1, "ready\\n", 6' in out     # the trace went to the terminal
    if os.WIFEXITED(status):   # the command was first: traced to its end
        assert os.WEXITSTATUS(status) == 0, status
        assert "+++ exited with 0 +++" in out and " detached" not in out, out
        return
    assert os.WTERMSIG(status) == signal.SIGINT, status
    # (strace says it where it is, in the middle of a line of the trace)
    assert len(re.findall(rf"{tool}: Process \d+ detached\n", out)) == 1, out
    assert "+++ exited" not in out   # it ended after the detach


@pytest.mark.parametrize("tool", TOOLS)
def test_ctrl_c_on_a_terminal_with_output_file(tool: str, tmp_path: Path,
                                               cprog) -> None:  # type: ignore[no-untyped-def]
    """-o FILE CMD: the tracer ignores ^C (-I never): only the command gets it, from the
    terminal (SI_KERNEL), in the trace; its handler runs, and the trace goes on to its
    exit, which is the tracer's."""
    log = tmp_path / "log"
    term = Terminal([*_tool(tool), "-o", str(log), str(cprog("ctrl_c"))], tmp_path)
    try:
        term.screen.until(b"ready\r\n")
        os.write(term.master, b"\x03")
        status = term.status()
        term.screen.until(b"cleaned up\r\n")
    finally:
        term.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    # nothing from the tracer; the echoed ^C may come before or after the handler's text
    assert term.text().replace("^C", "") == "ready\ncleaned up\n", term.text()
    lines = log.read_text().splitlines(keepends=True)
    assert "--- SIGINT {si_signo=SIGINT, si_code=SI_KERNEL} ---\n" in lines
    tail = lines[lines.index("--- SIGINT {si_signo=SIGINT, si_code=SI_KERNEL} ---\n"):]
    assert tail[1].startswith("rt_sigreturn(")
    assert re.fullmatch(r'write\(1, "cleaned up\\n", 11\) += 11\n', tail[2]), tail
    assert re.fullmatch(r"exit_group\(0\) += \?\n", tail[3]), tail
    assert tail[4:] == ["+++ exited with 0 +++\n"], tail


# ---- SIGQUIT, SIGHUP: -o, --json and -c complete ----------------------------------------

_TABLE_HEAD = ["% time     seconds  usecs/call     calls    errors syscall",
               "------ ----------- ----------- --------- --------- ----------------"]


def _summary(text: str) -> dict[str, int]:
    """The -c table of a file that holds only it: {syscall: calls}; checks its frame."""
    assert text.endswith("\n")
    lines = text.splitlines()
    assert lines[:2] == _TABLE_HEAD, lines[:2]
    assert lines[-2] == _TABLE_HEAD[1] and lines[-1].split()[-1] == "total", lines[-2:]
    calls = {}
    for line in lines[2:-2]:
        cols = line.split()
        calls[cols[-1]] = int(cols[3])
    assert int(lines[-1].split()[3]) == sum(calls.values())
    return calls


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("intr", ["default", "waiting"])
@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGHUP], ids=["QUIT", "HUP"])
def test_quit_and_hup_leave_complete_outputs(tool: str, intr: str, sig: int,
                                             tmp_path: Path, cprog) -> None:  # type: ignore[no-untyped-def]
    """sig_wait says "ready" and waits on stdin; then the tracer gets ``sig``.
    default (-o FILE CMD is -I never): ignored; the command runs on to its end when
    given its line, and the tracer exits with its status 0.  -I waiting: the command
    gets the signal (strace's clean-up) and the tracer dies of it, without a core dump.
    Either way the -o file holds the whole -c table and every JSON line parses."""
    log, js = tmp_path / "log", tmp_path / "log.json"
    opts = ["-I", "waiting"] if intr == "waiting" else []
    if tool == "trace-run":
        opts += ["--json", str(js)]
    proc = subprocess.Popen([*_tool(tool), *opts, "-o", str(log), "-c",
                             str(cprog("sig_wait"))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path, env=ENV)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        assert proc.stderr is not None
        stdout = Reader(proc.stdout.fileno())
        assert stdout.line() == "ready\n"   # the tracer's handling is in place
        # and the tracer has seen write's end: the command got on into its ppoll (271)
        def waiting() -> bool:
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                kids = [int(k) for k in f.read().split()]
            return len(kids) == 1 and _task_state(kids[0], kids[0])[::2] == ("S", "271")
        _wait_for(waiting, "the command blocked in ppoll()")
        proc.send_signal(sig)
        if intr == "default":     # ignored: the command gets its line and ends
            proc.stdin.write(b"go\n")
            proc.stdin.close()
        status = _reap(proc)
        err = Reader(proc.stderr.fileno()).rest()
        out = stdout.rest()   # EOF: the command has ended too
    finally:
        _kill(proc)
        if proc.stdin is not None:
            proc.stdin.close()
    assert not os.WCOREDUMP(status), status
    if intr == "default":
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, err)
        assert out == "done\n"
    else:
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == sig, (status, err)
        # stdout reached EOF: the detached command has ended, through its handler
        assert out == f"caught {sig}\n"
    calls = _summary(log.read_text())
    assert calls["execve"] == 1
    if intr == "default":   # "ready" and "done"
        assert calls["write"] == 2 and calls["getppid"] == 50, calls
    else:
        assert calls["write"] == 1 and "getppid" not in calls, calls
    if tool == "trace-run":
        objs = [json.loads(line) for line in js.read_text().splitlines()]  # each whole
        # the same calls as the table, which counts those that returned
        returned = Counter(o["name"] for o in objs if "name" in o and o["ret"] is not None)
        assert returned == calls
        exits = [o for o in objs if o.get("event") == "exit"]
        if intr == "default":
            assert exits == [{**exits[0], "status": 0, "signal": None}]
        else:
            assert exits == []   # detached before it ended
    assert not list(tmp_path.glob("core*"))


# ---- the command's death signal --------------------------------------------------------

@pytest.mark.parametrize("tool", TOOLS)
def test_death_signal_reraised_without_core(tool: str, tmp_path: Path,
                                            cprog) -> None:  # type: ignore[no-untyped-def]
    """segv dies of SIGSEGV (its own core dumps off); the tracer dies of SIGSEGV too, as
    its parent sees it (bash: status 139 and the signal's name; Python: -11), with core
    dumps allowed to it but none made (strace sets RLIMIT_CORE to 0 first)."""
    segv = str(cprog("segv"))
    allow_cores = 'ulimit -c "$(ulimit -H -c)"; '
    r = subprocess.run(["bash", "-c", allow_cores + '"$@"; echo status=$?', "bash",
                        *_tool(tool), "-o", os.devnull, segv],
                       capture_output=True, text=True, cwd=tmp_path, env=ENV, timeout=DEADLINE)
    assert r.stdout == "about to crash\nstatus=139\n", (r.stdout, r.stderr)
    assert "Segmentation fault" in r.stderr and "core dumped" not in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    proc = subprocess.Popen(["bash", "-c", allow_cores + 'exec "$@"', "bash",
                             *_tool(tool), "-o", os.devnull, segv],
                            stdout=subprocess.DEVNULL, cwd=tmp_path, env=ENV)
    try:
        status = _reap(proc)    # the tracer's own status (bash exec'd it)
    finally:
        _kill(proc)
    assert proc.returncode == -signal.SIGSEGV
    assert os.WIFSIGNALED(status) and not os.WCOREDUMP(status), status
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ---- -b execve ---------------------------------------------------------------------------

@pytest.mark.parametrize("tool", TOOLS)
def test_detach_on_execve(tool: str, tmp_path: Path, cprog) -> None:  # type: ignore[no-untyped-def]
    """exec_self execs itself: the command's own first execve is traced, the second
    detaches it.  The exec'd program's calls (sched_yield, getppid) are not in the
    trace, and it runs to its end before the tracer exits (the tracer waits for its
    child), which exits 0, as strace: the exit status 7 is not the tracer's to see."""
    log, out = tmp_path / "log", tmp_path / "out"
    prog = str(cprog("exec_self"))
    with open(out, "w") as f:
        r = subprocess.run([*_tool(tool), "-s", "500", "-b", "execve", "-o", str(log), prog],
                           stdout=f, stderr=subprocess.PIPE, text=True, env=ENV,
                           timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == "before\nafter done\n"
    lines = log.read_text().splitlines(keepends=True)
    assert lines[0].startswith(f'execve("{prog}", ["{prog}"], ')
    assert lines[0].endswith(") = 0\n")
    assert lines[-1].startswith('execve("/proc/self/exe", ["' + prog + '", "after"], ')
    assert lines[-1].endswith(" <detached ...>\n"), lines[-1]   # strace's droptcb
    assert re.fullmatch(r'write\(1, "before\\n", 7\) += 7\n', lines[-2]), lines[-2]
    assert not any(name in "".join(lines) for name in ("sched_yield", "getppid", "+++"))


@pytest.mark.parametrize("tool", TOOLS)
def test_detach_on_execve_of_a_child(tool: str, tmp_path: Path,
                                     cprog) -> None:  # type: ignore[no-untyped-def]
    """-f -b execve on a shell: its child is detached at its execve and runs untraced;
    the shell, still traced, waits for it and sees its exit status 7."""
    log = tmp_path / "log"
    prog = str(cprog("exec_self"))
    r = subprocess.run([*_tool(tool), "-s", "500", "-f", "-b", "execve", "-o", str(log),
                        "sh", "-c", f"{prog}; echo status=$?"], capture_output=True, text=True,
                       env=ENV, timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "before\nafter done\nstatus=7\n"
    text = log.read_text()
    assert text.endswith("\n")
    # -f -o FILE: "PID<padding> text" lines
    lines = [(int(m[1]), m[2]) for m in re.finditer(r"^(\d+) +(.*)$", text, re.M)]
    assert len(lines) == len(text.splitlines())
    shell = lines[0][0]
    child = {pid for pid, _ in lines} - {shell}
    assert len(child) == 1, child
    (pid,) = child
    mine = [line for p, line in lines if p == pid]
    starts = [i for i, line in enumerate(mine)
              if line.startswith(f'execve("{prog}", ["{prog}"], ')]
    assert len(starts) == 1, mine
    # after its execve, at most that call's end (the detach ends it); no exit line
    assert all(line.startswith("<... execve resumed>") for line in mine[starts[0] + 1:]), mine
    # none of exec_self's calls (the shell makes a getppid call of its own)
    assert not any(name in line for line in mine for name in ("sched_yield", "getppid"))
    assert "sched_yield" not in text and '"before\\n"' not in text
    ours = [line for p, line in lines if p == shell]
    assert any(re.fullmatch(r"(<\.\.\. wait4 resumed>|wait4\(-1, )\[\{WIFEXITED\(s\) && "
                            rf"WEXITSTATUS\(s\) == 7\}}\], 0, NULL\) += {pid}", line)
               for line in ours), ours
    assert lines[-1] == (shell, "+++ exited with 0 +++")


# ---- -u USER -----------------------------------------------------------------------------

@pytest.mark.parametrize("tool", TOOLS)
def test_run_as_user(tool: str) -> None:
    """-u nobody: the command runs with nobody's uid, gid and groups (real, effective,
    saved and filesystem ids), as initgroups gives them."""
    nobody = pwd.getpwnam("nobody")
    r = subprocess.run([*_tool(tool), "-o", os.devnull, "-u", "nobody", "grep", "-E",
                        "^(Uid|Gid|Groups):", "/proc/self/status"],
                       capture_output=True, text=True, cwd="/", env=ENV, timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    groups = " ".join(str(g) for g in sorted(os.getgrouplist("nobody", nobody.pw_gid)))
    uid, gid = nobody.pw_uid, nobody.pw_gid
    assert r.stdout.split("\n") == [f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}",
                                    f"Gid:\t{gid}\t{gid}\t{gid}\t{gid}",
                                    f"Groups:\t{groups} ", ""]
