"""Per-syscall policy experiments: the modes behind trace-run's policy options.

* ``--policy PROFILE --print-programs``: compile and print the BPF programs, no command;
* ``--policy PROFILE CMD``: enforce (denied syscalls fail with the profile's errno);
* ``--policy PROFILE --audit CMD``: same programs, nothing enforced, a report at exit;
* ``--record-profile OUT [--merge BASE] CMD``: write the profile CMD needs;
* ``--sweep CMD``: deny each syscall in turn, tabulate, suggest a minimal profile;
* ``--policy PROFILE --compare CMD``: run CMD emulated and under the kernel's seccomp
  (libseccomp's filter, as runc builds it) and show where they differ.

They are options of ``trace-run`` rather than subcommands, so that a command named
``audit`` is never mistaken for one.  :func:`run` takes the parsed options, and a
``trace(handler) -> exit code`` callback with which the CLI runs the command under a
handler with its usual outputs (-o, --json, -c).  Errors in what the user gave raise
:class:`PolicyUsageError` or :class:`~probes.policy.models.ProfileError`; the CLI prints
them and exits 2.
"""

from __future__ import annotations

import os
import queue
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from probes.policy.errors import ProfileError
from tracer.handler import SyscallHandler

if TYPE_CHECKING:
    from probes.policy.resolve import Policy

__all__ = ["PolicyOptions", "PolicyUsageError", "ProfileError", "run", "wanted"]

Trace = Callable[[SyscallHandler], int]
MAX_ERRNO = 4095


class PolicyUsageError(Exception):
    """Policy options that do not go together (exit 2)."""


@dataclass
class PolicyOptions:
    """The policy options of one trace-run invocation, as parsed."""
    policy: Path | None = None
    audit: bool = False
    report: Path | None = None
    strict: bool = False
    caps: list[str] | None = None
    print_programs: bool = False
    record_profile: str | None = None
    merge: Path | None = None
    sweep: bool = False
    compare: bool = False
    sweep_errno: str = "EPERM"
    sweep_timeout: float = 60.0
    sweep_jobs: int | None = None
    force: bool = False            # with --sweep: write a profile that failed verification
    json: str | None = None        # with --sweep or --compare: where the results go
    printk: str | None = None
    dump_maps: bool = False
    probe: Path | None = None      # --probe: another handler, refused with these modes
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)


def wanted(opts: PolicyOptions) -> bool:
    """Whether any policy mode was asked for."""
    return bool(opts.policy or opts.record_profile or opts.sweep or opts.audit
                or opts.print_programs or opts.merge or opts.report or opts.compare
                or opts.strict or opts.caps is not None)


def _check(opts: PolicyOptions, cmd: Sequence[str]) -> None:
    def need(flag: bool, message: str) -> None:
        if not flag:
            raise PolicyUsageError(message)

    need(not (opts.audit or opts.report or opts.print_programs or opts.strict or opts.caps)
         or opts.policy is not None,
         "--audit, --report, --print-programs, --strict and --cap need --policy PROFILE")
    if opts.caps is not None:
        from probes.policy.resolve import parse_caps
        try:
            parse_caps(opts.caps)
        except ValueError as exc:
            raise PolicyUsageError(str(exc)) from None
    need(opts.probe is None, "--probe does not go with --policy, --record-profile or --sweep"
         " (they run their own programs)")
    need(not (opts.policy and opts.sweep), "--policy and --sweep do not go together")
    need(not opts.compare or (opts.policy is not None and not opts.audit and not opts.report),
         "--compare needs --policy PROFILE (and no --audit or --report)")
    need(not (opts.policy and opts.record_profile),
         "--policy and --record-profile do not go together (record without a policy)")
    need(not opts.merge or (opts.record_profile is not None and not opts.sweep),
         "--merge needs --record-profile OUT (and no --sweep)")
    if opts.print_programs:
        need(not cmd, "--print-programs prints the programs and runs no command")
    else:
        need(bool(cmd), "missing CMD")


