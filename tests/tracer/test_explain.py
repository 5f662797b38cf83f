"""``trace-run --explain PAGE.html``: the explorer page of the probe's runs at a real
command's syscalls (tracer.explain); the page itself is tests/explain's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.tracer.conftest import run_cli
from tracer.options import parse

M64 = (1 << 64) - 1


def page_data(path: Path) -> dict:
    html = path.read_text()
    m = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>',
                  html, re.S)
    assert m is not None
    return json.loads(m.group(1))


def final_regs(run: dict) -> list[int]:
    regs = [int(v, 16) for v in run["regs0"]]
    for s in run["steps"]:
        r = s.get("r", [])
        for i in range(0, len(r), 2):
            regs[r[i]] = int(r[i + 1], 16)
    return regs


def test_the_options_are_trace_runs_own() -> None:
    opts = parse(["--explain", "p.html", "--explain-syscalls=%file", "--explain-limit",
                  "5", "ls"])
    assert (opts.explain, opts.explain_syscalls, opts.explain_limit, opts.cmd) == \
        ("p.html", "%file", "5", ["ls"])


@pytest.mark.parametrize(("args", "message"), [
    (["--explain-limit", "0"], "invalid --explain-limit argument: '0'"),
    (["--explain-syscalls", "nosuchcall"], "invalid system call 'nosuchcall'"),
])
def test_bad_values_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    res = run_cli("--explain", str(tmp_path / "p.html"), *args, "true")
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert not (tmp_path / "p.html").exists()


def test_explain_options_need_explain() -> None:
    res = run_cli("--explain-limit", "3", "true")
    assert res.returncode == 2
    assert "go with --explain" in res.stderr


@pytest.mark.ptrace
def test_every_syscall_of_true_is_recorded_with_its_line(tmp_path: Path) -> None:
    page, log = tmp_path / "p.html", tmp_path / "log"
    res = run_cli("--explain", str(page), "-o", str(log), "true")
    assert res.returncode == 0, res.stderr
    data = page_data(page)
    assert data["kind"] == "trace" and data["title"] == "trace-run --explain true"
    lines = [ln for ln in log.read_text().splitlines() if not ln.startswith("+++")]
    runs = data["runs"]
    assert len(runs) == len(lines)
    for run, line in zip(runs, lines, strict=True):
        assert run["call"].split() == line.split()   # strace aligns " = " at column 40
        assert run["outcome"] == "allow"
        assert run["steps"] and run["r0"] == format(final_regs(run)[0], "x")
    assert runs[0]["call"].startswith('execve("')
    assert runs[-1]["call"].startswith("exit_group(0")
    assert len({r["pid"] for r in runs}) == 1
    html = page.read_text()
    assert 'id="runs"' in html and "window.explorer" in html


@pytest.mark.ptrace
def test_a_set_and_a_limit_choose_the_calls(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    res = run_cli("--explain", str(page), "--explain-syscalls", "openat",
                  "--explain-limit", "2", "-o", "/dev/null", "cat", "/etc/hostname")
    assert res.returncode == 0, res.stderr
    data = page_data(page)
    runs = data["runs"]
    assert len(runs) == 2
    names = [p["name"] for p in data["programs"]]
    for run in runs:
        assert run["call"].startswith("openat(AT_FDCWD, ")
        tails = [s["x"] for s in run["steps"] if s.get("e") == "tail"]
        assert tails == [["progs", 257, "sys_openat", 1]]
        assert names[run["entry"]] == "dispatch"
        assert any("bpf_trace_printk: openat(-100, " in p for p in run["printk"])
        assert [name for name, _hex in run["ringbuf"]] == ["events"]
    # the probe's C source, from the object's line info
    assert any(s["found"] and s["name"].endswith("syscalls.bpf.c") for s in data["sources"])


@pytest.mark.slow
@pytest.mark.ptrace
def test_ls_makes_a_page_of_a_few_megabytes_at_most(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    res = run_cli("--explain", str(page), "--explain-limit", "200", "-o", "/dev/null",
                  "ls", "/usr", timeout=120)
    assert res.returncode == 0, res.stderr
    data = page_data(page)
    assert 100 < len(data["runs"]) <= 200
    assert page.stat().st_size <= 10 * 1024 * 1024
    # each program once, however many runs reach it
    names = [p["name"] for p in data["programs"]]
    assert len(names) == len(set(names))


@pytest.mark.ptrace
def test_no_call_of_the_set_still_writes_a_page(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    res = run_cli("--explain", str(page), "--explain-syscalls", "mkdir", "-o", "/dev/null",
                  "true")
    assert res.returncode == 0, res.stderr
    assert page_data(page)["runs"] == []
    assert "(no run was recorded)" in page.read_text()


@pytest.mark.ptrace
def test_under_a_policy_the_policys_programs_are_recorded(tmp_path: Path) -> None:
    profile, page, target = tmp_path / "p.json", tmp_path / "p.html", tmp_path / "x"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}))
    res = run_cli("--policy", str(profile), "--explain", str(page), "--explain-syscalls",
                  "mkdir,mkdirat", "-o", "/dev/null", "mkdir", str(target))
    assert res.returncode == 1, res.stderr
    assert "Operation not permitted" in res.stderr and not target.exists()
    data = page_data(page)
    assert data["title"] == f"trace-run --policy p.json --explain mkdir {target}"
    names = [p["name"] for p in data["programs"]]
    [run] = data["runs"]
    assert run["outcome"] == "deny" and run["call"].startswith(f'mkdir("{target}", 0777)')
    assert "EPERM" in run["call"]
    tails = [s["x"] for s in run["steps"] if s.get("e") == "tail"]
    assert len(tails) == 1 and tails[0][2] == "x86_64_mkdir"
    assert names[run["entry"]] == "dispatch"
    assert not data["sources"]          # the policy's programs have no source file


def test_explain_is_refused_with_a_recording_handler(tmp_path: Path) -> None:
    res = run_cli("--record-profile", str(tmp_path / "r.json"), "--explain",
                  str(tmp_path / "p.html"), "true")
    assert res.returncode == 2
    assert "--explain records a probe's runs" in res.stderr
