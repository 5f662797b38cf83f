"""The emulated task_struct behind bpf_get_current_task (bpf_vm.kernel_task): a libbpf C
program built with ``bpf-vm build`` reads its own task with BPF_CORE_READ and with plain
probe reads; the VM's answers are compared with /proc and os truth for this process, a
thread of it and a child, and with the host kernel running the same object."""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpf_vm.cli import app
from bpf_vm.core_match import fallback_btf_path
from bpf_vm.elf import load_object
from bpf_vm.host import ProcessHost, proc_task_facts
from bpf_vm.kernel_task import set_exit_code, task_handle
from bpf_vm.vm import Vm
from tests import libbpf_skel

HEADERS = pytest.mark.needs_uapi_headers("/usr/include/linux/bpf.h",
                                         "/usr/include/bpf/bpf_core_read.h")
pytestmark = [pytest.mark.needs_bpf_cc, HEADERS]

TASK_SRC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#define PAI __attribute__((preserve_access_index))

typedef struct { unsigned int val; } kuid_t;
typedef struct { unsigned int val; } kgid_t;
struct ns_common { unsigned int inum; } PAI;
struct pid_namespace { struct ns_common ns; unsigned int level; } PAI;
struct mnt_namespace { struct ns_common ns; } PAI;
struct nsproxy { struct pid_namespace *pid_ns_for_children; struct mnt_namespace *mnt_ns; } PAI;
struct cred { kuid_t uid, gid, suid, sgid, euid, egid, fsuid, fsgid; } PAI;
struct upid { int nr; struct pid_namespace *ns; } PAI;
struct pid { unsigned int level; struct upid numbers[1]; } PAI;
struct task_struct {
  int pid, tgid; char comm[16]; unsigned int flags;
  struct task_struct *real_parent, *parent, *group_leader;
  const struct cred *cred, *real_cred; struct nsproxy *nsproxy; struct pid *thread_pid;
  unsigned long long start_time, start_boottime; int exit_code, exit_signal;
} PAI;

struct out {
  int pid, tgid, ppid, parent_pid, leader_pid, leader_tgid, pid2, tgid2;
  unsigned int ids[8], real_ids[8];
  unsigned int pidns, mntns, pidns_level, flags;
  int exit_code, exit_signal;
  unsigned long long start_time, start_boottime;
  char comm[16], pcomm[16], lcomm[16], comm2[16];
  long null_rc; unsigned long long null_val;
  unsigned int tp_level; int tp_nr; unsigned int tp_ns_inum;
} out;

