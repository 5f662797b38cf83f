"""strace's argument-formatting options (-s, -x, -xx, -y, -yy, -X raw|verbose, -v), side by
side with the installed strace.

Each case runs one command under ``strace -o FILE OPTIONS`` and under trace-run's
recorder in this process (``OutputRecorder(StraceWriter(f), fmt=FormatOptions(...))``),
keeps the lines of the chosen syscalls, and compares them after normalising what differs
from run to run (addresses, socket inodes, ports).  The command is
``tests/tracer/csrc/fmtopt.c`` unless the case says otherwise; both runs get the same
environment, the same working directory and /dev/null as fds 0-2, so that ``-y`` sees the
same descriptors.

Below the cases, the quoting functions' own tests (hypothesis where it fits).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probes.abi import Abi
from tracer.format_options import DEFAULT, FD_INFO, FormatOptions
from tracer.loop import Loop
from tracer.output.sink import Fanout
from tracer.output.strace import PidPrefix, StraceWriter
from tracer.record import OutputRecorder
from tracer.spawn import spawn
from tracer.syscalls.decode.common import (
    OptCtx,
    fd_suffix,
    fd_text,
    fetch_fd,
    quote_associated,
    quote_string,
)

ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


@dataclass(frozen=True)
class Case:
    id: str
    strace: tuple[str, ...]          # strace's options
    fmt: FormatOptions               # trace-run's
    calls: tuple[str, ...]           # the syscalls compared
    argv: tuple[str, ...] = ()       # empty: fmtopt DIR
    xfail: str = field(default="")   # a known difference, said why


FILES = ("openat", "write", "close", "lseek", "fsync", "dup", "access", "fcntl", "pipe2")
SOCKETS = ("socket", "socketpair", "bind", "listen", "connect", "accept", "write", "close",
           "getsockname")

CASES = [
    Case("default", (), DEFAULT, (*FILES, "execve")),
    Case("s5", ("-s", "5"), FormatOptions(strsize=5), ("write", "execve")),
    Case("s0", ("-s", "0"), FormatOptions(strsize=0), ("write", "execve")),
    Case("s100", ("-s", "100"), FormatOptions(strsize=100), ("write", "execve")),
    Case("x", ("-x",), FormatOptions(xflag=1), ("write", "openat", "unlink", "execve")),
    Case("xx", ("-xx",), FormatOptions(xflag=2), ("write", "openat", "execve")),
    Case("y", ("-y",), FormatOptions(yflag=1), FILES),
    Case("y_x", ("-y", "-x"), FormatOptions(yflag=1, xflag=1), FILES),
    Case("y_xx", ("-y", "-xx"), FormatOptions(yflag=1, xflag=2),
         ("openat", "fsync", "lseek", "dup")),
    Case("yy", ("-yy",), FormatOptions(yflag=2), (*FILES, *SOCKETS)),
    Case("X_raw", ("-X", "raw"), FormatOptions(xlat="raw"),
         ("openat", "access", "lseek", "socket", "fcntl", "pipe2", "mmap", "mprotect")),
    Case("X_verbose", ("-X", "verbose"), FormatOptions(xlat="verbose"),
         ("openat", "access", "lseek", "socket", "fcntl", "pipe2", "mmap", "mprotect")),
    Case("y_X_raw", ("-y", "-X", "raw"), FormatOptions(yflag=1, xlat="raw"),
         ("openat", "close")),
    Case("v", ("-v",), FormatOptions(verbose=True), ("execve", "newfstatat", "fstat")),
    Case("v_s3", ("-v", "-s", "3"), FormatOptions(verbose=True, strsize=3), ("execve",)),
    Case("cat_y", ("-y",), FormatOptions(yflag=1), ("openat", "read", "write", "close"),
         argv=("/bin/cat", "/etc/hostname")),
    Case("cat_v", ("-v",), FormatOptions(verbose=True), ("newfstatat", "fstat"),
         argv=("/bin/cat", "/dev/null", "/etc/hostname")),
    Case("cat_xx_s4", ("-xx", "-s", "4"), FormatOptions(xflag=2, strsize=4),
         ("openat", "read", "write"), argv=("/bin/cat", "/etc/hostname")),
]

_NORMALISE = [
    (re.compile(r"0x[0-9a-f]{6,}"), "0xADDR"),
    # -v's times: a file's atime may move between the two runs (test_stat_time_comment
    # checks the comment's form)
    (re.compile(r"(st_[amc]time(?:_nsec)?=)\d+( /\* [-0-9T:.+]+ \*/)?"), r"\1T"),
    (re.compile(r"(?<![\\\d])[1-9]\d{3,}\b"), "N"),   # inodes, ports, pids
]


def normalise(line: str) -> str:
    for pattern, repl in _NORMALISE:
        line = pattern.sub(repl, line)
    return line


def chosen(lines: Sequence[str], calls: Sequence[str]) -> list[str]:
    return [normalise(line) for line in lines if line.split("(", 1)[0] in calls]


def under_strace(argv: Sequence[str], opts: Sequence[str], out: Path, cwd: Path) -> list[str]:
    subprocess.run(["strace", "-o", str(out), *opts, *argv], env=ENV, cwd=cwd, check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    return out.read_text(errors="surrogateescape").splitlines()


def under_trace_run(argv: Sequence[str], fmt: FormatOptions, out: Path, cwd: Path) -> list[str]:
    here = os.getcwd()
    with open(out, "w", errors="surrogateescape") as f, open(os.devnull, "r+b") as null:
        fanout = Fanout([StraceWriter(f, pid_prefix=PidPrefix.AUTO)])
        loop = Loop(None, [OutputRecorder(fanout, fmt)])
        os.chdir(cwd)   # the child starts where strace's does
        try:
            child = spawn(argv, env=ENV, redirect={0: null.fileno(), 1: null.fileno(),
                                                   2: null.fileno()})
        finally:
            os.chdir(here)
        loop.run(child)
        fanout.close()
    return out.read_text(errors="surrogateescape").splitlines()


@pytest.fixture
def fmtopt(cprog: Callable[[str], Path], tmp_path: Path) -> Callable[[Case], tuple[list[str], ...]]:
    exe = cprog("fmtopt")

    def run(case: Case) -> tuple[list[str], list[str]]:
        work = tmp_path / "work"
        work.mkdir(exist_ok=True)
        argv = case.argv or (str(exe), str(work))
        theirs = under_strace(argv, case.strace, tmp_path / "strace.txt", work)
        ours = under_trace_run(argv, case.fmt, tmp_path / "ours.txt", work)
        return chosen(theirs, case.calls), chosen(ours, case.calls)
    return run


@pytest.mark.ptrace
@pytest.mark.needs_strace
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_matches_strace(case: Case, fmtopt: Callable[[Case], tuple[list[str], list[str]]],
                        ) -> None:
    theirs, ours = fmtopt(case)
    assert theirs, "strace showed none of the chosen calls"
    assert ours == theirs


# --- FormatOptions ------------------------------------------------------------------------------


def test_default_is_strace_defaults() -> None:
    assert FormatOptions(strsize=32, xflag=0, yflag=0, xlat="abbrev", verbose=False) == DEFAULT


@pytest.mark.parametrize(("kwargs", "word"), [
    ({"strsize": -1}, "-s"), ({"xflag": 3}, "-x"), ({"yflag": 5}, "-y"),
    ({"xlat": "short"}, "-X"),
])
def test_bad_options_say_which(kwargs: dict[str, object], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        FormatOptions(**kwargs)  # type: ignore[arg-type]


# --- quoting -----------------------------------------------------------------------------------

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{1,3})")


def _unquote(text: str) -> bytes:
    """The bytes a quoted string (strace's escapes, no cut) stands for."""
    assert text[0] == text[-1] == '"'
    body = text[1:-1]
    out = bytearray()
    simple = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, '"': 34, "\\": 92}
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(ord(c))
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "x":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        elif nxt in simple:
            out.append(simple[nxt])
            i += 2
        else:
            m = _OCTAL_ESCAPE.match(body, i)
            assert m is not None
            out.append(int(m.group(1), 8))
            i = m.end()
    return bytes(out)


