"""The kernel's syscall contexts (bpf_vm.attach_ctx) and the attach plan (probes.attach):
record layouts checked against the host's tracefs ``format`` files and event ids, the
SYSCALL_DEFINE names of the syscall tracepoints against the host's events, which
sections attach where (and why the others cannot), ``bpf-vm run``'s context by section,
and our ``bpf/bpf_tracing.h`` against the system's on a syscall wrapper's context."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpf_vm import Vm
from bpf_vm import attach_ctx as ac
from bpf_vm.cli import app
from bpf_vm.elf import load_object
from bpf_vm.host import FakeHost
from bpf_vm.kernel_mem import KernelMemory
from bpf_vm.objrun import load_any, pt_regs
from probes import DEFAULT_PROBE
from probes import build as probe_build
from probes.abi import X32_SYSCALL_BIT, Abi, syscall_number, syscalls, x86_64_syscall_number
from probes.abi._generated_tracepoints import SYSCALL_TRACEPOINTS
from probes.attach import TRACEPOINT_NAMES, event_id, plan, table_name, tracepoint_name
from tests.libbpf_host import TRACEFS, mount_tracefs

BPFSRC = Path(__file__).parent / "tracer" / "bpfsrc"
SYSTEM_LIBBPF = pytest.mark.needs_uapi_headers("/usr/include/bpf/bpf_helpers.h",
                                               "/usr/include/linux/bpf.h")
_FIELD = re.compile(r"field:(?P<decl>[^;]*);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);"
                    r"\s*signed:(?P<signed>\d)")


@pytest.fixture(scope="module")
def tracefs() -> Iterator[Path]:
    reason = mount_tracefs()
    if reason is not None:
        pytest.skip(reason)
    yield TRACEFS


def fields(fmt: str) -> dict[str, tuple[int, int, bool]]:
    """A tracefs format file's fields: name -> (offset, size, signed)."""
    out = {}
    for m in _FIELD.finditer(fmt):
        name = m["decl"].split()[-1].lstrip("*")
        name = name.split("[")[0]
        out[name] = (int(m["off"]), int(m["size"]), m["signed"] == "1")
    return out


def read_field(rec: bytes, off: int, size: int, signed: bool) -> int:
    return int.from_bytes(rec[off:off + size], "little", signed=signed)


# -- layouts against tracefs ---------------------------------------------------------------

def test_syscall_enter_records_match_every_format_file(tracefs: Path) -> None:
    """Every syscalls/sys_enter_* record: the header, __syscall_nr and each argument at
    the format's offsets, as long as the format says, with its id as common_type."""
    checked = 0
    for d in sorted((tracefs / "events" / "syscalls").glob("sys_enter_*")):
        f = fields((d / "format").read_text())
        name = d.name[len("sys_enter_"):]
        args = [n for n in f if not n.startswith("common_") and n != "__syscall_nr"]
        assert SYSCALL_TRACEPOINTS[name] == len(args), name
        values = [0x1111_0000_0000_0000 + i for i in range(len(args))]
        eid = int((d / "id").read_text())
        rec = ac.syscall_enter_record(eid, 4242, 257, values)
        extent = max(o + s for o, s, _ in f.values())    # sizeof, 8-byte aligned
        assert len(rec) == (extent + 7) // 8 * 8
        assert read_field(rec, *f["common_type"]) == eid
        assert read_field(rec, *f["common_pid"]) == 4242
        assert read_field(rec, *f["__syscall_nr"]) == 257
        for arg, v in zip(args, values, strict=True):
            off, size, _ = f[arg]
            assert size == 8 and read_field(rec, off, 8, False) == v, (name, arg)
        assert event_id("syscalls", d.name) == eid
        checked += 1
    assert checked == len(SYSCALL_TRACEPOINTS)


