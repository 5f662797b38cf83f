"""Map types, flags and the map specification, validated as the kernel validates it.

A :class:`MapSpec` is what ``BPF_MAP_CREATE`` receives (type, key and value size,
max_entries, map_flags).  Its checks follow the kernel's ``map_create`` and the per-type
``map_alloc_check`` / ``map_alloc`` functions (kernel/bpf/syscall.c, arraymap.c,
hashtab.c, ringbuf.c), so a spec the host kernel refuses is refused here with the same
errno.  tests/test_maps_kernel.py creates each spec in both and compares.
"""

from __future__ import annotations

import enum
import errno
from dataclasses import dataclass

from .._generated_map_types import MAP_TYPES
from ..errors import MapError


class MapType(enum.IntEnum):
    """The kernel's ``enum bpf_map_type`` (values from the generated table, so they
    cannot drift from include/uapi/linux/bpf.h)."""
    UNSPEC = MAP_TYPES["unspec"]
    HASH = MAP_TYPES["hash"]
    ARRAY = MAP_TYPES["array"]
    PROG_ARRAY = MAP_TYPES["prog_array"]
    PERF_EVENT_ARRAY = MAP_TYPES["perf_event_array"]
    PERCPU_HASH = MAP_TYPES["percpu_hash"]
    PERCPU_ARRAY = MAP_TYPES["percpu_array"]
    STACK_TRACE = MAP_TYPES["stack_trace"]
    CGROUP_ARRAY = MAP_TYPES["cgroup_array"]
    LRU_HASH = MAP_TYPES["lru_hash"]
    LRU_PERCPU_HASH = MAP_TYPES["lru_percpu_hash"]
    LPM_TRIE = MAP_TYPES["lpm_trie"]
    ARRAY_OF_MAPS = MAP_TYPES["array_of_maps"]
    HASH_OF_MAPS = MAP_TYPES["hash_of_maps"]
    DEVMAP = MAP_TYPES["devmap"]
    SOCKMAP = MAP_TYPES["sockmap"]
    CPUMAP = MAP_TYPES["cpumap"]
    XSKMAP = MAP_TYPES["xskmap"]
    SOCKHASH = MAP_TYPES["sockhash"]
    CGROUP_STORAGE = MAP_TYPES["cgroup_storage"]
    REUSEPORT_SOCKARRAY = MAP_TYPES["reuseport_sockarray"]
    PERCPU_CGROUP_STORAGE = MAP_TYPES["percpu_cgroup_storage"]
    QUEUE = MAP_TYPES["queue"]
    STACK = MAP_TYPES["stack"]
    SK_STORAGE = MAP_TYPES["sk_storage"]
    DEVMAP_HASH = MAP_TYPES["devmap_hash"]
    STRUCT_OPS = MAP_TYPES["struct_ops"]
    RINGBUF = MAP_TYPES["ringbuf"]
    INODE_STORAGE = MAP_TYPES["inode_storage"]
    TASK_STORAGE = MAP_TYPES["task_storage"]
    BLOOM_FILTER = MAP_TYPES["bloom_filter"]
    USER_RINGBUF = MAP_TYPES["user_ringbuf"]


# BPF_MAP_UPDATE_ELEM flags
BPF_ANY = 0        # create or update
BPF_NOEXIST = 1    # create only
BPF_EXIST = 2      # update only
BPF_F_LOCK = 4     # spin-locked update: refused here, no map value has a bpf_spin_lock

# map_flags of BPF_MAP_CREATE
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_NO_COMMON_LRU = 1 << 1
BPF_F_NUMA_NODE = 1 << 2
BPF_F_RDONLY = 1 << 3        # user space may not write
BPF_F_WRONLY = 1 << 4        # user space may not read
BPF_F_STACK_BUILD_ID = 1 << 5
BPF_F_ZERO_SEED = 1 << 6
BPF_F_RDONLY_PROG = 1 << 7   # programs may not write (libbpf's .rodata)
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_CLONE = 1 << 9
BPF_F_MMAPABLE = 1 << 10
BPF_F_PRESERVE_ELEMS = 1 << 11
BPF_F_INNER_MAP = 1 << 12

BPF_F_ACCESS_MASK = BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG
ARRAY_CREATE_FLAG_MASK = (BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_ACCESS_MASK
                          | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP)
HTAB_CREATE_FLAG_MASK = (BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE
                         | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED)
RINGBUF_CREATE_FLAG_MASK = BPF_F_NUMA_NODE
STACK_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_STACK_BUILD_ID

