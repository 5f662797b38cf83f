"""The host kernel as an oracle: load bytecode with bpf(2) and run it.

The kernel is the reference for every semantic question the VM answers (instruction
results, map error codes, tail-call limits), so tests run the same bytecode here and
compare.  Only ctypes and the raw ``syscall(SYS_bpf, ...)`` are used: no libbpf, no
compiler, nothing that could itself disagree with the kernel.

Layouts follow ``union bpf_attr`` in include/uapi/linux/bpf.h; the attr is passed
zero-padded to :data:`ATTR_SIZE` bytes, which the kernel accepts as long as the bytes it
does not know are zero.  File descriptors are plain ints; close them with
:func:`close_fd` or hold them with :func:`owned_fd`.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import struct
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cache

from bpf_vm.errors import BpfError

SYS_BPF = 321  # x86_64
ATTR_SIZE = 160  # >= every union member we use; tail must stay zero
OBJ_NAME_LEN = 16

# enum bpf_cmd
BPF_MAP_CREATE = 0
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_MAP_GET_NEXT_KEY = 4
BPF_PROG_LOAD = 5
BPF_PROG_TEST_RUN = 10

# enum bpf_prog_type (the ones we use)
BPF_PROG_TYPE_SOCKET_FILTER = 1
BPF_PROG_TYPE_KPROBE = 2
BPF_PROG_TYPE_SYSCALL = 31

# enum bpf_map_type (the ones we use)
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_PROG_ARRAY = 3

# BPF_MAP_UPDATE_ELEM flags
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2

# prog_flags
BPF_F_SLEEPABLE = 1 << 4

BPF_PSEUDO_MAP_FD = 1
HELPER_MAP_LOOKUP_ELEM = 1
HELPER_TAIL_CALL = 12

LOG_BUF_SIZE = 4 << 20
SOCKET_FILTER_DATA_LEN = 64  # test_run_skb wants at least ETH_HLEN (14) bytes
MAX_SYSCALL_CTX = 0xFFFF  # bpf_prog_test_run_syscall refuses ctx_size_in > U16_MAX


class KernelUnavailable(BpfError):
    """bpf(2) itself is refused here (no permission, not compiled in, seccomp), so the
    oracle cannot be asked; tests skip rather than fail."""

    def __init__(self, errno: int, message: str) -> None:
        self.errno = errno
        super().__init__(message)


_LOG_STATS = ("processed ", "verification time", "stack depth", "insn_idx ")


class KernelReject(BpfError):
    """The kernel's verifier refused the program.  ``errno`` is the positive errno from
    BPF_PROG_LOAD and ``log`` the verifier log, which says which instruction and why."""

    def __init__(self, errno: int, log: str) -> None:
        self.errno = errno
        self.log = log
        # the verdict is the last line before the statistics the verifier appends
        lines = [line for line in log.splitlines()
                 if line.strip() and not line.startswith(_LOG_STATS)]
        last = lines[-1] if lines else "(no verifier log)"
        super().__init__(f"kernel rejected the program ({_errno.errorcode.get(errno, errno)}): "
                         f"{last}")


class KernelRunError(BpfError):
    """The program loaded but BPF_PROG_TEST_RUN refused to run it.  For syscall programs
    EINVAL means the program touches the context beyond ``len(mem)`` (the kernel checks
    the largest constant ctx offset against ctx_size_in before running)."""

    def __init__(self, errno: int, message: str) -> None:
        self.errno = errno
        super().__init__(message)


@dataclass(frozen=True)
class TestRunResult:
    """What BPF_PROG_TEST_RUN reports.  ``retval`` is 32 bits wide (bpf_attr.test.retval
    is a __u32)."""

    __test__ = False  # not a pytest class despite the name

    retval: int
    ctx_out: bytes | None
    data_out: bytes | None
    duration_ns: int


@dataclass(frozen=True)
class KernelRun:
    """Result of :func:`run_program`.  The kernel reports only the low 32 bits of r0,
    so compare ``r0`` with the VM's ``r0 & ((1 << r0_bits) - 1)``."""

    r0: int
    mem: bytes | None
    r0_bits: int = 32