@pytest.mark.parametrize(("event", "build"), [
    ("syscalls/sys_exit_openat", lambda eid: ac.syscall_exit_record(eid, 7, 257, -2)),
    ("raw_syscalls/sys_exit", lambda eid: ac.raw_syscalls_exit_record(eid, 7, 257, -2)),
])
def test_exit_records_match_the_format(tracefs: Path, event: str, build) -> None:  # type: ignore[no-untyped-def]
    d = tracefs / "events" / event
    f = fields((d / "format").read_text())
    eid = int((d / "id").read_text())
    rec = build(eid)
    assert len(rec) == max(o + s for o, s, _ in f.values())
    assert read_field(rec, *f["common_type"]) == eid
    nr_field = "__syscall_nr" if "__syscall_nr" in f else "id"
    assert read_field(rec, *f[nr_field]) == 257
    assert read_field(rec, *f["ret"]) == -2


def test_raw_syscalls_enter_matches_the_format(tracefs: Path) -> None:
    d = tracefs / "events" / "raw_syscalls" / "sys_enter"
    f = fields((d / "format").read_text())
    assert f["args"] == (16, 48, False)
    rec = ac.raw_syscalls_enter_record(int((d / "id").read_text()), 1, 20, [1, 2, 3, 4, 5, 6])
    assert len(rec) == 64
    assert read_field(rec, *f["id"]) == 20
    assert struct.unpack_from("<6Q", rec, 16) == (1, 2, 3, 4, 5, 6)
    assert event_id("raw_syscalls", "sys_enter") == int((d / "id").read_text())


def _data_loc_str(rec: bytes, f: dict[str, tuple[int, int, bool]], name: str) -> bytes:
    loc = read_field(rec, *f[name])
    off, size = loc & 0xFFFF, loc >> 16
    return rec[off:off + size]


def test_sched_process_records_match_the_formats(tracefs: Path) -> None:
    events = tracefs / "events" / "sched"
    f = fields((events / "sched_process_exec" / "format").read_text())
    eid = int((events / "sched_process_exec" / "id").read_text())
    rec = ac.sched_process_exec_record(eid, 41, b"/bin/true", 40)
    assert read_field(rec, *f["common_type"]) == eid == event_id("sched", "sched_process_exec")
    assert (read_field(rec, *f["pid"]), read_field(rec, *f["old_pid"])) == (41, 40)
    assert _data_loc_str(rec, f, "filename") == b"/bin/true\0"
    f = fields((events / "sched_process_fork" / "format").read_text())
    rec = ac.sched_process_fork_record(7, b"sh", 41, b"sh", 42)
    assert (read_field(rec, *f["parent_pid"]), read_field(rec, *f["child_pid"])) == (41, 42)
    assert _data_loc_str(rec, f, "parent_comm") == _data_loc_str(rec, f, "child_comm") == b"sh\0"
    assert read_field(rec, *f["common_pid"]) == 41        # the fork runs in the parent
    f = fields((events / "sched_process_exit" / "format").read_text())
    rec = ac.sched_process_exit_record(7, 41, b"true", 120, True)
    assert len(rec) >= max(o + s for o, s, _ in f.values())
    assert rec[f["comm"][0]:f["comm"][0] + 16] == b"true".ljust(16, b"\0")
    assert (read_field(rec, *f["pid"]), read_field(rec, *f["prio"]),
            read_field(rec, *f["group_dead"])) == (41, 120, 1)


# -- tracepoint names ----------------------------------------------------------------------

def test_tracepoint_names_are_the_kernels(tracefs: Path) -> None:
    """Each x86_64 syscall's tracepoint name is the host's (stat -> newstat...), or the
    host has none for it under any name; every host syscall tracepoint names an x86_64
    syscall."""
    events = {d.name[len("sys_enter_"):]
              for d in (tracefs / "events" / "syscalls").glob("sys_enter_*")}
    available = (tracefs / "available_events").read_text().split()
    assert {e.split(":")[1][len("sys_enter_"):] for e in available
            if e.startswith("syscalls:sys_enter_")} == events
    assert set(SYSCALL_TRACEPOINTS) == events
    for name in syscalls(Abi.X86_64).values():
        tp = tracepoint_name(name)
        if tp not in events:   # not built into this kernel (CONFIG_MODULES...), or ni_syscall
            assert name not in events and f"new{name}" not in events, name
    for tp in events:
        assert x86_64_syscall_number(table_name(tp)) is not None, tp
    assert {tracepoint_name(n) for n in TRACEPOINT_NAMES} <= events


# -- contexts built from an event ----------------------------------------------------------

