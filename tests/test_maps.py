"""Maps: the kernel's return codes, values as memory, LRU, ring buffer, dumps.

The same rules are checked against the host kernel in tests/test_maps_kernel.py; here
they are pinned without it, together with what only the VM has (regions, pointers)."""

from __future__ import annotations

import errno

import pytest

from bpf_vm._generated_map_types import MAP_TYPES
from bpf_vm.errors import MapError, VerifierReject, VmFault
from bpf_vm.insn import ld_imm64
from bpf_vm.maps import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_F_NO_PREALLOC,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY,
    BPF_NOEXIST,
    ENOTSUPP,
    ArrayMap,
    HashMap,
    MapSpec,
    MapType,
    PerfEventArray,
    ProgArray,
    RingBuf,
    create_map,
)
from bpf_vm.maps.spec import MapType as SpecMapType
from bpf_vm.program import Program
from bpf_vm.vm import Vm
from tests.vm_kit import load, s64, u32, u64


def code(fn, *args):
    try:
        fn(*args)
    except MapError as exc:
        return -exc.errno
    return 0


def new(type_: str | MapType, key: int, value: int, entries: int, flags: int = 0,
        vm: Vm | None = None):
    return create_map(MapSpec("m", type_, key, value, entries, flags), vm or Vm())


# --- types and specs ---------------------------------------------------------------------

def test_map_type_numbers_are_the_kernels() -> None:
    assert SpecMapType is MapType
    for member in MapType:
        assert MAP_TYPES[member.name.lower()] == member.value
    assert (MapType.HASH, MapType.ARRAY, MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY,
            MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_HASH,
            MapType.RINGBUF) == (1, 2, 3, 4, 5, 6, 9, 27)


@pytest.mark.parametrize("args,err", [
    (("array", 8, 4, 4), errno.EINVAL),            # array keys are u32
    (("array", 4, 0, 4), errno.EINVAL),
    (("array", 4, 4, 0), errno.EINVAL),
    (("hash", 0, 4, 4), errno.EINVAL),
    (("hash", 4, 8, 4, 1 << 10), errno.EINVAL),    # BPF_F_MMAPABLE is for arrays
    (("lru_hash", 4, 8, 4, BPF_F_NO_PREALLOC), ENOTSUPP),
    (("hash", 4, 1 << 22, 4), errno.E2BIG),
    (("percpu_array", 4, 32769, 4), errno.E2BIG),
    (("prog_array", 4, 8, 4), errno.EINVAL),        # prog array values are fds
    (("perf_event_array", 4, 8, 4), errno.EINVAL),
    (("ringbuf", 0, 0, 6000), errno.EINVAL),        # not a power of 2
    (("ringbuf", 0, 0, 2048), errno.EINVAL),        # not a page multiple
    (("ringbuf", 4, 0, 4096), errno.EINVAL),
    (("hash", 4, 8, 4, BPF_F_RDONLY | BPF_F_WRONLY), errno.EINVAL),
    (("lpm_trie", 8, 8, 4), errno.EINVAL),          # not implemented here
])
def test_spec_refused_with_kernel_errno(args: tuple, err: int) -> None:
    with pytest.raises(MapError) as exc:
        MapSpec("m", *args)
    assert exc.value.errno == err


def test_spec_accepts_type_names_and_numbers() -> None:
    assert MapSpec("m", "ringbuf", 0, 0, 8192).type is MapType.RINGBUF
    assert MapSpec("m", 9, 4, 8, 16).type is MapType.LRU_HASH
    assert MapSpec("m", "percpu_array", 4, 12, 1).elem_size == 16


# --- hash --------------------------------------------------------------------------------

