"""Maps against the host kernel: the same specs, the same operations, the same codes.

Creation (every map_alloc_check rule we implement), user-space operation sequences
(hypothesis-generated, per map type), the fd arrays and the ring buffer's refusals,
LRU's guarantees, and the codes map helpers return to programs (a syscall program in the
kernel, the same bytecode in the VM).  Skipped, with the reason, where bpf(2) is refused."""

from __future__ import annotations

import errno
import struct
from contextlib import ExitStack

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpf_vm import kernel
from bpf_vm.errors import MapError
from bpf_vm.maps import ENOTSUPP, MapSpec, MapType, create_map
from bpf_vm.maps.spec import (
    BPF_F_INNER_MAP,
    BPF_F_MMAPABLE,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_NUMA_NODE,
    BPF_F_PRESERVE_ELEMS,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY,
    BPF_F_WRONLY_PROG,
    BPF_F_ZERO_SEED,
)
from bpf_vm.program import Program
from bpf_vm.vm import Vm
from tests.hypothesis_profiles import examples
from tests.kernel_kit import KernelMap, VmMap, create_code, twin

pytestmark = pytest.mark.kernel

H, A, PA, PE, PH, PCA, LRU, LRUPC, RB = 1, 2, 3, 4, 5, 6, 9, 10, 27

SPECS = [
    (H, 4, 8, 16, 0), (H, 0, 8, 16, 0), (H, 4, 0, 16, 0), (H, 4, 8, 0, 0),
    (H, 1000, 8, 16, 0), (H, 4, 4194251, 1, BPF_F_NO_PREALLOC),
    (H, 4, 4194252, 1, BPF_F_NO_PREALLOC), (H, 4, 8, 16, BPF_F_MMAPABLE),
    (H, 4, 8, 16, BPF_F_NO_PREALLOC), (H, 4, 8, 16, BPF_F_NO_COMMON_LRU),
    (H, 4, 8, 16, BPF_F_RDONLY | BPF_F_WRONLY), (H, 4, 8, 16, BPF_F_RDONLY_PROG |
                                                 BPF_F_WRONLY_PROG),
    (H, 4, 8, 16, BPF_F_ZERO_SEED), (H, 4, 8, 16, BPF_F_INNER_MAP), (H, 4, 8, 16, 1 << 20),
    (H, 4, 8, 16, BPF_F_NUMA_NODE), (H, 4, 8, (1 << 27) + 1, BPF_F_NO_PREALLOC),
    (H, 4, 8, 16, BPF_F_RDONLY),
    (LRU, 4, 8, 16, BPF_F_NO_PREALLOC), (LRU, 4, 8, 16, BPF_F_NO_COMMON_LRU),
    (LRU, 4, 8, 16, BPF_F_RDONLY_PROG), (LRUPC, 4, 8, 16, BPF_F_NO_COMMON_LRU),
    (LRUPC, 4, 8, 16, BPF_F_NO_PREALLOC),
    (PH, 4, 8, 16, 0), (PH, 4, 32768, 1, 0), (PH, 4, 32769, 1, 0),
    (PH, 4, 8, 16, BPF_F_NUMA_NODE), (PH, 4, 8, 16, BPF_F_NO_COMMON_LRU),
    (A, 4, 8, 16, 0), (A, 8, 8, 16, 0), (A, 4, 0, 16, 0), (A, 4, 8, 0, 0),
    (A, 4, 8, 16, BPF_F_MMAPABLE), (A, 4, 8, 16, BPF_F_PRESERVE_ELEMS),
    (A, 4, 8, 16, BPF_F_NO_PREALLOC), (A, 4, 8, 16, BPF_F_INNER_MAP),
    (A, 4, 8, 16, BPF_F_RDONLY_PROG), (A, 4, (1 << 31), 1, 0),
    (PCA, 4, 8, 16, BPF_F_MMAPABLE), (PCA, 4, 32768, 1, 0), (PCA, 4, 32769, 1, 0),
    (PCA, 4, 8, 16, BPF_F_NUMA_NODE),
    (PA, 4, 4, 4, 0), (PA, 4, 8, 4, 0), (PA, 8, 4, 4, 0), (PA, 4, 4, 0, 0),
    (PA, 4, 4, 4, BPF_F_RDONLY_PROG), (PA, 4, 4, 4, BPF_F_MMAPABLE),
    (PA, 4, 4, 4, BPF_F_PRESERVE_ELEMS),
    (PE, 4, 4, 4, 0), (PE, 4, 4, 4, BPF_F_PRESERVE_ELEMS), (PE, 4, 8, 4, 0),
    (PE, 4, 0, 4, 0), (PE, 4, 4, 4, BPF_F_WRONLY_PROG),
    (RB, 0, 0, 4096, 0), (RB, 4, 0, 4096, 0), (RB, 0, 4, 4096, 0), (RB, 0, 0, 6000, 0),
    (RB, 0, 0, 2048, 0), (RB, 0, 0, 8192, 0), (RB, 0, 0, 4096, BPF_F_NO_PREALLOC),
    (RB, 0, 0, 4096, BPF_F_NUMA_NODE), (RB, 0, 0, 4096, BPF_F_RDONLY_PROG),
    (RB, 0, 0, 0, 0),
]


