"""The vendored public BPF programs (tests/libbpf_progs, origins in its ORIGIN.md) and
how each is built: the include directories and definitions its own Makefile passes,
a vmlinux.h generated from the host's BTF, and the kernel-tree headers samples/bpf
expects (``<uapi/...>``, the generated ``syscall_nrs.h``) recreated from the installed
uapi headers.

What each program is expected to do here is data (:data:`PROGRAMS`): which of its
programs must attach under ``trace-run --probe`` (the attach points issue 15 asks
for), which are tail-call targets, and which may be refused (with a reason)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
PROGS = ROOT / "tests" / "libbpf_progs"
COMPAT = PROGS / "compat"
HOST_BTF = Path("/sys/kernel/btf/vmlinux")


@dataclass(frozen=True)
class Vendored:
    """One vendored program: its source (relative to tests/libbpf_progs), the extra
    flags of its build, and what its programs are expected to be under trace-run."""
    name: str
    source: str
    #: programs that must attach (the syscall attach points of issue 15)
    attach: frozenset[str] = frozenset()
    #: programs the loader puts in a prog array (tail-call targets)
    tail_calls: frozenset[str] = frozenset()
    #: programs trace-run must refuse, with a reason (not at a syscall)
    refuse: frozenset[str] = frozenset()
    #: samples/bpf programs need the kernel-tree include layout
    kernel_tree: bool = False
    #: does not build, and why (an xfail that fails when it starts building)
    build_fails: str | None = None
    defines: tuple[str, ...] = field(default=())

    @property
    def path(self) -> Path:
        return PROGS / self.source


def _v(name: str, source: str, *, attach: str = "", tail: str = "", refuse: str = "",
       **kw: object) -> Vendored:
    return Vendored(name, source, frozenset(attach.split()), frozenset(tail.split()),
                    frozenset(refuse.split()), **kw)  # type: ignore[arg-type]


_SYSCALLS = "__x64_sys_* / ksyscall / syscall tracepoints"
PROGRAMS: tuple[Vendored, ...] = (
    # the kernel's samples/bpf
    _v("tracex5", "kernel_samples/tracex5.bpf.c", attach="bpf_prog1",
       tail="bpf_func_SYS__NR_write bpf_func_SYS__NR_read bpf_func_SYS__NR_mmap",
       kernel_tree=True),
    _v("tracex5_kern", "kernel_samples/tracex5_kern.c", attach="bpf_prog1",
       tail="bpf_func___NR_write bpf_func___NR_read bpf_func___NR_mmap", kernel_tree=True),
    _v("trace_output", "kernel_samples/trace_output.bpf.c", attach="bpf_prog1",
       kernel_tree=True),
    # libbpf-bootstrap's examples/c
    _v("minimal", "libbpf_bootstrap/minimal.bpf.c", attach="handle_tp"),
    _v("minimal_legacy", "libbpf_bootstrap/minimal_legacy.bpf.c", attach="handle_tp"),
    _v("minimal_ns", "libbpf_bootstrap/minimal_ns.bpf.c", attach="handle_tp"),
    _v("bootstrap", "libbpf_bootstrap/bootstrap.bpf.c"),
    _v("bootstrap_legacy", "libbpf_bootstrap/bootstrap_legacy.bpf.c"),
    _v("ksyscall", "libbpf_bootstrap/ksyscall.bpf.c", attach="entry_probe tgkill_entry"),
    _v("kprobe", "libbpf_bootstrap/kprobe.bpf.c", refuse="do_unlinkat do_unlinkat_exit"),
    _v("uprobe", "libbpf_bootstrap/uprobe.bpf.c"),
    _v("fentry", "libbpf_bootstrap/fentry.bpf.c", refuse="do_unlinkat do_unlinkat_exit"),
    # bcc v0.26.0's libbpf-tools (the source of /usr/sbin's libbpf-tools 0.26)
    _v("opensnoop", "libbpf_tools/opensnoop.bpf.c",
       attach="tracepoint__syscalls__sys_enter_open tracepoint__syscalls__sys_enter_openat "
              "tracepoint__syscalls__sys_exit_open tracepoint__syscalls__sys_exit_openat"),
    _v("execsnoop", "libbpf_tools/execsnoop.bpf.c",
       attach="tracepoint__syscalls__sys_enter_execve tracepoint__syscalls__sys_exit_execve"),
    _v("exitsnoop", "libbpf_tools/exitsnoop.bpf.c"),
    _v("statsnoop", "libbpf_tools/statsnoop.bpf.c",
       attach=" ".join(f"handle_{n}_{w}" for n in ("newfstatat", "newlstat", "newstat",
                                                    "statfs", "statx")
                       for w in ("entry", "return"))),
    _v("syscount", "libbpf_tools/syscount.bpf.c", attach="sys_enter sys_exit"),
    _v("sigsnoop", "libbpf_tools/sigsnoop.bpf.c",
       attach="kill_entry kill_exit tgkill_entry tgkill_exit tkill_entry tkill_exit"),
    _v("mountsnoop", "libbpf_tools/mountsnoop.bpf.c",
       attach="mount_entry mount_exit umount_entry umount_exit"),
    _v("bindsnoop", "libbpf_tools/bindsnoop.bpf.c",
       refuse="ipv4_bind_entry ipv4_bind_exit ipv6_bind_entry ipv6_bind_exit",
       build_fails="bcc v0.26.0's bindsnoop reads inet_sock.freebind, a bitfield that "
                   "Linux 6.6 folded into inet_sock.inet_flags: no vmlinux.h of a newer "
                   "kernel has it (bcc builds against its own 5.x vmlinux.h)"),
)
BY_NAME = {p.name: p for p in PROGRAMS}


# ---- the compiler -----------------------------------------------------------------------

def compiler() -> str | None:
    """$BPF_CC when set, else the system's clang-14 when installed, else None (the
    bundled compiler: ziglang's clang)."""
    if os.environ.get("BPF_CC"):
        return os.environ["BPF_CC"]
    return "clang-14" if shutil.which("clang-14") else None


