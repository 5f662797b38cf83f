"""Memory layouts of the structures syscalls pass by pointer, per ABI.

The same call reads different bytes under different ABIs: i386 ``struct stat`` has 16-bit
ids, a 32-bit ``timespec`` unless the call is a ``*_time64`` one, and compat
``sigaction`` with 32-bit pointers (which x32 also uses).  Each function here takes the
raw bytes the tracee's pointer refers to and returns plain numbers, or None when the
bytes are too short; :mod:`tracer.format` turns them into strace's text.  ``size(...)``
helpers say how many bytes to read.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from probes.abi import Abi


class Stat(NamedTuple):
    """The fields of ``struct stat`` strace shows by default."""

    mode: int
    size: int
    rdev: int


_STAT_64 = struct.Struct("<QQQIII4xQq")  # dev ino nlink mode uid gid pad rdev size
_STAT_I386 = struct.Struct("<IIHHHHII")  # dev ino mode nlink uid gid rdev size
_STAT64_I386 = struct.Struct("<Q4xIIIIIQ4xq")  # dev pad ino mode nlink uid gid rdev pad size


def stat_size(abi: Abi, *, stat64: bool = False) -> int:
    """Bytes of the stat structure a call of ``abi`` fills (``stat64``: the i386 one)."""
    if abi is Abi.I386:
        return 96 if stat64 else 64
    return 144


def unpack_stat(abi: Abi, data: bytes, *, stat64: bool = False) -> Stat | None:
    """``struct stat`` (x86_64, x32), i386 ``struct stat`` or i386 ``struct stat64``."""
    if abi is not Abi.I386:
        if len(data) < _STAT_64.size:
            return None
        _dev, _ino, _nlink, mode, _uid, _gid, rdev, size = _STAT_64.unpack_from(data)
        return Stat(mode, size, rdev)
    layout = _STAT64_I386 if stat64 else _STAT_I386
    if len(data) < layout.size:
        return None
    _dev, _ino, mode, _nlink, _uid, _gid, rdev, size = layout.unpack_from(data)
    return Stat(mode, size, rdev)


def dev_major(dev: int) -> int:
    """glibc's gnu_dev_major."""
    return ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)


def dev_minor(dev: int) -> int:
    """glibc's gnu_dev_minor."""
    return (dev & 0xFF) | ((dev >> 12) & ~0xFF)


class Statx(NamedTuple):
    """The fields of ``struct statx`` strace shows by default (same under every ABI)."""

    mask: int
    attributes: int
    mode: int
    size: int


STATX_SIZE = 256
_STATX = struct.Struct("<I4xQ12xH10xQ")  # mask blksize attributes nlink uid gid mode ino size


def unpack_statx(data: bytes) -> Statx | None:
    if len(data) < _STATX.size:
        return None
    return Statx(*_STATX.unpack_from(data))


class SigAction(NamedTuple):
    """The kernel's ``struct sigaction`` (not glibc's): handler, flags, restorer, mask."""

    handler: int
    flags: int
    restorer: int
    mask: int


_SIGACTION_64 = struct.Struct("<QQQQ")
_SIGACTION_COMPAT = struct.Struct("<IIIQ")


def sigaction_size(abi: Abi) -> int:
    """Bytes of the kernel sigaction for rt_sigaction under ``abi``."""
    return _SIGACTION_64.size if abi is Abi.X86_64 else _SIGACTION_COMPAT.size


def unpack_sigaction(abi: Abi, data: bytes) -> SigAction | None:
    """x86_64 layout, or the compat one i386 and x32 (compat_sys_rt_sigaction) use."""
    layout = _SIGACTION_64 if abi is Abi.X86_64 else _SIGACTION_COMPAT
    if len(data) < layout.size:
        return None
    return SigAction(*layout.unpack_from(data))


def timespec_size(abi: Abi, *, time64: bool = False) -> int:
    """16 bytes, except 8 for i386 calls that predate the y2038 ``*_time64`` ones."""
    return 8 if abi is Abi.I386 and not time64 else 16


def unpack_timespec(abi: Abi, data: bytes, *, time64: bool = False) -> tuple[int, int] | None:
    """(tv_sec, tv_nsec), signed."""
    fmt = "<ii" if abi is Abi.I386 and not time64 else "<qq"
    if len(data) < struct.calcsize(fmt):
        return None
    sec, nsec = struct.unpack_from(fmt, data)
    return sec, nsec


def unpack_rlimit(data: bytes, word: int) -> tuple[int, int] | None:
    """(rlim_cur, rlim_max) of ``struct rlimit`` (``word``-byte fields) or rlimit64 (8)."""
    fmt = "<QQ" if word == 8 else "<II"
    if len(data) < struct.calcsize(fmt):
        return None
    cur, max_ = struct.unpack_from(fmt, data)
    return cur, max_


class CloneArgs(NamedTuple):
    """``struct clone_args`` of clone3 (all fields u64 under every ABI)."""

    flags: int
    pidfd: int
    child_tid: int
    parent_tid: int
    exit_signal: int
    stack: int
    stack_size: int
    tls: int
    set_tid: int
    set_tid_size: int
    cgroup: int


CLONE_ARGS_SIZE_VER0 = 64
CLONE_ARGS_SIZE = 88


def unpack_clone_args(data: bytes) -> CloneArgs | None:
    """Reads as many fields as ``data`` holds; clone3 accepts the 64-byte first version."""
    if len(data) < CLONE_ARGS_SIZE_VER0:
        return None
    padded = data[:CLONE_ARGS_SIZE].ljust(CLONE_ARGS_SIZE, b"\0")
    return CloneArgs(*struct.unpack("<11Q", padded))


def unpack_words(data: bytes, word: int) -> list[int]:
    """An array of pointers or longs of the tracee (argv, envp)."""
    fmt = "<Q" if word == 8 else "<I"
    return [v for (v,) in struct.iter_unpack(fmt, data[: len(data) - len(data) % word])]


def unpack_ints(data: bytes, count: int) -> list[int] | None:
    """``count`` signed 32-bit ints (pipe fds, tids, socklen_t, wait status)."""
    if len(data) < 4 * count:
        return None
    return list(struct.unpack_from(f"<{count}i", data))


UTSNAME_FIELD = 65


def unpack_utsname(data: bytes) -> tuple[bytes, bytes] | None:
    """(sysname, nodename) of ``struct new_utsname``: what strace shows of uname."""
    if len(data) < 2 * UTSNAME_FIELD:
        return None
    fields = [data[i * UTSNAME_FIELD : (i + 1) * UTSNAME_FIELD] for i in range(2)]
    sysname, nodename = (f.split(b"\0", 1)[0] for f in fields)
    return sysname, nodename