def test_hash_update_flags_and_full_map() -> None:
    m = new("hash", 4, 8, 2)
    k1, k2, k3, v = u32(1), u32(2), u32(3), u64(7)
    assert m.update_elem(k1, v, BPF_EXIST) == -errno.ENOENT
    assert m.update_elem(k1, v, BPF_NOEXIST) == 0
    assert m.update_elem(k1, v, BPF_NOEXIST) == -errno.EEXIST
    assert m.update_elem(k1, u64(8), BPF_EXIST) == 0
    assert m.update_elem(k2, v, BPF_ANY) == 0
    assert m.update_elem(k3, v, BPF_ANY) == -errno.E2BIG        # full
    assert m.update_elem(k3, v, BPF_EXIST) == -errno.ENOENT      # flags checked first
    assert m.update_elem(k1, u64(9), BPF_ANY) == 0              # replacing fits
    assert m.update_elem(k1, v, 3) == -errno.EINVAL
    assert m.update_elem(k1, v, BPF_F_LOCK) == -errno.EINVAL
    assert m.lookup(1) == u64(9)
    assert m.delete_elem(k3) == -errno.ENOENT
    assert m.delete_elem(k2) == 0
    assert m.lookup(2) is None
    assert len(m) == 1


def test_hash_user_api_raises_map_error() -> None:
    m = new("hash", 4, 8, 1)
    m.update(1, u64(1))
    with pytest.raises(MapError) as exc:
        m.update(2, u64(2))
    assert exc.value.errno == errno.E2BIG
    with pytest.raises(MapError) as exc:
        m.delete(5)
    assert exc.value.errno == errno.ENOENT
    with pytest.raises(MapError) as exc:
        m.update(1, b"short")
    assert exc.value.errno == errno.EINVAL


def test_hash_get_next_key_iterates_all_keys() -> None:
    m = new("hash", 4, 4, 8)
    keys = {u32(i) for i in (5, 1, 9)}
    for k in keys:
        m.update(k, u32(0))
    seen = []
    k = m.get_next_key()
    while k is not None:
        seen.append(k)
        k = m.get_next_key(k)
    assert set(seen) == keys and len(seen) == 3
    assert m.get_next_key(u32(77)) == seen[0]      # unknown key: restart from the first
    assert new("hash", 4, 4, 8).get_next_key() is None


def test_hash_value_region_unmapped_on_delete() -> None:
    m = new("hash", 4, 8, 4)
    assert isinstance(m, HashMap)
    m.update(1, u64(5))
    addr = m.lookup_elem(u32(1))
    assert m.space.read(addr, 8) == u64(5)
    m.delete(1)
    assert m.space.read(addr, 8) is None


def test_percpu_hash_user_view_is_one_cpu_padded() -> None:
    m = new("percpu_hash", 4, 12, 4)
    m.update(1, b"A" * 12)                          # value_size bytes accepted
    assert m.lookup(1) == b"A" * 12 + bytes(4)      # round_up(12, 8) for the one CPU
    m.update(2, b"B" * 16)
    assert m.dump()[1]["values"] == [{"cpu": 0, "value": ["0x42"] * 12}]


# --- LRU ---------------------------------------------------------------------------------

def test_lru_evicts_least_recently_used() -> None:
    m = new("lru_hash", 4, 4, 3)
    assert isinstance(m, HashMap)
    for i in range(3):
        assert m.update_elem(u32(i), u32(i), BPF_ANY) == 0
    m.lookup_elem(u32(0), from_prog=True)          # a program uses key 0
    m.lookup(1)                                    # user-space lookups do not count
    assert m.update_elem(u32(3), u32(3), BPF_ANY) == 0   # never -E2BIG
    assert m.evicted == [u32(1)]
    assert sorted(m.keys()) == [u32(0), u32(2), u32(3)]
    m.update(2, u32(22))                           # an update counts as a use
    m.update(4, u32(4))
    assert m.evicted == [u32(1), u32(0)]
    assert len(m) == 3


def test_lru_eviction_unmaps_the_victims_value() -> None:
    m = new("lru_hash", 4, 8, 1)
    m.update(1, u64(1))
    addr = m.lookup_elem(u32(1))
    n_regions = len(m.space.regions)
    m.update(2, u64(2))
    assert m.lookup(1) is None and m.evicted == [u32(1)]
    assert len(m.space.regions) == n_regions       # one value region out, one in
    # the address space recycles the slot, as the kernel reuses a preallocated element
    assert m.lookup_elem(u32(2)) == addr and m.space.read(addr, 8) == u64(2)


