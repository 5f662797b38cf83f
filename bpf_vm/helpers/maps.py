"""Map helpers: lookup/update/delete, ring buffer and perf event output.

Prototypes are the kernel's (kernel/bpf/helpers.c, kernel/bpf/ringbuf.c,
kernel/trace/bpf_trace.c).  A map argument is the opaque handle ``ld_imm64`` gave the
program, resolved with ``vm.map_at``; a map type a helper does not accept is a
HelperFault, as the verifier's map/function compatibility check would have refused the
program.  Ring-buffer and perf records become effects of the run
(:class:`bpf_vm.effects.Effects`) as soon as a consumer could see them.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..context import effects_of
from ..effects import PerfRecord, RingbufRecord
from ..helper_table import TAIL_CALL_PROTO, ArgType, HelperFault, RetType
from ..maps import Map
from ..maps.fd_array import PerfEventArray
from ..maps.ringbuf import BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP, RingBuf
from ..memory import OFFSET_MASK, REGION_SHIFT
from ._mem import M32, host_of, prog_read
from ._registry import BUILTIN

if TYPE_CHECKING:
    from ..context import RunContext

BPF_F_INDEX_MASK = 0xFFFFFFFF
BPF_F_CURRENT_CPU = BPF_F_INDEX_MASK


def _map(state: RunContext, handle: int, helper: str) -> Map:
    m = state.vm.map_at(handle)
    if not isinstance(m, Map):
        raise HelperFault(f"bpf_{helper}: r1 (0x{handle:x}) is not a map pointer")
    return m


def _refuse(m: Map, helper: str) -> HelperFault:
    return HelperFault(f"cannot pass map '{m.name}' of type {m.type.name} to bpf_{helper}")


@BUILTIN.helper("map_lookup_elem", RetType.PTR_TO_MAP_VALUE_OR_NULL,
                ArgType.CONST_MAP_PTR, ArgType.PTR_TO_MAP_KEY)
def map_lookup_elem(state: RunContext, r1: int, r2: int, *_: int) -> int:
    """void *bpf_map_lookup_elem(map, key): a pointer into the value's region, or NULL."""
    m = state.vm.map_at(r1)
    if not isinstance(m, Map):
        m = _map(state, r1, "map_lookup_elem")      # raises the fault
    if not m.prog_lookup:
        raise _refuse(m, "map_lookup_elem")
    size = m.spec.key_size
    entry = state.space.table.get(r2 >> REGION_SHIFT)   # prog_read, inlined
    off = r2 & OFFSET_MASK
    if entry is None or off + size > entry[1] or not size:
        key = prog_read(state, r2, size, "bpf_map_lookup_elem key")
    else:
        key = bytes(entry[0][off:off + size])
    return m.lookup_elem(key, from_prog=True)


def _writable_map(state: RunContext, handle: int, helper: str) -> Map:
    m = _map(state, handle, helper)
    if not m.prog_update:
        raise _refuse(m, helper)
    if not m.prog_writable:
        raise HelperFault(f"bpf_{helper}: map '{m.name}' is read-only for programs"
                          " (BPF_F_RDONLY_PROG)")
    return m


@BUILTIN.helper("map_update_elem", RetType.INTEGER, ArgType.CONST_MAP_PTR,
                ArgType.PTR_TO_MAP_KEY, ArgType.PTR_TO_MAP_VALUE, ArgType.ANYTHING)
