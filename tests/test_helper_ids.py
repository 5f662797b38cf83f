"""The generated helper-id and map-type tables: they match the header, and the ids the
project relies on are the kernel's."""

from __future__ import annotations

import pytest

from bpf_vm._generated_helper_ids import HELPER_IDS, HELPER_NAMES
from bpf_vm._generated_map_types import MAP_TYPES
from scripts import gen_helper_ids as gen


@pytest.mark.needs_uapi_headers(gen.DEFAULT_HEADER)
def test_regenerating_gives_the_checked_in_files() -> None:
    for path, text in gen.generate(gen.DEFAULT_HEADER).items():
        assert path.read_text() == text, \
            f"{path.name} is stale: run python scripts/gen_helper_ids.py"


@pytest.mark.parametrize("name, num", [
    ("unspec", 0), ("map_lookup_elem", 1), ("map_update_elem", 2), ("map_delete_elem", 3),
    ("probe_read", 4), ("ktime_get_ns", 5), ("trace_printk", 6), ("get_prandom_u32", 7),
    ("get_smp_processor_id", 8), ("tail_call", 12), ("get_current_pid_tgid", 14),
    ("get_current_uid_gid", 15), ("get_current_comm", 16), ("perf_event_output", 25),
    ("probe_read_str", 45), ("override_return", 58), ("send_signal", 109),
    ("probe_read_user", 112), ("probe_read_kernel", 113), ("probe_read_user_str", 114),
    ("probe_read_kernel_str", 115), ("send_signal_thread", 117), ("ktime_get_boot_ns", 125),
    ("ringbuf_output", 130), ("ringbuf_reserve", 131), ("ringbuf_submit", 132),
    ("ringbuf_discard", 133), ("snprintf", 165), ("trace_vprintk", 177), ("loop", 181),
])
def test_kernel_helper_ids(name: str, num: int) -> None:
    assert HELPER_IDS[name] == num
    assert HELPER_NAMES[num] == name


def test_names_and_ids_are_a_bijection() -> None:
    assert len(HELPER_NAMES) == len(HELPER_IDS)
    assert all(HELPER_IDS[HELPER_NAMES[n]] == n for n in HELPER_NAMES)


@pytest.mark.parametrize("name, num", [
    ("hash", 1), ("array", 2), ("prog_array", 3), ("perf_event_array", 4),
    ("percpu_hash", 5), ("percpu_array", 6), ("lru_hash", 9), ("ringbuf", 27),
])
def test_kernel_map_types(name: str, num: int) -> None:
    assert MAP_TYPES[name] == num


OLD_STYLE = r"""
/* a comment with FN(bogus) inside */
#define __BPF_FUNC_MAPPER(FN)		\
	FN(unspec),			\
	FN(map_lookup_elem),		\
	FN(map_update_elem),		\
	/* */
"""

NEW_STYLE = r"""
#define ___BPF_FUNC_MAPPER(FN, ctx...)			\
	FN(unspec, 0, ##ctx)				\
	FN(map_lookup_elem, 1, ##ctx)			\
	FN(tail_call, 12, ##ctx)			\
	FN(cgrp_storage_delete, 211, ##ctx)		\
	/* */

/* backwards-compatibility macros for users of __BPF_FUNC_MAPPER that don't
 * know or care about integer value that is now passed as second argument
 */
#define __BPF_FUNC_MAPPER_APPLY(name, value, FN) FN(name),
#define __BPF_FUNC_MAPPER(FN) ___BPF_FUNC_MAPPER(__BPF_FUNC_MAPPER_APPLY, FN)
"""


def test_parses_positional_mapper() -> None:
    assert gen.parse_helper_ids(OLD_STYLE) == {
        "unspec": 0, "map_lookup_elem": 1, "map_update_elem": 2}


def test_parses_explicit_id_mapper() -> None:
    assert gen.parse_helper_ids(NEW_STYLE) == {
        "unspec": 0, "map_lookup_elem": 1, "tail_call": 12, "cgrp_storage_delete": 211}


def test_map_type_aliases_do_not_advance_the_counter() -> None:
    text = """enum bpf_map_type {
        BPF_MAP_TYPE_UNSPEC,
        BPF_MAP_TYPE_CGROUP_STORAGE = 19,
        BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED = BPF_MAP_TYPE_CGROUP_STORAGE,
        BPF_MAP_TYPE_NEXT,
    };"""
    assert gen.parse_map_types(text) == {
        "unspec": 0, "cgroup_storage": 19, "cgroup_storage_deprecated": 19, "next": 20}


def test_header_without_mapper_is_refused() -> None:
    with pytest.raises(gen.HeaderFormatError):
        gen.parse_helper_ids("#define X 1\n")
