"""The map base class: the user-space API on top of the kernel-style map operations.

Two layers, as in the kernel.  The *map operations* (``lookup_elem``, ``update_elem``,
``delete_elem``, ``next_key``) take raw key and value bytes and answer like the kernel's
``bpf_map_ops``: an address (0 for none) or 0 / -errno.  Helpers call them for programs.
The *user-space API* (``lookup``, ``update``, ``delete``, ``get_next_key``, ``items``,
``dump``) is what bpf(2) offers a loader, a CLI or the tracer: keys may be ints, values
are bytes, and a refusal raises :class:`MapError` carrying the errno bpf(2) would set.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import MapError
from .spec import (
    BPF_ANY,
    BPF_F_LOCK,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY,
    MapSpec,
    MapType,
)

if TYPE_CHECKING:
    from ..context import VmContext
    from ..memory import AddressSpace

KeyLike = int | bytes | bytearray


def hex_list(data: bytes) -> list[str]:
    """bpftool's JSON form of a byte string: one "0x%02hhx" string per byte."""
    return [f"0x{b:02x}" for b in data]


class Map:
    """A map living in one VM's address space.  Create maps with
    :func:`bpf_vm.maps.create_map`; the constructor registers the map with the VM, so
    ``self.fd`` is the fd programs use in ``ld_imm64`` (BPF_PSEUDO_MAP_FD)."""

    #: bpf_map_lookup_elem from a program is allowed (the verifier's map/func check)
    prog_lookup: ClassVar[bool] = True
    #: bpf_map_update_elem / bpf_map_delete_elem from a program are allowed
    prog_update: ClassVar[bool] = True

    def __init__(self, spec: MapSpec, vm: VmContext) -> None:
        self.spec = spec
        self.space: AddressSpace = vm.space
        self.frozen = False
        self.fd = vm.register_map(self)

    # -- attributes -------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> MapType:
        return self.spec.type

    @property
    def key_size(self) -> int:
        return self.spec.key_size

    @property
    def value_size(self) -> int:
        return self.spec.value_size

    @property
    def max_entries(self) -> int:
        return self.spec.max_entries

    @property
    def flags(self) -> int:
        return self.spec.flags

    @property
    def prog_writable(self) -> bool:
        """Whether programs may write values (not a BPF_F_RDONLY_PROG map)."""
        return not self.flags & BPF_F_RDONLY_PROG

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.name!r} {self.type.name} key={self.key_size}"
                f" value={self.value_size} max_entries={self.max_entries} fd={self.fd}>")

    # -- kernel map operations (bytes in, address or 0 / -errno out) -------------------

    def lookup_elem(self, key: bytes, *, from_prog: bool = False) -> int:
        """Address of the value stored under ``key``, 0 when there is none."""
        return 0

    def update_elem(self, key: bytes, value: bytes, flags: int, *,
                    from_prog: bool = False) -> int:
        return -errno.EINVAL

    def delete_elem(self, key: bytes, *, from_prog: bool = False) -> int:
        return -errno.EINVAL

    def next_key(self, key: bytes | None) -> bytes | None:
        """The key after ``key`` in iteration order (the first key when ``key`` is None or
        not in the map), None after the last.  Raises MapError where the kernel refuses."""
        return None

    def read_value(self, key: bytes) -> bytes | None:
        """The value bytes bpf(2)'s lookup returns for ``key``, None for ENOENT."""
        return None

    def direct_value_address(self, offset: int) -> int | None:
        """For ld_imm64 BPF_PSEUDO_MAP_VALUE: only single-entry arrays (global data)."""
        return None

    # -- user-space API --------------------------------------------------------------

    def key_bytes(self, key: KeyLike) -> bytes:
        """``key`` as the map's key bytes: ints are packed little-endian in key_size."""
        if isinstance(key, int):
            try:
                return key.to_bytes(self.key_size, "little")
            except OverflowError:
                raise MapError(errno.EINVAL, f"map '{self.name}': key {key} does not fit"
                                             f" in {self.key_size} bytes") from None
        key = bytes(key)
        if len(key) != self.key_size:
            raise MapError(errno.EINVAL, f"map '{self.name}': key of {len(key)} bytes,"
                                         f" key_size is {self.key_size}")
        return key

    def user_value_size(self) -> int:
        """How many value bytes bpf(2) exchanges with user space."""
        return self.value_size

    def _value_bytes(self, value: Any) -> bytes:
        data = bytes(value)
        if len(data) != self.user_value_size():
            raise MapError(errno.EINVAL, f"map '{self.name}': value of {len(data)} bytes,"
                                         f" expected {self.user_value_size()}")
        return data

    def _check_write(self) -> None:
        if self.flags & BPF_F_RDONLY or self.frozen:
            raise MapError(errno.EPERM, f"map '{self.name}' is read-only for user space")

    def _check_read(self) -> None:
        if self.flags & BPF_F_WRONLY:
            raise MapError(errno.EPERM, f"map '{self.name}' is write-only for user space")

    def lookup(self, key: KeyLike) -> bytes | None:
        """BPF_MAP_LOOKUP_ELEM: the value under ``key``, or None (ENOENT)."""
        self._check_read()
        return self.read_value(self.key_bytes(key))

    def update(self, key: KeyLike, value: Any, flags: int = BPF_ANY) -> None:
        """BPF_MAP_UPDATE_ELEM; raises MapError with the kernel's errno on refusal."""
        self._check_write()
        if flags & BPF_F_LOCK:   # bpf(2) checks this first: no value holds a bpf_spin_lock
            raise MapError(errno.EINVAL, f"map '{self.name}': BPF_F_LOCK without a spin lock")
        rc = self.update_elem(self.key_bytes(key), self._value_bytes(value), flags)
        if rc:
            raise MapError(-rc, f"map '{self.name}': update refused ({_errname(rc)})")

    def delete(self, key: KeyLike) -> None:
        """BPF_MAP_DELETE_ELEM; raises MapError with the kernel's errno on refusal."""
        self._check_write()
        rc = self.delete_elem(self.key_bytes(key))
        if rc:
            raise MapError(-rc, f"map '{self.name}': delete refused ({_errname(rc)})")

    def get_next_key(self, key: KeyLike | None = None) -> bytes | None:
        """BPF_MAP_GET_NEXT_KEY: the first key for None, None after the last."""
        self._check_read()
        return self.next_key(None if key is None else self.key_bytes(key))

    def freeze(self) -> None:
        """BPF_MAP_FREEZE: user space may no longer write (libbpf freezes .rodata)."""
        self.frozen = True

    def keys(self) -> Iterator[bytes]:
        """Keys in get_next_key order."""
        key = self.next_key(None)
        while key is not None:
            yield key
            key = self.next_key(key)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs that a lookup finds, in iteration order."""
        for key in self.keys():
            value = self.read_value(key)
            if value is not None:
                yield key, value

    def __len__(self) -> int:
        return sum(1 for _ in self.items())

    def dump(self) -> list[dict[str, Any]]:
        """``bpftool map dump -j`` without BTF: ``{"key": [...], "value": [...]}`` with
        one "0xNN" string per byte; per-CPU maps have ``"values": [{"cpu": 0, "value":
        [...]}]`` instead (one possible CPU here)."""
        out: list[dict[str, Any]] = []
        for key, value in self.items():
            if self.spec.is_percpu:
                out.append({"key": hex_list(key),
                            "values": [{"cpu": 0, "value": hex_list(value[:self.value_size])}]})
            else:
                out.append({"key": hex_list(key), "value": hex_list(value)})
        return out

    def dump_hex(self) -> list[dict[str, str]]:
        """The simpler form the CLI's --json prints: ``{"key": hex, "value": hex}``."""
        return [{"key": key.hex(), "value": value[:self.value_size].hex()}
                for key, value in self.items()]


def _errname(rc: int) -> str:
    return errno.errorcode.get(-rc, str(-rc))
