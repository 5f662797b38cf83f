"""trace-run's command line against strace's: the parser (combined short options,
attached values, counted repeats, long options and their prefixes, where options end),
its errors in getopt's words, the timestamps, and the outputs (-ff, -o -, -o '|cmd',
clashing and unwritable files) on real runs."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tracer.options import Options, UsageError, parse
from tracer.output.stamps import Stamps, parse_absolute

from .conftest import run_cli

CASES = [
    (["-fttT", "ls"], dict(follow=1, timestamps=2, syscall_times=True, cmd=["ls"])),
    (["-ff", "-o", "x", "true"], dict(follow=2, output="x", cmd=["true"])),
    (["-s80", "-s", "90", "true"], dict(strsize="90")),
    (["-etrace=open", "-e", "signal=none", "true"], dict(exprs=["trace=open", "signal=none"])),
    (["--trace=%file", "--status=failed", "true"], dict(exprs=["trace=%file", "status=failed"])),
    (["--string-limit=5", "true"], dict(strsize="5")),
    (["--string-lim", "7", "true"], dict(strsize="7")),
    (["-qq", "--quiet", "true"], dict(quiet=3)),
    (["--quiet=exit", "true"], dict(exprs=["quiet=exit"])),
    (["-xx", "-yy", "-v", "true"], dict(hex=2, decode_fds=2, verbose=True)),
    (["-p", "1,2", "-p3"], dict(pids=["1,2", "3"], cmd=[])),
    (["-E", "A=1", "-EB", "--env=C", "env"], dict(env=["A=1", "B", "C"])),
    (["-o", "log", "sh", "-c", "x", "-o", "y"],
     dict(output="log", cmd=["sh", "-c", "x", "-o", "y"])),
    (["--", "-weird", "-f"], dict(cmd=["-weird", "-f"], follow=0)),
    (["-", "x"], dict(cmd=["-", "x"])),
    (["-cwS", "calls", "-U", "name,calls", "true"],
     dict(summary_only=True, wall=True, sortby="calls", columns="name,calls")),
    (["--absolute-timestamps", "true"], dict(absolute_timestamps="time")),
    (["--absolute-timestamps=unix,us", "true"], dict(absolute_timestamps="unix,us")),
    (["--json", "j", "--policy", "p.json", "--cap", "A", "--cap", "B", "true"],
     dict(json="j", policy="p.json", caps=["A", "B"])),
]


@pytest.mark.parametrize(("argv", "want"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_parse(argv: list[str], want: dict[str, object]) -> None:
    opts = parse(argv)
    for key, value in want.items():
        assert getattr(opts, key) == value, key
    if "cmd" not in want:
        assert opts.cmd == [argv[-1]]


# What strace says (after "strace: ") for the same command line; trace-run adds where to
# look for help on the same line.
ERRORS = [
    (["-o"], "option requires an argument -- 'o'"),
    (["-Q", "true"], "invalid option -- 'Q'"),
    (["--bogus", "true"], "unrecognized option '--bogus'"),
    (["--follow-forks=3", "true"], "option '--follow-forks' doesn't allow an argument"),
    (["--output"], "option '--output' requires an argument"),
]


@pytest.mark.parametrize(("argv", "message"), ERRORS, ids=[" ".join(e[0]) for e in ERRORS])
def test_parse_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse(argv)
    assert str(info.value) == message


@pytest.mark.needs_strace
@pytest.mark.parametrize(("argv", "message"), ERRORS, ids=[" ".join(e[0]) for e in ERRORS])
def test_parse_errors_are_stracees(argv: list[str], message: str) -> None:
    r = subprocess.run(["strace", *argv], capture_output=True, text=True)
    assert r.returncode != 0
    assert r.stderr.splitlines()[0] == f"strace: {message}"


def test_ambiguous_prefix_names_the_candidates() -> None:
    with pytest.raises(UsageError, match=r"option '--su' is ambiguous; possibilities: "
                                         r"'--successful-only' '--summary'"):
        parse(["--su", "true"])


def test_defaults_are_stracees() -> None:
    opts = parse(["true"])
    assert opts == Options(cmd=["true"])


# ---- timestamps ------------------------------------------------------------------------

T = time.mktime((2026, 12, 6, 13, 31, 2, 0, 0, -1)) + 0.914573


@pytest.mark.parametrize(("stamps", "text"), [
    (Stamps(absolute="time"), "13:31:02 "),
    (Stamps(absolute="time", absolute_digits=6), "13:31:02.914573 "),
    (Stamps(absolute="unix", absolute_digits=6), f"{int(T)}.914573 "),
    (Stamps(relative=True), "     0.000000 "),
    (Stamps(absolute="time", absolute_digits=6, relative=True),
     "13:31:02.914573 (+     0.000000) "),
])
def test_leader(stamps: Stamps, text: str) -> None:
    assert stamps.leader(T) == text


def test_relative_counts_from_the_previous_line() -> None:
    s = Stamps(relative=True)
    s.leader(10.0)
    assert s.leader(12.25) == "     2.250000 "
    assert s.leader(12.25) == "     0.000000 "


@pytest.mark.parametrize(("text", "want"), [
    ("time", ("time", 0)), ("unix,us", ("unix", 6)), ("format:none", (None, 0)),
    ("precision:ms", ("time", 3)), ("format:unix,precision:ns", ("unix", 9)),
])
def test_parse_absolute(text: str, want: tuple[str | None, int]) -> None:
    assert parse_absolute(text) == want


@pytest.mark.parametrize("text", ["bogus", "format:us", "precision:unix", "time,xs"])
def test_parse_absolute_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid --absolute-timestamps argument"):
        parse_absolute(text)


# ---- real runs -------------------------------------------------------------------------

_STAMPED = re.compile(r"^\d+ +\d\d:\d\d:\d\d\.\d{6} (\(\+ +\d+\.\d{6}\) )?\S.*")


@pytest.mark.ptrace
def test_timestamps_and_durations_on_a_run(tmp_path: Path) -> None:
    log = tmp_path / "log"
    r = run_cli("-f", "-tt", "-r", "-T", "-o", str(log), "sh", "-c", "true")
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    assert all(_STAMPED.match(line) for line in lines), lines
    calls = [line for line in lines if "= " in line and "exit_group" not in line]
    assert calls and all(re.search(r" <\d+\.\d{6}>$", line) for line in calls)
    assert re.search(r"exit_group\(0\) += \?$", lines[-2])  # no time: it never returned


@pytest.mark.ptrace
def test_ff_writes_one_file_per_task(tmp_path: Path) -> None:
    base = tmp_path / "t"
    r = run_cli("-ff", "-o", str(base), "sh", "-c", "/bin/true; /bin/true")
    assert r.returncode == 0, r.stderr
    files = sorted(tmp_path.glob("t.*"))
    assert len(files) == 3
    texts = [f.read_text() for f in files]
    assert all(t.splitlines()[-1].startswith("+++ exited with 0 +++") for t in texts)
    assert not any(re.match(r"^\d", line) for t in texts for line in t.splitlines())
    assert sum('execve("/bin/true"' in t for t in texts) == 2


@pytest.mark.ptrace
def test_output_dash_is_stdout_and_bar_is_a_pipe(tmp_path: Path) -> None:
    r = run_cli("-o", "-", "true", cwd=tmp_path)
    assert r.returncode == 0
    assert r.stdout.startswith('execve("') and "+++ exited with 0 +++" in r.stdout
    assert not (tmp_path / "-").exists()
    piped = tmp_path / "piped"
    r = run_cli("-o", f"|tr a-z A-Z > {piped}", "true", cwd=tmp_path)
    assert r.returncode == 0
    assert piped.read_text().startswith('EXECVE("/USR/BIN/TRUE"')


@pytest.mark.ptrace
@pytest.mark.parametrize(("argv", "message", "code"), [
    (["-o", "X", "--json", "X", "true"], "--json and -o name the same file: X", 2),
    (["-o", "/nonexistent/dir/x", "true"], "/nonexistent/dir/x: No such file or directory", 1),
    (["--json", "/", "true"], "/: Is a directory", 1),
    (["--report", "/nonexistent/r.json", "--policy", "p.json", "true"],
     "/nonexistent/r.json: No such file or directory", 1),
    (["-s", "abc", "true"], "invalid -s argument: 'abc'", 2),
    (["-p", "abc"], "Invalid process id: 'abc'", 2),
    (["-e", "trace=%foo", "true"], "invalid system call '%foo'", 2),
    (["-o"], "option requires an argument -- 'o' (see 'trace-run -h')", 2),
    # a C probe is named by its file, not by the hash of its cached object
    (["--probe", "empty.c", "true"], "empty.c: no programs (a probe needs a function in a "
     'section such as SEC("kprobe/syscall_entry"))', 1),
    ([""], "Can't stat '': No such file or directory", 127),
    ([], "must have CMD [ARGS] or -p PID", 2),
])
def test_bad_command_lines(tmp_path: Path, argv: list[str], message: str, code: int) -> None:
    (tmp_path / "p.json").write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    (tmp_path / "empty.c").write_text("int x = 3;\n")
    r = run_cli(*argv, cwd=tmp_path)
    assert (r.returncode, r.stderr) == (code, f"trace-run: {message}\n")
    assert r.stdout == ""
    # nothing left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.c", "p.json"]


@pytest.mark.ptrace
def test_trace_set_hides_calls_from_the_probe_too(tmp_path: Path) -> None:
    """-e trace=openat: the lines and the probe's printk show openat only, as strace's
    filtering shows only the calls of the set; without it the probe sees read too."""
    log, printk = tmp_path / "log", tmp_path / "printk"
    r = run_cli("-e", "trace=openat", "--printk", str(printk), "-o", str(log),
                "cat", "/etc/hostname")
    assert r.returncode == 0, r.stderr
    calls = [line for line in log.read_text().splitlines() if not line.startswith("+++")]
    assert calls and all(line.startswith("openat(") for line in calls)
    said = [line for line in printk.read_text().splitlines() if "bpf_trace_printk:" in line]
    assert said and all("bpf_trace_printk: openat(" in line for line in said)
    run_cli("--printk", str(printk), "-o", str(log), "cat", "/etc/hostname")
    assert "bpf_trace_printk: read(" in printk.read_text()
