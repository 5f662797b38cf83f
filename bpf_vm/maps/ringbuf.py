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
or discard unmaps it, so a use after commit faults (the verifier forbids it).
User space cannot touch elements, as in the kernel (measured on 6.18): lookup, update
and delete are refused with EINVAL (bpf(2) refuses a key for a map whose key_size is 0),
get_next_key with ENOTSUPP (524, the map's own answer).
"""

from __future__ import annotations

import errno
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import MapError
from ..memory import Region
from .base import Map
from .spec import ENOTSUPP, MapSpec, round_up

if TYPE_CHECKING:
    from ..vm import Vm

BPF_RINGBUF_HDR_SZ = 8
RINGBUF_MAX_RECORD_SZ = ((1 << 32) - 1) // 4
BPF_RB_NO_WAKEUP = 1
BPF_RB_FORCE_WAKEUP = 2

BUSY, COMMITTED, DISCARDED = "busy", "committed", "discarded"


@dataclass(eq=False, slots=True)
class _Record:
    pos: int          # producer position of the header
    length: int       # header + data, 8-aligned
    region: Region
    state: str = BUSY
    data: bytes = b""


class RingBuf(Map):
    """A ring buffer map of ``max_entries`` bytes."""
    prog_lookup = False
    prog_update = False

    def __init__(self, spec: MapSpec, vm: Vm) -> None:
        super().__init__(spec, vm)
        self.size = spec.max_entries
        self.producer_pos = 0
        self.consumer_pos = 0
        self._queue: deque[_Record] = deque()          # reservation order, unconsumed
        self._by_addr: dict[int, _Record] = {}         # busy records by address
        self._record_name = f"ring buffer '{self.name}' record"

    # -- producer side (helpers) ------------------------------------------------------

    def reserve(self, size: int) -> int:
        """Address of a new writable record of ``size`` bytes, 0 when it does not fit."""
        if size > RINGBUF_MAX_RECORD_SZ:
            return 0
        length = round_up(size + BPF_RINGBUF_HDR_SZ, 8)
        if length > self.size:
            return 0
        if self.producer_pos + length - self.consumer_pos > self.size - 1:
            return 0
        region = self.space.map(bytearray(size), True, self._record_name)
        rec = _Record(self.producer_pos, length, region)
        self.producer_pos += length
        self._queue.append(rec)
        self._by_addr[region.base] = rec
        return region.base

    def is_record(self, addr: int) -> bool:
        return addr in self._by_addr

    def commit(self, addr: int, discard: bool) -> None:
        """Submit or discard the busy record at ``addr`` (bpf_ringbuf_submit/discard).
        Raises MapError(EINVAL) for an address that is not a busy record: the verifier
        only lets a program pass back what reserve gave it, once."""
        rec = self._by_addr.pop(addr, None)
        if rec is None:
            raise MapError(22, f"0x{addr:x} is not a reserved record of ring buffer"
                               f" '{self.name}'")
        rec.data = bytes(rec.region.buf)
        rec.state = DISCARDED if discard else COMMITTED
        self.space.unmap(rec.region)

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
        while self._queue and self._queue[0].state != BUSY:
            rec = self._queue.popleft()
            if rec.state == COMMITTED:
                out.append(rec.data)
            self.consumer_pos = rec.pos + rec.length
        return out

    @property
    def avail_data(self) -> int:
        """BPF_RB_AVAIL_DATA: bytes between consumer and producer."""
        return self.producer_pos - self.consumer_pos

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
