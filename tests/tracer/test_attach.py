"""``trace-run --probe OBJ CMD`` runs every program of a libbpf object on its own events.

The objects (tests/tracer/bpfsrc/, built with ``bpf-vm build`` against the system's
libbpf headers) print what their contexts say; the command (csrc/attach_calls.c)
prints what its calls returned.  The printed lines must be what the command really did,
and, for the attach points the host kernel has (tracepoints, raw tracepoints, tp_btf:
this kernel has no kprobes), the same lines the host kernel prints for the same object
loaded by the system's libbpf.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpf_vm.cli import app
from tests import libbpf_host
from tests.tracer.conftest import run_cli

BPFSRC = Path(__file__).parent / "bpfsrc"
pytestmark = [pytest.mark.ptrace, pytest.mark.slow,
              pytest.mark.needs_uapi_headers("/usr/include/bpf/bpf_helpers.h",
                                             "/usr/include/linux/bpf.h")]
COMM = "attach_calls"


def built(tmp_path: Path, name: str) -> Path:
    out = tmp_path / f"{name}.o"
    res = CliRunner().invoke(app, ["build", str(BPFSRC / f"{name}.bpf.c"), "-o", str(out),
                                   "--no-cache"])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture
def command(tmp_path: Path, cprog: Callable[[str], Path]) -> list[str]:
    """attach_calls (under that name, which the programs filter on) with its paths:
    a file that exists, one whose directory does not, a directory to make."""
    exe = tmp_path / COMM
    shutil.copy(cprog("attach_calls"), exe)
    existing = tmp_path / "exists.txt"
    existing.write_text("x")
    return [str(exe), str(existing), str(tmp_path / "no-such-dir" / "f"),
            str(tmp_path / "made")]


def messages(text: str) -> list[str]:
    return libbpf_host.printk_messages(text.splitlines(), COMM)


def facts(stdout: str) -> dict[str, int]:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("fd="))
    out: dict[str, int] = {}
    for key, value in re.findall(r"(\w+)=(-?\d+)", line):
        out[key if key not in out else f"{key}2"] = int(value)
    return out


def kernel_and_trace_run(tmp_path: Path, name: str, command: list[str]
                         ) -> tuple[list[str], list[str]]:
    """bpfsrc/NAME's trace_pipe messages for ``command``: loaded into the host kernel by
    the system's libbpf with the command run untraced, then under trace-run --probe
    (skips with the reason where the kernel cannot load it)."""
    reason = libbpf_host.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    obj = built(tmp_path, name)
    pipe = libbpf_host.TracePipe()
    try:
        with libbpf_host.loaded(obj):
            ran = subprocess.run(command, capture_output=True, text=True, check=False)
        kernel = libbpf_host.printk_messages(pipe.drain(), COMM)
    finally:
        pipe.close()
    assert ran.returncode == 0
    Path(command[3]).rmdir()
    res = trace(obj, command)
    assert res.returncode == 0, res.stderr
    return kernel, messages(res.stdout)


def trace(obj: Path, cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return run_cli("-o", "/dev/null", "--printk", "-", "--probe", str(obj), *cmd)


def test_tracepoints_raw_tracepoints_and_tp_btf_see_what_the_command_did(
        tmp_path: Path, command: list[str]) -> None:
    res = trace(built(tmp_path, "attach_tp"), command)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    f = facts(res.stdout)
    assert (f["bad"], f["errno"], f["mkdir"], f["write"]) == (-1, 2, 0, 6)
    _, existing, missing, made = command
    printed = next(ln for ln in res.stdout.splitlines() if ln.startswith("fd="))
    got = [m for m in messages(res.stdout) if "/lib" not in m and "ld.so" not in m]
    flags_ro, flags_creat = 0x80000, 0xC1      # O_RDONLY|O_CLOEXEC, O_WRONLY|O_CREAT|O_EXCL
    fd = f["fd"]
    # the loader's own openat calls are left out above; the exits of them are not
    # (the exit programs print no path), so compare from the command's first openat on
    first = next(i for i, m in enumerate(got) if existing in m)
    assert got[first:] == [
        f"tp enter openat nr=257 dfd=-100 path={existing}",
        f"tp enter openat flags={flags_ro:x} mode=0",
        f"raw_tp enter id=257 orig_ax=257 flags={flags_ro:x}",
        f"tp exit openat nr=257 ret={fd}",
        f"tp_btf exit orig_ax=257 ret={fd}",
        f"tp enter openat nr=257 dfd=-100 path={missing}",
        f"tp enter openat flags={flags_creat:x} mode={0o600:x}",
        f"raw_tp enter id=257 orig_ax=257 flags={flags_creat:x}",
        "tp exit openat nr=257 ret=-2",
        "tp_btf exit orig_ax=257 ret=-2",
        f"tp enter mkdirat path={made} mode={0o750:x}",
        f"tp_btf enter mkdirat path={made} mode={0o750:x}",
        "tp exit mkdirat ret=0",
        "tp_btf exit orig_ax=258 ret=0",
        "tp enter write fd=1 count=6",
        "raw_syscalls enter id=110",                # getppid
        "raw_syscalls exit id=110 ret>0=1",
        "raw_syscalls enter id=20",                 # i386 getpid: no syscalls/ tracepoint
        "raw_syscalls exit id=20 ret>0=1",
        f"tp enter write fd=1 count={len(printed) + 1}",    # the printf
    ]
    assert Path(made).is_dir()


@pytest.mark.kernel
def test_the_host_kernel_prints_the_same_lines(tmp_path: Path, command: list[str]) -> None:
    """The same object loaded into the host kernel by the system's libbpf, the same
    command run untraced: trace_pipe shows the same messages, in the same order."""
    kernel, ours = kernel_and_trace_run(tmp_path, "attach_tp", command)
    assert kernel and ours == kernel


def test_wrapper_kprobes_override_and_unprovided_programs(tmp_path: Path,
                                                          command: list[str]) -> None:
    """ksyscall/kretsyscall and kprobe/__x64_sys_* get the wrapper's pt_regs (the user
    registers behind di); bpf_override_return from the mkdirat wrapper fails mkdirat
    with EACCES (the sys_exit tracepoint still sees it); the programs trace-run cannot
    attach are reported once each, and the others run."""
    obj = built(tmp_path, "attach_kprobe")
    res = trace(obj, command)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == [
        "trace-run: attach_kprobe: program 'on_bind' (kprobe/inet_bind): attach point not "
        "provided: a kprobe on the kernel function 'inet_bind': trace-run provides only the "
        "syscall entry points (ksyscall/NAME, kprobe/__x64_sys_NAME, kprobe/__seccomp_filter,"
        " kprobe/syscall_entry)",
        "trace-run: attach_kprobe: program 'on_switch' (tp_btf/sched_switch): attach point "
        "not provided: tp_btf sched_switch: only the sys_enter and sys_exit tracepoints are "
        "provided"]
    f = facts(res.stdout)
    assert (f["mkdir"], f["errno2"]) == (-1, 13)
    _, existing, missing, made = command
    assert not Path(made).exists()
    got = messages(res.stdout)
    first = next(i for i, m in enumerate(got) if existing in m)
    assert got[first:first + 7] == [
        f"ksyscall openat path={existing} flags=80000",
        f"kretsyscall openat ret={f['fd']}",
        f"ksyscall openat path={missing} flags=c1",
        "kretsyscall openat ret=-2",
        f"kprobe mkdirat path={made} mode={0o750:x}",
        "tp exit mkdirat ret=-13",
        "kretprobe write ret=6",
    ]


def test_seccomp_filter_kprobe_dispatches_into_numbered_slots(tmp_path: Path,
                                                              command: list[str]) -> None:
    """tracex5's shape: kprobe/__seccomp_filter at every call (i386 ones too, with their
    own number and arch), kprobe/<N> programs as prog-array slots reading the
    seccomp_data behind si."""
    res = trace(built(tmp_path, "attach_seccomp"), command)
    assert res.returncode == 0, res.stderr
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("fd="))
    assert messages(res.stdout) == [
        "write(fd=1, size=6) nr=1",
        "nr 20 arch=40000003 recheck=0",           # int 0x80 getpid: AUDIT_ARCH_I386
        f"write(fd=1, size={len(line) + 1}) nr=1",
    ]


def test_an_object_with_nothing_to_attach_is_one_error(tmp_path: Path) -> None:
    src = tmp_path / "none.bpf.c"
    src.write_text('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
                   'SEC("fentry/do_unlinkat") int f(void *ctx) { return 0; }\n'
                   'SEC("xdp") int g(void *ctx) { return 2; }\n'
                   'char LICENSE[] SEC("license") = "GPL";\n')
    out = tmp_path / "none.o"
    assert CliRunner().invoke(app, ["build", str(src), "-o", str(out)]).exit_code == 0
    marker = tmp_path / "ran"
    res = run_cli("--probe", str(out), "touch", str(marker))
    assert res.returncode == 2
    assert not marker.exists()
    assert res.stderr.splitlines() == [
        "trace-run: none: no program attaches to an event trace-run provides (0 tail-call "
        "targets; 'f' (fentry/do_unlinkat): fentry/fexit attach to a kernel function's BTF "
        "entry and exit, and trace-run runs no kernel functions; 'g' (xdp): a networking "
        "program (packets, sockets, cgroups) has no event at a syscall)"]


def test_bpf_ksyscall_reads_the_arguments_behind_the_wrapper(tmp_path: Path,
                                                             command: list[str]) -> None:
    res = trace(built(tmp_path, "attach_ksyscall"), command)
    if res.returncode != 0 and "LINUX_HAS_SYSCALL_WRAPPER" in res.stderr:
        pytest.skip(f"Kconfig externs are not resolved here: {res.stderr.strip()}")
    assert res.returncode == 0, res.stderr
    _, existing, missing, _ = command
    got = [m for m in messages(res.stdout) if "/lib" not in m and "ld.so" not in m]
    first = next(i for i, m in enumerate(got) if existing in m)
    assert got[first:first + 4] == [
        f"BPF_KSYSCALL openat dfd=-100 path={existing}",
        f"BPF_KSYSCALL openat flags={0x80000:x} mode=0",
        f"BPF_KSYSCALL openat dfd=-100 path={missing}",
        f"BPF_KSYSCALL openat flags={0xC1:x} mode={0o600:x}",
    ]


def test_perf_event_records_reach_the_printk_sink(tmp_path: Path, command: list[str]) -> None:
    """trace-run reads the tool's perf event array as its perf_buffer would: every CPU
    slot open, so bpf_perf_event_output succeeds and its record is printed."""
    import struct
    res = trace(built(tmp_path, "attach_perf"), command)
    assert res.returncode == 0, res.stderr
    assert messages(res.stdout) == ["perf_event_output returned 0"]
    record = struct.pack("<qii", 0, 258, 0).hex()      # mkdirat returned 0
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("perf events cpu 0: ")]
    # as hex, or decoded through the object's BTF (struct event) where trace-run does
    assert lines in ([f"perf events cpu 0: {record}"], ["perf events cpu 0: ret=0 nr=258 out=0"])


def test_the_dispatcher_decides_among_the_attached_programs(tmp_path: Path,
                                                           command: list[str]) -> None:
    res = trace(built(tmp_path, "attach_mixed"), command)
    assert res.returncode == 0, res.stderr
    f = facts(res.stdout)
    assert (f["mkdir"], f["errno2"]) == (-1, 1)             # EPERM, from the dispatcher
    assert f["i386_getpid"] == -38                          # no i386 dispatcher: ENOSYS
    assert not Path(command[3]).exists()
    assert messages(res.stdout) == ["raw_tp enter mkdirat", "tp exit mkdirat ret=-1"]


SCHED_LINES = [
    "exec same_pid=1",
    "exec filename={exe}",
    "fork attach_calls -> attach_calls child>parent=1",
    "exit comm=attach_calls prio=120",
    "exit code=700 pid_is_current=1",            # the child's _exit(7): 7 << 8
    "exit comm=attach_calls prio=120",
    "exit code=0 pid_is_current=1",
]


def test_sched_process_tracepoints_at_exec_fork_and_exit(tmp_path: Path,
                                                         command: list[str]) -> None:
    res = trace(built(tmp_path, "attach_sched"), command)
    assert res.returncode == 0, res.stderr
    assert facts(res.stdout)["child_status"] == 7
    assert messages(res.stdout) == [m.format(exe=command[0]) for m in SCHED_LINES]


@pytest.mark.kernel
def test_sched_process_tracepoints_as_the_host_kernel_prints_them(
        tmp_path: Path, command: list[str]) -> None:
    kernel, ours = kernel_and_trace_run(tmp_path, "attach_sched", command)
    assert kernel == [m.format(exe=command[0]) for m in SCHED_LINES]
    assert ours == kernel
