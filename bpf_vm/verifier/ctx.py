"""Program types and their context's access rules (which helpers each may call is
measured on the host: :mod:`bpf_vm.verifier._helper_availability`).

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
                "wire_len", "hwtstamp", "sk", "tstamp_type", "family", "remote_ip4",
                "local_ip4", "remote_ip6", "local_ip6", "remote_port", "local_port"):
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


def ctx_name(kind: ProgKind) -> str:
    return "ctx"
