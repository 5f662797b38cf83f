"""BPF_MAP_TYPE_RINGBUF: reserve / submit / discard / output, in the kernel's order.

The kernel's ring buffer is one data area with a producer and a consumer position.
``bpf_ringbuf_reserve`` claims ``round_up(size + 8, 8)`` bytes (an 8-byte header plus
the record) at the producer position and fails (NULL) if that would put the producer
more than ``max_entries - 1`` bytes ahead of the consumer.  A consumer reads records in
*reservation* order and stops at the first one that is still busy (reserved, not yet
submitted or discarded); discarded records are skipped.  So a record submitted after a
later one still reaches the consumer first, once it is committed, which is what this
model reproduces.

Here each reserved record is its own writable region of exactly ``size`` bytes (the
verifier bounds accesses to it), so the pointer a program gets is real memory; submit
or discard unmaps it, so a use after commit faults (the verifier forbids it).  Its
bytes start zeroed (the kernel leaves old data there; zeros are deterministic).

Records are recycled, since a program reserves one at every run: once a consumer has
read a record, its ``_Record`` and ``Region`` objects go to a free list and serve a
later reservation, mapped again over a new buffer at the slot the address space picks
(:meth:`~bpf_vm.memory.AddressSpace.remap`: the same slot a fresh region would get).
A busy record is also entered in the address space's ``lent`` table, so that
bpf_ringbuf_submit/discard find its ring buffer with one lookup.
User space cannot touch elements, as in the kernel (measured on 6.18): lookup, update
and delete are refused with EINVAL (bpf(2) refuses a key for a map whose key_size is 0),
get_next_key with ENOTSUPP (524, the map's own answer).
"""

from __future__ import annotations

import errno
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import MapError
from ..memory import Region
from .base import Map
from .spec import ENOTSUPP, MapSpec

if TYPE_CHECKING:
    from ..context import VmContext

BPF_RINGBUF_HDR_SZ = 8
RINGBUF_MAX_RECORD_SZ = ((1 << 32) - 1) // 4
BPF_RB_NO_WAKEUP = 1
BPF_RB_FORCE_WAKEUP = 2

_NO_BYTES = bytearray()


class _Record:
    """One reservation: the producer position after it (``end``), its region, and
    ``busy`` until it is submitted or discarded; then ``data`` holds its bytes if it was
    submitted, None if it was discarded."""
    __slots__ = ("busy", "data", "end", "region")

    def __init__(self, region: Region) -> None:
        self.region = region
        self.end = 0
        self.busy = False
        self.data: bytes | None = None


class RingBuf(Map):
    """A ring buffer map of ``max_entries`` bytes."""
    prog_lookup = False
    prog_update = False

    def __init__(self, spec: MapSpec, vm: VmContext) -> None:
        super().__init__(spec, vm)
        self.size = spec.max_entries
        self.producer_pos = 0
        self.consumer_pos = 0
        self._queue: deque[_Record] = deque()          # reservation order, unconsumed
        self._by_addr: dict[int, _Record] = {}         # busy records by address
        self._spare: list[_Record] = []                # consumed records, for reuse
        self._record_name = f"ring buffer '{self.name}' record"

    # -- producer side (helpers) ------------------------------------------------------

    def reserve(self, size: int) -> int:
        """Address of a new writable record of ``size`` bytes, 0 when it does not fit."""
        if size > RINGBUF_MAX_RECORD_SZ:
            return 0
        length = (size + BPF_RINGBUF_HDR_SZ + 7) & ~7     # round_up(size + hdr, 8)
        if length > self.size:
            return 0
        end = self.producer_pos + length
        if end - self.consumer_pos > self.size - 1:
            return 0
        spare = self._spare
        rec = spare.pop() if spare else \
            _Record(Region(0, _NO_BYTES, True, self._record_name))
        space = self.space
        addr = space.remap(rec.region, bytearray(size))
        rec.end = end
        rec.busy = True
        self.producer_pos = end
        self._queue.append(rec)
        self._by_addr[addr] = rec
        space.lent[addr] = self
        return addr

    def commit(self, addr: int, discard: bool) -> None:
        """Submit or discard the busy record at ``addr`` (bpf_ringbuf_submit/discard).
        Raises MapError(EINVAL) for an address that is not a busy record: the verifier
        only lets a program pass back what reserve gave it, once."""
        rec = self._by_addr.pop(addr, None)
        if rec is None:
            raise MapError(22, f"0x{addr:x} is not a reserved record of ring buffer"
                               f" '{self.name}'")
        space = self.space
        del space.lent[addr]
        region = rec.region
        if not discard:
            rec.data = bytes(region.buf)
        rec.busy = False
        space.unmap(region)

    def commit_poll(self, addr: int, discard: bool) -> list[bytes]:
        """``commit(addr, discard)`` then ``poll()``: what the helpers do, in one call."""
        self.commit(addr, discard)
        queue = self._queue
        if queue[0].busy:           # an earlier record is still busy: nothing to read
            return []
        return self.poll()

    def output(self, data: bytes) -> bool:
        """bpf_ringbuf_output: reserve, copy, submit.  False when there is no room."""
        addr = self.reserve(len(data))
        if not addr:
            return False
        self.space.write(addr, data)
        self.commit(addr, discard=False)
        return True

    # -- consumer side (user space) ---------------------------------------------------

    def poll(self) -> list[bytes]:
        """Consume every record available to a consumer, in reservation order: committed
        records up to the first busy one; discarded ones are skipped."""
        out: list[bytes] = []
        queue = self._queue
        while queue and not queue[0].busy:
            rec = queue.popleft()
            if rec.data is not None:
                out.append(rec.data)
                rec.data = None
            self.consumer_pos = rec.end
            self._spare.append(rec)
        return out

    # -- user-space map API: refused, as in the kernel --------------------------------

    def _refuse(self, code: int = errno.EINVAL) -> MapError:
        return MapError(code, f"map '{self.name}': ring buffers have no elements")

    def lookup(self, key: Any) -> bytes | None:
        raise self._refuse()

    def update(self, key: Any, value: Any, flags: int = 0) -> None:
        raise self._refuse()

    def delete(self, key: Any) -> None:
        raise self._refuse()

    def get_next_key(self, key: Any = None) -> bytes | None:
        raise self._refuse(ENOTSUPP)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(())
