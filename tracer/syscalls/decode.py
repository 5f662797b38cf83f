"""How one syscall argument becomes strace's text: the renderers the signature table uses.

A renderer is ``(ctx, value) -> str | None``: ``value`` is the raw register, ``ctx`` the
whole call (other arguments, the ABI, memory, and at the exit stop the return value).
None leaves the argument out, as strace omits open's mode without O_CREAT.  Small
factories build families (``flags(table)``, ``in_buf(count_index)``), as the kernel's
disassembler builds its tables.  The rules are strace's: see :mod:`tracer.format`.

Every renderer that reads memory has a *fetch* (``(ctx, value) -> None``, see
:func:`fetch_of`): it makes, through ``ctx.read``, every read the renderer will make for
the same value, arguments, ``ret`` and memory (it may make more), and renders nothing.
:mod:`tracer.format` runs the fetches at the stop through a reader that records what it
reads, and the renderers after the tracee was resumed, through a reader that answers
from that record only.  Renderers that read no memory are in :data:`SCALARS` or marked
:func:`pure`; a renderer with no fetch known is rendered at the stop.
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from probes.abi import Abi, word_size
from tracer.syscalls import layouts as L
from tracer.syscalls import xlat as X

MemoryReader = Callable[[int, int], bytes | None]
"""Reads ``size`` bytes of the tracee at ``addr``; None when any of them is unreadable."""

DEFAULT_STRLEN = 32  # strace -s
PATH_MAX = 4096
MAX_ERRNO = 4095
_PAGE = 4096
_MAX_ENV = 1 << 16  # pointers counted for "/* N vars */" before giving up


_I386 = Abi.I386   # an enum member read from its class costs ~0.1 µs; this is a global


def is_error(ret: int, abi: Abi = Abi.X86_64) -> bool:
    """Whether a raw return value is ``-errno`` (the kernel's IS_ERR_VALUE range)."""
    if abi is _I386:
        ret = signed(ret, 32)
    elif not -_2_63 <= ret < _2_63:
        ret = signed(ret, 64)
    return -MAX_ERRNO <= ret <= -1


_2_63 = 1 << 63


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


def quote_string(data: bytes, *, hex_all: bool = False) -> str:
    """``data`` between double quotes, escaped as strace's string_quote does.

    Non-printable bytes become the shortest octal escape unless the next byte is an
    octal digit, where the full three digits keep the escape unambiguous (``\\0017``).
    Results for ``bytes`` of up to 64 bytes are cached."""
    if hex_all:
        return '"' + "".join(f"\\x{b:02x}" for b in data) + '"'
    if type(data) is bytes and len(data) <= _QUOTED_LEN:
        text = _QUOTED.get(data)
        if text is None:
            if len(_QUOTED) >= _QUOTED_MAX:
                _QUOTED.clear()
            text = _QUOTED[data] = _quote(data)
        return text
    return _quote(data)


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


def buffer_text(data: bytes, total: int, *, hex_all: bool = False) -> str:
    """A buffer of ``total`` bytes of which ``data`` were read: ``"..."...`` when cut."""
    text = quote_string(data, hex_all=hex_all)
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


Render = Callable[[Ctx, int], str | None]
Suffix = Callable[[Ctx, int, str], str]
"""Text of one argument value; None leaves the argument out (open's mode without O_CREAT)."""

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
"""Makes through ``ctx.read`` every memory read a renderer makes for this value (see the
module docstring); renders nothing."""

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




def out(render: Render, index: int = -1) -> Arg:
    return Arg(render, index, at_exit=True)


def at(index: int, render: Render) -> Arg:
    return Arg(render, index)


# --- scalar renderers ---------------------------------------------------------------------


def signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


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


def octal(value: int) -> str:
    return f"0{value:o}".rjust(3, "0")


@scalar
def oct_(ctx: Ctx, v: int) -> str:
    return octal(v & 0xFFFFFFFF)


@scalar
def dirfd(ctx: Ctx, v: int) -> str:
    fd = signed(v, 32)
    return "AT_FDCWD" if fd == X.AT_FDCWD else str(fd)


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


def flags(table: X.Flags, zero: str = "0") -> Render:
    return scalar(lambda ctx, v: flags_text(v & 0xFFFFFFFFFFFFFFFF, table, zero))


def xval(table: Mapping[int, str], unknown: Render = int_) -> Render:
    def render(ctx: Ctx, v: int) -> str:
        name = table.get(v & 0xFFFFFFFF)
        return name if name is not None else str(unknown(ctx, v))
    return scalar(render) if unknown in SCALARS else fetched_by(fetch_of(unknown))(render)


@scalar
def sig(ctx: Ctx, v: int) -> str:
    sig = signed(v, 32)
    return X.signal_name(sig) if 0 < sig <= X.NSIG else str(sig)


def open_flags_text(value: int) -> str:
    """``O_RDWR|O_CREAT|O_CLOEXEC``: the access mode always first, as strace prints it."""
    acc = X.OPEN_ACCMODES.get(value & X.O_ACCMODE, hex(value & X.O_ACCMODE))
    rest = value & ~X.O_ACCMODE & 0xFFFFFFFF
    return acc if not rest else f"{acc}|{flags_text(rest, X.OPEN_FLAGS)}"


@scalar
def open_flags(ctx: Ctx, v: int) -> str:
    return open_flags_text(v)


def open_mode(flags_index: int) -> Render:
    @pure
    def render(ctx: Ctx, v: int) -> str | None:
        flags = ctx.args[flags_index]
        return oct_(ctx, v) if flags & (X.O_CREAT | X.O_TMPFILE_BIT) else None
    return render


@scalar
def prot(ctx: Ctx, v: int) -> str:
    return flags_text(v & 0xFFFFFFFF, X.PROT_FLAGS, "PROT_NONE")


@scalar
def mmap_flags(ctx: Ctx, v: int) -> str:
    v &= 0xFFFFFFFF
    kind = v & X.MAP_TYPE_MASK
    head = X.MAP_TYPES.get(kind, hex(kind))
    rest = v & ~X.MAP_TYPE_MASK
    return head if not rest else f"{head}|{flags_text(rest, X.MAP_FLAGS)}"


def clone_flags_text(value: int, *, clone3: bool = False) -> str:
    """``CLONE_VM|...|SIGCHLD``: clone(2) keeps the exit signal in the low byte."""
    if clone3:
        return flags_text(value, X.CLONE3_EXTRA_FLAGS + X.CLONE_FLAGS)
    sig = value & X.CSIGNAL
    text = flags_text(value & ~X.CSIGNAL, X.CLONE_FLAGS, "")
    parts = [p for p in (text, X.signal_name(sig) if sig else "") if p]
    return "|".join(parts) or "0"


@scalar
def socket_type(ctx: Ctx, v: int) -> str:
    v &= 0xFFFFFFFF
    kind = v & X.SOCK_TYPE_MASK
    head = X.SOCKET_TYPES.get(kind, hex(kind))
    rest = v & ~X.SOCK_TYPE_MASK
    return head if not rest else f"{head}|{flags_text(rest, X.SOCKET_TYPE_FLAGS)}"


def socket_protocol(domain_index: int) -> Render:
    @pure
    def render(ctx: Ctx, v: int) -> str:
        domain = ctx.args[domain_index] & 0xFFFFFFFF
        table = {2: X.IP_PROTOCOLS, 10: X.IP_PROTOCOLS, 16: X.NETLINK_PROTOCOLS}.get(domain)
        return table.get(v & 0xFFFFFFFF, str(signed(v, 32))) if table else int_(ctx, v)
    return render


@scalar
def ioctl_cmd(ctx: Ctx, v: int) -> str:
    v &= 0xFFFFFFFF
    name = X.IOCTL_CMDS.get(v)
    if name is not None:
        return name
    direction = ("_IOC_NONE", "_IOC_WRITE", "_IOC_READ", "_IOC_READ|_IOC_WRITE")[v >> 30]
    size, kind, nr = (v >> 16) & 0x3FFF, (v >> 8) & 0xFF, v & 0xFF
    return f"_IOC({direction}, {hx(kind)}, {hx(nr)}, {hx(size)})"


def hx(v: int) -> str:
    return hex(v) if v else "0"


# --- memory renderers -----------------------------------------------------------------


def _fetch_path(ctx: Ctx, v: int) -> None:
    if v:
        read_cstring(ctx.read, v, PATH_MAX)


def _fetch_str(ctx: Ctx, v: int) -> None:
    if v:
        read_cstring(ctx.read, v, ctx.strlen)


@fetched_by(_fetch_path)
def path(ctx: Ctx, v: int) -> str:
    got = read_cstring(ctx.read, v, PATH_MAX) if v else None
    if got is None:
        return ptr(ctx, v)
    data, cut = got
    return quote_string(data) + ("..." if cut else "")


@fetched_by(_fetch_str)
def str_(ctx: Ctx, v: int) -> str:
    got = read_cstring(ctx.read, v, ctx.strlen) if v else None
    if got is None:
        return ptr(ctx, v)
    data, cut = got
    return quote_string(data) + ("..." if cut else "")


def in_buf(count_index: int) -> Render:
    """A buffer the call reads (write's): its first ``-s`` bytes at entry."""
    def fetch(ctx: Ctx, v: int) -> None:
        total = ctx.args[count_index] & ctx.mask
        if total:
            ctx.mem(v, min(total, ctx.strlen))

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        total = ctx.args[count_index] & ctx.mask
        data = ctx.mem(v, min(total, ctx.strlen)) if total else b""
        return ptr(ctx, v) if data is None else buffer_text(data, total)
    return render


def _fetch_out_buf(ctx: Ctx, v: int) -> None:
    if not ctx.failed and ctx.ret:
        ctx.mem(v, min(ctx.ret, ctx.strlen))


def out_buf(*, hex_all: bool = False) -> Render:
    """A buffer the call fills (read's): ``ret`` bytes of it at exit."""
    @fetched_by(_fetch_out_buf)
    def render(ctx: Ctx, v: int) -> str:
        if ctx.failed or ctx.ret is None:
            return ptr(ctx, v)
        total = ctx.ret
        data = ctx.mem(v, min(total, ctx.strlen)) if total else b""
        return ptr(ctx, v) if data is None else buffer_text(data, total, hex_all=hex_all)
    return render


def _fetch_out_path(ctx: Ctx, v: int) -> None:
    if not ctx.failed:
        _fetch_path(ctx, v)


@fetched_by(_fetch_out_path)
def out_path(ctx: Ctx, v: int) -> str:
    return ptr(ctx, v) if ctx.failed else path(ctx, v)


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


def _fetch_argv(ctx: Ctx, v: int) -> None:
    if not v:
        return
    word = ctx.word
    raw = read_prefix(ctx.read, v, (ctx.strlen + 1) * word)
    if len(raw) < word:
        return
    for n, item in enumerate(L.unpack_words(raw, word)):
        if item == 0 or n >= ctx.strlen:
            return
        _fetch_str(ctx, item)


@fetched_by(_fetch_argv)
def argv(ctx: Ctx, v: int) -> str:
    if not v:
        return "NULL"
    word = ctx.word
    raw = read_prefix(ctx.read, v, (ctx.strlen + 1) * word)
    if len(raw) < word:
        return ptr(ctx, v)
    items: list[str] = []
    for n, item in enumerate(L.unpack_words(raw, word)):
        if item == 0:
            return "[" + ", ".join(items) + "]"
        if n >= ctx.strlen:
            items.append("...")
            return "[" + ", ".join(items) + "]"
        items.append(str_(ctx, item))
    return ptr(ctx, v)  # the array runs into unreadable memory


def _fetch_envp(ctx: Ctx, v: int) -> None:
    if not v:
        return
    word, count, addr = ctx.word, 0, v
    while count < _MAX_ENV:
        words = L.unpack_words(read_prefix(ctx.read, addr, 512 * word), word)
        if not words or 0 in words:
            return
        count += len(words)
        addr += len(words) * word


@fetched_by(_fetch_envp)
def envp(ctx: Ctx, v: int) -> str:
    if not v:
        return "NULL"
    word, count, addr = ctx.word, 0, v
    while count < _MAX_ENV:
        raw = read_prefix(ctx.read, addr, 512 * word)
        words = L.unpack_words(raw, word)
        if not words:
            return ptr(ctx, v)
        if 0 in words:
            count += words.index(0)
            return f"{ptr(ctx, v)} /* {count} var{'' if count == 1 else 's'} */"
        count += len(words)
        addr += len(words) * word
    return ptr(ctx, v)


def mode_text(mode: int) -> str:
    """``S_IFDIR|S_ISVTX|0777``, strace's print_symbolic_mode_t."""
    kind = X.FILE_TYPES.get(mode & X.S_IFMT, "")
    special = flags_text(mode & 0o7000, X.MODE_SPECIAL, "")
    perms = f"{mode & 0o777:#o}".replace("0o", "0") if mode & 0o777 else "000"
    return "|".join(p for p in (kind, special, perms) if p)


def stat_out(*, stat64: bool = False) -> Render:
    def fetch(ctx: Ctx, v: int) -> None:
        if not ctx.failed:
            ctx.mem(v, L.stat_size(ctx.abi, stat64=stat64))

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        if ctx.failed:
            return ptr(ctx, v)
        st = L.unpack_stat(ctx.abi, ctx.mem(v, L.stat_size(ctx.abi, stat64=stat64)) or b"",
                           stat64=stat64)
        if st is None:
            return ptr(ctx, v)
        if st.mode & X.S_IFMT in (0o020000, 0o060000):
            sized = f"st_rdev=makedev({hx(L.dev_major(st.rdev))}, {hx(L.dev_minor(st.rdev))})"
        else:
            sized = f"st_size={st.size}"
        return f"{{st_mode={mode_text(st.mode)}, {sized}, ...}}"
    return render


@scalar
def statx_flags(ctx: Ctx, v: int) -> str:
    """statx's flags: strace names the sync type even when it is 0 (the default)."""
    v &= 0xFFFFFFFF
    text = flags_text(v, X.STATX_FLAGS, "")
    if v & X.AT_STATX_SYNC_TYPE == 0:
        return "|".join(p for p in ("AT_STATX_SYNC_AS_STAT", text) if p)
    return text


def _fetch_statx(ctx: Ctx, v: int) -> None:
    if not ctx.failed:
        ctx.mem(v, L.STATX_SIZE)


@fetched_by(_fetch_statx)
def statx_out(ctx: Ctx, v: int) -> str:
    if ctx.failed:
        return ptr(ctx, v)
    st = L.unpack_statx(ctx.mem(v, L.STATX_SIZE) or b"")
    if st is None:
        return ptr(ctx, v)
    return (f"{{stx_mask={flags_text(st.mask, X.STATX_MASK)}, "
            f"stx_attributes={flags_text(st.attributes, X.STATX_ATTRS)}, "
            f"stx_mode={mode_text(st.mode)}, stx_size={st.size}, ...}}")


def format_sigset(mask: int, nsig: int = X.NSIG) -> str:
    """``[HUP USR2 RT_8]``, or ``~[...]`` naming the absent ones when most are present."""
    present = [s for s in range(1, nsig + 1) if mask >> (s - 1) & 1]
    prefix = ""
    if len(present) > nsig // 2:
        prefix = "~"
        present = [s for s in range(1, nsig + 1) if not mask >> (s - 1) & 1]
    names = [X.signal_name(s).removeprefix("SIG") for s in present]
    return f"{prefix}[{' '.join(names)}]"


def sigset(size_index: int) -> Render:
    def fetch(ctx: Ctx, v: int) -> None:
        size = ctx.args[size_index] & ctx.mask
        if 0 < size <= 128:
            ctx.mem(v, size)

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        size = ctx.args[size_index] & ctx.mask
        data = ctx.mem(v, size) if 0 < size <= 128 else None
        if data is None:
            return ptr(ctx, v)
        return format_sigset(int.from_bytes(data, "little"), min(size * 8, X.NSIG))
    return render


def _fetch_sigaction(ctx: Ctx, v: int) -> None:
    ctx.mem(v, L.sigaction_size(ctx.abi))


@fetched_by(_fetch_sigaction)
def sigaction(ctx: Ctx, v: int) -> str:
    sa = L.unpack_sigaction(ctx.abi, ctx.mem(v, L.sigaction_size(ctx.abi)) or b"")
    if sa is None:
        return ptr(ctx, v)
    handler = X.SIG_HANDLERS.get(sa.handler, hex(sa.handler))
    text = (f"{{sa_handler={handler}, sa_mask={format_sigset(sa.mask)}, "
            f"sa_flags={flags_text(sa.flags, X.SA_FLAGS)}")
    if sa.flags & X.SA_RESTORER:
        text += f", sa_restorer={ptr(ctx, sa.restorer)}"
    return text + "}"


def timespec(*, time64: bool = False) -> Render:
    def fetch(ctx: Ctx, v: int) -> None:
        ctx.mem(v, L.timespec_size(ctx.abi, time64=time64))

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        ts = L.unpack_timespec(
            ctx.abi, ctx.mem(v, L.timespec_size(ctx.abi, time64=time64)) or b"", time64=time64)
        return ptr(ctx, v) if ts is None else f"{{tv_sec={ts[0]}, tv_nsec={ts[1]}}}"
    return render


def rlim_value(value: int, bits: int, infinity: str) -> str:
    if value == (1 << bits) - 1:
        return infinity
    return f"{value // 1024}*1024" if value and value % 1024 == 0 else str(value)


def rlimit(*, rlim64: bool) -> Render:
    def fetch(ctx: Ctx, v: int) -> None:
        ctx.mem(v, 2 * (8 if rlim64 else ctx.word))

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        word = 8 if rlim64 else ctx.word
        lim = L.unpack_rlimit(ctx.mem(v, 2 * word) or b"", word)
        if lim is None:
            return ptr(ctx, v)
        inf = "RLIM64_INFINITY" if rlim64 else "RLIM_INFINITY"
        cur, max_ = (rlim_value(x, 8 * word, inf) for x in lim)
        return f"{{rlim_cur={cur}, rlim_max={max_}}}"
    return render


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


def wait_status_text(status: int) -> str:
    """``WIFEXITED(s) && WEXITSTATUS(s) == 0`` and the other wait(2) macros."""
    if status & 0x7F == 0:
        return f"WIFEXITED(s) && WEXITSTATUS(s) == {(status >> 8) & 0xFF}"
    if status & 0xFF == 0x7F:
        return f"WIFSTOPPED(s) && WSTOPSIG(s) == {X.signal_name((status >> 8) & 0xFF)}"
    if status == 0xFFFF:
        return "WIFCONTINUED(s)"
    text = f"WIFSIGNALED(s) && WTERMSIG(s) == {X.signal_name(status & 0x7F)}"
    return text + " && WCOREDUMP(s)" if status & 0x80 else text


def _fetch_wait_status(ctx: Ctx, v: int) -> None:
    if not (ctx.failed or ctx.ret == 0):
        ctx.mem(v, 4)


@fetched_by(_fetch_wait_status)
def wait_status(ctx: Ctx, v: int) -> str:
    if ctx.failed or ctx.ret == 0:
        return ptr(ctx, v)
    ints = L.unpack_ints(ctx.mem(v, 4) or b"", 1)
    return ptr(ctx, v) if ints is None else f"[{{{wait_status_text(ints[0])}}}]"


def sockaddr_text(data: bytes) -> str:
    if len(data) < 2:
        return "{}"
    family = int.from_bytes(data[:2], "little")
    fam = X.ADDRESS_FAMILIES.get(family, str(family))
    head = f"{{sa_family={fam}"
    if family == socket.AF_UNIX:
        path = data[2:]
        if not path:
            return head + "}"
        if path[0] == 0:
            return f"{head}, sun_path=@{quote_string(path[1:])}}}"
        return f"{head}, sun_path={quote_string(path.split(bytes(1), 1)[0])}}}"
    if family == socket.AF_INET and len(data) >= 8:
        port = int.from_bytes(data[2:4], "big")
        addr = socket.inet_ntoa(data[4:8])
        return f'{head}, sin_port=htons({port}), sin_addr=inet_addr("{addr}")}}'
    if family == socket.AF_INET6 and len(data) >= 28:
        port = int.from_bytes(data[2:4], "big")
        flow = int.from_bytes(data[4:8], "big")
        addr = socket.inet_ntop(socket.AF_INET6, data[8:24])
        scope = int.from_bytes(data[24:28], "little")
        return (f"{head}, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), "
                f'inet_pton(AF_INET6, "{addr}", &sin6_addr), sin6_scope_id={scope}}}')
    if family == socket.AF_NETLINK and len(data) >= 12:
        pid, groups = struct.unpack_from("<II", data, 4)
        return f"{head}, nl_pid={pid}, nl_groups={groups:08x}}}"
    return head + ", ...}"


def sockaddr_in(len_index: int) -> Render:
    """An address the call reads, its length in another argument (connect, bind)."""
    def fetch(ctx: Ctx, v: int) -> None:
        size = ctx.args[len_index] & 0xFFFFFFFF
        if size:
            ctx.mem(v, min(size, 128))

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        size = ctx.args[len_index] & 0xFFFFFFFF
        data = ctx.mem(v, min(size, 128)) if size else None
        return ptr(ctx, v) if data is None else sockaddr_text(data)
    return render


def sockaddr_out(len_ptr_index: int) -> Render:
    """An address the call fills, its length in a socklen_t the call also updates."""
    def fetch(ctx: Ctx, v: int) -> None:
        if ctx.failed:
            return
        lens = L.unpack_ints(ctx.mem(ctx.args[len_ptr_index], 4) or b"", 1)
        if lens and lens[0] > 0:
            ctx.mem(v, min(lens[0], 128))

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        lens = None if ctx.failed else L.unpack_ints(ctx.mem(ctx.args[len_ptr_index], 4) or b"", 1)
        data = ctx.mem(v, min(lens[0], 128)) if lens and lens[0] > 0 else None
        return ptr(ctx, v) if data is None else sockaddr_text(data)
    return render


def _fetch_uname(ctx: Ctx, v: int) -> None:
    ctx.mem(v, 2 * L.UTSNAME_FIELD)


@fetched_by(_fetch_uname)
def uname(ctx: Ctx, v: int) -> str:
    names = L.unpack_utsname(ctx.mem(v, 2 * L.UTSNAME_FIELD) or b"")
    if names is None:
        return ptr(ctx, v)
    return f"{{sysname={quote_string(names[0])}, nodename={quote_string(names[1])}, ...}}"




def _fetch_socklen_in(ctx: Ctx, v: int) -> None:
    ctx.mem(v, 4)


def _fetch_socklen_out(ctx: Ctx, v: int) -> None:
    if not ctx.failed:
        ctx.mem(v, 4)


@fetched_by(_fetch_socklen_in)
def _socklen_in(ctx: Ctx, v: int) -> str:
    ints = L.unpack_ints(ctx.mem(v, 4) or b"", 1)
    return ptr(ctx, v) if ints is None else f"[{ints[0]}"


@fetched_by(_fetch_socklen_out)
def _socklen_out(ctx: Ctx, v: int, entry: str) -> str:
    if not entry.startswith("["):
        return ""
    ints = None if ctx.failed else L.unpack_ints(ctx.mem(v, 4) or b"", 1)
    if ints is None or f"[{ints[0]}" == entry:
        return "]"
    return f" => {ints[0]}]"


socklen = Arg(_socklen_in, exit_suffix=_socklen_out)
"""A value-result socklen_t: ``[16]``, or ``[110 => 16]`` when the call changed it."""


def _fetch_dirents(ctx: Ctx, v: int) -> None:
    if not ctx.failed and ctx.ret:
        ctx.mem(v, ctx.ret)


@fetched_by(_fetch_dirents)
def dirents(ctx: Ctx, v: int) -> str:
    """getdents64's buffer: its address and, as strace, how many entries the call wrote."""
    if ctx.failed or ctx.ret is None:
        return ptr(ctx, v)
    data = ctx.mem(v, ctx.ret) if ctx.ret else b""
    if data is None:
        return ptr(ctx, v)
    count = pos = 0
    while pos + 19 <= len(data):  # d_ino, d_off, d_reclen, d_type, then the name
        reclen = int.from_bytes(data[pos + 16 : pos + 18], "little")
        if reclen == 0:
            break
        count += 1
        pos += reclen
    return f"{ptr(ctx, v)} /* {count} entr{'y' if count == 1 else 'ies'} */"


def _fetch_id_list(ctx: Ctx, v: int) -> None:
    if ctx.failed or ctx.ret is None or v == 0 or ctx.args[0] & 0xFFFFFFFF == 0:
        return
    ctx.mem(v, 4 * ctx.ret)


@fetched_by(_fetch_id_list)
def id_list(ctx: Ctx, v: int) -> str:
    """getgroups' output: ``ret`` 32-bit ids (none when asked for the count only)."""
    if ctx.failed or ctx.ret is None or v == 0:
        return ptr(ctx, v)
    size = ctx.args[0] & 0xFFFFFFFF
    if size == 0:
        return "[]"
    ids = L.unpack_ints(ctx.mem(v, 4 * ctx.ret) or b"", ctx.ret)
    return ptr(ctx, v) if ids is None else "[" + ", ".join(str(i & 0xFFFFFFFF) for i in ids) + "]"


def remaining(*, time64: bool = False) -> Render:
    """nanosleep's ``rem``: written only when a signal interrupted the sleep."""
    shown = timespec(time64=time64)
    inner = fetch_of(shown)

    def fetch(ctx: Ctx, v: int) -> None:
        if ctx.ret is not None and signed(ctx.ret, 64) in (-4, -516):
            inner(ctx, v)  # type: ignore[misc]

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str | None:
        if ctx.ret is not None and signed(ctx.ret, 64) in (-4, -516):  # EINTR, RESTARTBLOCK
            return shown(ctx, v)
        return ptr(ctx, v)
    return render
