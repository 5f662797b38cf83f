"""The strace parity suite: how many of strace 6.1's lines trace-run prints identically.

    python3 scripts/strace_parity.py [--cases FILE] [--only NAME,...] [--show N]
                                     [--json FILE|-] [--min PCT]

Each case of tests/tracer/parity/cases.toml runs twice, from a freshly prepared work
directory each time: ``strace OPTIONS -o A CMD`` and ``trace-run OPTIONS -o B CMD`` (the
same options; stdin and stdout are /dev/null, stderr a pipe, the environment the same
fixed one).  Both outputs are normalised (``normalise``, rules below) and matched as a
multiset per normalised pid: a strace line counts as identical when trace-run printed the
very same normalised line for the same normalised process, however the lines of
concurrent processes interleave.  The row of a case is ``case  strace_lines  identical
percent``; the total is over the cases that ran.

A case is ``unsupported`` when trace-run refuses its options (exit status 2 before any
trace is written) and ``skipped`` when a program it needs is missing; neither counts in the
total.

The exit status is 0, unless ``--min PCT`` is given and the total is below PCT (1), or
the command line or the cases file is wrong (2).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "tracer" / "parity" / "cases.toml"
CSRC = ROOT / "tests" / "tracer" / "csrc"
MATCHING = "multiset of normalised lines per normalised pid"

NORMALISATION_RULES = """\
normalisation (each rule removes only what differs from run to run, not between tools):
  1. pids: the pid prefix ("1234  ", "[pid 1234] ", or the .PID suffix of -ff files)
     and a traced pid where a pid is meant (the return of getpid, clone, wait4...; the
     arguments of kill, wait4, prlimit64...; si_pid=, clone3's [tid], /proc/N/) become
     P1, P2, ...; without -f, the pid set_tid_address returns is P1.  P1 is the first
     process, then each process's children in the order its clone/clone3/fork/vfork
     calls returned them; getppid()'s value outside the traced tree becomes PPID.
  2. "<unfinished ...>" / "<... NAME resumed>" pairs of one pid are joined into one line
     (where strace splits a call depends on scheduling).
  3. the padding before " = RET" becomes one space when it is strace's (to column 40,
     counting the prefix, whose width depends on the pid); a wrong padding is kept and
     marked <pad N, want M>.
  4. hex numbers of 9 or more digits (user-space pointers under ASLR) become ADDR, unless
     all f: 0x7ffd9b16de68 -> ADDR, but 0x1, 0x7000, 0x53053053 stay.
  5. times become T: -t/-tt/-ttt/-r stamps, -T's <0.000012>; tv_sec/tv_nsec/tv_usec in
     clock_gettime, gettimeofday, futex and after select's "left"; time()'s value;
     st_atime/st_mtime/st_ctime (and _nsec) and statx's stx_*time; si_utime/si_stime;
     sysinfo's uptime, loads and free counts; -c's three time columns (% time,
     seconds, usecs/call) become "T T T" (the columns after them keep their layout).
  6. random bytes become "BYTES": getrandom's, and those read(2) from a descriptor the
     same process opened on /dev/urandom or /dev/random.
  7. inode numbers and changing free counts: st_ino, d_ino, socket:[N], pipe:[N],
     [N->M] of -yy, statfs's f_bfree, f_bavail, f_ffree become INO/N.
  8. the work directory's path becomes $TMP.
  9. a case's own `scrub` pairs (regex, replacement), for names a program draws at
     random (git's mkstemp names): listed in the cases file, next to the case.
  The "/* N vars */" count of execve stays (the environment is the same for both)."""


# ---- normalisation ------------------------------------------------------------------------

_PREFIX = re.compile(r"^(?:\[pid\s+(\d+)\] |(\d+)\s+(?=\S))")
_STAMP = re.compile(r"^(?:\s*\d+\.\d+ |\d\d:\d\d:\d\d(?:\.\d+)? |\d{9,}\.\d+ )")
_NUMBER = re.compile(r"^\[ *(?:\d+|\?+)\] ")  # -n
_DURATION = re.compile(r" <\d+\.\d+>$")
_UNFINISHED = " <unfinished ...>"
_RESUMED = re.compile(r"^<\.\.\. ([\w.]+) resumed>(.*)$")
_RETURN = re.compile(r"^(.*\S)( +)= (.*)$")
_HEX = re.compile(r"\b0x([0-9a-f]{9,})\b")
_TIMEVAL = re.compile(r"\b(tv_sec|tv_nsec|tv_usec)=\d+")
_TIME_CALLS = ("clock_gettime", "gettimeofday", "futex", "clock_gettime64")
_STAT_TIME = re.compile(r"\b(st_[amc]time(?:_nsec)?)=[^,}]*(?: /\* [^*]* \*/)?")
_STATX_TIME = re.compile(r"\b(stx_[abcm]time)=\{[^}]*\}")
_SIG_TIME = re.compile(r"\b(si_utime|si_stime)=\d+(?: /\* [^*]* \*/)?")
_SYSINFO = re.compile(r"\b(uptime|freeram|sharedram|bufferram|freeswap|procs|freehigh)=\d+"
                      r"|\bloads=\[[^\]]*\]")
_INO = re.compile(r"\b(st_ino|d_ino|f_bfree|f_bavail|f_ffree)=\d+")
_INODE_REF = re.compile(r"(:\[)\d+(?:->\d+)?(\])")
_GETRANDOM = re.compile(r'^getrandom\((?:"(?:[^"\\]|\\.)*"(?:\.\.\.)?|\[[^\]]*\])')
_RANDOM_OPEN = re.compile(r'^open(?:at)?\((?:\w+, )?"/dev/u?random", .*\) = (\d+)$')
_READ_FD = re.compile(r'^read\((\d+), "(?:[^"\\]|\\.)*"')
_LEFT = re.compile(r"left \{[^}]*\}")
_SUMMARY_ROW = re.compile(r"^\s*(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+)(\s.*)$")
_OWN_PID = re.compile(r"^(?:T )?(?:set_tid_address\(\w+\)|getpid\(\)|gettid\(\))\s+= (\d+)$")
_WORD_NUM = re.compile(r"\b\d+\b")
_RET_NUM = re.compile(r"( = )(\d+)((?: <T>)?)$")
_PID_FIELD = re.compile(r"(\bsi_pid=|_tid=\[|/proc/)(\d+)")
_PID_ARG_CALLS = frozenset((
    "kill", "tkill", "tgkill", "wait4", "waitid", "waitpid", "pidfd_open", "ptrace",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "setpgid", "getpgid", "getsid", "prlimit64",
    "sched_setaffinity", "sched_getaffinity", "sched_setscheduler", "sched_getscheduler",
    "sched_setparam", "sched_getparam", "sched_getattr", "sched_setattr", "process_vm_readv",
    "process_vm_writev", "kcmp", "get_robust_list", "ioprio_get", "ioprio_set",
    "getpriority", "setpriority", "pidfd_getfd", "process_madvise", "migrate_pages",
    "move_pages", "rt_sigreturn"))
_PID_RET_CALLS = frozenset((
    "clone", "clone3", "fork", "vfork", "getpid", "gettid", "getppid", "getpgid", "getpgrp",
    "getsid", "setsid", "set_tid_address", "wait4", "waitpid", "rt_sigreturn"))
_CHILD_CALLS = ("clone", "clone3", "fork", "vfork")


@dataclass
class _Line:
    pid: str          # the raw pid, or "" when the line has none (-c table, no -f)
    prefix_len: int   # width of the pid prefix and time stamp, for the padding rule
    text: str
    joined: bool = False
    number: str = ""  # -n's "[  59] ", kept as it is


def _split(raw: Iterable[tuple[str | None, str]]) -> list[_Line]:
    """Pid prefix and time stamp off; unfinished/resumed pairs joined (rules 1, 2, 5)."""
    out: list[_Line] = []
    pending: dict[str, int] = {}  # pid -> index of its unfinished line in out
    for file_pid, line in raw:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        pid = file_pid or ""
        m = _PREFIX.match(line) if file_pid is None else None
        if m:
            pid = m.group(1) or m.group(2)
            line = line[m.end():]
        prefix_len = 0 if m is None else m.end()
        s = _STAMP.match(line)
        if s and not _SUMMARY_ROW.match(line):
            prefix_len += s.end()
            line = "T " + line[s.end():]
        stamp, body = ("T ", line[2:]) if line.startswith("T ") else ("", line)
        n = _NUMBER.match(body)
        number = ""
        if n:
            prefix_len += n.end()
            number, body = body[:n.end()], body[n.end():]
        body = _DURATION.sub(" <T>", body)
        if body.endswith(_UNFINISHED):
            pending[pid] = len(out)
            out.append(_Line(pid, prefix_len, stamp + body[:-len(_UNFINISHED)], joined=True,
                             number=number))
            continue
        r = _RESUMED.match(body)
        if r and pid in pending:
            first = out[pending.pop(pid)]
            first.text += r.group(2)
            continue
        out.append(_Line(pid, prefix_len, stamp + body, number=number))
    return out


def _pid_order(lines: Sequence[_Line]) -> dict[str, str]:
    """Rule 1: P1 is the first process, then children in clone order, breadth first."""
    pids = list(dict.fromkeys(ln.pid for ln in lines if ln.pid))
    if not pids:  # no -f: the process's own pid, as set_tid_address or getpid return it
        for ln in lines:
            m = _OWN_PID.match(ln.text)
            if m:
                return {m.group(1): "P1"}
        return {}
    known = set(pids)
    by_pid: dict[str, list[str]] = {}
    for ln in lines:
        by_pid.setdefault(ln.pid, []).append(ln.text)
    names: dict[str, str] = {}
    queue = [pids[0]]
    while queue:
        pid = queue.pop(0)
        if pid in names:
            continue
        names[pid] = f"P{len(names) + 1}"
        for text in by_pid.get(pid, ()):
            body = text[2:] if text.startswith("T ") else text
            call = body.split("(", 1)[0]
            if call in _CHILD_CALLS:
                m = _RETURN.match(body)
                ret = m.group(3).split()[0] if m else ""
                if ret in known and ret not in names:
                    queue.append(ret)
    for pid in pids:  # any process whose creation was not seen
        names.setdefault(pid, f"P{len(names) + 1}")
    return names


def _pad(line: _Line, body: str) -> str:
    """Rule 3: strace pads ``CALL(...)`` to column 40 before ``= RET``."""
    m = _RETURN.match(body)
    if m is None:
        return body
    head, spaces, ret = m.groups()
    if line.joined:
        return f"{head} = {ret}"
    want = max(1, 40 - line.prefix_len - len(head))
    if len(spaces) == want:
        return f"{head} = {ret}"
    return f"{head} <pad {len(spaces)}, want {want}> = {ret}"


def _normalise_body(body: str, call: str) -> str:
    """Rules 4-8 on one line without its prefix (rule 8 is applied by the caller)."""
    body = _HEX.sub(lambda m: m.group(0) if set(m.group(1)) == {"f"} else "ADDR", body)
    if call in _TIME_CALLS:
        body = _TIMEVAL.sub(r"\1=T", body)
    elif call == "time":
        body = re.sub(r"= \d+$", "= T", body)
    if "left {" in body:
        body = _LEFT.sub(lambda m: _TIMEVAL.sub(r"\1=T", m.group(0)), body)
    if "time" in body:
        body = _STAT_TIME.sub(r"\1=T", body)
        body = _STATX_TIME.sub(r"\1={T}", body)
    if body.startswith("---"):
        body = _SIG_TIME.sub(r"\1=T", body)
    if call == "sysinfo":
        body = _SYSINFO.sub(lambda m: m.group(0).split("=")[0] + "=T", body)
    body = _INO.sub(r"\1=N", body)
    body = _INODE_REF.sub(r"\1INO\2", body)
    if call == "getrandom":
        body = _GETRANDOM.sub('getrandom("BYTES"', body)
    return body


def _summary_row(body: str) -> str:
    """Rule 5 on a -c table row: the three time columns become "T T T" (their widths
    vary with the values); the columns after them keep their exact layout."""
    m = _SUMMARY_ROW.match(body)
    return body if m is None else "T T T" + m.group(4)


def _pids(text: str, names: dict[str, str]) -> str:
    """Rule 1 inside a line: pids where a pid is meant, not any number that looks like one
    (a small pid would hit sizes and fds): the return of the calls that return a pid, the
    arguments of the calls that take one, si_pid=, [N] of clone3's tids, /proc/N/."""
    body = text[2:] if text.startswith("T ") else text
    call = body.split("(", 1)[0]
    if call in _PID_ARG_CALLS:
        text = _WORD_NUM.sub(lambda m: names.get(m.group(0), m.group(0)), text)
    elif call in _PID_RET_CALLS:
        text = _RET_NUM.sub(lambda m: m.group(1) + names.get(m.group(2), m.group(2))
                            + m.group(3), text)
    if "si_pid=" in text or "_tid=[" in text or "/proc/" in text:
        text = _PID_FIELD.sub(lambda m: m.group(1) + names.get(m.group(2), m.group(2)), text)
    return text


def normalise(raw: Iterable[tuple[str | None, str]], tmp: str | None = None,
              scrub: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """Normalise one trace for comparison; returns (normalised pid, line) pairs.

    ``raw`` holds (pid, line) pairs: pid None when the line carries its own pid prefix
    (``strace -f -o``) or none at all, else the pid from the file name (``-ff``).  ``tmp``
    is the work directory, replaced by $TMP; ``scrub`` holds the case's own (regex,
    replacement) pairs.  The rules are NORMALISATION_RULES."""
    lines = _split(raw)
    names = _pid_order(lines)
    pid_word = {pid: name for pid, name in names.items()}
    summary = ""  # in -c's table: "time" (with time columns) or "plain" (-U without)
    random_fds: set[tuple[str, str]] = set()  # (pid, fd) open on /dev/urandom
    out: list[tuple[str, str]] = []
    for ln in lines:
        text = ln.text
        stamp = ""
        if text.startswith("T "):
            stamp, text = "T ", text[2:]
        if not ln.pid and "(" not in text and ("% time" in text or "syscall" in text):
            summary = "time" if "% time" in text else "plain"
        elif summary and not ln.pid:
            text = _summary_row(text) if summary == "time" else text
        else:
            call = text.split("(", 1)[0]
            text = _pad(ln, text)
            text = _normalise_body(text, call)
            if call in ("open", "openat") and (r := _RANDOM_OPEN.match(text)):
                random_fds.add((ln.pid, r.group(1)))
            elif call == "read" and (r := _READ_FD.match(text)) \
                    and (ln.pid, r.group(1)) in random_fds:
                text = f'read({r.group(1)}, "BYTES"' + text[r.end():]
            elif call == "close" and random_fds:
                random_fds.discard((ln.pid, text[6:].split(")", 1)[0]))
            if call == "getppid":
                text = re.sub(r"= (\d+)((?: <T>)?)$",
                              lambda m: "= " + pid_word.get(m.group(1), "PPID") + m.group(2),
                              text)
        if pid_word:
            text = _pids(text, pid_word)
        if tmp:
            text = text.replace(tmp, "$TMP")
        for pattern, replacement in scrub:
            text = re.sub(pattern, replacement, text)
        out.append((names.get(ln.pid, "-"), stamp + ln.number + text))
    return out


def normalise_lines(lines: Iterable[str], tmp: str | None = None,
                    scrub: Sequence[tuple[str, str]] = ()) -> list[str]:
    """``normalise`` of the lines of one ``strace -o`` file, as "PID LINE" strings."""
    return [f"{pid} {text}"
            for pid, text in normalise(((None, ln) for ln in lines), tmp, scrub)]


def read_trace(path: Path) -> list[tuple[str | None, str]]:
    """The lines of ``-o PATH``, and of the ``PATH.PID`` files of -ff."""
    out: list[tuple[str | None, str]] = []
    if path.exists():
        out += [(None, ln) for ln in path.read_text(errors="backslashreplace").splitlines()]
    per_pid = sorted((p for p in path.parent.glob(path.name + ".*")
                      if p.suffix[1:].isdigit()), key=lambda p: int(p.suffix[1:]))
    for p in per_pid:
        out += [(p.suffix[1:], ln) for ln in p.read_text(errors="backslashreplace").splitlines()]
    return out


# ---- comparison ---------------------------------------------------------------------------

def compare(strace: Sequence[tuple[str, str]], ours: Sequence[tuple[str, str]]
            ) -> tuple[int, list[str], list[str]]:
    """(identical count, strace lines unmatched, trace-run lines unmatched), matching as a
    multiset per normalised pid.  The unmatched lists keep the order of the traces."""
    have = Counter(ours)
    identical = 0
    missing: list[str] = []
    for item in strace:
        if have[item] > 0:
            have[item] -= 1
            identical += 1
        else:
            missing.append(f"{item[0]} {item[1]}")
    extra: list[str] = []
    for item in ours:
        if have[item] > 0:
            have[item] -= 1
            extra.append(f"{item[0]} {item[1]}")
    return identical, missing, extra


# ---- cases --------------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    cmd: list[str]
    options: list[str]
    pending: list[str] = field(default_factory=list)
    needs: str | None = None
    scrub: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Result:
    name: str
    status: str           # ran, unsupported, skipped, error
    strace_lines: int = 0
    identical: int = 0
    note: str = ""
    options: list[str] = field(default_factory=list)
    trace_run_options: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)   # strace's lines trace-run lacks
    extra: list[str] = field(default_factory=list)     # trace-run's lines strace lacks

    @property
    def percent(self) -> float:
        return 100.0 * self.identical / self.strace_lines if self.strace_lines else 100.0


class UsageError(Exception):
    pass


def load_cases(path: Path) -> list[Case]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    cases: list[Case] = []
    seen: set[str] = set()
    for i, entry in enumerate(data.get("case", [])):
        where = f"{path}: case {i + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise UsageError(f"{where}: no name")
        unknown = set(entry) - {"name", "cmd", "options", "pending", "needs", "scrub"}
        if unknown:
            raise UsageError(f"{where} ({entry['name']}): unknown key {sorted(unknown)[0]}")
        if entry["name"] in seen:
            raise UsageError(f"{where}: duplicate name {entry['name']}")
        seen.add(entry["name"])
        for key in ("cmd", "options", "pending"):
            value = entry.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise UsageError(f"{where} ({entry['name']}): {key} must be a list of strings")
        if not entry.get("cmd"):
            raise UsageError(f"{where} ({entry['name']}): empty cmd")
        scrub = entry.get("scrub", [])
        try:
            pairs = [(str(p), str(r)) for p, r in scrub]
            for p, _ in pairs:
                re.compile(p)
        except (TypeError, ValueError, re.error) as exc:
            raise UsageError(f"{where} ({entry['name']}): scrub: {exc}") from None
        cases.append(Case(entry["name"], list(entry["cmd"]), list(entry.get("options", [])),
                          list(entry.get("pending", [])), entry.get("needs"), pairs))
    if not cases:
        raise UsageError(f"{path}: no [[case]]")
    return cases


FIXED_MTIME = 1577836800  # 2020-01-01 00:00:00 UTC


def prepare_workdir(work: Path) -> None:
    """The work directory every case starts from, the same at every run."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    (work / "a.txt").write_text("alpha\nbeta\ngamma\n")
    (work / "b.txt").write_text("pear\napple\nfig\nbanana\ncherry\n")
    (work / "sub").mkdir()
    (work / "sub" / "c.txt").write_text("in sub\n")
    (work / "empty").mkdir()
    (work / "ro.txt").write_text("read only\n")
    (work / "ro.txt").chmod(0o444)
    (work / "script.sh").write_text("#!/bin/sh\necho never\n")
    (work / "script.sh").chmod(0o644)
    (work / "f").write_text("f\n")
    for p in sorted(work.rglob("*"), key=lambda p: -len(p.parts)):
        os.utime(p, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
    os.utime(work, (FIXED_MTIME, FIXED_MTIME))


def real_python() -> str:
    return os.path.realpath(sys.executable)


def fixed_env() -> dict[str, str]:
    """One environment for both tools and the commands they run."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/root" if os.getuid() == 0 else os.environ.get("HOME", "/"),
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(ROOT),
        "PERL_HASH_SEED": "0",
        "PERL_PERTURB_KEYS": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
    }


