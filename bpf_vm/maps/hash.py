"""BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH.

Each value is its own region, mapped when the key is inserted and unmapped when it is
deleted or evicted, so a pointer from ``bpf_map_lookup_elem`` is the element's memory
while the element lives and faults afterwards.  Differences from the kernel, on purpose:

* Updating an existing key copies the new value into the existing region.  The kernel
  swaps in a fresh element; a program still holding the old pointer would read the old
  value there, here it reads the new one.
* Iteration (get_next_key, dumps) is in insertion order; the kernel's is bucket order,
  which depends on a random hash seed.  Tests compare key *sets*.
* LRU eviction is exact: inserting into a full LRU map evicts the least recently used
  element (use = insertion, update, or lookup by a program; lookups from user space do
  not count, as ``htab_lru_map_lookup_elem_sys`` does not mark).  The kernel's LRU is
  approximate: per-CPU free lists, a reference bit giving a second chance, shrinking in
  batches, so it may evict a different element, or more than one, or evict before the
  map holds max_entries.  What both guarantee: an LRU update never fails for lack of
  room, the map never holds more than max_entries, the newest key is present.
* Per-CPU maps emulate one CPU: programs see CPU 0's value; user space exchanges
  ``round_up(value_size, 8)`` bytes for the one possible CPU.
"""

from __future__ import annotations

import errno
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..memory import SLOT_SHIFT, Region
from .base import Map
from .spec import BPF_EXIST, BPF_NOEXIST, LRU_TYPES, MapSpec

if TYPE_CHECKING:
    from ..context import VmContext


class HashMap(Map):
    """A hash map (plain, per-CPU, LRU or LRU per-CPU, from the spec's type)."""

    def __init__(self, spec: MapSpec, vm: VmContext) -> None:
        super().__init__(spec, vm)
        self.percpu = spec.is_percpu
        self.lru = spec.type in LRU_TYPES
        # per-CPU values keep the user's padding, as the kernel's percpu area does
        self._region_size = spec.elem_size if self.percpu else spec.value_size
        self._elems: dict[bytes, Region] = {}
        self._recency: OrderedDict[bytes, None] = OrderedDict()   # LRU order, oldest first
        self.evicted: list[bytes] = []   # keys evicted by LRU, oldest first (for tests/demo)

    def _touch(self, key: bytes) -> None:
        if self.lru:
            self._recency[key] = None
            self._recency.move_to_end(key)

    def lookup_elem(self, key: bytes, *, from_prog: bool = False) -> int:
        region = self._elems.get(key)
        if region is None:
            return 0
        if from_prog and self.lru:
            self._touch(key)
        return region.slot << SLOT_SHIFT     # region.base

    def update_elem(self, key: bytes, value: bytes, flags: int, *,
                    from_prog: bool = False) -> int:
        if flags > BPF_EXIST:            # unknown flags, and BPF_F_LOCK without a lock
            return -errno.EINVAL
        old = self._elems.get(key)
        if old is not None and flags == BPF_NOEXIST:
            return -errno.EEXIST
        if old is None and flags == BPF_EXIST:
            return -errno.ENOENT
        n = min(len(value), self._region_size)
        if old is not None:
            old.buf[:n] = value[:n]
            self._touch(key)
            return 0
        if len(self._elems) >= self.max_entries:
            if not self.lru:
                return -errno.E2BIG
            self._evict_one()
        buf = bytearray(self._region_size)
        buf[:n] = value[:n]
        self._elems[key] = self.space.map(buf, self.prog_writable,
                                          f"map '{self.name}' value")
        self._touch(key)
        return 0

    def _evict_one(self) -> None:
        victim, _ = self._recency.popitem(last=False)
        self.space.unmap(self._elems.pop(victim))
        self.evicted.append(victim)

    def delete_elem(self, key: bytes, *, from_prog: bool = False) -> int:
        region = self._elems.pop(key, None)
        if region is None:
            return -errno.ENOENT
        self._recency.pop(key, None)
        self.space.unmap(region)
        return 0

    def next_key(self, key: bytes | None) -> bytes | None:
        keys = list(self._elems)
        if not keys:
            return None
        if key is None or key not in self._elems:
            return keys[0]
        i = keys.index(key) + 1
        return keys[i] if i < len(keys) else None

    def keys(self) -> Iterator[bytes]:
        return iter(list(self._elems))

    def user_value_size(self) -> int:
        return self._region_size

    def _value_bytes(self, value: object) -> bytes:
        data = bytes(value)  # type: ignore[call-overload]
        if self.percpu and len(data) == self.value_size:
            data += bytes(self._region_size - self.value_size)
        return super()._value_bytes(data)

    def read_value(self, key: bytes) -> bytes | None:
        region = self._elems.get(key)
        return None if region is None else bytes(region.buf)

    def __len__(self) -> int:
        return len(self._elems)