@dataclass(frozen=True)
class TailCallRules:
    """Tail-call limits as this kernel applies them.

    ``max_chain``: successful tail calls in one run before bpf_tail_call starts failing.
    ``empty_slot_counts`` / ``out_of_range_counts``: whether a failed tail call to an
    empty slot / an index >= max_entries uses up part of that budget."""

    max_chain: int
    empty_slot_counts: bool
    out_of_range_counts: bool


# --- union bpf_attr members -------------------------------------------------------

class _MapCreateAttr(ctypes.Structure):
    _fields_ = [
        ("map_type", ctypes.c_uint32),
        ("key_size", ctypes.c_uint32),
        ("value_size", ctypes.c_uint32),
        ("max_entries", ctypes.c_uint32),
        ("map_flags", ctypes.c_uint32),
        ("inner_map_fd", ctypes.c_uint32),
        ("numa_node", ctypes.c_uint32),
        ("map_name", ctypes.c_char * OBJ_NAME_LEN),
    ]


class _MapElemAttr(ctypes.Structure):
    _fields_ = [
        ("map_fd", ctypes.c_uint32),
        ("key", ctypes.c_uint64),
        ("value", ctypes.c_uint64),  # also next_key
        ("flags", ctypes.c_uint64),
    ]


class _ProgLoadAttr(ctypes.Structure):
    _fields_ = [
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("prog_name", ctypes.c_char * OBJ_NAME_LEN),
        ("prog_ifindex", ctypes.c_uint32),
        ("expected_attach_type", ctypes.c_uint32),
    ]


class _TestRunAttr(ctypes.Structure):
    _fields_ = [
        ("prog_fd", ctypes.c_uint32),
        ("retval", ctypes.c_uint32),
        ("data_size_in", ctypes.c_uint32),
        ("data_size_out", ctypes.c_uint32),
        ("data_in", ctypes.c_uint64),
        ("data_out", ctypes.c_uint64),
        ("repeat", ctypes.c_uint32),
        ("duration", ctypes.c_uint32),
        ("ctx_size_in", ctypes.c_uint32),
        ("ctx_size_out", ctypes.c_uint32),
        ("ctx_in", ctypes.c_uint64),
        ("ctx_out", ctypes.c_uint64),
        ("flags", ctypes.c_uint32),
        ("cpu", ctypes.c_uint32),
        ("batch_size", ctypes.c_uint32),
    ]


class _BpfAttr(ctypes.Union):
    _fields_ = [
        ("map_create", _MapCreateAttr),
        ("elem", _MapElemAttr),
        ("load", _ProgLoadAttr),
        ("test", _TestRunAttr),
        ("_pad", ctypes.c_uint8 * ATTR_SIZE),
    ]


assert ctypes.sizeof(_BpfAttr) == ATTR_SIZE
# offsets from include/uapi/linux/bpf.h; a wrong layout would silently pass garbage
assert (_TestRunAttr.ctx_in.offset, _TestRunAttr.batch_size.offset) == (48, 72)
assert (_ProgLoadAttr.prog_name.offset, _ProgLoadAttr.expected_attach_type.offset) == (48, 68)
assert (_MapElemAttr.key.offset, _MapCreateAttr.map_name.offset) == (8, 28)

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: _BpfAttr) -> tuple[int, int]:
    """One bpf(2) call; returns (result, errno) with errno 0 on success.  EINTR is
    retried because a signal must not look like a kernel verdict."""
    while True:
        ctypes.set_errno(0)
        res = _syscall(ctypes.c_long(SYS_BPF), ctypes.c_long(cmd), ctypes.byref(attr),
                       ctypes.c_long(ATTR_SIZE))
        if res >= 0:
            return int(res), 0
        err = ctypes.get_errno()
        if err != _errno.EINTR:
            return -1, err