class Runner:
    def __init__(self, base: Path, trace_run: list[str], timeout: float):
        self.base = base
        self.work = base / "work"
        self.bin = base / "bin"
        self.bin.mkdir(exist_ok=True)
        self.out = base / "out"
        self.out.mkdir(exist_ok=True)
        self.trace_run = trace_run
        self.timeout = timeout
        self.env = fixed_env()
        self.built: dict[str, str] = {}

    def cprog(self, name: str) -> str:
        if name not in self.built:
            src = CSRC / f"{name}.c"
            exe = self.bin / name
            try:
                proc = subprocess.run(["gcc", "-O1", "-pthread", "-o", str(exe), str(src)],
                                      capture_output=True, text=True, check=False)
            except OSError as exc:
                raise RuntimeError(f"gcc: {exc.strerror}") from None
            if proc.returncode != 0:
                raise RuntimeError(f"gcc {src.name}: {proc.stderr.strip().splitlines()[-1:]}")
            self.built[name] = str(exe)
        return self.built[name]

    def argv(self, case: Case) -> list[str]:
        def expand(arg: str) -> str:
            arg = arg.replace("{tmp}", str(self.work)).replace("{python}", real_python())
            arg = arg.replace("{sh}", "/bin/sh")
            return re.sub(r"\{cprog:(\w+)\}", lambda m: self.cprog(m.group(1)), arg)
        return [expand(a) for a in case.cmd]

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.work.mkdir(exist_ok=True)
        return subprocess.run(argv, cwd=self.work, env=self.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              errors="replace", timeout=self.timeout, check=False)

    def _trace(self, tool: list[str], options: list[str], cmd: list[str], out: Path
               ) -> subprocess.CompletedProcess[str]:
        for stale in [out, *out.parent.glob(out.name + ".*")]:
            stale.unlink(missing_ok=True)
        prepare_workdir(self.work)
        return self._run([*tool, *options, "-o", str(out), *cmd])

    def run(self, case: Case) -> Result:
        result = Result(case.name, "ran", options=case.options)
        if case.needs and shutil.which(case.needs) is None:
            result.status, result.note = "skipped", f"{case.needs} is not installed"
            return result
        try:
            cmd = self.argv(case)
        except RuntimeError as exc:
            result.status, result.note = "error", str(exc)
            return result
        ours_opts = list(case.options)
        result.trace_run_options = ours_opts
        a, b = self.out / f"{case.name}.strace", self.out / f"{case.name}.trace-run"
        try:
            sp = self._trace(["strace"], case.options, cmd, a)
            if not read_trace(a):
                result.status = "error"
                result.note = f"strace wrote nothing: {sp.stderr.strip()[:200]}"
                return result
            want = normalise(read_trace(a), str(self.base), case.scrub)
            tp = self._trace(self.trace_run, ours_opts, cmd, b)
        except subprocess.TimeoutExpired:
            result.status, result.note = "error", f"timed out after {self.timeout:.0f} s"
            return result
        except OSError as exc:  # a tool that cannot be run
            result.status, result.note = "error", f"{exc.filename or ''}: {exc.strerror}"
            return result
        got_raw = read_trace(b)
        if tp.returncode == 2 and not got_raw:
            result.status = "unsupported"
            first = (tp.stderr.strip().splitlines() or ["exit status 2"])
            refused = [ln for ln in first if "option" in ln.lower()] or first
            result.note = refused[0].strip(" \t│┃|╭╰─").strip()[:120]  # rich's error box
            return result
        got = normalise(got_raw, str(self.base), case.scrub)
        result.strace_lines = len(want)
        result.identical, result.missing, result.extra = compare(want, got)
        return result