def _warn(opts: PolicyOptions, message: str) -> None:
    print(f"trace-run: warning: {message}", file=opts.stderr, flush=True)


def load_policy(opts: PolicyOptions) -> Policy:
    """Load, validate and resolve ``--policy`` for this host, printing its warnings."""
    from probes.policy.models import load_profile
    from probes.policy.resolve import Environment, resolve
    assert opts.policy is not None
    profile = load_profile(opts.policy)
    env = Environment.from_host(opts.caps)
    policy = resolve(profile, env, strict=opts.strict, source=str(opts.policy))
    for w in policy.warnings:
        _warn(opts, f"{opts.policy}: {w}")
    from .io_uring import io_uring_warning
    uring = io_uring_warning(policy)
    if uring is not None:
        _warn(opts, f"{opts.policy}: {uring}")
    return policy


def _write(path: str, text: str, opts: PolicyOptions) -> None:
    if path == "-":
        opts.stdout.write(text)
        opts.stdout.flush()
        return
    Path(path).write_text(text, encoding="utf-8")


def run(opts: PolicyOptions, cmd: Sequence[str], trace: Trace) -> int:
    """Run the mode ``opts`` asks for; returns trace-run's exit code."""
    _check(opts, cmd)
    if opts.print_programs:
        return print_programs_mode(opts)
    if opts.compare:
        return compare_mode(opts, cmd)
    if opts.policy is not None:
        return enforce_mode(opts, trace)
    if opts.sweep:
        return sweep_mode(opts, cmd)
    return record_mode(opts, trace)


def print_programs_mode(opts: PolicyOptions) -> int:
    from probes.policy.compiler import compile_policy
    policy = load_policy(opts)
    compiled = compile_policy(policy)
    opts.stdout.write(compiled.listing())
    opts.stdout.write("\n" + _prefilter_listing(policy))
    opts.stdout.flush()
    return 0


def _prefilter_listing(policy: Policy) -> str:
    """The seccomp prefilter a run of this policy installs when no output asks for
    more (``-e trace=none``); its cookie is drawn at each run (shown as 0 here)."""
    from probes.prefilter import Prefilter
    from tracer.prefilter_choice import ALWAYS_TRACED

    from .handler import allowed_outright
    text = Prefilter(allowed_outright(policy) - ALWAYS_TRACED, cookie=0).listing()
    return ("; the prefilter of a run whose outputs need no more syscalls (-e trace=none);"
            " its cookie is drawn at each run\n" + text)


def enforce_mode(opts: PolicyOptions, trace: Trace) -> int:
    """Enforce (or audit) ``--policy``; the report goes to stderr in audit mode and to
    ``--report FILE`` in either mode."""
    from .handler import make_handler
    from .report import report_json, report_text

    policy = load_policy(opts)
    printk: IO[str] | None = None
    if opts.printk == "-":
        printk = opts.stdout
    elif opts.printk:
        printk = open(opts.printk, "w", encoding="utf-8")  # noqa: SIM115  closed below
    try:
        handler = make_handler(policy, audit=opts.audit, printk=printk,
                               dump_maps=opts.stderr if opts.dump_maps else None)
        code = trace(handler)
    finally:
        if printk is not None and printk is not opts.stdout:
            printk.close()
    kw = {"profile": str(opts.policy), "default": str(policy.default), "audit": opts.audit}
    text = report_text(handler.tally, **kw)  # type: ignore[arg-type]
    if opts.audit:
        opts.stderr.write(text)
        opts.stderr.flush()
    if opts.report is not None:
        body = (report_json(handler.tally, **kw) if opts.report.suffix == ".json"  # type: ignore[arg-type]
                else text)
        opts.report.write_text(body, encoding="utf-8")
    return code


def compare_mode(opts: PolicyOptions, cmd: Sequence[str]) -> int:
    """Run CMD emulated and under the kernel's seccomp; 0 when they agree, 1 if not."""
    from .compare import compare, write

    policy = load_policy(opts)
    result = compare(policy, cmd, profile=str(opts.policy))
    write(result, opts.stdout, opts.json)
    return 0 if result.agree else 1


