"""A loaded BPF program: decoded instructions plus what the loader attached to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import InvalidInstruction
from .insn import Insn, decode, encode, jump_target
from .isa import Kind


class MapLike(Protocol):
    """What the VM needs of a map object (see bpf_vm.maps)."""
    name: str
    max_entries: int

    def direct_value_address(self, offset: int) -> int | None: ...


def check_jumps(insns: list[Insn | None]) -> None:
    """Every jump, local call and function pointer must land on an instruction of the
    program (not past its end, not in the second half of an ld_imm64), as the kernel's
    verifier requires before anything runs."""
    n = len(insns)
    for pc, insn in enumerate(insns):
        if insn is None:
            continue
        target = jump_target(insn, pc)
        if target is None:
            continue
        if not 0 <= target < n or insns[target] is None:
            raw = insn.encode()
            what = "call" if insn.kind in (Kind.CALL, Kind.LD_IMM64) else "jump"
            raise InvalidInstruction(pc, raw, f"{what} out of range from insn {pc} to {target}")


@dataclass(eq=False)
class Program:
    """A program as the VM runs it.  ``maps`` is its fd_array: the maps that
    ``ld_imm64`` with BPF_PSEUDO_MAP_IDX(_VALUE) refers to by position.  Identity is the
    program (two loads of the same bytes are two programs, as in the kernel)."""
    insns: list[Insn | None]
    name: str = "prog"
    section: str = ""
    license: str = "GPL"
    maps: list[MapLike] = field(default_factory=list)
    func_names: dict[int, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_jumps(self.insns)

    @classmethod
    def from_bytes(cls, code: bytes, name: str = "prog", **kw: Any) -> Program:
        return cls(decode(code), name=name, **kw)

    @property
    def code(self) -> bytes:
        return encode(self.insns)

    def __len__(self) -> int:
        return len(self.insns)

    def __repr__(self) -> str:
        return f"<Program {self.name} ({len(self.insns)} insns)>"
