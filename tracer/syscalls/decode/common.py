"""What every family of renderers shares: the call context, the renderer protocol
(``scalar``, ``pure``, ``fetched_by``), argument specs, string quoting and the memory
reads under it, and the number and flag renderers.  Imports no family module."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from probes.abi import Abi, word_size
from tracer.format_options import DEFAULT as DEFAULT_FORMAT
from tracer.format_options import FD_INFO, FormatOptions
from tracer.syscalls import layouts as L
from tracer.syscalls import xlat as X

MemoryReader = Callable[[int, int], bytes | None]
"""Reads ``size`` bytes of the tracee at ``addr``; None when any of them is unreadable."""

DEFAULT_STRLEN = 32  # strace -s
MAX_ERRNO = 4095
_PAGE = 4096


_I386 = Abi.I386   # an enum member read from its class costs ~0.1 µs; this is a global


def is_error(ret: int, abi: Abi) -> bool:
    """Whether a raw return value is ``-errno`` (the kernel's IS_ERR_VALUE range)."""
    if abi is _I386:
        ret = signed(ret, 32)
    elif not -_2_63 <= ret < _2_63:
        ret = signed(ret, 64)
    return -MAX_ERRNO <= ret <= -1


_2_63 = 1 << 63


def signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# --- strings ---------------------------------------------------------------------------

_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t",
            0x0B: "\\v"}
# Every byte's escape when no octal digit follows it (str.translate does the work in C).
_SHORT = {c: _ESCAPES.get(c, chr(c) if 0x20 <= c <= 0x7E else f"\\{c:o}") for c in range(256)}
# A numeric escape shorter than three digits followed by an octal digit is ambiguous.
_AMBIGUOUS = re.compile(rb"[\x00-\x08\x0e-\x1f][0-7]")


# Quoted short strings, by their bytes: the same few buffers and names recur (dd's one
# byte, "/etc/ld.so.cache").  Emptied when full, so it never holds more than this many.
_QUOTED: dict[bytes, str] = {}
_QUOTED_MAX = 4096
_QUOTED_LEN = 64


def quote_string(data: bytes, *, hex_all: bool = False, xflag: int = 0) -> str:
    """``data`` between double quotes, escaped as strace's string_quote does.

    Non-printable bytes become the shortest octal escape unless the next byte is an
    octal digit, where the full three digits keep the escape unambiguous (``\\0017``).
    Results for ``bytes`` of up to 64 bytes are cached.

    ``xflag`` is strace's ``-x`` count: 1 shows the whole string in ``\\x`` hex when
    any byte of it is neither printable ASCII nor one of ``\\t\\n\\v\\f\\r``, 2 shows
    every string in hex (as ``hex_all`` does)."""
    if (hex_all or xflag) and (hex_all or xflag == 2 or _NON_ASCII.search(data)):
        return '"' + _hex_escape(data) + '"'
    if type(data) is bytes and len(data) <= _QUOTED_LEN:
        text = _QUOTED.get(data)
        if text is None:
            if len(_QUOTED) >= _QUOTED_MAX:
                _QUOTED.clear()
            text = _QUOTED[data] = _quote(data)
        return text
    return _quote(data)


# -x: a byte that puts the whole string in hex (strace: not printable, not whitespace).
_NON_ASCII = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f-\xff]")


def _hex_escape(data: bytes) -> str:
    """``\\x2f\\x65``: every byte as a hex escape."""
    return "".join(_HEX[b] for b in data)


_HEX = [f"\\x{c:02x}" for c in range(256)]


def quote_associated(data: bytes, xflag: int = 0) -> str:
    """What strace shows between ``<`` and ``>`` after a descriptor (``-y``): the path
    escaped as a string is, without the quotes, ``<`` and ``>`` escaped too."""
    if b"<" not in data and b">" not in data:
        return quote_string(data, xflag=xflag)[1:-1]
    if xflag == 2 or (xflag and _NON_ASCII.search(data) is not None):
        return _hex_escape(data)
    out = []
    last = len(data) - 1
    for i, c in enumerate(data):
        if c in (0x3C, 0x3E) or (c < 0x20 and c not in _ESCAPES) or c >= 0x7F:
            full = i < last and 0x30 <= data[i + 1] <= 0x37
            out.append(f"\\{c:03o}" if full else f"\\{c:o}")
        else:
            out.append(_SHORT[c])
    return "".join(out)


def _quote(data: bytes) -> str:
    """:func:`quote_string` without its cache."""
    if _AMBIGUOUS.search(data) is None:
        return '"' + data.decode("latin-1").translate(_SHORT) + '"'
    out = ['"']
    last = len(data) - 1
    for i, c in enumerate(data):
        if c < 0x20 and c not in _ESCAPES and i < last and 0x30 <= data[i + 1] <= 0x37:
            out.append(f"\\{c:03o}")
        else:
            out.append(_SHORT[c])
    out.append('"')
    return "".join(out)


