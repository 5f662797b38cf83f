"""strace's ``-e`` expressions (``-e trace=%file``, ``-e status=failed``,
``-e inject=openat:error=ENOENT:when=3+``), parsed as strace 6.1 parses them.

The rules are those of strace's ``src/filter_qualify.c`` and ``src/basic_filters.c``:

* ``-e EXPR`` without a known ``QUALIFIER=`` prefix is ``trace=EXPR``; the qualifiers and
  their short names: trace/t, abbrev/a, verbose/v, raw/x, signal/signals/s, status,
  quiet/silent/silence/q, read/reads/r, write/writes/w, fault, inject, kvm,
  decode-fd(s), decode-pid(s), secontext.
* A set replaces the previous value of its qualifier: ``-e trace=open -e trace=close``
  traces close only (strace clears the set each time).  ``fault=`` and ``inject=`` add
  to what earlier ones set, a later one winning for a syscall both name.
* Leading ``!`` (each one) inverts the rest; ``all`` and ``none`` are whole sets.
* Syscall tokens (comma separated, empty ones skipped): ``?`` prefixes (no error when it
  matches nothing), ``@64`` / ``@32`` / ``@x32`` (one ABI only), a decimal number, a
  ``/regex`` (POSIX extended, searched in the name: Python's ``re`` here), a class
  (:mod:`tracer.syscalls.classes`), a name.  Without ``@`` a token applies to each ABI.
* Errors are one line in strace's words (``invalid system call 'foo'``), raised as
  :class:`QualifyError`.

Syscall sets are keyed as the loop sees a call: ``(SyscallCall.abi, SyscallCall.nr)``,
with x32 numbers *without* ``__X32_SYSCALL_BIT``.  The loop's test is
``((abi, nr) in s.members) is not s.inverted``, or nothing at all when ``s.is_all``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from probes.abi import X32_SYSCALL_BIT, Abi, syscall_number, syscalls
from probes.inject import INJECT_LAST_INF, InjectSpec
from tracer.syscalls.classes import class_members, lookup_class
from tracer.syscalls.xlat import ERRNO_NAMES, OTHER_KERNEL_ERRNOS, RESTART_ERRNOS, signal_name

__all__ = [
    "NSIG",
    "InjectSpec",
    "NumberSet",
    "Qualifiers",
    "QualifyError",
    "Quiet",
    "Status",
    "SyscallSet",
    "failed_only",
    "finish",
    "parse_inject",
    "parse_syscall_set",
    "successful_only",
]

NSIG = 64            # NSIG_BYTES * 8 on x86_64: the largest signal= of inject
MAX_ERRNO = 4095
_PERSONALITIES = {"64": Abi.X86_64, "32": Abi.I386, "x32": Abi.X32}   # arch_defs_.h


class QualifyError(ValueError):
    """A ``-e`` expression strace would refuse; ``str()`` is strace's one-line message."""


class Status(IntEnum):
    """``-e status=`` values (strace's STATUS_*)."""

    SUCCESSFUL = 0
    FAILED = 1
    UNFINISHED = 2     # the task went away in the call (exit, exec by another thread)
    UNAVAILABLE = 3    # the result could not be read at the exit stop
    DETACHED = 4       # trace-run detached while the call ran


class Quiet(IntEnum):
    """``-e quiet=`` values (strace's QUIET_*)."""

    ATTACH = 0
    EXIT = 1
    PATH_RESOLVE = 2
    PERSONALITY = 3
    THREAD_EXECVE = 4


_STATUS_NAMES = {s.name.lower(): int(s) for s in Status}
_QUIET_NAMES = {"attach": 0, "exit": 1, "exits": 1, "path-resolution": 2,
                "personality": 3, "superseded": 4, "thread-execve": 4}
_DECODE_FD_NAMES = {"path": 0, "socket": 1, "dev": 2, "pidfd": 3}
_DECODE_PID_NAMES = {"pidns": 0, "comm": 1}
_SECONTEXT_NAMES = {"full": 0, "mismatch": 1}


