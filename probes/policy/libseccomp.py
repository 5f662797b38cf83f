"""libseccomp through ctypes: the filter runc would build for a profile, as classic BPF.

runc hands every rule of a profile to libseccomp (``seccomp_rule_add_array``) and loads the
one filter libseccomp generates.  This module does the same with the host's
``libseccomp.so.2`` (Debian's ``libseccomp2``), so that trace-run's own reading of a
profile can be compared with the real thing: :func:`build_filter` takes a resolved
:class:`~probes.policy.resolve.Policy` (whose :attr:`~Policy.runtime_rules` are the calls
runc makes, in runc's order) and :meth:`Filter.export_bpf` returns the classic BPF program
(``struct sock_filter`` entries) that would be installed with seccomp(2).

Nothing here installs a filter or touches a process: the caller decides what to do with
the program (evaluate it, or load it in a child with ``seccomp(SECCOMP_SET_MODE_FILTER)``).

    >>> from probes.policy import libseccomp
    >>> if libseccomp.available():
    ...     with libseccomp.build_filter(policy) as f:
    ...         program = f.export_bpf()      # list of SockFilter(code, jt, jf, k)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from .models import Action, Op

if TYPE_CHECKING:
    from .resolve import Cond, Policy, Verdict

__all__ = [
    "ARCH_TOKENS",
    "AUDIT_ARCH",
    "NR_SCMP_ERROR",
    "Filter",
    "LibseccompError",
    "SockFilter",
    "action_value",
    "available",
    "build_filter",
    "resolve_name",
    "version",
]

#: libseccomp's SCMP_ARCH_* tokens (the kernel's AUDIT_ARCH_* values) for the x86 ABIs.
ARCH_TOKENS: dict[str, int] = {
    "x86_64": 0xC000003E,   # AUDIT_ARCH_X86_64
    "i386": 0x40000003,     # AUDIT_ARCH_I386
    "x32": 0x4000003E,      # AUDIT_ARCH_X86_64 without __AUDIT_ARCH_64BIT
}
#: ``seccomp_data.arch`` of a syscall of each ABI (x32 is AUDIT_ARCH_X86_64 too; its numbers
#: carry __X32_SYSCALL_BIT).
AUDIT_ARCH: dict[str, int] = {"x86_64": 0xC000003E, "i386": 0x40000003, "x32": 0xC000003E}
#: ``seccomp_syscall_resolve_name``'s answer for a name it does not know.
NR_SCMP_ERROR = -1

_OPS = {Op.NE: 1, Op.LT: 2, Op.LE: 3, Op.EQ: 4, Op.GE: 5, Op.GT: 6, Op.MASKED_EQ: 7}
_SCMP_FLTATR_CTL_NNP = 3


class LibseccompError(Exception):
    """A libseccomp call failed; ``errno`` is the (positive) error it returned."""

    def __init__(self, what: str, errno: int) -> None:
        self.errno = errno
        super().__init__(f"{what}: {os.strerror(errno)}")


class _ArgCmp(ctypes.Structure):
    """``struct scmp_arg_cmp``."""
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint),
                ("micro", ctypes.c_uint)]


@dataclass(frozen=True, slots=True)
class SockFilter:
    """One classic BPF instruction (``struct sock_filter``)."""
    code: int
    jt: int
    jf: int
    k: int


_lib: ctypes.CDLL | None = None
_tried = False


def _load() -> ctypes.CDLL | None:
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    for name in ("libseccomp.so.2", ctypes.util.find_library("seccomp")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_exist.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
        lib.seccomp_version.restype = ctypes.POINTER(_Version)
        _lib = lib
        break
    return _lib


def available() -> bool:
    """Whether the host has libseccomp (``libseccomp.so.2``)."""
    return _load() is not None


def _need() -> ctypes.CDLL:
    lib = _load()
    if lib is None:
        raise LibseccompError("libseccomp.so.2 not found (Debian: apt-get install libseccomp2)",
                              2)
    return lib


def version() -> tuple[int, int, int]:
    """The library's version, e.g. (2, 5, 4)."""
    v = _need().seccomp_version().contents
    return int(v.major), int(v.minor), int(v.micro)


def resolve_name(name: str, abi: str | None = None) -> int:
    """libseccomp's number for ``name`` (negative for its pseudo-syscalls), on the native
    ABI or ``abi`` (``"x86_64"``, ``"i386"``, ``"x32"``); :data:`NR_SCMP_ERROR` if unknown."""
    lib = _need()
    raw = name.encode()
    if abi is None:
        return int(lib.seccomp_syscall_resolve_name(raw))
    return int(lib.seccomp_syscall_resolve_name_arch(ARCH_TOKENS[abi], raw))


