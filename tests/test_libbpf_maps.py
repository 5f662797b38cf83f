"""Issue 15's maps: PERF_EVENT_ARRAY sized by libbpf's rule, STACK_TRACE and
CGROUP_ARRAY (create-time checks, user-space API)."""

from __future__ import annotations

import errno
import os
import struct
from contextlib import ExitStack

import pytest

from bpf_vm.elf import load_object
from bpf_vm.errors import MapError
from bpf_vm.maps import Cgroup, MapSpec, create_map
from bpf_vm.objfile import parse_cpu_list, possible_cpus
from bpf_vm.vm import Vm
from tests.bpf_c import cc_fixture  # noqa: F401  (the `cc` fixture)
from tests.kernel_kit import KernelMap, VmMap, create_code

LICENSE = 'char LICENSE[] SEC("license") = "GPL";\n'


def test_parse_cpu_list() -> None:
    assert parse_cpu_list("0\n") == 1
    assert parse_cpu_list("0-3\n") == 4
    assert parse_cpu_list("0-3,5,7-8") == 7
    with pytest.raises(ValueError):
        parse_cpu_list("3-1")


def test_possible_cpus_falls_back(tmp_path) -> None:
    assert possible_cpus(str(tmp_path / "missing")) >= 1
    f = tmp_path / "possible"
    f.write_text("0-5\n")
    assert possible_cpus(str(f)) == 6


def test_perf_event_array_without_max_entries_gets_the_cpu_count(cc) -> None:
    vm = Vm()
    obj = load_object(cc("""
        struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
                 __uint(key_size, sizeof(__u32)); __uint(value_size, sizeof(__u32));
                 } events SEC(".maps");
        SEC("kprobe/x") int out(void *ctx) {
            __u64 v = 7;
            bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &v, sizeof(v));
            return 0;
        }
    """ + LICENSE), vm)
    m = obj.maps["events"]
    assert m.max_entries == possible_cpus() >= 1


# -- STACK_TRACE and CGROUP_ARRAY against the kernel ----------------------------------------

ST, CGA = 7, 8
STACK_SPECS = [
    (ST, 4, 8, 16, 0), (ST, 4, 1016, 16, 0), (ST, 4, 1024, 16, 0), (ST, 4, 12, 16, 0),
    (ST, 4, 4, 16, 0), (ST, 8, 8, 16, 0), (ST, 4, 8, 0, 0), (ST, 4, 64, 16, 1 << 5),
    (ST, 4, 40, 16, 1 << 5), (ST, 4, 8, 16, 1 << 7), (ST, 4, 8, 16, 1 << 3),
    (ST, 4, 8, 16, 1 << 2), (ST, 4, 8, 16, 1 << 0), (ST, 4, 8, (1 << 31) + 1, 0),
    (CGA, 4, 4, 4, 0), (CGA, 4, 8, 4, 0), (CGA, 8, 4, 4, 0), (CGA, 4, 4, 0, 0),
    (CGA, 4, 4, 4, 1 << 7), (CGA, 4, 4, 4, 1 << 10), (CGA, 4, 4, 4, 1 << 11),
]


def _spec_code(args: tuple[int, ...]) -> int:
    try:
        MapSpec("m", *args)
    except MapError as exc:
        return -exc.errno
    return 0


@pytest.mark.kernel
@pytest.mark.parametrize("args", STACK_SPECS, ids=lambda a: "-".join(map(str, a)))
def test_stack_and_cgroup_map_create_matches_kernel(args: tuple[int, ...]) -> None:
    assert _spec_code(args) == create_code(args)


@pytest.mark.kernel
def test_stack_trace_user_space_codes_match_kernel() -> None:
    spec = MapSpec("stacks", "stack_trace", 4, 64, 4)
    with ExitStack() as stack:
        km, vm = KernelMap(spec, stack), VmMap(create_map(spec, Vm()))
        k0, k3, k9 = (struct.pack("<I", i) for i in (0, 3, 9))
        ops = [lambda m: m.lookup(k0)[0], lambda m: m.lookup(k9)[0], lambda m: m.delete(k0),
               lambda m: m.delete(k9), lambda m: m.next_key(None)[0],
               lambda m: m.next_key(k3)[0], lambda m: m.update(k0, bytes(64))]
        assert [f(vm) for f in ops] == [f(km) for f in ops]


