"""What a program's ELF section name says about it: libbpf's ``SEC()`` conventions.

libbpf (tools/lib/bpf/libbpf.c, ``section_defs``) maps a section name to a program type
and an attach point: ``kprobe/do_sys_open`` is a BPF_PROG_TYPE_KPROBE program attached to
``do_sys_open``.  The VM runs every program the same way, but the loader records this so
that prog-array conventions (``kprobe/<N>``, ``ksyscall/<name>``), the CLI and the tracer
can read it.  A name with a trailing ``+`` in the table matches itself or itself followed
by ``/target``; other names match exactly, as in libbpf.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ProgType(enum.IntEnum):
    """The kernel's ``enum bpf_prog_type`` (include/uapi/linux/bpf.h)."""
    UNSPEC = 0
    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    SCHED_ACT = 4
    TRACEPOINT = 5
    XDP = 6
    PERF_EVENT = 7
    CGROUP_SKB = 8
    CGROUP_SOCK = 9
    LWT_IN = 10
    LWT_OUT = 11
    LWT_XMIT = 12
    SOCK_OPS = 13
    SK_SKB = 14
    CGROUP_DEVICE = 15
    SK_MSG = 16
    RAW_TRACEPOINT = 17
    CGROUP_SOCK_ADDR = 18
    LWT_SEG6LOCAL = 19
    LIRC_MODE2 = 20
    SK_REUSEPORT = 21
    FLOW_DISSECTOR = 22
    CGROUP_SYSCTL = 23
    RAW_TRACEPOINT_WRITABLE = 24
    CGROUP_SOCKOPT = 25
    TRACING = 26
    STRUCT_OPS = 27
    EXT = 28
    LSM = 29
    SK_LOOKUP = 30
    SYSCALL = 31
    NETFILTER = 32