def map_update_elem(state: RunContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """long bpf_map_update_elem(map, key, value, flags): 0 or the kernel's -errno."""
    m = _writable_map(state, r1, "map_update_elem")
    key = prog_read(state, r2, m.key_size, "bpf_map_update_elem key")
    value = prog_read(state, r3, m.value_size, "bpf_map_update_elem value")
    return m.update_elem(key, value, r4, from_prog=True)


@BUILTIN.helper("map_delete_elem", RetType.INTEGER, ArgType.CONST_MAP_PTR,
                ArgType.PTR_TO_MAP_KEY)
def map_delete_elem(state: RunContext, r1: int, r2: int, *_: int) -> int:
    """long bpf_map_delete_elem(map, key): 0, -ENOENT, or -EINVAL for arrays."""
    m = _writable_map(state, r1, "map_delete_elem")
    key = prog_read(state, r2, m.key_size, "bpf_map_delete_elem key")
    return m.delete_elem(key, from_prog=True)


def _tail_call_placeholder(state: RunContext, *_: int) -> int:  # pragma: no cover
    raise HelperFault("bpf_tail_call is executed by the interpreter, not as a helper")


BUILTIN.register(TAIL_CALL_PROTO, _tail_call_placeholder)


# -- ring buffer -----------------------------------------------------------------------

def _ringbuf(state: RunContext, handle: int, helper: str) -> RingBuf:
    m = state.vm.map_at(handle)
    if type(m) is RingBuf:   # the common case, without _map's checks
        return m
    m = _map(state, handle, helper)
    if not isinstance(m, RingBuf):
        raise _refuse(m, helper)
    return m


def _deliver_ringbuf(state: RunContext, rb: RingBuf) -> None:
    records = rb.poll()
    if records:
        name = rb.name
        effects_of(state).output.extend(RingbufRecord(name, bytes(data)) for data in records)


@BUILTIN.helper("ringbuf_output", RetType.INTEGER, ArgType.CONST_MAP_PTR,
                ArgType.PTR_TO_MEM, ArgType.CONST_SIZE_OR_ZERO, ArgType.ANYTHING)
def ringbuf_output(state: RunContext, r1: int, data: int, size: int, flags: int,
                   *_: int) -> int:
    """long bpf_ringbuf_output(ringbuf, data, size, flags): 0, -EINVAL for unknown
    flags, -EAGAIN when the record does not fit."""
    rb = _ringbuf(state, r1, "ringbuf_output")
    if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
        return -errno.EINVAL
    payload = prog_read(state, data, size, "bpf_ringbuf_output data")
    if not rb.output(payload):
        return -errno.EAGAIN
    _deliver_ringbuf(state, rb)
    return 0


@BUILTIN.helper("ringbuf_reserve", RetType.PTR_TO_ALLOC_MEM_OR_NULL, ArgType.CONST_MAP_PTR,
                ArgType.CONST_ALLOC_SIZE_OR_ZERO, ArgType.ANYTHING)
def ringbuf_reserve(state: RunContext, r1: int, size: int, flags: int, *_: int) -> int:
    """void *bpf_ringbuf_reserve(ringbuf, size, flags): a writable record or NULL (also
    NULL for any flags: none are defined)."""
    rb = state.vm.map_at(r1)
    if type(rb) is not RingBuf:
        rb = _ringbuf(state, r1, "ringbuf_reserve")
    if flags:
        return 0
    return rb.reserve(size)


def _commit(state: RunContext, addr: int, flags: int, discard: bool) -> int:
    rb = state.space.lent.get(addr)      # the ring buffer that reserved the record
    if type(rb) is RingBuf or isinstance(rb, RingBuf):
        records = rb.commit_poll(addr, discard)
        if records:
            name = rb.name
            effects_of(state).output.extend(RingbufRecord(name, bytes(data)) for data in records)
        return 0
    what = "discard" if discard else "submit"
    raise HelperFault(f"bpf_ringbuf_{what}: 0x{addr:x} is not a record reserved and not"
                      " yet submitted or discarded", addr)


@BUILTIN.helper("ringbuf_submit", RetType.VOID, ArgType.PTR_TO_ALLOC_MEM, ArgType.ANYTHING)
def ringbuf_submit(state: RunContext, data: int, flags: int, *_: int) -> int:
    """void bpf_ringbuf_submit(data, flags): the record becomes visible to consumers."""
    return _commit(state, data, flags, discard=False)


@BUILTIN.helper("ringbuf_discard", RetType.VOID, ArgType.PTR_TO_ALLOC_MEM, ArgType.ANYTHING)
def ringbuf_discard(state: RunContext, data: int, flags: int, *_: int) -> int:
    """void bpf_ringbuf_discard(data, flags): consumers skip the record."""
    return _commit(state, data, flags, discard=True)


# -- perf event output -------------------------------------------------------------------

@BUILTIN.helper("perf_event_output", RetType.INTEGER, ArgType.PTR_TO_CTX,
                ArgType.CONST_MAP_PTR, ArgType.ANYTHING, ArgType.PTR_TO_MEM,
                ArgType.CONST_SIZE_OR_ZERO, gpl_only=True)
def perf_event_output(state: RunContext, ctx: int, r2: int, flags: int, data: int,
                      size: int) -> int:
    """long bpf_perf_event_output(ctx, map, flags, data, size): flags is a slot index or
    BPF_F_CURRENT_CPU; -EINVAL for other flag bits, -E2BIG for an index beyond the
    array, -ENOENT for a slot without an event, -EOPNOTSUPP for another CPU's event."""
    if ctx != state.ctx_addr:
        raise HelperFault("bpf_perf_event_output: r1 must be the context pointer")
    m = _map(state, r2, "perf_event_output")
    if not isinstance(m, PerfEventArray):
        raise _refuse(m, "perf_event_output")
    if flags & ~BPF_F_INDEX_MASK:
        return -errno.EINVAL
    host = host_of(state)
    cpu = host.cpu()
    index = cpu if flags == BPF_F_CURRENT_CPU else flags & M32
    payload = prog_read(state, data, size, "bpf_perf_event_output data")
    rc = m.output(index, payload, cpu)
    records = m.poll()
    if records:
        name = m.name
        effects_of(state).output.extend(PerfRecord(name, slot, bytes(record))
                                        for slot, record in records)
    return rc
