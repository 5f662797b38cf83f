"""``trace-run [OPTIONS] [--] CMD ARGS...``: run CMD under the stop loop.

The options are strace 6.1's, spelled and combined as strace takes them
(:mod:`tracer.options`), plus trace-run's own (probes, policies, JSON).  Options are
parsed only before CMD; from CMD on everything is CMD's (``trace-run -o log sh -c 'exit
3'`` passes ``-c`` to sh).

This module is the only place that catches project errors: each is printed on one line
as ``trace-run: ...`` and ends the run with a non-zero status, without a traceback.
A usage error (an unknown option, a bad value, outputs that clash) exits 2, before CMD
starts.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn, TextIO, cast

from bpf_vm import BpfError
from tracer.attach import AttachError, parse_pids
from tracer.format_options import XLAT_STYLES, FormatOptions
from tracer.handler import Recorder, SyscallHandler
from tracer.help_text import HELP, PROG
from tracer.interrupts import IntrMode, IntrUsageError, default_intr, exit_like, parse_intr
from tracer.options import Options, UsageError, check_detach, parse
from tracer.output.stamps import Stamps, parse_absolute
from tracer.policy import PolicyOptions, PolicyUsageError, ProfileError
from tracer.policy import run as run_policy
from tracer.policy import wanted as policy_wanted
from tracer.qualify import Qualifiers, QualifyError, Quiet, failed_only, finish, successful_only
from tracer.spawn import SpawnError, UserError, spawn
from tracer.verification import configure, is_refusal, report_refusal

STRACE_COLUMNS = "time-percent,total-time,avg-time,calls,errors,name"  # strace -c's


class _Failed(Exception):
    """A one-line error and the exit status it ends the run with."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _error(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


# ---- the probe seam ---------------------------------------------------------------------

def make_handler(probe: Path | None = None, printk: str | None = None,
                 dump_maps: bool = False, *, set_globals: Sequence[str] = (),
                 record_types: Sequence[str] = (),
                 records: str | None = None) -> SyscallHandler:
    """The syscall handler for this run: the BPF probe (by default the bundled one).  Its
    ``close()`` is called once when the trace ends (flush printk, dump maps)."""
    from tracer.probe_handler import make_handler as make_probe_handler
    return make_probe_handler(probe=probe, printk=printk, dump_maps=dump_maps,
                              set_globals=set_globals, record_types=record_types,
                              records=records)


# ---- checking the options ---------------------------------------------------------------

def _int(text: str, option: str, low: int = 0) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise UsageError(f"invalid {option} argument: '{text}'") from None
    if value < low:
        raise UsageError(f"invalid {option} argument: '{text}'")
    return value


_INTR = {"1": 1, "anywhere": 1, "2": 2, "waiting": 2, "3": 3, "never": 3, "4": 4,
         "never_tstp": 4}


@dataclass
class Outputs:
    """Where the text goes, decided before anything starts."""

    lines: str | None = None          # -o: a path, "-" (stdout) or "|cmd"
    separate: bool = False            # -ff -o FILE: FILE.TID
    append: bool = False
    json: str | None = None
    summary: bool = False             # -c or -C
    lines_too: bool = True            # not -c
    column: int = 40
    fmt: FormatOptions = field(default_factory=FormatOptions)
    stamps: Stamps = field(default_factory=Stamps)
    qualifiers: Qualifiers = field(default_factory=Qualifiers)
    pids: list[int] = field(default_factory=list)
    intr: IntrMode = IntrMode.WAITING
    detach_on_exec: bool = False
    termination: tuple[int | None, int] = (None, 0)  # how the trace ended (Loop.termination)


def _stamps(opts: Options) -> Stamps:
    stamps = Stamps()
    if opts.timestamps:
        stamps.absolute = "unix" if opts.timestamps >= 3 else "time"
        stamps.absolute_digits = 6 if opts.timestamps >= 2 else 0
    if opts.absolute_timestamps is not None:
        try:
            stamps.absolute, stamps.absolute_digits = parse_absolute(opts.absolute_timestamps)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    stamps.relative = opts.relative
    stamps.durations = opts.syscall_times
    return stamps


