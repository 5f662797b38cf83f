"""The writers: strace text (with interleaving), JSON Lines (shape, whole lines), summary."""

from __future__ import annotations

import dataclasses
import io
import json
import mmap
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from probes.abi import X32_SYSCALL_BIT, Abi, syscall_number
from tests.test_format import FakeMemory
from tracer.events import (
    Detached,
    Exec,
    Exited,
    Fork,
    GroupStop,
    Killed,
    ProcessEvent,
    SignalDelivery,
)
from tracer.format import format_entry
from tracer.handler import Action, action_mark
from tracer.output import jsonl, sink
from tracer.output.filters import StatusFilter
from tracer.output.jsonl import JsonWriter
from tracer.output.records import SyscallRecord, Writer
from tracer.output.sink import Fanout
from tracer.output.strace import PidPrefix, StraceWriter
from tracer.output.summary import Summary
from tracer.qualify import NumberSet, Status


def rec(tid: int, name: str, text: str, ret: int | None = None, *, pid: int | None = None,
        abi: Abi = Abi.X86_64, action: Action = Action.ALLOW, duration: float | None = None,
        args: tuple[int, ...] = (0,) * 6, errno: int | None = None) -> SyscallRecord:
    nr = syscall_number(abi, name)
    return SyscallRecord(ts=1000.5, pid=pid or tid, tid=tid, abi=abi, nr=nr if nr is not None else 999,
                         name=name, args=args, ret=ret, action=action,
                         errno=errno if errno is not None else (-ret if ret is not None and ret < 0
                                                                else None),
                         text=text, duration=duration)


def fork(parent: int, child: int) -> ProcessEvent:
    return Fork(parent, parent, 1000.6, "fork", child)


def exited(tid: int, status: int = 0, pid: int | None = None) -> ProcessEvent:
    return Exited(pid or tid, tid, 1001.0, status)


# --- strace text ---------------------------------------------------------------------


def test_single_process_lines_align_the_result_at_column_40() -> None:
    out = io.StringIO()
    w = StraceWriter(out)
    for r in (rec(1, "getpid", "getpid()", 4043),
              rec(1, "brk", "brk(NULL)", 0x55F4A1CA6000, args=(0,) * 6),
              rec(1, "openat", 'openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC)', 3),
              rec(1, "access", 'access("/etc/ld.so.preload", R_OK)', -2)):
        w.syscall_entry(dataclass_entry(r))
        w.syscall_exit(r)
    w.process_event(exited(1, 0))
    assert out.getvalue() == textwrap.dedent("""\
        getpid()                                = 4043
        brk(NULL)                               = 0x55f4a1ca6000
        openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3
        access("/etc/ld.so.preload", R_OK)      = -1 ENOENT (No such file or directory)
        +++ exited with 0 +++
        """)


def dataclass_entry(r: SyscallRecord) -> SyscallRecord:
    """The entry-stop version of a finished record whose args all print at entry."""
    return dataclasses.replace(r, ret=None, errno=None, text=r.text[:-1], duration=None)


def test_a_line_exactly_at_the_column_gets_one_space() -> None:
    out = io.StringIO()
    w = StraceWriter(out)
    text = "f(" + "x" * 37 + ")"
    assert len(text) == 40
    w.syscall_exit(rec(1, "getpid", text, 0))
    w.syscall_exit(rec(1, "getpid", text[:-2] + ")", 0))
    assert out.getvalue().splitlines() == [text + " = 0", text[:-2] + ") = 0"]