SEC("syscall")
int probe(void *ctx)
{
  struct task_struct *t = (void *)bpf_get_current_task();
  const struct cred *c, *rc;
  struct pid *tp;
  struct upid up;
  out.pid = BPF_CORE_READ(t, pid);
  out.tgid = BPF_CORE_READ(t, tgid);
  out.ppid = BPF_CORE_READ(t, real_parent, tgid);
  out.parent_pid = BPF_CORE_READ(t, parent, pid);
  out.leader_pid = BPF_CORE_READ(t, group_leader, pid);
  out.leader_tgid = BPF_CORE_READ(t, group_leader, tgid);
  /* plain probe reads at CO-RE-relocated offsets */
  bpf_probe_read_kernel(&out.pid2, 4, &t->pid);
  bpf_probe_read_kernel(&out.tgid2, 4, &t->tgid);
  bpf_probe_read_kernel_str(out.comm2, sizeof(out.comm2), t->comm);
  BPF_CORE_READ_STR_INTO(&out.comm, t, comm);
  BPF_CORE_READ_STR_INTO(&out.pcomm, t, real_parent, comm);
  BPF_CORE_READ_STR_INTO(&out.lcomm, t, group_leader, comm);
  c = BPF_CORE_READ(t, cred);
  rc = BPF_CORE_READ(t, real_cred);
#define IDS(dst, p) \
  dst[0] = BPF_CORE_READ(p, uid.val);   dst[1] = BPF_CORE_READ(p, euid.val); \
  dst[2] = BPF_CORE_READ(p, suid.val);  dst[3] = BPF_CORE_READ(p, fsuid.val); \
  dst[4] = BPF_CORE_READ(p, gid.val);   dst[5] = BPF_CORE_READ(p, egid.val); \
  dst[6] = BPF_CORE_READ(p, sgid.val);  dst[7] = BPF_CORE_READ(p, fsgid.val);
  IDS(out.ids, c)
  IDS(out.real_ids, rc)
  out.pidns = BPF_CORE_READ(t, nsproxy, pid_ns_for_children, ns.inum);
  out.pidns_level = BPF_CORE_READ(t, nsproxy, pid_ns_for_children, level);
  out.mntns = BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
  out.flags = BPF_CORE_READ(t, flags);
  out.exit_code = BPF_CORE_READ(t, exit_code);
  out.exit_signal = BPF_CORE_READ(t, exit_signal);
  out.start_time = BPF_CORE_READ(t, start_time);
  out.start_boottime = BPF_CORE_READ(t, start_boottime);
  /* the id in the task's own pid namespace, as pid_nr_ns() finds it */
  tp = BPF_CORE_READ(t, thread_pid);
  out.tp_level = BPF_CORE_READ(tp, level);
  bpf_probe_read_kernel(&up, sizeof(up), &tp->numbers[out.tp_level & 7]);
  out.tp_nr = up.nr;
  out.tp_ns_inum = BPF_CORE_READ(up.ns, ns.inum);
  out.null_val = 0x5555;
  out.null_rc = bpf_probe_read_kernel(&out.null_val, 8, (void *)16);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""

OUT = struct.Struct("<8i8I8I4I2i2Q16s16s16s16sqQIiI")
NAMES = ("pid", "tgid", "ppid", "parent_pid", "leader_pid", "leader_tgid", "pid2", "tgid2",
         "ids", "real_ids", "pidns", "mntns", "pidns_level", "flags", "exit_code",
         "exit_signal", "start_time", "start_boottime", "comm", "pcomm", "lcomm", "comm2",
         "null_rc", "null_val", "tp_level", "tp_nr", "tp_ns_inum")


def decode(raw: bytes) -> dict[str, object]:
    v = list(OUT.unpack(raw[:OUT.size]))
    vals: list[object] = [*v[:8], tuple(v[8:16]), tuple(v[16:24]), *v[24:]]
    out = dict(zip(NAMES, vals, strict=True))
    for k in ("comm", "pcomm", "lcomm", "comm2"):
        text = out[k]
        assert isinstance(text, bytes)
        out[k] = text.split(b"\0")[0]
    return out


@pytest.fixture(scope="module", name="task_obj")
def task_obj_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ktask")
    src = d / "task.bpf.c"
    src.write_text(TASK_SRC)
    res = CliRunner().invoke(app, ["build", str(src), "-o", str(d / "task.o"), "--no-cache"])
    assert res.exit_code == 0, res.output
    return d / "task.o"


class PidHost(ProcessHost):
    """The current task is process or thread ``pid`` of this machine."""

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid

    def proc_pid(self) -> int:
        return self.pid

    def pid_tgid(self) -> tuple[int, int]:
        f = self.task_facts()
        return f.tgid, f.tid


def vm_run(path: Path, host: ProcessHost, vm: Vm | None = None) -> dict[str, object]:
    vm = vm or Vm(host=host)
    obj = load_object(path, vm)
    assert vm.run(obj.programs["probe"], bytes(8)).r0 == 0
    return decode(bytes(obj.maps[".bss"].lookup(0)))


def comm(pid: int | str) -> bytes:
    return Path(f"/proc/{pid}/comm").read_bytes().rstrip(b"\n")


def proc_ids(pid: int | str) -> tuple[int, ...]:
    """(uid, euid, suid, fsuid, gid, egid, sgid, fsgid) from /proc/PID/status."""
    lines = dict(ln.split(":", 1) for ln in Path(f"/proc/{pid}/status").read_text()
                 .splitlines())
    return tuple(int(x) for x in lines["Uid"].split()) + \
        tuple(int(x) for x in lines["Gid"].split())


def starttime_ns(pid: int | str) -> int:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return int(raw[raw.rindex(")") + 2:].split()[19]) * 10**9 // os.sysconf("SC_CLK_TCK")


def check_against_proc(got: dict[str, object], pid: int | str, tid: int, tgid: int,
                       ppid: int, exit_signal: int = 17) -> None:
    assert (got["pid"], got["tgid"], got["pid2"], got["tgid2"]) == (tid, tgid, tid, tgid)
    assert (got["ppid"], got["parent_pid"]) == (ppid, ppid)
    assert (got["leader_pid"], got["leader_tgid"]) == (tgid, tgid)
    assert got["comm"] == got["comm2"] == comm(pid)
    assert got["pcomm"] == comm(ppid)
    assert got["lcomm"] == comm(tgid)
    assert got["ids"] == got["real_ids"] == proc_ids(pid)
    assert got["pidns"] == os.stat(f"/proc/{pid}/ns/pid_for_children").st_ino
    assert got["mntns"] == os.stat(f"/proc/{pid}/ns/mnt").st_ino
    assert got["start_boottime"] == starttime_ns(pid)
    nspid = next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
                 if ln.startswith("NSpid:")).split()[1:]
    assert (got["tp_level"], got["tp_nr"]) == (len(nspid) - 1, int(nspid[-1]))
    assert got["tp_ns_inum"] == os.stat(f"/proc/{pid}/ns/pid").st_ino
    assert (got["exit_code"], got["exit_signal"]) == (0, exit_signal)   # running
    # through NULL (every pointer not emulated) and past the objects: fails, zeroed
    assert got["null_rc"] != 0 and got["null_val"] == 0