def _spec_code(args: tuple[int, ...]) -> int:
    try:
        MapSpec("m", *args)
    except MapError as exc:
        return -exc.errno
    return 0


@pytest.mark.parametrize("args", SPECS, ids=lambda a: "-".join(map(str, a)))
def test_map_create_matches_kernel(args: tuple[int, ...]) -> None:
    assert _spec_code(args) == create_code(args)


# --- user-space operation sequences ---------------------------------------------------------

KINDS = {
    "hash": (H, 4, 8, 4, 0),
    "hash_noprealloc": (H, 4, 8, 4, BPF_F_NO_PREALLOC),
    "array": (A, 4, 8, 4, 0),
    "percpu_array": (PCA, 4, 12, 3, 0),
    "percpu_hash": (PH, 4, 12, 3, 0),
    # an LRU map stays below max_entries here: where the kernel evicts is not exact
    "lru_hash": (LRU, 4, 8, 64, 0),
}

op = st.one_of(
    st.tuples(st.just("update"), st.integers(0, 5), st.integers(0, 255),
              st.sampled_from([0, 0, 1, 2, 3, 4])),
    st.tuples(st.just("lookup"), st.integers(0, 5)),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("next"), st.one_of(st.none(), st.integers(0, 5))),
)


def _apply(m: KernelMap | VmMap, operation: tuple, value_len: int) -> tuple:
    name, *args = operation
    if name == "update":
        key, byte, flags = args
        return (m.update(struct.pack("<I", key), bytes([byte]) * value_len, flags),)
    if name == "lookup":
        return m.lookup(struct.pack("<I", args[0]))
    if name == "delete":
        return (m.delete(struct.pack("<I", args[0])),)
    key = None if args[0] is None else struct.pack("<I", args[0])
    is_array = m.spec.type in (MapType.ARRAY, MapType.PERCPU_ARRAY)
    if not is_array and key is not None and m.lookup(key)[0] == 0:
        # what follows a present key depends on the kernel's bucket order (random seed)
        return ("order-dependent",)
    rc, nxt = m.next_key(key)
    # a first key: compare the code; arrays iterate in index order in both: the key too
    return (rc, nxt) if is_array else (rc,)


@pytest.mark.parametrize("kind", list(KINDS))
@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=25))
def test_operation_sequence_matches_kernel(kind: str, ops: list[tuple]) -> None:
    spec = MapSpec(kind, *KINDS[kind])
    value_len = spec.elem_size if spec.is_percpu else spec.value_size
    with ExitStack() as stack:
        km = KernelMap(spec, stack)
        vm = VmMap(create_map(spec, Vm()))
        for operation in ops:
            assert _apply(vm, operation, value_len) == _apply(km, operation, value_len), \
                operation
        assert sorted(vm.keys()) == sorted(km.keys())


