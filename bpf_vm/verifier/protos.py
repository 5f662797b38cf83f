"""The kernel's prototypes of the helpers bpf_vm does not implement, so the verifier
decides on them as the kernel does (a program may be verified that the VM then cannot
run; ``bpf-vm run`` says so at the call).  The VM's own prototypes
(:mod:`bpf_vm.helpers`) come first; these fill in the rest, from the
``bpf_func_proto`` definitions of Linux 6.18."""

from __future__ import annotations

from ..helper_table import ArgType as A
from ..helper_table import HelperProto, RetType

_I = RetType.INTEGER

#: helpers whose prototype says they may sleep (only sleepable programs may call them)
MIGHT_SLEEP = frozenset({148, 191})


def _p(fid: int, name: str, *args: A, gpl: bool = False) -> HelperProto:
    return HelperProto(fid, name, _I, tuple(args), gpl)


KERNEL_PROTOS: dict[int, HelperProto] = {p.func_id: p for p in (
    _p(17, "get_cgroup_classid", A.PTR_TO_CTX),
    _p(22, "perf_event_read", A.CONST_MAP_PTR, A.ANYTHING, gpl=True),
    _p(26, "skb_load_bytes", A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE),
    _p(27, "get_stackid", A.PTR_TO_CTX, A.CONST_MAP_PTR, A.ANYTHING, gpl=True),
    _p(35, "get_current_task", gpl=True),
    _p(37, "current_task_under_cgroup", A.CONST_MAP_PTR, A.ANYTHING, gpl=True),
    _p(42, "get_numa_node_id"),
    _p(46, "get_socket_cookie", A.PTR_TO_CTX),
    _p(47, "get_socket_uid", A.PTR_TO_CTX),
    _p(55, "perf_event_read_value", A.CONST_MAP_PTR, A.ANYTHING, A.PTR_TO_UNINIT_MEM,
       A.CONST_SIZE, gpl=True),
    _p(67, "get_stack", A.PTR_TO_CTX, A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO,
       A.ANYTHING, gpl=True),
    _p(68, "skb_load_bytes_relative", A.PTR_TO_CTX, A.ANYTHING, A.PTR_TO_UNINIT_MEM,
       A.CONST_SIZE, A.ANYTHING),
    _p(80, "get_current_cgroup_id"),
    _p(87, "map_push_elem", A.CONST_MAP_PTR, A.PTR_TO_MAP_VALUE, A.ANYTHING),
    _p(88, "map_pop_elem", A.CONST_MAP_PTR, A.PTR_TO_MAP_VALUE),
    _p(89, "map_peek_elem", A.CONST_MAP_PTR, A.PTR_TO_MAP_VALUE),
    _p(118, "jiffies64"),
    _p(120, "get_ns_current_pid_tgid", A.ANYTHING, A.ANYTHING, A.PTR_TO_UNINIT_MEM,
       A.CONST_SIZE),
    _p(123, "get_current_ancestor_cgroup_id", A.ANYTHING),
    _p(134, "ringbuf_query", A.CONST_MAP_PTR, A.ANYTHING),
    _p(148, "copy_from_user", A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING),
    _p(160, "ktime_get_coarse_ns"),
    _p(164, "for_each_map_elem", A.CONST_MAP_PTR, A.PTR_TO_FUNC, A.PTR_TO_STACK_OR_NULL,
       A.ANYTHING),
    _p(173, "get_func_ip", A.PTR_TO_CTX, gpl=True),
    _p(174, "get_attach_cookie", A.PTR_TO_CTX),
    _p(176, "get_branch_snapshot", A.PTR_TO_UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING,
       gpl=True),
    _p(182, "strncmp", A.PTR_TO_MEM, A.CONST_SIZE, A.PTR_TO_CONST_STR),
    _p(208, "ktime_get_tai_ns"),
)}
