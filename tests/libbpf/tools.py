"""The distribution's libbpf-tools (/usr/sbin, bcc v0.26.0) run in the host kernel on
csrc/lbtest.c, and the same tools' BPF objects (built from tests/libbpf_progs) run
under ``trace-run --probe``: both reduced to the same comparable events.

An event is a tuple of what both sides report: pids relative (0 = the helper, 1, 2...
its children in order of appearance, ``"ext"`` any other), paths, flags, return values.

Readiness: each tool is started after the helper, which waits for a byte on stdin.
A tool is ready when it prints its header line, if it opens its perf buffer before
printing it (exitsnoop, statsnoop, sigsnoop, mountsnoop, syscount), or else (opensnoop,
execsnoop print the header first) when it prints the helper's sentinel call.  The end:
the helper's last call, printed; syscount prints its table at SIGINT, after the helper
has exited."""

from __future__ import annotations

import errno as errno_mod
import json
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Event = tuple[Any, ...]
LINE_TIMEOUT = 60.0

#: <sys/mount.h>'s MS_* values, by the names mountsnoop prints
MS_FLAGS = {"MS_RDONLY": 1, "MS_NOSUID": 2, "MS_NODEV": 4, "MS_NOEXEC": 8,
            "MS_SYNCHRONOUS": 16, "MS_REMOUNT": 32, "MS_MANDLOCK": 64, "MS_DIRSYNC": 128,
            "MS_NOSYMFOLLOW": 256, "MS_NOATIME": 1024, "MS_NODIRATIME": 2048,
            "MS_BIND": 4096, "MS_MOVE": 8192, "MS_REC": 16384, "MS_SILENT": 32768,
            "MS_POSIXACL": 1 << 16, "MS_UNBINDABLE": 1 << 17, "MS_PRIVATE": 1 << 18,
            "MS_SLAVE": 1 << 19, "MS_SHARED": 1 << 20, "MS_RELATIME": 1 << 21,
            "MS_KERNMOUNT": 1 << 22, "MS_I_VERSION": 1 << 23, "MS_STRICTATIME": 1 << 24,
            "MS_LAZYTIME": 1 << 25}
#: mountsnoop.c's flag_names[]: the name it prints for bit i (v0.26.0 slips from bit 9 on:
#: bit 14, MS_REC's, prints as "MS_VERBOSE"), so its lines are read back by bit index
MOUNTSNOOP_BITS = (
    "MS_RDONLY", "MS_NOSUID", "MS_NODEV", "MS_NOEXEC", "MS_SYNCHRONOUS", "MS_REMOUNT",
    "MS_MANDLOCK", "MS_DIRSYNC", "MS_NOSYMFOLLOW", "MS_NOATIME", "MS_NODIRATIME", "MS_BIND",
    "MS_MOVE", "MS_REC", "MS_VERBOSE", "MS_SILENT", "MS_POSIXACL", "MS_UNBINDABLE",
    "MS_PRIVATE", "MS_SLAVE", "MS_SHARED", "MS_RELATIME", "MS_KERNMOUNT", "MS_I_VERSION",
    "MS_STRICTATIME", "MS_LAZYTIME", "MS_SUBMOUNT", "MS_NOREMOTELOCK", "MS_NOSEC", "MS_BORN",
    "MS_ACTIVE", "MS_NOUSER")
SYSCALL_NRS = {"getppid": 110, "getpgid": 121, "getsid": 124}
COUNTS = {"getppid": 7, "getpgid": 3, "getsid": 5}     # what lbtest count makes


class Pids:
    """Pids made relative: the helper 0, others numbered in order of appearance."""

    def __init__(self, helper: int) -> None:
        self.map = {helper: 0}

    def known(self, pid: int) -> bool:
        return pid in self.map

    def add(self, pid: int) -> None:
        self.map.setdefault(pid, len(self.map))

    def __call__(self, pid: int) -> Any:
        return self.map.get(pid, "ext")


