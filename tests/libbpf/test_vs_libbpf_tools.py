"""libbpf-tools in the host kernel against the same tools under `trace-run --probe`.

For each syscall-observing tool, the distribution's binary (/usr/sbin, bcc v0.26.0)
runs in the host kernel on csrc/lbtest.c, filtered to it by the tool's own options;
first its events are checked against what lbtest is known to do (the oracle is sound),
then the object built from the vendored v0.26.0 source runs under `trace-run --probe`
(with --set giving the read-only globals the tool's skeleton sets) on the same command,
and its BTF-decoded records must be the same events: pids relative, paths, flags and
return values equal.  (tools.py says how each side becomes events.)"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import libbpf_host
from tests.libbpf import kernel_obj, tools
from tests.libbpf.catalogue import ROOT
from tests.libbpf.tools import TOOLS, Pids

pytestmark = [pytest.mark.needs_gcc, pytest.mark.slow]

CSRC = Path(__file__).parent / "csrc"
SBIN = Path("/usr/sbin")


@pytest.fixture(scope="module")
def lbtest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("lbtest-bin") / "lbtest"
    subprocess.run(["gcc", "-O1", "-Wall", "-o", str(exe), str(CSRC / "lbtest.c")],
                   check=True, capture_output=True, text=True)
    return exe


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory lbtest works in (the same for both sides, so paths compare)."""
    d = tmp_path_factory.mktemp("lbtest-work")
    (d / "exists").write_text("x")
    (d / "mnt").mkdir()
    return d


def expected(name: str, w: Path, exe: Path) -> list[tools.Event]:
    """What lbtest MODE does, as each tool reports it (relative pids: 0 the helper;
    execsnoop's first "argument" is the path execve was given)."""
    ext = "ext"
    return {
        "opensnoop": [(0, 3, os.O_RDONLY, f"{w}/exists"),
                      (0, -2, os.O_RDONLY, f"{w}/missing"),
                      (0, 4, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, f"{w}/created"),
                      (0, 5, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC, f"{w}/exists"),
                      (0, -2, os.O_RDONLY | os.O_DIRECTORY, f"{w}/missing/deeper")],
        "statsnoop": [(0, 0, f"{w}/exists"), (0, -2, f"{w}/missing"), (0, 0, f"{w}/exists"),
                      (0, 0, str(w)), (0, -2, f"{w}/missing"), (0, -2, f"{w}/done")],
        "execsnoop": [(1, 0, -2, f"{w}/no-such-program"), (1, 0, 0, str(exe)),
                      (0, ext, 0, str(exe))],
        "exitsnoop": [(1, 0, "code 7"), (2, 0, "signal 15 (Terminated)"), (0, ext, "0")],
        "sigsnoop": [(0, 10, 0, 0), (0, 15, ext, -3), (0, 12, 0, 0), (0, 10, 0, 0),
                     (0, 0, 0, 0)],
        "mountsnoop": [("mount", "none", "/", "", tools.MS_FLAGS["MS_REC"] |
                        tools.MS_FLAGS["MS_PRIVATE"], "", 0),
                       ("mount", "lbtest-tmpfs", f"{w}/mnt", "tmpfs",
                        tools.MS_FLAGS["MS_NOSUID"] | tools.MS_FLAGS["MS_NODEV"],
                        "size=1m,mode=0700", 0),
                       ("umount", f"{w}/mnt", 0, 0),
                       ("mount", "lbtest-tmpfs", f"{w}/missing", "tmpfs", 0, "", -2),
                       ("umount", f"{w}/missing", 2, -2)],
        "syscount": sorted(tools.COUNTS.items()),
    }[name]


def renumber(events: list[tools.Event]) -> list[tools.Event]:
    """execsnoop/exitsnoop: children renumbered 1, 2... in order of appearance among the
    events kept (the sentinels' children are gone)."""
    seen: dict[Any, Any] = {0: 0, "ext": "ext"}

    def rel(v: Any) -> Any:
        return seen.setdefault(v, len(seen) - 1)

    return [(rel(e[0]), rel(e[1]), *e[2:]) for e in events]


def normalise(name: str, events: list[tools.Event]) -> list[tools.Event]:
    if name in ("execsnoop", "exitsnoop"):
        events = renumber(events)
    if name == "exitsnoop":     # per-CPU perf buffers: children's exits in any order
        events = sorted(events, key=repr)
    return events


#: bcc v0.26.0's statsnoop.c asks tracepoint_exists("syscalls", "newstat") (and statfs,
#: statx, newfstatat, newlstat): names without "sys_enter_", which no kernel has, so it
#: turns off the autoload of all ten programs and loads none (strace: no BPF_PROG_LOAD
#: of them): the distribution's statsnoop prints its header and nothing else, anywhere.
#: Its oracle is the vendored object loaded with libbpf, every program attached
#: (kernel_obj.py), its perf records decoded as statsnoop.h lays them out.


class StatEvent(ctypes.Structure):
    """libbpf_tools/statsnoop.h's struct event."""
    _fields_ = [("ts_ns", ctypes.c_uint64), ("pid", ctypes.c_uint32), ("ret", ctypes.c_int),
                ("comm", ctypes.c_char * 16), ("pathname", ctypes.c_char * 255)]