def test_vfork_interleaving_like_strace() -> None:
    """strace -f of sh running cat: the parent's vfork is unfinished while the child runs."""
    out = io.StringIO()
    w = StraceWriter(out)
    w.syscall_entry(rec(4043, "vfork", "vfork("))
    w.process_event(fork(4043, 4044))
    sigmask = "rt_sigprocmask(SIG_SETMASK, [], ~[KILL STOP RTMIN RT_1], 8)"
    w.syscall_entry(rec(4044, "rt_sigprocmask", "rt_sigprocmask(SIG_SETMASK, [], "))
    w.syscall_exit(rec(4044, "rt_sigprocmask", sigmask, 0))
    execve = 'execve("/usr/bin/cat", ["cat", "/etc/hostname"], 0x56391a0edd58 /* 35 vars */'
    w.syscall_entry(rec(4044, "execve", execve))
    w.syscall_exit(rec(4043, "vfork", "vfork()", 4044))
    w.syscall_exit(rec(4044, "execve", execve + ")", 0))
    w.syscall_entry(rec(4043, "wait4", "wait4(-1, "))
    w.syscall_exit(rec(4044, "brk", "brk(NULL)", 0x55AC5DFEC000))
    assert out.getvalue() == textwrap.dedent("""\
        vfork( <unfinished ...>
        [pid  4044] rt_sigprocmask(SIG_SETMASK, [], ~[KILL STOP RTMIN RT_1], 8) = 0
        [pid  4044] execve("/usr/bin/cat", ["cat", "/etc/hostname"], 0x56391a0edd58 /* 35 vars */ <unfinished ...>
        [pid  4043] <... vfork resumed>)        = 4044
        [pid  4044] <... execve resumed>)       = 0
        [pid  4043] wait4(-1,  <unfinished ...>
        [pid  4044] brk(NULL)                   = 0x55ac5dfec000
        """)


def test_threads_interleaving_matches_strace_minus_f_minus_o() -> None:
    """Lines copied from ``strace -f -o FILE`` of a Python thread start (PidPrefix.ALWAYS),
    rebuilt here from CallText so the formatter and the writer are tested together."""
    mem = FakeMemory()
    mask = mem.put((1 | 1 << 11 | 1 << 39).to_bytes(8, "little"))
    out = io.StringIO()
    w = StraceWriter(out, pid_prefix=PidPrefix.ALWAYS)
    w.process_event(fork(8526, 8567))

    def entry(tid: int, name: str, args: list[int]) -> tuple[SyscallRecord, object]:
        nr = syscall_number(Abi.X86_64, name)
        assert nr is not None
        call = format_entry(Abi.X86_64, nr, args, mem)
        r = SyscallRecord.at_entry(call, ts=time.time(), pid=8526, tid=tid)
        w.syscall_entry(r)
        return r, call

    def finish(state: tuple[SyscallRecord, object], ret: int | None) -> None:
        r, call = state
        w.syscall_exit(r.at_exit(call, ret, mem))  # type: ignore[arg-type]

    a = entry(8526, "rt_sigprocmask", [2, mask, 0, 8])
    b = entry(8567, "rseq", [0x7F9BF06C5FE0, 0x20, 0, 0x53053053])
    finish(a, 0)
    finish(b, 0)
    finish(entry(8567, "set_robust_list", [0x7F9BF06C59A0, 24]), 0)
    c = entry(8526, "futex", [0x562E28DCA670, 0x189, 0, 0, 0, 0xFFFFFFFF])
    finish(entry(8567, "futex", [0x562E28DCA670, 0x81, 1]), 1)
    finish(c, 0)
    finish(entry(8567, "exit", [0]), None)
    w.process_event(exited(8567, 0, pid=8526))
    assert out.getvalue() == textwrap.dedent("""\
        8526  rt_sigprocmask(SIG_SETMASK, [HUP USR2 RT_8],  <unfinished ...>
        8567  rseq(0x7f9bf06c5fe0, 0x20, 0, 0x53053053 <unfinished ...>
        8526  <... rt_sigprocmask resumed>NULL, 8) = 0
        8567  <... rseq resumed>)               = 0
        8567  set_robust_list(0x7f9bf06c59a0, 24) = 0
        8526  futex(0x562e28dca670, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, FUTEX_BITSET_MATCH_ANY <unfinished ...>
        8567  futex(0x562e28dca670, FUTEX_WAKE_PRIVATE, 1) = 1
        8526  <... futex resumed>)              = 0
        8567  exit(0)                           = ?
        8567  +++ exited with 0 +++
        """)


