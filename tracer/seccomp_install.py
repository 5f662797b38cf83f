"""Installing a classic-BPF seccomp filter in the calling process (the spawned child,
before execve): seccomp(SECCOMP_SET_MODE_FILTER).

The kernel takes a filter from a task with CAP_SYS_ADMIN in its user namespace, or one
that has set no_new_privs.  :func:`install` tries without no_new_privs first, so a
root trace-run leaves set-user-ID programs working in the traced command (a filter of
trace-run's cannot be used to mislead them: it only allows or traces); only when the
kernel says EACCES does it set PR_SET_NO_NEW_PRIVS, as ``strace --seccomp-bpf`` always
does.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Final

__all__ = ["install"]

_SYS_SECCOMP: Final = 317              # x86_64
_SECCOMP_SET_MODE_FILTER: Final = 1
_PR_SET_NO_NEW_PRIVS: Final = 38


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def install(program: bytes) -> bool:
    """Install ``program`` (``struct sock_filter`` array) as a seccomp filter of the
    calling thread.  Returns whether no_new_privs had to be set.  Raises OSError."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    if syscall(ctypes.c_long(_SYS_SECCOMP), ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
               ctypes.c_long(0), ctypes.byref(prog)) == 0:
        return False
    err = ctypes.get_errno()
    if err != errno.EACCES:
        raise OSError(err, f"seccomp(SECCOMP_SET_MODE_FILTER): {errno.errorcode.get(err)}")
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_NO_NEW_PRIVS)")
    if syscall(ctypes.c_long(_SYS_SECCOMP), ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
               ctypes.c_long(0), ctypes.byref(prog)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp(SECCOMP_SET_MODE_FILTER): {errno.errorcode.get(err)}")
    return True