_P = ProgType
#: (section name pattern, program type), in libbpf's order: first match wins.
SECTION_DEFS: tuple[tuple[str, ProgType], ...] = (
    ("socket", _P.SOCKET_FILTER),
    ("sk_reuseport/migrate", _P.SK_REUSEPORT), ("sk_reuseport", _P.SK_REUSEPORT),
    ("kprobe+", _P.KPROBE), ("uprobe+", _P.KPROBE), ("uprobe.s+", _P.KPROBE),
    ("kretprobe+", _P.KPROBE), ("uretprobe+", _P.KPROBE), ("uretprobe.s+", _P.KPROBE),
    ("kprobe.multi+", _P.KPROBE), ("kretprobe.multi+", _P.KPROBE),
    ("uprobe.multi+", _P.KPROBE), ("uretprobe.multi+", _P.KPROBE),
    ("ksyscall+", _P.KPROBE), ("kretsyscall+", _P.KPROBE),
    ("usdt+", _P.KPROBE), ("usdt.s+", _P.KPROBE),
    ("tc/ingress", _P.SCHED_CLS), ("tc/egress", _P.SCHED_CLS), ("tcx/ingress", _P.SCHED_CLS),
    ("tcx/egress", _P.SCHED_CLS), ("tc", _P.SCHED_CLS), ("classifier", _P.SCHED_CLS),
    ("action", _P.SCHED_ACT),
    ("tracepoint+", _P.TRACEPOINT), ("tp+", _P.TRACEPOINT),
    ("raw_tracepoint+", _P.RAW_TRACEPOINT), ("raw_tp+", _P.RAW_TRACEPOINT),
    ("raw_tracepoint.w+", _P.RAW_TRACEPOINT_WRITABLE), ("raw_tp.w+", _P.RAW_TRACEPOINT_WRITABLE),
    ("tp_btf+", _P.TRACING), ("fentry+", _P.TRACING), ("fmod_ret+", _P.TRACING),
    ("fexit+", _P.TRACING), ("fentry.s+", _P.TRACING), ("fmod_ret.s+", _P.TRACING),
    ("fexit.s+", _P.TRACING), ("iter+", _P.TRACING), ("iter.s+", _P.TRACING),
    ("freplace+", _P.EXT),
    ("lsm+", _P.LSM), ("lsm.s+", _P.LSM), ("lsm_cgroup+", _P.LSM),
    ("xdp.frags/devmap", _P.XDP), ("xdp/devmap", _P.XDP), ("xdp.frags/cpumap", _P.XDP),
    ("xdp/cpumap", _P.XDP), ("xdp.frags", _P.XDP), ("xdp", _P.XDP),
    ("perf_event", _P.PERF_EVENT),
    ("lwt_in", _P.LWT_IN), ("lwt_out", _P.LWT_OUT), ("lwt_xmit", _P.LWT_XMIT),
    ("lwt_seg6local", _P.LWT_SEG6LOCAL),
    ("sockops", _P.SOCK_OPS),
    ("sk_skb/stream_parser", _P.SK_SKB), ("sk_skb/stream_verdict", _P.SK_SKB),
    ("sk_skb", _P.SK_SKB),
    ("sk_msg", _P.SK_MSG),
    ("lirc_mode2", _P.LIRC_MODE2),
    ("flow_dissector", _P.FLOW_DISSECTOR),
    ("cgroup_skb/ingress", _P.CGROUP_SKB), ("cgroup_skb/egress", _P.CGROUP_SKB),
    ("cgroup/skb", _P.CGROUP_SKB),
    ("cgroup/sock_create", _P.CGROUP_SOCK), ("cgroup/sock_release", _P.CGROUP_SOCK),
    ("cgroup/sock", _P.CGROUP_SOCK), ("cgroup/post_bind4", _P.CGROUP_SOCK),
    ("cgroup/post_bind6", _P.CGROUP_SOCK), ("cgroup/dev", _P.CGROUP_DEVICE),
    ("cgroup/bind4", _P.CGROUP_SOCK_ADDR), ("cgroup/bind6", _P.CGROUP_SOCK_ADDR),
    ("cgroup/connect4", _P.CGROUP_SOCK_ADDR), ("cgroup/connect6", _P.CGROUP_SOCK_ADDR),
    ("cgroup/sendmsg4", _P.CGROUP_SOCK_ADDR), ("cgroup/sendmsg6", _P.CGROUP_SOCK_ADDR),
    ("cgroup/recvmsg4", _P.CGROUP_SOCK_ADDR), ("cgroup/recvmsg6", _P.CGROUP_SOCK_ADDR),
    ("cgroup/getpeername4", _P.CGROUP_SOCK_ADDR), ("cgroup/getpeername6", _P.CGROUP_SOCK_ADDR),
    ("cgroup/getsockname4", _P.CGROUP_SOCK_ADDR), ("cgroup/getsockname6", _P.CGROUP_SOCK_ADDR),
    ("cgroup/sysctl", _P.CGROUP_SYSCTL),
    ("cgroup/getsockopt", _P.CGROUP_SOCKOPT), ("cgroup/setsockopt", _P.CGROUP_SOCKOPT),
    ("struct_ops+", _P.STRUCT_OPS), ("struct_ops.s+", _P.STRUCT_OPS),
    ("sk_lookup", _P.SK_LOOKUP),
    ("syscall", _P.SYSCALL),
    ("netfilter", _P.NETFILTER),
)


@dataclass(frozen=True, slots=True)
class SectionInfo:
    """A program section's meaning.  ``kind`` is the matched libbpf name without ``+``
    (``kprobe``, ``kretprobe``, ``ksyscall``, ``tracepoint``, ``xdp``...), ``target`` the
    text after ``kind/`` (``do_sys_open``, ``syscalls/sys_enter_openat``), ``prog_type``
    None for a section libbpf would not recognise (the VM still runs it)."""
    section: str
    kind: str
    target: str
    prog_type: ProgType | None

    @property
    def is_return_probe(self) -> bool:
        return self.kind in ("kretprobe", "uretprobe", "uretprobe.s", "kretsyscall",
                             "kretprobe.multi", "uretprobe.multi", "fexit", "fexit.s")


def section_info(section: str) -> SectionInfo:
    """Classify a program section name as libbpf's ``find_sec_def`` does."""
    for pattern, ptype in SECTION_DEFS:
        if pattern.endswith("+"):
            base = pattern[:-1]
            if section == base:
                return SectionInfo(section, base, "", ptype)
            if section.startswith(base + "/"):
                return SectionInfo(section, base, section[len(base) + 1:], ptype)
        elif section == pattern:
            kind, _, target = pattern.partition("/")
            return SectionInfo(section, kind, target, ptype)
    kind, _, target = section.partition("/")
    return SectionInfo(section, kind, target, None)


__all__ = ["SECTION_DEFS", "ProgType", "SectionInfo", "section_info"]