def test_pid_prefix_follows_the_number_of_tasks() -> None:
    out = io.StringIO()
    w = StraceWriter(out)
    w.syscall_exit(rec(10, "getpid", "getpid()", 10))
    w.process_event(fork(10, 11))
    w.syscall_exit(rec(11, "getpid", "getpid()", 11))
    w.process_event(exited(11, 3))
    w.syscall_exit(rec(10, "getpid", "getpid()", 10))
    assert out.getvalue() == textwrap.dedent("""\
        getpid()                                = 10
        [pid    11] getpid()                    = 11
        [pid    11] +++ exited with 3 +++
        getpid()                                = 10
        """)
    never = io.StringIO()
    w = StraceWriter(never, pid_prefix=PidPrefix.NEVER)
    w.process_event(fork(10, 11))
    w.syscall_exit(rec(11, "getpid", "getpid()", 11))
    assert never.getvalue() == "getpid()                                = 11\n"


def test_denied_and_killed_calls_are_marked() -> None:
    out = io.StringIO()
    w = StraceWriter(out)
    w.syscall_exit(rec(5, "mkdir", 'mkdir("/tmp/x", 0777)', -13, action=Action.DENY))
    w.syscall_exit(rec(5, "openat", 'openat(AT_FDCWD, "/etc/shadow", O_RDONLY)', -1,
                       action=Action.DENY))
    w.syscall_exit(rec(5, "getpid", "getpid()", 42, action=Action.DENY))
    w.syscall_exit(rec(5, "unlink", 'unlink("/x")', None, action=Action.KILL))
    w.process_event(Killed(5, 5, 2.0, signal.SIGKILL, False))
    assert out.getvalue() == textwrap.dedent("""\
        mkdir("/tmp/x", 0777)                   = -1 EACCES (Permission denied) (DENIED)
        openat(AT_FDCWD, "/etc/shadow", O_RDONLY) = -1 EPERM (Operation not permitted) (DENIED)
        getpid()                                = 42 (DENIED)
        unlink("/x")                            = ? (KILLED)
        +++ killed by SIGKILL +++
        """)


def test_process_events() -> None:
    out = io.StringIO()
    w = StraceWriter(out)
    w.process_event(SignalDelivery(5, 5, 1.0, 17, {
        "si_code": 1, "si_pid": 5549, "si_uid": 0, "si_status": 0, "si_utime": 0, "si_stime": 0}))
    w.process_event(SignalDelivery(5, 5, 1.0, 10))
    w.process_event(GroupStop(5, 5, 1.0, 19))
    w.process_event(Killed(5, 5, 1.0, 11, True))
    assert out.getvalue() == textwrap.dedent("""\
        --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=5549, si_uid=0, si_status=0, si_utime=0, si_stime=0} ---
        --- SIGUSR1 ---
        --- stopped by SIGSTOP ---
        +++ killed by SIGSEGV (core dumped) +++
        """)


def test_task_dying_inside_a_call_finishes_its_line() -> None:
    out = io.StringIO()
    w = StraceWriter(out)
    w.process_event(fork(1, 2))
    w.syscall_entry(rec(2, "read", "read(0, "))
    w.syscall_entry(rec(1, "exit_group", "exit_group(0"))
    w.process_event(exited(1, 0))
    w.process_event(Killed(1, 2, 1.0, signal.SIGKILL, False))
    assert out.getvalue() == textwrap.dedent("""\
        [pid     2] read(0,  <unfinished ...>
        [pid     1] exit_group(0)               = ?
        [pid     1] +++ exited with 0 +++
        <... read resumed> <unfinished ...>)    = ?
        +++ killed by SIGKILL +++
        """)


