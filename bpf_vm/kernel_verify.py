"""The host kernel's verifier on the same bytes: ``bpf-vm verify --kernel``.

A program loaded into the VM refers to maps by index (BPF_PSEUDO_MAP_IDX and
MAP_IDX_VALUE, the assembler's and the ELF loader's forms) or by the VM's fds
(BPF_PSEUDO_MAP_FD, MAP_VALUE).  For the kernel, each map it refers to is created with
bpf(2) with the same spec (type, key and value sizes, entries, flags; an array's entry 0
copied, and frozen when the VM's map is, as libbpf does for ``.rodata``), and every
reference is rewritten to the by-fd form with the kernel's fd.  Then BPF_PROG_LOAD is
asked twice when it refuses (once without a log, whose errno is the verdict's, since a
truncated log turns it into ENOSPC; once with the log) and twice when it accepts (the
second time for the log).  Syscall programs are loaded sleepable, the only way the
kernel takes them.

Only :mod:`bpf_vm.kernel` (ctypes and the raw syscall) talks to the kernel.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from . import kernel as K
from .insn import Insn, encode
from .isa import LD_IMM64, Pseudo
from .program import Program

LOG_SIZE = 16 << 20
BPF_MAP_FREEZE = 22
_ARRAY = 2   # BPF_MAP_TYPE_ARRAY
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


@dataclass
class KernelVerdict:
    """BPF_PROG_LOAD's answer: ``errno`` 0 when accepted; ``error`` the log's last line
    before the statistics when refused; ``log`` the verifier log."""
    accepted: bool
    errno: int
    log: str
    error: str | None = None


class KernelMapError(Exception):
    """A map the program needs could not be created in the kernel (one line)."""


def _name(text: str) -> str:
    """A name bpf(2) takes: [A-Za-z0-9_.], at most 15 characters."""
    return "".join(c if c in _NAME_OK else "_" for c in text)[:K.OBJ_NAME_LEN - 1]


def _freeze(fd: int) -> int:
    attr = K._BpfAttr()
    ctypes.memmove(ctypes.addressof(attr), int(fd).to_bytes(4, "little"), 4)
    _, err = K._bpf(BPF_MAP_FREEZE, attr)
    return err


def _kernel_map(m: Any, stack: ExitStack) -> int:
    spec = m.spec
    try:
        fd = stack.enter_context(K.owned_fd(K.map_create(
            int(spec.type), spec.key_size, spec.value_size, spec.max_entries, spec.flags,
            name=_name(spec.name))))
    except OSError as exc:
        raise KernelMapError(f"map '{spec.name}' could not be created in the kernel: "
                             f"{os.strerror(exc.errno or 0)}") from None
    if int(spec.type) == _ARRAY and spec.max_entries >= 1:
        try:
            value = m.lookup(0)
        except Exception:    # a write-only map: nothing to copy
            value = None
        if value is not None and any(value):
            K.map_update(fd, bytes(4), bytes(value[:spec.value_size]))
    if getattr(m, "frozen", False):
        _freeze(fd)
    return fd


def kernel_code(program: Program, vm_map_by_fd: Any, stack: ExitStack) -> bytes:
    """``program``'s bytes for bpf(2): the maps it refers to created in the kernel
    (closed with ``stack``) and every map reference rewritten to the kernel's fd."""
    fds: dict[int, int] = {}

    def fd_of(m: Any) -> int:
        if id(m) not in fds:
            fds[id(m)] = _kernel_map(m, stack)
        return fds[id(m)]

    out: list[Insn | None] = []
    for insn in program.insns:
        if insn is not None and insn.opcode == LD_IMM64 and insn.src in (
                Pseudo.MAP_IDX, Pseudo.MAP_IDX_VALUE, Pseudo.MAP_FD, Pseudo.MAP_VALUE):
            by_idx = insn.src in (Pseudo.MAP_IDX, Pseudo.MAP_IDX_VALUE)
            m = (program.maps[insn.imm] if 0 <= insn.imm < len(program.maps) else None) \
                if by_idx else vm_map_by_fd(insn.imm)
            if m is not None:
                src = Pseudo.MAP_FD if insn.src in (Pseudo.MAP_IDX, Pseudo.MAP_FD) \
                    else Pseudo.MAP_VALUE
                insn = Insn(insn.opcode, insn.dst, src, insn.off, fd_of(m), insn.imm_hi)
        out.append(insn)
    return encode(out)


def _error_line(log: str) -> str | None:
    for line in reversed(log.splitlines()):
        if line.strip() and not line.startswith(("processed ", "verification time",
                                                  "stack depth", "insn_idx ")):
            return line
    return None


def _load(code: bytes, prog_type: int, license: str, flags: int, name: str,
          log_level: int, log: ctypes.Array[ctypes.c_char] | None) -> tuple[int, int]:
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode())
    attr = K._BpfAttr()
    a = attr.load
    a.prog_type = prog_type
    a.insn_cnt = len(code) // 8
    a.insns = ctypes.addressof(insns)
    a.license = ctypes.addressof(lic)
    a.prog_flags = flags
    a.prog_name = name.encode()
    if log is not None:
        a.log_level = log_level
        a.log_size = len(log)
        a.log_buf = ctypes.addressof(log)
    for _ in range(5):   # the verifier may ask to be retried (libbpf does the same)
        fd, err = K._bpf(K.BPF_PROG_LOAD, attr)
        if err != _errno.EAGAIN:
            break
    if fd >= 0:
        os.close(fd)
    return fd, err


def kernel_verify(code: bytes, prog_type: int, *, license: str = "GPL", flags: int = 0,
                  name: str = "", log_level: int = 1) -> KernelVerdict:
    """BPF_PROG_LOAD of ``code``: the verdict and the log at ``log_level``.  Raises
    :class:`bpf_vm.kernel.KernelUnavailable` when bpf(2) itself is refused (EPERM or
    ENOSYS without a verifier log)."""
    if not code or len(code) % 8:
        return KernelVerdict(False, _errno.EINVAL, "", "program length is not a positive"
                             " multiple of 8")
    name = _name(name)
    _, err = _load(code, prog_type, license, flags, name, 0, None)
    buf = ctypes.create_string_buffer(LOG_SIZE)
    _load(code, prog_type, license, flags, name, max(log_level, 1), buf)
    log = buf.value.decode(errors="replace")
    if err in (_errno.EPERM, _errno.ENOSYS) and not log.strip():
        raise K.KernelUnavailable(err, f"BPF_PROG_LOAD refused: {os.strerror(err)}")
    if err == 0:
        return KernelVerdict(True, 0, log)
    return KernelVerdict(False, err, log, _error_line(log) or os.strerror(err))


__all__ = ["KernelMapError", "KernelVerdict", "kernel_code", "kernel_verify"]