# --- arrays ------------------------------------------------------------------------------

def test_array_codes() -> None:
    m = new("array", 4, 8, 4)
    assert m.lookup(3) == bytes(8)                 # exists from the start, zeroed
    assert m.lookup(4) is None
    assert m.update_elem(u32(4), u64(1), BPF_ANY) == -errno.E2BIG
    assert m.update_elem(u32(1), u64(1), BPF_NOEXIST) == -errno.EEXIST
    assert m.update_elem(u32(1), u64(1), BPF_EXIST) == 0
    assert m.update_elem(u32(1), u64(1), 3) == -errno.EINVAL
    assert m.update_elem(u32(9), u64(1), 3) == -errno.EINVAL     # flags before index
    assert m.update_elem(u32(1), u64(1), BPF_F_LOCK) == -errno.EINVAL
    assert m.delete_elem(u32(1)) == -errno.EINVAL
    assert code(m.delete, 9) == -errno.EINVAL
    assert [m.get_next_key(k) for k in (None, 0, 2, 3, 99)] == \
        [u32(0), u32(1), u32(3), None, u32(0)]
    assert len(m) == 4


def test_array_values_share_one_region_with_elem_stride() -> None:
    m = new("array", 4, 12, 3)
    assert isinstance(m, ArrayMap)
    a0, a2 = m.lookup_elem(u32(0)), m.lookup_elem(u32(2))
    assert a2 - a0 == 2 * 16
    m.space.write(a2, b"xyz")
    assert m.lookup(2)[:3] == b"xyz"


def test_percpu_array_padding_round_trips() -> None:
    m = new("percpu_array", 4, 4, 2)
    m.update(0, b"abcdefgh")                       # round_up(4, 8) bytes per CPU
    assert m.lookup(0) == b"abcdefgh"
    m.update(1, b"wxyz")
    assert m.lookup(1) == b"wxyz" + bytes(4)
    assert m.dump()[0] == {"key": ["0x00"] * 4, "values": [{"cpu": 0, "value":
                                                             ["0x61", "0x62", "0x63", "0x64"]}]}


def test_direct_value_address_only_for_single_entry_arrays() -> None:
    vm = Vm()
    single = new("array", 4, 16, 1, vm=vm)
    assert single.direct_value_address(4) == single.lookup_elem(u32(0)) + 4
    assert single.direct_value_address(16) is None
    assert new("array", 4, 16, 2, vm=vm).direct_value_address(0) is None
    assert new("percpu_array", 4, 16, 1, vm=vm).direct_value_address(0) is None
    assert new("hash", 4, 16, 1, vm=vm).direct_value_address(0) is None


def test_access_flags() -> None:
    ro = new("array", 4, 4, 1, BPF_F_RDONLY)
    assert code(ro.update, 0, u32(1)) == -errno.EPERM
    assert ro.lookup(0) == bytes(4)
    wo = new("hash", 4, 4, 1, BPF_F_WRONLY)
    wo.update(0, u32(1))
    assert code(wo.lookup, 0) == -errno.EPERM
    frozen = new("array", 4, 4, 1)
    frozen.update(0, u32(1))
    frozen.freeze()
    assert code(frozen.update, 0, u32(2)) == -errno.EPERM
    rdonly_prog = new("array", 4, 4, 1, BPF_F_RDONLY_PROG)
    assert not rdonly_prog.region.writable
    rdonly_prog.update(0, u32(5))                  # user space still writes
    assert rdonly_prog.lookup(0) == u32(5)


def test_dump_shapes() -> None:
    m = new("hash", 2, 3, 4)
    m.update(b"\x01\xff", b"abc")
    assert m.dump() == [{"key": ["0x01", "0xff"], "value": ["0x61", "0x62", "0x63"]}]
    assert m.dump_hex() == [{"key": "01ff", "value": "616263"}]