def buffer_text(data: bytes, total: int, *, hex_all: bool = False, xflag: int = 0) -> str:
    """A buffer of ``total`` bytes of which ``data`` were read: ``"..."...`` when cut."""
    text = quote_string(data, hex_all=hex_all, xflag=xflag)
    return text + "..." if total > len(data) else text


def read_prefix(read: MemoryReader, addr: int, size: int) -> bytes:
    """As many of ``size`` bytes at ``addr`` as are readable, page by page."""
    chunks: list[bytes] = []
    while size > 0:
        step = min(size, _PAGE - addr % _PAGE)
        data = read(addr, step)
        if not data:
            break
        chunks.append(data)
        if len(data) < step:
            break
        addr += step
        size -= step
    return b"".join(chunks)


def read_cstring(read: MemoryReader, addr: int, limit: int) -> tuple[bytes, bool] | None:
    """A NUL-terminated string of at most ``limit`` bytes: (bytes, cut?), None if unreadable.

    Reads page by page so that a short string at the end of a mapping is still read."""
    got = b""
    while len(got) <= limit:
        step = min(limit + 1 - len(got), _PAGE - (addr + len(got)) % _PAGE)
        data = read(addr + len(got), step)
        if not data:
            return None
        nul = data.find(b"\0")
        if nul >= 0:
            return got + data[:nul], False
        got += data
    return got[:limit], True


# --- rendering context and argument specs ------------------------------------------------


@dataclass(slots=True)
class Ctx:
    """What an argument renderer may look at: the whole call, memory, and (at exit) ret."""

    abi: Abi
    args: tuple[int, ...]
    read: MemoryReader
    strlen: int
    ret: int | None = None
    # -x, -y, -X, -v (-s is ``strlen``): the defaults here, others in an OptCtx, so that
    # the default path builds the Ctx it always built
    fmt: ClassVar[FormatOptions] = DEFAULT_FORMAT

    @property
    def word(self) -> int:
        return word_size(self.abi)

    @property
    def mask(self) -> int:
        return 0xFFFFFFFF if self.abi is _I386 else 0xFFFFFFFFFFFFFFFF

    @property
    def failed(self) -> bool:
        """No usable result: the call failed or never returned, so outputs are unset."""
        return self.ret is None or is_error(self.ret, self.abi)

    def mem(self, addr: int, size: int) -> bytes | None:
        return self.read(addr, size) if addr else None


@dataclass(slots=True)
class OptCtx(Ctx):
    """A :class:`Ctx` of options other than the default."""

    fmt: FormatOptions = DEFAULT_FORMAT  # type: ignore[misc]


_CLK_TCK = os.sysconf("SC_CLK_TCK")


NewCtx = Callable[..., Ctx]
"""``(abi, args, read, strlen, ret=None) -> Ctx``: :func:`ctx_maker`'s."""


def ctx_maker(fmt: FormatOptions) -> NewCtx:
    """What makes a :class:`Ctx` of ``fmt``: the class itself for the defaults."""
    if fmt == DEFAULT_FORMAT:
        return Ctx

    def make(abi: Abi, args: tuple[int, ...], read: MemoryReader, strlen: int,
             ret: int | None = None) -> Ctx:
        return OptCtx(abi, args, read, strlen, ret, fmt)
    return make


Render = Callable[[Ctx, int], str | None]
"""Text of one argument value; None leaves the argument out (open's mode without O_CREAT)."""
Suffix = Callable[[Ctx, int, str], str]
"""What an exit stop appends to an argument rendered at entry (``entry`` is its text)."""

SCALARS: set[Render] = set()
"""Renderers whose text depends on the value and the ABI only: they never read memory,
other arguments, ``strlen`` or ``ret``, so :mod:`tracer.format` can call them with a
constant :class:`Ctx` of the right ABI instead of building one per call."""


_R = TypeVar("_R", bound=Callable[..., "str | None"])


def scalar(render: _R) -> _R:
    """Register ``render`` in :data:`SCALARS` (the caller vouches for it) and return it."""
    SCALARS.add(render)
    return render


Fetch = Callable[[Ctx, int], None]
"""Makes through ``ctx.read`` every memory read a renderer makes for this value (see
:mod:`tracer.syscalls.decode`); renders nothing."""

_FETCH_ATTR = "fetch"   # the attribute of a renderer (a function) that holds its fetch


def no_fetch(ctx: Ctx, v: int) -> None:
    """The fetch of a renderer that reads no memory."""


