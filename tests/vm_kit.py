"""Build programs and maps for VM tests from assembly text (bpf_vm.asm syntax).

``load(text)`` assembles, creates every ``.map`` declaration with
:func:`bpf_vm.maps.create_map` in a fresh (or given) VM, and returns the programs by name
with their fd_array (``Program.maps``) set, as a loader would."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from bpf_vm.asm import assemble
from bpf_vm.effects import Effects
from bpf_vm.host import FakeHost
from bpf_vm.maps import Map, MapSpec, MapType, create_map
from bpf_vm.program import Program
from bpf_vm.vm import Vm


@dataclass
class Loaded:
    vm: Vm
    progs: dict[str, Program]
    maps: dict[str, Map]
    host: Any = None
    order: list[str] = field(default_factory=list)

    @property
    def prog(self) -> Program:
        """The first program of the file."""
        return self.progs[self.order[0]]

    def run(self, name: str | None = None, ctx: bytes | None = None, **kw: Any) -> int:
        prog = self.progs[name] if name else self.prog
        return self.vm.run(prog, ctx, **kw).r0

    @property
    def effects(self) -> Effects:
        """The effects of the last run (also of one that faulted)."""
        return effects_of(self.vm)


def effects_of(vm: Vm) -> Effects:
    """What the VM's last run (or the helpers called on ``vm.state`` since) recorded."""
    return vm.state.effects or Effects()


def load(text: str, *, vm: Vm | None = None, host: Any = None, license: str | None = None,
         **vm_kw: Any) -> Loaded:
    if vm is None:
        host = host if host is not None else FakeHost()
        vm = Vm(host=host, **vm_kw)
    res = assemble(text)
    maps = [create_map(MapSpec(d.name, MapType(d.type_id), d.key_size, d.value_size, d.max_entries,
                               d.flags), vm) for d in res.maps]
    lic = license if license is not None else (res.license or "GPL")
    progs = {p.name: Program(p.insns, name=p.name, section=p.section, license=lic,
                             maps=list(maps)) for p in res.programs}
    return Loaded(vm, progs, {m.name: m for m in maps}, vm.host,
                  [p.name for p in res.programs])


def u32(n: int) -> bytes:
    return struct.pack("<I", n & 0xFFFFFFFF)


def u64(n: int) -> bytes:
    return struct.pack("<Q", n & (1 << 64) - 1)


def s64(v: int) -> int:
    """A register value as a signed 64-bit number (helpers return -errno)."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v