def statsnoop_in_kernel(obj: Path, lbtest: Path, work: Path) -> list[tools.Event]:
    if "statsnoop-object" not in _kernel_runs:
        if (why := libbpf_host.unavailable_reason()) is not None:
            pytest.skip(why)
        helper: list[int] = []

        def run() -> None:
            proc = subprocess.Popen([str(lbtest), "stat", str(work)], stdin=subprocess.PIPE)
            helper.append(proc.pid)
            proc.communicate(b"g", timeout=60)

        try:
            recs = kernel_obj.perf_records(obj, "events", run)
        except kernel_obj.KernelObjectError as exc:
            pytest.skip(str(exc))
        pids = Pids(helper[0])
        events = [StatEvent.from_buffer_copy(r.ljust(ctypes.sizeof(StatEvent), b"\0"))
                  for r in recs]
        _kernel_runs["statsnoop-object"] = tools.after_last(
            [(pids(e.pid), e.ret, e.pathname.decode()) for e in events
             if e.pid == helper[0]], "/start")
    return _kernel_runs["statsnoop-object"]


@pytest.mark.kernel
@pytest.mark.needs_bpf_cc
def test_statsnoop_object_in_the_kernel_sees_what_lbtest_does(
        lbtest: Path, work: Path, objects: dict[str, Path]) -> None:
    assert statsnoop_in_kernel(objects["statsnoop"], lbtest, work) == \
        expected("statsnoop", work, lbtest)

_kernel_runs: dict[str, list[tools.Event]] = {}


def kernel_events(name: str, lbtest: Path, work: Path) -> list[tools.Event]:
    """The real tool's events for one lbtest run (once per session)."""
    if name not in _kernel_runs:
        exe = SBIN / name
        if not exe.is_file() or shutil.which("stdbuf") is None:
            pytest.skip(f"{exe} (libbpf-tools) or stdbuf is not installed")
        if (why := libbpf_host.unavailable_reason() or tools.ensure_debugfs()) is not None:
            pytest.skip(why)
        lines, pid = tools.run_kernel_tool(TOOLS[name], str(exe), lbtest, work)
        _kernel_runs[name] = normalise(name, TOOLS[name].kernel_events(lines, Pids(pid)))
    return _kernel_runs[name]


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(TOOLS))
def test_kernel_tool_sees_what_lbtest_does(name: str, lbtest: Path, work: Path) -> None:
    # the distribution's statsnoop reports nothing (see StatEvent's comment)
    expect = [] if name == "statsnoop" else expected(name, work, lbtest)
    assert kernel_events(name, lbtest, work) == normalise(name, expect)


def run_trace_run(name: str, obj: Path, lbtest: Path, work: Path,
                  *extra: str) -> subprocess.CompletedProcess[str]:
    argv = tools.trace_run_argv(obj, TOOLS[name].sets, lbtest, TOOLS[name].mode, work,
                                *extra)
    return subprocess.run([sys.executable, "-m", "tests.tracer.cli_runner", *argv],
                          input="g", capture_output=True, text=True, timeout=300,
                          check=False, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def trace_run_events(name: str, obj: Path, lbtest: Path, work: Path) -> list[tools.Event]:
    if name == "syscount":
        proc = run_trace_run(name, obj, lbtest, work, "--dump-maps")
    else:
        proc = run_trace_run(name, obj, lbtest, work, "--records", "-")
    if proc.returncode == 2 and "--set" in proc.stderr:
        pytest.skip(f"waiting on trace-run --set NAME=VALUE: {proc.stderr.strip()[:200]}")
    if proc.returncode == 2 and "no program attaches to an event trace-run provides" in \
            proc.stderr:
        pytest.skip(f"trace-run does not provide {name}'s attach point: "
                    f"{proc.stderr.strip().splitlines()[0]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    if name == "syscount":
        return tools.count_map(json.loads(proc.stderr[proc.stderr.index("{"):]))
    records, hex_only = tools.json_records(proc.stdout)
    if hex_only:
        pytest.skip(f"waiting on BTF-decoded records: {hex_only} of {name}'s records stayed "
                    "hex in trace-run --records (execsnoop's are shorter than struct event: "
                    "it sends only the arguments it read)")
    if not records and TOOLS[name].perf:
        pytest.skip(f"waiting on perf-event records in trace-run --probe: {name} writes its "
                    "events with bpf_perf_event_output, and trace-run printed none (no "
                    "'perf ...' line: nothing opens the PERF_EVENT_ARRAY's CPU slots, as a "
                    "perf_buffer reader does, so every output finds no reader)")
    return normalise(name, TOOLS[name].record_events(records, Pids(helper_pid(records))))


def helper_pid(records: list[dict[str, Any]]) -> int:
    """lbtest's pid among the records: the parent of the others where records name a
    parent (exits, execs), else the first pid."""
    pids = {r.get("pid") for r in records}
    for r in records:
        if r.get("ppid") in pids:
            return int(r["ppid"])
    return int(records[0]["pid"]) if records else -1


@pytest.mark.kernel
@pytest.mark.ptrace
@pytest.mark.needs_bpf_cc
@pytest.mark.parametrize("name", sorted(TOOLS))
def test_trace_run_matches_the_kernel(name: str, lbtest: Path, work: Path,
                                      objects: dict[str, Path]) -> None:
    kernel = statsnoop_in_kernel(objects[name], lbtest, work) if name == "statsnoop" \
        else kernel_events(name, lbtest, work)
    assert trace_run_events(name, objects[name], lbtest, work) == kernel


@pytest.mark.parametrize("name", ["bindsnoop"])
def test_no_comparison_for(name: str) -> None:
    """bindsnoop watches inet_bind/inet6_bind with kprobes: not a syscall, so trace-run
    refuses those attach points (test_programs.py checks the refusal)."""
    pytest.skip(f"{name}: attach points kprobe/inet_bind and kprobe/inet6_bind are kernel "
                "functions, not syscalls: trace-run refuses them, so there is nothing to "
                "compare (and v0.26.0's source does not build against a 6.6+ vmlinux.h)")
