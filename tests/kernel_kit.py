"""Run the same assembly in the host kernel and in the VM, with maps of the same specs.

``.map`` declarations become kernel maps (bpf_vm.kernel.map_create) on one side and
VM maps (create_map) on the other; the assembler's by-index map references (MAP_IDX,
MAP_IDX_VALUE) are rewritten to the kernel's by-fd forms for the kernel side, so the two
runs execute the same instructions.  Kernel programs are sleepable
BPF_PROG_TYPE_SYSCALL programs (``kernel.run_program``): r1 is the memory, r2 its
length, and the memory is copied back.  The VM side runs with the same r1/r2."""

from __future__ import annotations

import ctypes
import errno
import os
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from bpf_vm import kernel
from bpf_vm.asm import assemble
from bpf_vm.errors import MapError
from bpf_vm.host import FakeHost
from bpf_vm.insn import Insn, encode
from bpf_vm.isa import LD_IMM64, Pseudo
from bpf_vm.maps import Map, MapSpec, MapType, create_map
from bpf_vm.program import Program
from bpf_vm.vm import Vm

BPF_MAP_FREEZE = 22


def possible_cpus() -> int:
    """num_possible_cpus(): per-CPU map values in bpf(2) carry one slot per possible CPU."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
    except OSError:
        return os.cpu_count() or 1
    n = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def map_freeze(fd: int) -> int:
    """BPF_MAP_FREEZE (not wrapped by bpf_vm.kernel): 0 or -errno."""
    attr = (ctypes.c_uint8 * kernel.ATTR_SIZE)()
    ctypes.memmove(attr, int(fd).to_bytes(4, "little"), 4)
    libc = ctypes.CDLL(None, use_errno=True)
    res = libc.syscall(ctypes.c_long(kernel.SYS_BPF), ctypes.c_long(BPF_MAP_FREEZE),
                       ctypes.byref(attr), ctypes.c_long(kernel.ATTR_SIZE))
    return 0 if res >= 0 else -ctypes.get_errno()


def create_code(spec: MapSpec | tuple[Any, ...]) -> int:
    """0 or -errno of BPF_MAP_CREATE with these attributes in the kernel."""
    if isinstance(spec, MapSpec):
        args = (int(spec.type), spec.key_size, spec.value_size, spec.max_entries, spec.flags)
    else:
        args = spec
    try:
        kernel.close_fd(kernel.map_create(*args))
    except OSError as exc:
        return -(exc.errno or 0)
    return 0


class KernelMap:
    """A kernel map behind the same small interface as :class:`VmMap`."""

    def __init__(self, spec: MapSpec, stack: ExitStack) -> None:
        self.spec = spec
        self.fd = stack.enter_context(kernel.owned_fd(kernel.map_create(
            int(spec.type), spec.key_size, spec.value_size, spec.max_entries, spec.flags,
            name=spec.name[:15])))
        self.ncpu = possible_cpus() if spec.is_percpu else 1

    def _user(self, value: bytes) -> bytes:
        """The one-CPU value of the VM's user view, replicated for every possible CPU."""
        return value * self.ncpu

    def update(self, key: bytes, value: bytes, flags: int = 0) -> int:
        return kernel.map_update(self.fd, key, self._user(value), flags)

    def update_raw(self, key: bytes, value: bytes, flags: int = 0) -> int:
        return kernel.map_update(self.fd, key, value, flags)

    def lookup(self, key: bytes) -> tuple[int, bytes | None]:
        size = self.spec.elem_size * self.ncpu if self.spec.is_percpu else self.spec.value_size
        try:
            value = kernel.map_lookup(self.fd, key, size)
        except OSError as exc:
            return -(exc.errno or 0), None
        if value is None:
            return -errno.ENOENT, None
        return 0, value[:self.spec.elem_size] if self.spec.is_percpu else value

    def delete(self, key: bytes) -> int:
        return kernel.map_delete(self.fd, key)

    def next_key(self, key: bytes | None) -> tuple[int, bytes | None]:
        try:
            nxt = kernel.map_get_next_key(self.fd, key, self.spec.key_size)
        except OSError as exc:
            return -(exc.errno or 0), None
        return (-errno.ENOENT, None) if nxt is None else (0, nxt)

    def keys(self) -> list[bytes]:
        out: list[bytes] = []
        key: bytes | None = None
        while True:
            rc, key = self.next_key(key)
            if rc:
                return out
            assert key is not None
            out.append(key)


