"""-e expressions: the parser (data-driven, every error in strace's words, checked
against the installed strace), the sets per ABI, and the classes against strace."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from probes.abi import Abi, syscall_number, syscalls
from tracer.qualify import (
    Z_WARNING,
    NumberSet,
    Qualifiers,
    QualifyError,
    Quiet,
    Status,
    failed_only,
    finish,
    parse_inject,
    parse_syscall_set,
    successful_only,
)
from tracer.syscalls.classes import CLASS_NAMES, class_members

X64, I386, X32 = Abi.X86_64, Abi.I386, Abi.X32


def nr(abi: Abi, name: str) -> int:
    n = syscall_number(abi, name)
    assert n is not None
    return n & ~0x40000000


# (expression, calls in the trace set, calls not in it)
TRACE_CASES = [
    ("open,close", [(X64, "open"), (I386, "close"), (X32, "open")], [(X64, "read")]),
    ("trace=!write", [(X64, "read")], [(X64, "write"), (I386, "write")]),
    ("t=!!write", [(X64, "write")], [(X64, "read")]),
    ("trace=all", [(X64, "read"), (I386, "socketcall")], []),
    ("trace=none", [], [(X64, "read")]),
    ("trace=!none", [(X64, "read")], []),
    ("trace=%file", [(X64, "openat"), (X64, "execve"), (I386, "stat64")], [(X64, "read")]),
    ("trace=file", [(X64, "openat")], [(X64, "read")]),
    ("trace=%FILE", [(X64, "openat")], [(X64, "read")]),
    ("trace=%net", [(X64, "socket"), (I386, "socket")], [(X64, "read"), (I386, "socketcall")]),
    ("trace=%%stat", [(X64, "stat"), (X64, "newfstatat"), (X64, "statx")], [(X64, "statfs")]),
    ("trace=%pure", [(X64, "getpid"), (X64, "getuid")], [(X64, "getpriority")]),
    ("trace=/^get.id$", [(X64, "getpid"), (X64, "getuid")], [(X64, "getppid")]),
    ("trace=?nosuchcall,read", [(X64, "read")], [(X64, "write")]),
    ("trace=open@64", [(X64, "open")], [(I386, "open"), (X32, "open")]),
    ("trace=open@32", [(I386, "open")], [(X64, "open")]),
    ("trace=read@x32", [(X32, "read")], [(X64, "read")]),
    ("trace=,,read,", [(X64, "read")], [(X64, "write")]),
    ("trace=read,all", [(X64, "write")], []),
]


@pytest.mark.parametrize(("expr", "inside", "outside"), TRACE_CASES,
                         ids=[c[0] for c in TRACE_CASES])
def test_trace_sets(expr: str, inside: list[tuple[Abi, str]],
                    outside: list[tuple[Abi, str]]) -> None:
    q = Qualifiers()
    q.apply(expr)
    for abi, name in inside:
        assert (abi, nr(abi, name)) in q.trace, (abi, name)
    for abi, name in outside:
        assert (abi, nr(abi, name)) not in q.trace, (abi, name)


def test_numbers_mean_each_abis_own() -> None:
    s = parse_syscall_set("5")
    assert (X64, 5) in s and (I386, 5) in s   # fstat and open
    assert (X64, nr(X64, "open")) not in s
    assert parse_syscall_set("5@32").members == frozenset({(I386, 5)})


def test_repeated_trace_replaces() -> None:
    """strace clears the set at each -e trace= (checked below against strace)."""
    q = Qualifiers()
    q.apply("trace=write")
    q.apply("trace=close")
    assert (X64, nr(X64, "write")) not in q.trace
    assert (X64, nr(X64, "close")) in q.trace


def test_other_qualifiers() -> None:
    q = Qualifiers()
    q.apply("signal=SIGUSR1,hup,9,usr2")
    assert q.signals == NumberSet(frozenset({10, 1, 9, 12}))
    q.apply("signals=!all")
    assert q.signals.is_none
    q.apply("s=!SIGCHLD")
    assert 17 not in q.signals and 10 in q.signals
    q.apply("status=!failed")
    assert Status.FAILED not in q.status and Status.UNFINISHED in q.status
    q.apply("quiet=attach,exits,superseded")
    assert q.quiet.members == {Quiet.ATTACH, Quiet.EXIT, Quiet.THREAD_EXECVE}
    q.apply("silence=all")
    assert Quiet.PERSONALITY in q.quiet
    q.apply("read=0,3")
    assert q.read.members == {0, 3}
    q.apply("w=!1")
    assert 1 not in q.write and 2 in q.write
    q.apply("abbrev=none")
    assert q.abbrev.is_none
    q.apply("x=%process")
    assert (X64, nr(X64, "clone")) in q.raw
    q.apply("verbose=!%desc")
    assert (X64, nr(X64, "read")) not in q.verbose
    successful_only(q)
    assert q.status.members == {Status.SUCCESSFUL}
    failed_only(q)
    assert q.status.members == {Status.FAILED} and q.z_flags == 2


WHEN_CASES = [
    ("", [1, 2, 3, 4, 5, 6, 7, 8]),
    (":when=3", [3]),
    (":when=3+", [3, 4, 5, 6, 7, 8]),
    (":when=2+3", [2, 5, 8]),
    (":when=2..4", [2, 3, 4]),
    (":when=2..7+2", [2, 4, 6]),
    (":when=1..1", [1]),
]


@pytest.mark.parametrize(("when", "hits"), WHEN_CASES, ids=[w or "default" for w, _ in WHEN_CASES])
def test_when(when: str, hits: list[int]) -> None:
    _, spec = parse_inject(f"getpid:error=EPERM{when}")
    assert [n for n in range(1, 9) if spec.injects_at(n)] == hits


def test_inject_specs() -> None:
    s, spec = parse_inject("openat,close:error=enoent")
    assert spec.error == 2 and (X64, nr(X64, "close")) in s
    assert parse_inject("getpid", fault=True)[1].error == 38      # ENOSYS
    assert parse_inject("getpid:error=22", fault=True)[1].error == 22
    assert parse_inject("getpid:retval=0x10")[1].retval == 16
    assert parse_inject("getpid:retval=010")[1].retval == 8
    assert parse_inject("getpid:retval=-1")[1].retval == 2**64 - 1
    assert parse_inject("getpid:signal=usr1")[1].signal == 10
    assert parse_inject("getpid:error=1:syscall=getuid")[1].syscall == "getuid"
    q = Qualifiers()
    q.apply("inject=getpid,getuid:error=EPERM")
    q.apply("fault=getuid")
    assert q.inject[(X64, nr(X64, "getpid"))].error == 1
    assert q.inject[(X64, nr(X64, "getuid"))].error == 38    # the later one wins
    q.apply("trace=getpid")
    assert set(q.injections()) == {(abi, nr(abi, "getpid")) for abi in Abi}


# (expression, strace's message)
ERRORS = [
    ("foo", "invalid system call 'foo'"),
    ("foo=bar", "invalid system call 'foo=bar'"),
    ("trace=", "invalid system call ''"),
    ("trace=,", "invalid system call ','"),
    ("trace=read,nosuch", "invalid system call 'nosuch'"),
    ("trace=99999", "invalid system call '99999'"),
    ("trace=/^nomatch$", "invalid system call '/^nomatch$'"),
    ("trace=%nosuchclass", "invalid system call '%nosuchclass'"),
    ("trace=open@99", "incorrect personality designator '99' in qualification 'open@99'"),
    ("signal=FOO", "invalid signal 'FOO'"),
    ("signal=256", "invalid signal '256'"),
    ("signal=", "invalid signal ''"),
    ("status=x", "invalid status 'x'"),
    ("quiet=x", "invalid quiet 'x'"),
    ("read=x", "invalid descriptor 'x'"),
    ("write=-1", "invalid descriptor '-1'"),
    ("inject=getpid", "invalid inject argument 'getpid'"),
    ("inject=getpid:when=0:error=1", "invalid inject argument 'getpid:when=0:error=1'"),
    ("inject=getpid:when=3..2:error=1", "invalid inject argument 'getpid:when=3..2:error=1'"),
    ("inject=getpid:when=1.2:error=1", "invalid inject argument 'getpid:when=1.2:error=1'"),
    ("inject=getpid:when=1+0:error=1", "invalid inject argument 'getpid:when=1+0:error=1'"),
    ("inject=getpid:error=1:error=2", "invalid inject argument 'getpid:error=1:error=2'"),
    ("inject=getpid:error=1:retval=2", "invalid inject argument 'getpid:error=1:retval=2'"),
    ("inject=getpid:error=0", "invalid inject argument 'getpid:error=0'"),
    ("inject=getpid:error=EFOO", "invalid inject argument 'getpid:error=EFOO'"),
    ("inject=getpid:retval=x", "invalid inject argument 'getpid:retval=x'"),
    ("inject=getpid:signal=65", "invalid inject argument 'getpid:signal=65'"),
    ("inject=getpid:bogus=1", "invalid inject argument 'getpid:bogus=1'"),
    ("inject=getpid:syscall=open:error=1", "invalid inject argument 'getpid:syscall=open:error=1'"),
    ("fault=getpid:retval=1", "invalid fault argument 'getpid:retval=1'"),
    ("fault=getpid:signal=USR1", "invalid fault argument 'getpid:signal=USR1'"),
    ("fault=:error=1", "invalid system call ''"),
    ("inject=nosuch:error=1", "invalid system call 'nosuch'"),
    ("kvm=x", "invalid -e kvm= argument: 'x'"),
]


@pytest.mark.parametrize(("expr", "message"), ERRORS, ids=[e for e, _ in ERRORS])
def test_errors(expr: str, message: str) -> None:
    with pytest.raises(QualifyError) as info:
        Qualifiers().apply(expr)
    assert str(info.value) == message


@pytest.mark.needs_strace
@pytest.mark.parametrize(("expr", "message"), ERRORS, ids=[e for e, _ in ERRORS])
def test_errors_are_straces(expr: str, message: str) -> None:
    r = subprocess.run(["strace", "-e", expr, "true"], capture_output=True, text=True,
                       check=False)
    assert r.returncode != 0
    assert r.stderr.splitlines()[0] == f"strace: {message}"


@pytest.mark.needs_strace
def test_repeated_trace_replaces_in_strace(tmp_path: Path) -> None:
    out = tmp_path / "s"
    subprocess.run(["strace", "-o", str(out), "-e", "trace=write", "-e", "trace=close",
                    "echo", "x"], check=True, capture_output=True)
    names = {line.split("(")[0] for line in out.read_text().splitlines() if "(" in line}
    assert names == {"close"}


# ---- classes against the installed strace -------------------------------------------------

def _strace_names(expr: str, argv: list[str], tmp_path: Path) -> set[str]:
    out = tmp_path / "classes.txt"
    subprocess.run(["strace", "-f", "-qq", "-o", str(out), "-e", f"trace={expr}", *argv],
                   check=False, capture_output=True)
    names = set()
    for line in out.read_text().splitlines():
        head = line.split(None, 1)[1] if line[:1].isdigit() else line
        if head.startswith(("<...", "+++", "---")):
            continue
        names.add(head.split("(")[0])
    return names


@pytest.mark.needs_strace
@pytest.mark.parametrize("cls", CLASS_NAMES)
def test_classes_match_strace(cls: str, tmp_path: Path) -> None:
    """What strace traces for a class, on a shell that makes many kinds of calls, is
    what the class's set says, among the calls made at all."""
    script = ("ls -la / >/dev/null; stat / >/dev/null; df / >/dev/null 2>&1; "
              "cat /etc/hostname >/dev/null; id >/dev/null; date >/dev/null; "
              "(sleep 0 &) ; wait; kill -0 $$; true < /dev/null")
    argv = ["sh", "-c", script]
    made = _strace_names("all", argv, tmp_path)
    theirs = _strace_names(cls, argv, tmp_path)
    members = {syscalls(X64)[n] for n in class_members(X64, cls)}
    assert theirs == made & members



