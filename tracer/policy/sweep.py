"""``--sweep``: which syscalls does a command really need?

A baseline run records what the command does (twice, to learn whether its output is
deterministic at all); then, for every syscall name it made, one run under a profile
that denies only that name (SCMP_ACT_ERRNO with ``--sweep-errno``) and allows the rest.
A syscall is *needed* when denying it changes how the command ends (exit status or
signal), or its stdout or stderr (those comparisons are dropped when the two baselines
already differ), or makes it exceed ``--sweep-timeout``.  A command often copes with a
denial by falling back to another call (glibc's ``_exit`` tries ``exit`` when
``exit_group`` fails); such calls, made in a trial but never in the baseline, are shown
and allowed too.  The minimal profile allows the needed syscalls and the fallbacks and
denies the rest with the same errno; a last run under it says whether it reproduces the
baseline (denials one at a time can still miss interactions).

Each run is ``trace-run`` itself, forked from a pre-forked worker
(:mod:`tracer.policy.zygote`) into its own session, so a run that hangs is killed with
its whole process group.  Runs go in
parallel, up to the CPU count; the command should not depend on being alone (runs share
the working directory).
"""

from __future__ import annotations

import errno as _errno
import json
import os
import queue
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probes.abi import Abi, syscall_number
from probes.policy.models import Action, Arch

from .zygote import Zygote

__all__ = ["RunResult", "SweepResult", "Trial", "parse_errno", "render_table", "sweep"]

_ARCH_OF = {Abi.X86_64: Arch.X86_64, Abi.I386: Arch.X86, Abi.X32: Arch.X32}


def parse_errno(text: str) -> int:
    """``EPERM``, ``eperm`` or ``1``."""
    if text.isdigit():
        return int(text)
    value = getattr(_errno, text.upper(), None)
    if not isinstance(value, int) or not text.upper().startswith("E"):
        raise ValueError(f"--sweep-errno: unknown errno '{text}' (a name like EPERM or a"
                         " number)")
    return value


@dataclass
class RunResult:
    """One traced run of the command."""
    returncode: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    status: int | None = None     # the command's exit status ...
    signal: str | None = None     # ... or the signal that killed it
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)   # (abi, name)

    @property
    def end(self) -> str:
        if self.timed_out:
            return "timeout"
        if self.signal is not None:
            return f"killed by {self.signal}"
        if self.status is not None:
            return f"exit {self.status}"
        return f"trace-run exit {self.returncode}"


def _trace_run(cmd: Sequence[str], args: Sequence[str], timeout: float, workdir: Path,
               tag: str, zygotes: queue.Queue[Zygote]) -> RunResult:
    """``trace-run ARGS -- CMD`` in a fork of one of the ``zygotes``, its syscall JSON
    read back."""
    jpath = workdir / f"{tag}.jsonl"
    out_path, err_path = workdir / f"{tag}.out", workdir / f"{tag}.err"
    from tracer.verification import CHECKS
    unverified = [] if CHECKS.verify else ["--no-verify"]   # the sweep's own, passed on
    argv = ["-q", "-o", os.devnull, "--json", str(jpath), *unverified, *args, "--", *cmd]
    zygote = zygotes.get()
    try:
        code, timed_out = zygote.run(argv, str(out_path), str(err_path), timeout)
    finally:
        zygotes.put(zygote)
    res = RunResult(code, out_path.read_bytes(), err_path.read_bytes(), timed_out)
    _read_json(jpath, res)
    return res


def _read_json(path: Path, res: RunResult) -> None:
    first_pid: int | None = None
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    for line in lines:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue   # the last line of a killed run may be cut
        if "event" not in obj:
            if first_pid is None:
                first_pid = obj["pid"]
            res.counts[(obj["abi"], obj["name"])] += 1
        elif obj["event"] == "exit" and obj["pid"] == obj["tid"] == first_pid:
            res.status, res.signal = obj.get("status"), obj.get("signal")


@dataclass
class Trial:
    """The run with one syscall denied."""
    name: str
    calls: int
    run: RunResult
    stdout_differs: bool
    stderr_differs: bool
    needed: bool
    fallbacks: list[str] = field(default_factory=list)   # calls new since the baseline


@dataclass
class SweepResult:
    command: list[str]
    errno: int
    baseline: RunResult
    stdout_stable: bool
    stderr_stable: bool
    trials: list[Trial]
    profile: dict[str, Any]
    verified: RunResult | None = None
    verified_same: bool = False

    def to_json(self) -> dict[str, Any]:
        def run(r: RunResult) -> dict[str, Any]:
            return {"end": r.end, "exit_status": r.status, "signal": r.signal,
                    "timed_out": r.timed_out}
        return {
            "command": self.command, "errno": _errno.errorcode.get(self.errno, self.errno),
            "baseline": {**run(self.baseline), "syscalls": sum(self.baseline.counts.values()),
                         "stdout_deterministic": self.stdout_stable,
                         "stderr_deterministic": self.stderr_stable},
            "results": [{"syscall": t.name, "calls": t.calls, **run(t.run),
                         "stdout_differs": t.stdout_differs,
                         "stderr_differs": t.stderr_differs, "needed": t.needed,
                         "fallbacks": t.fallbacks}
                        for t in self.trials],
            "suggested_profile": self.profile,
            "verified": self.verified_same,
        }


