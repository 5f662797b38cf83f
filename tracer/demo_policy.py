"""``bpf-vm demo``, chapters 5 and 6: a seccomp profile compiled into per-syscall
programs and enforced on a real command, and a sweep.

Both run trace-run itself: the profile is compiled in process (what ``trace-run
--policy PROFILE --print-programs`` prints), then ``trace-run --policy PROFILE mkdir
DIR`` and ``trace-run --sweep CMD`` run as child processes, as a reader would type them.

With ``--html`` the enforcing run also records the policy's programs at the denied
mkdir (``--explain DIR/chapter5-policy.html --explain-syscalls mkdir,mkdirat``: the
page comes from the very run the chapter shows); the sweep writes no page (its runs
are many child processes'), and its chapter says so.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bpf_vm import Demo

PROFILE = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "comment": "no new directories: EPERM"},
    ],
}
"""The chapter's profile: everything allowed but mkdir and mkdirat, which fail with
EPERM (errno 1)."""

SWEEP_COMMAND = ("cat", "/etc/hostname")
TIMEOUT = 120.0
EXPLAIN_SYSCALLS = "mkdir,mkdirat"
"""The calls chapter 5's page records (``--explain-syscalls``)."""


def trace_run(args: Sequence[str], *, width: int = 100,
              timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``trace-run ARGS`` as a child process (this interpreter, ``-m tracer.cli``), its
    output captured."""
    env = dict(os.environ, COLUMNS=str(width))
    env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "tracer.cli", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL,
                          check=False)


def page_runs(path: Path) -> int:
    """How many runs the explorer page at ``path`` holds (ValueError: not a page)."""
    m = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>',
                  path.read_text(errors="replace"), re.S)
    if m is None:
        raise ValueError(f"{path}: no explorer data in it")
    return len(json.loads(m.group(1)).get("runs", []))


def blocks(listing: str, wanted: Sequence[str]) -> str:
    """The blocks (separated by blank lines) of a ``--print-programs`` listing whose first
    line starts with one of ``wanted`` program names followed by a colon."""
    out = [b for b in listing.split("\n\n")
           if any(b.lstrip("\n").startswith(f"{w}:") for w in wanted)]
    return "\n\n".join(b.strip("\n") for b in out) + "\n"


def policy_chapter(demo: Demo) -> None:
    from probes.policy.compiler import compile_policy
    from probes.policy.models import load_profile
    from probes.policy.resolve import Environment, resolve
    demo.say("""
        Containers run under seccomp profiles: JSON files (Docker's default, the
        linux.seccomp of an OCI config) that say, per syscall, allow, fail with an
        errno, or kill.  runc hands them to libseccomp, which builds one classic-BPF
        filter.  trace-run compiles the same profile into eBPF instead, in the shape of
        this tour: a dispatcher that tail-calls by syscall number into one small
        program per syscall that has rules, and the profile's default action as the
        dispatcher's fall-through.  Here is a profile that forbids creating
        directories.""")
    with tempfile.TemporaryDirectory(prefix="bpf-vm-demo-") as tmp:
        profile = Path(tmp) / "no-mkdir.json"
        profile.write_text(json.dumps(PROFILE, indent=2) + "\n")
        demo.code(profile.read_text())
        policy = resolve(load_profile(profile), Environment.from_host(None),
                         source=str(profile))
        compiled = compile_policy(policy)
        listing = compiled.listing()
        programs = [line.split(":")[0] for line in listing.splitlines()
                    if line and not line.startswith(" ") and ": " in line]
        demo.title(f"Compiled: {len(programs)} programs ({', '.join(programs)})")
        demo.code(blocks(listing, [p for p in programs if p == "dispatch"
                                   or p.startswith("x86_64_mkdir")]))
        demo.say("""
            The dispatcher is tracex5's again.  Each mkdir program ends in
            bpf_override_return(ctx, -1): in the kernel, what a kprobe with error
            injection does to the function it probes (the call is skipped and returns
            -EPERM).  trace-run applies the same effect to the traced process: the
            syscall is skipped at its entry stop and returns -1 with errno EPERM.  The
            i386 and x32 dispatchers kill, because the profile does not list those
            ABIs, as libseccomp's filter would.  Now enforce it on a real mkdir.""")
        target = Path(tmp) / "x"
        log = Path(tmp) / "trace.txt"
        page = demo.page_path("policy")
        explain = (["--explain", str(page), "--explain-syscalls", EXPLAIN_SYSCALLS]
                   if page is not None else [])
        args = ["--policy", str(profile), "-o", str(log), *explain, "--", "mkdir",
                str(target)]
        res = trace_run(args, width=demo.width)
        demo.line()
        demo.line(f"$ trace-run --policy no-mkdir.json -o trace.txt {' '.join(explain)}"
                  f"{' ' if explain else ''}mkdir {target}")
        demo.code(res.stderr.rstrip() or "(nothing on stderr)")
        demo.line(f"  exit status {res.returncode}; {target} "
                  f"{'exists' if target.exists() else 'was not created'}")
        denied = [line for line in (log.read_text().splitlines() if log.exists() else [])
                  if "DENIED" in line]
        demo.line("$ grep DENIED trace.txt")
        demo.code("\n".join(denied) or "(no denied call)")
        if not denied or "EPERM" not in "\n".join(denied):
            raise RuntimeError(f"mkdir was not denied with EPERM (exit {res.returncode}: "
                               f"{res.stderr.strip()[:200]})")
        if page is not None:
            with demo.step(f"writing its page {page}"):
                runs = page_runs(page)
                demo.wrote(page, f"the policy's programs at the denied mkdir, {runs} "
                                 f"run{'' if runs == 1 else 's'}, written by that trace-run")
    demo.say("""
        mkdir(2) returned -1 EPERM ("Operation not permitted") and mkdir(1) said so;
        everything else the command did ran untouched.  The same profile also runs in
        audit mode (--audit: nothing enforced, a report of what would have been
        denied), and --compare runs the command under the kernel's own seccomp filter,
        built by libseccomp from the same profile, to check that both agree.""")


def sweep_chapter(demo: Demo) -> None:
    argv = list(SWEEP_COMMAND)
    demo.say(f"""
        Which syscalls does a command really need?  A sweep answers by experiment.
        trace-run records the syscalls of a baseline run of `{' '.join(argv)}`, then
        reruns it once per syscall with only that syscall denied (a one-rule policy
        compiled as above), in parallel, and compares each run's exit status and output
        with the baseline's.  A syscall whose denial changes nothing is not needed.
        The suggested profile allows only the needed ones and is checked by a last
        run.""")
    if demo.html is not None:
        demo.line()
        demo.line("  (--html: no explorer page for this chapter: the sweep's runs are "
                  "child processes, one per syscall; chapter 5's page shows one run of "
                  "such a policy)")
    with tempfile.TemporaryDirectory(prefix="bpf-vm-demo-") as tmp:
        out, report = Path(tmp) / "min.json", Path(tmp) / "sweep.json"
        res = trace_run(["--sweep", "--sweep-timeout", "20", "--json", str(report),
                         "--record-profile", str(out), "--", *argv], width=demo.width)
        demo.line()
        demo.line(f"$ trace-run --sweep --record-profile min.json -- {' '.join(argv)}")
        demo.code(res.stdout.rstrip() or res.stderr.rstrip() or "(no output)")
        if res.returncode != 0 or not out.exists() or not report.exists():
            raise RuntimeError(f"the sweep exited {res.returncode}: "
                               f"{' '.join(res.stderr.strip().splitlines()[-1:])}")
        profile = json.loads(out.read_text())
        results = json.loads(report.read_text()).get("results", [])
    names = sorted(n for rule in profile.get("syscalls", []) for n in rule.get("names", []))
    demo.line(f"  min.json allows {len(names)} syscalls: {' '.join(names)}; every other "
              f"one fails with errno {profile.get('defaultErrnoRet', 1)}")
    demo.line()
    for line in sweep_summary(results):
        demo.line(f"  {line}")
    demo.say("""
        Read the table as a map of the command's dependencies.  Some denials stop the
        command before it starts (the dynamic loader needs mmap, openat, mprotect),
        some change nothing visible (a library that falls back quietly), and some make
        the command call something new: the "new calls" column, such as an error
        message written with writev, or an abort.  Every row is a real run of the
        command under a compiled policy: the same dispatcher and the same tail calls as
        in chapter 2, at every syscall of every run.""")


def sweep_summary(results: Sequence[dict[str, object]]) -> list[str]:
    """What a sweep's rows say, grouped: how each needed syscall broke the command, the
    ones it can do without, the ones whose denial made it call something new."""
    broke: dict[str, list[str]] = {}
    spare: list[str] = []
    new: list[str] = []
    for row in results:
        name = str(row.get("syscall"))
        if row.get("needed"):
            broke.setdefault(str(row.get("end")), []).append(name)
        else:
            spare.append(name)
        fallbacks = row.get("fallbacks") or []
        if isinstance(fallbacks, list) and fallbacks:
            new.append(f"{name} -> {' '.join(str(f) for f in fallbacks)}")
    lines = [f"denied, {end}: {' '.join(names)}" for end, names in sorted(broke.items())]
    if spare:
        lines.append(f"denied, nothing changed: {' '.join(spare)}")
    if new:
        lines.append(f"denied, it called something new: {'; '.join(new)}")
    return lines


__all__ = ["EXPLAIN_SYSCALLS", "PROFILE", "SWEEP_COMMAND", "blocks", "page_runs",
           "policy_chapter", "sweep_chapter", "sweep_summary", "trace_run"]