# the kernel's size limits (x86-64)
PAGE_SIZE = 4096
INT_MAX = (1 << 31) - 1
U32_MAX = (1 << 32) - 1
KMALLOC_MAX_SIZE = 1 << 22        # 4 MiB: an element must be kmalloc-able
HTAB_ELEM_SIZE = 48               # sizeof(struct htab_elem)
HTAB_BUCKET_SIZE = 16             # sizeof(struct bucket)
PCPU_MIN_UNIT_SIZE = 32 << 10     # a per-CPU value must fit one percpu unit
RINGBUF_MAX_DATA_SZ = ((1 << 24) - 2 - 1) * PAGE_SIZE
PERF_MAX_STACK_DEPTH = 127        # the default of sysctl kernel.perf_event_max_stack
STACK_BUILD_ID_SIZE = 32          # sizeof(struct bpf_stack_build_id)

#: errno the kernel uses for "not supported by this map" (ENOTSUPP, kernel-internal 524,
#: which bpf(2) passes to user space unchanged).
ENOTSUPP = 524

ARRAY_TYPES = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY,
                         MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY})
FD_ARRAY_TYPES = frozenset({MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY,
                            MapType.CGROUP_ARRAY})
HASH_TYPES = frozenset({MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
                        MapType.LRU_PERCPU_HASH})
PERCPU_TYPES = frozenset({MapType.PERCPU_ARRAY, MapType.PERCPU_HASH,
                          MapType.LRU_PERCPU_HASH})
LRU_TYPES = frozenset({MapType.LRU_HASH, MapType.LRU_PERCPU_HASH})
#: The map types this VM implements.
SUPPORTED_TYPES = ARRAY_TYPES | HASH_TYPES | {MapType.RINGBUF, MapType.STACK_TRACE}


def round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def _roundup_pow_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length() if n > 1 else 1


@dataclass(frozen=True)
class MapSpec:
    """What BPF_MAP_CREATE is given.  Construction validates it; a spec the kernel would
    refuse raises :class:`MapError` with the kernel's errno (EINVAL, E2BIG, ENOTSUPP)."""
    name: str
    type: MapType
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0

    def __post_init__(self) -> None:
        try:
            mtype = (MapType[self.type.upper()] if isinstance(self.type, str)
                     else MapType(self.type))
        except (KeyError, ValueError):
            raise MapError(errno.EINVAL,
                           f"map '{self.name}': unknown map type {self.type!r}") from None
        object.__setattr__(self, "type", mtype)
        for field in ("key_size", "value_size", "max_entries", "flags"):
            v = getattr(self, field)
            if not isinstance(v, int) or not 0 <= v <= U32_MAX:
                raise MapError(errno.EINVAL, f"map '{self.name}': {field} {v!r} is not a u32")
        err = _check(self)
        if err is not None:
            code, why = err
            raise MapError(code, f"map '{self.name}' ({mtype.name}, key {self.key_size},"
                                 f" value {self.value_size}, max_entries {self.max_entries},"
                                 f" flags 0x{self.flags:x}): {why}")

    @property
    def is_percpu(self) -> bool:
        return self.type in PERCPU_TYPES

    @property
    def elem_size(self) -> int:
        """The stride of array values and the per-CPU value size user space sees."""
        return round_up(self.value_size, 8)


def _check(s: MapSpec) -> tuple[int, str] | None:
    """The first reason the kernel would refuse ``s``, or None."""
    f = s.flags
    if (f & BPF_F_RDONLY) and (f & BPF_F_WRONLY):
        return errno.EINVAL, "BPF_F_RDONLY and BPF_F_WRONLY together"
    if (f & BPF_F_RDONLY_PROG) and (f & BPF_F_WRONLY_PROG):
        return errno.EINVAL, "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together"
    t = s.type
    if t in ARRAY_TYPES:
        return _check_array(s)
    if t in HASH_TYPES:
        return _check_hash(s)
    if t is MapType.RINGBUF:
        return _check_ringbuf(s)
    if t is MapType.STACK_TRACE:
        return _check_stack_trace(s)
    return errno.EINVAL, f"map type {t.name} is not supported by this VM"


def _check_array(s: MapSpec) -> tuple[int, str] | None:
    """array_map_alloc_check, plus fd_array_map_alloc_check for prog/perf arrays."""
    t, f = s.type, s.flags
    fd_array = t in FD_ARRAY_TYPES
    if fd_array and s.value_size != 4:
        return errno.EINVAL, "value_size must be 4 (a file descriptor)"
    if fd_array and f & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG):
        return errno.EINVAL, "program access flags are not allowed on fd arrays"
    if s.max_entries == 0 or s.key_size != 4 or s.value_size == 0:
        return errno.EINVAL, "arrays need key_size 4, value_size > 0 and max_entries > 0"
    if f & ~ARRAY_CREATE_FLAG_MASK:
        return errno.EINVAL, "flag not valid for arrays"
    if t is MapType.PERCPU_ARRAY and f & BPF_F_NUMA_NODE:
        return errno.EINVAL, "BPF_F_NUMA_NODE on a per-CPU array"
    if t is not MapType.ARRAY and f & (BPF_F_MMAPABLE | BPF_F_INNER_MAP):
        return errno.EINVAL, "BPF_F_MMAPABLE / BPF_F_INNER_MAP only on BPF_MAP_TYPE_ARRAY"
    if t is not MapType.PERF_EVENT_ARRAY and f & BPF_F_PRESERVE_ELEMS:
        return errno.EINVAL, "BPF_F_PRESERVE_ELEMS only on perf event arrays"
    if s.value_size > INT_MAX:
        return errno.E2BIG, "value_size above INT_MAX"
    if t is MapType.PERCPU_ARRAY and round_up(s.value_size, 8) > PCPU_MIN_UNIT_SIZE:
        return errno.E2BIG, f"per-CPU value above {PCPU_MIN_UNIT_SIZE} bytes"
    return None