def test_this_process(task_obj: Path) -> None:
    got = vm_run(task_obj, ProcessHost())
    check_against_proc(got, "self", os.getpid(), os.getpid(), os.getppid())
    assert got["pidns_level"] == 0 or Path("/proc/self/status").read_text().count(
        "NSpid") == 1


def test_shipped_subset_btf(task_obj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without /sys/kernel/btf/vmlinux: the shipped subset lays out every field."""
    monkeypatch.setenv("BPF_VM_TARGET_BTF", str(fallback_btf_path()))
    got = vm_run(task_obj, ProcessHost())
    check_against_proc(got, "self", os.getpid(), os.getpid(), os.getppid())


def test_a_thread_and_its_leader(task_obj: Path) -> None:
    """A named thread: its own pid and comm, the leader's pid, tgid and comm."""
    ready, done = threading.Event(), threading.Event()
    tid: list[int] = []

    def body() -> None:
        libc = ctypes.CDLL(None)
        libc.prctl(15, b"ktask-thread", 0, 0, 0)     # PR_SET_NAME
        tid.append(threading.get_native_id())
        ready.set()
        done.wait()

    t = threading.Thread(target=body)
    t.start()
    try:
        ready.wait()
        got = vm_run(task_obj, PidHost(tid[0]))
        check_against_proc(got, tid[0], tid[0], os.getpid(), os.getppid(), exit_signal=-1)
        assert got["comm"] == b"ktask-thread" != got["lcomm"]
    finally:
        done.set()
        t.join()


#: waits for a line, renames itself, says so, waits for EOF
CHILD = ("import ctypes, sys; sys.stdin.readline();"
         " ctypes.CDLL(None).prctl(15, b'renamed-child', 0, 0, 0);"
         " print('ok', flush=True); sys.stdin.read()")


@pytest.fixture(name="child")
def child_fixture() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait()


def test_a_child_and_a_renamed_task(task_obj: Path, child: subprocess.Popen[bytes]) -> None:
    """A child process (its parent is this process), then the same task renamed: the
    cached facts are read again when /proc's stamp changes."""
    host = PidHost(child.pid)
    vm = Vm(host=host)
    got = vm_run(task_obj, host, vm)
    check_against_proc(got, child.pid, child.pid, child.pid, os.getpid())
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(b"go\n")
    child.stdin.flush()
    assert child.stdout.readline() == b"ok\n"
    got = vm_run(task_obj, host, vm)
    assert got["comm"] == b"renamed-child"
    set_exit_code(vm.kernel_mem, child.pid, 3 << 8)
    assert vm_run(task_obj, host, vm)["exit_code"] == 3 << 8


@pytest.mark.kernel
def test_same_answers_as_the_kernel(task_obj: Path) -> None:
    """The object loaded by libbpf into the host kernel and test-run in this thread
    reads this thread's real task_struct; the VM's emulated one must read the same."""
    if (why := libbpf_skel.unavailable_reason()) is not None:
        pytest.skip(why)
    _rc, maps = libbpf_skel.run_syscall_prog(task_obj, "probe")
    kern = decode(maps[".bss"])
    ours = vm_run(task_obj, ProcessHost())       # after the kernel's: same PF_ flags
    tick = 10**9 // os.sysconf("SC_CLK_TCK")
    for key in ("start_time", "start_boottime"):  # /proc says it in clock ticks
        assert abs(int(kern[key]) // tick * tick - int(ours[key])) <= tick, key  # type: ignore[call-overload]
        kern.pop(key), ours.pop(key)
    # a read through NULL: -ERANGE (copy_from_kernel_nofault refuses user addresses),
    # the destination zeroed, here as in the kernel
    assert kern.pop("null_val") == ours.pop("null_val") == 0
    assert ours == kern


def test_facts_cost_is_cached() -> None:
    """The stamp cache returns the same facts object while /proc's stamp holds."""
    cache: dict[int | str, object] = {}
    a = proc_task_facts("self", cache)  # type: ignore[arg-type]
    assert a is not None and a is proc_task_facts("self", cache)  # type: ignore[arg-type]
    assert task_handle(a.tid) == task_handle(a.tid & 0x3FFFFF)


def test_a_task_in_a_child_pid_namespace(task_obj: Path) -> None:
    """A process in a new pid namespace (unshare --pid --fork): thread_pid's level 1
    and its id there (1), its namespace's inum, pid_namespace.level 1."""
    proc = subprocess.Popen(["unshare", "--pid", "--fork", sys.executable, "-c",
                             "import sys; print('up', flush=True); sys.stdin.read()"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        if proc.stdout.readline() != b"up\n":
            assert proc.stderr is not None
            pytest.skip(f"unshare --pid refused: {proc.stderr.read().decode().strip()}")
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        inner = int(children[0])
        got = vm_run(task_obj, PidHost(inner))
        check_against_proc(got, inner, inner, inner, proc.pid)
        assert (got["tp_level"], got["tp_nr"], got["pidns_level"]) == (1, 1, 1)
    finally:
        proc.stdin.close()
        proc.wait()