def _addr(buf: ctypes.Array[ctypes.c_char] | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


def _raise_os(err: int, what: str) -> None:
    if err in (_errno.EPERM, _errno.ENOSYS):
        raise KernelUnavailable(err, f"{what}: bpf(2) refused ({os.strerror(err)})")
    raise OSError(err, f"{what}: {os.strerror(err)}")


def close_fd(fd: int) -> None:
    """Close a map or program fd; closing the last fd frees the kernel object."""
    os.close(fd)


@contextmanager
def owned_fd(fd: int) -> Iterator[int]:
    """Hold ``fd`` for a ``with`` block and close it however the block ends."""
    try:
        yield fd
    finally:
        os.close(fd)


# --- programs -----------------------------------------------------------------------

def prog_load(code: bytes, prog_type: int, *, license: str = "GPL", flags: int = 0,
              expected_attach_type: int = 0, log_level: int = 1, name: str = "") -> int:
    """Load ``code`` and return the program fd.

    The first attempt runs without a log (fast path); on failure the load is retried with
    a log buffer so :class:`KernelReject` carries the verifier's explanation.  The errno is
    the first attempt's: with a log the kernel may report ENOSPC for a truncated log
    instead.  EPERM/ENOSYS without any log means bpf(2) itself is refused."""
    if len(code) % 8 or not code:
        raise ValueError(f"program length {len(code)} is not a positive multiple of 8")
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode())

    def attempt(level: int, log: ctypes.Array[ctypes.c_char] | None) -> tuple[int, int]:
        attr = _BpfAttr()
        a = attr.load
        a.prog_type = prog_type
        a.insn_cnt = len(code) // 8
        a.insns = _addr(insns)
        a.license = _addr(lic)
        a.prog_flags = flags
        a.prog_name = name.encode()[:OBJ_NAME_LEN - 1]
        a.expected_attach_type = expected_attach_type
        if log is not None:
            a.log_level = level
            a.log_size = len(log)
            a.log_buf = _addr(log)
        for _ in range(5):  # the verifier may ask to be retried (libbpf does the same)
            fd, err = _bpf(BPF_PROG_LOAD, attr)
            if err != _errno.EAGAIN:
                break
        return fd, err

    fd, err = attempt(0, None)
    if err == 0:
        return fd
    log_buf = ctypes.create_string_buffer(LOG_BUF_SIZE)
    fd2, _ = attempt(max(log_level, 1), log_buf)
    if fd2 >= 0:  # accepted the second time (should not happen); do not leak it
        return fd2
    log = log_buf.value.decode(errors="replace")
    if err in (_errno.EPERM, _errno.ENOSYS) and not log.strip():
        raise KernelUnavailable(err, f"BPF_PROG_LOAD refused: {os.strerror(err)}")
    raise KernelReject(err, log)


def prog_test_run(fd: int, *, ctx_in: bytes | None = None, data_in: bytes | None = None,
                  repeat: int = 1, ctx_out_size: int = 0,
                  data_out_size: int = 0) -> TestRunResult:
    """Run a loaded program once (or ``repeat`` times) with BPF_PROG_TEST_RUN.

    ``ctx_out`` is the ctx_out buffer when ``ctx_out_size`` is given; otherwise it is the
    ctx_in buffer as the kernel left it, because syscall programs get their context
    copied back there (other types leave it unchanged).  Syscall programs require
    ``repeat=0``; the kernel answers EINVAL otherwise."""
    attr = _BpfAttr()
    t = attr.test
    t.prog_fd = fd
    t.repeat = repeat
    ctx_buf = ctypes.create_string_buffer(ctx_in, len(ctx_in)) if ctx_in else None
    data_buf = ctypes.create_string_buffer(data_in, len(data_in)) if data_in else None
    ctx_out = ctypes.create_string_buffer(ctx_out_size) if ctx_out_size else None
    data_out = ctypes.create_string_buffer(data_out_size) if data_out_size else None
    t.ctx_in, t.ctx_size_in = _addr(ctx_buf), len(ctx_in or b"")
    t.data_in, t.data_size_in = _addr(data_buf), len(data_in or b"")
    t.ctx_out, t.ctx_size_out = _addr(ctx_out), ctx_out_size
    t.data_out, t.data_size_out = _addr(data_out), data_out_size
    _, err = _bpf(BPF_PROG_TEST_RUN, attr)
    if err:
        _raise_os(err, "BPF_PROG_TEST_RUN")
    if ctx_out is not None:
        ctx_res: bytes | None = ctx_out.raw[:min(t.ctx_size_out, ctx_out_size)]
    else:
        ctx_res = ctx_buf.raw if ctx_buf is not None else None
    data_res = data_out.raw[:min(t.data_size_out, data_out_size)] if data_out else None
    return TestRunResult(retval=t.retval, ctx_out=ctx_res, data_out=data_res,
                         duration_ns=t.duration)


