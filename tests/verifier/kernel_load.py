"""The host kernel's verdict on a corpus record, for the verifier's differential corpus.

A record (tests/verifier/corpus/*.jsonl) carries its bytecode with map references by
index: ``ld_imm64`` with src_reg 1 (BPF_PSEUDO_MAP_FD) or 2 (BPF_PSEUDO_MAP_VALUE) has
imm = the position of the map in the record's ``maps`` list.  :class:`KernelMaps`
creates those maps with bpf(2) and :func:`substitute` puts their fds in; an index past
the list is left as it is (the kernel then names that fd in its error).

:func:`load` asks BPF_PROG_LOAD twice when the program is refused: once without a log
(the errno is that attempt's, since a truncated log turns a verdict into ENOSPC), then
with a level-1 log in the kernel's rotating mode, whose tail holds the error line.  An
accepted program may be kept open (``keep=True``) to be test-run, and its log may be
asked for (``log_on_success=True``), which costs a second load.

Only bpf_vm.kernel (ctypes and the raw syscall) is used, nothing of the VM itself.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import re
import struct
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from bpf_vm import kernel as K
from bpf_vm._generated_map_types import MAP_TYPES  # the uapi enum, a plain dict

PROG_TYPES = {"socket_filter": 1, "kprobe": 2, "tracepoint": 5, "raw_tracepoint": 17,
              "syscall": 31}
STATS_PREFIXES = ("processed ", "verification time", "stack depth", "insn_idx ")
LOG_SIZE = 16 << 20
BPF_MAP_FREEZE = 22
PSEUDO_MAP_FD, PSEUDO_MAP_VALUE = 1, 2
LD_IMM64 = 0x18
_INSN = struct.Struct("<BBhi")


@dataclass
class Verdict:
    """What BPF_PROG_LOAD said.  ``error`` is the kernel's error line (None when
    accepted), ``processed`` the instruction count of the statistics line when the log
    had one, ``fd`` the program when loaded with ``keep=True``."""
    accepted: bool
    errno: int
    error: str | None
    log: str = ""
    processed: int | None = None
    fd: int | None = None

    def as_record(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "errno": self.errno, "error": self.error}


class BpfRefused(Exception):
    """bpf(2) itself is refused here (EPERM/ENOSYS with no verifier log)."""


_GLUED_STATS = re.compile(r"processed \d+ insns \(limit \d+\).*$")


def error_line(log: str) -> str | None:
    """The last non-empty line of a verifier log that is not a statistics line.  A few
    kernel messages lack their newline, so the statistics line is glued to them
    ('expected prog array map for tail callprocessed 3 insns ...'): that tail is cut."""
    for line in reversed(log.splitlines()):
        if line.strip() and not line.startswith(STATS_PREFIXES):
            return _GLUED_STATS.sub("", line).rstrip() or None
    return None


def processed_count(log: str) -> int | None:
    for line in reversed(log.splitlines()):
        if line.startswith("processed "):
            try:
                return int(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def substitute(code: bytes, fds: list[int]) -> bytes:
    """``code`` with the map indices of ld_imm64 MAP_FD/MAP_VALUE replaced by ``fds``."""
    out = bytearray(code)
    pc, n = 0, len(code) // 8
    while pc < n:
        op, regs, off, imm = _INSN.unpack_from(out, pc * 8)
        if op == LD_IMM64:
            if regs >> 4 in (PSEUDO_MAP_FD, PSEUDO_MAP_VALUE) and 0 <= imm < len(fds):
                _INSN.pack_into(out, pc * 8, op, regs, off, fds[imm])
            pc += 2
        else:
            pc += 1
    return bytes(out)


def map_freeze(fd: int) -> int:
    """BPF_MAP_FREEZE: 0 or the errno."""
    attr = K._BpfAttr()
    attr.elem.map_fd = fd
    _, err = K._bpf(BPF_MAP_FREEZE, attr)
    return err


def map_type_id(name: str | int) -> int:
    return name if isinstance(name, int) else MAP_TYPES[name]


class KernelMaps(AbstractContextManager["KernelMaps"]):
    """The kernel maps of one record, created on entry and closed on exit.  A map spec
    is {type, key_size, value_size, max_entries} plus optional ``flags``, ``init`` (hex
    bytes stored at key 0) and ``freeze`` (BPF_MAP_FREEZE after ``init``)."""

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        self.specs = specs
        self.fds: list[int] = []

    def __enter__(self) -> KernelMaps:
        try:
            for i, s in enumerate(self.specs):
                fd = K.map_create(map_type_id(s["type"]), s["key_size"], s["value_size"],
                                  s["max_entries"], s.get("flags", 0), name=f"m{i}")
                self.fds.append(fd)
                if s.get("init"):
                    rc = K.map_update(fd, bytes(4), bytes.fromhex(s["init"]))
                    if rc:
                        raise OSError(-rc, f"map {i}: initial value: {os.strerror(-rc)}")
                if s.get("freeze") and (err := map_freeze(fd)):
                    raise OSError(err, f"map {i}: BPF_MAP_FREEZE: {os.strerror(err)}")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for fd in self.fds:
            K.close_fd(fd)
        self.fds = []

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- BTF func_info: what BPF-to-BPF calls with callbacks and tail calls need ------------

BTF_KIND_INT, BTF_KIND_FUNC, BTF_KIND_FUNC_PROTO = 1, 12, 13
BPF_BTF_LOAD = 18
BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC = 1, 4


def subprog_starts(code: bytes) -> list[int]:
    """Where the kernel's subprograms start: 0, the targets of BPF-to-BPF calls and of
    ld_imm64 function pointers (in range only: the kernel refuses the others)."""
    n = len(code) // 8
    starts = {0}
    pc = 0
    while pc < n:
        op, regs, _off, imm = _INSN.unpack_from(code, pc * 8)
        src = regs >> 4
        is_call = op == 0x85 and src == BPF_PSEUDO_CALL
        if (is_call or (op == LD_IMM64 and src == BPF_PSEUDO_FUNC)) and 0 <= pc + 1 + imm < n:
            starts.add(pc + 1 + imm)
        pc += 2 if op == LD_IMM64 else 1
    return sorted(starts)


def func_btf(nfuncs: int) -> bytes:
    """A BTF blob: ``int``, ``int (void)`` and static functions f0..f{n-1} of that type
    (type ids 3..n+2), the least a func_info needs."""
    strings = b"\0int\0" + b"".join(f"f{i}\0".encode() for i in range(nfuncs))
    types = struct.pack("<IIII", 1, BTF_KIND_INT << 24, 4, 1 << 24 | 32)
    types += struct.pack("<III", 0, BTF_KIND_FUNC_PROTO << 24, 1)
    off = 5
    for i in range(nfuncs):
        types += struct.pack("<III", off, BTF_KIND_FUNC << 24, 2)
        off += len(f"f{i}") + 1
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                         len(strings))
    return header + types + strings


def btf_load(blob: bytes) -> int:
    buf = ctypes.create_string_buffer(blob, len(blob))
    attr = (ctypes.c_uint8 * K.ATTR_SIZE)()
    struct.pack_into("<QQII", attr, 0, ctypes.addressof(buf), 0, len(blob), 0)
    fd, err = K._bpf(BPF_BTF_LOAD, attr)  # type: ignore[arg-type]
    if err:
        raise OSError(err, f"BPF_BTF_LOAD: {os.strerror(err)}")
    return fd


class _LoadAttr(ctypes.Structure):
    """bpf_attr for BPF_PROG_LOAD up to line_info_cnt: bpf_vm.kernel's stops before
    prog_btf_fd."""
    _fields_ = [*K._ProgLoadAttr._fields_,
                ("prog_btf_fd", ctypes.c_uint32), ("func_info_rec_size", ctypes.c_uint32),
                ("func_info", ctypes.c_uint64), ("func_info_cnt", ctypes.c_uint32),
                ("line_info_rec_size", ctypes.c_uint32), ("line_info", ctypes.c_uint64),
                ("line_info_cnt", ctypes.c_uint32)]


class _Attr(ctypes.Union):
    _fields_ = [("load", _LoadAttr), ("_pad", ctypes.c_uint8 * K.ATTR_SIZE)]


assert _LoadAttr.func_info.offset == 80 and ctypes.sizeof(_Attr) == K.ATTR_SIZE


def _attempt(code: bytes, prog_type: int, license: str, level: int,
             log: ctypes.Array[ctypes.c_char] | None, flags: int,
             btf: tuple[int, bytes, int] | None = None) -> tuple[int, int]:
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode())
    attr = _Attr()
    a = attr.load
    a.prog_type = prog_type
    a.insn_cnt = len(code) // 8
    a.insns = K._addr(insns)
    a.license = K._addr(lic)
    a.prog_flags = flags
    a.prog_name = b"corpus"
    if log is not None:
        a.log_level, a.log_size, a.log_buf = level, len(log), K._addr(log)
    if btf is not None:
        btf_fd, info, count = btf
        info_buf = ctypes.create_string_buffer(info, len(info))
        a.prog_btf_fd, a.func_info_rec_size = btf_fd, 8
        a.func_info, a.func_info_cnt = K._addr(info_buf), count
    for _ in range(5):      # the verifier may ask to be retried, as libbpf does
        fd, err = K._bpf(K.BPF_PROG_LOAD, attr)  # type: ignore[arg-type]
        if err != _errno.EAGAIN:
            return fd, err
    return fd, err


def load(code: bytes, prog_type: str | int, *, license: str = "GPL",
         fds: list[int] | None = None, log_level: int = 1, flags: int = 0,
         keep: bool = False, log_on_success: bool = False,
         func_info: bool = False) -> Verdict:
    """Load ``code`` (map indices already replaced when ``fds`` is None) and return the
    kernel's verdict; raises :class:`BpfRefused` when bpf(2) itself is refused.

    ``func_info``: give the program BTF and a func_info naming every subprogram a
    static ``int f(void)`` (:func:`func_btf`), as a loader with BTF would; the kernel
    wants one for callbacks and for tail calls in subprograms."""
    ptype = PROG_TYPES[prog_type] if isinstance(prog_type, str) else prog_type
    if fds is not None:
        code = substitute(code, fds)
    if func_info:
        starts = subprog_starts(code)
        btf_fd = btf_load(func_btf(len(starts)))
        info = b"".join(struct.pack("<II", pc, 3 + i) for i, pc in enumerate(starts))
        try:
            return _load(code, ptype, license, log_level, flags, keep, log_on_success,
                         (btf_fd, info, len(starts)))
        finally:
            K.close_fd(btf_fd)
    return _load(code, ptype, license, log_level, flags, keep, log_on_success, None)


def _load(code: bytes, ptype: int, license: str, log_level: int, flags: int, keep: bool,
          log_on_success: bool, btf: tuple[int, bytes, int] | None) -> Verdict:
    fd, err = _attempt(code, ptype, license, 0, None, flags, btf)
    if err == 0:
        log = ""
        if log_on_success:
            buf = ctypes.create_string_buffer(LOG_SIZE)
            fd2, _ = _attempt(code, ptype, license, log_level, buf, flags, btf)
            if fd2 >= 0:
                K.close_fd(fd2)
            log = buf.value.decode(errors="replace")
        if not keep:
            K.close_fd(fd)
        return Verdict(True, 0, None, log, processed_count(log), fd if keep else None)
    buf = ctypes.create_string_buffer(LOG_SIZE)
    fd2, _ = _attempt(code, ptype, license, max(log_level, 1), buf, flags, btf)
    if fd2 >= 0:            # accepted the second time: should not happen
        K.close_fd(fd2)
    log = buf.value.decode(errors="replace")
    if err in (_errno.EPERM, _errno.ENOSYS) and not log.strip():
        raise BpfRefused(f"BPF_PROG_LOAD refused: {os.strerror(err)}")
    return Verdict(False, err, error_line(log), log, processed_count(log))


def load_record(rec: dict[str, Any], *, keep: bool = False,
                log_on_success: bool = False) -> tuple[Verdict, KernelMaps]:
    """Create the record's maps and load it.  The maps stay open (the caller closes the
    returned :class:`KernelMaps`), so a kept program can be test-run with them."""
    maps = KernelMaps(rec.get("maps", []))
    maps.__enter__()
    try:
        v = load(bytes.fromhex(rec["insns"]), rec["prog_type"], license=rec.get("license",
                 "GPL"), fds=maps.fds, keep=keep, log_on_success=log_on_success,
                 flags=rec.get("prog_flags", 0), func_info=rec.get("func_info", False))
    except BaseException:
        maps.close()
        raise
    return v, maps


def unavailable_reason() -> str | None:
    """None when bpf(2) loads a trivial socket filter here, else why not."""
    try:
        v = load(_INSN.pack(0xB7, 0, 0, 0) + _INSN.pack(0x95, 0, 0, 0), "socket_filter")
    except BpfRefused as exc:
        return str(exc)
    except OSError as exc:
        return f"bpf(2) unavailable: {exc}"
    return None if v.accepted else f"the kernel refuses a trivial program: {v.error}"


def test_run(fd: int, ctx: bytes) -> tuple[int, bytes]:
    """BPF_PROG_TEST_RUN of a syscall program on ``ctx``: (r0's low 32 bits, the
    context after the run)."""
    res = K.prog_test_run(fd, ctx_in=ctx, repeat=0)
    return res.retval, res.ctx_out or b""


test_run.__test__ = False   # type: ignore[attr-defined]  # not a pytest test
