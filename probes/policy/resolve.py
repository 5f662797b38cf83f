"""From a profile file to the rules a filter holds on this host, and what they decide.

A container runtime does not install a profile as written.  moby first expands Docker's
extensions (``archMap``, ``includes`` / ``excludes``, the legacy ``name``) against the
host and the container, then runc turns every rule into libseccomp calls, and the kernel
applies the filter.  This module does the same steps, as those programs do them:

* **archMap** (moby): the entries whose ``architecture`` is the native one
  (SCMP_ARCH_X86_64 here) contribute it and their ``subArchitectures``.
* **includes / excludes** (moby): ``arches`` are matched against the native architecture
  by Go's name for it, ``amd64`` (so Docker's ``"x86"`` / ``"x32"`` entries never match on
  an x86_64 host, exactly as in Docker); ``caps`` against the capabilities the command will
  have: the ``--cap`` options if given, otherwise trace-run's own effective set
  (``CapEff`` in /proc/self/status), since the traced command inherits it; ``minKernel``
  against ``uname -r``.  A rule is left out when an exclude matches or an include fails.
* **architectures** (runc + libseccomp): the native ABI (x86_64) is always in the filter,
  because ``seccomp_init`` adds it; i386 (``int 0x80``) is in it with SCMP_ARCH_X86, x32
  with SCMP_ARCH_X32.  A syscall of an ABI not in the filter gets the filter's bad-arch
  action, SCMP_ACT_KILL (libseccomp's default).
* **names** (runc + libseccomp): each name is looked up in each ABI's table; a name an ABI
  lacks is skipped for that ABI (libseccomp's pseudo-syscalls), a name no ABI knows is
  ignored with a warning (runc logs it at debug level), an error with ``strict``.
* **actions** (runc): ``errnoRet`` absent means EPERM, for rules and for the default
  action alike; a rule whose action equals the default action is dropped (runc skips it
  because libseccomp refuses it); when one rule compares the same argument twice, runc
  adds each comparison as a rule of its own ("revert to old behavior"), so they OR.
* **evaluation** (kernel): of the rules of a syscall whose comparisons all hold, the one
  with the highest-precedence action wins (KILL_PROCESS > KILL_THREAD > TRAP > ERRNO >
  USER_NOTIF > TRACE > LOG > ALLOW), the first in profile order among equals; no match
  means the default action.  Comparisons are unsigned 64-bit on x86_64 and 32-bit (the
  low halves of argument, value and mask) on i386 and x32, as libseccomp generates them
  for 32-bit ABIs.  SECCOMP_RET_ERRNO carries 16 bits of data, capped at MAX_ERRNO.

:func:`decide` is that evaluation written directly in Python: the reference the compiled
BPF is tested against.
"""

from __future__ import annotations

import enum
import errno as _errno
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from probes.abi import Abi, syscall_name, syscall_number

from .models import Action, Arch, Filter, Op, Profile, ProfileError, Rule

__all__ = [
    "BAD_ARCH",
    "CAPABILITIES",
    "NATIVE_ARCH",
    "Cond",
    "Environment",
    "Policy",
    "PolicyRule",
    "Verdict",
    "arg_bits",
    "decide",
    "resolve",
]

MAX_ERRNO = 4095
NATIVE_ARCH = "amd64"          # Go's GOARCH, what moby compares includes/excludes with
NATIVE_SCMP_ARCH = Arch.X86_64

#: Linux capability numbers (include/uapi/linux/capability.h), for CapEff.
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)


class Kind(enum.IntEnum):
    """An action's precedence in the kernel (higher wins), as seccomp(2) orders them."""
    ALLOW = 0
    LOG = 1
    TRACE = 2
    NOTIFY = 3
    ERRNO = 4
    TRAP = 5
    KILL_THREAD = 6
    KILL_PROCESS = 7