def _deny_one(name: str, err: int) -> dict[str, Any]:
    return {"defaultAction": Action.ALLOW.value,
            "architectures": [a.value for a in _ARCH_OF.values()],
            "syscalls": [{"names": [name], "action": Action.ERRNO.value, "errnoRet": err}]}


def _differs(a: RunResult, b: RunResult, stdout: bool, stderr: bool) -> tuple[bool, bool, bool]:
    """(end differs, stdout differs, stderr differs); unstable streams never differ."""
    return (a.end != b.end, stdout and a.stdout != b.stdout, stderr and a.stderr != b.stderr)


Progress = Callable[[str], None]


def sweep(cmd: Sequence[str], *, errno: int = _errno.EPERM, timeout: float = 60.0,
          jobs: int | None = None, progress: Callable[[int], Progress] | None = None,
          workdir: Path | None = None, zygotes: queue.Queue[Zygote]) -> SweepResult:
    """Run the whole sweep.  ``progress(total)`` returns a callback called once per
    finished run with the syscall name (or "baseline").  ``zygotes``: pre-forked
    workers (:mod:`tracer.policy.zygote`) that the runs are forked from.

    A trial traces only what it must see (its prefilter lets the rest run without a
    stop): the denied syscall, and every syscall the baseline did not make, which is
    where a fallback shows."""
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="trace-run-sweep-") as tmp:
        wd = workdir or Path(tmp)
        with ThreadPoolExecutor(max_workers=max(1, min(jobs, 2))) as pool:
            b1 = pool.submit(_trace_run, cmd, [], timeout, wd, "baseline-1", zygotes)
            b2 = pool.submit(_trace_run, cmd, [], timeout, wd, "baseline-2", zygotes)
            base, again = b1.result(), b2.result()
        if base.timed_out:
            raise TimeoutError(f"the baseline run took longer than {timeout:g} s"
                               " (--sweep-timeout)")
        stdout_stable = base.stdout == again.stdout
        stderr_stable = base.stderr == again.stderr
        by_name: Counter[str] = Counter()
        abis: set[Abi] = set()
        for (abi, name), n in base.counts.items():
            if syscall_number(Abi(abi), name) is not None:
                by_name[name] += n
                abis.add(Abi(abi))
        names = sorted(by_name)
        tick = progress(len(names) + 1) if progress else None
        trials: dict[str, Trial] = {}
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {}
            for name in names:
                pfile = wd / f"deny-{name}.json"
                pfile.write_text(json.dumps(_deny_one(name, errno)))
                # execve stays traced: the command's first call names its pid
                others = ",".join(n for n in names if n not in (name, "execve"))
                seen = ["-e", f"trace=!{others}"] if others else []
                futures[pool.submit(_trace_run, cmd, ["--policy", str(pfile), *seen],
                                    timeout, wd, f"deny-{name}", zygotes)] = name
            for fut in as_completed(futures):
                name = futures[fut]
                run = fut.result()
                end, out, err = _differs(run, base, stdout_stable, stderr_stable)
                new = sorted({n for (abi, n), _ in run.counts.items()
                              if n not in by_name and syscall_number(Abi(abi), n) is not None})
                trials[name] = Trial(name, by_name[name], run, out, err,
                                     needed=run.timed_out or end or out or err,
                                     fallbacks=new)
                if tick:
                    tick(name)
        # exit and exit_group are never dropped: the suggested profile must let the
        # command end as it ends (glibc falls back from one to the other)
        needed = sorted({n for n, t in trials.items() if t.needed}
                        | {f for t in trials.values() if not t.needed for f in t.fallbacks}
                        | {"exit", "exit_group"})
        profile = {"defaultAction": Action.ERRNO.value, "defaultErrnoRet": errno,
                   "architectures": [_ARCH_OF[a].value for a in (Abi.X86_64, Abi.I386, Abi.X32)
                                     if a is Abi.X86_64 or a in abis],
                   "syscalls": [{"names": needed, "action": Action.ALLOW.value}]}
        pfile = wd / "suggested.json"
        pfile.write_text(json.dumps(profile))
        verified = _trace_run(cmd, ["--policy", str(pfile), "-e", "trace=execve"], timeout,
                              wd, "verify", zygotes)
        end, out, err = _differs(verified, base, stdout_stable, stderr_stable)
        if tick:
            tick("verification")
    return SweepResult(list(cmd), errno, base, stdout_stable, stderr_stable,
                       [trials[n] for n in names], profile, verified,
                       not (verified.timed_out or end or out or err))


def render_table(result: SweepResult) -> Any:
    """The results as a rich Table."""
    from rich.table import Table
    ename = _errno.errorcode.get(result.errno, str(result.errno))
    table = Table(title=f"{' '.join(result.command)}: each syscall denied with {ename}"
                        f" (baseline: {result.baseline.end})")
    for col, just in (("syscall", "left"), ("calls", "right"), ("when denied", "left"),
                      ("stdout", "left"), ("stderr", "left"), ("needed", "left"),
                      ("new calls", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]

    def stream(differs: bool, stable: bool) -> str:
        return "differs" if differs else ("same" if stable else "(varies)")

    for t in result.trials:
        table.add_row(t.name, str(t.calls), t.run.end,
                      stream(t.stdout_differs, result.stdout_stable),
                      stream(t.stderr_differs, result.stderr_stable),
                      "yes" if t.needed else "no", " ".join(t.fallbacks))
    return table