def action_value(verdict: Verdict) -> int:
    """The SCMP_ACT_* value of a verdict (ERRNO with its 16 bits of data, as runc passes
    ``errnoRet``)."""
    match verdict.action:
        case Action.KILL_PROCESS:
            return 0x80000000
        case Action.KILL | Action.KILL_THREAD:
            return 0x00000000
        case Action.TRAP:
            return 0x00030000
        case Action.ERRNO:
            return 0x00050000 | ((verdict.errno or 0) & 0xFFFF)
        case Action.LOG:
            return 0x7FFC0000
        case Action.ALLOW:
            return 0x7FFF0000
        case Action.NOTIFY:
            return 0x7FC00000
        case Action.TRACE:
            return 0x7FF00000 | ((verdict.errno or 0) & 0xFFFF)
    raise AssertionError(verdict.action)


class Filter:
    """One libseccomp filter context (``scmp_filter_ctx``); release it with :meth:`close`
    or use it as a context manager."""

    def __init__(self, default_action: int) -> None:
        self._lib = _need()
        ctx = self._lib.seccomp_init(default_action & 0xFFFFFFFF)
        if not ctx:
            raise LibseccompError(f"seccomp_init({default_action:#x})", 22)
        self._ctx: int | None = ctx
        # as runc: the filter does not set no_new_privs itself
        self._check(self._lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_NNP, 0), "seccomp_attr_set")

    def _check(self, rc: int, what: str) -> None:
        if rc < 0:
            raise LibseccompError(what, -rc)

    @property
    def ctx(self) -> int:
        if self._ctx is None:
            raise ValueError("the filter was released")
        return self._ctx

    def add_arch(self, abi: str) -> None:
        """Add an ABI (``"i386"``, ``"x32"``); the native one is there from the start."""
        token = ARCH_TOKENS[abi]
        if self._lib.seccomp_arch_exist(self.ctx, token) == 0:
            return
        self._check(self._lib.seccomp_arch_add(self.ctx, token), f"seccomp_arch_add({abi})")

    def add_rule(self, action: int, nr: int, conds: Sequence[Cond] = ()) -> None:
        """``seccomp_rule_add_array(ctx, action, nr, len(conds), conds)``."""
        arr = (_ArgCmp * max(1, len(conds)))()
        for i, c in enumerate(conds):
            arr[i] = _ArgCmp(c.index, _OPS[c.op], c.value, c.value_two)
        rc = self._lib.seccomp_rule_add_array(self.ctx, action & 0xFFFFFFFF, nr, len(conds),
                                              arr if conds else None)
        self._check(rc, f"seccomp_rule_add_array(nr {nr})")

    def export_bpf(self) -> list[SockFilter]:
        """The filter as classic BPF, as ``seccomp_export_bpf`` writes it."""
        with tempfile.TemporaryFile() as f:
            self._check(self._lib.seccomp_export_bpf(self.ctx, f.fileno()),
                        "seccomp_export_bpf")
            f.seek(0)
            raw = f.read()
        out = []
        for off in range(0, len(raw) - len(raw) % 8, 8):
            code = int.from_bytes(raw[off:off + 2], "little")
            k = int.from_bytes(raw[off + 4:off + 8], "little")
            out.append(SockFilter(code, raw[off + 2], raw[off + 3], k))
        return out

    def close(self) -> None:
        if self._ctx is not None:
            self._lib.seccomp_release(self._ctx)
            self._ctx = None

    def __enter__(self) -> Filter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def build_filter(policy: Policy, abis: Iterable[str] | None = None) -> Filter:
    """The filter runc builds for ``policy``: ``seccomp_init`` with the default action,
    the profile's extra ABIs, then one ``seccomp_rule_add_array`` per entry of
    ``policy.runtime_rules`` (syscall numbers resolved by libseccomp, as runc's
    ``GetSyscallFromName``; a name it does not know is skipped, as runc skips it).

    Raises :class:`LibseccompError` where runc would fail."""
    f = Filter(action_value(policy.default))
    try:
        for abi in (a.value for a in policy.abis) if abis is None else abis:
            if abi != "x86_64":
                f.add_arch(abi)
        for rule in policy.runtime_rules:
            nr = resolve_name(rule.name)
            if nr == NR_SCMP_ERROR:
                continue
            f.add_rule(action_value(rule.verdict), nr, rule.conds)
    except BaseException:
        f.close()
        raise
    return f
