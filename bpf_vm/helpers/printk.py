"""bpf_trace_printk, bpf_trace_vprintk and bpf_snprintf (kernel/trace/bpf_trace.c,
kernel/bpf/helpers.c), with trace_pipe's line format.

Each printk call becomes one line of the run's effects (``Effects.printk``), formatted
as trace_pipe
prints the bpf_trace_printk event (kernel/trace/trace_output.c, trace_print_context)::

    "%16s-%-7d [%03d] d..31 %5lu.%06lu: bpf_trace_printk: <text>"

comm right-aligned in 16 columns, the thread id, CPU 000, the fixed irq/preempt flags
``d..31``, the host's CLOCK_MONOTONIC in seconds and microseconds.  The line ends where
the text ends: one trailing newline of the text is dropped rather than doubled (the
event's own line end replaces it), and the text stops at a NUL (``%c`` of 0), as the
event's string does.  The helper returns the full formatted length, as the kernel does.
A host whose ``printk_enabled`` is False (no sink) gets no line: the text is formatted
for its length, but comm, clock and the line are not asked for.

Each format is planned once (:class:`_Plan`, cached by its bytes and argument count):
the checked :class:`~.bprintf.Format`, and for a format of integer and pointer
conversions only (``bpf_printk("read(%d, 0x%lx, %lu)", ...)``) a renderer that makes the
whole text with one ``%``-operation (:func:`~.bprintf.int_renderer`), or the error such a
format returns whatever its arguments.  Other formats bind their arguments piece by
piece (:func:`~.bprintf.bind`), reading strings as the kernel does.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from ..context import effects_of
from ..effects import PrintkLine
from ..helper_table import ArgType, HelperFault, RetType
from ..memory import OFFSET_MASK, REGION_SHIFT
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
    Format,
    IntRenderer,
    KernelSource,
    Piece,
    StringSource,
    bind,
    bstr_printf,
    check,
    int_renderer,
    render,
)

if TYPE_CHECKING:
    from ..context import RunContext
    from ..host import Host

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


def _sources(state: RunContext) -> tuple[StringSource, KernelSource]:
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


class _Plan:
    """What a printk helper does with one format (its bytes as passed, fmt_size of them,
    and the number of arguments): ``form`` is the checked format; ``ints`` renders the
    whole text from the arguments when every conversion is an integer or a pointer
    (None otherwise), and then ``error`` is the format's -errno (0 if it is accepted),
    returned before anything else is done."""
    __slots__ = ("error", "form", "ints")

    def __init__(self, form: Format) -> None:
        self.form = form
        self.ints: IntRenderer | None = int_renderer(form)
        self.error = form.error


#: Plans by (format bytes, number of arguments).  A program passes the same few formats
#: at every call; the table is emptied if a program makes it grow past _MAX_PLANS.
_plans: dict[tuple[bytes, int], _Plan] = {}
_MAX_PLANS = 1024


def _plan(fmt: bytes, fmt_size: int, num_args: int) -> _Plan:
    key = (fmt, num_args)
    plan = _plans.get(key)
    if plan is None:
        if len(_plans) >= _MAX_PLANS:
            _plans.clear()
        plan = _plans[key] = _Plan(check(fmt, fmt_size, num_args))
    return plan


def _prepare(state: RunContext, form: Format, args: list[int]) -> list[Piece] | int:
    if not form.reads_memory:
        return bind(form, args, _no_memory, _no_memory)
    strings, kernel = _sources(state)
    return bind(form, args, strings, kernel)


def _print(state: RunContext, plan: _Plan, args: list[int]) -> int:
    """Format ``args`` by ``plan`` and record the line: the text's full length, or the
    format's -errno."""
    ints = plan.ints
    if ints is not None:
        if plan.error:
            return plan.error
        text = ints(args)
        host = state.vm.host
        if host is None:
            host = host_of(state)
        if not getattr(host, "printk_enabled", True):
            return len(text)
        return _line(state, host, text)
    pieces = _prepare(state, plan.form, args)
    if isinstance(pieces, int):
        return pieces
    host = host_of(state)
    if not getattr(host, "printk_enabled", True):
        return len(render(pieces))
    return _line(state, host, render(pieces))


def _line(state: RunContext, host: Host, text: bytes) -> int:
    """Record the trace_pipe line of ``text`` (cut as bstr_printf cuts it to the
    kernel's 1024-byte buffer) in the run's effects; returns the full length."""
    shown, full = bstr_printf((text,), MAX_BPRINTF_BUF)
    _, pid = host.pid_tgid()
    line = trace_pipe_line(host.comm(), pid, host.ktime_ns(), shown, host.cpu())
    effects_of(state).output.append(PrintkLine(line))
    return full


def _varargs(state: RunContext, data: int, data_len: int) -> list[int] | int:
    """The u64 array of trace_vprintk / snprintf, or -EINVAL as the kernel checks it."""
    if data_len % 8 or data_len > MAX_BPRINTF_VARARGS * 8 or (data_len and not data):
        return -errno.EINVAL
    raw = prog_read(state, data, data_len, "bpf_printf args")
    return list(struct.unpack(f"<{data_len // 8}Q", raw))


@BUILTIN.helper("trace_printk", RetType.INTEGER, ArgType.PTR_TO_MEM, ArgType.CONST_SIZE,
                gpl_only=True)
def trace_printk(state: RunContext, fmt: int, fmt_size: int, a1: int, a2: int,
                 a3: int) -> int:
    """long bpf_trace_printk(const char *fmt, u32 fmt_size, ...): at most 3 arguments."""
    fmt_size &= M32
    if fmt_size == 0:
        raise HelperFault("bpf_trace_printk: fmt_size must be > 0 (ARG_CONST_SIZE)")
    entry = state.space.table.get(fmt >> REGION_SHIFT)   # prog_read, inlined
    off = fmt & OFFSET_MASK
    if entry is None or off + fmt_size > entry[1]:
        prog_read(state, fmt, fmt_size, "bpf_trace_printk fmt")   # raises the fault
        raise AssertionError("unreachable")   # pragma: no cover
    data = bytes(entry[0][off:off + fmt_size])
    plan = _plans.get((data, MAX_TRACE_PRINTK_VARARGS))
    if plan is None:
        plan = _plan(data, fmt_size, MAX_TRACE_PRINTK_VARARGS)
    return _print(state, plan, [a1, a2, a3])


@BUILTIN.helper("trace_vprintk", RetType.INTEGER, ArgType.PTR_TO_MEM, ArgType.CONST_SIZE,
                ArgType.PTR_TO_MEM_OR_NULL, ArgType.CONST_SIZE_OR_ZERO, gpl_only=True)
def trace_vprintk(state: RunContext, fmt: int, fmt_size: int, data: int, data_len: int,
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
    return _print(state, _plan(raw, fmt_size, len(args)), args)


@BUILTIN.helper("snprintf", RetType.INTEGER, ArgType.PTR_TO_MEM_OR_NULL,
                ArgType.CONST_SIZE_OR_ZERO, ArgType.PTR_TO_CONST_STR,
                ArgType.PTR_TO_MEM_OR_NULL, ArgType.CONST_SIZE_OR_ZERO, gpl_only=True)
def snprintf(state: RunContext, out: int, out_size: int, fmt: int, data: int,
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
    pieces = _prepare(state, check(text + b"\0", UINT_MAX, len(args)), args)
    if isinstance(pieces, int):
        return pieces
    written, full = bstr_printf(pieces, out_size)
    if out_size:
        prog_write(state, out, written + b"\0", "bpf_snprintf str")
    return full + 1