def _outputs(opts: Options, out: Outputs) -> Outputs:
    out.lines, out.append, out.json = opts.output, opts.append, opts.json
    out.summary = opts.summary_only or opts.summary
    out.lines_too = not opts.summary_only
    out.stamps = _stamps(opts)
    out.separate = opts.follow >= 2 and opts.output is not None and not _special(opts.output)
    if opts.column is not None:
        out.column = _int(opts.column, "-a")
    out.qualifiers = _qualifiers(opts)
    out.fmt = _format_options(opts)
    try:
        out.pids = parse_pids(opts.pids)
        out.intr = default_intr(parse_intr(opts.interruptible) if opts.interruptible else None,
                                output_file=opts.output is not None, has_cmd=bool(opts.cmd))
    except (AttachError, IntrUsageError) as exc:
        raise UsageError(str(exc)) from None
    if opts.detach_on is not None:
        if opts.detach_on != "execve":
            raise UsageError(f"syscall '{opts.detach_on}' for -b isn't supported")
        out.detach_on_exec = True
    check_detach(opts)
    files = [(name, path) for name, path in (("-o", out.lines), ("--json", out.json),
                                             ("--report", opts.report),
                                             ("--record-profile", opts.record_profile),
                                             ("--printk", opts.printk),
                                             ("--records", opts.records))
             if path is not None and not _special(path)]
    seen: dict[str, str] = {}
    for name, path in files:
        key = os.path.realpath(path)
        if key in seen:
            raise UsageError(f"{name} and {seen[key]} name the same file: {path}")
        seen[key] = name
    return out


def _format_options(opts: Options) -> FormatOptions:
    """-s, -x/-xx (--strings-in-hex), -y/-yy (--decode-fds), -X and -v."""
    strsize = 32 if opts.strsize is None else _int(opts.strsize, "-s")
    xflag = min(opts.hex, 2)
    if opts.strings_in_hex is not None:
        levels = {"all": 2, "non-ascii": 1, "non-ascii-chars": 1, "none": 0}
        if opts.strings_in_hex not in levels:
            raise UsageError(f"invalid --strings-in-hex argument: '{opts.strings_in_hex}'")
        xflag = levels[opts.strings_in_hex]
    yflag = min(opts.decode_fds, 2)
    if opts.decode_fds_set is not None:
        kinds = set(opts.decode_fds_set.split(","))
        if not kinds <= {"path", "socket", "dev", "pidfd", "all", "none"}:
            raise UsageError(f"invalid --decode-fds argument: '{opts.decode_fds_set}'")
        yflag = 0 if kinds == {"none"} else 2 if kinds - {"path"} else 1
    xlat = "abbrev" if opts.xlat is None else opts.xlat
    if xlat not in XLAT_STYLES:
        raise UsageError(f"invalid -X argument: '{xlat}'")
    return FormatOptions(strsize=strsize, xflag=xflag, yflag=yflag, xlat=xlat,
                         verbose=opts.verbose)


def _qualifiers(opts: Options) -> Qualifiers:
    """The -e expressions, -z/-Z and -q, as strace combines them."""
    q = Qualifiers()
    for expr in opts.exprs:
        q.apply(expr)
    if opts.successful_only:
        successful_only(q)
    if opts.failed_only:
        failed_only(q)
    for warning in finish(q, q_level=opts.quiet, output_file=opts.output is not None,
                          command=bool(opts.cmd)):
        _error(warning)
    return q


def _special(path: str) -> bool:
    """``-`` (stdout) and ``|cmd``/``!cmd`` (a pipe): not files of trace-run's."""
    return path == "-" or path.startswith(("|", "!"))


def _check_writable(paths: Sequence[str]) -> None:
    """Fail now, before CMD runs, for an output file that cannot be written."""
    for path in paths:
        if _special(path):
            continue
        existed = os.path.lexists(path)
        try:
            with open(path, "a"):
                pass
        except OSError as exc:
            raise _Failed(f"{path}: {exc.strerror}", 1) from None
        if not existed:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _environment(changes: Sequence[str]) -> dict[str, str] | None:
    """-E VAR=VAL sets VAR, -E VAR removes it, in order, from trace-run's environment."""
    if not changes:
        return None
    env = dict(os.environ)
    for change in changes:
        name, eq, value = change.partition("=")
        if not name:
            raise UsageError(f"invalid -E argument: '{change}'")
        if eq:
            env[name] = value
        else:
            env.pop(name, None)
    return env


def _policy_options(opts: Options) -> PolicyOptions:
    return PolicyOptions(
        policy=Path(opts.policy) if opts.policy else None, audit=opts.audit,
        report=Path(opts.report) if opts.report else None, strict=opts.strict,
        caps=opts.caps or None, print_programs=opts.print_programs,
        record_profile=opts.record_profile, merge=Path(opts.merge) if opts.merge else None,
        sweep=opts.sweep, sweep_errno=opts.sweep_errno, compare=opts.compare,
        sweep_timeout=_float(opts.sweep_timeout, "--sweep-timeout"),
        sweep_jobs=_int(opts.sweep_jobs, "--sweep-jobs", 1) if opts.sweep_jobs else None,
        force=opts.force,
        json=opts.json if opts.sweep or opts.compare else None, printk=opts.printk,
        dump_maps=opts.dump_maps, probe=Path(opts.probe) if opts.probe else None)


