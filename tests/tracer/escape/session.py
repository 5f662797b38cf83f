"""``python3 session.py REPORT [--seccomp PROFILE] -- ARGV...``: one escape-suite run, as
the leader of its own session (the test starts it with ``start_new_session``).

The child gets a process group of its own (so that the session leader is outside it, in
another group of the same session: that group is not orphaned, and SIGTSTP stops its
members as on a terminal), then, with ``--seccomp``, loads PROFILE as a kernel seccomp
filter (:mod:`kernel_seccomp`) and sets ESCAPE_ORACLE; then execs ARGV (trace-run, or the
program itself).  The leader waits for it with WUNTRACED: a child that *stops* (trace-run
stopped by a signal of its tracee: every tracee would wait for it forever), or that gets
a tracer (a tracee that PTRACE_SEIZEd trace-run), is reported within 50 ms and the
session killed, with no timeout to wait out.  When it has ended, any
process left in the session (a child that escaped trace-run and outlived it) is
reported and killed.  REPORT gets ``{"status": wait status or null, "stopped": bool,
"leftovers": [cmdline...]}`` (and, for a stop, ``stop_signal`` and ``tracer``).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import kernel_seccomp


def session_members(sid: int) -> list[tuple[int, str]]:
    """(pid, cmdline) of the live processes of session ``sid`` (zombies left out)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
            rest = stat[stat.rindex(b")") + 2:].split()
            if int(rest[3]) != sid or rest[0] == b"Z":
                continue
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, ValueError, IndexError):
            continue
        out.append((int(name), cmd.decode(errors="replace").strip()))
    return out


def tracer_of(pid: int) -> int:
    """The TracerPid of ``pid`` (0: none, or gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def kill_session(sid: int, spare: int | None = None) -> None:
    for pid, _ in session_members(sid):
        if pid != spare:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    report, rest = argv[0], argv[1:]
    profile = None
    if rest[0] == "--seccomp":
        profile, rest = json.loads(Path(rest[1]).read_text()), rest[2:]
    assert rest[0] == "--"
    cmd = rest[1:]
    me = os.getpid()
    child = os.fork()
    if child == 0:
        try:
            os.setpgid(0, 0)
            if profile is not None:
                os.environ["ESCAPE_ORACLE"] = "1"
                kernel_seccomp.load(profile)
            os.execvp(cmd[0], cmd)
        except BaseException as exc:
            print(f"session: cannot run {cmd}: {exc}", file=sys.stderr, flush=True)
        os._exit(127)
    result: dict[str, object] = {"status": None, "stopped": False, "leftovers": []}
    pidfd = os.pidfd_open(child)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    while True:
        # readable when the child has ended; every 50 ms, a look for what ends nothing:
        # a stop, or a tracer the child got (a tracee of trace-run that attached to it)
        poller.poll(50)
        got, status = os.waitpid(child, os.WUNTRACED | os.WNOHANG)
        tracer = 0 if got else tracer_of(child)
        if not got and not tracer:
            continue
        if tracer or os.WIFSTOPPED(status):
            result["stopped"] = True
            result["stop_signal"] = os.WSTOPSIG(status) if got else None
            result["tracer"] = tracer
            result["leftovers"] = [cmd for pid, cmd in session_members(me) if pid != me]
            kill_session(me, spare=me)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child, 0)
            break
        result["status"] = status
        left = [(pid, cmd) for pid, cmd in session_members(me) if pid != me]
        result["leftovers"] = [cmd for _, cmd in left]
        kill_session(me, spare=me)
        break
    Path(report).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