def _event(nr: int = 257, ret: int = 0) -> ac.SyscallEvent:
    regs = pt_regs({"orig_ax": nr, "di": 0xFFFFFF9C, "si": 0x1000, "dx": 0x80000,
                    "r10": 0o644, "ip": 0x401000})
    return ac.SyscallEvent(nr, [0xFFFFFF9C, 0x1000, 0x80000, 0o644, 0, 0], regs, ret, 99,
                           ip=0x401000)


def test_pointer_contexts_point_at_kernel_memory() -> None:
    kmem = KernelMemory()
    ev = _event(ret=5)
    raw = ac.build_ctx(ac.CtxKind.RAW_TP_ENTER, ev, kmem)
    addr, nr = struct.unpack("<QQ", raw)
    assert nr == 257 and kmem.read(addr, 168) == ev.regs
    raw_exit = ac.build_ctx(ac.CtxKind.RAW_TP_EXIT, ev, kmem)
    addr2, ret = struct.unpack("<QQ", raw_exit)
    assert addr2 == addr and ret == 5                  # one place, renewed at each event
    assert kmem.read(addr, 168) == ac.regs_with(ev.regs, ax=5)
    outer = ac.build_ctx(ac.CtxKind.WRAPPER_ENTER, ev, kmem)
    assert ac.regs_with(None, di=addr) == outer
    assert ac.build_ctx(ac.CtxKind.WRAPPER_EXIT, ev, kmem) == ac.regs_with(None, ax=5)
    sc = ac.build_ctx(ac.CtxKind.SECCOMP_FILTER, ev, kmem)
    di, si, dx = (struct.unpack_from("<Q", sc, 8 * i)[0] for i in (14, 13, 12))
    assert (di, dx) == (257, 0)
    nr_, arch, ip, *args = ac.SECCOMP_DATA.unpack(kmem.read(si, 64) or b"")
    assert (nr_, arch, ip, args) == (257, 0xC000003E, 0x401000, list(ev.args))


def test_sections_name_their_contexts() -> None:
    from bpf_vm.sections import section_info
    k = ac.CtxKind
    cases = {
        "kprobe/syscall_entry": (k.PT_REGS, None),
        "kretprobe/syscall_entry": (k.PT_REGS_EXIT, None),
        "ksyscall/openat": (k.WRAPPER_ENTER, "openat"),
        "kretsyscall/openat": (k.WRAPPER_EXIT, "openat"),
        "kprobe/__x64_sys_newstat": (k.WRAPPER_ENTER, "newstat"),
        "kretprobe/__x64_sys_write": (k.WRAPPER_EXIT, "write"),
        "tracepoint/syscalls/sys_enter_openat": (k.SYSCALL_TP_ENTER, "openat"),
        "tp/syscalls/sys_exit_openat": (k.SYSCALL_TP_EXIT, "openat"),
        "tracepoint/raw_syscalls/sys_enter": (k.RAW_SYSCALLS_ENTER, None),
        "tp/raw_syscalls/sys_exit": (k.RAW_SYSCALLS_EXIT, None),
        "raw_tracepoint/sys_enter": (k.RAW_TP_ENTER, None),
        "raw_tp/sys_exit": (k.RAW_TP_EXIT, None),
        "tp_btf/sys_enter": (k.RAW_TP_ENTER, None), "tp_btf/sys_exit": (k.RAW_TP_EXIT, None),
        "kprobe/__seccomp_filter": (k.SECCOMP_FILTER, None),
    }
    for section, (kind, name) in cases.items():
        assert ac.syscall_attach(section_info(section)) == ac.SyscallAttach(kind, name), section
    for section in ("kprobe/inet_bind", "tp_btf/sched_switch", "tracepoint/sched/sched_switch",
                    "fentry/do_unlinkat", "uprobe//bin/sh:main", "xdp",
                    "kretprobe/__seccomp_filter"):
        assert ac.syscall_attach(section_info(section)) is None, section


# -- the plan ------------------------------------------------------------------------------

def _built(tmp_path: Path, name: str) -> Path:
    out = tmp_path / f"{name}.o"
    res = CliRunner().invoke(app, ["build", str(BPFSRC / f"{name}.bpf.c"), "-o", str(out),
                                   "--no-cache"])
    assert res.exit_code == 0, res.output
    return out


