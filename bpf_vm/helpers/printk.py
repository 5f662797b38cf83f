"""bpf_trace_printk, bpf_trace_vprintk and bpf_snprintf (kernel/trace/bpf_trace.c,
kernel/bpf/helpers.c), with trace_pipe's line format.

Each printk call becomes one line handed to ``host.printk``, formatted as trace_pipe
prints the bpf_trace_printk event (kernel/trace/trace_output.c, trace_print_context)::

    "%16s-%-7d [%03d] d..31 %5lu.%06lu: bpf_trace_printk: <text>"

comm right-aligned in 16 columns, the thread id, CPU 000, the fixed irq/preempt flags
``d..31``, the host's CLOCK_MONOTONIC in seconds and microseconds.  The line ends where
the text ends: one trailing newline of the text is dropped rather than doubled (the
event's own line end replaces it), and the text stops at a NUL (``%c`` of 0), as the
event's string does.  The helper returns the full formatted length, as the kernel does.
A host whose ``printk_enabled`` is False (no sink) gets no line: the text is formatted
for its length, but comm, clock and the line are not asked for.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ..helper_table import ArgType, HelperFault, RetType
from ._mem import (
    M32,
    compat_reader,
    host_of,
    kernel_reader,
    prog_read,
    prog_write,
    read_cstr,
    user_reader,
)
from ._registry import BUILTIN
from .bprintf import (
    MAX_BPRINTF_BUF,
    MAX_BPRINTF_VARARGS,
    MAX_TRACE_PRINTK_VARARGS,
    KernelSource,
    Piece,
    StringSource,
    bind,
    bstr_printf,
    check,
    render,
)

if TYPE_CHECKING:
    from ..vm import RunState

TRACE_FLAGS = "d..31"
UINT_MAX = 0xFFFFFFFF


def trace_pipe_line(comm: bytes, pid: int, ktime_ns: int, text: bytes, cpu: int = 0) -> str:
    """One trace_pipe line for a bpf_trace_printk event."""
    usecs = ktime_ns // 1000
    secs, usec = divmod(usecs, 1_000_000)
    body = text.split(b"\0", 1)[0]
    if body.endswith(b"\n"):
        body = body[:-1]
    name = comm.decode("utf-8", "replace")
    return (f"{name:>16}-{pid:<7} [{cpu:03d}] {TRACE_FLAGS} {secs:5d}.{usec:06d}: "
            f"bpf_trace_printk: {body.decode('utf-8', 'replace')}")


def _sources(state: RunState) -> tuple[StringSource, KernelSource]:
    def strings(ptype: str, addr: int, bufsz: int) -> bytes | None:
        if ptype == "u":
            read = user_reader(state)
        elif ptype == "k":
            read = kernel_reader(state)
        else:
            read = compat_reader(state, addr)
        return read_cstr(read, addr, bufsz)
    return strings, kernel_reader(state)


def _no_memory(*_: object) -> bytes | None:  # pragma: no cover - never called
    raise AssertionError("this format reads no memory")


def _prepare(state: RunState, fmt: bytes, fmt_size: int, args: list[int],
             num_args: int) -> list[Piece] | int:
    form = check(fmt, fmt_size, num_args)
    if not form.reads_memory:
        return bind(form, args, _no_memory, _no_memory)
    strings, kernel = _sources(state)
    return bind(form, args, strings, kernel)


def _emit(state: RunState, pieces: list[Piece]) -> int:
    host = host_of(state)
    if not getattr(host, "printk_enabled", True):
        return len(render(pieces))
    text, full = bstr_printf(pieces, MAX_BPRINTF_BUF)
    _, pid = host.pid_tgid()
    host.printk(trace_pipe_line(host.comm(), pid, host.ktime_ns(), text, host.cpu()))
    return full


def _varargs(state: RunState, data: int, data_len: int) -> list[int] | int:
    """The u64 array of trace_vprintk / snprintf, or -EINVAL as the kernel checks it."""
    if data_len % 8 or data_len > MAX_BPRINTF_VARARGS * 8 or (data_len and not data):
        return -errno.EINVAL
    raw = prog_read(state, data, data_len, "bpf_printf args")
    return list(struct.unpack(f"<{data_len // 8}Q", raw))


@BUILTIN.helper("trace_printk", RetType.INTEGER, ArgType.PTR_TO_MEM, ArgType.CONST_SIZE,
                gpl_only=True)
def trace_printk(state: RunState, fmt: int, fmt_size: int, a1: int, a2: int,
                 a3: int) -> int:
    """long bpf_trace_printk(const char *fmt, u32 fmt_size, ...): at most 3 arguments."""
    fmt_size &= M32
    if fmt_size == 0:
        raise HelperFault("bpf_trace_printk: fmt_size must be > 0 (ARG_CONST_SIZE)")
    data = prog_read(state, fmt, fmt_size, "bpf_trace_printk fmt")
    pieces = _prepare(state, data, fmt_size, [a1, a2, a3], MAX_TRACE_PRINTK_VARARGS)
    if isinstance(pieces, int):
        return pieces
    return _emit(state, pieces)


@BUILTIN.helper("trace_vprintk", RetType.INTEGER, ArgType.PTR_TO_MEM, ArgType.CONST_SIZE,
                ArgType.PTR_TO_MEM_OR_NULL, ArgType.CONST_SIZE_OR_ZERO, gpl_only=True)
def trace_vprintk(state: RunState, fmt: int, fmt_size: int, data: int, data_len: int,
                  _r5: int) -> int:
    """long bpf_trace_vprintk(fmt, fmt_size, u64 *data, u32 data_len): up to 12 args."""
    fmt_size &= M32
    data_len &= M32
    if fmt_size == 0:
        raise HelperFault("bpf_trace_vprintk: fmt_size must be > 0 (ARG_CONST_SIZE)")
    args = _varargs(state, data, data_len)
    if isinstance(args, int):
        return args
    raw = prog_read(state, fmt, fmt_size, "bpf_trace_vprintk fmt")
    pieces = _prepare(state, raw, fmt_size, args, len(args))
    if isinstance(pieces, int):
        return pieces
    return _emit(state, pieces)


@BUILTIN.helper("snprintf", RetType.INTEGER, ArgType.PTR_TO_MEM_OR_NULL,
                ArgType.CONST_SIZE_OR_ZERO, ArgType.PTR_TO_CONST_STR,
                ArgType.PTR_TO_MEM_OR_NULL, ArgType.CONST_SIZE_OR_ZERO, gpl_only=True)
def snprintf(state: RunState, out: int, out_size: int, fmt: int, data: int,
             data_len: int) -> int:
    """long bpf_snprintf(char *str, u32 str_size, const char *fmt, u64 *data, u32
    data_len): returns the length the whole text needs, including its NUL."""
    out_size &= M32
    data_len &= M32
    args = _varargs(state, data, data_len)
    if isinstance(args, int):
        return args
    text = read_cstr(lambda a, n: state.space.read(a, n), fmt, 1 << 16)
    if text is None or len(text) >= (1 << 16) - 1:
        raise HelperFault("bpf_snprintf: fmt is not a NUL-terminated string in program"
                          " memory (ARG_PTR_TO_CONST_STR)", fmt)
    pieces = _prepare(state, text + b"\0", UINT_MAX, args, len(args))
    if isinstance(pieces, int):
        return pieces
    written, full = bstr_printf(pieces, out_size)
    if out_size:
        prog_write(state, out, written + b"\0", "bpf_snprintf str")
    return full + 1
