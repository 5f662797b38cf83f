"""Program types: their context's access rules and the helpers they may call.

Each rule is the kernel's ``is_valid_access`` callback of the type's verifier ops
(kernel/trace/bpf_trace.c for kprobe, tracepoint and raw tracepoint programs,
net/core/filter.c for socket filters, kernel/bpf/syscall.c for syscall programs):
which offsets and sizes may be read, and which written.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

PT_REGS_SIZE = 168          # x86_64 struct pt_regs
PERF_MAX_TRACE_SIZE = 8192  # a tracepoint record's largest size
MAX_BPF_FUNC_ARGS = 12      # raw tracepoint: u64 args[12]
U16_MAX = 0xFFFF            # syscall programs: ctx_size_in limit
SK_BUFF_SIZE = 192          # struct __sk_buff


class ProgKind(enum.StrEnum):
    """The program types the verifier models (``enum bpf_prog_type`` numbers in
    :data:`KERNEL_NUMBER`)."""
    SOCKET_FILTER = "socket_filter"
    KPROBE = "kprobe"
    TRACEPOINT = "tracepoint"
    RAW_TRACEPOINT = "raw_tracepoint"
    SYSCALL = "syscall"


KERNEL_NUMBER = {ProgKind.SOCKET_FILTER: 1, ProgKind.KPROBE: 2, ProgKind.TRACEPOINT: 5,
                 ProgKind.RAW_TRACEPOINT: 17, ProgKind.SYSCALL: 31}

# struct __sk_buff fields (include/uapi/linux/bpf.h): name -> (offset, size)
_SKB: dict[str, tuple[int, int]] = {
    "len": (0, 4), "pkt_type": (4, 4), "mark": (8, 4), "queue_mapping": (12, 4),
    "protocol": (16, 4), "vlan_present": (20, 4), "vlan_tci": (24, 4),
    "vlan_proto": (28, 4), "priority": (32, 4), "ingress_ifindex": (36, 4),
    "ifindex": (40, 4), "tc_index": (44, 4), "cb": (48, 20), "hash": (68, 4),
    "tc_classid": (72, 4), "data": (76, 4), "data_end": (80, 4), "napi_id": (84, 4),
    "family": (88, 4), "remote_ip4": (92, 4), "local_ip4": (96, 4),
    "remote_ip6": (100, 16), "local_ip6": (116, 16), "remote_port": (132, 4),
    "local_port": (136, 4), "data_meta": (140, 4), "flow_keys": (144, 8),
    "tstamp": (152, 8), "wire_len": (160, 4), "gso_segs": (164, 4), "sk": (168, 8),
    "gso_size": (176, 4), "tstamp_type": (180, 1), "hwtstamp": (184, 8),
}


def _skb_field(off: int) -> tuple[str, int, int] | None:
    for name, (start, size) in _SKB.items():
        if start <= off < start + size:
            return name, start, size
    return None


@dataclass(frozen=True, slots=True)
class CtxAccess:
    """The verdict on one context access: ``ok``, and what a load gives (``pointer``
    names a pointer type for the few fields that hold one)."""
    ok: bool
    pointer: str | None = None


_NO = CtxAccess(False)
_YES = CtxAccess(True)


def ctx_access(kind: ProgKind, off: int, size: int, write: bool) -> CtxAccess:
    """May a program of ``kind`` access ``size`` bytes of its context at ``off``?"""
    if kind is ProgKind.KPROBE:
        if off < 0 or off >= PT_REGS_SIZE or write or off % size:
            return _NO
        return _YES
    if kind is ProgKind.TRACEPOINT:
        if off < 8 or off >= PERF_MAX_TRACE_SIZE or write or off % size:
            return _NO
        return _YES
    if kind is ProgKind.RAW_TRACEPOINT:
        if off < 0 or off >= 8 * MAX_BPF_FUNC_ARGS or write or off % size:
            return _NO
        return _YES
    if kind is ProgKind.SYSCALL:
        if off < 0 or off >= U16_MAX or off % size:
            return _NO
        return _YES
    return _skb_access(off, size, write)


def _skb_access(off: int, size: int, write: bool) -> CtxAccess:
    """A socket filter's ``struct __sk_buff``: no packet pointers, no socket, writes
    only to ``cb[]``; 32-bit fields may be read narrower (bpf_ctx_narrow_access_ok)."""
    if off < 0 or off >= SK_BUFF_SIZE or off % size:
        return _NO
    found = _skb_field(off)
    if found is None:
        return _NO
    name, start, fsize = found
    if name in ("data", "data_end", "data_meta", "flow_keys", "tc_classid", "tstamp",
                "wire_len", "hwtstamp", "sk", "tstamp_type"):
        return _NO
    if write:
        return _YES if name == "cb" and off + size <= start + fsize else _NO
    if name == "cb":
        return _YES if off + size <= start + fsize else _NO
    if name in ("remote_ip6", "local_ip6"):
        return _YES if size == 4 else (_YES if size < 4 else _NO)
    if size > 4:
        return _NO
    return _YES


# Helpers each type may call (by kernel name without ``bpf_``).  The tracing set is
# bpf_tracing_func_proto's, the socket filter's sk_filter_func_proto's plus the base set.
_BASE = frozenset({
    "map_lookup_elem", "map_update_elem", "map_delete_elem", "map_push_elem",
    "map_pop_elem", "map_peek_elem", "get_prandom_u32", "get_smp_processor_id",
    "get_numa_node_id", "tail_call", "ktime_get_ns", "ktime_get_boot_ns",
    "ktime_get_coarse_ns", "ktime_get_tai_ns", "ringbuf_output", "ringbuf_reserve",
    "ringbuf_submit", "ringbuf_discard", "ringbuf_query", "for_each_map_elem", "loop",
    "strncmp", "trace_printk", "trace_vprintk", "snprintf", "probe_read_kernel",
    "probe_read_kernel_str", "probe_read_user", "probe_read_user_str", "jiffies64",
    "this_cpu_ptr", "per_cpu_ptr", "snprintf_btf", "get_current_task",
    "get_current_task_btf", "user_ringbuf_drain", "kptr_xchg", "dynptr_from_mem",
    "dynptr_read", "dynptr_write", "dynptr_data", "ringbuf_reserve_dynptr",
    "ringbuf_submit_dynptr", "ringbuf_discard_dynptr", "spin_lock", "spin_unlock",
    "timer_init", "timer_set_callback", "timer_start", "timer_cancel",
})
_TRACING = _BASE | frozenset({
    "probe_read", "probe_read_str", "get_current_pid_tgid", "get_current_uid_gid",
    "get_current_comm", "perf_event_output", "get_stackid", "get_stack",
    "perf_event_read", "perf_event_read_value", "send_signal", "send_signal_thread",
    "override_return", "get_current_cgroup_id", "get_current_ancestor_cgroup_id",
    "current_task_under_cgroup", "get_ns_current_pid_tgid", "get_func_ip",
    "get_attach_cookie", "probe_write_user", "get_task_stack", "find_vma",
    "get_branch_snapshot", "copy_from_user", "copy_from_user_task", "get_func_arg",
    "get_func_ret", "get_func_arg_cnt", "task_pt_regs", "get_current_cgroup_id",
    "get_cgroup_classid", "get_numa_node_id", "get_smp_processor_id", "d_path",
    "read_branch_records", "get_task_stack", "sys_bpf", "btf_find_by_name_kind",
    "sys_close", "kallsyms_lookup_name", "seccomp_return",
})
_SKB_HELPERS = _BASE | frozenset({
    "skb_load_bytes", "skb_load_bytes_relative", "get_socket_cookie", "get_socket_uid",
    "perf_event_output", "get_current_pid_tgid", "get_current_uid_gid",
    "get_current_comm", "get_current_cgroup_id",
}) - frozenset({"probe_read_kernel", "probe_read_kernel_str", "probe_read_user",
                 "probe_read_user_str", "get_current_task", "get_current_task_btf"})
_SYSCALL_HELPERS = _BASE | frozenset({"sys_bpf", "btf_find_by_name_kind", "sys_close",
                                      "kallsyms_lookup_name", "copy_from_user"})

_ALLOWED = {ProgKind.KPROBE: _TRACING, ProgKind.TRACEPOINT: _TRACING,
            ProgKind.RAW_TRACEPOINT: _TRACING, ProgKind.SOCKET_FILTER: _SKB_HELPERS,
            ProgKind.SYSCALL: _SYSCALL_HELPERS}


def helper_allowed(kind: ProgKind, name: str) -> bool:
    allowed = _ALLOWED[kind]
    if name == "override_return":
        return kind is ProgKind.KPROBE
    if name in ("get_stackid", "get_stack", "perf_event_output") and kind is \
            ProgKind.SYSCALL:
        return False
    return name in allowed


def ctx_name(kind: ProgKind) -> str:
    return "ctx"
