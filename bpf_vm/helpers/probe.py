"""bpf_probe_read{,_str} and their _user / _kernel variants.

As the kernel's: on failure the destination is zeroed and the result is -EFAULT (the
_kernel variants: -ERANGE for an address in the user half, as x86-64's
copy_from_kernel_nofault_allowed refuses it before trying); the
``_str`` variants return the length including the NUL, copy at most ``size - 1`` bytes
and always terminate (a string longer than the buffer returns ``size``), and leave the
rest of the buffer alone.  All six are GPL-only.  See :mod:`._mem` for which memory
each one reads.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..helper_table import ArgType, RetType
from ..host import TASK_SIZE
from ..memory import OFFSET_MASK, REGION_SHIFT
from ._mem import (
    M32,
    Reader,
    compat_reader,
    host_of,
    in_vm,
    kernel_reader,
    prog_check_writable,
    prog_writable,
    prog_write,
    read_cstr,
    user_reader,
)
from ._registry import BUILTIN

if TYPE_CHECKING:
    from ..context import RunContext

_PROTO = (RetType.INTEGER, ArgType.PTR_TO_UNINIT_MEM, ArgType.CONST_SIZE_OR_ZERO,
          ArgType.ANYTHING)


def _read(state: RunContext, dst: int, size: int, read: Reader, src: int, what: str) -> int:
    size &= M32
    if size == 0:
        return 0
    buf, off = prog_writable(state, dst, size, what)
    data = read(src, size)
    if data is None or len(data) != size:
        buf[off:off + size] = bytes(size)
        return -errno.EFAULT
    buf[off:off + size] = data
    return 0


def _read_str(state: RunContext, dst: int, size: int, read: Reader, src: int,
              what: str) -> int:
    size &= M32
    if size == 0:
        return 0
    prog_check_writable(state, dst, size, what)
    text = read_cstr(read, src, size)
    if text is None:
        prog_write(state, dst, bytes(size), what)
        return -errno.EFAULT
    prog_write(state, dst, text + b"\0", what)
    return len(text) + 1


@BUILTIN.helper("probe_read_user", *_PROTO, gpl_only=True)
def probe_read_user(state: RunContext, dst: int, size: int, src: int, *_: int) -> int:
    """_read with the user reader, inlined (a probe calls it at every write)."""
    size &= M32
    if size == 0:
        return 0
    entry = state.space.table.get(dst >> REGION_SHIFT)    # prog_writable, inlined
    off = dst & OFFSET_MASK
    if entry is None or not entry[2] or off + size > entry[1]:
        prog_writable(state, dst, size, "bpf_probe_read_user")   # raises the fault
        raise AssertionError("unreachable")   # pragma: no cover
    host = state.vm.host
    if host is None:
        host = host_of(state)
    data = host.read_user(src, size)
    buf = entry[0]
    if data is None or len(data) != size:
        buf[off:off + size] = bytes(size)
        return -errno.EFAULT
    buf[off:off + size] = data
    return 0


#: x86-64 refuses a kernel read below this (TASK_SIZE_MAX plus the guard page) with
#: -ERANGE; the VM's own regions (the stack, map values) are kernel memory to a program
_USER_END = TASK_SIZE + 0x1000


def _kernel_errno(state: RunContext, rc: int, src: int) -> int:
    if rc == -errno.EFAULT and src < _USER_END and not in_vm(state, src):
        return -errno.ERANGE
    return rc


@BUILTIN.helper("probe_read_kernel", *_PROTO, gpl_only=True)
def probe_read_kernel(state: RunContext, dst: int, size: int, src: int, *_: int) -> int:
    rc = _read(state, dst, size, kernel_reader(state), src, "bpf_probe_read_kernel")
    return _kernel_errno(state, rc, src) if rc else 0


@BUILTIN.helper("probe_read", *_PROTO, gpl_only=True)
def probe_read(state: RunContext, dst: int, size: int, src: int, *_: int) -> int:
    """The legacy helper: user or kernel memory by address (x86-64 allows it)."""
    return _read(state, dst, size, compat_reader(state, src), src, "bpf_probe_read")


@BUILTIN.helper("probe_read_user_str", *_PROTO, gpl_only=True)
def probe_read_user_str(state: RunContext, dst: int, size: int, src: int, *_: int) -> int:
    return _read_str(state, dst, size, user_reader(state), src, "bpf_probe_read_user_str")


@BUILTIN.helper("probe_read_kernel_str", *_PROTO, gpl_only=True)
def probe_read_kernel_str(state: RunContext, dst: int, size: int, src: int,
                          *_: int) -> int:
    rc = _read_str(state, dst, size, kernel_reader(state), src, "bpf_probe_read_kernel_str")
    return _kernel_errno(state, rc, src) if rc < 0 else rc


@BUILTIN.helper("probe_read_str", *_PROTO, gpl_only=True)
def probe_read_str(state: RunContext, dst: int, size: int, src: int, *_: int) -> int:
    return _read_str(state, dst, size, compat_reader(state, src), src, "bpf_probe_read_str")