def test_hash_full_codes_match_kernel() -> None:
    spec = MapSpec("full", "hash", 4, 8, 2)
    with ExitStack() as stack:
        km, vm = KernelMap(spec, stack), VmMap(create_map(spec, Vm()))
        k = [struct.pack("<I", i) for i in range(4)]
        v = bytes(8)
        script = [("u", k[0], 0), ("u", k[1], 0), ("u", k[2], 0), ("u", k[2], 2),
                  ("u", k[0], 1), ("u", k[0], 2), ("u", k[1], 0), ("d", k[1], 0),
                  ("u", k[2], 1), ("u", k[3], 0)]
        for what, key, flags in script:
            got = [m.update(key, v, flags) if what == "u" else m.delete(key)
                   for m in (vm, km)]
            assert got[0] == got[1], (what, key, flags)


def test_lru_guarantees_match_kernel() -> None:
    """Where the kernel evicts is approximate; what both promise is checked on both."""
    spec = MapSpec("lru", "lru_hash", 4, 8, 32)
    with ExitStack() as stack:
        km, vm = KernelMap(spec, stack), VmMap(create_map(spec, Vm()))
        for m in (km, vm):
            for i in range(200):
                assert m.update(struct.pack("<I", i), struct.pack("<Q", i)) == 0
            keys = m.keys()
            assert 0 < len(keys) <= 32
            assert struct.pack("<I", 199) in keys
            assert m.lookup(struct.pack("<I", 199)) == (0, struct.pack("<Q", 199))


def test_array_delete_and_bounds_match_kernel() -> None:
    for t in ("array", "percpu_array"):
        spec = MapSpec(t, t, 4, 8, 4)
        with ExitStack() as stack:
            km, vm = KernelMap(spec, stack), VmMap(create_map(spec, Vm()))
            for m in (km, vm):
                assert m.delete(struct.pack("<I", 1)) == -errno.EINVAL
                assert m.delete(struct.pack("<I", 9)) == -errno.EINVAL
                assert m.lookup(struct.pack("<I", 4)) == (-errno.ENOENT, None)
                assert m.update(struct.pack("<I", 4), bytes(8)) == -errno.E2BIG
                assert m.update(struct.pack("<I", 0), bytes(8), 1) == -errno.EEXIST
                assert m.next_key(struct.pack("<I", 3)) == (-errno.ENOENT, None)


# --- fd arrays and ring buffers ---------------------------------------------------------------

_TRIVIAL = bytes.fromhex("b700000000000000" "9500000000000000")


def test_prog_array_codes_match_kernel() -> None:
    spec = MapSpec("progs", "prog_array", 4, 4, 2)
    with ExitStack() as stack:
        km = KernelMap(spec, stack)
        prog_fd = stack.enter_context(kernel.owned_fd(kernel.prog_load(
            _TRIVIAL, kernel.BPF_PROG_TYPE_SOCKET_FILTER, name="trivial")))
        vm = VmMap(create_map(spec, Vm()))
        prog = Program.from_bytes(_TRIVIAL, name="trivial")
        key = [struct.pack("<I", i) for i in range(3)]
        good = {id(km): struct.pack("<I", prog_fd), id(vm): prog}
        bad = {id(km): struct.pack("<I", 9999), id(vm): b"\x0f\x27\x00\x00"}   # no such fd

        def script(m: KernelMap | VmMap) -> list:
            return [m.lookup(key[0])[0], m.delete(key[0]), m.delete(key[2]),
                    m.update(key[2], good[id(m)]) if m is vm else km.update_raw(key[2],
                                                                                good[id(m)]),
                    _upd(m, key[0], good[id(m)], 1), _upd(m, key[0], bad[id(m)], 0),
                    _upd(m, key[0], good[id(m)], 0), m.lookup(key[0])[0],
                    m.next_key(None), m.next_key(key[1]), m.delete(key[0]),
                    m.lookup(key[0])[0]]

        def _upd(m: KernelMap | VmMap, k: bytes, value: object, flags: int) -> int:
            if isinstance(m, KernelMap):
                return m.update_raw(k, value, flags)  # type: ignore[arg-type]
            return m.update(k, value, flags)

        assert script(vm) == script(km)


