"""The kernel's printf for BPF: ``bpf_bprintf_prepare`` + ``bstr_printf``.

bpf_trace_printk, bpf_trace_vprintk and bpf_snprintf share one format checker in
kernel/bpf/helpers.c.  It walks the format once, refuses what it does not know with
-EINVAL, and copies the arguments into a 512-byte binary buffer (strings and IP
addresses are read and pre-formatted at that point); lib/vsprintf.c's bstr_printf then
renders the text.  This module does both with the same rules:

* the format must be NUL-terminated within ``fmt_size`` and contain no ASCII control
  character other than spaces (bytes >= 0x80 pass, as on the host kernel, 6.18);
* a conversion is ``%`` [flags ``0+- ``] [width] then one of ``d i u x X`` (optionally
  after ``l`` or ``ll``), ``c``, ``s``, ``p``, ``pK``, ``px``, ``ps``, ``pS``, ``pB``,
  ``pks``, ``pus``, ``pi4``, ``pI4``, ``pi6``, ``pI6``; ``%%`` is a literal percent.
  Anything else (``%hd``, ``%zu``, ``%o``, ``%f``, ``%#x``, ``%.3s``, ``%pa``...) is
  -EINVAL, as are more conversions than arguments;
* ``%s`` (and ``%pks``/``%pus``) must be followed by the end, a space or punctuation;
  a string that cannot be read prints as empty;
* -ENOSPC when the binary buffer (512 bytes) overflows.

The walk is done in two parts, as the work divides: :func:`check` does what depends on
the format alone (cached: a program passes the same format at every call), :func:`bind`
what depends on the arguments (the binary buffer's accounting, strings read, and each
conversion's text, which depends on its argument alone).  An error found by the check
is returned only when bind gets that far, so the first error in the kernel's walk
order wins.

Where the kernel's output depends on the machine, documented differences: ``%p`` and
``%pK`` print the raw value like ``%px`` (the kernel prints a per-boot hash), and
``%ps``/``%pS``/``%pB`` print ``0x<hex>`` (what the kernel prints for an address with no
symbol: there is no kallsyms here).
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_BPRINTF_VARARGS = 12
MAX_TRACE_PRINTK_VARARGS = 3
MAX_BPRINTF_BUF = 1024
MAX_BPRINTF_BIN_ARGS = 512
M64 = (1 << 64) - 1

#: (ptype, address, bufsz) -> the string at address (no NUL), None on a fault.
#: ptype is "s" (decide by address), "k" (kernel) or "u" (user).
StringSource = Callable[[str, int, int], "bytes | None"]
#: (address, size) -> kernel bytes, None on a fault (for %pI4/%pI6).
KernelSource = Callable[[int, int], "bytes | None"]

# The kernel's ctype (lib/ctype.c) is Latin-1: 0xa0 is a space, 0xa1-0xbf, 0xd7 and
# 0xf7 are punctuation, 0x80-0x9f are nothing.
_SPACE = frozenset(b" \t\n\v\f\r\xa0")
_PUNCT = frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") | frozenset(range(0xA1, 0xC0)) \
    | {0xD7, 0xF7}


def _isspace(c: int) -> bool:
    return c in _SPACE


def _ispunct(c: int) -> bool:
    return c in _PUNCT


def _bad_char(c: int) -> bool:
    """An ASCII control character (bytes >= 0x80, such as UTF-8 text, are accepted, as
    measured on Linux 6.18; older kernels refused them)."""
    return c < 0x80 and not (0x20 <= c <= 0x7E or c in _SPACE)


@dataclass(frozen=True, slots=True)
class Spec:
    """One conversion of a checked format, before an argument is bound to it.

    ``kind``: ``d u x X`` (``size`` 4 or 8), ``c``, ``s`` (``ptype``: ``s``, ``k`` or
    ``u``), ``p``, ``sym`` (%ps %pS), ``pB``, ``ip`` (%pI4 and friends: ``ip_size`` 4 or
    16, ``upper`` for %pI).  ``pyfmt`` is the Python %-format of integer conversions
    (and of %p with a width), applied to the argument cut to ``mask`` and made negative
    when ``sign`` (the sign bit of a signed conversion) is set."""
    flags: bytes
    width: int | None
    kind: str
    size: int = 8
    ptype: str = "s"
    ip_size: int = 0
    upper: bool = False
    pyfmt: bytes | None = None
    mask: int = M64
    sign: int = 0


def _int_spec(flags: bytes, width: int | None, kind: str, size: int) -> Spec:
    return Spec(flags, width, kind, size, pyfmt=_int_format(kind, flags, width),
                mask=(1 << (8 * size)) - 1, sign=1 << (8 * size - 1) if kind == "d" else 0)


#: The text of one piece of the output: literal text, or one conversion's.
Piece = bytes


@dataclass(frozen=True, slots=True)
class Format:
    """A format as bpf_bprintf_prepare's walk sees it, independent of the arguments:
    literal text and conversions in order, then ``error`` (0, or the -errno the walk
    stops with at that point).  Binding arguments can still fail earlier (-ENOSPC)."""
    items: tuple[bytes | Spec, ...]
    error: int = 0
    reads_memory: bool = False     # a %s or %pI...: binding reads memory


@functools.lru_cache(maxsize=512)
def check(fmt: bytes, fmt_size: int, num_args: int) -> Format:
    """The argument-independent part of bpf_bprintf_prepare: the format's text and
    conversions, or where the walk refuses it.  Cached: a program passes the same
    format at every call."""
    end = fmt.find(0, 0, fmt_size)
    if end < 0:
        return Format((), -errno.EINVAL)          # not NUL-terminated within fmt_size
    fmt = fmt[:end]
    n = len(fmt)

    def at(j: int) -> int:
        return fmt[j] if j < n else 0

    items: list[bytes | Spec] = []
    lit = bytearray()

    def done(error: int = 0) -> Format:
        if lit:
            items.append(bytes(lit))
        reads = any(isinstance(it, Spec) and it.kind in ("s", "ip") for it in items)
        return Format(tuple(items), error, reads)

    def add(spec: Spec) -> None:
        if lit:
            items.append(bytes(lit))
            lit.clear()
        items.append(spec)

    num_spec = 0
    i = 0
    while i < n:
        c = fmt[i]
        if _bad_char(c):
            return done(-errno.EINVAL)
        if c != 0x25:                             # '%'
            lit.append(c)
            i += 1
            continue
        if at(i + 1) == 0x25:
            lit.append(0x25)
            i += 2
            continue
        if num_spec >= num_args:
            return done(-errno.EINVAL)
        i += 1
        fstart = i
        while at(i) in b"0+- " and at(i) != 0:
            i += 1
        flags = fmt[fstart:i]
        width: int | None = None
        if 0x31 <= at(i) <= 0x39:                 # '1'..'9'
            wstart = i
            i += 1
            while 0x30 <= at(i) <= 0x39:
                i += 1
            width = int(fmt[wstart:i])
        ch = at(i)
        if ch == ord("p"):
            nxt = at(i + 1)
            if nxt == 0 or _isspace(nxt) or _ispunct(nxt):
                spec = _pointer_spec(flags, width)
            elif nxt in b"ku" and at(i + 2) == ord("s"):
                i += 2
                if not _str_end(at(i + 1)):
                    return done(-errno.EINVAL)
                spec = Spec(flags, width, "s", ptype=chr(nxt))
            elif nxt in b"KxsS":
                i += 1
                spec = _pointer_spec(flags, width) if nxt in b"Kx" else \
                    Spec(flags, width, "sym")
            elif nxt == ord("B"):
                i += 1
                spec = Spec(flags, width, "pB")
            elif nxt in b"iI" and at(i + 2) in b"46" and at(i + 2) != 0:
                i += 2
                spec = Spec(flags, width, "ip", ip_size=4 if at(i) == ord("4") else 16,
                            upper=nxt == ord("I"))
            else:
                return done(-errno.EINVAL)        # only %pI4 %pi4 %pI6 %pi6 beyond these
        elif ch == ord("s"):
            if not _str_end(at(i + 1)):
                return done(-errno.EINVAL)
            spec = Spec(flags, width, "s")
        elif ch == ord("c"):
            spec = Spec(flags, width, "c")
        else:
            size = 4
            if at(i) == ord("l"):
                size = 8
                i += 1
            if at(i) == ord("l"):
                i += 1
            ch = at(i)
            if ch == 0 or ch not in b"iduxX":
                return done(-errno.EINVAL)
            spec = _int_spec(flags, width, "d" if ch in b"id" else chr(ch), size)
        add(spec)
        num_spec += 1
        i += 1
    return done()


def _str_end(c: int) -> bool:
    """What may follow %s (and %pks, %pus): the end, a space or punctuation."""
    return c == 0 or _isspace(c) or _ispunct(c)


def bind(form: Format, args: Sequence[int], strings: StringSource,
         kernel: KernelSource) -> list[Piece] | int:
    """The argument-dependent part of bpf_bprintf_prepare: the 512-byte binary buffer's
    accounting, strings and IP addresses read now.  Each conversion's text depends on
    its argument alone, so it is rendered here too (bstr_printf's part); the pieces of
    text in order, or -errno."""
    pieces: list[Piece] = []
    add = pieces.append
    used = 0                                      # bytes of the binary buffer
    num_spec = 0
    for item in form.items:
        if isinstance(item, bytes):
            add(item)
            continue
        arg = args[num_spec] & M64
        num_spec += 1
        kind = item.kind
        if kind == "s":
            room = MAX_BPRINTF_BIN_ARGS - used
            if room == 0:
                return -errno.ENOSPC
            text = strings(item.ptype, arg, room)
            if text is None:
                text = b""                        # an unreadable string prints as ""
            used += len(text) + 1
            add(_pad(text, item.flags, item.width))
        elif kind == "c":
            if used == MAX_BPRINTF_BIN_ARGS:
                return -errno.ENOSPC
            used += 1
            add(_pad(bytes((arg & 0xFF,)), item.flags, item.width))
        elif kind == "pB":
            text = b"0x%x" % arg
            room = MAX_BPRINTF_BIN_ARGS - used
            if room < len(text) + 1:
                text = text[:max(room - 1, 0)]
            used += len(text) + 1
            add(_pad(text, item.flags, item.width))
        elif kind == "ip":
            if MAX_BPRINTF_BIN_ARGS - used < item.ip_size:
                return -errno.ENOSPC
            raw = kernel(arg, item.ip_size)
            text = _format_ip(raw if raw is not None else bytes(item.ip_size),
                              upper=item.upper)
            used += len(text) + 1
            add(_pad(text, item.flags, item.width))
        else:                                     # integers and pointers: aligned scalars
            used = (used + 3) & ~3                # PTR_ALIGN(tmp_buf, sizeof(u32))
            if MAX_BPRINTF_BIN_ARGS - used < item.size:
                return -errno.ENOSPC
            used += item.size
            if item.pyfmt is not None:            # integers, %p with a width
                arg &= item.mask
                if arg & item.sign:
                    arg -= item.sign << 1
                add(item.pyfmt % arg)
            elif kind == "p":
                add(b"%016x" % arg)
            else:   # "sym"
                add(_pad(b"0x%x" % arg, item.flags, item.width))
    return form.error or pieces


def _format_ip(raw: bytes, upper: bool) -> bytes:
    """%pI4 1.2.3.4, %pi4 001.002.003.004, %pI6 0001:...:0008, %pi6 32 hex digits."""
    if len(raw) == 4:
        return b".".join((b"%d" if upper else b"%03d") % b for b in raw)
    if upper:
        return b":".join(b"%02x%02x" % (raw[j], raw[j + 1]) for j in range(0, 16, 2))
    return raw.hex().encode()


def _pad(text: bytes, flags: bytes, width: int | None) -> bytes:
    if width is None or len(text) >= width:
        return text
    fill = b" " * (width - len(text))
    return text + fill if b"-" in flags else fill + text


#: A format's whole text from its arguments, as one ``%``-operation (see int_renderer).
IntRenderer = Callable[[Sequence[int]], bytes]

#: The conversions whose text is one Python %-format of the argument cut to its size:
#: integers, and %p/%pK/%px (16 hex digits, or %x with a width).
_SCALAR_KINDS = frozenset("duxXp")


def int_renderer(form: Format) -> IntRenderer | None:
    """For a format whose conversions are all integers and pointers (``%d %u %x %X``
    with ``l``/``ll``, ``%p %pK %px``): a function of the arguments giving the whole
    text, equal to ``render(bind(form, args, ...))`` when ``form.error`` is 0.  With
    ``form.error`` set, ``bind`` returns that error for such a format whatever the
    arguments: its conversions read no memory, and at most 12 scalars of at most 8
    bytes never overflow the 512-byte binary buffer (-ENOSPC).  None for any other
    format (strings, characters, %pB, %ps, IP addresses).

    The literal text (``%`` doubled) and each conversion's %-format are joined into one
    format, applied to a tuple of the arguments cut to their size and sign-extended
    where the conversion is signed: the same text as formatting each piece alone."""
    fmt = bytearray()
    exprs: list[str] = []
    for item in form.items:
        if isinstance(item, bytes):
            fmt += item.replace(b"%", b"%%")
            continue
        if item.kind not in _SCALAR_KINDS:
            return None
        fmt += item.pyfmt if item.pyfmt is not None else b"%016x"
        a = f"a[{len(exprs)}]"
        if item.sign:
            exprs.append(f"((({a}) & {item.mask:#x}) ^ {item.sign:#x}) - {item.sign:#x}")
        else:
            exprs.append(f"({a}) & {item.mask:#x}")
    if not exprs:
        text = b"".join(it for it in form.items if isinstance(it, bytes))   # all of them
        return lambda a: text
    namespace: dict[str, object] = {"FMT": bytes(fmt)}
    exec(f"def _render(a):\n    return FMT % ({', '.join(exprs)},)\n", namespace)
    fn: IntRenderer = namespace["_render"]  # type: ignore[assignment]
    return fn


def render(pieces: Sequence[Piece]) -> bytes:
    """bstr_printf's output for prepared pieces (the whole text, not truncated)."""
    return b"".join(pieces)


def _pointer_spec(flags: bytes, width: int | None) -> Spec:
    """%p %pK %px: 16 hex digits, or with a width as %x (no '+' or ' ')."""
    if width is None:
        return Spec(flags, width, "p")
    return Spec(flags, width, "p", pyfmt=_int_format("x", flags, width))


@functools.lru_cache(maxsize=256)
def _int_format(kind: str, flags: bytes, width: int | None) -> bytes:
    """The Python %-format of an integer conversion.  Unsigned conversions ignore '+'
    and ' ' (vsprintf's SIGN only)."""
    if kind != "d":
        flags = flags.replace(b"+", b"").replace(b" ", b"")
    conv = b"d" if kind == "u" else kind.encode()
    return b"%" + flags + (b"%d" % width if width is not None else b"") + conv


def bstr_printf(pieces: Sequence[Piece], size: int) -> tuple[bytes, int]:
    """(what fits a buffer of ``size`` bytes without the NUL, the full length), as
    vsnprintf reports it."""
    text = render(pieces)
    return (text[:max(size - 1, 0)], len(text))
