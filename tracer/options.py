"""trace-run's command line: strace 6.1's options and trace-run's own, parsed the way
strace parses them.

strace calls ``getopt_long`` with a leading ``+``: options are read only up to the first
argument that is not one, and everything from there on is the command's.  Short options
combine (``-fttT``), take their value attached or as the next argument (``-s80``,
``-s 80``, ``-etrace=open``), and repeat to count (``-ff``, ``-ttt``, ``-qq``, ``-xx``,
``-yy``).  Long options may be abbreviated to a unique prefix and take ``=VALUE`` or the
next argument; those whose value is optional take it only after ``=``.

:func:`parse` turns ``argv`` into :class:`Options` or raises :class:`UsageError`, whose
message is one line in getopt's (and strace's) words.  What the options mean is decided
by the modules that use them; this one only knows their spelling.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["LONG", "SHORT", "Options", "UsageError", "parse"]


class UsageError(ValueError):
    """A command line trace-run cannot take; the message is one line."""


# What each option does to Options: (attribute, how).  how is one of
#   "flag"   sets the attribute to True
#   "count"  adds one
#   "value"  sets the value (a string)
#   "list"   appends the value
_NONE, _REQUIRED, _OPTIONAL = 0, 1, 2


@dataclass(frozen=True)
class _Spec:
    attr: str
    how: str
    arg: int = _NONE
    const: str | None = None  # the value of an optional-argument option given without one


#: The short options, strace's letters (``-h`` and ``-V`` included).
SHORT: dict[str, _Spec] = {
    "A": _Spec("append", "flag"),
    "a": _Spec("column", "value", _REQUIRED),
    "b": _Spec("detach_on", "value", _REQUIRED),
    "c": _Spec("summary_only", "flag"),
    "C": _Spec("summary", "flag"),
    "e": _Spec("exprs", "list", _REQUIRED),
    "E": _Spec("env", "list", _REQUIRED),
    "f": _Spec("follow", "count"),
    "h": _Spec("help", "flag"),
    "I": _Spec("interruptible", "value", _REQUIRED),
    "n": _Spec("syscall_numbers", "flag"),
    "o": _Spec("output", "value", _REQUIRED),
    "p": _Spec("pids", "list", _REQUIRED),
    "q": _Spec("quiet", "count"),
    "r": _Spec("relative", "flag"),
    "s": _Spec("strsize", "value", _REQUIRED),
    "S": _Spec("sortby", "value", _REQUIRED),
    "t": _Spec("timestamps", "count"),
    "T": _Spec("syscall_times", "flag"),
    "u": _Spec("user", "value", _REQUIRED),
    "U": _Spec("columns", "value", _REQUIRED),
    "v": _Spec("verbose", "flag"),
    "V": _Spec("version", "flag"),
    "w": _Spec("wall", "flag"),
    "x": _Spec("hex", "count"),
    "X": _Spec("xlat", "value", _REQUIRED),
    "y": _Spec("decode_fds", "count"),
    "z": _Spec("successful_only", "flag"),
    "Z": _Spec("failed_only", "flag"),
}

# strace's long options that are spelled "-e NAME=VALUE" too.
_EXPR_LONG = ("trace", "signal", "status", "abbrev", "verbose", "raw", "read", "write",
              "quiet", "inject", "fault")

#: The long options: strace's that trace-run has, and trace-run's own.
LONG: dict[str, _Spec] = {
    # strace's
    "output": SHORT["o"],
    "syscall-number": SHORT["n"],
    "output-append-mode": SHORT["A"],
    "output-separately": _Spec("output_separately", "flag"),
    "columns": SHORT["a"],
    "detach-on": SHORT["b"],
    "summary-only": SHORT["c"],
    "summary": SHORT["C"],
    "env": SHORT["E"],
    "follow-forks": _Spec("follow", "count"),
    "help": SHORT["h"],
    "interruptible": SHORT["I"],
    "attach": SHORT["p"],
    "relative-timestamps": _Spec("relative", "flag"),
    "string-limit": SHORT["s"],
    "summary-sort-by": SHORT["S"],
    "absolute-timestamps": _Spec("absolute_timestamps", "value", _OPTIONAL, "time"),
    "syscall-times": _Spec("syscall_times", "flag"),
    "user": SHORT["u"],
    "summary-columns": SHORT["U"],
    "no-abbrev": SHORT["v"],
    "version": SHORT["V"],
    "summary-wall-clock": SHORT["w"],
    "strings-in-hex": _Spec("strings_in_hex", "value", _OPTIONAL, "all"),
    "const-print-style": SHORT["X"],
    "decode-fds": _Spec("decode_fds_set", "value", _OPTIONAL, "path"),
    "successful-only": SHORT["z"],
    "failed-only": SHORT["Z"],
    **{name: _Spec("exprs", "list", _REQUIRED, name) for name in _EXPR_LONG},
    # trace-run's own
    "json": _Spec("json", "value", _REQUIRED),
    "printk": _Spec("printk", "value", _REQUIRED),
    "probe": _Spec("probe", "value", _REQUIRED),
    "dump-maps": _Spec("dump_maps", "flag"),
    "set": _Spec("set_globals", "list", _REQUIRED),
    "record-type": _Spec("record_types", "list", _REQUIRED),
    "records": _Spec("records", "value", _REQUIRED),
    "no-verify": _Spec("no_verify", "flag"),
    "verifier-log": _Spec("verifier_log", "flag"),
    "detach-on-exit": _Spec("detach_on_exit", "flag"),
    "kill-on-exit": _Spec("kill_on_exit", "flag"),
    "force-detach": _Spec("force_detach", "flag"),
    "seccomp-bpf": _Spec("seccomp_bpf", "flag"),
    "policy": _Spec("policy", "value", _REQUIRED),
    "audit": _Spec("audit", "flag"),
    "report": _Spec("report", "value", _REQUIRED),
    "strict": _Spec("strict", "flag"),
    "cap": _Spec("caps", "list", _REQUIRED),
    "print-programs": _Spec("print_programs", "flag"),
    "record-profile": _Spec("record_profile", "value", _REQUIRED),
    "merge": _Spec("merge", "value", _REQUIRED),
    "sweep": _Spec("sweep", "flag"),
    "compare": _Spec("compare", "flag"),
    "sweep-errno": _Spec("sweep_errno", "value", _REQUIRED),
    "sweep-timeout": _Spec("sweep_timeout", "value", _REQUIRED),
    "sweep-jobs": _Spec("sweep_jobs", "value", _REQUIRED),
    "force": _Spec("force", "flag"),
    "explain": _Spec("explain", "value", _REQUIRED),
    "explain-syscalls": _Spec("explain_syscalls", "value", _REQUIRED),
    "explain-limit": _Spec("explain_limit", "value", _REQUIRED),
}
# --quiet takes an optional SET (strace's --quiet[=SET]); without one it is -q.
LONG["quiet"] = _Spec("exprs", "list", _OPTIONAL, "quiet")


@dataclass
class Options:
    """Every option as given (strings where a value needs checking later)."""

    cmd: list[str] = field(default_factory=list)
    # output
    output: str | None = None
    append: bool = False
    output_separately: bool = False
    json: str | None = None
    column: str | None = None
    # what is traced and shown
    follow: int = 0
    exprs: list[str] = field(default_factory=list)
    quiet: int = 0
    strsize: str | None = None
    verbose: bool = False
    hex: int = 0
    strings_in_hex: str | None = None
    xlat: str | None = None
    decode_fds: int = 0
    decode_fds_set: str | None = None
    timestamps: int = 0
    absolute_timestamps: str | None = None
    relative: bool = False
    syscall_times: bool = False
    syscall_numbers: bool = False
    successful_only: bool = False
    failed_only: bool = False
    # statistics
    summary_only: bool = False
    summary: bool = False
    wall: bool = False
    sortby: str | None = None
    columns: str | None = None
    # start-up and attach
    pids: list[str] = field(default_factory=list)
    user: str | None = None
    env: list[str] = field(default_factory=list)
    detach_on: str | None = None
    interruptible: str | None = None
    detach_on_exit: bool = False
    kill_on_exit: bool = False
    force_detach: bool = False
    seccomp_bpf: bool = False
    # probes and policies
    printk: str | None = None
    probe: str | None = None
    dump_maps: bool = False
    set_globals: list[str] = field(default_factory=list)
    record_types: list[str] = field(default_factory=list)
    records: str | None = None
    no_verify: bool = False
    verifier_log: bool = False
    policy: str | None = None
    audit: bool = False
    report: str | None = None
    strict: bool = False
    caps: list[str] = field(default_factory=list)
    print_programs: bool = False
    record_profile: str | None = None
    merge: str | None = None
    sweep: bool = False
    compare: bool = False
    sweep_errno: str = "EPERM"
    sweep_timeout: str = "60"
    sweep_jobs: str | None = None
    force: bool = False
    # the explorer page
    explain: str | None = None
    explain_syscalls: str | None = None
    explain_limit: str | None = None
    # miscellaneous
    help: bool = False
    version: bool = False


def _apply(opts: Options, spec: _Spec, value: str | None, prefix: str | None = None) -> None:
    if spec.how == "flag":
        setattr(opts, spec.attr, True)
    elif spec.how == "count":
        setattr(opts, spec.attr, getattr(opts, spec.attr) + 1)
    elif spec.how == "value":
        setattr(opts, spec.attr, value)
    else:  # list
        assert value is not None
        getattr(opts, spec.attr).append(f"{prefix}={value}" if prefix else value)


def _long(opts: Options, arg: str, rest: list[str]) -> None:
    """One ``--name[=value]`` (the value may be the next argument, taken from ``rest``)."""
    name, eq, value = arg[2:].partition("=")
    spec = LONG.get(name)
    if spec is None:
        matches = sorted(n for n in LONG if n.startswith(name))
        specs = {LONG[n] for n in matches}
        if not matches:
            raise UsageError(f"unrecognized option '--{name}'")
        if len(specs) > 1:
            shown = " ".join(f"'--{n}'" for n in matches)
            raise UsageError(f"option '--{name}' is ambiguous; possibilities: {shown}")
        name = matches[0]
        spec = LONG[name]
    prefix = name if name in _EXPR_LONG or name == "quiet" else None
    if spec.arg == _NONE:
        if eq:
            raise UsageError(f"option '--{name}' doesn't allow an argument")
        _apply(opts, spec, None)
    elif spec.arg == _OPTIONAL:
        if not eq and name == "quiet":
            opts.quiet += 1  # --quiet alone is -q
            return
        _apply(opts, spec, value if eq else spec.const, prefix)
    else:
        if not eq:
            if not rest:
                raise UsageError(f"option '--{name}' requires an argument")
            value = rest.pop(0)
        _apply(opts, spec, value, prefix)


def _short(opts: Options, arg: str, rest: list[str]) -> None:
    """One cluster of short options: ``-fttT``, ``-s80``, ``-o FILE``."""
    i = 1
    while i < len(arg):
        letter = arg[i]
        spec = SHORT.get(letter)
        if spec is None:
            raise UsageError(f"invalid option -- '{letter}'")
        if spec.arg == _REQUIRED:
            value = arg[i + 1:]
            if not value:
                if not rest:
                    raise UsageError(f"option requires an argument -- '{letter}'")
                value = rest.pop(0)
            _apply(opts, spec, value)
            return
        _apply(opts, spec, None)
        i += 1


def parse(argv: Sequence[str]) -> Options:
    """``argv`` (without the program name) as :class:`Options`."""
    opts = Options()
    rest = list(argv)
    while rest:
        arg = rest[0]
        if arg == "--":
            rest.pop(0)
            break
        if not arg.startswith("-") or arg == "-":
            break
        rest.pop(0)
        if arg.startswith("--"):
            _long(opts, arg, rest)
        else:
            _short(opts, arg, rest)
    opts.cmd = rest
    return opts


def replace(opts: Options, **changes: object) -> Options:
    """A copy of ``opts`` with ``changes``."""
    return dataclasses.replace(opts, **changes)  # type: ignore[arg-type]


def check_detach(opts: Options) -> None:
    """The options that say what an interrupting signal does to the tracees, checked:
    a detach under a policy lets the tracees run on without it, so ``--detach-on-exit``
    with ``--policy`` needs ``--force-detach``."""
    if opts.detach_on_exit and opts.kill_on_exit:
        raise UsageError("--detach-on-exit and --kill-on-exit do not go together")
    if opts.detach_on_exit and opts.policy is not None and not opts.force_detach:
        raise UsageError("--detach-on-exit with --policy would let the tracees run on "
                         "without the policy; add --force-detach to mean it")
    if opts.force_detach and not opts.detach_on_exit:
        raise UsageError("--force-detach goes with --detach-on-exit")