def test_detach_ends_the_open_line_only_as_strace_does() -> None:
    """strace's droptcb: the line still open gets `` <detached ...>``; a call already cut
    by ``<unfinished ...>`` gets nothing more; the ends the loop reports next (ret None)
    are not printed, and a later call of another task is."""
    out = io.StringIO()
    w = StraceWriter(out)
    w.process_event(fork(1, 2))
    w.syscall_entry(rec(2, "read", "read(0, "))
    w.syscall_entry(rec(1, "wait4", "wait4(-1, "))
    w.process_event(Detached(1, 1, 1.0))
    w.syscall_exit(rec(1, "wait4", "wait4(-1,  <unfinished ...>)"))
    w.process_event(Detached(2, 2, 1.0))
    w.syscall_exit(rec(2, "read", "read(0,  <unfinished ...>)"))
    assert out.getvalue() == textwrap.dedent("""\
        [pid     2] read(0,  <unfinished ...>
        [pid     1] wait4(-1,  <detached ...>
        """)
    # under -e status=, the call is "detached", not "unfinished"
    for wanted, shown in (({Status.DETACHED}, True), ({Status.UNFINISHED}, False)):
        out = io.StringIO()
        f = StatusFilter(StraceWriter(out), NumberSet(frozenset(wanted)))
        f.process_event(Detached(1, 1, 1.0))
        f.syscall_exit(dataclasses.replace(rec(1, "read", "read(0, <unfinished ...>)"),
                                           result="?"))
        assert bool(out.getvalue()) is shown, (wanted, out.getvalue())


def test_json_detach_event() -> None:
    assert jsonl.event_json(Detached(5, 6, 2.5)) == {"event": "detach", "ts": 2.5, "pid": 5,
                                                     "tid": 6}


def test_exec_by_a_non_leader_thread() -> None:
    out = io.StringIO()
    w = StraceWriter(out)
    w.process_event(fork(100, 101))
    w.syscall_entry(rec(101, "execve", 'execve("/bin/true", ["true"], NULL', pid=100))
    w.process_event(Exec(100, 100, 2.0, 101, "/bin/true"))
    w.syscall_exit(rec(100, "execve", 'execve("/bin/true", ["true"], NULL)', 0))
    assert out.getvalue() == textwrap.dedent("""\
        [pid   101] execve("/bin/true", ["true"], NULL <unfinished ...>
        [pid   100] +++ superseded by execve in pid 101 +++
        <... execve resumed>)                   = 0
        """)


def test_personality_change_is_announced() -> None:
    out = io.StringIO()
    w = StraceWriter(out)
    w.syscall_exit(rec(7, "getpid", "getpid()", 7))
    w.syscall_exit(rec(7, "getpid", "getpid()", 7, abi=Abi.I386))
    w.syscall_exit(rec(7, "read", "read(0, NULL, 0)", -38, abi=Abi.X32))
    assert out.getvalue() == textwrap.dedent("""\
        getpid()                                = 7
        [ Process PID=7 runs in 32 bit mode. ]
        getpid()                                = 7
        [ Process PID=7 runs in x32 mode. ]
        read(0, NULL, 0)                        = -1 ENOSYS (Function not implemented)
        """)


def test_strace_writer_writes_through_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    with path.open("w") as stream:
        w = StraceWriter(stream)
        w.syscall_entry(rec(1, "read", "read(0, "))
        assert path.read_text() == "read(0, "  # visible at once, as strace's is
        w.syscall_exit(rec(1, "read", 'read(0, "x", 1)', 1))
        assert path.read_text() == 'read(0, "x", 1)                         = 1\n'


# --- JSON Lines -----------------------------------------------------------------------

SYSCALL_KEYS = ["ts", "pid", "tid", "abi", "nr", "name", "args", "ret", "action", "errno"]


def check_syscall_object(obj: dict[str, object]) -> None:
    """The documented shape, every field and type."""
    assert list(obj) == SYSCALL_KEYS
    assert type(obj["ts"]) is float
    for key in ("pid", "tid", "nr"):
        assert type(obj[key]) is int
    assert obj["abi"] in ("x86_64", "i386", "x32")
    assert type(obj["name"]) is str and obj["name"]
    args = obj["args"]
    assert isinstance(args, list) and len(args) == 6
    assert all(type(a) is int and 0 <= a < 1 << 64 for a in args)
    assert obj["ret"] is None or type(obj["ret"]) is int
    assert type(obj["action"]) is str
    assert obj["errno"] is None or type(obj["errno"]) is int
    if obj["errno"] is not None:
        assert obj["ret"] == -obj["errno"]  # type: ignore[operator]