def record_mode(opts: PolicyOptions, trace: Trace) -> int:
    from probes.policy.models import load_profile

    from .record import RecordingHandler, profile_json, recorded_profile

    base = load_profile(opts.merge) if opts.merge is not None else None
    handler = RecordingHandler()
    code = trace(handler)
    names, abis, unnamed = handler.nameable()
    for what in unnamed:
        _warn(opts, f"syscall {what} has no name a profile could list; left out")
    assert opts.record_profile is not None
    _write(opts.record_profile, profile_json(recorded_profile(names, abis, base)), opts)
    return code


def sweep_mode(opts: PolicyOptions, cmd: Sequence[str]) -> int:
    from rich.console import Console

    from tracer.spawn import resolve

    from .sweep import parse_errno
    from .zygote import Zygote

    try:
        err = parse_errno(opts.sweep_errno)
    except ValueError as exc:
        raise PolicyUsageError(str(exc)) from None
    if not 1 <= err <= MAX_ERRNO:
        raise PolicyUsageError(f"--sweep-errno: {opts.sweep_errno} is not an errno"
                               f" (1 to {MAX_ERRNO})")
    resolve(cmd[0])   # a command that cannot run is said before any baseline
    # the workers are forked now, before the progress bar's thread and the pool's start
    zygotes: queue.Queue[Zygote] = queue.Queue()
    workers = [Zygote() for _ in range(opts.sweep_jobs or os.cpu_count() or 1)]
    for z in workers:
        zygotes.put(z)
    try:
        return _sweep_with(opts, cmd, err, Console(file=opts.stderr), zygotes)
    finally:
        for z in workers:
            z.close()


def _sweep_with(opts: PolicyOptions, cmd: Sequence[str], err: int, console: Any,
                zygotes: Any) -> int:
    import json

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .record import profile_json
    from .sweep import render_table, sweep

    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TextColumn("{task.fields[last]}"),
                  console=console, transient=True) as bar:
        task = bar.add_task("sweep: baseline", total=None, last="")

        def progress(total: int) -> Callable[[str], None]:
            bar.update(task, total=total, description="sweep")

            def tick(name: str) -> None:
                bar.update(task, advance=1, last=name)
            return tick

        try:
            result = sweep(cmd, errno=err, timeout=opts.sweep_timeout, jobs=opts.sweep_jobs,
                           progress=progress, zygotes=zygotes)
        except TimeoutError as exc:
            raise PolicyUsageError(str(exc)) from None
    Console(file=opts.stdout, width=max(100, Console(file=opts.stdout).width)).print(
        render_table(result))
    allowed = result.profile["syscalls"][0]["names"]
    needed = [t.name for t in result.trials if t.needed]
    extra = len([n for n in allowed if n not in needed and n not in ("exit", "exit_group")])
    ended = result.verified.end if result.verified else "?"
    verdict = ("reproduces the baseline" if result.verified_same else
               f"does NOT reproduce the baseline (ended: {ended})")
    print(f"minimal profile: {len(needed)} of {len(result.trials)} syscalls needed"
          + (f", {extra} fallback(s) allowed" if extra else "")
          + ", exit and exit_group always allowed"
          + f"; enforced on the command it {verdict}", file=opts.stdout)
    if opts.json:
        _write(opts.json, json.dumps(result.to_json(), indent=2) + "\n", opts)
    text = profile_json(result.profile)
    if not result.verified_same and not opts.force:
        _warn(opts, "the suggested profile is not written: it does not reproduce the"
                    " baseline (--force writes it anyway)")
        return 1
    if opts.record_profile:
        _write(opts.record_profile, text, opts)
        print(f"written to {opts.record_profile}", file=opts.stdout)
    else:
        opts.stdout.write(text)
    opts.stdout.flush()
    return 0 if result.verified_same else 1

