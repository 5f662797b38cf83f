"""strace's summary options on real processes: -S (sort), -U (columns), -w (wall-clock
time) and the default system time, compared with the installed strace where the table
does not depend on time."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from tracer.loop import Loop
from tracer.output.sink import Fanout
from tracer.output.summary import Summary, parse_columns, parse_sort_by
from tracer.probe_handler import make_handler
from tracer.record import OutputRecorder
from tracer.spawn import spawn

COMMANDS = [["ls", "/"], ["sh", "-c", "echo a; id -u"],
            ["cat", "/etc/hostname", "/etc/passwd"]]
IDS = ["ls", "sh", "cat"]


def ours_many(argv: list[str], tmp_path: Path, *summaries: Summary) -> None:
    """Trace ``argv`` through the bundled probe and the real loop into ``summaries``."""
    fanout = Fanout(summaries)
    clocks = [s.clock for s in summaries if s.clock is not None]
    # the clocks first: a call's time is there when its exit record reaches the summary
    recorders: list[object] = [*clocks, OutputRecorder(fanout)]
    handler = make_handler()
    loop = Loop(handler, recorders)  # type: ignore[arg-type]
    with open(tmp_path / "stdout", "wb") as so, open(tmp_path / "stderr", "wb") as se:
        child = spawn(argv, redirect={1: so.fileno(), 2: se.fileno()})
        loop.run(child)
    handler.close()
    fanout.close()
    for clock in clocks:
        clock.close()


def ours(argv: list[str], tmp_path: Path, **options: object) -> str:
    out = io.StringIO()
    ours_many(argv, tmp_path, Summary(out, **options))  # type: ignore[arg-type]
    return out.getvalue()


def theirs(argv: list[str], tmp_path: Path, *options: str) -> str:
    log = tmp_path / "strace.txt"
    with open(tmp_path / "stdout", "wb") as so, open(tmp_path / "stderr", "wb") as se:
        subprocess.run(["strace", "-f", "-c", *options, "-o", str(log), *argv],
                       check=True, stdout=so, stderr=se)
    return log.read_text()


@pytest.mark.needs_strace
@pytest.mark.ptrace
@pytest.mark.slow
@pytest.mark.parametrize("argv", COMMANDS, ids=IDS)
@pytest.mark.parametrize("sort_by", ["calls", "count", "errors", "name", "nothing"])
def test_count_table_is_strace_s(argv: list[str], sort_by: str, tmp_path: Path) -> None:
    """Calls and errors and their order are not a matter of time: the whole table is
    strace's, byte for byte, with the name column first, last or between."""
    for columns in ("name,calls,errors", "calls,errors", "errors,syscall,count"):
        want = theirs(argv, tmp_path, "-U", columns, "-S", sort_by)
        got = ours(argv, tmp_path, columns=columns, sort_by=sort_by)
        assert got == want, f"-U {columns} -S {sort_by}\n{got}\n{want}"


@pytest.mark.needs_strace
@pytest.mark.ptrace
@pytest.mark.slow
@pytest.mark.parametrize("wall_clock", [False, True], ids=["system", "wall"])
def test_time_columns_have_strace_s_shape(wall_clock: bool, tmp_path: Path) -> None:
    """Every column at once: the same header, rule and names as strace's, the times
    consistent with one another (min <= avg <= max, the total their sum)."""
    argv = ["cat", "/etc/hostname"]
    cols = "time-percent,total-time,min-time,max-time,avg-time,calls,errors,name"
    want = theirs(argv, tmp_path, "-U", cols, "-S", "name", *(["-w"] if wall_clock else []))
    got = ours(argv, tmp_path, columns=cols, sort_by="name", wall_clock=wall_clock)
    got_lines, want_lines = got.splitlines(), want.splitlines()
    assert got_lines[0] == want_lines[0]
    assert [r.split()[-1] for r in got_lines[2:]] == [r.split()[-1] for r in want_lines[2:]]
    total = 0.0
    for row in got_lines[2:-2]:
        _, secs, lo, hi, avg = row.split()[:5]
        assert float(lo) <= float(hi) <= float(secs) + 1e-6
        # the columns are printed in whole microseconds: compare them as such (0.000249
        # * 1e6 is 248.99999999999997 in floating point)
        assert round(float(lo) * 1e6) - 1 <= int(avg) <= round(float(hi) * 1e6)
        total += float(secs)
    assert abs(float(got_lines[-1].split()[1]) - total) < 1e-5 * len(got_lines)


@pytest.mark.ptrace
@pytest.mark.slow
def test_system_time_is_not_wall_clock(tmp_path: Path) -> None:
    """The same calls, timed both ways: the shell's wait4 for its child blocks without
    running, so it takes the child's whole life in wall-clock time (-w) but next to no
    system time.  (The sleep is the workload, not synchronisation.)"""
    wall, system = io.StringIO(), io.StringIO()
    ours_many(["sh", "-c", "sleep 0.2; true"], tmp_path,
              Summary(wall, columns="total-time,name", wall_clock=True),
              Summary(system, columns="total-time,name", wall_clock=False))

    def wait4(text: str) -> float:
        (row,) = [r for r in text.splitlines() if r.endswith(" wait4")]
        return float(row.split()[0])

    assert wait4(wall.getvalue()) >= 0.2   # the sleep's lower bound, set by the kernel
    assert wait4(system.getvalue()) < wait4(wall.getvalue()) / 2


def test_option_errors_are_strace_s() -> None:
    with pytest.raises(ValueError, match=r"^invalid sortby: 'foo'$"):
        parse_sort_by("foo")
    with pytest.raises(ValueError, match=r"^unknown column name: 'bogus'$"):
        parse_columns("calls,bogus")
    with pytest.raises(ValueError, match=r"^unknown column name: ''$"):
        parse_columns("")
    with pytest.raises(ValueError, match="provided more than once: 'count'"):
        parse_columns("calls,count")
    with pytest.raises(ValueError):
        Summary(sort_by="x")
    assert parse_columns("calls")[-1].value == "syscall"
    assert parse_sort_by("nothing") is None and parse_sort_by("none") is None