class VmMap:
    """A VM map through its user-space API, answering with bpf(2)'s codes."""

    def __init__(self, m: Map) -> None:
        self.m = m
        self.spec = m.spec

    def update(self, key: bytes, value: Any, flags: int = 0) -> int:
        try:
            self.m.update(key, value, flags)
        except MapError as exc:
            return -exc.errno
        return 0

    def lookup(self, key: bytes) -> tuple[int, bytes | None]:
        try:
            value = self.m.lookup(key)
        except MapError as exc:
            return -exc.errno, None
        return (-errno.ENOENT, None) if value is None else (0, value)

    def delete(self, key: bytes) -> int:
        try:
            self.m.delete(key)
        except MapError as exc:
            return -exc.errno
        return 0

    def next_key(self, key: bytes | None) -> tuple[int, bytes | None]:
        try:
            nxt = self.m.get_next_key(key)
        except MapError as exc:
            return -exc.errno, None
        return (-errno.ENOENT, None) if nxt is None else (0, nxt)

    def keys(self) -> list[bytes]:
        return list(self.m.keys())


@dataclass
class Twin:
    """One assembly file loaded twice: ``kcode`` for the kernel, ``prog`` for the VM."""
    kcode: bytes
    prog: Program
    vm: Vm
    vm_maps: dict[str, Map]
    kmaps: dict[str, KernelMap]
    host: FakeHost

    def run_kernel(self, mem: bytes) -> kernel.KernelRun:
        return kernel.run_program(self.kcode, mem)

    def run_vm(self, mem: bytes) -> tuple[int, bytes]:
        res = self.vm.run(self.prog, mem, regs={2: len(mem)})
        assert res.ctx is not None
        return res.r0, res.ctx


def kernel_insns(insns: list[Insn | None], fds: list[int]) -> bytes:
    """The kernel's bytecode for assembled instructions: by-index map references become
    by-fd ones (``fds[i]`` for the i-th ``.map``)."""
    out: list[Insn | None] = []
    for insn in insns:
        if insn is not None and insn.opcode == LD_IMM64 and \
                insn.src in (Pseudo.MAP_IDX, Pseudo.MAP_IDX_VALUE):
            src = Pseudo.MAP_FD if insn.src == Pseudo.MAP_IDX else Pseudo.MAP_VALUE
            insn = Insn(insn.opcode, insn.dst, src, 0, fds[insn.imm], insn.imm_hi)
        out.append(insn)
    return encode(out)


def twin(text: str, stack: ExitStack, *, init: dict[str, dict[bytes, bytes]] | None = None,
         freeze: tuple[str, ...] = (), host: FakeHost | None = None) -> Twin:
    """Assemble ``text`` (one program), create its maps in the kernel and in a new VM,
    fill them with ``init`` {map: {key: value}} and freeze the maps named in
    ``freeze`` on both sides."""
    res = assemble(text)
    assert len(res.programs) == 1
    host = host or FakeHost()
    vm = Vm(host=host)
    vm_maps: dict[str, Map] = {}
    kmaps: dict[str, KernelMap] = {}
    ordered: list[Map] = []
    for d in res.maps:
        spec = MapSpec(d.name, MapType(d.type_id), d.key_size, d.value_size, d.max_entries, d.flags)
        vm_maps[d.name] = m = create_map(spec, vm)
        ordered.append(m)
        kmaps[d.name] = KernelMap(spec, stack)
    for name, kv in (init or {}).items():
        for key, value in kv.items():
            vm_maps[name].update(key, value)
            assert kmaps[name].update(key, value) == 0
    for name in freeze:
        vm_maps[name].freeze()
        assert map_freeze(kmaps[name].fd) == 0
    p = res.programs[0]
    prog = Program(p.insns, name=p.name, license=res.license or "GPL", maps=ordered)
    kcode = kernel_insns(p.insns, [kmaps[d.name].fd for d in res.maps])
    return Twin(kcode, prog, vm, vm_maps, kmaps, host)