def test_finish_applies_straces_rules() -> None:
    q = Qualifiers()
    assert finish(q, output_file=True) == []
    assert q.quiet.members == {Quiet.ATTACH, Quiet.PERSONALITY}     # -o implies -q
    q = Qualifiers()
    finish(q, q_level=2)
    assert q.quiet.members == {Quiet.EXIT, Quiet.ATTACH, Quiet.PERSONALITY}
    q = Qualifiers()
    q.apply("quiet=exit")
    finish(q, output_file=True)
    assert q.quiet.members == {Quiet.EXIT}                           # -e quiet= wins
    with pytest.raises(QualifyError, match="-q and -e quiet"):
        finish(q, q_level=1)
    q = Qualifiers()
    successful_only(q)
    failed_only(q)
    assert finish(q) == [Z_WARNING]


@pytest.mark.needs_strace
def test_q_with_quiet_is_straces_error() -> None:
    r = subprocess.run(["strace", "-q", "-e", "quiet=exit", "true"], capture_output=True,
                       text=True, check=False)
    assert r.returncode != 0
    assert r.stderr.splitlines()[0] == \
        "strace: -q and -e quiet/--quiet cannot be provided simultaneously"


@pytest.mark.needs_strace
def test_summary_ignores_status(tmp_path: Path) -> None:
    """strace 6.1's -c counts every call whatever -z/-Z say (count_syscall runs before
    the status test): the summary writer is not filtered."""
    def table(*opts: str) -> str:
        out = tmp_path / "c.txt"
        subprocess.run(["strace", "-c", "-S", "name", "-U", "name,calls,errors", *opts,
                        "-o", str(out), "ls", "/nonexistent-qualify-test"],
                       capture_output=True, check=False)
        return out.read_text()
    plain = table()
    assert table("-Z") == plain
    assert table("-z") == plain
