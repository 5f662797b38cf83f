"""tracer/guard.py on a fake /proc: what is refused, what is redirected, what is left
alone; the numbers per ABI; the CLI's --detach-on-exit/--force-detach rule."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest

from probes.abi import X32_SYSCALL_BIT, Abi, syscall_number
from tracer.guard import (
    GUARDED_NAMES,
    GUARDED_NRS,
    GuardKind,
    GuardVerdict,
    Process,
    ProcSystem,
    Protected,
    deliver,
    guard,
)
from tracer.handler import Action

from .conftest import run_cli

ME = 1000            # trace-run
MY_THREAD = 1001     # another thread of trace-run
PGRP = 1000          # trace-run leads its process group
TRACEE = 1100        # the caller, in trace-run's group
SIBLING = 1101       # another tracee in the group
OTHER_USER = 1102    # in the group, another uid
ELSEWHERE = 2000     # another group


@dataclass
class FakeSystem:
    procs: dict[int, Process] = field(default_factory=dict)
    threads: dict[int, frozenset[int]] = field(default_factory=dict)
    fds: dict[tuple[int, int], int] = field(default_factory=dict)
    foreign_ns: set[int] = field(default_factory=set)

    def tids(self, pid: int) -> frozenset[int]:
        return self.threads.get(pid, frozenset({pid}) if pid in self.procs else frozenset())

    def process(self, pid: int) -> Process | None:
        return self.procs.get(pid)

    def processes(self) -> Iterable[Process]:
        return list(self.procs.values())

    def fd_target(self, tgid: int, fd: int) -> int | None:
        return self.fds.get((tgid, fd))

    def same_pid_ns(self, tid: int) -> bool:
        return tid not in self.foreign_ns


def world(caller_uid: int = 0, cap_kill: bool = True) -> tuple[Protected, FakeSystem]:
    sysm = FakeSystem()
    for p in (Process(1, 1, 1), Process(ME, PGRP, 900),
              Process(TRACEE, PGRP, 900, caller_uid, caller_uid, caller_uid, cap_kill),
              Process(SIBLING, PGRP, 900, caller_uid, caller_uid, caller_uid),
              Process(OTHER_USER, PGRP, 900, 4242, 4242, 4242),
              Process(ELSEWHERE, ELSEWHERE, 900, caller_uid, caller_uid, caller_uid),
              Process(2, 0, 0, kthread=True)):
        sysm.procs[p.pid] = p
    sysm.threads[ME] = frozenset({ME, MY_THREAD})
    return Protected(ME, sysm), sysm


def nr(abi: Abi, name: str) -> int:
    n = syscall_number(abi, name)
    assert n is not None
    return n & ~X32_SYSCALL_BIT


def call(name: str, *args: int, abi: Abi = Abi.X86_64, me: Protected | None = None,
         tid: int = TRACEE) -> GuardVerdict | None:
    me = me if me is not None else world()[0]
    return guard(tid, TRACEE, abi, nr(abi, name), args, me)


def refused(v: GuardVerdict | None, err: int = errno.EPERM) -> bool:
    return v is not None and v.kind is GuardKind.REFUSE and v.return_value == -err


# ---- the numbers ---------------------------------------------------------------------

@pytest.mark.parametrize("abi", list(Abi))
def test_guarded_numbers_name_the_guarded_calls(abi: Abi) -> None:
    want = {nr(abi, n) for n in GUARDED_NAMES if syscall_number(abi, n) is not None}
    assert GUARDED_NRS[abi] == want
    assert len(want) == len(GUARDED_NAMES)   # every guarded call exists in every ABI


def test_x32_numbers_are_the_x32_entries() -> None:
    # x32's ptrace is its own entry (521), not x86_64's 101
    assert 521 in GUARDED_NRS[Abi.X32] and 101 not in GUARDED_NRS[Abi.X32]
    assert GUARDED_NRS[Abi.I386] >= {37, 26, 270, 238}


def test_other_calls_are_not_looked_at() -> None:
    me, _ = world()
    assert guard(TRACEE, TRACEE, Abi.X86_64, 39, (ME,) * 6, me) is None  # getpid
    # i386 62 is ustat, not kill
    assert guard(TRACEE, TRACEE, Abi.I386, 62, (ME, 19, 0, 0, 0, 0), me) is None


# ---- direct signals ------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGSTOP, signal.SIGTSTP, signal.SIGTERM,
                                 signal.SIGKILL, signal.SIGUSR1, 64])
@pytest.mark.parametrize("abi", list(Abi))
def test_kill_of_trace_run_is_eperm(sig: int, abi: Abi) -> None:
    v = call("kill", ME, sig, abi=abi)
    assert refused(v)
    assert v is not None and v.decision.action is Action.DENY
    assert v.decision.errno == errno.EPERM


def test_pid_is_a_c_int() -> None:
    # the kernel reads pid_t from the low 32 bits of the register
    assert refused(call("kill", 0xFFFFFFFF00000000 | ME, signal.SIGSTOP))
    assert call("kill", (1 << 32) | SIBLING, signal.SIGSTOP) is None
    v = call("kill", 0xFFFFFFFF, signal.SIGSTOP)   # (int)0xFFFFFFFF: kill(-1, ...)
    assert v is not None and v.kind is GuardKind.REDIRECT


def test_signal_zero_and_bad_signals_run() -> None:
    assert call("kill", ME, 0) is None          # "is my parent alive?"
    assert call("kill", ME, 65) is None         # EINVAL from the kernel
    assert call("kill", ME, -1 & 0xFFFFFFFF) is None


def test_kill_of_others_runs() -> None:
    assert call("kill", SIBLING, signal.SIGSTOP) is None
    assert call("kill", ELSEWHERE, signal.SIGKILL) is None
    assert call("kill", -ELSEWHERE & 0xFFFFFFFF, signal.SIGTERM) is None


@pytest.mark.parametrize("target", [ME, MY_THREAD])
def test_thread_signals_to_trace_run(target: int) -> None:
    assert refused(call("tkill", target, signal.SIGSTOP))
    assert refused(call("tgkill", ME, target, signal.SIGTERM))
    assert refused(call("rt_tgsigqueueinfo", ME, target, signal.SIGUSR1, 0x7000))
    assert call("tgkill", SIBLING, target, signal.SIGTERM) is None   # ESRCH: sends nothing
    assert call("tkill", target, 0) is None


def test_sigqueueinfo() -> None:
    assert refused(call("rt_sigqueueinfo", ME, signal.SIGTERM, 0x7000))
    assert refused(call("rt_sigqueueinfo", ME, signal.SIGSTOP, 0x7000, abi=Abi.I386))
    assert call("rt_sigqueueinfo", SIBLING, signal.SIGTERM, 0x7000) is None


# ---- ptrace, pidfds, memory, limits --------------------------------------------------

@pytest.mark.parametrize("abi", list(Abi))
@pytest.mark.parametrize("target", [ME, MY_THREAD])
def test_ptrace_attach_is_eperm_other_requests_esrch(abi: Abi, target: int) -> None:
    assert refused(call("ptrace", 0x4206, target, 0, 0, abi=abi))          # SEIZE
    assert refused(call("ptrace", 16, target, abi=abi))                    # ATTACH
    assert refused(call("ptrace", 0x4207, target, abi=abi), errno.ESRCH)   # INTERRUPT
    assert refused(call("ptrace", 2, target, 0x1000, abi=abi), errno.ESRCH)  # PEEKDATA


def test_ptrace_of_others_and_traceme_run() -> None:
    assert call("ptrace", 0x4206, SIBLING) is None
    assert call("ptrace", 0, ME) is None    # PTRACE_TRACEME ignores pid (EPERM: traced)


def test_pidfd_open_and_memory_calls() -> None:
    for name in ("pidfd_open", "process_vm_readv", "process_vm_writev"):
        assert refused(call(name, ME, 0x1000, 1, 0x2000, 1, 0)), name
        assert call(name, SIBLING, 0x1000, 1, 0x2000, 1, 0) is None, name


def test_prlimit_sets_are_refused_reads_run() -> None:
    assert refused(call("prlimit64", ME, 9, 0x1000, 0))       # RLIMIT_AS := ...
    assert call("prlimit64", ME, 9, 0, 0x1000) is None        # only reads
    assert call("prlimit64", 0, 9, 0x1000, 0) is None         # its own


def test_pidfd_calls_through_an_fd() -> None:
    me, sysm = world()
    sysm.fds[(TRACEE, 5)] = ME
    sysm.fds[(TRACEE, 6)] = SIBLING
    assert refused(call("pidfd_send_signal", 5, signal.SIGSTOP, 0, 0, me=me))
    assert call("pidfd_send_signal", 5, 0, 0, 0, me=me) is None
    assert call("pidfd_send_signal", 6, signal.SIGSTOP, 0, 0, me=me) is None
    assert call("pidfd_send_signal", 7, signal.SIGSTOP, 0, 0, me=me) is None  # EBADF
    assert refused(call("pidfd_getfd", 5, 0, 0, me=me))
    assert refused(call("process_madvise", 5, 0x1000, 1, 21, 0, me=me))
    assert call("pidfd_getfd", 6, 0, 0, me=me) is None


def test_pidfd_process_group_signal_is_redirected() -> None:
    me, sysm = world(caller_uid=0, cap_kill=False)
    sysm.fds[(TRACEE, 6)] = SIBLING
    v = call("pidfd_send_signal", 6, signal.SIGTSTP, 0, 4, me=me)  # PIDFD_SIGNAL_PROCESS_GROUP
    assert v is not None and v.kind is GuardKind.REDIRECT
    assert set(v.targets) == {TRACEE, SIBLING}   # OTHER_USER: no permission (no CAP_KILL)


# ---- group signals -------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN,
                                 signal.SIGTTOU, signal.SIGTERM, signal.SIGUSR1])
def test_kill_zero_goes_to_the_others(sig: int) -> None:
    me, _ = world(caller_uid=0, cap_kill=True)
    v = call("kill", 0, sig, me=me)
    assert v is not None and v.kind is GuardKind.REDIRECT and v.sig == sig
    assert set(v.targets) == {TRACEE, SIBLING, OTHER_USER}
    assert v.return_value == 0 and v.decision.action is Action.OVERRIDE
    assert ME not in v.targets and MY_THREAD not in v.targets


def test_kill_minus_pgrp_and_permissions() -> None:
    me, _ = world(caller_uid=1234, cap_kill=False)
    # trace-run (uid 0) is out of the caller's reach: the kernel does it all
    assert call("kill", -PGRP & 0xFFFFFFFF, signal.SIGSTOP, me=me) is None
    me, sysm = world(caller_uid=1234, cap_kill=False)
    sysm.procs[ME] = Process(ME, PGRP, 900, 1234, 1234, 1234)
    v = call("kill", -PGRP & 0xFFFFFFFF, signal.SIGSTOP, me=me)
    assert v is not None and set(v.targets) == {TRACEE, SIBLING}   # not OTHER_USER
    v = call("kill", -PGRP & 0xFFFFFFFF, signal.SIGCONT, me=me)     # same session
    assert v is not None and set(v.targets) == {TRACEE, SIBLING, OTHER_USER}


def test_kill_zero_from_another_group_runs() -> None:
    me, sysm = world()
    sysm.procs[TRACEE] = Process(TRACEE, ELSEWHERE, 900)
    assert call("kill", 0, signal.SIGSTOP, me=me) is None


def test_kill_minus_one_spares_init_kthreads_caller() -> None:
    v = call("kill", -1 & 0xFFFFFFFF, signal.SIGSTOP)
    assert v is not None and v.kind is GuardKind.REDIRECT
    assert set(v.targets) == {SIBLING, OTHER_USER, ELSEWHERE}   # not 1, 2, the caller, ME


def test_foreign_pid_namespace_is_left_alone() -> None:
    me, sysm = world()
    sysm.foreign_ns.add(TRACEE)
    assert call("kill", ME, signal.SIGSTOP, me=me) is None


def test_caller_gone() -> None:
    me, sysm = world()
    del sysm.procs[TRACEE]
    assert call("kill", 0, signal.SIGSTOP, me=me) is None


# ---- on this machine -----------------------------------------------------------------

def test_proc_system_reads_this_process() -> None:
    sysm = ProcSystem()
    me = sysm.process(os.getpid())
    assert me is not None and me.pgrp == os.getpgid(0) and me.session == os.getsid(0)
    assert me.ruid == os.getuid() and me.euid == os.geteuid()
    assert os.getpid() in sysm.tids(os.getpid())
    assert any(p.pid == os.getpid() for p in sysm.processes())
    assert sysm.same_pid_ns(os.getpid())
    fd = os.open(f"/proc/{os.getpid()}", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert sysm.fd_target(os.getpid(), fd) == os.getpid()
    finally:
        os.close(fd)
    if hasattr(os, "pidfd_open"):
        pfd = os.pidfd_open(os.getpid())
        try:
            assert sysm.fd_target(os.getpid(), pfd) == os.getpid()
        finally:
            os.close(pfd)


def test_default_protected_is_this_process() -> None:
    v = guard(1, 1, Abi.X86_64, 62, (os.getpid(), signal.SIGSTOP, 0, 0, 0, 0))
    assert refused(v)


def test_deliver_sends_a_redirect() -> None:
    got: list[int] = []
    old = signal.signal(signal.SIGUSR2, lambda s, f: got.append(s))
    try:
        deliver(GuardVerdict(GuardKind.REDIRECT, 0, "test", signal.SIGUSR2,
                             (os.getpid(), 2 ** 22 + 12345)))   # the second: no such pid
    finally:
        signal.signal(signal.SIGUSR2, old)
    assert got == [signal.SIGUSR2]
    deliver(GuardVerdict(GuardKind.REFUSE, -1, "nothing to send"))


# ---- the CLI -------------------------------------------------------------------------

def test_detach_on_exit_with_policy_needs_force() -> None:
    r = run_cli("--policy", "nonexistent.json", "--detach-on-exit", "true")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "trace-run: --detach-on-exit with --policy would let the tracees run on without "
        "the policy; add --force-detach to mean it"]
    r = run_cli("--force-detach", "true")
    assert r.returncode == 2 and "--force-detach goes with --detach-on-exit" in r.stderr