def fetched_by(fetch: Fetch | None) -> Callable[[_R], _R]:
    """Decorator: ``fetch`` makes the memory reads of the decorated renderer (or suffix).
    None says nothing (the renderer stays unknown: rendered at the stop)."""
    def mark(render: _R) -> _R:
        if fetch is not None:
            setattr(render, _FETCH_ATTR, fetch)
        return render
    return mark


def pure(render: _R) -> _R:
    """Mark ``render`` as reading no memory (only the value, other arguments, the ABI,
    ``strlen`` or ``ret``: what a deferred render still has) and return it."""
    setattr(render, _FETCH_ATTR, no_fetch)
    return render


def fetch_of(render: Callable[..., object]) -> Fetch | None:
    """The fetch of a renderer or exit suffix: :func:`no_fetch` for those that read no
    memory, None when unknown (the caller must then render it at the stop)."""
    if render in SCALARS:
        return no_fetch
    return getattr(render, _FETCH_ATTR, None)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Arg:
    render: Render
    index: int = -1  # which raw argument; -1: its position in the signature
    at_exit: bool = False  # an output: rendered at the exit stop
    # Rendered at entry (what strace learns then), completed at exit by
    # ``exit_suffix(ctx, value, entry_text)``: clone3's " => {parent_tid=[N]}".
    exit_suffix: Suffix | None = None


Sig = tuple[Render | Arg, ...]
"""A call's arguments as shown: plain renderers take the raw argument at their position."""
SigFn = Callable[[Ctx], Sig]
"""The signature of a call whose shape depends on its arguments (fcntl's command)."""


def out(render: Render, index: int = -1) -> Arg:
    return Arg(render, index, at_exit=True)


def at(index: int, render: Render) -> Arg:
    return Arg(render, index)


# --- numbers and flags ----------------------------------------------------------------------


@scalar
def int_(ctx: Ctx, v: int) -> str:
    return str(signed(v, 32))


@scalar
def uint(ctx: Ctx, v: int) -> str:
    return str(v & 0xFFFFFFFF)


@scalar
def long_(ctx: Ctx, v: int) -> str:
    return str(signed(v, 8 * ctx.word))


@scalar
def ulong(ctx: Ctx, v: int) -> str:
    return str(v & ctx.mask)


@scalar
def hex_(ctx: Ctx, v: int) -> str:
    v &= ctx.mask
    return hex(v) if v else "0"


@scalar
def ptr(ctx: Ctx, v: int) -> str:
    v &= ctx.mask
    return hex(v) if v else "NULL"


def hx(v: int) -> str:
    return hex(v) if v else "0"


def clock_t_text(ticks: int, *, raw: bool = False) -> str:
    """A clock_t count as strace prints it: the ticks, then (when nonzero and not
    ``-X raw``) the seconds they make at this system's USER_HZ, ``55 /* 0.55 s */``."""
    if raw or ticks <= 0 or _CLK_TCK <= 0:
        return str(ticks)
    # as many fractional digits as a tick needs: 2 at the usual 100 Hz
    digits = min(math.ceil(math.log10(_CLK_TCK - 1)), 9) if _CLK_TCK > 1 else 0
    whole, rest = divmod(ticks, _CLK_TCK)
    frac = round(rest * 10 ** digits / _CLK_TCK)
    if frac == 10 ** digits and digits:
        whole, frac = whole + 1, 0
    tail = f".{frac:0{digits}d}" if digits else ""
    return f"{ticks} /* {whole}{tail} s */"


def octal(value: int) -> str:
    return f"0{value:o}".rjust(3, "0")


@scalar
def oct_(ctx: Ctx, v: int) -> str:
    return octal(v & 0xFFFFFFFF)


def flags_text(value: int, table: X.Flags, zero: str = "0") -> str:
    """``A|B|0x40``: names in table order, leftover bits in hex, ``zero`` for 0."""
    if value == 0:
        return zero
    names = []
    for bits, name in table:
        if value & bits == bits:
            names.append(name)
            value &= ~bits
    if value:
        names.append(hex(value))
    return "|".join(names)


@scalar
def fd(ctx: Ctx, v: int) -> str:
    """A file descriptor argument: as :func:`int_`, and with ``-y`` its path
    (:mod:`tracer.fd_info` wraps it)."""
    return str(signed(v, 32))


# --- -X: the number behind a symbolic renderer -----------------------------------------------

_RAW_ATTR = "xlat_raw"   # the attribute of a symbolic renderer holding its raw form


def with_raw(raw: Callable[[Ctx, int], str]) -> Callable[[_R], _R]:
    """Decorator: ``raw(ctx, value)`` is the number the decorated symbolic renderer
    (flags, a constant) stands for, as strace prints it with ``-X raw``."""
    def mark(render: _R) -> _R:
        setattr(render, _RAW_ATTR, raw)
        return render
    return mark