# --- programs and map values -------------------------------------------------------------

COUNTER = """
.map counts {kind} key=4 value=8 max_entries=4
    *(u32 *)(r10 - 4) = 1
    r2 = r10
    r2 += -4
    r1 = map[counts] ll
    call bpf_map_lookup_elem
    if r0 == 0 goto missing
    r1 = *(u64 *)(r0 + 0)
    r1 += 5
    *(u64 *)(r0 + 0) = r1
    r0 = r1
    exit
missing:
    r0 = -1
    exit
"""


@pytest.mark.parametrize("kind", ["array", "percpu_array", "hash", "lru_hash", "percpu_hash"])
def test_write_through_lookup_pointer_persists(kind: str) -> None:
    L = load(COUNTER.format(kind=kind))
    m = L.maps["counts"]
    if kind.endswith("hash"):
        assert s64(L.run()) == -1                  # hash keys do not exist until inserted
        m.update(1, u64(100))
        assert L.run() == 105 and L.run() == 110
        assert m.lookup(1)[:8] == u64(110)
    else:
        assert L.run() == 5 and L.run() == 10
        assert m.lookup(1)[:8] == u64(10)


UPDATE_DELETE = """
.map h hash key=4 value=8 max_entries=1
    *(u32 *)(r10 - 4) = 7
    *(u64 *)(r10 - 16) = 42
    r1 = map[h] ll
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = {flags}
    call bpf_map_update_elem
    r6 = r0
    *(u32 *)(r10 - 4) = 8
    r1 = map[h] ll
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_map_update_elem
    r7 = r0
    *(u32 *)(r10 - 4) = 9
    r1 = map[h] ll
    r2 = r10
    r2 += -4
    call bpf_map_delete_elem
    r0 <<= 16
    r0 &= 0xff0000
    r7 <<= 8
    r7 &= 0xff00
    r6 &= 0xff
    r0 |= r6
    r0 |= r7
    exit
"""


def test_helpers_return_kernel_codes_to_programs() -> None:
    L = load(UPDATE_DELETE.format(flags=0))
    # update 7 -> 0; update 8 -> -E2BIG (full); delete 9 -> -ENOENT (bytes, low to high)
    assert L.run() == (0 | ((-errno.E2BIG) & 0xff) << 8 | ((-errno.ENOENT) & 0xff) << 16)
    assert L.maps["h"].lookup(7) == u64(42)
    L2 = load(UPDATE_DELETE.format(flags=BPF_EXIST))
    assert L2.run() & 0xff == (-errno.ENOENT) & 0xff


def test_program_may_not_write_rdonly_prog_map() -> None:
    L = load("""
.map ro array key=4 value=8 max_entries=1 flags=0x80
    *(u32 *)(r10 - 4) = 0
    r2 = r10
    r2 += -4
    r1 = map[ro] ll
    call bpf_map_lookup_elem
    if r0 == 0 goto out
    *(u64 *)(r0 + 0) = 1
out:
    exit
""")
    with pytest.raises(VmFault) as exc:
        L.run()
    assert "read-only" in exc.value.reason


def test_global_data_through_map_value_ld_imm64() -> None:
    L = load("""
.map data array key=4 value=16 max_entries=1
    r1 = map[data][0]+8 ll
    r2 = *(u64 *)(r1 + 0)
    r2 += 1
    *(u64 *)(r1 + 0) = r2
    r0 = r2
    exit
""")
    L.maps["data"].update(0, bytes(8) + u64(41))
    assert L.run() == 42
    assert L.maps["data"].lookup(0)[8:] == u64(42)


