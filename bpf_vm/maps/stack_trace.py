"""BPF_MAP_TYPE_STACK_TRACE: stacks stored by ``bpf_get_stackid``, read by user space.

As kernel/bpf/stackmap.c: a stack's id is the jhash2 of its instruction pointers masked
to the bucket count (max_entries rounded up to a power of two), so equal stacks get
equal ids (and ids equal to the kernel's for the same ips); one stack per bucket, and at
most max_entries stacks stored.  Keys are u32 stack ids, values ``u64 ips[value_size /
8]`` padded with zeros (with BPF_F_STACK_BUILD_ID, struct bpf_stack_build_id
records).  User space looks stacks up, deletes them and iterates the ids;
it cannot update (-EINVAL).  Programs cannot look up or update (only bpf_get_stackid).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from .base import Map
from .spec import BPF_F_STACK_BUILD_ID, MapSpec

if TYPE_CHECKING:
    from ..context import VmContext

# bpf_get_stackid flags
BPF_F_SKIP_FIELD_MASK = 0xFF
BPF_F_USER_STACK = 1 << 8
BPF_F_FAST_STACK_CMP = 1 << 9
BPF_F_REUSE_STACKID = 1 << 10
BPF_F_USER_BUILD_ID = 1 << 11      # bpf_get_stack only

BPF_STACK_BUILD_ID_IP = 2         # a struct bpf_stack_build_id holding an ip, no build id
JHASH_INITVAL = 0xDEADBEEF
_M = 0xFFFFFFFF


def _rol(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M


def jhash2(words: list[int], initval: int = 0) -> int:
    """The kernel's jhash2 (Bob Jenkins' lookup3 over u32 words)."""
    length = len(words)
    a = b = c = (JHASH_INITVAL + (length << 2) + initval) & _M
    k = 0
    while length > 3:
        a = (a + words[k]) & _M
        b = (b + words[k + 1]) & _M
        c = (c + words[k + 2]) & _M
        a = (a - c) & _M; a ^= _rol(c, 4); c = (c + b) & _M     # noqa: E702
        b = (b - a) & _M; b ^= _rol(a, 6); a = (a + c) & _M     # noqa: E702
        c = (c - b) & _M; c ^= _rol(b, 8); b = (b + a) & _M     # noqa: E702
        a = (a - c) & _M; a ^= _rol(c, 16); c = (c + b) & _M    # noqa: E702
        b = (b - a) & _M; b ^= _rol(a, 19); a = (a + c) & _M    # noqa: E702
        c = (c - b) & _M; c ^= _rol(b, 4); b = (b + a) & _M     # noqa: E702
        length -= 3
        k += 3
    if length == 0:
        return c
    if length == 3:
        c = (c + words[k + 2]) & _M
    if length >= 2:
        b = (b + words[k + 1]) & _M
    a = (a + words[k]) & _M
    c ^= b; c = (c - _rol(b, 14)) & _M      # noqa: E702
    a ^= c; a = (a - _rol(c, 11)) & _M      # noqa: E702
    b ^= a; b = (b - _rol(a, 25)) & _M      # noqa: E702
    c ^= b; c = (c - _rol(b, 16)) & _M      # noqa: E702
    a ^= c; a = (a - _rol(c, 4)) & _M       # noqa: E702
    b ^= a; b = (b - _rol(a, 14)) & _M      # noqa: E702
    c ^= b; c = (c - _rol(b, 24)) & _M      # noqa: E702
    return c


def build_id_records(ips: list[int] | tuple[int, ...]) -> bytes:
    """struct bpf_stack_build_id for each ip, with status BPF_STACK_BUILD_ID_IP (the
    kernel's record when it cannot read the build id): s32 status, 20 bytes of zero
    build id, u64 ip."""
    return b"".join(struct.pack("<i20xQ", BPF_STACK_BUILD_ID_IP, ip) for ip in ips)


class StackTraceMap(Map):
    """Buckets of stacks (tuples of ips), indexed by stack id."""
    prog_lookup = False
    prog_update = False

    def __init__(self, spec: MapSpec, vm: VmContext) -> None:
        super().__init__(spec, vm)
        n = spec.max_entries
        self.n_buckets = 1 << (n - 1).bit_length() if n > 1 else 1
        self._buckets: dict[int, tuple[int, tuple[int, ...]]] = {}   # id -> (hash, ips)

    @property
    def build_id(self) -> bool:
        return bool(self.flags & BPF_F_STACK_BUILD_ID)

    @property
    def max_depth(self) -> int:
        """Frames per value: u64 ips, or 32-byte build-id records."""
        return self.value_size // (32 if self.build_id else 8)

    def get_stackid(self, ips: list[int], flags: int) -> int:
        """__bpf_get_stackid for a collected stack whose ``skip`` frames the caller has
        already dropped: the stack's id, or -EEXIST (another stack holds the bucket and
        BPF_F_REUSE_STACKID is unset), -ENOMEM (max_entries stacks stored)."""
        trace = tuple(ips[:self.max_depth])
        raw = struct.pack(f"<{len(trace)}Q", *trace)
        h = jhash2(list(struct.unpack(f"<{len(raw) // 4}I", raw)))
        sid = h & (self.n_buckets - 1)
        bucket = self._buckets.get(sid)
        matches = bucket is not None and bucket[0] == h
        if matches and flags & BPF_F_FAST_STACK_CMP:
            return sid
        if matches and bucket is not None and bucket[1] == trace:
            return sid
        if bucket is not None and not flags & BPF_F_REUSE_STACKID:
            return -errno.EEXIST
        if bucket is None and len(self._buckets) >= self.max_entries:
            return -errno.ENOMEM
        self._buckets[sid] = (h, trace)
        return sid

    def stack(self, sid: int) -> tuple[int, ...] | None:
        """The ips stored under ``sid``."""
        bucket = self._buckets.get(sid)
        return None if bucket is None else bucket[1]

    def _id(self, key: bytes) -> int:
        return int.from_bytes(key[:4], "little")

    def read_value(self, key: bytes) -> bytes | None:
        ips = self.stack(self._id(key))
        if ips is None:
            return None
        data = build_id_records(ips) if self.build_id else struct.pack(f"<{len(ips)}Q", *ips)
        return data + bytes(self.value_size - len(data))

    def update_elem(self, key: bytes, value: bytes, flags: int, *,
                    from_prog: bool = False) -> int:
        return -errno.EINVAL

    def delete_elem(self, key: bytes, *, from_prog: bool = False) -> int:
        sid = self._id(key)
        if sid >= self.n_buckets:
            return -errno.E2BIG
        if self._buckets.pop(sid, None) is None:
            return -errno.ENOENT
        return 0

    def next_key(self, key: bytes | None) -> bytes | None:
        if key is None:
            sid = 0
        else:
            sid = self._id(key)
            sid = 0 if sid >= self.n_buckets or sid not in self._buckets else sid + 1
        later = [i for i in self._buckets if i >= sid]
        return min(later).to_bytes(4, "little") if later else None

    def clear(self) -> None:
        self._buckets.clear()