@SYSTEM_LIBBPF
def test_plan_attaches_refuses_and_skips_tail_call_targets(tmp_path: Path) -> None:
    obj = load_any(_built(tmp_path, "attach_kprobe"), Vm(), syscall_number=x86_64_syscall_number)
    p = plan(obj)
    got = {a.program.name: (a.kind, set(a.abis), a.nrs) for a in p.attached}
    both = {Abi.X86_64, Abi.X32}     # x32 calls below 512 share the __x64_sys_ wrappers

    def nrs(nr: int) -> frozenset[int]:
        return frozenset({nr, X32_SYSCALL_BIT | nr})
    assert got == {
        "ks_openat": (ac.CtxKind.WRAPPER_ENTER, both, nrs(257)),
        "kret_openat": (ac.CtxKind.WRAPPER_EXIT, both, nrs(257)),
        "deny_mkdirat": (ac.CtxKind.WRAPPER_ENTER, both, nrs(258)),
        "kret_write": (ac.CtxKind.WRAPPER_EXIT, both, nrs(1)),
        "tp_exit_mkdirat": (ac.CtxKind.SYSCALL_TP_EXIT, {Abi.X86_64}, frozenset({258})),
    }
    assert {r.program: r.section for r in p.refused} == {
        "on_bind": "kprobe/inet_bind", "on_switch": "tp_btf/sched_switch"}
    assert "inet_bind" in p.refused[0].reason
    assert p.tail_calls == []
    obj = load_any(_built(tmp_path, "attach_seccomp"), Vm(), syscall_number=x86_64_syscall_number)
    p = plan(obj)
    assert [(a.program.name, a.kind, a.nrs) for a in p.attached] == [
        ("seccomp_dispatch", ac.CtxKind.SECCOMP_FILTER, None)]
    assert set(a.abis for a in p.attached) == {frozenset(Abi)}
    assert sorted(p.tail_calls) == ["sc_20", "sc_write"] and p.refused == []


def test_the_bundled_probe_is_three_dispatchers_and_its_tail_call_targets() -> None:
    obj = load_any(probe_build(DEFAULT_PROBE), Vm(), syscall_number=x86_64_syscall_number)
    p = plan(obj)
    assert p.refused == []
    assert [(a.program.name, a.kind, set(a.abis)) for a in p.attached] == [
        ("dispatch", ac.CtxKind.PT_REGS, {Abi.X86_64}),
        ("dispatch_i386", ac.CtxKind.PT_REGS, {Abi.I386}),
        ("dispatch_x32", ac.CtxKind.PT_REGS, {Abi.X32})]
    assert len(p.tail_calls) == len(obj.programs) - 3


def test_unknown_and_renamed_syscall_names_are_refused_with_the_kernels_name() -> None:
    from bpf_vm import Program
    from bpf_vm.insn import Insn
    from probes.attach import attach_point

    def prog(section: str) -> Program:
        return Program([Insn(0xB7, 0, 0, 0, 0), Insn(0x95, 0, 0, 0, 0)], name="p",
                       section=section)
    why = attach_point(prog("tracepoint/syscalls/sys_enter_stat"))
    assert isinstance(why, str) and "sys_enter_newstat" in why
    a = attach_point(prog("tracepoint/syscalls/sys_enter_newstat"))
    assert not isinstance(a, str) and a.nrs == {syscall_number(Abi.X86_64, "stat")}
    assert a.nargs == 2
    assert isinstance(attach_point(prog("ksyscall/no_such_call")), str)
    i386 = attach_point(prog("kprobe/__ia32_sys_getpid"))
    assert not isinstance(i386, str) and i386.abis == {Abi.I386} and i386.nrs == {20}
    x32 = attach_point(prog("kprobe/__x32_compat_sys_rt_sigaction"))
    assert not isinstance(x32, str) and x32.abis == {Abi.X32}
    assert x32.nrs == {X32_SYSCALL_BIT | 512}
    x64 = attach_point(prog("ksyscall/rt_sigaction"))     # x32's is its own, at 512
    assert not isinstance(x64, str) and x64.abis == {Abi.X86_64} and x64.nrs == {13}
    exits = attach_point(prog("tp/sched/sched_process_exit"))
    assert not isinstance(exits, str) and exits.process_event == "exit"
    assert not exits.fires(Abi.X86_64, 60)       # no syscall fires a process event
    for section in ("fentry/do_unlinkat", "uprobe//bin/true:main", "usdt/x:y:z", "perf_event",
                    "lsm/file_open", "xdp", "tc", "iter/task", "struct_ops/x",
                    "tracepoint/block/block_rq_issue", "raw_tp/sched_switch", "kprobe/12",
                    "tracepoint/sched/sched_switch"):
        assert isinstance(attach_point(prog(section)), str), section


