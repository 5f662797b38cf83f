"""`bpf-vm build` and the headers for programs written against libbpf: -I before ours,
-D, --target-arch, the system's libbpf-dev headers, our `bpf/` layout where they are
absent, and our headers next to <linux/bpf.h> / <asm/ptrace.h> without redefinitions."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpf_vm import toolchain
from bpf_vm.cli import app
from bpf_vm.elf import load_object
from bpf_vm.host import FakeHost
from bpf_vm.vm import Vm
from probes import INCLUDE_DIR, LIBBPF_COMPAT_DIR

PT_REGS_NAMES = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx",
                 "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss")
REGS = {name: i for i, name in enumerate(PT_REGS_NAMES)}


def regs(**values: int) -> bytes:
    out = [0] * 21
    for name, v in values.items():
        out[REGS[name]] = v
    return struct.pack("<21Q", *out)


def cli_build(tmp_path: Path, src: Path, *args: str) -> tuple[int, str, Path]:
    out = tmp_path / (src.stem + ".o")
    res = CliRunner().invoke(app, ["build", str(src), "-o", str(out), "--no-cache", *args])
    return res.exit_code, res.output, out


def ours_only(src: Path, out: Path) -> Path:
    """Built with our headers and no system include directory: a system without
    libbpf-dev (or linux-libc-dev)."""
    return toolchain.build(src, out, include_dirs=[INCLUDE_DIR], target_arch="x86",
                           fallback_dirs=[LIBBPF_COMPAT_DIR], use_cache=False)


def test_user_includes_come_first_and_defines(tmp_path: Path) -> None:
    user = tmp_path / "inc"
    user.mkdir()
    (user / "bpf_helpers.h").write_text("#define USER_HEADER 40\n#define SEC(n) "
                                        "__attribute__((section(n), used))\n")
    src = tmp_path / "p.bpf.c"
    src.write_text('#include "bpf_helpers.h"\n'
                   'SEC("xdp") int f(void *c) { return USER_HEADER + EXTRA; }\n'
                   '#ifndef __TARGET_ARCH_x86\n#error no arch\n#endif\n')
    code, output, out = cli_build(tmp_path, src, "-I", str(user), "-D", "EXTRA=2")
    assert code == 0, output
    obj = load_object(out, Vm())
    assert Vm().run(obj.programs["f"], bytes(168)).r0 == 42
    code, output, _ = cli_build(tmp_path, src, "-I", str(user), "-D", "EXTRA=2",
                                "--target-arch", "arm64")
    assert code == 1 and "no arch" in output
    code, output, _ = cli_build(tmp_path, src, "--target-arch", "vax")
    assert code == 1 and "unknown target arch 'vax'" in output


LIBBPF_PROGRAM = """
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

SEC("kprobe/sys_enter")
int BPF_KPROBE(on_enter, unsigned long a0)
{
	__u64 v = a0 + BUMP;
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &v, sizeof(v));
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.needs_uapi_headers("/usr/include/bpf/bpf_helpers.h", "/usr/include/linux/bpf.h")
def test_program_against_system_libbpf_headers(tmp_path: Path) -> None:
    src = tmp_path / "sys.bpf.c"
    src.write_text(LIBBPF_PROGRAM)
    code, output, out = cli_build(tmp_path, src, "-D", "BUMP=5")
    assert code == 0, output
    vm = Vm(host=FakeHost())
    obj = load_object(out, vm)
    events = obj.maps["events"]
    events.open_all()
    res = vm.run(obj.programs["on_enter"], regs(di=100))
    assert res.effects.perf == [("events", 0, struct.pack("<Q", 105))]


OUR_LAYOUT = """
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

SEC("kprobe/sys_enter")
int BPF_KPROBE(kp, long a, long b, long c, long d, long e, long f)
{
	return a + b + c + d + e + f;
}

SEC("kprobe/sys_enter")
int BPF_KSYSCALL(ks, long a, long b, long c, long d)
{
	return d;
}

SEC("kretprobe/sys_exit")
int BPF_KRETPROBE(kr, long ret)
{
	return ret;
}

SEC("raw_tracepoint/sys_enter")
int BPF_PROG(rp, struct pt_regs *regs, long id)
{
	return id;
}

SEC("kprobe/sys_enter")
int stack(struct pt_regs *ctx)
{
	__u64 ips[4];
	return bpf_get_stack(ctx, ips, sizeof(ips), BPF_F_USER_STACK);
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_our_bpf_prefix_headers_without_libbpf_dev(tmp_path: Path) -> None:
    src = tmp_path / "ours.bpf.c"
    src.write_text(OUR_LAYOUT)
    out = ours_only(src, tmp_path / "ours.o")
    vm = Vm(host=FakeHost(regs=(0x401000, 0x7FFF0000, 0)))
    p = load_object(out, vm).programs
    r = regs(di=1, si=2, dx=3, cx=4, r8=5, r9=6, r10=40, ax=77)
    assert vm.run(p["kp"], r).r0 == 21
    # a syscall wrapper's kprobe: di points to the user registers (in kernel memory),
    # whose 4th syscall argument is in r10
    assert vm.run(p["ks"], regs(di=vm.kernel_mem.place("user regs", r))).r0 == 40
    assert vm.run(p["kr"], r).r0 == 77
    assert vm.run(p["stack"], r).r0 == 8        # one frame: the ip (bp is 0)
    assert vm.run(p["rp"], struct.pack("<QQ", 0, 59)).r0 == 59


def test_our_core_read_header_emits_co_re_accesses(tmp_path: Path) -> None:
    src = tmp_path / "core.bpf.c"
    src.write_text("""
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
struct task { int pid; struct task *parent; char comm[16]; };
SEC("kprobe/x")
int core(struct pt_regs *ctx)
{
	struct task *t = (void *)bpf_get_current_task();
	char comm[16];
	int ppid = BPF_CORE_READ(t, parent, parent, pid);
	BPF_CORE_READ_STR_INTO(&comm, t, parent, comm);
	return ppid + bpf_core_field_exists(t->pid) + PT_REGS_PARM1_CORE(ctx)
		+ BPF_PROBE_READ(t, parent, pid);
}
char LICENSE[] SEC("license") = "GPL";
""")
    out = ours_only(src, tmp_path / "core.o")
    from elftools.elf.elffile import ELFFile
    with out.open("rb") as f:
        names = {s.name for s in ELFFile(f).iter_sections()}
    assert ".BTF.ext" in names


@pytest.mark.needs_uapi_headers("/usr/include/linux/bpf.h")
def test_our_headers_after_linux_bpf_h(tmp_path: Path) -> None:
    """No redefinition of enum bpf_map_type, the flags or struct pt_regs: <linux/bpf.h>
    and the user-space <asm/ptrace.h> first, then ours (libbpf's order)."""
    src = tmp_path / "mix.bpf.c"
    src.write_text("""
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include "bpf_helpers.h"
#include "bpf_tracing.h"
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } m SEC(".maps");
SEC("kprobe/sys_enter")
int f(struct pt_regs *ctx)
{
	return PT_REGS_PARM1(ctx) + PT_REGS_PARM4_SYSCALL(ctx) + BPF_F_USER_STACK + BPF_ANY;
}
char LICENSE[] SEC("license") = "GPL";
""")
    code, output, out = cli_build(tmp_path, src)
    assert code == 0, output
    p = load_object(out, Vm()).programs["f"]
    assert Vm().run(p, regs(di=1, r10=2)).r0 == 3 + 256