def raw_of(render: Callable[..., object]) -> Callable[[Ctx, int], str] | None:
    """The raw form of a symbolic renderer (see :func:`with_raw`), None for others."""
    return getattr(render, _RAW_ATTR, None)  # type: ignore[no-any-return]


def raw_hex(ctx: Ctx, v: int) -> str:
    """-X raw of flags and constants: hex, ``0`` for 0."""
    v &= ctx.mask
    return hex(v) if v else "0"


def raw_hex32(ctx: Ctx, v: int) -> str:
    v &= 0xFFFFFFFF
    return hex(v) if v else "0"


def flags(table: X.Flags, zero: str = "0") -> Render:
    return with_raw(raw_hex)(
        scalar(lambda ctx, v: flags_text(v & 0xFFFFFFFFFFFFFFFF, table, zero)))


def xval(table: Mapping[int, str], unknown: Render = int_) -> Render:
    def render(ctx: Ctx, v: int) -> str:
        name = table.get(v & 0xFFFFFFFF)
        return name if name is not None else str(unknown(ctx, v))

    def raw(ctx: Ctx, v: int) -> str:
        if table.get(v & 0xFFFFFFFF) is None:
            return str(unknown(ctx, v))
        return raw_hex32(ctx, v)
    with_raw(raw)(render)
    return scalar(render) if unknown in SCALARS else fetched_by(fetch_of(unknown))(render)


# --- outputs --------------------------------------------------------------------------------


def output(render: Render) -> Render:
    """An output struct: its address when the call failed, else ``render``."""
    inner = fetch_of(render)

    def fetch(ctx: Ctx, v: int) -> None:
        if not ctx.failed:
            inner(ctx, v)  # type: ignore[misc]

    @fetched_by(fetch if inner is not None else None)
    def shown(ctx: Ctx, v: int) -> str | None:
        return ptr(ctx, v) if ctx.failed else render(ctx, v)
    return shown


def out_ints(count: int) -> Render:
    """``[7, 8]``: pipe's fd pair, socklen_t and tid outputs."""
    def fetch(ctx: Ctx, v: int) -> None:
        if not ctx.failed:
            ctx.mem(v, 4 * count)

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        ints = None if ctx.failed else L.unpack_ints(ctx.mem(v, 4 * count) or b"", count)
        return ptr(ctx, v) if ints is None else "[" + ", ".join(map(str, ints)) + "]"
    return render


# --- -y: descriptors ----------------------------------------------------------------------------


def fd_suffix(info: bytes | None, xflag: int) -> str:
    """What follows a descriptor with ``-y``, from what :mod:`tracer.fd_info` read at
    the stop: ``<path>``, ``<path>(deleted)``, ``<TCP:[...]>``, ``<path<char 1:3>>``;
    "" when nothing was learnt."""
    if not info:
        return ""
    kind, body = info[:1], info[1:]
    if kind == b"P":
        return f"<{quote_associated(body, xflag)}>"
    if kind == b"X":
        return f"<{quote_associated(body, xflag)}>(deleted)"
    if kind == b"S":
        return f"<{body.decode('utf-8', 'backslashreplace')}>"
    if kind == b"D":
        path, _, dev = body.partition(b"\0")
        return f"<{quote_associated(path, xflag)}<{dev.decode()}>>"
    return ""


def fetch_fd(ctx: Ctx, n: int) -> None:
    """For a fetch: what :func:`fd_text` will need of descriptor ``n`` (nothing
    without ``-y``)."""
    if ctx.fmt.yflag and n >= 0:
        ctx.read(n, FD_INFO)


def fd_text(ctx: Ctx, n: int) -> str:
    """Descriptor ``n`` (a number already signed) as strace's printfd shows it: ``3``,
    or with ``-y`` ``3</etc/passwd>``.  For descriptors inside structures and arrays
    (pollfd, epoll, SCM_RIGHTS); the renderer's fetch calls :func:`fetch_fd`."""
    if ctx.fmt.yflag and n >= 0:
        return str(n) + fd_suffix(ctx.read(n, FD_INFO), ctx.fmt.xflag)
    return str(n)


FD_COUNT_ATTR = "fd_count"   # out_fds' renderers: how many descriptors they show


def out_fds(count: int) -> Render:
    """``[3, 4]``: pipe's and socketpair's descriptor pair (as :func:`out_ints`; with
    ``-y`` each is followed by its path, see :mod:`.styled`)."""
    render = out_ints(count)
    setattr(render, FD_COUNT_ATTR, count)
    return render
