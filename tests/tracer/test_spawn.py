"""Starting CMD: PATH lookup as execvp, exec failures reported as 127/126."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from tracer.spawn import SpawnError, resolve, spawn

from .conftest import run_cli


def test_resolve_searches_path_like_execvp(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "tool").write_text("#!/bin/sh\n")           # not executable: skipped
    (b / "tool").write_text("#!/bin/sh\n")
    (b / "tool").chmod(0o755)
    assert resolve("tool", f"{a}:{b}") == str(b / "tool")
    assert resolve("/bin/sh") == "/bin/sh"


def test_resolve_not_found_and_not_executable(tmp_path: Path) -> None:
    with pytest.raises(SpawnError) as exc:
        resolve("nosuchcmd-trace-run", str(tmp_path))
    assert exc.value.errno == errno.ENOENT and exc.value.exit_code == 127
    f = tmp_path / "plain"
    f.write_text("x")
    with pytest.raises(SpawnError) as exc:
        resolve("plain", str(tmp_path))
    assert exc.value.errno == errno.EACCES and exc.value.exit_code == 126
    with pytest.raises(SpawnError) as exc:
        resolve(str(tmp_path))  # a directory
    assert exc.value.exit_code == 126


@pytest.mark.slow
@pytest.mark.ptrace
def test_cli_command_not_found_exits_127() -> None:
    r = run_cli("nosuchcmd-trace-run")
    assert r.returncode == 127
    assert r.stderr.strip().splitlines()[-1] == \
        "trace-run: cannot run 'nosuchcmd-trace-run': No such file or directory"


@pytest.mark.slow
@pytest.mark.ptrace
def test_cli_not_executable_exits_126(tmp_path: Path) -> None:
    f = tmp_path / "data.txt"
    f.write_text("hello")
    r = run_cli(str(f))
    assert r.returncode == 126
    assert f"cannot run '{f}': Permission denied" in r.stderr


def test_exec_format_error_comes_up_the_pipe(tmp_path: Path, traced) -> None:  # type: ignore[no-untyped-def]
    """An executable file the kernel cannot run fails in the child's execve (ENOEXEC)."""
    f = tmp_path / "garbage"
    f.write_bytes(b"\x7fELF\x00garbage")
    f.chmod(f.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(SpawnError) as exc:
        traced([str(f)])
    assert exc.value.errno == errno.ENOEXEC and exc.value.exit_code == 126
    r = run_cli(str(f))
    assert r.returncode == 126
    assert "Exec format error" in r.stderr


def test_pre_exec_hook_runs_in_the_child_before_exec(traced) -> None:  # type: ignore[no-untyped-def]
    def hook() -> None:
        os.umask(0o027)

    calls = []

    class Spy:
        def on_entry(self, call, tracee):  # type: ignore[no-untyped-def]
            calls.append(call.name)
            from tracer.handler import ALLOW
            return ALLOW

        def on_exit(self, call, ret, tracee):  # type: ignore[no-untyped-def]
            pass

    import tempfile

    from tracer.loop import Loop
    with tempfile.TemporaryFile() as out:
        child = spawn(["sh", "-c", "umask"], pre_exec=hook, redirect={1: out.fileno()})
        assert Loop(Spy()).run(child) == 0
        out.seek(0)
        assert out.read().strip() == b"0027"
    assert os.umask(0o022) == 0o022  # ours untouched
    # trace-run's own pre-exec syscalls (umask, read, close...) are not shown: execve first
    assert calls[0] == "execve"


def test_failing_pre_exec_hook(traced) -> None:  # type: ignore[no-untyped-def]
    def hook() -> None:
        raise RuntimeError("no")

    from tracer.loop import Loop
    child = spawn(["true"], pre_exec=hook)
    assert Loop().run(child) == 127
    failure = child.exec_error()
    assert failure is not None and "pre-exec setup failed" in str(failure)


@pytest.mark.parametrize("seize", [True, False])
def test_traced_from_the_first_instruction(seize: bool, traced) -> None:  # type: ignore[no-untyped-def]
    t = traced(["/bin/true"], seize=seize)
    assert t.code == 0
    assert t.records[0].call.name == "execve" and t.records[0].ret == 0
    assert t.records[-1].call.name == "exit_group" and t.records[-1].ret is None
