"""BPF_MAP_TYPE_ARRAY and BPF_MAP_TYPE_PERCPU_ARRAY.

Every value exists from creation, zeroed, in one region of ``max_entries`` slots of
``round_up(value_size, 8)`` bytes (the kernel's ``elem_size``), so a lookup is an
address computation and a program's stores through the returned pointer are the map's
data.  A single-entry array also serves global data (``.data``, ``.bss``, ``.rodata``)
through ld_imm64 BPF_PSEUDO_MAP_VALUE, as ``array_map_direct_value_addr`` allows.

PERCPU_ARRAY emulates one CPU: programs see CPU 0's value, and user space exchanges
``round_up(value_size, 8)`` bytes per possible CPU, of which there is one.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..errors import MapError
from .base import Map
from .spec import BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, MapSpec, MapType

if TYPE_CHECKING:
    from ..context import VmContext

MAX_REGION = 1 << 32   # one address-space slot


def array_next_key(key: bytes | None, max_entries: int) -> bytes | None:
    """bpf_array_get_next_key: index + 1; an absent or out-of-range key restarts at 0."""
    index = int.from_bytes(key, "little") if key is not None else max_entries
    if index >= max_entries:
        return (0).to_bytes(4, "little")
    if index == max_entries - 1:
        return None
    return (index + 1).to_bytes(4, "little")


class ArrayMap(Map):
    """A plain or per-CPU array; values live in ``self.region``."""

    def __init__(self, spec: MapSpec, vm: VmContext) -> None:
        self.elem_size = spec.elem_size
        total = self.elem_size * spec.max_entries
        if total > MAX_REGION:
            raise MapError(errno.ENOMEM, f"map '{spec.name}': {total} bytes of values do not"
                                         " fit one 4 GiB region of this VM")
        try:
            buf = bytearray(total)
        except MemoryError:
            raise MapError(errno.ENOMEM, f"map '{spec.name}': cannot allocate {total} bytes"
                           ) from None
        super().__init__(spec, vm)
        self.percpu = spec.type is MapType.PERCPU_ARRAY
        self.region = self.space.map(buf, self.prog_writable, f"map '{spec.name}' values")

    @property
    def data(self) -> bytearray:
        """The values, back to back with elem_size stride (shared with the program)."""
        return self.region.buf

    def _index(self, key: bytes) -> int:
        return int.from_bytes(key[:4], "little")

    def value_address(self, index: int) -> int:
        return self.region.base + index * self.elem_size

    def lookup_elem(self, key: bytes, *, from_prog: bool = False) -> int:
        index = self._index(key)
        if index >= self.max_entries:
            return 0
        return self.value_address(index)

    def update_elem(self, key: bytes, value: bytes, flags: int, *,
                    from_prog: bool = False) -> int:
        if (flags & ~BPF_F_LOCK) > BPF_EXIST:
            return -errno.EINVAL
        index = self._index(key)
        if index >= self.max_entries:
            return -errno.E2BIG          # all elements exist; none can be added
        if flags & BPF_NOEXIST:
            return -errno.EEXIST         # ... so "create only" always fails
        if flags & BPF_F_LOCK:
            return -errno.EINVAL         # no value here holds a bpf_spin_lock
        off = index * self.elem_size
        # a per-CPU update from user space carries the padded elem_size bytes
        n = min(len(value), self.elem_size if self.percpu else self.value_size)
        self.region.buf[off:off + n] = value[:n]
        return 0

    def delete_elem(self, key: bytes, *, from_prog: bool = False) -> int:
        return -errno.EINVAL             # array elements cannot be deleted

    def next_key(self, key: bytes | None) -> bytes | None:
        return array_next_key(key, self.max_entries)

    def user_value_size(self) -> int:
        return self.elem_size if self.percpu else self.value_size

    def _value_bytes(self, value: object) -> bytes:
        data = bytes(value)  # type: ignore[call-overload]
        if self.percpu and len(data) == self.value_size:
            data += bytes(self.elem_size - self.value_size)   # accept the unpadded value
        return super()._value_bytes(data)

    def read_value(self, key: bytes) -> bytes | None:
        index = self._index(key)
        if index >= self.max_entries:
            return None
        off = index * self.elem_size
        return bytes(self.region.buf[off:off + self.user_value_size()])

    def direct_value_address(self, offset: int) -> int | None:
        if self.type is not MapType.ARRAY or self.max_entries != 1:
            return None
        if offset >= self.value_size:
            return None
        return self.region.base + offset
