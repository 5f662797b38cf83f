"""Issue 15's maps: PERF_EVENT_ARRAY sized by libbpf's rule, STACK_TRACE and
CGROUP_ARRAY (create-time checks, user-space API)."""

from __future__ import annotations

import pytest

from bpf_vm.elf import load_object
from bpf_vm.objfile import parse_cpu_list, possible_cpus
from bpf_vm.vm import Vm
from tests.bpf_c import cc_fixture  # noqa: F401  (the `cc` fixture)

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
