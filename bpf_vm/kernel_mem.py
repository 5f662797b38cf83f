"""Emulated kernel memory: the kernel objects a tracing program may read, read-only.

Kernel-side programs read kernel objects through pointers the kernel hands them: the
``struct pt_regs *`` a syscall wrapper's kprobe gets in ``di``, the ``struct
seccomp_data *`` of ``__seccomp_filter``, the ``struct task_struct *`` of
``bpf_get_current_task``.  The VM places such objects here, at addresses in the
kernel's half of the address space (never a VM address, which are small), and
``bpf_probe_read_kernel`` (so BPF_CORE_READ, ``%pks``) reads them.  An address no
object covers reads as the kernel reads an unmapped address: the helper fails with
-EFAULT and zeroes its destination.

Objects are placed by *key*: placing again under a key replaces the bytes at the same
address, so a context built at every event points at the same place each time.  A
program cannot write here: the VM maps none of it as a region, and only the probe-read
helpers reach it.
"""

from __future__ import annotations

from bisect import bisect_right

#: Where keyed objects go: the x86-64 vmalloc area (where a task's kernel stack, and so
#: the pt_regs its syscall entry saves, lives), one 64 KiB slot per key.
PLACE_BASE = 0xFFFF_C900_0000_0000
PLACE_STRIDE = 1 << 16
__all__ = ["PLACE_BASE", "PLACE_STRIDE", "KernelMemory"]


class KernelMemory:
    """A sparse, read-only kernel address space of placed objects."""

    def __init__(self) -> None:
        self._starts: list[int] = []            # sorted
        self._objects: dict[int, bytes] = {}    # start -> bytes
        self._keys: dict[str, int] = {}

    def place(self, key: str, data: bytes) -> int:
        """Put ``data`` at the address of ``key`` (a new one for a new key; at most
        64 KiB) and return that address."""
        if len(data) > PLACE_STRIDE:
            raise ValueError(f"kernel object {key!r}: {len(data)} bytes, at most "
                             f"{PLACE_STRIDE}")
        addr = self._keys.get(key)
        if addr is None:
            addr = self._keys[key] = PLACE_BASE + len(self._keys) * PLACE_STRIDE
        self.map_at(addr, data)
        return addr

    def map_at(self, addr: int, data: bytes) -> None:
        """Put ``data`` at ``addr`` itself (a task_struct at its task handle), replacing
        the object that started there.  Objects must not overlap."""
        if addr not in self._objects:
            i = bisect_right(self._starts, addr)
            self._starts.insert(i, addr)
        self._objects[addr] = bytes(data)

    def address_of(self, key: str) -> int | None:
        return self._keys.get(key)

    def read(self, addr: int, size: int) -> bytes | None:
        """The ``size`` bytes at ``addr`` when one object holds all of them, else None."""
        if size < 0:
            return None
        i = bisect_right(self._starts, addr) - 1
        if i < 0:
            return None
        start = self._starts[i]
        data = self._objects[start]
        off = addr - start
        if off + size > len(data):
            return None
        return data[off:off + size]

    def clear(self) -> None:
        self._starts.clear()
        self._objects.clear()
        self._keys.clear()