# --- maps ---------------------------------------------------------------------------

def map_create(map_type: int, key_size: int, value_size: int, max_entries: int,
               flags: int = 0, name: str = "") -> int:
    """Create a map and return its fd; raises OSError (or KernelUnavailable) on refusal."""
    attr = _BpfAttr()
    m = attr.map_create
    m.map_type, m.key_size, m.value_size = map_type, key_size, value_size
    m.max_entries, m.map_flags = max_entries, flags
    m.map_name = name.encode()[:OBJ_NAME_LEN - 1]
    fd, err = _bpf(BPF_MAP_CREATE, attr)
    if err:
        _raise_os(err, "BPF_MAP_CREATE")
    return fd


def _elem_call(cmd: int, fd: int, key: bytes | None, value: ctypes.Array[ctypes.c_char] | None,
               flags: int = 0) -> int:
    kbuf = ctypes.create_string_buffer(key, len(key)) if key is not None else None
    attr = _BpfAttr()
    e = attr.elem
    e.map_fd, e.key, e.value, e.flags = fd, _addr(kbuf), _addr(value), flags
    _, err = _bpf(cmd, attr)
    return err


def map_update(fd: int, key: bytes, value: bytes, flags: int = BPF_ANY) -> int:
    """BPF_MAP_UPDATE_ELEM from user space; returns 0 or -errno, never raises, because
    tests compare this code with what the VM's map returns."""
    vbuf = ctypes.create_string_buffer(value, len(value))
    return -_elem_call(BPF_MAP_UPDATE_ELEM, fd, key, vbuf, flags)


def map_lookup(fd: int, key: bytes, value_size: int) -> bytes | None:
    """The value stored under ``key``, or None when there is none (ENOENT)."""
    vbuf = ctypes.create_string_buffer(value_size)
    err = _elem_call(BPF_MAP_LOOKUP_ELEM, fd, key, vbuf)
    if err == _errno.ENOENT:
        return None
    if err:
        _raise_os(err, "BPF_MAP_LOOKUP_ELEM")
    return vbuf.raw


def map_delete(fd: int, key: bytes) -> int:
    """BPF_MAP_DELETE_ELEM; returns 0 or -errno (arrays give -EINVAL: they cannot delete)."""
    return -_elem_call(BPF_MAP_DELETE_ELEM, fd, key, None)


def map_get_next_key(fd: int, key: bytes | None, key_size: int) -> bytes | None:
    """The key after ``key`` (the first key when ``key`` is None), or None at the end."""
    nbuf = ctypes.create_string_buffer(key_size)
    err = _elem_call(BPF_MAP_GET_NEXT_KEY, fd, key, nbuf)
    if err == _errno.ENOENT:
        return None
    if err:
        _raise_os(err, "BPF_MAP_GET_NEXT_KEY")
    return nbuf.raw


# --- hand-assembled bytecode ----------------------------------------------------------

_INSN = struct.Struct("<BBhi")


def _insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return _INSN.pack(op, dst | src << 4, off, imm)


def _ld_map_fd(dst: int, map_fd: int) -> bytes:
    """ld_imm64 with src_reg = BPF_PSEUDO_MAP_FD: the verifier swaps the fd for the map."""
    return _insn(0x18, dst, BPF_PSEUDO_MAP_FD, 0, map_fd) + _insn(0)


_MOV64_IMM, _MOV64_REG, _ADD64_IMM = 0xB7, 0xBF, 0x07
_LDX_W, _LDX_DW, _STX_DW, _ST_W = 0x61, 0x79, 0x7B, 0x62
_JEQ_IMM, _JNE_IMM, _CALL, _EXIT = 0x15, 0x55, 0x85, 0x95