def _float(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"invalid {option} argument: '{text}'") from None
    if not value > 0:
        raise UsageError(f"invalid {option} argument: '{text}'")
    return value


# ---- opening the outputs ----------------------------------------------------------------

class _Opened:
    """The output streams of one run, closed (and a pipe's command waited for) at the end."""

    def __init__(self, stack: contextlib.ExitStack, append: bool) -> None:
        self._stack = stack
        self._mode = "a" if append else "w"

    def open(self, path: str) -> TextIO:
        if path == "-":
            return sys.stdout
        if path.startswith(("|", "!")):
            return self._stack.enter_context(_pipe_to(path[1:], self._stack))
        stream = cast(TextIO, open(path, self._mode, encoding="utf-8",  # noqa: SIM115
                                   errors="backslashreplace"))
        return self._stack.enter_context(stream)


def _pipe_to(command: str, stack: contextlib.ExitStack) -> TextIO:
    """A stream into ``sh -c command`` (``-o '|command'``), which runs as a grandchild:
    the loop ends when waitpid(-1) finds no child, so the command must not be one.  When
    the run ends, the stream is closed and trace-run waits until the command and what
    it started have closed their end of a pipe, i.e. have ended, as strace waits for
    its popen'ed command."""
    data_r, data_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the intermediate child
        try:
            if os.fork() == 0:
                os.dup2(data_r, 0)
                os.set_inheritable(done_w, True)
                for fd in (data_r, data_w, done_r):
                    os.close(fd)
                os.execv("/bin/sh", ["sh", "-c", command])
        finally:
            os._exit(127)
    os.close(data_r)
    os.close(done_w)
    os.waitpid(pid, 0)

    def wait_for_command() -> None:
        with os.fdopen(done_r, "rb") as done:
            done.read()
    stack.callback(wait_for_command)
    return open(data_w, "w", encoding="utf-8", errors="backslashreplace")


# ---- running ----------------------------------------------------------------------------

def _trace(opts: Options, out: Outputs, cmd: list[str],
           handler: SyscallHandler | None = None) -> int:
    # imported here: they pull in the formatting tables
    from tracer.attach import attach
    from tracer.inject_handler import make_inject_handler
    from tracer.interrupts import interrupts
    from tracer.loop import Loop
    from tracer.output.filters import wrap_writer
    from tracer.output.jsonl import JsonWriter
    from tracer.output.records import Writer
    from tracer.output.separate import Separate
    from tracer.output.sink import Fanout
    from tracer.output.strace import PidPrefix, StraceWriter
    from tracer.output.summary import Summary
    from tracer.prefilter_choice import choose_prefilter
    from tracer.record import OutputRecorder

    probe = Path(opts.probe) if opts.probe else None
    enforcing = handler is not None  # a policy's
    if handler is None:
        handler = make_handler(probe=probe, printk=opts.printk, dump_maps=opts.dump_maps,
                               set_globals=opts.set_globals, record_types=opts.record_types,
                               records=opts.records)
    explain = None
    if opts.explain is not None:   # the explorer page: tracer.explain
        from tracer.explain import start as start_explain
        explain = start_explain(opts, handler, out.fmt, cmd)
        handler = explain.handler
    q = out.qualifiers
    handler = make_inject_handler(q.injections(), handler)
    with contextlib.ExitStack() as stack:
        opened = _Opened(stack, out.append)
        writers: list[Writer] = []
        stamps = out.stamps if out.stamps.active else None
        lines: TextIO = sys.stderr
        if out.lines is not None and not out.separate:
            lines = opened.open(out.lines)
        # --json alone replaces the lines on stderr; -o or -C asks for them as well
        if out.lines_too and (out.lines is not None or not out.json or opts.summary):
            if out.separate:
                assert out.lines is not None
                writers.append(wrap_writer(Separate(out.lines, opened.open,
                                                    column=out.column, stamps=stamps,
                                                    numbers=opts.syscall_numbers), q))
            else:
                # strace -f -o FILE prefixes every line with the pid, -o FILE alone once
                # there is more than one task; on stderr, [pid N] then.
                prefix = (PidPrefix.AUTO if out.lines is None else
                          PidPrefix.ALWAYS if opts.follow else PidPrefix.MANY)
                writers.append(wrap_writer(StraceWriter(lines, pid_prefix=prefix,
                                                        column=out.column, stamps=stamps,
                                                    numbers=opts.syscall_numbers), q))
        if out.json:
            writers.append(wrap_writer(JsonWriter(opened.open(out.json)), q, text=False))
        summary = None
        if out.summary:
            # the denied column where something can deny: a policy, an injection
            columns = opts.columns
            if columns is None and not (enforcing or q.injections()):
                columns = STRACE_COLUMNS
            try:
                summary = Summary(sys.stderr if out.separate else lines,
                                  sort_by=opts.sortby or "time", columns=columns,
                                  wall_clock=opts.wall)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            writers.append(summary)
        fanout = Fanout(writers)
        recorder = OutputRecorder(fanout, out.fmt)
        recorders: list[Recorder] = [summary.clock] if summary and summary.clock else []
        recorders.append(recorder)
        if explain is not None:
            recorders.append(explain.recorder)
        quiet_attach = Quiet.ATTACH in q.quiet
        prefilter = choose_prefilter(opts.seccomp_bpf, out.pids, handler, q, bool(writers),
                                     say=_error)
        loop = Loop(handler, recorders, detach_on_exec=out.detach_on_exec,
                    say=None if quiet_attach else _error,
                    trace=None if q.trace.is_all else (q.trace.members, q.trace.inverted),
                    judge_all=enforcing or bool(q.injections()), prefilter=prefilter)
        # what an interrupting signal does to the tracees: --detach-on-exit detaches,
        # --kill-on-exit (and a policy, which must not let a tracee run on unpoliced)
        # kills; otherwise strace's clean-up (the signal to CMD, detach from the rest)
        detach: bool | None = None
        if opts.detach_on_exit:
            detach = True
        elif opts.kill_on_exit or enforcing:
            detach = False
        child = None
        try:
            with interrupts(loop, out.intr, detach):
                attached = attach(out.pids, bool(opts.follow),
                                  say=None if quiet_attach else _error) if out.pids else []
                if out.pids and not attached and not cmd:
                    raise _Failed("", 1)  # each failure is said already, as strace does
                if cmd:
                    child = spawn(cmd, env=_environment(opts.env), user=opts.user,
                                  prefilter=prefilter.bytes() if prefilter else None)
                loop.run(child, attached=attached)
        finally:
            close = getattr(handler, "close", None)
            if callable(close):
                close()
            fanout.close()  # the summary is written here, after the last exit
            if explain is not None:
                explain.write()
        failure = child.exec_error() if child is not None else None
        if failure is not None:
            raise failure
        out.termination = loop.termination()
    return out.termination[1]