def test_perf_event_array_codes_match_kernel() -> None:
    spec = MapSpec("events", "perf_event_array", 4, 4, 2)
    with ExitStack() as stack:
        km, vm = KernelMap(spec, stack), VmMap(create_map(spec, Vm()))
        k0, k5 = struct.pack("<I", 0), struct.pack("<I", 5)
        for_both = [
            lambda m: m.lookup(k0)[0], lambda m: m.delete(k0), lambda m: m.delete(k5),
            lambda m: m.next_key(None),
        ]
        assert [f(vm) for f in for_both] == [f(km) for f in for_both]
        assert vm.m.update_elem(k0, True, 1) == km.update_raw(k0, struct.pack("<I", 0), 1)
        assert vm.lookup(k0)[0] == -ENOTSUPP


def test_ringbuf_user_space_codes_match_kernel() -> None:
    spec = MapSpec("rb", "ringbuf", 0, 0, 4096)
    with ExitStack() as stack:
        km, vm = KernelMap(spec, stack), VmMap(create_map(spec, Vm()))
        for m in (vm, km):
            assert m.lookup(b"")[0] == -errno.EINVAL
            assert m.delete(b"") == -errno.EINVAL
            assert m.next_key(None)[0] == -ENOTSUPP
        assert vm.update(b"", b"") == km.update_raw(b"", b"") == -errno.EINVAL


# --- codes helpers return to programs ---------------------------------------------------------

HELPER_CODES = """
.map h hash key=4 value=8 max_entries=2
.map a array key=4 value=8 max_entries=2
    r9 = r1
{body}
    r0 = 0
    exit
"""


def _call(map_name: str, helper: str, key: int, flags: int, slot: int) -> str:
    """Assembly: call a map helper with key ``key`` and value 0x55.., store r0 at
    mem[8 * slot] (a lookup stores whether it found something)."""
    lines = [f"    *(u32 *)(r10 - 4) = {key}",
             "    r1 = 0x5555555555555555 ll",
             "    *(u64 *)(r10 - 16) = r1",
             f"    r1 = map[{map_name}] ll",
             "    r2 = r10",
             "    r2 += -4"]
    if helper == "update":
        lines += ["    r3 = r10", "    r3 += -16", f"    r4 = {flags}",
                  "    call bpf_map_update_elem"]
    elif helper == "delete":
        lines += ["    call bpf_map_delete_elem"]
    else:
        lines += ["    call bpf_map_lookup_elem", "    if r0 == 0 goto +1", "    r0 = 1"]
    lines += [f"    *(u64 *)(r9 + {8 * slot}) = r0"]
    return "\n".join(lines)


def test_helper_codes_match_kernel() -> None:
    calls = [("h", "update", 1, 2), ("h", "update", 1, 1), ("h", "update", 1, 1),
             ("h", "update", 1, 2), ("h", "update", 2, 0), ("h", "update", 3, 0),
             ("h", "update", 3, 5), ("h", "lookup", 3, 0), ("h", "lookup", 2, 0),
             ("h", "delete", 3, 0), ("h", "delete", 2, 0), ("h", "update", 3, 1),
             ("a", "update", 1, 1), ("a", "update", 2, 0), ("a", "update", 1, 2),
             ("a", "delete", 1, 0), ("a", "lookup", 1, 0), ("a", "lookup", 2, 0),
             ("h", "update", 1, 4)]
    body = "\n".join(_call(m, h, k, f, i) for i, (m, h, k, f) in enumerate(calls))
    mem = bytes(8 * len(calls))
    with ExitStack() as stack:
        t = twin(HELPER_CODES.format(body=body), stack)
        krun = t.run_kernel(mem)
        r0, vmem = t.run_vm(mem)
        assert r0 == krun.r0 == 0
        got = struct.unpack(f"<{len(calls)}q", vmem)
        want = struct.unpack(f"<{len(calls)}q", krun.mem or b"")
        assert got == want
        assert -errno.E2BIG in got and -errno.EEXIST in got and -errno.EINVAL in got
        # and the maps hold the same data afterwards
        for name in ("h", "a"):
            vm_items = dict(t.vm_maps[name].items())
            kmap = t.kmaps[name]
            found = {k: kmap.lookup(k) for k in kmap.keys()}  # noqa: SIM118 - not a dict
            assert vm_items == {k: v for k, (rc, v) in found.items() if rc == 0}