# -- bpf-vm run: the context follows the section -------------------------------------------

@SYSTEM_LIBBPF
def test_bpf_vm_run_builds_each_sections_context(tmp_path: Path) -> None:
    """The attach_tp programs filter on the command's name: run them under a host whose
    comm is attach_calls, through run_program, as bpf-vm run does."""
    from bpf_vm.objrun import run_program
    src = _built(tmp_path, "attach_tp")
    vm = Vm(host=FakeHost(comm=b"attach_calls", user_mem={0x1000: b"/etc/hostname\0"}))
    obj = load_object(src, vm, syscall_number=x86_64_syscall_number)
    regs = {"orig_ax": 257, "di": (-100) & (2**64 - 1), "si": 0x1000, "dx": 0x80000, "ax": 3}
    msgs = {name: run_program(obj, name, regs=regs).printk
            for name in ("tp_enter_openat", "tp_exit_openat", "raw_tp_enter", "btf_exit")}
    assert [m.split(": ", 2)[-1] for m in msgs["tp_enter_openat"]] == [
        "tp enter openat nr=257 dfd=-100 path=/etc/hostname",
        "tp enter openat flags=80000 mode=0"]
    assert msgs["tp_exit_openat"][0].endswith("tp exit openat nr=257 ret=3")
    assert msgs["raw_tp_enter"][0].endswith("raw_tp enter id=257 orig_ax=257 flags=80000")
    assert msgs["btf_exit"][0].endswith("tp_btf exit orig_ax=257 ret=3")


# -- our bpf/bpf_tracing.h behaves as the system's -----------------------------------------

KSYSCALL = """
#define __VMLINUX_H__ 1
#ifndef OURS_ONLY   /* our headers alone: no system include directory */
#include <linux/bpf.h>
#endif
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di;
	unsigned long orig_ax, ip, cs, flags, sp, ss;
} __attribute__((preserve_access_index));
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
SEC("ksyscall/openat")
int regs_of(struct pt_regs *ctx)
{
	struct pt_regs *regs = PT_REGS_SYSCALL_REGS(ctx);
	return PT_REGS_PARM3_CORE_SYSCALL(regs) + PT_REGS_PARM4_CORE_SYSCALL(regs);
}
char LICENSE[] SEC("license") = "GPL";
"""


@SYSTEM_LIBBPF
def test_our_bpf_tracing_h_follows_the_wrapper_as_the_systems_does(tmp_path: Path) -> None:
    from bpf_vm import toolchain
    from probes import INCLUDE_DIR, LIBBPF_COMPAT_DIR
    src = tmp_path / "ks.bpf.c"
    src.write_text(KSYSCALL)
    system = probe_build(src, tmp_path / "system.o", use_cache=False)
    ours = toolchain.build(src, tmp_path / "ours.o", include_dirs=[INCLUDE_DIR],
                           target_arch="x86", fallback_dirs=[LIBBPF_COMPAT_DIR],
                           use_cache=False, extra_flags=["-DOURS_ONLY"])
    results = []
    for obj_path in (system, ours):
        vm = Vm(host=FakeHost())
        obj = load_object(obj_path, vm, syscall_number=x86_64_syscall_number)
        ev = _event()
        ctx = ac.build_ctx(ac.CtxKind.WRAPPER_ENTER, ev, vm.kernel_mem)
        results.append(vm.run(obj.programs["regs_of"], ctx).r0)
    assert results == [0x80000 + 0o644] * 2