def _check_hash(s: MapSpec) -> tuple[int, str] | None:
    """htab_map_alloc_check and the size checks of htab_map_alloc."""
    t, f = s.type, s.flags
    lru = t in LRU_TYPES
    percpu = t in PERCPU_TYPES
    if f & ~HTAB_CREATE_FLAG_MASK:
        return errno.EINVAL, "flag not valid for hash maps"
    if not lru and f & BPF_F_NO_COMMON_LRU:
        return errno.EINVAL, "BPF_F_NO_COMMON_LRU on a map that is not LRU"
    if lru and f & BPF_F_NO_PREALLOC:
        return ENOTSUPP, "LRU maps are always preallocated"
    if f & BPF_F_NUMA_NODE and (percpu or f & BPF_F_NO_COMMON_LRU):
        return errno.EINVAL, "BPF_F_NUMA_NODE on a per-CPU map"
    if s.max_entries == 0 or s.key_size == 0 or s.value_size == 0:
        return errno.EINVAL, "hash maps need key_size, value_size and max_entries > 0"
    if s.key_size + s.value_size >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE:
        return errno.E2BIG, "key_size + value_size too large for one element"
    if percpu and round_up(s.value_size, 8) > PCPU_MIN_UNIT_SIZE:
        return errno.E2BIG, f"per-CPU value above {PCPU_MIN_UNIT_SIZE} bytes"
    if s.max_entries > 1 << 31 or \
            _roundup_pow_of_two(s.max_entries) > U32_MAX // HTAB_BUCKET_SIZE:
        return errno.E2BIG, "too many buckets"
    return None


def _check_ringbuf(s: MapSpec) -> tuple[int, str] | None:
    """ringbuf_map_alloc: no key or value, size a power-of-2 multiple of the page."""
    if s.flags & ~RINGBUF_CREATE_FLAG_MASK:
        return errno.EINVAL, "flag not valid for ring buffers"
    n = s.max_entries
    if s.key_size or s.value_size or n == 0 or n & (n - 1) or n % PAGE_SIZE:
        return errno.EINVAL, ("ring buffers need key_size 0, value_size 0 and max_entries"
                              " a power of 2 multiple of the page size (4096)")
    if n > RINGBUF_MAX_DATA_SZ:
        return errno.E2BIG, "ring buffer above the kernel's maximum"
    return None


def perf_max_stack() -> int:
    """sysctl kernel.perf_event_max_stack, the deepest stack the kernel collects (its
    default, 127, when the file cannot be read)."""
    try:
        with open("/proc/sys/kernel/perf_event_max_stack") as f:
            return int(f.read())
    except (OSError, ValueError):
        return PERF_MAX_STACK_DEPTH


def _check_stack_trace(s: MapSpec) -> tuple[int, str] | None:
    """stack_map_alloc: u32 stack ids, values a whole number of u64 ips (or of struct
    bpf_stack_build_id with BPF_F_STACK_BUILD_ID), no deeper than perf_event_max_stack."""
    if s.flags & ~STACK_CREATE_FLAG_MASK:
        return errno.EINVAL, "flag not valid for stack trace maps"
    if s.max_entries == 0 or s.key_size != 4 or s.value_size < 8 or s.value_size % 8:
        return errno.EINVAL, ("stack trace maps need key_size 4, value_size a multiple of"
                              " 8 and max_entries > 0")
    limit = perf_max_stack()
    if s.flags & BPF_F_STACK_BUILD_ID:
        if s.value_size % STACK_BUILD_ID_SIZE or s.value_size // STACK_BUILD_ID_SIZE > limit:
            return errno.EINVAL, (f"build-id stacks need value_size a multiple of"
                                  f" {STACK_BUILD_ID_SIZE}, at most {limit} frames")
    elif s.value_size // 8 > limit:
        return errno.EINVAL, f"more than perf_event_max_stack ({limit}) frames"
    if s.max_entries > 1 << 31:
        return errno.E2BIG, "too many buckets"
    return None