def _run(opts: Options, into: Outputs) -> int:
    """Run what ``opts`` ask for; ``into`` gets the outputs' settings and, at the end,
    how the trace ended."""
    out = _outputs(opts, into)
    popts = _policy_options(opts)
    cmd = opts.cmd
    if not cmd and not opts.pids and not policy_wanted(popts):
        raise UsageError("must have CMD [ARGS] or -p PID")
    if cmd and cmd[0] == "":
        raise _Failed("Can't stat '': No such file or directory", 127)
    if opts.explain is not None or opts.explain_syscalls or opts.explain_limit:
        from tracer.explain import check as check_explain
        check_explain(opts)
    _check_writable([p for p in (out.lines if not out.separate else None, out.json,
                                 opts.report, opts.record_profile, opts.printk, opts.records,
                                 opts.explain)
                     if p is not None])

    def trace(handler: SyscallHandler | None = None) -> int:
        return _trace(opts, out, cmd, handler)
    if policy_wanted(popts):
        return run_policy(popts, cmd, trace)
    return trace()


def _fail(message: str, code: int) -> NoReturn:
    for line in message.splitlines():
        _error(line)
    sys.exit(code)


def main(argv: Sequence[str] | None = None, *, stdout: IO[str] | None = None) -> None:
    """Console entry point (``trace-run``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        opts = parse(args)
    except UsageError as exc:
        _fail(f"{exc} (see '{PROG} -h')", 2)
    if opts.help:
        print(HELP, end="", file=stdout or sys.stdout)
        sys.exit(0)
    if opts.version:
        from bpf_vm import __version__
        print(f"{PROG} -- version {__version__}", file=stdout or sys.stdout)
        sys.exit(0)
    out = Outputs()
    configure(verify=not opts.no_verify, whole_log=opts.verifier_log)
    try:
        code = _run(opts, out)
    except (UsageError, QualifyError) as exc:
        _fail(str(exc), 2)
    except (ProfileError, PolicyUsageError) as exc:
        _fail(str(exc), 2)
    except _Failed as exc:
        _fail(str(exc), exc.code)
    except UserError as exc:
        _fail(str(exc), 1)
    except SpawnError as exc:
        _fail(str(exc), exc.exit_code)
    except OSError as exc:
        _fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", 1)
    except BpfError as exc:  # the probe side: VM, loader, build, maps
        if is_refusal(exc):  # a probe's, a policy's, an injection's program: bad input
            report_refusal(exc, PROG)
            sys.exit(2)
        _fail(str(exc), 1)
    # As strace's terminate(): die of the signal that killed CMD (or interrupted us).
    sys.exit(exit_like(out.termination[0], code))


if __name__ == "__main__":
    main()