class _Invertible:
    """What strace's sets share: ``members``, possibly ``inverted`` (all but them)."""

    __slots__ = ()
    members: frozenset[Any]
    inverted: bool

    def __contains__(self, item: object) -> bool:
        return (item in self.members) is not self.inverted

    @property
    def is_all(self) -> bool:
        return self.inverted and not self.members

    @property
    def is_none(self) -> bool:
        return not self.inverted and not self.members


@dataclass(frozen=True, slots=True)
class NumberSet(_Invertible):
    """A set of small numbers as strace keeps it: members, possibly inverted."""

    members: frozenset[int] = frozenset()
    inverted: bool = False


ALL_NUMBERS = NumberSet(inverted=True)
NO_NUMBERS = NumberSet()


@dataclass(frozen=True, slots=True)
class SyscallSet(_Invertible):
    """Syscalls of every ABI: ``(abi, nr)`` pairs (x32 nr without the x32 bit), possibly
    inverted (then numbers no table knows are in the set too, as in strace)."""

    members: frozenset[tuple[Abi, int]] = frozenset()
    inverted: bool = False

    def numbers(self, abi: Abi) -> frozenset[int]:
        """The known numbers of ``abi`` in the set (x32 without the x32 bit)."""
        known = {_key_nr(abi, nr) for nr in syscalls(abi)}
        mine = {nr for a, nr in self.members if a is abi}
        return frozenset(known - mine if self.inverted else mine)


ALL_SYSCALLS = SyscallSet(inverted=True)
NO_SYSCALLS = SyscallSet()


def _key_nr(abi: Abi, nr: int) -> int:
    return nr & ~X32_SYSCALL_BIT if abi is Abi.X32 else nr


# ---- numbers as strace's string_to_uint reads them ---------------------------------------

_UINT = re.compile(r"\s*\+?(\d+)")


def _uint(text: str, upto: int = 0x7FFFFFFF, accept: str = "") -> tuple[int, str]:
    """string_to_uint_ex: a decimal at the start, then the rest, which must be empty or
    start with a character of ``accept``; -1 when not."""
    m = _UINT.match(text)
    if not m:
        return -1, text
    rest = text[m.end():]
    value = int(m.group(1))
    if value > upto or (rest and rest[0] not in accept):
        return -1, rest
    return value, rest


def _c_ulonglong(text: str) -> int | None:
    """strtoull(text, &end, 0) over the whole text, or None."""
    m = re.fullmatch(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)", text)
    if not m:
        return None
    digits = m.group(2)
    value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits, 8) if \
        digits.startswith("0") else int(digits)
    if value >= 1 << 64:
        return None
    return (-value) & 0xFFFFFFFFFFFFFFFF if m.group(1) == "-" else value


# ---- syscall sets -----------------------------------------------------------------------

def _names(abi: Abi) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for nr, name in syscalls(abi).items():
        out.setdefault(name, []).append(_key_nr(abi, nr))
    return out


_NAME_CACHE: dict[Abi, dict[str, list[int]]] = {}


def _token_one_abi(token: str, abi: Abi, out: set[tuple[Abi, int]]) -> bool:
    """qualify_syscall_pers: add what ``token`` names in ``abi``; False if nothing."""
    table = syscalls(abi)
    if token[:1].isdigit():
        nr, _ = _uint(token)
        if nr < 0:
            return False
        key = nr | X32_SYSCALL_BIT if abi is Abi.X32 else nr
        if key not in table:
            return False
        out.add((abi, nr))
        return True
    if token.startswith("/"):
        try:
            rx = re.compile(token[1:])
        except re.error as exc:
            raise QualifyError(f"regcomp: {token[1:]}: {exc}") from None
        found = False
        for nr, name in table.items():
            if rx.search(name):
                out.add((abi, _key_nr(abi, nr)))
                found = True
        return found
    cls = lookup_class(token)
    if cls is not None:
        out.update((abi, _key_nr(abi, nr)) for nr in class_members(abi, cls))
        return True
    names = _NAME_CACHE.get(abi)
    if names is None:
        names = _NAME_CACHE[abi] = _names(abi)
    nrs = names.get(token)
    if not nrs:
        return False
    out.update((abi, nr) for nr in nrs)
    return True