def test_program_cannot_look_up_prog_array_or_ringbuf() -> None:
    for decl in ("prog_array key=4 value=4 max_entries=2",
                 "ringbuf key=0 value=0 max_entries=4096"):
        L = load(f"""
.map m {decl}
    *(u32 *)(r10 - 4) = 0
    r2 = r10
    r2 += -4
    r1 = map[m] ll
    call bpf_map_lookup_elem
    exit
""")
        with pytest.raises(VmFault):
            L.run()


# --- prog arrays, perf event arrays, ring buffers -------------------------------------------

def test_prog_array_slots_and_codes() -> None:
    vm = Vm()
    m = new("prog_array", 4, 4, 2, vm=vm)
    assert isinstance(m, ProgArray)
    p = Program.from_bytes(bytes.fromhex("b700000000000000" "9500000000000000"), name="p")
    assert code(m.update, 0, p) == 0
    assert m.program_at(0) is p and m.program_at(1) is None and m.program_at(5) is None
    assert code(m.update, 2, p) == -errno.E2BIG
    assert code(m.update, 0, p, BPF_NOEXIST) == -errno.EINVAL   # fd arrays: BPF_ANY only
    assert code(m.update, 1, b"\x03\x00\x00\x00") == -errno.EBADF
    assert m.lookup(0) == p.meta["prog_id"].to_bytes(4, "little")
    assert m.lookup(1) is None
    assert code(m.delete, 1) == -errno.ENOENT
    assert code(m.delete, 7) == -errno.E2BIG
    assert m.dump_hex() == [{"key": "00000000", "value": m.lookup(0).hex()}]
    assert code(m.delete, 0) == 0 and m.program_at(0) is None


def test_perf_event_array_codes() -> None:
    m = new("perf_event_array", 4, 4, 2)
    assert isinstance(m, PerfEventArray)
    assert m.output(0, b"x") == -errno.ENOENT
    assert m.output(2, b"x") == -errno.E2BIG
    m.open(0)
    m.open(1)
    assert m.output(0, b"first") == 0
    assert m.output(1, b"other cpu") == -errno.EOPNOTSUPP
    assert m.output(0, b"second") == 0
    assert m.poll() == [(0, b"first"), (0, b"second")] and m.poll() == []
    assert code(m.lookup, 0) == -ENOTSUPP
    assert code(m.delete, 1) == 0 and code(m.delete, 1) == -errno.ENOENT


def test_ringbuf_order_discard_and_space() -> None:
    m = new("ringbuf", 0, 0, 4096)
    assert isinstance(m, RingBuf)
    a, b, c = m.reserve(10), m.reserve(20), m.reserve(30)
    assert a and b and c
    m.space.write(a, b"A" * 10)
    m.space.write(b, b"B" * 20)
    m.space.write(c, b"C" * 30)
    m.commit(b, discard=False)
    assert m.poll() == []                          # a is still busy: nothing visible yet
    m.commit(c, discard=True)
    m.commit(a, discard=False)
    assert m.poll() == [b"A" * 10, b"B" * 20]      # reservation order, discard skipped
    assert m.space.read(a, 1) is None              # committed records are gone
    with pytest.raises(MapError):
        m.commit(a, discard=False)                 # twice
    assert m.reserve(4096) == 0                    # header + data larger than the ring
    assert m.reserve(4096 - 16) != 0               # fits: 8-byte header, 8-aligned
    assert m.reserve(8) == 0                       # the busy record leaves no room


def test_ringbuf_user_space_ops_are_refused() -> None:
    m = new("ringbuf", 0, 0, 4096)
    for fn, args in ((m.lookup, (b"",)), (m.update, (b"", b"")), (m.delete, (b"",))):
        assert code(fn, *args) == -errno.EINVAL
    assert code(m.get_next_key) == -ENOTSUPP
    assert m.dump() == [] and m.dump_hex() == []


def test_map_value_ld_imm64_refused_for_a_hash_map() -> None:
    vm = Vm()
    m = new("hash", 4, 4, 1, vm=vm)
    with pytest.raises(VerifierReject):
        vm.resolve_map_ref(Program([], name="p"), ld_imm64(1, m.fd, src=2, next_imm=0))