@contextmanager
def compiler_env() -> Iterator[str]:
    """$BPF_CC for the duration of a build, and the compiler's name."""
    cc = compiler()
    old = os.environ.get("BPF_CC")
    if cc is not None:
        os.environ["BPF_CC"] = cc
    try:
        yield cc or "ziglang cc (bundled)"
    finally:
        if old is None:
            os.environ.pop("BPF_CC", None)
        else:
            os.environ["BPF_CC"] = old


# ---- vmlinux.h --------------------------------------------------------------------------

def btf_dump_c(btf: Path) -> tuple[str | None, str]:
    """``bpf-vm btf dump BTF --format c``: (the C text or None, what happened)."""
    from bpf_vm.cli import app
    res = CliRunner().invoke(app, ["btf", "dump", str(btf), "--format", "c"])
    if res.exit_code == 0 and "struct task_struct {" in res.output:
        return res.output, "bpf-vm btf dump --format c"
    return None, f"bpf-vm btf dump --format c: exit {res.exit_code}: " \
                 f"{res.output.strip().splitlines()[-1:] or res.exception}"


def bpftool_dump_c(btf: Path) -> str:
    """Fallback while `bpf-vm btf dump` is missing: bpftool's own dump."""
    proc = subprocess.run(["bpftool", "btf", "dump", "file", str(btf), "format", "c"],
                          capture_output=True, text=True, timeout=300, check=True)
    return proc.stdout


# ---- the kernel tree's layout for samples/bpf ------------------------------------------

_OFFSET_LINE = re.compile(r'^\s*\.ascii\s+"->(\S+) \$?(-?\d+) (.*)"')


def syscall_nrs_h(source: Path, include: Path) -> str:
    """samples/bpf's syscall_nrs.h as Kbuild makes it: syscall_nrs.c compiled to
    assembly with the host compiler, each ``->SYM VALUE EXPR`` marker one #define."""
    proc = subprocess.run(["gcc", "-S", "-o", "-", f"-I{include}", str(source)],
                          capture_output=True, text=True, timeout=120, check=True)
    lines = ["/* generated from samples/bpf/syscall_nrs.c (Kbuild's asm-offsets way) */",
             "#ifndef __SYSCALL_NRS_H__", "#define __SYSCALL_NRS_H__"]
    for line in proc.stdout.splitlines():
        if m := _OFFSET_LINE.match(line):
            lines.append(f"#define {m[1]} {m[2]} /* {m[3]} */")
    lines.append("#endif")
    return "\n".join(lines) + "\n"


def kernel_tree_includes(out: Path) -> Path:
    """An include directory where ``<uapi/linux/x.h>`` is the installed
    ``<linux/x.h>`` (what the kernel tree's include/uapi holds), with our
    linux/kbuild.h and samples-era bpf_helpers.h stand-ins (tests/libbpf_progs/compat)."""
    out.mkdir(parents=True, exist_ok=True)
    uapi = out / "uapi"
    if not uapi.exists():
        uapi.symlink_to("/usr/include")
    for f in COMPAT.rglob("*.h"):
        dest = out / f.relative_to(COMPAT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest)
    return out


def build_flags(prog: Vendored, gen: Path) -> list[str]:
    """`bpf-vm build` options as the program's Makefile passes them: the generated
    vmlinux.h's directory, the source's own directory, and for samples/bpf the kernel
    tree's include layout; the target arch (x86: -D__TARGET_ARCH_x86)."""
    incs = [gen, prog.path.parent]
    if prog.kernel_tree:
        incs.append(gen / "ktree")
    out = [f for d in incs for f in ("-I", str(d))]
    out += ["--target-arch", "x86"]
    for d in prog.defines:
        out += ["-D", d]
    return out


def bpf_vm_build(prog: Vendored, gen: Path, out: Path) -> tuple[int, str]:
    """``bpf-vm build SOURCE -o OUT`` with the program's flags (in-process CLI)."""
    from bpf_vm.cli import app
    res = CliRunner().invoke(app, ["build", str(prog.path), "-o", str(out),
                                   *build_flags(prog, gen)])
    return res.exit_code, res.output