def _token(token: str, out: set[tuple[Abi, int]]) -> bool:
    """qualify_syscall: ``?`` prefixes, ``@personality``, then each ABI."""
    ok = False
    while token.startswith("?"):
        token = token[1:]
        ok = True
    at = token.rfind("@")
    if at >= 0:
        designator = token[at + 1:]
        abi = _PERSONALITIES.get(designator)
        if abi is None:
            raise QualifyError(f"incorrect personality designator '{designator}'"
                               f" in qualification '{token}'")
        return _token_one_abi(token[:at], abi, out) or ok
    for abi in Abi:
        ok |= _token_one_abi(token, abi, out)
    return ok


def parse_syscall_set(text: str) -> SyscallSet:
    """qualify_syscall_tokens: a ``trace=`` (abbrev=, verbose=, raw=, inject's) set."""
    inverted = False
    s = text
    while s.startswith("!"):
        inverted = not inverted
        s = s[1:]
    if s == "none":
        return SyscallSet(frozenset(), inverted)
    if s == "all":
        return SyscallSet(frozenset(), not inverted)
    members: set[tuple[Abi, int]] = set()
    done = False
    for token in (t for t in s.split(",") if t):
        done = _token(token, members)
        if not done:
            raise QualifyError(f"invalid system call '{token}'")
    if not done:
        raise QualifyError(f"invalid system call '{text}'")
    return SyscallSet(frozenset(members), inverted)


# ---- other sets ---------------------------------------------------------------------------

def _signal_number(token: str) -> int:
    """sigstr_to_uint: a number up to 255, or a name with or without SIG, any case."""
    if token[:1].isdigit():
        return _uint(token, 255)[0]
    name = token[3:] if token[:3].upper() == "SIG" else token
    name = name.upper()
    for sig in range(1, NSIG + 1):
        if signal_name(sig)[3:] == name:
            return sig
    return -1


def _number_set(text: str, lookup: object, what: str) -> NumberSet:
    """qualify_tokens: ``!``, ``all``/``none``, comma-separated tokens via ``lookup``."""
    inverted = False
    s = text
    while s.startswith("!"):
        inverted = not inverted
        s = s[1:]
    if s == "none":
        return NumberSet(frozenset(), inverted)
    if s == "all":
        return NumberSet(frozenset(), not inverted)
    members: set[int] = set()
    number = -1
    for token in (t for t in s.split(",") if t):
        if callable(lookup):
            number = lookup(token)
        else:
            assert isinstance(lookup, dict)
            number = lookup.get(token, -1)
        if number < 0:
            raise QualifyError(f"invalid {what} '{token}'")
        members.add(number)
    if number < 0:
        raise QualifyError(f"invalid {what} '{text}'")
    return NumberSet(frozenset(members), inverted)


# ---- inject= and fault= ------------------------------------------------------------------

_ERRNO_BY_NAME: dict[str, int] = {
    **{name.upper(): nr for nr, name in OTHER_KERNEL_ERRNOS.items()},
    **{name.upper(): nr for nr, (name, _) in RESTART_ERRNOS.items()},
    **{name.upper(): nr for nr, name in ERRNO_NAMES.items()},
}


def _parse_when(val: str) -> tuple[int, int, int] | None:
    first, rest = _uint(val, 0xFFFF, "+.")
    if first < 1:
        return None
    if rest.startswith("."):
        if not rest.startswith(".."):
            return None
        last, rest = _uint(rest[2:], 0xFFFF, "+")
        if last < first or last == INJECT_LAST_INF:
            return None
    else:
        last = INJECT_LAST_INF
    if rest:
        val = rest[1:]
        if val:
            step, tail = _uint(val, 0xFFFF)
            if step < 1 or tail:
                return None
        else:
            step = 1
    else:
        step = 0 if last == INJECT_LAST_INF else 1
    return first, last, step