class Lines:
    """A child's stdout, line by line, with a time limit for each line (a hung tool
    fails the test instead of hanging it)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.proc, self.fd, self.buf = proc, proc.stdout.fileno(), b""
        self.seen: list[str] = []

    def next(self) -> str | None:
        while b"\n" not in self.buf:
            r, _, _ = select.select([self.fd], [], [], LINE_TIMEOUT)
            if not r:
                raise TimeoutError(f"no line in {LINE_TIMEOUT}s; so far: {self.seen}")
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        self.seen.append(line.decode(errors="replace"))
        return self.seen[-1]

    def until(self, pred: Callable[[str], bool]) -> None:
        while (line := self.next()) is not None:
            if pred(line):
                return
        raise AssertionError(f"the tool ended before the expected line: {self.seen}")


@dataclass
class Tool:
    """One libbpf-tools tool: how to run it against the helper, and how its two
    outputs become events."""
    name: str
    mode: str                                   # lbtest's MODE
    args: Callable[[int], list[str]]            # the tool's options, given the helper pid
    ready: Callable[[str, int], bool]
    done: Callable[[str, int], bool] | None     # None: the table printed at SIGINT
    kernel_events: Callable[[list[str], Pids], list[Event]]
    record_events: Callable[[list[dict[str, Any]], Pids], list[Event]]
    sets: list[str] = field(default_factory=list)   # what the tool's skeleton sets
    perf: bool = True       # its events go through a PERF_EVENT_ARRAY (else ringbuf/map)


def ensure_debugfs() -> str | None:
    """libbpf-tools 0.26 asks /sys/kernel/debug/tracing whether a tracepoint exists
    (trace_helpers.c's tracepoint_exists), and leaves out the programs of those it
    thinks missing (opensnoop's open): mount debugfs when that path is absent."""
    if Path("/sys/kernel/debug/tracing/events").is_dir():
        return None
    res = subprocess.run(["mount", "-t", "debugfs", "nodev", "/sys/kernel/debug"],
                         capture_output=True, text=True, check=False)
    if not Path("/sys/kernel/debug/tracing/events").is_dir():
        return ("libbpf-tools 0.26 looks for tracepoints in /sys/kernel/debug/tracing, "
                f"and debugfs cannot be mounted: {res.stderr.strip() or res.returncode}")
    return None


#: x86_64 nanosleep, clock_nanosleep, epoll_wait, epoll_pwait, epoll_pwait2
WAITING_CALLS = {35, 230, 232, 281, 441}


def wait_until_waiting(pid: int, limit: float = 60.0) -> None:
    """Until ``pid`` is blocked in its main loop's wait (/proc/PID/syscall): syscount
    prints its table only from the loop, so a SIGINT before it gets there (it prints
    its banner just before) ends it silently."""
    end = time.monotonic() + limit
    path = Path(f"/proc/{pid}/syscall")
    while time.monotonic() < end:
        try:
            first = path.read_text().split()[0]
        except (OSError, IndexError):
            return          # gone: its output says what happened
        if first.isdigit() and int(first) in WAITING_CALLS:
            return
        os.sched_yield()
    raise TimeoutError(f"pid {pid} never waited in its main loop")


def run_kernel_tool(tool: Tool, exe: str, lbtest: Path, work: Path) -> tuple[list[str], int]:
    """The tool's output lines for one helper run, and the helper's pid."""
    helper = subprocess.Popen([str(lbtest), tool.mode, str(work)], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL)
    proc = subprocess.Popen(["stdbuf", "-oL", exe, *tool.args(helper.pid)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = Lines(proc)
    try:
        out.until(lambda line: tool.ready(line, helper.pid))
        assert helper.stdin is not None
        helper.stdin.write(b"g")
        helper.stdin.close()
        if tool.done is not None:
            done = tool.done
            out.until(lambda line: done(line, helper.pid))
            helper.wait(timeout=60)
            proc.send_signal(signal.SIGINT)
        else:
            helper.wait(timeout=60)
            wait_until_waiting(proc.pid)
            proc.send_signal(signal.SIGINT)
            while out.next() is not None:
                pass
        proc.wait(timeout=60)
    finally:
        for p in (proc, helper):
            if p.poll() is None:
                p.kill()
                p.wait()
        assert proc.stderr is not None
        err = proc.stderr.read().decode(errors="replace")
    if not out.seen:
        raise AssertionError(f"{exe} printed nothing: {err}")
    return out.seen, helper.pid


def json_records(text: str) -> tuple[list[dict[str, Any]], int]:
    """The BTF-decoded records of trace-run's --records output, one JSON object a line
    (``{"map": M, "record": {...}}``, as bpf_vm.btf_output renders them; a bare object
    is taken as the record), and how many records stayed hex (``"data"``)."""
    out, hex_only = [], 0
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "map" in obj and not isinstance(obj.get("record"), dict):
            hex_only += 1
            continue
        out.append(obj["record"] if "map" in obj else obj)
    return out, hex_only


def _byte(c: Any) -> int:
    return ord(c) if isinstance(c, str) else int(c) & 0xFF


def raw(v: Any) -> bytes:
    """A char array as decoded (bpftool's way): the string before its NUL, or a list
    of characters (one-character strings) or byte values."""
    if isinstance(v, list):
        return bytes(_byte(c) for c in v)
    return str(v).encode()


def text(v: Any) -> str:
    return raw(v).split(b"\0", 1)[0].decode(errors="replace")


def _cols(line: str, n: int) -> list[str] | None:
    parts = line.split(None, n)
    return parts if len(parts) == n + 1 and parts[0].lstrip("-").isdigit() else None


def _track(pids: Pids, pid: int, ppid: int | None = None) -> bool:
    if pids.known(pid) or (ppid is not None and pids.known(ppid)):
        pids.add(pid)
        return True
    return False


# ---- opensnoop -e -p PID -------------------------------------------------------------

def after_last(events: list[Event], suffix: str) -> list[Event]:
    """The events after the last one whose path (last column) ends with ``suffix``: the
    helper's marker call.  Under trace-run the tool sees the whole process, the dynamic
    loader's calls included; in the kernel, only what follows the tool's start."""
    idx = [i for i, e in enumerate(events) if str(e[-1]).endswith(suffix)]
    return events[idx[-1] + 1:] if idx else events


def _open_kernel(lines: list[str], pids: Pids) -> list[Event]:
    out = []
    for line in lines:
        if (c := _cols(line, 5)) is None:
            continue
        pid, _comm, fd, err, flags, path = c
        ret = int(fd) if int(err) == 0 else -int(err)
        out.append((pids(int(pid)), ret, int(flags, 8), path))
    return after_last(out, "/ready")


def _open_records(recs: list[dict[str, Any]], pids: Pids) -> list[Event]:
    out = [(pids(r["pid"]), r["ret"], r["flags"], text(r["fname"])) for r in recs]
    return after_last(out, "/ready")


# ---- statsnoop -p PID ----------------------------------------------------------------

def _stat_kernel(lines: list[str], pids: Pids) -> list[Event]:
    out = []
    for line in lines:
        if (c := _cols(line, 4)) is None:
            continue
        pid, _comm, ret, err, path = c
        out.append((pids(int(pid)), int(ret) if int(err) == 0 else -int(err), path))
    return after_last(out, "/start")


def _stat_records(recs: list[dict[str, Any]], pids: Pids) -> list[Event]:
    return after_last([(pids(r["pid"]), r["ret"], text(r["pathname"])) for r in recs],
                      "/start")


# ---- execsnoop -x -n lbtest ------------------------------------------------------------

def _strip_ready(events: list[Event]) -> list[Event]:
    """The events after the last sentinel exec (of DIR/lbtest-ready)."""
    return after_last(events, "/lbtest-ready")


def _exec_kernel(lines: list[str], pids: Pids) -> list[Event]:
    out = []
    for line in lines:
        parts = line.split(None, 4)
        if len(parts) < 5 or not parts[1].isdigit():
            continue
        _comm, pid, ppid, ret, args = parts
        if _track(pids, int(pid), int(ppid)):
            out.append((pids(int(pid)), pids(int(ppid)), int(ret), args.split()[0]))
    return _strip_ready(out)


def _exec_records(recs: list[dict[str, Any]], pids: Pids) -> list[Event]:
    out = []
    for r in recs:
        _track(pids, r["pid"], r["ppid"])
        # the path execve got (a char array decoded as a string stops at its NUL)
        out.append((pids(r["pid"]), pids(r["ppid"]), r["retval"], text(r["args"])))
    return _strip_ready(out)


# ---- exitsnoop (every exit; the helper's tree kept) ------------------------------------

def _exit_kernel(lines: list[str], pids: Pids) -> list[Event]:
    out = []
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) < 6 or not parts[1].isdigit():
            continue
        _comm, pid, ppid, _tid, _age, how = parts
        if _track(pids, int(pid), int(ppid)):
            out.append((pids(int(pid)), pids(int(ppid)), how.strip()))
    return out


def _exit_how(sig: int, code: int) -> str:
    if not sig:
        return "0" if not code else f"code {code}"
    return f"signal {sig & 0x7F} ({signal.strsignal(sig & 0x7F)})" + \
        (", core dumped" if sig & 0x80 else "")


def _exit_records(recs: list[dict[str, Any]], pids: Pids) -> list[Event]:
    out = []
    for r in recs:
        _track(pids, r["pid"], r["ppid"])
        out.append((pids(r["pid"]), pids(r["ppid"]), _exit_how(r["sig"], r["exit_code"])))
    return out


# ---- sigsnoop -k -p PID ------------------------------------------------------------------

def _sig_kernel(lines: list[str], pids: Pids) -> list[Event]:
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) != 6 or not parts[1].isdigit():
            continue
        _t, pid, _comm, sig, tpid, res = parts
        out.append((pids(int(pid)), int(sig), pids(int(tpid)), int(res)))
    return out


def _sig_records(recs: list[dict[str, Any]], pids: Pids) -> list[Event]:
    return [(pids(r["pid"]), r["sig"], pids(r["tpid"]), r["ret"]) for r in recs]


# ---- mountsnoop -p PID -----------------------------------------------------------------

_MOUNT = re.compile(r'mount\("(.*)", "(.*)", "(.*)", ([^"]+), "(.*)"\) = (\S+)$')
_UMOUNT = re.compile(r'umount\("(.*)", ([^"]+)\) = (\S+)$')


def _flags(names: str) -> int:
    if names.strip() == "0x0":
        return 0
    return sum(1 << MOUNTSNOOP_BITS.index(n.strip()) for n in names.split("|"))


def _ret(name: str) -> int:
    return 0 if name == "0" else -getattr(errno_mod, name.lstrip("-"))


def _mount_kernel(lines: list[str], pids: Pids) -> list[Event]:
    out: list[Event] = []
    for line in lines:
        if m := _UMOUNT.search(line):
            dest, flags, ret = m.groups()
            out.append(("umount", dest, _flags(flags), _ret(ret)))
        elif m := _MOUNT.search(line):
            src, dest, fs, flags, data, ret = m.groups()
            out.append(("mount", src, dest, fs, _flags(flags), data, _ret(ret)))
    return out


def _mount_records(recs: list[dict[str, Any]], pids: Pids) -> list[Event]:
    out: list[Event] = []
    for r in recs:
        umount = r["op"] in (1, "UMOUNT")
        if umount:
            out.append(("umount", text(r["dest"]), r["flags"], r["ret"]))
        else:
            out.append(("mount", text(r["src"]), text(r["dest"]), text(r["fs"]), r["flags"],
                        text(r["data"]), r["ret"]))
    return out


# ---- syscount -p PID -T 40: the counts of the calls lbtest makes -----------------------

def count_kernel(lines: list[str], pids: Pids) -> list[Event]:
    got = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[0] in COUNTS and parts[1].isdigit():
            got[parts[0]] = int(parts[1])
    return sorted(got.items())


def count_map(dump: dict[str, Any]) -> list[Event]:
    """syscount's ``data`` map (syscall nr -> struct data_t) of --dump-maps."""
    by_nr = {}
    for entry in dump.get("data", []):
        f = entry.get("formatted", {})
        by_nr[f["key"]] = f["value"]["count"]
    return sorted((name, by_nr.get(nr, 0)) for name, nr in SYSCALL_NRS.items())


def _ends(suffix: str) -> Callable[[str, int], bool]:
    return lambda line, _pid: line.rstrip().endswith(suffix)


def _header(word: str) -> Callable[[str, int], bool]:
    return lambda line, _pid: line.split()[:1] == [word] if line.split() else False


INVALID_UID = str((1 << 32) - 1)

TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("opensnoop", "open", lambda pid: ["-e", "-p", str(pid)], _ends("/ready"),
         _ends("/missing/deeper"), _open_kernel, _open_records,
         sets=[f"targ_uid={INVALID_UID}"]),
    # done=None: the host's statsnoop may print nothing (see the test), so no last line
    # is awaited; its events are read until it exits at SIGINT, after lbtest's exit
    Tool("statsnoop", "stat", lambda pid: ["-p", str(pid)], _header("PID"), None,
         _stat_kernel, _stat_records),
    Tool("execsnoop", "exec", lambda pid: ["-x", "-n", "lbtest"],
         lambda line, _pid: "/lbtest-ready " in f"{line} ",
         lambda line, _pid: "exec-last" in line,
         _exec_kernel, _exec_records,
         sets=["ignore_failed=false", f"targ_uid={INVALID_UID}", "max_args=20"]),
    Tool("exitsnoop", "exit", lambda pid: [], _header("PCOMM"),
         lambda line, pid: line.split()[1:2] == [str(pid)], _exit_kernel, _exit_records),
    Tool("sigsnoop", "signal", lambda pid: ["-k", "-p", str(pid)], _header("TIME"),
         lambda line, pid: line.split()[3:5] == ["0", str(pid)], _sig_kernel, _sig_records),
    Tool("mountsnoop", "mount", lambda pid: ["-p", str(pid)], _header("COMM"),
         lambda line, _pid: "umount(" in line and "/missing" in line,
         _mount_kernel, _mount_records, perf=False),
    Tool("syscount", "count", lambda pid: ["-p", str(pid), "-T", "40"],
         lambda line, _pid: line.startswith("Tracing syscalls"), None,
         count_kernel, lambda recs, pids: [], perf=False),
)}


def trace_run_argv(obj: Path, sets: Sequence[str], lbtest: Path, mode: str, work: Path,
                   *extra: str) -> list[str]:
    return ["-o", "/dev/null", "--probe", str(obj), *(a for s in sets for a in ("--set", s)),
            *extra, str(lbtest), mode, str(work)]