# ---- report -------------------------------------------------------------------------------

def total(results: Sequence[Result]) -> tuple[int, int, float]:
    ran = [r for r in results if r.status == "ran"]
    lines = sum(r.strace_lines for r in ran)
    same = sum(r.identical for r in ran)
    return lines, same, (100.0 * same / lines if lines else 0.0)


def print_table(results: Sequence[Result], show: int, out: Any) -> None:
    width = max(len("TOTAL"), *(len(r.name) for r in results))
    print(f"matching: {MATCHING}", file=out)
    print(f"{'case':<{width}}  {'strace_lines':>12}  {'identical':>9}  {'percent':>7}",
          file=out)
    for r in results:
        if r.status == "ran":
            note = f"  ({r.note})" if r.note else ""
            print(f"{r.name:<{width}}  {r.strace_lines:>12}  {r.identical:>9}  "
                  f"{r.percent:>6.1f}%{note}", file=out)
        else:
            print(f"{r.name:<{width}}  {'-':>12}  {'-':>9}  {r.status:>7}  ({r.note})",
                  file=out)
        if show and r.status == "ran" and (r.missing or r.extra):
            for line in r.missing[:show]:
                print(f"    strace:    {line}", file=out)
            for line in r.extra[:show]:
                print(f"    trace-run: {line}", file=out)
    lines, same, pct = total(results)
    ran = sum(r.status == "ran" for r in results)
    print(f"{'TOTAL':<{width}}  {lines:>12}  {same:>9}  {pct:>6.1f}%  "
          f"({ran} of {len(results)} cases ran)", file=out)