def _is_pure(name: str) -> bool:
    for abi in Abi:
        nr = syscall_number(abi, name)
        if nr is None or nr not in class_members(abi, "%pure"):
            return False
    return True


def parse_inject(text: str, *, fault: bool = False) -> tuple[SyscallSet, InjectSpec]:
    """One ``inject=`` (or, ``fault``, ``fault=``) argument: its syscall set and spec.
    The options are checked before the set, as strace does (parse_inject_expression,
    then qualify_syscall_tokens)."""
    what = "fault argument" if fault else "inject argument"
    bad = QualifyError(f"invalid {what} '{text}'")
    parts = text.split(":")
    name = parts[0] if text and not text.startswith(":") else ""
    error: int | None = None
    retval: int | None = None
    sig: int | None = None
    when: tuple[int, int, int] = (1, INJECT_LAST_INF, 1)
    pure: str | None = None
    for token in (p for p in parts[1:] if p):
        key, eq, val = token.partition("=")
        if not eq:
            raise bad
        if key == "when":
            parsed = _parse_when(val)
            if parsed is None:
                raise bad
            when = parsed
        elif key == "syscall":
            if pure is not None or not _is_pure(val):
                raise bad
            pure = val
        elif key == "error":
            if error is not None or retval is not None:
                raise bad
            n, _ = _uint(val, MAX_ERRNO)
            if n < 0:
                n = _ERRNO_BY_NAME.get(val.upper(), -1)
            if n < 1:
                raise bad
            error = n
        elif not fault and key == "retval":
            if error is not None or retval is not None:
                raise bad
            retval = _c_ulonglong(val)
            if retval is None:
                raise bad
        elif not fault and key == "signal":
            if sig is not None:
                raise bad
            sig = _signal_number(val)
            if sig < 1 or sig > NSIG:
                raise bad
        elif not fault and key in ("poke_enter", "poke_exit", "delay_enter", "delay_exit"):
            raise QualifyError(f"{what} '{text}': {key}= is not supported by trace-run")
        else:
            raise bad
    sset = parse_syscall_set(name)
    if error is None and retval is None and sig is None:
        if not fault:
            raise bad
        error = 38   # ENOSYS: fault='s default
    first, last, step = when
    spec = InjectSpec(error=error, retval=retval, signal=sig, first=first, last=last,
                      step=step, syscall=pure, text=text)
    return sset, spec


# ---- all qualifiers ----------------------------------------------------------------------

_QUALIFIERS = (
    ("trace", "trace"), ("t", "trace"), ("abbrev", "abbrev"), ("a", "abbrev"),
    ("verbose", "verbose"), ("v", "verbose"), ("raw", "raw"), ("x", "raw"),
    ("signal", "signal"), ("signals", "signal"), ("s", "signal"), ("status", "status"),
    ("quiet", "quiet"), ("silent", "quiet"), ("silence", "quiet"), ("q", "quiet"),
    ("read", "read"), ("reads", "read"), ("r", "read"), ("write", "write"),
    ("writes", "write"), ("w", "write"), ("fault", "fault"), ("inject", "inject"),
    ("kvm", "kvm"), ("decode-fd", "decode_fds"), ("decode-fds", "decode_fds"),
    ("decode-pid", "decode_pids"), ("decode-pids", "decode_pids"),
    ("secontext", "secontext"),
)


