"""For deterministic commands, trace-run's per-syscall counts equal strace -f -c's."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

pytestmark = [pytest.mark.needs_strace, pytest.mark.ptrace]


def strace_counts(argv: list[str], tmp_path: Path) -> Counter[str]:
    out = tmp_path / "strace.txt"
    # stdout/stderr are files, as under run_traced: cat, for one, copies differently
    # into a pipe than into a file
    with open(tmp_path / "stdout", "wb") as so, open(tmp_path / "stderr", "wb") as se:
        subprocess.run(["strace", "-f", "-c", "-U", "name,calls", "-o", str(out), *argv],
                       check=True, stdout=so, stderr=se)
    counts: Counter[str] = Counter()
    for line in out.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    assert counts, out.read_text()
    return counts


@pytest.mark.parametrize("argv", [["/bin/true"], ["ls", "/"], ["sh", "-c", "echo a; id -u"],
                                  ["cat", "/etc/hostname", "/etc/passwd"]],
                         ids=["true", "ls", "sh", "cat"])
def test_counts_equal_strace(argv: list[str], traced, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    theirs = strace_counts(argv, tmp_path)
    t = traced(argv)
    # strace -c counts a call at its exit stop: exit_group never has one
    ours = Counter(r.call.name for r in t.records if r.ret is not None)
    assert ours == theirs
