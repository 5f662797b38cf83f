"""BPF maps with the kernel's rules, living in one VM's address space.

``create_map(MapSpec(...), vm)`` is BPF_MAP_CREATE: it validates the spec as the kernel
does, builds the map and registers it with the VM (``map.fd``).  See :mod:`.base` for
the two API layers (kernel map operations for helpers, the bpf(2)-like user-space API).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .array import ArrayMap
from .base import Map, hex_list
from .fd_array import Cgroup, CgroupArray, PerfEventArray, ProgArray, prog_id
from .hash import HashMap
from .ringbuf import RingBuf
from .spec import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_LOCK,
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
    BPF_NOEXIST,
    ENOTSUPP,
    HASH_TYPES,
    MapSpec,
    MapType,
)
from .stack_trace import StackTraceMap

if TYPE_CHECKING:
    from ..context import VmContext

_CLASSES: dict[MapType, type[Map]] = {
    MapType.ARRAY: ArrayMap,
    MapType.PERCPU_ARRAY: ArrayMap,
    MapType.PROG_ARRAY: ProgArray,
    MapType.PERF_EVENT_ARRAY: PerfEventArray,
    MapType.RINGBUF: RingBuf,
    MapType.CGROUP_ARRAY: CgroupArray,
    MapType.STACK_TRACE: StackTraceMap,
    **{t: HashMap for t in HASH_TYPES},
}


def create_map(spec: MapSpec, vm: VmContext) -> Map:
    """BPF_MAP_CREATE in ``vm``: a new, empty (arrays: zeroed) map registered with it."""
    return _CLASSES[spec.type](spec, vm)


__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_LOCK",
    "BPF_F_MMAPABLE",
    "BPF_F_NO_COMMON_LRU",
    "BPF_F_NO_PREALLOC",
    "BPF_F_NUMA_NODE",
    "BPF_F_PRESERVE_ELEMS",
    "BPF_F_RDONLY",
    "BPF_F_RDONLY_PROG",
    "BPF_F_WRONLY",
    "BPF_F_WRONLY_PROG",
    "BPF_F_ZERO_SEED",
    "BPF_NOEXIST",
    "ENOTSUPP",
    "ArrayMap",
    "Cgroup",
    "CgroupArray",
    "HashMap",
    "Map",
    "MapSpec",
    "MapType",
    "PerfEventArray",
    "ProgArray",
    "RingBuf",
    "StackTraceMap",
    "create_map",
    "hex_list",
    "prog_id",
]