def check_event_object(obj: dict[str, object]) -> None:
    assert list(obj)[:4] == ["event", "ts", "pid", "tid"]
    assert obj["event"] in ("exec", "exit", "signal", "stop", "fork")
    assert type(obj["ts"]) is float and type(obj["pid"]) is int and type(obj["tid"]) is int
    kind = obj["event"]
    if kind == "exit":
        assert set(obj) == {"event", "ts", "pid", "tid", "status", "signal", "signo",
                            "core_dumped"}
        assert (obj["status"] is None) != (obj["signal"] is None)
        assert type(obj["core_dumped"]) is bool
    elif kind in ("signal", "stop"):
        assert type(obj["signal"]) is str and type(obj["signo"]) is int
    elif kind == "exec":
        assert set(obj) == {"event", "ts", "pid", "tid", "path", "former_tid"}
    elif kind == "fork":
        assert type(obj["child"]) is int


def sample_stream() -> list[SyscallRecord | ProcessEvent]:
    mem = FakeMemory()
    path = mem.put(b"/etc/hosts\0")
    call = format_entry(Abi.X86_64, 257, [-100, path, 0, 0], mem)
    opened = SyscallRecord.at_entry(call, ts=1.25, pid=9, tid=9).at_exit(call, 3, mem)
    denied_call = format_entry(Abi.X86_64, 83, [path, 0o777], mem)
    denied = SyscallRecord.at_entry(denied_call, ts=2, pid=9, tid=10, action=Action.DENY).at_exit(
        denied_call, -13, mem)
    x32 = format_entry(Abi.X32, X32_SYSCALL_BIT, [0, 0, 0], mem)
    return [
        opened, denied,
        SyscallRecord.at_entry(x32, ts=3, pid=9, tid=9).at_exit(x32, -38, mem),
        rec(9, "exit_group", "exit_group(0)", None, args=(0,) * 6),
        rec(9, "write", "write(1, ...)", 5, abi=Abi.I386, args=(1, 0xFFFFD000, 5, 0, 0, 0)),
        Fork(9, 9, 1.0, "fork", 10),
        Exec(9, 9, 1.5, 9, "/bin/true"),
        SignalDelivery(9, 9, 2.0, 17, {"si_code": 1, "si_pid": 10}),
        GroupStop(9, 9, 2.0, 19),
        Exited(9, 10, 3, 3),
        Killed(9, 9, 3, 9, False),
    ]


def write_records(writer: Writer, records: Sequence[SyscallRecord | ProcessEvent]) -> None:
    """Feed finished records and events to a writer, as a replay would."""
    for item in records:
        if isinstance(item, SyscallRecord):
            writer.syscall_exit(item)
        else:
            writer.process_event(item)


def test_json_lines_shape() -> None:
    out = io.StringIO()
    w = JsonWriter(out)
    write_records(w, sample_stream())
    w.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11
    objects = [json.loads(ln) for ln in lines]
    for obj in objects:
        (check_event_object if "event" in obj else check_syscall_object)(obj)
    assert objects[0] == {"ts": 1.25, "pid": 9, "tid": 9, "abi": "x86_64", "nr": 257,
                          "name": "openat", "args": [2**64 - 100, objects[0]["args"][1], 0, 0, 0, 0],
                          "ret": 3, "action": "allow", "errno": None}
    assert objects[1]["action"] == "deny" and objects[1]["errno"] == 13
    assert objects[2]["abi"] == "x32" and objects[2]["nr"] == X32_SYSCALL_BIT
    assert objects[2]["name"] == "read" and objects[2]["errno"] == 38
    assert objects[3]["ret"] is None and objects[3]["errno"] is None
    assert objects[4]["abi"] == "i386" and objects[4]["nr"] == 4
    assert objects[9] == {"event": "exit", "ts": 3.0, "pid": 9, "tid": 10, "status": 3,
                          "signal": None, "signo": None, "core_dumped": False}
    assert objects[10]["signal"] == "SIGKILL" and objects[10]["signo"] == 9
    assert objects[7]["signal"] == "SIGCHLD" and objects[7]["siginfo"] == {"si_code": 1,
                                                                           "si_pid": 10}