_TRIVIAL = _insn(_MOV64_IMM, 0, imm=0) + _insn(_EXIT)


@cache
def kernel_unavailable_reason() -> str | None:
    """None if this kernel loads and test-runs a trivial sleepable syscall program
    (what :func:`run_program` needs); otherwise a one-line reason for a pytest skip."""
    try:
        with owned_fd(prog_load(_TRIVIAL, BPF_PROG_TYPE_SYSCALL, flags=BPF_F_SLEEPABLE,
                                name="probe")) as fd:
            prog_test_run(fd, repeat=0)
    except KernelReject as exc:
        return f"kernel refuses BPF_PROG_TYPE_SYSCALL programs: {exc}"
    except (BpfError, OSError) as exc:
        return f"bpf(2) unavailable: {exc}"
    return None


# --- the oracle -----------------------------------------------------------------------

def run_program(code: bytes, mem: bytes | None = None) -> KernelRun:
    """Run ``code`` in the kernel under the conformance convention (r1 = mem, r2 = len).

    The program is loaded as a sleepable BPF_PROG_TYPE_SYSCALL program, the one type whose
    context is plain caller memory: BPF_PROG_TEST_RUN copies ``mem`` in as the context and
    copies it back afterwards, so stores are visible in ``KernelRun.mem``.  The kernel only
    sets r1, so with ``mem`` one instruction ``r2 = len(mem)`` is prepended (relative jumps
    and calls do not move).  Without ``mem`` r1 is NULL and nothing is prepended.

    ``r0`` is truncated: the kernel hands back bpf_attr.test.retval, a __u32, so only
    ``r0 & 0xffffffff`` is observable (``KernelRun.r0_bits == 32``)."""
    if mem is not None:
        if len(mem) > MAX_SYSCALL_CTX:
            raise ValueError(f"mem of {len(mem)} bytes: the kernel takes at most "
                             f"{MAX_SYSCALL_CTX} bytes of syscall-program context")
        code = _insn(_MOV64_IMM, 2, imm=len(mem)) + code
    with owned_fd(prog_load(code, BPF_PROG_TYPE_SYSCALL, flags=BPF_F_SLEEPABLE,
                            name="oracle")) as fd:
        try:
            res = prog_test_run(fd, ctx_in=mem or None, repeat=0)
        except OSError as exc:
            err = exc.errno or 0
            raise KernelRunError(err, f"BPF_PROG_TEST_RUN refused: {os.strerror(err)} "
                                 f"(len(mem)={len(mem or b'')}; a ctx access beyond it "
                                 "gives EINVAL)") from exc
    out = None if mem is None else (res.ctx_out or b"")
    return KernelRun(r0=res.retval & 0xFFFFFFFF, mem=out)


# --- tail-call rules ------------------------------------------------------------------

_PROG_SLOTS = 4          # prog array size: slot 0 = the program itself, slot 1 stays empty
_EMPTY_SLOT = 1
_OUT_OF_RANGE = _PROG_SLOTS
_FAILED_ATTEMPTS = 10    # failed tail calls made before the chain starts
# counter map value: u64 runs; u32 self index (0); u32 index for the failing calls
_COUNTER_VALUE = struct.Struct("<QII")