def _cgroup_dir() -> str:
    from bpf_vm.host import cgroup2_root
    root = cgroup2_root()
    if not os.path.exists(root + "/cgroup.procs"):
        pytest.skip("no cgroup-v2 hierarchy mounted")
    return root


@pytest.mark.kernel
def test_cgroup_array_user_space_codes_match_kernel() -> None:
    root = _cgroup_dir()
    spec = MapSpec("cgroups", "cgroup_array", 4, 4, 2)
    with ExitStack() as stack:
        km, vm = KernelMap(spec, stack), VmMap(create_map(spec, Vm()))
        cg = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        stack.callback(os.close, cg)
        v1 = "/sys/fs/cgroup/cpu"     # a cgroup-v1 directory, on a hybrid system
        other = os.open(v1 if os.path.isdir(v1) and v1 != root else "/tmp",
                        os.O_RDONLY | os.O_DIRECTORY)
        stack.callback(os.close, other)
        k0, k1, k5 = (struct.pack("<I", i) for i in (0, 1, 5))
        fd = lambda n: struct.pack("<i", n)  # noqa: E731
        ops = [lambda m: m.update(k0, fd(cg)), lambda m: m.update(k1, fd(other)),
               lambda m: m.update(k1, fd(999_999)), lambda m: m.update(k5, fd(cg)),
               lambda m: m.update(k1, fd(cg), 1), lambda m: m.lookup(k0)[0],
               lambda m: m.delete(k1), lambda m: m.delete(k0), lambda m: m.delete(k5),
               lambda m: m.next_key(None)[0]]
        assert [f(vm) for f in ops] == [f(km) for f in ops]


def test_cgroup_array_slot_is_the_cgroup_id() -> None:
    root = _cgroup_dir()
    m = create_map(MapSpec("cgroups", "cgroup_array", 4, 4, 2), Vm())
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        m.update(1, fd)
    finally:
        os.close(fd)
    assert m.cgroup_at(1) == Cgroup(os.stat(root).st_ino)
    assert m.cgroup_at(0) is None
    m.update(0, Cgroup(77))
    assert m.cgroup_at(0) == Cgroup(77)


def test_stack_trace_ids_buckets_and_lookup() -> None:
    m = create_map(MapSpec("stacks", "stack_trace", 4, 32, 3), Vm())
    assert m.n_buckets == 4
    a = m.get_stackid([0x401000, 0x402000, 0x403000], 0)
    assert 0 <= a < 4
    assert m.get_stackid([0x401000, 0x402000, 0x403000], 0) == a       # same stack, same id
    assert m.lookup(a) == struct.pack("<3Q", 0x401000, 0x402000, 0x403000) + bytes(8)
    assert m.get_stackid(list(range(1, 10)), 0) >= 0                  # cut to 4 frames
    ids = {a}
    others = ([i, i + 1] for i in range(100, 10_000, 7))
    codes = set()
    for ips in others:
        rc = m.get_stackid(ips, 0)
        codes.add(rc if rc < 0 else 0)
        if rc >= 0:
            ids.add(rc)
    assert -errno.EEXIST in codes                                     # a bucket collision
    assert len(ids) <= 3
    assert [int.from_bytes(k, "little") for k, _ in m.items()] == sorted(m._buckets)


def test_stack_trace_reuse_and_full() -> None:
    m = create_map(MapSpec("stacks", "stack_trace", 4, 8, 1), Vm())
    first = m.get_stackid([1], 0)
    assert first == 0                          # one bucket
    assert m.get_stackid([2], 0) == -errno.EEXIST
    assert m.get_stackid([2], 1 << 10) == 0    # BPF_F_REUSE_STACKID replaces it
    assert m.lookup(0) == struct.pack("<Q", 2)
    m.delete(0)
    assert m.lookup(0) is None


def test_jhash2_reference_values() -> None:
    from bpf_vm.maps.stack_trace import jhash2
    # lookup3's hashword(), which jhash2 is, on the empty key and on one word
    assert jhash2([]) == 0xDEADBEEF
    assert jhash2([0]) != jhash2([1])
    assert jhash2([1, 2, 3, 4]) == jhash2([1, 2, 3, 4])
