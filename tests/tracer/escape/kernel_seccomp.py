"""The escape suite's oracle: a profile loaded as the kernel's own seccomp filter, built by
libseccomp (Debian's ``libseccomp.so.2``) through ctypes, as runc builds it.

Only what the suite's profiles use: ``defaultAction`` SCMP_ACT_ALLOW, ``architectures``,
and ``syscalls`` rules without argument conditions with SCMP_ACT_ERRNO and ``errnoRet``.
NO_NEW_PRIVS is not set (the suite runs as root), so a setuid program keeps its
setuid bit, as it does under trace-run.  A private helper: the project's own binding
(probes/policy/libseccomp.py) builds filters from resolved policies, this one only has to
load one in a child before exec.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

SCMP_ACT_ALLOW = 0x7FFF0000
_SCMP_ACT_ERRNO = 0x00050000
_SCMP_FLTATR_CTL_NNP = 3
_ARCHES = {"SCMP_ARCH_X86_64": 0xC000003E, "SCMP_ARCH_X86": 0x40000003,
           "SCMP_ARCH_X32": 0x4000003E}
_NR_SCMP_ERROR = -1
_EEXIST = 17


class SeccompUnavailable(Exception):
    """libseccomp is not there, or refused the filter."""


@functools.cache
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise SeccompUnavailable(f"libseccomp not found ({exc})") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                     ctypes.c_uint]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


def available() -> str | None:
    """None if filters can be built here, else why not."""
    try:
        _lib()
    except SeccompUnavailable as exc:
        return str(exc)
    return None


def load(profile: dict[str, Any]) -> None:
    """Build ``profile``'s filter and load it on this process (for good)."""
    lib = _lib()
    if profile.get("defaultAction") != "SCMP_ACT_ALLOW":
        raise SeccompUnavailable("only defaultAction SCMP_ACT_ALLOW is supported here")
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise SeccompUnavailable("seccomp_init failed")
    for arch in profile.get("architectures", []):
        rc = lib.seccomp_arch_add(ctx, _ARCHES[arch])
        if rc not in (0, -_EEXIST):
            raise SeccompUnavailable(f"seccomp_arch_add({arch}): {rc}")
    for rule in profile.get("syscalls", []):
        if rule["action"] != "SCMP_ACT_ERRNO" or rule.get("args"):
            raise SeccompUnavailable(f"unsupported rule {rule}")
        action = _SCMP_ACT_ERRNO | (int(rule.get("errnoRet", 1)) & 0xFFFF)
        for name in rule["names"]:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr == _NR_SCMP_ERROR:
                raise SeccompUnavailable(f"libseccomp does not know {name}")
            rc = lib.seccomp_rule_add(ctx, action, nr, 0)
            if rc:
                raise SeccompUnavailable(f"seccomp_rule_add({name}): {rc}")
    if lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_NNP, 0):
        raise SeccompUnavailable("seccomp_attr_set(NNP) failed")
    rc = lib.seccomp_load(ctx)
    if rc:
        raise SeccompUnavailable(f"seccomp_load: {rc}")
