"""The kernel's side of ``--compare``: the filter runc would load for a profile, built by
libseccomp, installed in the command before its execve, and read back per syscall.

* **Building** (:func:`build`): as runc's ``InitSeccomp`` does with a profile that moby has
  already expanded (``archMap``, ``includes`` / ``excludes``: the rules
  :func:`probes.policy.resolve.resolve` kept): ``seccomp_init(defaultAction)``, one
  ``seccomp_arch_add`` per x86 ABI of the profile, the binary-tree optimisation for more
  than 32 rules, and per rule and name ``seccomp_syscall_resolve_name`` (a name libseccomp
  does not know is skipped, as runc skips it) and ``seccomp_rule_add_array`` with runc's
  conditions (each comparison a rule of its own when one argument is compared twice) and
  runc's action values (``errnoRet`` passed as 16 bits, unchecked, so libseccomp judges
  it; a rule whose action equals the default action dropped).  A libseccomp refusal is a
  :class:`KernelFilterError`, as it is a failed container start in runc.  The ctypes
  binding is :mod:`probes.policy.libseccomp`; when the resolved policy carries
  ``runtime_rules`` (runc's calls, worked out by :mod:`probes.policy.resolve`), its
  :func:`~probes.policy.libseccomp.build_filter` is used as it stands.
* **Loading** (:meth:`KernelFilter.pre_exec`): in the forked child, ``seccomp_load`` (the
  library's own; no_new_privs only when trace-run lacks CAP_SYS_ADMIN, which the kernel
  requires otherwise), as the last thing before spawn's execve, as runc loads it last
  before the container's execve.
* **Reading back** (:meth:`KernelFilter.decide`): the classic BPF that
  ``seccomp_export_bpf`` gives, i.e. the bytes the kernel runs, evaluated on the
  ``struct seccomp_data`` of a syscall-entry stop (the tracer's entry stop comes before
  seccomp since Linux 4.8, so the registers are the ones the filter sees).  This names the
  action for each call; the caller checks it against what the kernel then did (the errno
  at the exit stop, the death without one).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from probes import cbpf
from probes.abi import Abi
from probes.policy.models import Action, Op
from probes.policy.resolve import Cond, Policy, effective_caps

if TYPE_CHECKING:
    from probes.policy.libseccomp import Filter

__all__ = ["KernelFilter", "KernelFilterError", "build", "ret_text"]

_ACTION_MASK = 0xFFFF0000
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
_ACT = {Action.KILL: RET_KILL_THREAD, Action.KILL_THREAD: RET_KILL_THREAD,
        Action.KILL_PROCESS: RET_KILL_PROCESS, Action.TRAP: RET_TRAP, Action.LOG: RET_LOG,
        Action.ALLOW: RET_ALLOW, Action.NOTIFY: RET_USER_NOTIF}
_AUDIT_ARCH = {Abi.X86_64: 0xC000003E, Abi.X32: 0xC000003E, Abi.I386: 0x40000003}
_SCMP_FLTATR_CTL_OPTIMIZE = 8
_PR_SET_NO_NEW_PRIVS = 38


class KernelFilterError(Exception):
    """libseccomp refused the profile (runc would not start the container)."""


def ret_text(ret: int) -> str:
    """A filter's return value as an outcome kind: ``allow``, ``errno EPERM``, ``kill``,
    ``trap`` (``log`` is ``allow``: the syscall runs)."""
    act = ret & _ACTION_MASK
    if act in (RET_ALLOW, RET_LOG):
        return "allow"
    if act == RET_ERRNO:
        n = ret & 0xFFFF
        return f"errno {_errno.errorcode.get(n, str(n))}"
    if act in (RET_KILL_PROCESS, RET_KILL_THREAD) or ret & 0x80000000:
        return "kill"
    if act == RET_TRAP:
        return "trap"
    return f"action {ret:#x}"


def _action_value(action: Action, errno_ret: int | None) -> int:
    """runc's getAction: ERRNO/TRACE carry ``errnoRet`` (default EPERM) in 16 bits."""
    if action is Action.ERRNO:
        return RET_ERRNO | ((_errno.EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if action is Action.TRACE:
        return RET_TRACE | ((_errno.EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    return _ACT[action]


def _errno_ret(obj: Any, field: str) -> int | None:
    """``errnoRet`` / ``defaultErrnoRet``, or containers-common's errno name instead."""
    value = getattr(obj, field, None)
    if value is not None:
        return int(value)
    name = getattr(obj, "errno" if field == "errno_ret" else "default_errno", None)
    if isinstance(name, str):
        number = getattr(_errno, name, None)
        return number if isinstance(number, int) else None
    return None


def _runc_calls(policy: Policy) -> list[tuple[str, int, tuple[Cond, ...]]]:
    """What runc's matchCall hands libseccomp for each kept rule and name, in order."""
    profile = policy.profile
    if profile is None:
        raise KernelFilterError("no profile to build a filter from")
    skipped = {i for i, _ in policy.skipped}
    default = _action_value(profile.default_action, _errno_ret(profile, "default_errno_ret"))
    out: list[tuple[str, int, tuple[Cond, ...]]] = []
    for i, rule in enumerate(profile.syscalls):
        if i in skipped:
            continue
        act = _action_value(rule.action, _errno_ret(rule, "errno_ret"))
        if act == default:
            continue   # runc: "This rule is redundant, silently skip it"
        conds = [Cond(a.index, Op(a.op), a.value, a.value_two) for a in rule.args]
        indexes = [c.index for c in conds]
        groups = ([(c,) for c in conds] if len(set(indexes)) != len(indexes)
                  else [tuple(conds)])
        for name in rule.syscall_names:
            out += [(name, act, g) for g in groups]
    return out


@dataclass(frozen=True, slots=True)
class _Insn:
    code: int
    jt: int
    jf: int
    k: int


class KernelFilter:
    """A libseccomp filter for one profile: its classic BPF and a loader for a child."""

    def __init__(self, filt: Filter, program: Sequence[Any], version: tuple[int, int, int],
                 calls: int) -> None:
        self._filter = filt
        self.program = [_Insn(i.code, i.jt, i.jf, i.k) for i in program]
        self.version = version
        self.calls = calls          # seccomp_rule_add_array calls made
        self._lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        self._lib.seccomp_load.argtypes = [ctypes.c_void_p]
        self._libc = ctypes.CDLL(None, use_errno=True)

    def close(self) -> None:
        self._filter.close()

    # ---- loading in the child ----------------------------------------------------------

    def pre_exec(self) -> Callable[[], None]:
        """A hook for :func:`tracer.spawn.spawn`: load the filter in the child, which then
        calls execve at once (spawn's own, so that a failing execve is reported as in
        the emulated run).  Between the two, only CPython's os.execve runs."""
        load, ctx = self._lib.seccomp_load, self._filter.ctx
        need_nnp = "CAP_SYS_ADMIN" not in effective_caps()
        prctl = self._libc.prctl

        def hook() -> None:
            if need_nnp and prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
            rc = load(ctx)
            if rc != 0:
                raise OSError(-rc, f"seccomp_load: {os.strerror(-rc)}")
        return hook

    # ---- reading the filter back -------------------------------------------------------

    def decide(self, abi: Abi, raw_nr: int, ip: int, args: Sequence[int]) -> int:
        """The filter's return value for one syscall (``struct seccomp_data`` built from an
        entry stop), as the kernel's classic-BPF interpreter computes it."""
        return cbpf.run(self.program, cbpf.seccomp_data(raw_nr, _AUDIT_ARCH[abi], args, ip))


def build(policy: Policy) -> KernelFilter:
    """The filter runc builds for ``policy`` (see the module docstring)."""
    from probes.policy import libseccomp as ls
    if not ls.available():
        raise KernelFilterError("libseccomp.so.2 is not installed (Debian: libseccomp2)")
    try:
        if getattr(policy, "runtime_rules", None) is not None:
            filt = ls.build_filter(policy)
            calls = len(policy.runtime_rules)  # type: ignore[attr-defined]
        else:
            filt, calls = _build_here(policy, ls)
        program = filt.export_bpf()
    except ls.LibseccompError as exc:
        raise KernelFilterError(f"libseccomp refuses the profile: {exc}") from None
    return KernelFilter(filt, program, ls.version(), calls)


def _build_here(policy: Policy, ls: Any) -> tuple[Filter, int]:
    """runc's calls, fed to :class:`probes.policy.libseccomp.Filter` (until the resolved
    policy carries them itself)."""
    assert policy.profile is not None
    calls = _runc_calls(policy)
    default = _action_value(policy.profile.default_action,
                            _errno_ret(policy.profile, "default_errno_ret"))
    filt = ls.Filter(default)
    try:
        for abi in policy.abis:
            if abi is not Abi.X86_64:
                filt.add_arch(abi.value)
        if len(policy.profile.syscalls) > 32:    # runc: filter.SetOptimize(2)
            lib = ctypes.CDLL("libseccomp.so.2")
            lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
            lib.seccomp_attr_set(filt.ctx, _SCMP_FLTATR_CTL_OPTIMIZE, 2)
        for name, act, conds in calls:
            nr = ls.resolve_name(name)
            if nr != ls.NR_SCMP_ERROR:
                filt.add_rule(act, nr, conds)
    except BaseException:
        filt.close()
        raise
    return filt, len(calls)