_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\n\v\f\r"


@given(st.binary(max_size=80), st.sampled_from([0, 1, 2]))
def test_quote_round_trips(data: bytes, xflag: int) -> None:
    assert _unquote(quote_string(data, xflag=xflag)) == data


@given(st.binary(max_size=80))
def test_xx_is_all_hex(data: bytes) -> None:
    assert quote_string(data, xflag=2) == '"' + "".join(f"\\x{b:02x}" for b in data) + '"'


@given(st.binary(max_size=80))
def test_x_hex_exactly_when_a_byte_is_not_text(data: bytes) -> None:
    text = quote_string(data, xflag=1)
    if all(b in _PRINTABLE for b in data):
        assert text == quote_string(data)
    else:
        assert text == quote_string(data, xflag=2)


@given(st.binary(max_size=60), st.sampled_from([0, 1, 2]))
def test_associated_path_hides_brackets(data: bytes, xflag: int) -> None:
    text = quote_associated(data, xflag)
    assert "<" not in text and ">" not in text
    assert _unquote('"' + text + '"') == data


def test_associated_examples() -> None:
    assert quote_associated(b"/etc/passwd") == "/etc/passwd"
    assert quote_associated(b"/t/a<b>c") == "/t/a\\74b\\76c"
    assert quote_associated(b"/t/<1") == "/t/\\0741"
    assert quote_associated(b'/t/"\\\n') == '/t/\\"\\\\\\n'


