"""Sweep runs without a Python start-up each: pre-forked trace-run workers.

A sweep makes one traced run per syscall name, and a new ``python -m tracer.cli`` costs
0.5-0.8 s of imports and probe loading before the command starts, most of a trial on a
short command.  A :class:`Zygote` is a process forked once, before the sweep starts any
thread, with trace-run's modules imported; each run is a fork of it (single-threaded,
so safe to fork) that becomes ``trace-run ARGS`` in its own session with its stdin on
/dev/null and its stdout and stderr in files, exactly as the subprocess would.  The
zygote waits for the run on a pidfd with the run's time limit, kills the session when
it is exceeded, and reports the status as :class:`subprocess.Popen` would
(``-signal`` when killed by one).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
from collections.abc import Sequence
from typing import IO, Any, ClassVar

__all__ = ["Zygote"]


class Zygote:
    """One pre-forked worker; :meth:`run` is used by one thread at a time."""

    _open: ClassVar[set[int]] = set()   # the parent's ends of every zygote's pipes

    def __init__(self) -> None:
        job_r, self._job_w = os.pipe()
        self._res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:   # pragma: no cover - the worker; never returns
            code = 0
            try:
                # no other worker's pipe stays open here: each sees its EOF
                for fd in (self._job_w, self._res_r, *Zygote._open):
                    os.close(fd)
                _serve(job_r, res_w)
            except BaseException:
                code = 1
            os._exit(code)
        self.pid = pid
        os.close(job_r)
        os.close(res_w)
        Zygote._open |= {self._job_w, self._res_r}
        self._jobs: IO[str] = os.fdopen(self._job_w, "w", buffering=1)
        self._results: IO[str] = os.fdopen(self._res_r, "r")

    def run(self, argv: Sequence[str], stdout: str, stderr: str,
            timeout: float) -> tuple[int, bool]:
        """``trace-run ARGV``'s (returncode, timed out), its output in the two files."""
        self._jobs.write(json.dumps({"argv": list(argv), "stdout": stdout, "stderr": stderr,
                                     "timeout": timeout}) + "\n")
        line = self._results.readline()
        if not line:
            raise RuntimeError("the sweep's worker process ended")
        res = json.loads(line)
        return int(res["returncode"]), bool(res["timed_out"])

    def close(self) -> None:
        Zygote._open -= {self._job_w, self._res_r}
        with contextlib.suppress(OSError):
            self._jobs.close()
        with contextlib.suppress(OSError):
            self._results.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _serve(job_r: int, res_w: int) -> None:   # pragma: no cover - in the worker
    # What every run needs, imported once here rather than in each run.
    import tracer.cli
    import tracer.loop
    import tracer.output.jsonl
    import tracer.policy.handler  # noqa: F401
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the sweep's parent handles ^C
    with os.fdopen(job_r) as jobs, os.fdopen(res_w, "w", buffering=1) as results:
        for line in jobs:
            job: dict[str, Any] = json.loads(line)
            code, timed_out = _one(job)
            results.write(json.dumps({"returncode": code, "timed_out": timed_out}) + "\n")


def _one(job: dict[str, Any]) -> tuple[int, bool]:   # pragma: no cover - in the worker
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            null = os.open(os.devnull, os.O_RDONLY)
            out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            for fd, target in ((null, 0), (out, 1), (err, 2)):
                os.dup2(fd, target)
            from tracer.cli import main
            main(job["argv"])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    pidfd = os.pidfd_open(pid)
    timed_out = False
    try:
        ready, _, _ = select.select([pidfd], [], [], job["timeout"])
        if not ready:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return code, timed_out
