"""Memory access for helpers: the program's own memory, the task's, and "kernel" memory.

A helper's pointer arguments were checked by the kernel's verifier before the program
ran (a readable/writable buffer of the given size); here an argument the verifier would
have refused raises :class:`HelperFault`, which the VM reports with the pc of the call.

Three address spaces meet here.  The VM's regions are the program's kernel memory
(stack, context, map values).  The task's memory is reached only through the host
(``read_user``).  "Kernel" reads (bpf_probe_read_kernel, %pks) try the VM's regions
first and then the host's ``read_kernel``.  The legacy bpf_probe_read and ``%s``
decide by address, as x86-64 does (below TASK_SIZE: user), except that an address
inside one of the VM's regions is the program's own memory: VM addresses are small
numbers, which on real hardware would be user addresses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..helper_table import HelperFault
from ..host import TASK_SIZE, Host, ProcessHost
from ..memory import OFFSET_MASK, REGION_SHIFT

if TYPE_CHECKING:
    from ..context import RunContext

M64 = (1 << 64) - 1
M32 = 0xFFFFFFFF
PAGE = 4096

Reader = Callable[[int, int], "bytes | None"]


def host_of(state: RunContext) -> Host:
    """The VM's host; a VM created without one gets a :class:`ProcessHost` on first use
    (then ``vm.host``)."""
    vm = state.vm
    if vm.host is None:
        vm.host = ProcessHost()
    return vm.host  # type: ignore[no-any-return]


def prog_read(state: RunContext, addr: int, size: int, what: str = "") -> bytes:
    """``size`` bytes of the program's memory (a PTR_TO_MEM argument)."""
    if size == 0:
        return b""
    entry = state.space.table.get(addr >> REGION_SHIFT)   # AddressSpace.read, inlined
    if entry is not None and size > 0:
        off = addr & OFFSET_MASK
        if off + size <= entry[1]:
            return bytes(entry[0][off:off + size])
    raise HelperFault(f"{what or 'helper'}: invalid read of {size} bytes at 0x{addr:x}",
                      addr, size)


def prog_check_writable(state: RunContext, addr: int, size: int, what: str = "") -> None:
    """A PTR_TO_UNINIT_MEM argument must be writable for ``size`` bytes."""
    if size and state.space.translate(addr, size, write=True) is None:
        raise HelperFault(f"{what or 'helper'}: invalid write of {size} bytes at 0x{addr:x}",
                          addr, size)


def prog_writable(state: RunContext, addr: int, size: int, what: str = ""
                  ) -> tuple[bytearray, int]:
    """The buffer and offset of a PTR_TO_UNINIT_MEM argument of ``size`` > 0 bytes."""
    t = state.space.translate(addr, size, write=True)
    if t is None:
        raise HelperFault(f"{what or 'helper'}: invalid write of {size} bytes at 0x{addr:x}",
                          addr, size)
    return t


def prog_write(state: RunContext, addr: int, data: bytes, what: str = "") -> None:
    prog_check_writable(state, addr, len(data), what)
    if data:
        state.space.write(addr, data)


def in_vm(state: RunContext, addr: int) -> bool:
    return state.space.translate(addr, 1) is not None


def user_reader(state: RunContext) -> Reader:
    return host_of(state).read_user


def kernel_reader(state: RunContext) -> Reader:
    host = host_of(state)
    kernel = state.vm.kernel_mem

    def read(addr: int, size: int) -> bytes | None:
        data = state.space.read(addr, size)
        if data is None:
            data = kernel.read(addr, size)
        return data if data is not None else host.read_kernel(addr, size)
    return read


def compat_reader(state: RunContext, addr: int) -> Reader:
    """The reader the legacy helpers and ``%s`` use for ``addr``."""
    if in_vm(state, addr) or addr >= TASK_SIZE:
        return kernel_reader(state)
    return user_reader(state)


def read_cstr(read: Reader, addr: int, count: int) -> bytes | None:
    """strncpy_from_{user,kernel}_nofault(dst, addr, count) without the copy: the string
    at ``addr`` without its NUL, or None on a fault before a NUL.  Up to ``count`` bytes
    are read; with no NUL among them the result is the first ``count - 1`` bytes (the
    kernel truncates and terminates)."""
    out = bytearray()
    pos = addr
    while len(out) < count:
        n = min(count - len(out), PAGE - pos % PAGE)
        chunk = read(pos, n)
        if chunk is None:          # fault somewhere in this chunk: find the first byte
            for i in range(n):
                b = read(pos + i, 1)
                if b is None:
                    return None
                if b == b"\0":
                    return bytes(out)
                out += b
            pos += n
            continue
        nul = chunk.find(0)
        if nul >= 0:
            return bytes(out + chunk[:nul])
        out += chunk
        pos += n
    return bytes(out[:count - 1])
