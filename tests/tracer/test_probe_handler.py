"""The BPF probe decides about real processes: the default tracex5-style probe, a probe
whose bpf_override_return fails mkdir with EACCES, one that kills with bpf_send_signal,
one that faults, and the ABI rule for i386 syscalls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tracer.conftest import run_cli

PROBES = Path(__file__).parent / "probes"


def _json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_seccomp_return_kills_as_seccomp(tmp_path: Path) -> None:
    """bpf_seccomp_return(SECCOMP_RET_KILL_PROCESS): the kernel's seccomp kills (SIGSYS),
    where bpf_send_signal(SIGKILL) above is a SIGKILL."""
    target = tmp_path / "d3"
    log = tmp_path / "log.json"
    res = run_cli("--probe", str(PROBES / "seccomp_kill_mkdir.s"), "--json", str(log),
                  "-o", "/dev/null", "mkdir", str(target))
    assert res.returncode in (-31, 128 + 31), res.stderr
    assert not target.exists()
    records = _json_lines(log)
    assert any(r.get("event") == "exit" and r.get("signal") == "SIGSYS" for r in records)


@pytest.mark.slow
@pytest.mark.ptrace
def test_default_probe_reports_through_printk_and_ringbuf(tmp_path: Path) -> None:
    pk = tmp_path / "printk.txt"
    res = run_cli("--printk", str(pk), "-o", str(tmp_path / "log"), "cat", "/etc/hostname")
    assert res.returncode == 0, res.stderr
    text = pk.read_text()
    lines = [line for line in text.splitlines() if "bpf_trace_printk:" in line]
    assert any('openat(-100, "/etc/hostname", 0x0)' in line for line in lines), text[:2000]
    assert any(line.split()[0].startswith("cat-") for line in lines)
    # trace_pipe's layout: comm-pid, [cpu], flags, timestamp
    first = lines[-1].split()
    assert first[1] == "[000]" and first[2] == "d..31" and first[3].endswith(":")
    assert "ringbuf events:" in text


@pytest.mark.slow
@pytest.mark.ptrace
def test_override_return_denies_mkdir(tmp_path: Path) -> None:
    target = tmp_path / "d1"
    log = tmp_path / "log.json"
    res = run_cli("--probe", str(PROBES / "deny_mkdir.s"), "--json", str(log),
                  "-o", str(tmp_path / "lines"), "mkdir", str(target))
    assert res.returncode == 1
    assert "Permission denied" in res.stderr
    assert not target.exists()
    denied = [r for r in _json_lines(log) if r.get("name") in ("mkdir", "mkdirat")]
    assert denied and denied[0]["action"] == "deny" and denied[0]["errno"] == 13
    assert denied[0]["ret"] == -13
    assert "(DENIED)" in (tmp_path / "lines").read_text()


@pytest.mark.slow
@pytest.mark.ptrace
def test_send_signal_kills_before_the_syscall_runs(tmp_path: Path) -> None:
    target = tmp_path / "d2"
    log = tmp_path / "log.json"
    res = run_cli("--probe", str(PROBES / "kill_mkdir.s"), "--json", str(log),
                  "-o", "/dev/null", "mkdir", str(target))
    assert res.returncode == 128 + 9
    assert not target.exists()
    records = _json_lines(log)
    assert any(r.get("name") in ("mkdir", "mkdirat") and r["action"] == "kill"
               for r in records)
    assert any(r.get("event") == "exit" and r.get("signal") in ("SIGKILL", 9)
               for r in records)


@pytest.mark.slow
@pytest.mark.ptrace
def test_probe_fault_is_reported_and_the_command_unharmed(tmp_path: Path) -> None:
    # the verifier refuses this probe at load (tests/tracer/test_verify_at_load.py);
    # --no-verify leaves it to the VM's run-time checks
    res = run_cli("--no-verify", "--probe", str(PROBES / "faulty.s"), "-o", "/dev/null",
                  "sh", "-c", "echo unharmed")
    assert res.returncode == 0
    assert res.stdout == "unharmed\n"
    first = next(line for line in res.stderr.splitlines() if "probe fault" in line)
    assert "invalid read of 8 bytes" in first and "[r0 = *(u64 *)(r1 + 0xa8)]" in first
    assert "Traceback" not in res.stderr


@pytest.mark.slow
@pytest.mark.ptrace
def test_probe_build_error_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.s"
    bad.write_text(".prog p kprobe/x\n  r0 = r11\n  exit\n")
    res = run_cli("--probe", str(bad), "true")
    assert res.returncode != 0
    assert "bad.s:2" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
@pytest.mark.ptrace
def test_dump_maps_at_exit(tmp_path: Path) -> None:
    res = run_cli("--dump-maps", "-o", "/dev/null", "true")
    assert res.returncode == 0
    start = res.stderr.index("{")
    maps = json.loads(res.stderr[start:])
    assert maps.get("unhandled"), maps.keys()


@pytest.mark.slow
@pytest.mark.ptrace
def test_i386_syscalls_are_refused_without_an_i386_entry(tmp_path: Path, cprog) -> None:  # type: ignore[no-untyped-def]
    """A probe with only an x86_64 entry: i386 getpid (20) is refused with ENOSYS,
    never run through the x86_64 table where 20 is writev.  (The bundled probe has
    i386 and x32 entries: tests/tracer/test_probe_abis.py.)"""
    probe = tmp_path / "x86_64_only.s"
    probe.write_text(
        ".map progs prog_array key=4 value=4 max_entries=512\n"
        ".prog dispatch kprobe/syscall_entry\n"
        "        r3 = *(u64 *)(r1 + 0x78)\n"
        "        r2 = map[progs] ll\n"
        "        call bpf_tail_call\n"
        "        w0 = 0x0\n"
        "        exit\n")
    log = tmp_path / "log.json"
    res = run_cli("--probe", str(probe), "--json", str(log), "-o", "/dev/null",
                  str(cprog("abis")))
    records = [r for r in _json_lines(log) if r.get("abi") == "i386"]
    assert [(r["name"], r["nr"]) for r in records] == [("getpid", 20)]
    assert records[0]["action"] == "refused" and records[0]["errno"] == 38
    assert "i386_getpid=-38" in res.stdout
    assert res.returncode == 1     # the program checks that int 0x80 getpid worked


def test_printk_lines_are_built_only_for_a_consumer() -> None:
    """Without --printk nobody reads the lines, so the helpers skip building them; a
    sink, or the policy handler's host (which reads them), gets them."""
    import io

    from tracer.policy.handler import PolicyHost
    from tracer.probe_handler import TraceeHost

    assert not TraceeHost().printk_enabled
    assert TraceeHost(io.StringIO()).printk_enabled
    assert PolicyHost().printk_enabled