def test_fast_json_line_equals_json_dumps() -> None:
    for item in sample_stream():
        if isinstance(item, SyscallRecord):
            line = jsonl.syscall_json_line(item)
            assert line.endswith("\n") and "\n" not in line[:-1]
            assert json.loads(line) == jsonl.syscall_json(item)
            assert line == json.dumps(jsonl.syscall_json(item), separators=(",", ":")) + "\n"
    for action in Action:   # every outcome, as its documented value
        line = jsonl.syscall_json_line(rec(1, "getpid", "getpid()", 1, action=action))
        assert json.loads(line)["action"] == action.value


def test_every_action_has_its_strace_mark() -> None:
    """The mark after a strace line's result, for each outcome (ALLOW: none)."""
    marks = {a: action_mark(a) for a in Action}
    assert marks == {Action.ALLOW: None, Action.DENY: "DENIED", Action.KILL: "KILLED",
                     Action.OVERRIDE: "OVERRIDE", Action.TRAP: "TRAP",
                     Action.REFUSED: "REFUSED", Action.FAULT: "FAULT",
                     Action.INJECT: "INJECTED"}


def test_json_ignores_entries() -> None:
    out = io.StringIO()
    w = JsonWriter(out)
    w.syscall_entry(rec(1, "read", "read(0, "))
    assert out.getvalue() == ""


def test_record_needs_six_args() -> None:
    with pytest.raises(ValueError, match="6 args"):
        rec(1, "getpid", "getpid()", 1, args=(0, 0))


