#!/usr/bin/env python3
"""Issue 15's 75-object target: rebuild public libbpf programs, load them, run them.

The corpus, from sources given on the command line (git directories read with
``git archive``, never the network):

* libbpf-bootstrap's C examples (``examples/c/*.bpf.c``, 15), built as its Makefile
  builds them: ``clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I<vmlinux.h dir>
  -idirafter <clang's system dirs>``, then ``bpftool gen object`` (its static link
  step).  Its ``vmlinux.h`` is a git submodule the mirror lacks: it is generated from
  the host's BTF (``bpftool btf dump file /sys/kernel/btf/vmlinux format c``) or taken
  from ``--vmlinux-h``;
* bcc's libbpf-tools (``libbpf-tools/*.bpf.c``, 58 at bcc v0.37.0+6, 6d0a964c), built as
  its Makefile builds them: ``clang -g -O2 -Wall -Werror=undef -target bpf
  -D__TARGET_ARCH_x86 -Ix86/`` (softirqs with ``-mcpu=v3``), then ``llvm-strip -g``.
  Both projects take libbpf's headers from their libbpf submodule, which the mirrors
  lack: they are exported from the libbpf git directory (``--libbpf``) at the commit
  each project pins, as libbpf's ``install_headers`` lays them out (the distribution's
  libbpf-dev headers, 1.1.2 here, are too old for bcc's BPF_UPROBE/BPF_URETPROBE);
* the kernel's ``samples/bpf/tracex5.bpf.c`` and ``tracex5_kern.c`` (``--kernel-samples
  DIR``), built as samples/bpf/Makefile builds ``*.bpf.c``.  What the kernel tree
  provides is stood in for by a generated directory: ``syscall_nrs.h`` (``SYS__NR_*``,
  from the host's asm/unistd_64.h, as the kernel's syscall_nrs.c generates it),
  ``uapi/`` (the installed UAPI headers), and for the 2015 ``tracex5_kern.c`` a
  ``bpf_helpers.h`` that includes trace-run's bpf_helpers.h and bpf_tracing.h (the
  selftests header of that time held both).

Then each object is loaded into trace-run's VM (ELF, CO-RE, maps) and every program
verified as BPF_PROG_LOAD verifies it, and each program's attach point is classified
(provided by trace-run or not, with the reason).  Objects that load are run whole under
``trace-run --probe OBJ`` on a small command; the run happens in a worker process that
calls trace-run's own ``main`` with the same arguments and counts each program's runs
and faults where the VM starts programs (``Vm.run_r0``/``Vm.run``: what trace-run
attaches) and where a tail call switches to one (``RunState.tail_target``); a fault is
charged to the program running when it happened.  trace-run's stderr (``probe fault
at ...``) and printk output are kept too.  Neither the VM nor the probe handler exposes
per-program run counts (the kernel's ``run_cnt``), hence this instrumentation.

Usage::

    python3 scripts/libbpf_corpus.py --kernel-samples DIR [--json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MIRRORS = Path("/work/.mirror")
DEFAULT_BCC = MIRRORS / "iovisor+bcc/repo"
DEFAULT_BOOTSTRAP = MIRRORS / "libbpf+libbpf-bootstrap/repo"
DEFAULT_LIBBPF = MIRRORS / "libbpf+libbpf/repo"
#: what libbpf's ``make install_headers`` puts into ``$(OUTPUT)/bpf/``
LIBBPF_HEADERS = ("bpf.h", "libbpf.h", "btf.h", "libbpf_common.h", "libbpf_legacy.h",
                  "bpf_helpers.h", "bpf_helper_defs.h", "bpf_tracing.h", "bpf_endian.h",
                  "bpf_core_read.h", "skel_internal.h", "libbpf_version.h", "usdt.bpf.h")
COMMAND = ("sh -c 'for f in /etc/hostname /etc/passwd /etc/group; do cat $f >/dev/null;"
           " done; ls -l / >/dev/null; kill -0 $$; sync; /bin/true'")


@dataclass
class Unit:
    """One object to build: its project, source file, working directory and flags."""
    project: str
    name: str
    source: Path
    flags: list[str]
    link: str = ""            # "bpftool" (gen object) or "strip" (llvm-strip -g)


@dataclass
class Result:
    project: str
    name: str
    built: bool = False
    loaded: bool = False
    programs: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""            # the first refusal (build, load or verifier)
    group: str = ""            # the refusal's group
    ran: bool = False
    run_error: str = ""
    probe_faults: int = 0

    def counts(self) -> tuple[int, int, int, int, int]:
        """(programs, provided, ran without fault, attached but no event, faulted)."""
        provided = [p for p in self.programs if p["provided"]] if self.loaded else []
        ran = [p for p in provided if p.get("runs", 0) and not p.get("faults", 0)]
        faulted = [p for p in provided if p.get("faults", 0)]
        idle = [p for p in provided if not p.get("runs", 0)]
        return len(self.programs), len(provided), len(ran), len(idle), len(faulted)


def sh(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def export(gitdir: Path, ref: str, paths: list[str], dest: Path) -> str:
    """``git archive REF PATHS`` unpacked into ``dest``; returns the commit described."""
    dest.mkdir(parents=True, exist_ok=True)
    # every blob under ``paths`` the git directory holds (a mirror may lack the large
    # vmlinux.h of architectures other than x86)
    listing = sh(["git", "-C", str(gitdir), "ls-tree", "-r", ref, "--", *paths])
    if listing.returncode:
        raise SystemExit(f"{gitdir}: {listing.stderr.strip()}")
    present = [line.split("\t", 1)[1] for line in listing.stdout.splitlines()
               if sh(["git", "-C", str(gitdir), "cat-file", "-e",
                      line.split()[2]]).returncode == 0]
    archive = subprocess.run(["git", "-C", str(gitdir), "archive", ref, "--", *present],
                             capture_output=True, check=False)
    if archive.returncode:
        raise SystemExit(f"{gitdir}: git archive {ref}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return sh(["git", "-C", str(gitdir), "describe", "--tags", "--always", ref]).stdout.strip()


def libbpf_headers(args: argparse.Namespace, gitdir: Path, ref: str, submodule: str,
                   work: Path, versions: dict[str, str], who: str) -> list[str]:
    """The include flags of the libbpf a project pins as a submodule: its headers
    exported from the libbpf git directory at the pinned commit, installed as its
    Makefile installs them (``OUTPUT/bpf/*.h``, plus ``include/uapi``).  Without
    that commit: the system's libbpf-dev headers (then said in the versions)."""
    pinned = sh(["git", "-C", str(gitdir), "ls-tree", ref, submodule]).stdout.split()
    commit = pinned[2] if len(pinned) > 2 and pinned[1] == "commit" else ""
    lib = Path(args.libbpf) if args.libbpf else None
    if not commit or lib is None or sh(["git", "-C", str(lib), "cat-file", "-e",
                                        commit]).returncode:
        versions[f"{who} libbpf headers"] = "system libbpf-dev (/usr/include/bpf)"
        return []
    dest = work / f"libbpf-{commit[:12]}"
    if not dest.exists():
        export(lib, commit, ["src", "include/uapi"], dest / "src-tree")
        (dest / "bpf").mkdir(parents=True)
        for h in LIBBPF_HEADERS:
            f = dest / "src-tree/src" / h
            if f.exists():
                shutil.copy(f, dest / "bpf" / h)
    versions[f"{who} libbpf headers"] = f"libbpf {commit[:12]} (its pinned submodule)"
    return [f"-I{dest}", f"-I{dest / 'src-tree/include/uapi'}"]


def clang_sys_includes(cc: list[str]) -> list[str]:
    """libbpf-bootstrap's CLANG_BPF_SYS_INCLUDES: clang's own search list, -idirafter."""
    out = sh([*cc, "-v", "-E", "-", "-o", "/dev/null"]).stderr
    dirs = re.findall(r"^ (/\S+)$", out.split("<...> search starts here:")[-1]
                      .split("End of search list.")[0], re.M)
    return [f for d in dirs for f in ("-idirafter", d)]


def vmlinux_h(dest: Path, given: str | None) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / "vmlinux.h"
    if given:
        shutil.copy(given, out)
        return dest
    dump = sh(["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"])
    if dump.returncode:
        raise SystemExit(f"vmlinux.h: bpftool btf dump failed: {dump.stderr.strip()}"
                         " (give one with --vmlinux-h)")
    out.write_text(dump.stdout)
    return dest


def kernel_shim(dest: Path) -> Path:
    """What samples/bpf takes from the kernel tree (see the module docstring)."""
    dest.mkdir(parents=True, exist_ok=True)
    unistd = next((p for p in (Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
                               Path("/usr/include/asm/unistd_64.h")) if p.exists()), None)
    lines = ["/* generated by scripts/libbpf_corpus.py, as the kernel's syscall_nrs.c */"]
    if unistd is not None:
        for m in re.finditer(r"^#define __NR_(\w+) (\d+)$", unistd.read_text(), re.M):
            lines.append(f"#define SYS__NR_{m[1]} {m[2]}")
    (dest / "syscall_nrs.h").write_text("\n".join(lines) + "\n")
    if not (dest / "uapi").exists():
        (dest / "uapi").symlink_to("/usr/include")
    helpers = dest / "legacy"
    helpers.mkdir(exist_ok=True)
    inc = ROOT / "probes/include"
    (helpers / "bpf_helpers.h").write_text(
        f'#include "{inc}/bpf_helpers.h"\n#include "{inc}/bpf_tracing.h"\n')
    return dest


def units(args: argparse.Namespace, work: Path, cc: list[str]) -> tuple[list[Unit], dict[str, str]]:
    """The corpus and the versions it was taken from."""
    versions: dict[str, str] = {}
    out: list[Unit] = []
    sysinc = clang_sys_includes(cc)
    base = ["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86"]
    if args.bootstrap:
        src = work / "bootstrap"
        versions["libbpf-bootstrap"] = export(Path(args.bootstrap), args.bootstrap_ref,
                                              ["examples/c"], src)
        vdir = vmlinux_h(work / "vmlinux", args.vmlinux_h)
        inc = libbpf_headers(args, Path(args.bootstrap), args.bootstrap_ref, "libbpf", work,
                             versions, "libbpf-bootstrap")
        for f in sorted((src / "examples/c").glob("*.bpf.c")):
            out.append(Unit("libbpf-bootstrap", f.name[:-len(".bpf.c")], f,
                            [*base, *inc, f"-I{vdir}", *sysinc], "bpftool"))
    if args.bcc:
        src = work / "bcc"
        versions["bcc libbpf-tools"] = export(Path(args.bcc), args.bcc_ref,
                                              ["libbpf-tools"], src)
        tools = src / "libbpf-tools"
        inc = libbpf_headers(args, Path(args.bcc), args.bcc_ref, "src/cc/libbpf", work,
                             versions, "bcc")
        for f in sorted(tools.glob("*.bpf.c")):
            name = f.name[:-len(".bpf.c")]
            extra = ["-mcpu=v3"] if name == "softirqs" else []
            out.append(Unit("bcc", name, f, ["-g", "-O2", "-Wall", "-Werror=undef", *extra,
                                             "-target", "bpf", "-D__TARGET_ARCH_x86",
                                             f"-I{tools / 'x86'}", *inc, *sysinc], "strip"))
    if args.kernel_samples:
        kdir = Path(args.kernel_samples)
        shim = kernel_shim(work / "kernel-shim")
        vdir = vmlinux_h(work / "vmlinux", args.vmlinux_h)
        versions["kernel samples/bpf"] = str(kdir)
        common = [*base, "-Wno-compare-distinct-pointer-types", f"-I{shim}"]
        for fname, extra in (("tracex5.bpf.c", [f"-I{vdir}"]),
                             ("tracex5_kern.c", [f"-I{shim / 'legacy'}"])):
            out.append(Unit("kernel", fname.split(".")[0], kdir / fname,
                            [*common, *extra, *sysinc]))
    return out, versions


def build(unit: Unit, cc: list[str], outdir: Path) -> tuple[Path | None, str]:
    obj = outdir / f"{unit.project}-{unit.name}.bpf.o"
    tmp = obj.with_suffix(".tmp.o")
    if not unit.source.exists():
        return None, f"source not found: {unit.source}"
    r = sh([*cc, *unit.flags, "-c", str(unit.source), "-o", str(tmp)], cwd=unit.source.parent)
    if r.returncode:
        err = [ln for ln in r.stderr.splitlines() if "error" in ln] or r.stderr.splitlines()
        return None, "build: " + (err[0] if err else f"exit status {r.returncode}")
    if unit.link == "bpftool":
        r = sh(["bpftool", "gen", "object", str(obj), str(tmp)])
        if r.returncode:
            return None, f"bpftool gen object: {r.stderr.strip().splitlines()[-1:]}"
        tmp.unlink()
    else:
        if unit.link == "strip":
            strip = shutil.which("llvm-strip-14") or shutil.which("llvm-strip")
            if strip:
                sh([strip, "-g", str(tmp)])
        tmp.rename(obj)
    return obj, ""


# -- inspection (in a worker process: one object, a fresh VM, tracebacks contained) -------

_SYSCALL_SECTIONS = (
    re.compile(r"^k(ret)?syscall/\w+$"),
    re.compile(r"^k(ret)?probe/__x64_sys_\w+$"),
    re.compile(r"^(tracepoint|tp)/syscalls/sys_(enter|exit)_\w+$"),
    re.compile(r"^(raw_tracepoint|raw_tp|tp_btf)/sys_(enter|exit)$"),
    re.compile(r"^kprobe/(\d+|__seccomp_filter)$"),          # tracex5's slots, dispatcher
)


#: which classification attach_points used (reported in the JSON)
ATTACH_SOURCE = ["the section name (probes.attach unavailable)"]


def attach_points(obj: Any) -> dict[str, tuple[bool, str]]:
    """For each program of a loaded object: whether trace-run provides its attach point,
    and if not, why.  Asks probes.attach (its ``plan``, what ``trace-run --probe`` uses)
    when it is importable; otherwise classifies the section name by issue 15's list."""
    try:
        from probes import attach
        plan = attach.plan(obj)
    except Exception:       # absent, or mid-edit in a shared tree
        return {p.name: _by_section(p.section) for p in obj.programs.values()}
    ATTACH_SOURCE[0] = "probes.attach.plan"
    out = {a.program.name: (True, "") for a in plan.attached}
    out.update((name, (True, "tail-call target")) for name in plan.tail_calls)
    out.update((r.program, (False, r.reason)) for r in plan.refused)
    return out


def _by_section(section: str) -> tuple[bool, str]:
    if any(p.match(section) for p in _SYSCALL_SECTIONS):
        return True, ""
    kind, _, target = section.partition("/")
    if kind in ("fentry", "fexit", "fmod_ret", "kprobe", "kretprobe", "kprobe.multi",
                "kretprobe.multi"):
        return False, f"{kind} on kernel function {target or '?'}"
    if kind in ("tracepoint", "tp", "raw_tracepoint", "raw_tp", "tp_btf"):
        return False, f"kernel tracepoint {target} (not a syscall tracepoint)"
    return False, f"{kind} programs ({section})"


def group_of(message: str) -> str:
    """A refusal's group, for the summary."""
    m = message
    patterns = (
        (r"invalid func unknown#195896080|poisoned", "CO-RE relocation unresolved (poisoned)"),
        (r"CO-RE relo", "CO-RE relocation refused"),
        (r"(?:unknown|invalid) func (\w+)#\d+", "missing helper {0}"),
        (r"helper (\w+)[^\n]*not (?:supported|available)", "missing helper {0}"),
        (r"'(\w+)' is undefined \(extern", "extern {0}"),
        (r"kfunc|calls kernel function", "kfunc call"),
        (r"map type (\w+)", "map type {0}"),
        (r"map '[^']*' \((\w+), key \d+, value (?:0, max_entries \d+|\d+, max_entries 0)\b",
         "{0} map sized by the tool before load (max_entries or value_size 0 in the object)"),
        (r"section '([^']+)'", "object section {0}"),
        (r"^build:", "build failure"),
    )
    for pat, label in patterns:
        found = re.search(pat, m)
        if found:
            return label.format(*found.groups())
    if "verifier" in m or re.search(r"^\d+: ", m) or "prog '" in m:
        tail = m.split(": ")[-1]
        return "verifier: " + re.sub(r"\d+", "N", tail)[:70]
    return re.sub(r"\d+", "N", m)[:80]


def inspect(obj: Path, command: str, do_run: bool) -> dict[str, Any]:
    """Load ``obj``, verify each program, classify its attach point, and run it."""
    sys.path.insert(0, str(ROOT))
    from bpf_vm import BpfError, Vm, load_any, prog_load, section_info
    from probes.abi import x86_64_syscall_number
    out: dict[str, Any] = {"loaded": False, "programs": [], "error": ""}
    try:
        vm = Vm()
        bobj = load_any(obj, vm, syscall_number=x86_64_syscall_number)
    except BpfError as exc:
        out["error"] = str(exc).splitlines()[0]
        return out
    out["warnings"] = list(bobj.warnings)
    first = ""
    points = attach_points(bobj)
    for prog in bobj.programs.values():
        provided, why = points.get(prog.name, (False, "not in the attach plan"))
        entry: dict[str, Any] = {"name": prog.name, "section": prog.section,
                                 "provided": provided, "reason": why, "verified": True}
        try:
            prog_load(vm, prog)
        except BpfError as exc:
            entry["verified"] = False
            entry["error"] = str(exc).splitlines()[0]
            if provided:     # an unprovided program is not loaded (libbpf's autoload off)
                first = first or f"prog '{prog.name}': {entry['error']}"
        entry["type"] = str(section_info(prog.section).kind)
        out["programs"].append(entry)
    out["loaded"] = not first
    out["error"] = first
    out["all_verified"] = all(p["verified"] for p in out["programs"])
    out["attach_source"] = ATTACH_SOURCE[0]
    if out["loaded"] and do_run:
        out.update(run_probe(obj, command, out["programs"]))
    return out


def run_probe(obj: Path, command: str, programs: list[dict[str, Any]]) -> dict[str, Any]:
    """``trace-run --probe OBJ`` on ``command``, counting each program's runs."""
    import contextlib
    import io

    from bpf_vm import BpfError, Vm
    from bpf_vm.vm import RunState
    from tracer import cli
    runs: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    run_r0, run, tail_target = Vm.run_r0, Vm.run, RunState.tail_target

    def counted(real: Any) -> Any:
        def wrapper(self: Vm, program: Any, *a: Any, **kw: Any) -> Any:
            runs[program.name] += 1
            try:
                return real(self, program, *a, **kw)
            except BpfError:
                # the program running when it faulted: a tail call's target, if any
                cur = getattr(getattr(self.state, "cur", None), "program", program)
                faults[getattr(cur, "name", program.name)] += 1
                raise
        return wrapper

    def counted_tail(self: RunState, r2: int, r3: int) -> Any:
        target = tail_target(self, r2, r3)
        if target is not None:
            runs[target.program.name] += 1
        return target

    Vm.run_r0, Vm.run = counted(run_r0), counted(run)   # type: ignore[method-assign]
    RunState.tail_target = counted_tail                  # type: ignore[method-assign]
    err = io.StringIO()
    status: int | str = 0
    with tempfile.TemporaryDirectory(prefix="corpus-run-") as tmp:
        printk = Path(tmp) / "printk"
        argv = ["-o", str(Path(tmp) / "trace"), "--printk", str(printk), "--probe", str(obj),
                "--", *shlex.split(command)]
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                cli.main(argv)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else str(exc.code)
        finally:
            Vm.run_r0, Vm.run = run_r0, run              # type: ignore[method-assign]
            RunState.tail_target = tail_target           # type: ignore[method-assign]
        output = printk.read_text(errors="replace").splitlines() if printk.exists() else []
    for p in programs:
        p["runs"], p["faults"] = runs[p["name"]], faults[p["name"]]
    lines = err.getvalue().splitlines()
    reported = [ln for ln in lines if "probe fault" in ln]
    notices = [ln for ln in lines if "attach point not provided" in ln]
    errors = [ln for ln in lines if ln.startswith("trace-run:") and ln not in notices
              and ln not in reported]
    failed = status != 0
    run_error = (errors[0] if errors else f"exit status {status}") if failed else ""
    return {"ran": not failed, "status": status, "run_error": run_error,
            "probe_fault_lines": reported, "notices": notices,
            "output_lines": len(output), "output_head": output[:3]}


# -- the exerciser: one deterministic command making the calls the tools observe ----------

#: (syscall, arguments) made by ``--exercise``; bad arguments where a real call would
#: change the machine (mount, umount2, the new mount API): the tracepoints fire all the same
EXERCISE = (
    ("open", (b"/etc/hostname", 0)), ("stat", (b"/", "buf")), ("lstat", (b"/", "buf")),
    ("fstat", ("fd", "buf")), ("newfstatat", (-100, b"/", "buf", 0)),
    ("statx", (-100, b"/", 0, 0xFFF, "buf")), ("statfs", (b"/", "buf")),
    ("fstatfs", ("fd", "buf")), ("sync", ()), ("fsync", ("fd",)), ("fdatasync", ("fd",)),
    ("syncfs", ("fd",)), ("sync_file_range", ("fd", 0, 0, 0)), ("msync", (0, 0, 0)),
    ("kill", ("pid", 0)), ("tkill", ("tid", 0)), ("tgkill", ("pid", "tid", 0)),
    ("mount", (0, 0, 0, 0, 0)), ("umount2", (b"/nonexistent-corpus", 0)),
    ("fsopen", (b"no-such-fs", 0)), ("fsconfig", (-1, 0, 0, 0, 0)), ("fsmount", (-1, 0, 0)),
    ("move_mount", (-1, 0, -1, 0, 0)), ("openat2", (-100, 0, 0, 0)),
    ("write", ("null", "buf", 512)),
)


def exercise() -> int:
    """Make each call of :data:`EXERCISE` once (x86_64), then run /bin/true (fork, exec,
    exit).  What a tool sees here is deterministic: the calls and their errors."""
    import ctypes
    import threading
    sys.path.insert(0, str(ROOT))
    from probes.abi import x86_64_syscall_number
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    buf = ctypes.create_string_buffer(4096)
    fd = os.open("/etc/hostname", os.O_RDONLY)
    null = os.open(os.devnull, os.O_WRONLY)
    values = {"fd": fd, "null": null, "buf": ctypes.addressof(buf), "pid": os.getpid(),
              "tid": threading.get_native_id()}
    for name, argv in EXERCISE:
        nr = x86_64_syscall_number(name)
        if nr is None:
            continue
        args = [values[a] if isinstance(a, str) else a for a in argv]
        libc.syscall(ctypes.c_long(nr), *[ctypes.c_char_p(a) if isinstance(a, bytes)
                                          else ctypes.c_long(a) for a in args])
    os.close(fd)
    os.close(null)
    return subprocess.run(["/bin/true"], check=False).returncode


# -- the report -----------------------------------------------------------------------------

def analyse(results: list[Result]) -> dict[str, Any]:
    loaded = [r for r in results if r.loaded]
    strict = [r for r in loaded if all(p["verified"] for p in r.programs)]
    totals = [r.counts() for r in results]
    groups: Counter[str] = Counter(r.group for r in results if not r.loaded)
    prog_groups: Counter[str] = Counter()
    for r in results:
        for p in r.programs:
            if not p["provided"]:
                why = re.sub(r"'[^']*'", "'…'", p["reason"])
                why = re.sub(r"^(tp_btf|raw_tp|raw_tracepoint|tracepoint|tp) \S+:", r"\1 …:", why)
                prog_groups["attach point not provided: " + why] += 1
    fully = [r for r in loaded if r.counts()[1] and r.counts()[1] == r.counts()[2]]
    return {
        "objects": len(results),
        "loaded": len(loaded),
        "loaded_every_program_verified": len(strict),
        "unprovided_refused_by_verifier": sum(
            1 for r in loaded for p in r.programs if not p["provided"] and not p["verified"]),
        "programs": sum(t[0] for t in totals),
        "programs_in_loaded": sum(r.counts()[0] for r in loaded),
        "providable": sum(r.counts()[1] for r in loaded),
        "ran": sum(t[2] for t in totals),
        "idle": sum(t[3] for t in totals),
        "faulted": sum(t[4] for t in totals),
        "objects_refused_by_trace_run": [r.name for r in loaded if r.run_error],
        "objects_all_providable_ran": len(fully),
        "objects_run_clean": len([r for r in loaded if r.counts()[1] and not r.run_error
                                  and not r.counts()[4]]),
        "refusals_by_group": dict(groups.most_common()),
        "unprovided_programs_by_reason": dict(prog_groups.most_common()),
    }


def _first_gap(r: Result) -> str:
    """Why a loaded object did not run everything: a provided program that did not run,
    or the first program whose attach point is not provided."""
    for p in r.programs:
        if p["provided"] and (not p.get("runs") or p.get("faults")):
            return (f"prog '{p['name']}' ({p['section']}): "
                    + (f"{p['faults']} faults" if p.get("faults")
                       else "attached, no event of the command"))
    gaps = [p for p in r.programs if not p["provided"]]
    if gaps:
        return f"{len(gaps)} not provided, e.g. {gaps[0]['section']}: {gaps[0]['reason']}"
    return ""


def print_table(results: list[Result], summary: dict[str, Any], versions: dict[str, str]) -> None:
    for k, v in versions.items():
        print(f"# {k}: {v}")
    print(f"{'object':34} {'progs':>5} {'loaded':>6} {'prov':>4} {'ran':>4} {'idle':>4}"
          f" {'fault':>5}  first refusal")
    for r in results:
        n, prov, ran, idle, fault = r.counts()
        why = r.error or r.run_error or _first_gap(r)
        print(f"{r.project + '/' + r.name:34} {n:>5} {'yes' if r.loaded else 'no':>6}"
              f" {prov:>4} {ran:>4} {idle:>4} {fault:>5}  {why[:150]}")
    s = summary
    print(f"\n{s['loaded']} of {s['objects']} objects load ({s['loaded_every_program_verified']}"
          " with every program verified, unprovided ones included); "
          f"{s['ran']} of {s['providable']}"
          f" providable programs (of {s['programs_in_loaded']} in the loaded objects,"
          f" {s['programs']} in all) run without a fault, {s['idle']} attached saw no event"
          f" of the command, {s['faulted']} faulted;"
          f" {s['objects_all_providable_ran']} objects run every providable program;"
          f" {s['objects_run_clean']} objects with a providable program run without a"
          " fault or a refusal")
    print("\nobjects that do not load, by reason:")
    for g, n in s["refusals_by_group"].items():
        names = ", ".join(r.name for r in results if not r.loaded and r.group == g)
        print(f"  {n:3}  {g}: {names}")
    print("\nprograms whose attach point trace-run does not provide:")
    for g, n in s["unprovided_programs_by_reason"].items():
        print(f"  {n:3}  {g}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bcc", default=str(DEFAULT_BCC), help="bcc git directory ('' : skip)")
    ap.add_argument("--bcc-ref", default="6d0a964c", help="bcc commit or tag")
    ap.add_argument("--bootstrap", default=str(DEFAULT_BOOTSTRAP),
                    help="libbpf-bootstrap git directory ('': skip)")
    ap.add_argument("--bootstrap-ref", default="HEAD")
    ap.add_argument("--libbpf", default=str(DEFAULT_LIBBPF),
                    help="libbpf git directory, for the headers of the commits the projects"
                         " pin ('': the system's libbpf-dev headers)")
    ap.add_argument("--kernel-samples", default=None,
                    help="a directory holding samples/bpf's tracex5.bpf.c and tracex5_kern.c")
    ap.add_argument("--vmlinux-h", default=None, help="a vmlinux.h (default: the host's BTF)")
    ap.add_argument("--command", default=COMMAND, help="what trace-run runs each object on")
    ap.add_argument("--no-run", action="store_true", help="load and verify only")
    ap.add_argument("--only", default=None, help="a regex on project/name")
    ap.add_argument("--keep", default=None, help="build into this directory and keep it")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--inspect", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--exercise", action="store_true",
                    help="be the command: make the calls of EXERCISE (give --command"
                         " 'python3 scripts/libbpf_corpus.py --exercise' to run objects on it)")
    args = ap.parse_args(argv)
    if args.exercise:
        return exercise()
    if args.inspect:
        print(json.dumps(inspect(Path(args.inspect), args.command, not args.no_run)))
        return 0
    cc = shlex.split(os.environ.get("BPF_CC") or "clang-14")
    with tempfile.TemporaryDirectory(prefix="libbpf-corpus-") as tmp:
        work = Path(tmp)
        outdir = Path(args.keep) if args.keep else work / "obj"
        outdir.mkdir(parents=True, exist_ok=True)
        todo, versions = units(args, work, cc)
        if args.only:
            todo = [u for u in todo if re.search(args.only, f"{u.project}/{u.name}")]
        versions["compiler"] = sh([*cc, "--version"]).stdout.splitlines()[0]

        def one(u: Unit) -> Result:
            res = Result(u.project, u.name)
            obj, err = build(u, cc, outdir)
            if obj is None:
                res.error, res.group = err, group_of(err)
                return res
            res.built = True
            cmd = [sys.executable, __file__, "--inspect", str(obj), "--command", args.command]
            if args.no_run:
                cmd.append("--no-run")
            r = sh(cmd, cwd=ROOT)
            try:
                data = json.loads(r.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                tb = r.stderr.strip().splitlines()
                res.error = "traceback: " + (tb[-1] if tb else f"exit {r.returncode}")
                res.group = "trace-run traceback"
                return res
            res.loaded, res.programs = data["loaded"], data["programs"]
            res.error = data["error"]
            res.group = group_of(res.error) if res.error else ""
            res.ran = data.get("ran", False)
            res.run_error = data.get("run_error", "")
            res.probe_faults = len(data.get("probe_fault_lines", []))
            if "attach_source" in data:
                versions["attach points"] = data["attach_source"]
            return res

        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            results = list(pool.map(one, todo))
    summary = analyse(results)
    if args.json:
        print(json.dumps({"versions": versions, "summary": summary,
                          "objects": [asdict(r) for r in results]}, indent=2))
    else:
        print_table(results, summary, versions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