def _tail_call_prog(counter_fd: int, progs_fd: int, failed: int, const_index: int | None
                    ) -> bytes:
    """A socket filter that bumps the run counter, on its first run makes ``failed``
    tail calls that must fail, then tail-calls slot 0 (itself).

    Indices come from the counter map value (unknown to the verifier, so the JIT emits
    the indirect tail call, as the per-syscall dispatcher's runtime ``nr`` does) unless
    ``const_index`` is given: then the failing index is that constant and the self call
    uses constant 0, which lets the verifier patch direct jumps."""
    def tail_call(index_off: int, const: int | None) -> bytes:
        load_idx = (_insn(_MOV64_IMM, 3, imm=const) if const is not None
                    else _insn(_LDX_W, 3, 7, index_off))
        return (_insn(_MOV64_REG, 1, 6) + _ld_map_fd(2, progs_fd) + load_idx
                + _insn(_CALL, imm=HELPER_TAIL_CALL))

    fail_block = tail_call(12, const_index) * failed
    chain = tail_call(8, 0 if const_index is not None else None)
    out = _insn(_MOV64_IMM, 0, imm=0) + _insn(_EXIT)
    guard = _insn(_JNE_IMM, 1, off=len(fail_block) // 8, imm=1) if failed else b""
    body = (_insn(_LDX_DW, 1, 7, 0) + _insn(_ADD64_IMM, 1, imm=1) + _insn(_STX_DW, 7, 1, 0)
            + guard + fail_block + chain)
    head = (_insn(_MOV64_REG, 6, 1)                      # r6 = ctx
            + _insn(_ST_W, 10, off=-4, imm=0)            # *(u32 *)(r10 - 4) = 0
            + _insn(_MOV64_REG, 2, 10) + _insn(_ADD64_IMM, 2, imm=-4)
            + _ld_map_fd(1, counter_fd)
            + _insn(_CALL, imm=HELPER_MAP_LOOKUP_ELEM)
            + _insn(_JEQ_IMM, 0, off=1 + len(body) // 8, imm=0)  # NULL: goto out
            + _insn(_MOV64_REG, 7, 0))                   # r7 = &value
    return head + body + out


def _count_runs(failed: int, fail_index: int, const_index: bool) -> int:
    """Load a fresh self-tail-calling program, run it once, return how many times its
    body ran (1 + successful tail calls)."""
    with ExitStack() as stack:
        counter = stack.enter_context(owned_fd(map_create(
            BPF_MAP_TYPE_ARRAY, 4, _COUNTER_VALUE.size, 1, name="tc_counter")))
        progs = stack.enter_context(owned_fd(map_create(
            BPF_MAP_TYPE_PROG_ARRAY, 4, 4, _PROG_SLOTS, name="tc_progs")))
        code = _tail_call_prog(counter, progs, failed,
                               fail_index if const_index else None)
        prog = stack.enter_context(owned_fd(prog_load(
            code, BPF_PROG_TYPE_SOCKET_FILTER, name="tc_self")))
        key0 = struct.pack("<I", 0)
        if rc := map_update(progs, key0, struct.pack("<I", prog)):
            raise OSError(-rc, f"prog array update: {os.strerror(-rc)}")
        if rc := map_update(counter, key0, _COUNTER_VALUE.pack(0, 0, fail_index)):
            raise OSError(-rc, f"counter reset: {os.strerror(-rc)}")
        prog_test_run(prog, data_in=bytes(SOCKET_FILTER_DATA_LEN), repeat=1)
        value = map_lookup(counter, key0, _COUNTER_VALUE.size)
        assert value is not None  # an array always has slot 0
        runs: int = _COUNTER_VALUE.unpack(value)[0]
        # a prog array holding its own program is a reference cycle; the kernel clears
        # the array when its last user fd closes, but be explicit
        map_delete(progs, key0)
        return runs


def measure_tail_call_rules(*, const_index: bool = False) -> TailCallRules:
    """Measure MAX_TAIL_CALL_CNT and what failed tail calls cost, on this kernel.

    Socket filters (which may tail call and can be test-run) chain into themselves through
    a prog array and count their runs in an array map.  A failed call "counts" if making
    ``_FAILED_ATTEMPTS`` of them first shortens the chain.  By default indices are
    runtime values (the dispatcher's case); ``const_index=True`` measures the
    constant-key path instead, which the x86-64 JIT compiles to patched direct jumps."""
    max_chain = _count_runs(0, _EMPTY_SLOT, const_index) - 1
    empty = _count_runs(_FAILED_ATTEMPTS, _EMPTY_SLOT, const_index) - 1
    out_of_range = _count_runs(_FAILED_ATTEMPTS, _OUT_OF_RANGE, const_index) - 1
    return TailCallRules(max_chain=max_chain, empty_slot_counts=empty < max_chain,
                         out_of_range_counts=out_of_range < max_chain)