def test_stat_time_comment(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from tracer.syscalls.decode.styled import _when
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert _when(1796565942, 828725694) == " /* 2026-12-06T14:05:42.828725694+0000 */"
        assert _when(1796565942, 0) == " /* 2026-12-06T14:05:42+0000 */"
        assert _when(0, 0) == ""
    finally:
        monkeypatch.undo()
        time.tzset()


def test_fd_text_for_structure_decoders() -> None:
    """The helpers a decoder of descriptors inside structures uses (pollfd, epoll)."""
    reads: list[tuple[int, int]] = []

    def read(addr: int, size: int) -> bytes | None:
        reads.append((addr, size))
        return b"P/etc/passwd" if (addr, size) == (3, FD_INFO) else None

    plain = OptCtx(Abi.X86_64, (0,) * 6, read, 32, None, DEFAULT)
    fetch_fd(plain, 3)
    assert reads == [] and fd_text(plain, 3) == "3"
    with_y = OptCtx(Abi.X86_64, (0,) * 6, read, 32, None, FormatOptions(yflag=1))
    fetch_fd(with_y, 3)
    assert reads == [(3, FD_INFO)]
    assert fd_text(with_y, 3) == "3</etc/passwd>"
    assert fd_text(with_y, 7) == "7"          # not open: nothing learnt
    assert fd_text(with_y, -1) == "-1"


@pytest.mark.parametrize(("info", "xflag", "shown"), [
    (b"P/a b", 0, "</a b>"),
    (b"X/tmp/gone", 0, "</tmp/gone>(deleted)"),
    (b"STCP:[127.0.0.1:1->127.0.0.1:2]", 0, "<TCP:[127.0.0.1:1->127.0.0.1:2]>"),
    (b"D/dev/null\0char 1:3", 0, "</dev/null<char 1:3>>"),
    (b"P/\xff", 1, "<\\x2f\\xff>"),
    (None, 0, ""),
])
def test_fd_suffix(info: bytes | None, xflag: int, shown: str) -> None:
    assert fd_suffix(info, xflag) == shown