@pytest.mark.slow
@pytest.mark.ptrace
def test_a_refused_tail_call_target_stops_trace_run_before_the_command(tmp_path: Path) -> None:
    """Every program is verified at load, as BPF_PROG_LOAD verifies each: a per-syscall
    program the verifier refuses (a GPL-only helper from a non-GPL object) is one error
    naming it (then the verifier log's end) before CMD runs, not a surprise at its first
    tail call."""
    probe = tmp_path / "proprietary.s"
    probe.write_text(
        '.license "Proprietary"\n'
        ".map progs prog_array key=4 value=4 max_entries=512\n"
        ".prog dispatch kprobe/syscall_entry\n"
        "        r3 = *(u64 *)(r1 + 0x78)\n"
        "        r2 = map[progs] ll\n"
        "        call bpf_tail_call\n"
        "        w0 = 0x0\n"
        "        exit\n"
        ".prog sys_getpid ksyscall/getpid\n"
        "        call bpf_probe_read_user\n"   # gpl_only: refused at load
        "        w0 = 0x0\n"
        "        exit\n")
    marker = tmp_path / "ran"
    res = run_cli("--probe", str(probe), "-o", "/dev/null", "touch", str(marker))
    assert res.returncode == 2
    assert not marker.exists()
    first = res.stderr.splitlines()[0]
    assert first == ("trace-run: proprietary: prog 'sys_getpid': verifier refused the "
                     "program: cannot call GPL-restricted function from non-GPL compatible"
                     " program"), res.stderr
    assert "Traceback" not in res.stderr


def test_printk_sink_keeps_the_programs_order() -> None:
    """--printk shows printk lines and ring-buffer/perf records in the order the program
    produced them, whatever their kinds."""
    import io

    from bpf_vm.effects import Effects, PerfRecord, PrintkLine, RingbufRecord
    from tracer.probe_handler import TraceeHost

    eff = Effects()
    eff.output += [RingbufRecord("rb", b"\x01"), PrintkLine("line"),
                   PerfRecord("ev", 0, b"\x02"), PrintkLine("last")]
    sink = io.StringIO()
    TraceeHost(sink).write(eff)
    assert sink.getvalue() == "ringbuf rb: 01\nline\nperf ev cpu 0: 02\nlast\n"