@dataclass
class Qualifiers:
    """Every ``-e`` setting of a run, with strace's defaults (strace.c's init)."""

    trace: SyscallSet = ALL_SYSCALLS
    abbrev: SyscallSet = ALL_SYSCALLS
    verbose: SyscallSet = ALL_SYSCALLS
    raw: SyscallSet = NO_SYSCALLS
    signals: NumberSet = ALL_NUMBERS
    status: NumberSet = ALL_NUMBERS
    quiet: NumberSet = NO_NUMBERS
    quiet_given: bool = False
    read: NumberSet = NO_NUMBERS
    write: NumberSet = NO_NUMBERS
    decode_fds: NumberSet = NO_NUMBERS
    decode_pids: NumberSet = NO_NUMBERS
    secontext: NumberSet = NO_NUMBERS
    kvm: bool = False
    inject: dict[tuple[Abi, int], InjectSpec] = field(default_factory=dict)
    z_flags: int = 0

    def apply(self, expr: str) -> None:
        """One ``-e EXPR`` (or ``--trace=`` etc. with the qualifier in front)."""
        kind, value = "trace", expr
        for prefix, which in _QUALIFIERS:
            if expr.startswith(prefix) and expr[len(prefix):len(prefix) + 1] == "=":
                kind, value = which, expr[len(prefix) + 1:]
                break
        match kind:
            case "trace" | "abbrev" | "verbose" | "raw":
                setattr(self, kind, parse_syscall_set(value))
            case "signal":
                self.signals = _number_set(value, _signal_number, "signal")
            case "status":
                self.status = _number_set(value, _STATUS_NAMES, "status")
            case "quiet":
                self.quiet = _number_set(value, _QUIET_NAMES, "quiet")
                self.quiet_given = True
            case "read" | "write":
                setattr(self, kind, _number_set(value, lambda t: _uint(t)[0], "descriptor"))
            case "decode_fds":
                self.decode_fds = _number_set(value, _DECODE_FD_NAMES, "decode-fds")
            case "decode_pids":
                self.decode_pids = _number_set(value, _DECODE_PID_NAMES, "decode-pids")
            case "secontext":
                self.secontext = _number_set(value, _SECONTEXT_NAMES, "secontext")
            case "kvm":
                if value != "vcpu":
                    raise QualifyError(f"invalid -e kvm= argument: '{value}'")
                self.kvm = True
            case "fault" | "inject":
                sset, spec = parse_inject(value, fault=kind == "fault")
                for abi in Abi:
                    for nr in sset.numbers(abi):
                        self.inject[(abi, nr)] = spec

    def injections(self) -> dict[tuple[Abi, int], InjectSpec]:
        """What is injected: strace tampers only with calls it traces (trace=)."""
        return {k: v for k, v in self.inject.items() if k in self.trace}


def successful_only(q: Qualifiers) -> None:
    """``-z``: status=successful (a later -z/-Z or -e status= replaces it)."""
    q.status = NumberSet(frozenset({Status.SUCCESSFUL}))
    q.z_flags += 1


def failed_only(q: Qualifiers) -> None:
    """``-Z``: status=failed."""
    q.status = NumberSet(frozenset({Status.FAILED}))
    q.z_flags += 1


Z_WARNING = ("Only the last of -z/--successful-only/-Z/--failed-only options will take "
             "effect. See status qualifier for more complex filters.")
"""What strace says (once, not fatal) when ``Qualifiers.z_flags > 1``."""


QUIET_OF_Q = {1: "attach,personality", 2: "exit,attach,personality", 3: "all"}
"""``-q``, ``-qq``, ``-qqq`` as ``-e quiet=`` sets (strace.c's qflag_qual ...)."""


def finish(q: Qualifiers, *, q_level: int = 0, output_file: bool = False,
           command: bool = True) -> list[str]:
    """What strace does after reading all options (strace.c's init), for the CLI to call
    once: ``-o FILE`` with a command implies ``-q`` unless ``-e quiet=`` was given; ``-q``
    (``q_level`` times) becomes its quiet set; ``-q`` with ``-e quiet=`` is an error.
    Returns strace's warnings (not fatal) to print as ``trace-run: ...``."""
    warnings = []
    if q.z_flags > 1:
        warnings.append(Z_WARNING)
    if output_file and command and not q_level and not q.quiet_given:
        q_level = 1
    if q_level:
        if q.quiet_given:
            raise QualifyError("-q and -e quiet/--quiet cannot be provided simultaneously")
        q.quiet = _number_set(QUIET_OF_Q[min(q_level, 3)], _QUIET_NAMES, "quiet")
    return warnings