def as_json(results: Sequence[Result]) -> dict[str, Any]:
    lines, same, pct = total(results)
    cases = []
    for r in results:
        d = asdict(r)
        d["percent"] = round(r.percent, 2) if r.status == "ran" else None
        cases.append(d)
    return {"matching": MATCHING, "strace_version": strace_version(),
            "total": {"strace_lines": lines, "identical": same, "percent": round(pct, 2),
                      "cases_ran": sum(r.status == "ran" for r in results),
                      "cases": len(results)},
            "cases": cases}


def strace_version() -> str:
    try:
        proc = subprocess.run(["strace", "-V"], capture_output=True, text=True, check=False)
    except OSError:
        return "not installed"
    return (proc.stdout.splitlines() or ["?"])[0]


def run_suite(cases: Sequence[Case], trace_run: list[str] | None = None,
              timeout: float = 120.0, progress: Any = None) -> list[Result]:
    """Run ``cases``; ``trace_run`` is the trace-run command (default: this checkout's)."""
    tool = trace_run or [real_python(), "-m", "tracer.cli"]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="strace-parity-") as base:
        runner = Runner(Path(base), tool, timeout)
        for case in cases:
            started = time.monotonic()
            results.append(runner.run(case))
            if progress is not None:
                print(f"  {case.name}: {results[-1].status} "
                      f"({time.monotonic() - started:.1f} s)", file=progress, flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="strace_parity.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run each parity case under strace and trace-run with the same options "
                    "and report the share of strace's lines trace-run printed identically "
                    f"(matching: {MATCHING}).",
        epilog=NORMALISATION_RULES)
    parser.add_argument("--cases", type=Path, default=CASES, help="the cases (TOML)")
    parser.add_argument("--only", default="", help="comma-separated case names to run")
    parser.add_argument("--show", type=int, default=0, metavar="N",
                        help="print the first N differing lines of each case (both sides)")
    parser.add_argument("--json", metavar="FILE|-", help="write the results as JSON")
    parser.add_argument("--min", type=float, metavar="PCT",
                        help="exit 1 when the total is below PCT")
    parser.add_argument("--trace-run", metavar="CMD",
                        help="the trace-run command, split on blanks "
                             "(default: this checkout, python3 -m tracer.cli)")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="S",
                        help="per traced run (default 120)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each case's status as it ends")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        if args.show < 0:
            raise UsageError("--show: N must be >= 0")
        if shutil.which("strace") is None:
            raise UsageError("strace is not installed")
        cases = load_cases(args.cases)
        if args.only:
            wanted = [n for n in args.only.split(",") if n]
            unknown = [n for n in wanted if n not in {c.name for c in cases}]
            if unknown:
                raise UsageError(f"--only: no case named {unknown[0]}")
            cases = [c for c in cases if c.name in wanted]
    except UsageError as exc:
        print(f"strace_parity.py: {exc}", file=sys.stderr)
        return 2
    results = run_suite(cases, args.trace_run.split() if args.trace_run else None,
                        args.timeout,
                        progress=sys.stderr if args.verbose else None)
    try:
        if args.json == "-":
            json.dump(as_json(results), sys.stdout, indent=1)
            print()
        else:
            print_table(results, args.show, sys.stdout)
            if args.json:
                Path(args.json).write_text(json.dumps(as_json(results), indent=1) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as exc:
        print(f"strace_parity.py: {args.json}: {exc.strerror}", file=sys.stderr)
        return 2
    _, _, pct = total(results)
    if args.min is not None and pct < args.min:
        print(f"strace_parity.py: total {pct:.1f}% is below --min {args.min:g}%",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
