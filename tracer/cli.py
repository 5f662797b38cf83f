"""``trace-run [OPTIONS] [--] CMD ARGS...``: run CMD under the stop loop.

Options are parsed only before CMD; from CMD on everything is CMD's, as with strace
(``trace-run -o log sh -c 'exit 3'`` passes ``-c`` to sh).  trace-run exits with CMD's
status, 128+N if CMD was killed by signal N, 127/126 if CMD cannot be run, and 128+M if
trace-run itself got signal M (SIGINT, SIGTERM, SIGHUP) first.

This module is the only place that catches project errors: each is printed on one line
as ``trace-run: ...`` and ends the run with a non-zero status, without a traceback.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from bpf_vm import BpfError
from tracer.handler import SyscallHandler
from tracer.loop import Loop, stop_on_signals
from tracer.policy import PolicyOptions, PolicyUsageError, ProfileError
from tracer.policy import run as run_policy
from tracer.policy import wanted as policy_wanted
from tracer.policy.cli_options import (
    Audit,
    Caps,
    Merge,
    PolicyOpt,
    PrintPrograms,
    RecordProfile,
    Report,
    Strict,
    Sweep,
    SweepErrno,
    SweepJobs,
    SweepTimeout,
)
from tracer.spawn import SpawnError, spawn

PROG = "trace-run"


# ---- the probe seam ---------------------------------------------------------------------

def make_handler(probe: Path | None = None, printk: str | None = None,
                 dump_maps: bool = False) -> SyscallHandler:
    """The syscall handler for this run: the BPF probe (by default the bundled one).  Its
    ``close()`` is called once when the trace ends (flush printk, dump maps)."""
    from tracer.probe_handler import make_handler as make_probe_handler
    return make_probe_handler(probe=probe, printk=printk, dump_maps=dump_maps)


# ---- outputs ----------------------------------------------------------------------------

def _open(path: str, stack: contextlib.ExitStack, stdout_ok: bool = False) -> TextIO:
    if stdout_ok and path == "-":
        return sys.stdout
    return stack.enter_context(open(path, "w", encoding="utf-8", errors="backslashreplace"))


# ---- the command ------------------------------------------------------------------------

Output = Annotated[str | None, typer.Option("-o", "--output", metavar="FILE",
                   help="Write the strace-like lines to FILE instead of stderr.")]
Json = Annotated[str | None, typer.Option("--json", metavar="FILE",
                 help="Write one JSON object per syscall and per process event to FILE.")]
SummaryOpt = Annotated[bool, typer.Option("-c", "--summary",
                       help="At exit, print a table of calls, errors, denials and time per "
                            "syscall (instead of the lines, unless -o is given).")]
Printk = Annotated[str | None, typer.Option("--printk", metavar="FILE|-",
                   help="Write the programs' bpf_trace_printk lines and ring-buffer "
                        "records to FILE ('-': stdout).")]
Probe = Annotated[Path | None, typer.Option("--probe", metavar="FILE",
                  help="Run this probe object (.o, or .c / .s built on the fly).")]
DumpMaps = Annotated[bool, typer.Option("--dump-maps", help="Print the probe's maps at exit.")]
Detach = Annotated[bool, typer.Option("--detach-on-exit",
                   help="On SIGINT/SIGTERM, detach from the tracees and let them run on "
                        "(default: kill them).")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet",
                  help="No messages of trace-run's own (detach notices).")]
Version = Annotated[bool, typer.Option("-V", "--version", is_eager=True,
                    help="Print the version and exit.")]
Cmd = Annotated[list[str] | None, typer.Argument(metavar="CMD [ARGS]...", show_default=False)]

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _error(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


@app.command(name=PROG, context_settings={"allow_interspersed_args": False,
                                          "ignore_unknown_options": True,
                                          "help_option_names": ["-h", "--help"]})
def trace_run(cmd: Cmd = None, output: Output = None, json: Json = None,
              summary: SummaryOpt = False,
              printk: Printk = None, probe: Probe = None, dump_maps: DumpMaps = False,
              detach_on_exit: Detach = False, quiet: Quiet = False,
              policy: PolicyOpt = None, audit: Audit = False, report: Report = None,
              strict: Strict = False, cap: Caps = None, print_programs: PrintPrograms = False,
              record_profile: RecordProfile = None, merge: Merge = None, sweep: Sweep = False,
              sweep_errno: SweepErrno = "EPERM", sweep_timeout: SweepTimeout = 60.0,
              sweep_jobs: SweepJobs = None, version: Version = False) -> None:
    """Run CMD, stopping it at every syscall of every thread and child."""
    if version:
        from bpf_vm import __version__
        print(f"{PROG} -- version {__version__}")
        raise typer.Exit(0)
    cmd = cmd or []
    popts = PolicyOptions(policy=policy, audit=audit, report=report, strict=strict, caps=cap,
                          print_programs=print_programs, record_profile=record_profile,
                          merge=merge, sweep=sweep, sweep_errno=sweep_errno,
                          sweep_timeout=sweep_timeout, sweep_jobs=sweep_jobs,
                          json=json if sweep else None, printk=printk, dump_maps=dump_maps,
                          probe=probe)
    if not cmd and not policy_wanted(popts):
        _error("missing CMD")
        raise typer.Exit(2)
    if cmd and cmd[0].startswith("-") and cmd[0] != "-":
        # ignore_unknown_options lets an unknown option through as CMD: refuse it.
        _error(f"unknown option '{cmd[0]}' (put CMD after '--' if it starts with '-')")
        raise typer.Exit(2)
    try:
        if policy_wanted(popts):
            code = run_policy(popts, cmd, lambda handler: _run(
                cmd, output, json, summary, printk, probe, dump_maps, detach_on_exit, quiet,
                handler=handler))
        else:
            code = _run(cmd, output, json, summary, printk, probe, dump_maps, detach_on_exit,
                        quiet)
    except (ProfileError, PolicyUsageError) as exc:
        for line in str(exc).splitlines():
            _error(line)
        code = 2
    except SpawnError as exc:
        _error(str(exc))
        code = exc.exit_code
    except OSError as exc:
        _error(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}")
        code = 1
    except BpfError as exc:  # the probe side: VM, loader, build, maps
        _error(str(exc))
        code = 1
    raise typer.Exit(code)


def _run(cmd: list[str], output: str | None, json_path: str | None, summary: bool,
         printk: str | None, probe: Path | None, dump_maps: bool, detach: bool,
         quiet: bool, handler: SyscallHandler | None = None) -> int:
    # imported here: they pull in the formatting tables
    from tracer.output.jsonl import JsonWriter
    from tracer.output.records import Writer
    from tracer.output.sink import Fanout
    from tracer.output.strace import PidPrefix, StraceWriter
    from tracer.output.summary import Summary
    from tracer.record import OutputRecorder

    if handler is None:
        handler = make_handler(probe=probe, printk=printk, dump_maps=dump_maps)
    with contextlib.ExitStack() as stack:
        lines = _open(output, stack) if output else sys.stderr
        writers: list[Writer] = []
        if output or not (summary or json_path):
            # strace -f -o FILE prefixes every line with the pid; on stderr, [pid N].
            prefix = PidPrefix.ALWAYS if output else PidPrefix.AUTO
            writers.append(StraceWriter(lines, pid_prefix=prefix))
        if json_path:
            writers.append(JsonWriter(_open(json_path, stack, stdout_ok=True)))
        if summary:
            writers.append(Summary(lines))
        fanout = Fanout(writers)
        loop = Loop(handler, [OutputRecorder(fanout)])
        try:
            with stop_on_signals(loop, detach):
                child = spawn(cmd)
                code = loop.run(child)
        finally:
            close = getattr(handler, "close", None)
            if callable(close):
                close()
            fanout.close()  # the summary is written here, after the last exit
        failure = child.exec_error()
        if failure is not None:
            raise failure
        if loop.interrupted is not None and detach and not quiet:
            _error(f"detached from {child.pid} and its children")
    return code


def main() -> None:
    """Console entry point (``trace-run``)."""
    app(prog_name=PROG)


if __name__ == "__main__":
    main()