_KIND = {
    Action.ALLOW: Kind.ALLOW, Action.LOG: Kind.LOG, Action.TRACE: Kind.TRACE,
    Action.NOTIFY: Kind.NOTIFY, Action.ERRNO: Kind.ERRNO, Action.TRAP: Kind.TRAP,
    # libseccomp: #define SCMP_ACT_KILL SCMP_ACT_KILL_THREAD
    Action.KILL: Kind.KILL_THREAD, Action.KILL_THREAD: Kind.KILL_THREAD,
    Action.KILL_PROCESS: Kind.KILL_PROCESS,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """An action with its data: ``errno`` for ERRNO (already as the kernel applies it)."""
    action: Action
    errno: int | None = None

    @property
    def kind(self) -> Kind:
        return _KIND[self.action]

    @property
    def key(self) -> tuple[Kind, int | None]:
        """What the filter can tell apart: SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD."""
        return self.kind, self.errno

    def __str__(self) -> str:
        if self.action is Action.ERRNO:
            return f"{self.action.value}({errno_name(self.errno or 0)})"
        return self.action.value


#: What libseccomp does with a syscall of an architecture the filter lacks.
BAD_ARCH = Verdict(Action.KILL)


def errno_name(n: int) -> str:
    return _errno.errorcode.get(n, str(n))


def effective_errno(errno_ret: int | None) -> int:
    """runc: EPERM when absent; libseccomp keeps 16 bits; the kernel caps at MAX_ERRNO."""
    if errno_ret is None:
        return _errno.EPERM
    return min(errno_ret & 0xFFFF, MAX_ERRNO)


def verdict_of(action: Action, errno_ret: int | None) -> Verdict:
    return Verdict(action, effective_errno(errno_ret) if action is Action.ERRNO else None)


def arg_bits(abi: Abi) -> int:
    """Width of argument comparisons: libseccomp's ARCH_SIZE_64 for x86_64, 32 for
    x86 and x32."""
    return 64 if abi is Abi.X86_64 else 32


@dataclass(frozen=True, slots=True)
class Cond:
    """One comparison, in libseccomp's terms: ``arg OP value``; MASKED_EQ is
    ``arg & value == value_two``."""
    index: int
    op: Op
    value: int
    value_two: int = 0

    def holds(self, arg: int, bits: int = 64) -> bool:
        m = (1 << bits) - 1
        a, v, w = arg & m, self.value & m, self.value_two & m
        match self.op:
            case Op.EQ:
                return a == v
            case Op.NE:
                return a != v
            case Op.LT:
                return a < v
            case Op.LE:
                return a <= v
            case Op.GT:
                return a > v
            case Op.GE:
                return a >= v
            case Op.MASKED_EQ:
                return a & v == w
        raise AssertionError(self.op)

    def __str__(self) -> str:
        a = f"arg{self.index}"
        if self.op is Op.MASKED_EQ:
            return f"({a} & {self.value:#x}) == {self.value_two:#x}"
        sym = {Op.EQ: "==", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">",
               Op.GE: ">="}[self.op]
        return f"{a} {sym} {self.value:#x}"


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One rule of one syscall: all ``conds`` must hold.  ``source`` is the index of the
    profile entry it came from (for messages: ``syscalls[source]``)."""
    verdict: Verdict
    conds: tuple[Cond, ...]
    source: int

    def matches(self, args: Sequence[int], bits: int = 64) -> bool:
        return all(c.holds(args[c.index], bits) for c in self.conds)


@dataclass(frozen=True)
class Environment:
    """What includes/excludes are matched against."""
    arch: str = NATIVE_ARCH
    caps: frozenset[str] = frozenset()
    kernel: tuple[int, int] = (0, 0)

    @classmethod
    def from_host(cls, caps: Iterable[str] | None = None) -> Environment:
        """This host: ``caps`` if given (``--cap``), else trace-run's effective set."""
        return cls(NATIVE_ARCH, frozenset(caps) if caps is not None else effective_caps(),
                   kernel_version(os.uname().release))


def effective_caps(status: str = "/proc/self/status") -> frozenset[str]:
    """The capability names in CapEff of ``status``."""
    try:
        with open(status, encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    mask = int(line.split()[1], 16)
                    return frozenset(n for i, n in enumerate(CAPABILITIES) if mask >> i & 1)
    except OSError:
        pass
    return frozenset()


def kernel_version(release: str) -> tuple[int, int]:
    """``6.18.44-fc`` -> (6, 18), the precision minKernel has."""
    m = re.match(r"(\d+)\.(\d+)", release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _min_kernel(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


@dataclass
class Policy:
    """A profile as this host's filter would hold it.  ``rules[abi][nr]`` lists the
    rules of one syscall in profile order (nr as :mod:`tracer.syscalls` numbers it)."""
    default: Verdict
    abis: tuple[Abi, ...]
    rules: dict[Abi, dict[int, list[PolicyRule]]]
    warnings: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    profile: Profile | None = None

    def name(self, abi: Abi, nr: int) -> str:
        return syscall_name(abi, nr)

    def ordered(self, abi: Abi, nr: int) -> list[PolicyRule]:
        """The rules of one syscall in evaluation order: precedence, then profile order;
        nothing after a rule without conditions (it always matches)."""
        out: list[PolicyRule] = []
        for r in sorted(self.rules.get(abi, {}).get(nr, []), key=lambda r: -r.verdict.kind):
            out.append(r)
            if not r.conds:
                break
        return out


def decide(policy: Policy, abi: Abi, nr: int, args: Sequence[int]) -> Verdict:
    """The kernel's evaluation of ``policy`` for one syscall, written directly."""
    if abi not in policy.abis:
        return BAD_ARCH
    best: PolicyRule | None = None
    bits = arg_bits(abi)
    for r in policy.rules.get(abi, {}).get(nr & 0xFFFFFFFF, []):
        if r.matches(args, bits) and (best is None or r.verdict.kind > best.verdict.kind):
            best = r
    return best.verdict if best is not None else policy.default


# --- resolving --------------------------------------------------------------------------

def _filter_says_skip(f: Filter | None, env: Environment, include: bool) -> str | None:
    """Why moby leaves a rule out because of ``f`` (None: it stays)."""
    if f is None:
        return None
    if include:
        if f.arches and env.arch not in f.arches:
            return f"includes.arches {f.arches} does not contain {env.arch}"
        missing = [c for c in f.caps if c not in env.caps]
        if missing:
            return f"includes.caps: {', '.join(missing)} not held"
        if f.min_kernel is not None and env.kernel < _min_kernel(f.min_kernel):
            return f"includes.minKernel {f.min_kernel} > kernel {env.kernel[0]}.{env.kernel[1]}"
    else:
        if f.arches and env.arch in f.arches:
            return f"excludes.arches contains {env.arch}"
        held = [c for c in f.caps if c in env.caps]
        if held:
            return f"excludes.caps: {', '.join(held)} held"
        if f.min_kernel is not None and env.kernel >= _min_kernel(f.min_kernel):
            return f"excludes.minKernel {f.min_kernel} <= kernel {env.kernel[0]}.{env.kernel[1]}"
    return None


def _arches(profile: Profile) -> list[Arch]:
    if profile.arch_map:
        out: list[Arch] = []
        for entry in profile.arch_map:
            if entry.architecture is NATIVE_SCMP_ARCH:
                out += [entry.architecture, *entry.sub_architectures]
        return out
    return list(profile.architectures)


def _abis(arches: list[Arch]) -> tuple[Abi, ...]:
    abis = [Abi.X86_64]   # seccomp_init always adds the native architecture
    if Arch.X86 in arches:
        abis.append(Abi.I386)
    if Arch.X32 in arches:
        abis.append(Abi.X32)
    return tuple(abis)


def _unsupported(action: Action) -> str | None:
    if action is Action.TRACE:
        return ("SCMP_ACT_TRACE is not supported: it hands the syscall to a ptrace tracer"
                " of the command's own, and trace-run is already that tracer")
    if action is Action.NOTIFY:
        return ("SCMP_ACT_NOTIFY is not supported: it needs a seccomp agent listening on"
                " the notification fd (listenerPath)")
    return None


def _rule_conds(rule: Rule) -> list[tuple[Cond, ...]]:
    """runc's conditions: one rule with all comparisons, or, when an argument index
    repeats, one rule per comparison."""
    conds = [Cond(a.index, a.op, a.value, a.value_two) for a in rule.args]
    indexes = [c.index for c in conds]
    if len(set(indexes)) != len(indexes):
        return [(c,) for c in conds]
    return [tuple(conds)]


def resolve(profile: Profile, env: Environment | None = None, *, strict: bool = False,
            source: str = "") -> Policy:
    """Expand ``profile`` for ``env`` (default: this host) as moby and runc would.

    Raises :class:`ProfileError` for TRACE / NOTIFY actions that would be used, and with
    ``strict`` for syscall names no x86 ABI knows."""
    env = env or Environment.from_host()
    problems: list[tuple[str, str]] = []
    if (why := _unsupported(profile.default_action)) is not None:
        problems.append(("defaultAction", why))
    default = verdict_of(profile.default_action, profile.default_errno_ret)
    abis = _abis(_arches(profile))
    policy = Policy(default, abis, {abi: {} for abi in abis}, profile=profile)
    for i, rule in enumerate(profile.syscalls):
        why_skip = (_filter_says_skip(rule.excludes, env, include=False)
                    or _filter_says_skip(rule.includes, env, include=True))
        if why_skip is not None:
            policy.skipped.append((i, why_skip))
            continue
        if (why := _unsupported(rule.action)) is not None:
            problems.append((f"syscalls[{i}].action", why))
            continue
        verdict = verdict_of(rule.action, rule.errno_ret)
        field_name = "names" if rule.names else "name"
        for k, name in enumerate(rule.syscall_names):
            numbers = {abi: syscall_number(abi, name) for abi in Abi}
            if all(nr is None for nr in numbers.values()):
                path = f"syscalls[{i}].{field_name}" + (f"[{k}]" if rule.names else "")
                msg = f"unknown syscall '{name}' (not an x86_64, i386 or x32 syscall)"
                if strict:
                    problems.append((path, msg))
                else:
                    policy.warnings.append(f"{path}: {msg}; ignored")
                continue
            if verdict.key == default.key:
                continue   # runc: "Ignore it, don't error out"
            for abi in abis:
                nr = numbers[abi]
                if nr is None:
                    continue
                bucket = policy.rules[abi].setdefault(nr, [])
                for conds in _rule_conds(rule):
                    bucket.append(PolicyRule(verdict, conds, i))
    if problems:
        raise ProfileError(source, problems)
    return policy
