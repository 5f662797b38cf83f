"""The helper call table: kernel function ids -> prototype + Python implementation.

Calling convention (as the kernel's): arguments in r1-r5, result in r0; r6-r9 and r10
are preserved.  An implementation is ``fn(state, r1, r2, r3, r4, r5) -> int`` where
``state`` is the VM's :class:`~bpf_vm.vm.RunState` (address space, host, maps, output).
It returns a Python int (negative errno values allowed; the VM masks to 64 bits) and
signals a bad argument by raising :class:`HelperFault`, which the VM turns into a
:class:`~bpf_vm.errors.VmFault` carrying the pc of the call.

Prototypes mirror the kernel's ``struct bpf_func_proto`` (argument and return types,
gpl_only) so that the loader can refuse GPL-only helpers in non-GPL programs and a
verifier can type-check calls.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ._generated_helper_ids import HELPER_IDS, HELPER_NAMES


class ArgType(enum.Enum):
    """The kernel's ``enum bpf_arg_type`` (the subset our helpers use)."""
    DONTCARE = "dontcare"
    ANYTHING = "anything"
    CONST_MAP_PTR = "const_map_ptr"
    PTR_TO_MAP_KEY = "ptr_to_map_key"
    PTR_TO_MAP_VALUE = "ptr_to_map_value"
    PTR_TO_MEM = "ptr_to_mem"                  # readable memory, size in the next arg
    PTR_TO_UNINIT_MEM = "ptr_to_uninit_mem"    # writable memory, size in the next arg
    PTR_TO_MEM_OR_NULL = "ptr_to_mem_or_null"
    CONST_SIZE = "const_size"
    CONST_SIZE_OR_ZERO = "const_size_or_zero"
    PTR_TO_CTX = "ptr_to_ctx"
    PTR_TO_CONST_STR = "ptr_to_const_str"
    PTR_TO_FUNC = "ptr_to_func"
    PTR_TO_STACK_OR_NULL = "ptr_to_stack_or_null"
    PTR_TO_ALLOC_MEM = "ptr_to_alloc_mem"      # a ring-buffer record
    CONST_ALLOC_SIZE_OR_ZERO = "const_alloc_size_or_zero"


class RetType(enum.Enum):
    """The kernel's ``enum bpf_return_type`` (the subset our helpers use)."""
    INTEGER = "integer"
    VOID = "void"
    PTR_TO_MAP_VALUE_OR_NULL = "ptr_to_map_value_or_null"
    PTR_TO_ALLOC_MEM_OR_NULL = "ptr_to_alloc_mem_or_null"


@dataclass(frozen=True, slots=True)
class HelperProto:
    func_id: int
    name: str
    ret: RetType
    args: tuple[ArgType, ...]
    gpl_only: bool = False


HelperFn = Callable[..., int]


@dataclass(frozen=True, slots=True)
class Helper:
    proto: HelperProto
    fn: HelperFn


class HelperFault(Exception):
    """Raised by a helper implementation for an argument the verifier would have
    refused (bad pointer, size, map type); the VM adds the pc."""

    def __init__(self, reason: str, addr: int | None = None, size: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.addr = addr
        self.size = size


def helper_id(name: str) -> int:
    """The id of ``name`` (with or without the ``bpf_`` prefix)."""
    key = name.removeprefix("bpf_")
    return HELPER_IDS[key]


def helper_name(func_id: int) -> str | None:
    return HELPER_NAMES.get(func_id)


class HelperTable:
    """A set of helpers a VM offers, keyed by function id.  Copy before extending a
    shared table: ``table.copy().register(...)``."""

    def __init__(self, helpers: dict[int, Helper] | None = None) -> None:
        self._helpers: dict[int, Helper] = dict(helpers or {})

    def register(self, proto: HelperProto, fn: HelperFn) -> HelperTable:
        if HELPER_NAMES.get(proto.func_id) not in (None, proto.name):
            raise ValueError(f"helper id {proto.func_id} is {HELPER_NAMES[proto.func_id]},"
                             f" not {proto.name}")
        self._helpers[proto.func_id] = Helper(proto, fn)
        return self

    def helper(self, name: str, ret: RetType, *args: ArgType, gpl_only: bool = False
               ) -> Callable[[HelperFn], HelperFn]:
        """Decorator registering an implementation under the kernel's id for ``name``."""
        def deco(fn: HelperFn) -> HelperFn:
            self.register(HelperProto(helper_id(name), name, ret, tuple(args), gpl_only), fn)
            return fn
        return deco

    def get(self, func_id: int) -> Helper | None:
        return self._helpers.get(func_id)

    def __contains__(self, func_id: object) -> bool:
        return func_id in self._helpers

    def __iter__(self) -> Iterator[Helper]:
        return iter(sorted(self._helpers.values(), key=lambda h: h.proto.func_id))

    def __len__(self) -> int:
        return len(self._helpers)

    def copy(self) -> HelperTable:
        return HelperTable(self._helpers)


#: bpf_tail_call is not a Python function: the interpreter implements it, because it
#: replaces the running program.  Its prototype is still the kernel's.
TAIL_CALL_PROTO = HelperProto(12, "tail_call", RetType.VOID,
                              (ArgType.PTR_TO_CTX, ArgType.CONST_MAP_PTR, ArgType.ANYTHING))


def describe(h: Helper) -> dict[str, Any]:
    return {"id": h.proto.func_id, "name": f"bpf_{h.proto.name}", "ret": h.proto.ret.value,
            "args": [a.value for a in h.proto.args], "gpl_only": h.proto.gpl_only}