def test_sigint_during_a_write_waits_for_the_whole_line(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT arrives while a line is half written (a short write): KeyboardInterrupt is
    raised only once the line is complete."""
    path = tmp_path / "out.jsonl"
    real_write = os.write
    seen: list[str] = []

    def short_write_with_sigint(fd: int, data: bytes | memoryview) -> int:
        if not seen:
            os.kill(os.getpid(), signal.SIGINT)
            seen.append(path.read_text())
            return real_write(fd, bytes(data[:7]))
        return real_write(fd, data)

    with path.open("w") as stream:
        w = JsonWriter(stream)
        monkeypatch.setattr(sink.os, "write", short_write_with_sigint)
        with pytest.raises(KeyboardInterrupt):
            w.syscall_exit(rec(1, "getpid", "getpid()", 1))
            time.sleep(1)  # not reached: the pending SIGINT is raised when unblocked
        monkeypatch.undo()
    text = path.read_text()
    assert seen == [""]
    assert text.endswith("\n") and text.count("\n") == 1
    check_syscall_object(json.loads(text))


_WRITER_CHILD = textwrap.dedent("""
    import sys, itertools
    from tracer.output.jsonl import JsonWriter
    from tracer.output.records import SyscallRecord
    from probes.abi import Abi
    w = JsonWriter(open(sys.argv[1], "w"))
    for i in itertools.count():
        w.syscall_exit(SyscallRecord(float(i), 1, 1, Abi.X86_64, 1, "write",
                                     (1, 2, i, 0, 0, 0), i, "allow", None, "x" * (i % 5000)))
        if i == 10:
            print("ready", flush=True)  # 11 lines written; it writes on until stopped
""")


def lines_left_by(sig: int, data: bytes) -> list[str]:
    """The lines of a file whose writer was stopped by ``sig`` while writing, each
    checked to be whole.  SIGINT/SIGTERM wait while a line is written, so the file
    ends with a newline.  SIGKILL cannot wait: the kernel may stop a write(2) to a
    regular file between two of its pages (or folios), so the line being written may
    be cut, at a page boundary of the file and nowhere else (a cut elsewhere would be
    a line written in pieces)."""
    whole, _, cut = data.rpartition(b"\n")
    if cut:
        assert sig == signal.SIGKILL, f"{signal.Signals(sig).name} left a cut line: {cut[:80]!r}"
        assert len(data) % mmap.PAGESIZE == 0, \
            f"the last line is cut at byte {len(data)}, not at a page boundary: {cut[:80]!r}"
    return whole.decode().split("\n")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_json_file_stays_valid_when_the_writer_is_killed(tmp_path: Path, sig: int) -> None:
    path = tmp_path / "out.jsonl"
    script = tmp_path / "child.py"
    script.write_text(_WRITER_CHILD)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    proc.send_signal(sig)  # while it writes: "ready" comes after its 11th line
    proc.wait(timeout=30)
    assert proc.returncode != 0  # it was stopped, not done
    lines = lines_left_by(sig, path.read_bytes())
    assert len(lines) > 10
    for i, ln in enumerate(lines):
        obj = json.loads(ln)
        check_syscall_object(obj)
        assert obj["ret"] == i


# --- the summary --------------------------------------------------------------------

STRACE_HEADER = "% time     seconds  usecs/call     calls    errors syscall"
STRACE_RULE = "------ ----------- ----------- --------- --------- ----------------"


def summary_records() -> list[SyscallRecord]:
    recs = []
    for i in range(4):
        recs.append(rec(1, "wait4", "wait4(...)", -10 if i < 2 else 5, duration=0.000129))
    for i in range(61):
        recs.append(rec(1, "newfstatat", "x", -2 if i < 16 else 0, duration=0.000211 / 61))
    recs.append(rec(1, "ioctl", "x", -25, duration=0.0))
    recs.append(rec(1, "access", "x", -2, duration=0.0))
    recs.append(rec(1, "mkdir", "x", -13, action=Action.DENY, duration=0.000001))
    recs.append(rec(1, "unlink", "x", None, action=Action.KILL))
    recs.append(rec(1, "exit_group", "exit_group(0)", None))  # never returns: not counted
    return recs


def test_summary_table() -> None:
    s = Summary()
    for r in summary_records():
        s.syscall_entry(r)
        s.syscall_exit(r)
    assert s.render() == textwrap.dedent("""\
        % time     seconds  usecs/call     calls    errors    denied syscall
        ------ ----------- ----------- --------- --------- --------- ----------------
         70.88    0.000516         129         4         2           wait4
         28.98    0.000211           3        61        16           newfstatat
          0.14    0.000001           1         1         1         1 mkdir
          0.00    0.000000           0         1         1           ioctl
          0.00    0.000000           0         1         1           access
          0.00    0.000000           0         1                   1 unlink
        ------ ----------- ----------- --------- --------- --------- ----------------
        100.00    0.000728          10        69        21         2 total
        """)


def test_summary_per_abi_and_close(tmp_path: Path) -> None:
    path = tmp_path / "summary.txt"
    with path.open("w") as stream:
        s = Summary(stream)
        s.syscall_exit(rec(1, "getpid", "getpid()", 1, duration=0.001))
        s.syscall_exit(rec(1, "getpid", "getpid()", 1, abi=Abi.I386, duration=0.002))
        s.close()
        text = path.read_text()
    assert text.count("% time") == 2
    first, second = text.split("System call usage summary for 32 bit mode:\n")
    assert "getpid" in first and first.startswith("% time")
    assert second.splitlines()[2].endswith(" getpid")
    assert " 0.002000 " in second


def test_empty_summary_prints_nothing() -> None:
    out = io.StringIO()
    Summary(out).close()
    assert out.getvalue() == ""


@pytest.mark.needs_strace
def test_summary_layout_is_strace_c_plus_a_denied_column() -> None:
    proc = subprocess.run(["strace", "-c", "-o", "/dev/stdout", "true"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    theirs = proc.stdout.splitlines()
    assert theirs[0] == STRACE_HEADER and theirs[1] == STRACE_RULE
    ours = Summary.HEADER.splitlines()
    assert ours[0].replace("    denied", "") == theirs[0]
    rule = ours[1].split(" ")
    assert " ".join(rule[:5] + rule[6:]) == theirs[1]
    # a row: same columns once the denied column is cut out
    s = Summary()
    s.syscall_exit(rec(1, "execve", "x", 0, duration=0.000582))
    row = s.render().splitlines()[2]
    assert row[:50] + row[60:] == "100.00    0.000582         582         1           execve"
    assert theirs[-1].startswith("100.00 ") and theirs[-1].endswith(" total")


def test_fanout_feeds_every_writer() -> None:
    text, lines = io.StringIO(), io.StringIO()
    summary = Summary()
    fan = Fanout([StraceWriter(text), JsonWriter(lines), summary])
    r = rec(1, "getpid", "getpid()", 1, duration=0.5)
    fan.syscall_entry(dataclass_entry(r))
    fan.syscall_exit(r)
    fan.process_event(exited(1))
    fan.close()
    assert text.getvalue().startswith("getpid()")
    assert len(lines.getvalue().splitlines()) == 2
    assert "getpid" in summary.render()


# --- the recorder: what waits for the tracee to run again ------------------------------


class _Thread:
    pid = tid = 7

    def read_memory(self, addr: int, size: int) -> bytes | None:
        return b"x" * size


def _recorded(writer: _Lines) -> tuple[object, list[str]]:
    from tracer.events import Exited
    from tracer.handler import ALLOW, SyscallCall
    from tracer.record import OutputRecorder

    seen: list[str] = []
    r = OutputRecorder(writer)
    call = SyscallCall(7, 7, Abi.X86_64, 1, 1, "write", (1, 0x1000, 2, 0, 0, 0), bytes(168), 1.0)
    r.record_entry(call, ALLOW, _Thread())
    seen.append(writer.getvalue())
    r.record_exit(call, 2, ALLOW, _Thread(), 1.5)
    seen.append(writer.getvalue())
    r.flush()
    seen.append(writer.getvalue())
    r.record_entry(call, ALLOW, _Thread())
    r.record_event(Exited(7, 7, 2.0, 0))   # an event first hands over what waits
    seen.append(writer.getvalue())
    return r, seen


class _Lines:
    """A writer keeping what it was given, in order."""

    def __init__(self, entries_may_wait: bool) -> None:
        self.entries_may_wait = entries_may_wait
        self.log: list[str] = []

    def syscall_entry(self, rec: SyscallRecord) -> None:
        self.log.append("entry " + rec.text)

    def syscall_exit(self, rec: SyscallRecord) -> None:
        self.log.append("exit " + rec.text)

    def process_event(self, event: ProcessEvent) -> None:
        self.log.append(f"event {type(event).__name__}")

    def close(self) -> None:
        pass

    def getvalue(self) -> str:
        return " | ".join(self.log)


def test_an_entry_goes_out_before_the_call_runs_unless_it_may_wait() -> None:
    """Exits (and, for a file of trace-run's own, entries) reach the writer at flush,
    which the loop calls once the tracee runs again; the order is never changed."""
    _, seen = _recorded(_Lines(entries_may_wait=False))
    assert seen == ['entry write(1, "xx", 2', 'entry write(1, "xx", 2',
                    'entry write(1, "xx", 2 | exit write(1, "xx", 2)',
                    ('entry write(1, "xx", 2 | exit write(1, "xx", 2) | entry write(1, "xx", 2'
                     ' | event Exited')]
    _, seen = _recorded(_Lines(entries_may_wait=True))
    assert seen[:3] == ["", "", 'entry write(1, "xx", 2 | exit write(1, "xx", 2)']
    assert seen[3].endswith("| entry write(1, \"xx\", 2 | event Exited")


def test_entries_may_wait_only_for_a_file_of_our_own(tmp_path: Path) -> None:
    with (tmp_path / "log").open("w") as f:
        assert StraceWriter(f).entries_may_wait
    assert not StraceWriter(io.StringIO()).entries_may_wait
    stderr = open(2, "w", closefd=False)  # noqa: SIM115  (the fd the traced program shares)
    assert not StraceWriter(stderr).entries_may_wait
    fd = os.open(tmp_path / "inherited", os.O_WRONLY | os.O_CREAT)
    os.set_inheritable(fd, True)
    with open(fd, "w") as f:
        assert not StraceWriter(f).entries_may_wait
    r, w = os.pipe()
    with open(w, "w") as f:
        assert not StraceWriter(f).entries_may_wait
    os.close(r)
    assert JsonWriter(io.StringIO()).entries_may_wait and Summary().entries_may_wait
    with (tmp_path / "log").open("w") as f:
        assert not Fanout([StraceWriter(f), StraceWriter(stderr)]).entries_may_wait
