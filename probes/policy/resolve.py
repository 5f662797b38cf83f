"""From a profile file to the rules a filter holds on this host, and what they decide.

A container runtime does not install a profile as written.  moby first expands Docker's
extensions (``archMap``, ``includes`` / ``excludes``, the legacy ``name``) against the
host and the container, then runc turns every rule into libseccomp calls, and the kernel
applies the filter.  This module does the same steps, as those programs do them:

* **archMap** (moby): the entries whose ``architecture`` is the native one
  (SCMP_ARCH_X86_64 here) contribute it and their ``subArchitectures``.
* **includes / excludes** (moby): ``arches`` are matched against the native architecture
  by Go's name for it, ``amd64`` (so Docker's ``"x86"`` / ``"x32"`` entries never match on
  an x86_64 host, exactly as in Docker); ``caps`` against the container's capabilities:
  the ``--cap`` options if given, otherwise Docker's default set (moby's
  ``oci/caps.DefaultCapabilities``: :data:`DOCKER_DEFAULT_CAPS`); ``minKernel`` against
  ``uname -r``.  A rule is left out when an exclude matches or an include fails.
* **architectures** (runc + libseccomp): the native ABI (x86_64) is always in the filter,
  because ``seccomp_init`` adds it; i386 (``int 0x80``) is in it with SCMP_ARCH_X86, x32
  with SCMP_ARCH_X32.  A syscall of an ABI not in the filter gets the filter's bad-arch
  action, SCMP_ACT_KILL (libseccomp's default).
* **names** (runc + libseccomp): each name is looked up in each ABI's table; a name an ABI
  lacks is skipped for that ABI (libseccomp's pseudo-syscalls), a name no ABI knows is
  ignored with a warning (runc logs it at debug level), an error with ``strict``.
* **actions** (runc): ``errnoRet`` absent means EPERM, for rules and for the default
  action alike; runc passes its low 16 bits and libseccomp refuses ERRNO data of
  MAX_ERRNO (4095) or more (a :class:`ProfileError` here); a rule whose action equals the
  default action is dropped (runc skips it because libseccomp refuses it); when one rule
  compares the same argument twice, runc adds each comparison as a rule of its own
  ("revert to old behavior").  :attr:`Policy.runtime_rules` are these calls, in runc's
  order (profile entries, then names).
* **combination** (libseccomp): each call goes into libseccomp's argument tree of the
  syscall, per ABI, as ``db.c`` builds it (:mod:`probes.policy.seccomp_db`): an
  unconditional rule replaces every conditional rule of its syscall and is never replaced
  itself; a rule already covered by a shorter one with the same action is dropped; the
  order among comparisons is the tree's (argument, operator, value), not the profile's.
  Two rules with the same comparisons and different actions are refused (EEXIST), as
  libseccomp refuses them.
* **i386 multiplexing** (libseccomp's ``abi_rule_add``): on i386 a rule on a socket call
  (``socket`` ... ``sendmmsg``) also becomes a rule on ``socketcall`` whose argument 0 is
  the call's ``SYS_*`` number, and an IPC call (``semop`` ... ``shmctl``) a rule on
  ``ipc``; libseccomp puts that comparison in place of the rule's own comparison of
  argument 0 and keeps the others at their indexes.  The direct syscall gets the rule too
  where i386 has one (``socket`` is 359; ``accept``, ``send``, ``recv``, ``semop`` and
  ``semtimedop`` have none).
* **evaluation** (the BPF libseccomp generates): the tree is walked level by level; no
  match means the default action.  Comparisons are on 32-bit words: the high and low
  halves of an argument on x86_64, the low half on i386 and x32.

:func:`decide` is that evaluation written directly in Python: the reference the compiled
BPF is tested against, and that the tests check against the host's libseccomp.
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
from .seccomp_db import Conflict, Corrupt, NodeCond, RuleDb

__all__ = [
    "BAD_ARCH",
    "CAPABILITIES",
    "DOCKER_DEFAULT_CAPS",
    "NATIVE_ARCH",
    "Cond",
    "Environment",
    "Policy",
    "PolicyRule",
    "RuntimeRule",
    "Verdict",
    "arg_bits",
    "decide",
    "parse_caps",
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


#: Docker's default container capabilities (moby, daemon/pkg/oci/caps/defaults.go).
DOCKER_DEFAULT_CAPS: frozenset[str] = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
})

#: i386's multiplexed calls (libseccomp's __PNR_* numbers, modulo 100 and 200): the
#: ``SYS_*`` value of argument 0 of socketcall (102) and ipc (117).
SOCKETCALL: dict[str, int] = {n: i + 1 for i, n in enumerate(
    ["socket", "bind", "connect", "listen", "accept", "getsockname", "getpeername",
     "socketpair", "send", "recv", "sendto", "recvfrom", "shutdown", "setsockopt",
     "getsockopt", "sendmsg", "recvmsg", "accept4", "recvmmsg", "sendmmsg"])}
IPC: dict[str, int] = {"semop": 1, "semget": 2, "semctl": 3, "semtimedop": 4, "msgsnd": 11,
                       "msgrcv": 12, "msgget": 13, "msgctl": 14, "shmat": 21, "shmdt": 22,
                       "shmget": 23, "shmctl": 24}
I386_SOCKETCALL, I386_IPC = 102, 117
X32_BIT = 0x40000000


def parse_caps(names: Iterable[str]) -> frozenset[str]:
    """``--cap`` values: capability names as capabilities(7) spells them, with or without
    ``CAP_``, in any case; ``ALL`` for every capability, ``none`` for the empty set.
    Raises ValueError naming the first unknown one."""
    out: set[str] = set()
    for raw in names:
        for word in raw.split(","):
            name = word.strip().upper()
            if name == "NONE":
                continue
            if name == "ALL":
                out.update(CAPABILITIES)
                continue
            full = name if name.startswith("CAP_") else "CAP_" + name
            if full not in CAPABILITIES:
                shown = word if word.isprintable() else ascii(word)
                raise ValueError(f"--cap: unknown capability '{shown}' (expected a name of"
                                 f" capabilities(7), e.g. CAP_SYS_ADMIN, or ALL, or none)")
            out.add(full)
    return frozenset(out)


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
    """runc: EPERM when absent; runc passes 16 bits (``int16(errnoRet)``); the kernel caps
    at MAX_ERRNO (libseccomp refuses such values first: :func:`errno_problem`)."""
    if errno_ret is None:
        return _errno.EPERM
    return min(errno_ret & 0xFFFF, MAX_ERRNO)


def errno_problem(errno_ret: int | None, field: str) -> str | None:
    """Why libseccomp refuses this errno (None: it does not).  runc passes
    ``int16(errnoRet)``; libseccomp's ``sys_chk_seccomp_action`` accepts SCMP_ACT_ERRNO
    data below MAX_ERRNO (4095) only."""
    if errno_ret is None or errno_ret & 0xFFFF < MAX_ERRNO:
        return None
    low = errno_ret & 0xFFFF
    via = f" (runc passes its low 16 bits, {low})" if low != errno_ret else ""
    return (f"{errno_ret} is refused by libseccomp: SCMP_ACT_ERRNO takes an errno below"
            f" {MAX_ERRNO}{via}, and runc fails with EINVAL")


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
    conds: tuple[Cond, ...] | tuple[NodeCond, ...]
    source: int

    def matches(self, args: Sequence[int], bits: int = 64) -> bool:
        return all(c.holds(args) if isinstance(c, NodeCond) else c.holds(args[c.index], bits)
                   for c in self.conds)


@dataclass(frozen=True)
class Environment:
    """What includes/excludes are matched against."""
    arch: str = NATIVE_ARCH
    caps: frozenset[str] = frozenset()
    kernel: tuple[int, int] = (0, 0)

    @classmethod
    def from_host(cls, caps: Iterable[str] | None = None) -> Environment:
        """This host's kernel, and ``caps`` if given (``--cap``, see :func:`parse_caps`),
        else Docker's default container capabilities."""
        return cls(NATIVE_ARCH, parse_caps(caps) if caps is not None else DOCKER_DEFAULT_CAPS,
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


@dataclass(frozen=True, slots=True)
class RuntimeRule:
    """One ``seccomp_rule_add`` runc makes: a syscall name, the action, the comparisons
    (at most one per argument), and the profile entry it came from."""
    name: str
    verdict: Verdict
    conds: tuple[Cond, ...]
    source: int


@dataclass
class Policy:
    """A profile as this host's filter would hold it.  ``rules[abi][nr]`` lists the
    rules added for one syscall in the order runc adds them (nr as :mod:`tracer.syscalls`
    numbers it; i386's socketcall/ipc rules included); ``dbs[abi]`` is what libseccomp
    made of them, which :func:`decide` and :meth:`ordered` read."""
    default: Verdict
    abis: tuple[Abi, ...]
    rules: dict[Abi, dict[int, list[PolicyRule]]]
    warnings: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    profile: Profile | None = None
    runtime_rules: list[RuntimeRule] = field(default_factory=list)
    dbs: dict[Abi, RuleDb] = field(default_factory=dict)

    def name(self, abi: Abi, nr: int) -> str:
        return syscall_name(abi, nr)

    def ordered(self, abi: Abi, nr: int) -> list[PolicyRule]:
        """The rules of one syscall as a first-match list: libseccomp's tree, path by path
        in the order its BPF walks them; the conditions are the tree's 32-bit tests
        (:class:`~probes.policy.seccomp_db.NodeCond`).  A path without conditions ends
        the list."""
        db = self.dbs.get(abi)
        tree = db.syscalls.get(nr) if db is not None else None
        if tree is None:
            return []
        return [PolicyRule(_verdict(act), conds, _source(act)) for conds, act in tree.paths()]


def _verdict(act: tuple[int, object]) -> Verdict:
    payload = act[1]
    return payload[0] if isinstance(payload, tuple) else Verdict(Action.KILL_THREAD)


def _source(act: tuple[int, object]) -> int:
    payload = act[1]
    return int(payload[1]) if isinstance(payload, tuple) else -1


def describe(conds: Sequence[Cond | NodeCond]) -> str:
    """Conditions as one line: a 64-bit equality that the tree tests as ``hi == H`` then
    ``lo == L`` is shown as one comparison of the argument."""
    out: list[str] = []
    k = 0
    while k < len(conds):
        c = conds[k]
        nxt = conds[k + 1] if k + 1 < len(conds) else None
        if (isinstance(c, NodeCond) and isinstance(nxt, NodeCond) and c.hi and not nxt.hi
                and c.index == nxt.index and c.op is nxt.op is Op.EQ and c.truth and nxt.truth
                and c.mask == nxt.mask == 0xFFFFFFFF):
            out.append(f"arg{c.index} == {c.datum << 32 | nxt.datum:#x}")
            k += 2
            continue
        if (isinstance(c, NodeCond) and isinstance(nxt, NodeCond) and c.hi and not nxt.hi
                and c.index == nxt.index and c.op is nxt.op is Op.MASKED_EQ and c.truth
                and nxt.truth):
            out.append(f"(arg{c.index} & {c.mask << 32 | nxt.mask:#x}) =="
                       f" {c.datum << 32 | nxt.datum:#x}")
            k += 2
            continue
        out.append(str(c))
        k += 1
    return " && ".join(out)


def decide(policy: Policy, abi: Abi, nr: int, args: Sequence[int]) -> Verdict:
    """What the filter libseccomp builds for ``policy`` does with one syscall: the walk of
    the syscall's argument tree, written directly."""
    if abi not in policy.abis:
        return BAD_ARCH
    nr &= 0xFFFFFFFF
    if abi is Abi.X86_64 and X32_BIT <= nr != 0xFFFFFFFF:
        # libseccomp's x86_64 section leaves numbers from __X32_SYSCALL_BIT up (but -1)
        # to its x32 section, where no rule has them, or to the bad-arch action
        return policy.default if Abi.X32 in policy.abis else BAD_ARCH
    db = policy.dbs.get(abi)
    tree = db.syscalls.get(nr) if db is not None else None
    if tree is None:
        return policy.default
    act = tree.decide(args)
    return policy.default if act is None else _verdict(act)


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


def _known(name: str) -> bool:
    return name in SOCKETCALL or name in IPC or any(
        syscall_number(abi, name) is not None for abi in Abi)


def _adds(abi: Abi, name: str, conds: tuple[Cond, ...]) -> list[tuple[int, tuple[Cond, ...]]]:
    """The (number, comparisons) pairs libseccomp adds to ``abi``'s filter for one rule
    on ``name``: on i386 the socketcall/ipc rule first, then the direct one."""
    out: list[tuple[int, tuple[Cond, ...]]] = []
    if abi is Abi.I386 and (name in SOCKETCALL or name in IPC):
        mux, code = ((I386_SOCKETCALL, SOCKETCALL[name]) if name in SOCKETCALL
                     else (I386_IPC, IPC[name]))
        out.append((mux, (Cond(0, Op.EQ, code),
                          *(c for c in conds if c.index != 0))))
    nr = syscall_number(abi, name)
    if nr is not None:
        out.append((nr, conds))
    else:
        # a name libseccomp knows from another ABI (or i386's accept, send, recv, semop,
        # semtimedop): a pseudo-syscall in this ABI's rule database, never in the filter
        out.append((_PSEUDO.setdefault(name, -1000 - len(_PSEUDO)), conds))
    return out


_PSEUDO: dict[str, int] = {}


def _native(conds: Sequence[Cond]) -> list[tuple[int, Op, int, int]]:
    """db_col_rule_add's (arg, op, mask, datum)."""
    full = (1 << 64) - 1
    return [(c.index, c.op, c.value, c.value_two) if c.op is Op.MASKED_EQ
            else (c.index, c.op, full, c.value) for c in conds]


def resolve(profile: Profile, env: Environment | None = None, *, strict: bool = False,
            source: str = "") -> Policy:
    """Expand ``profile`` for ``env`` (default: this host) as moby and runc would, and
    combine its rules as libseccomp does.

    Raises :class:`ProfileError` for TRACE / NOTIFY actions that would be used, errno
    values libseccomp refuses, rules libseccomp refuses as conflicting, and with
    ``strict`` for syscall names no x86 ABI knows."""
    from .libseccomp import action_value

    env = env or Environment.from_host()
    problems: list[tuple[str, str]] = []
    if (why := _unsupported(profile.default_action)) is not None:
        problems.append(("defaultAction", why))
    if (why := errno_problem(profile.default_errno_value, "")) is not None:
        problems.append((profile.default_errno_field, why))
    default = verdict_of(profile.default_action, profile.default_errno_value)
    abis = _abis(_arches(profile))
    policy = Policy(default, abis, {abi: {} for abi in abis}, profile=profile,
                    dbs={abi: RuleDb(abi is Abi.X86_64) for abi in abis})
    for i, rule in enumerate(profile.syscalls):
        why_skip = (_filter_says_skip(rule.excludes, env, include=False)
                    or _filter_says_skip(rule.includes, env, include=True))
        if why_skip is not None:
            policy.skipped.append((i, why_skip))
            continue
        if (why := _unsupported(rule.action)) is not None:
            problems.append((f"syscalls[{i}].action", why))
            continue
        verdict = verdict_of(rule.action, rule.errno_value)
        field_name = "names" if rule.names else "name"
        reported = False
        for k, name in enumerate(rule.syscall_names):
            if not _known(name):
                path = f"syscalls[{i}].{field_name}" + (f"[{k}]" if rule.names else "")
                msg = f"unknown syscall {_quote(name)} (not an x86_64, i386 or x32 syscall)"
                if strict:
                    problems.append((path, msg))
                else:
                    policy.warnings.append(f"{path}: {msg}; ignored")
                continue
            if verdict.key == default.key:
                continue   # runc: "Ignore it, don't error out"
            if (why := errno_problem(rule.errno_value, "")) is not None:
                if not reported:
                    problems.append((f"syscalls[{i}].{rule.errno_field}", why))
                    reported = True
                continue
            for conds in _rule_conds(rule):
                policy.runtime_rules.append(RuntimeRule(name, verdict, conds, i))
                _add(policy, name, verdict, conds, i, action_value(verdict), problems)
    if problems:
        raise ProfileError(source, problems)
    return policy


def _add(policy: Policy, name: str, verdict: Verdict, conds: tuple[Cond, ...], i: int,
         value: int, problems: list[tuple[str, str]]) -> None:
    for abi in policy.abis:
        for nr, cs in _adds(abi, name, conds):
            if nr >= 0:   # pseudo-syscalls are in the database only
                policy.rules[abi].setdefault(nr, []).append(PolicyRule(verdict, cs, i))
            try:
                policy.dbs[abi].add(nr, value, (verdict, i), _native(cs))
            except Conflict:
                earlier = sorted({r.source for r in policy.rules[abi].get(nr, [])[:-1]})
                problems.append((f"syscalls[{i}]", (
                    f"libseccomp refuses this rule on {name} ({abi.value}): it ends where"
                    f" the rule of syscalls{earlier} ends, with the same comparisons and"
                    f" another action (EEXIST), and runc fails")))
                return
            except Corrupt:
                problems.append((f"syscalls[{i}]", (
                    f"libseccomp 2.5.4 loops forever adding this rule on {name}"
                    f" ({abi.value}): with the rules before it, its argument tree gets a"
                    f" cycle, and runc hangs")))
                return


def _quote(name: str) -> str:
    return f"'{name}'" if name.isprintable() and name.isascii() else ascii(name)
