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

Where the kernel's output depends on the machine, documented differences: ``%p`` and
``%pK`` print the raw value like ``%px`` (the kernel prints a per-boot hash), and
``%ps``/``%pS``/``%pB`` print ``0x<hex>`` (what the kernel prints for an address with no
symbol: there is no kallsyms here).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_BPRINTF_VARARGS = 12
MAX_TRACE_PRINTK_VARARGS = 3
MAX_BPRINTF_BUF = 1024
MAX_BPRINTF_BIN_ARGS = 512

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
class Conv:
    """One prepared conversion: ``kind`` is the conversion (``d``, ``u``, ``x``, ``X``,
    ``c``, ``s``, ``p``, or ``str`` for text pre-formatted by prepare), ``value`` the
    argument (int) or text (bytes), ``size`` 4 or 8 for integers."""
    flags: bytes
    width: int | None
    kind: str
    value: int | bytes
    size: int = 8


Piece = bytes | Conv


class _Bin:
    """Accounting of the kernel's 512-byte binary argument buffer."""

    def __init__(self) -> None:
        self.used = 0

    @property
    def room(self) -> int:
        return MAX_BPRINTF_BIN_ARGS - self.used

    def scalar(self, size: int) -> bool:
        self.used = (self.used + 3) & ~3          # PTR_ALIGN(tmp_buf, sizeof(u32))
        if self.room < size:
            return False
        self.used += size
        return True


def prepare(fmt: bytes, fmt_size: int, args: Sequence[int], num_args: int,
            strings: StringSource, kernel: KernelSource) -> list[Piece] | int:
    """Check ``fmt`` (the ``fmt_size`` bytes the program passed) and bind ``args``.
    Returns the pieces to render, or a negative errno (-EINVAL, -ENOSPC)."""
    end = fmt.find(0, 0, fmt_size)
    if end < 0:
        return -errno.EINVAL                      # not NUL-terminated within fmt_size
    fmt = fmt[:end]
    n = len(fmt)

    def at(j: int) -> int:
        return fmt[j] if j < n else 0

    pieces: list[Piece] = []
    lit = bytearray()
    binbuf = _Bin()
    num_spec = 0
    i = 0
    while i < n:
        c = fmt[i]
        if _bad_char(c):
            return -errno.EINVAL
        if c != 0x25:                             # '%'
            lit.append(c)
            i += 1
            continue
        if at(i + 1) == 0x25:
            lit.append(0x25)
            i += 2
            continue
        if num_spec >= num_args:
            return -errno.EINVAL
        arg = args[num_spec] & ((1 << 64) - 1)
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
        conv: Conv
        ch = at(i)
        if ch == ord("p"):
            nxt = at(i + 1)
            if nxt == 0 or _isspace(nxt) or _ispunct(nxt):
                conv = Conv(flags, width, "p", arg)
            elif nxt in b"ku" and at(i + 2) == ord("s"):
                i += 2
                res = _string(fmt, i, at, chr(nxt), arg, flags, width, binbuf, strings)
                if isinstance(res, int):
                    return res
                conv = res
                if lit:
                    pieces.append(bytes(lit))
                    lit.clear()
                pieces.append(conv)
                num_spec += 1
                i += 1
                continue
            elif nxt in b"KxsS":
                i += 1
                conv = Conv(flags, width, "p" if nxt != ord("s") and nxt != ord("S")
                            else "sym", arg)
            elif nxt == ord("B"):
                i += 1
                text = b"0x%x" % arg
                if binbuf.room < len(text) + 1:
                    text = text[:max(binbuf.room - 1, 0)]
                binbuf.used += len(text) + 1
                conv = Conv(flags, width, "str", text)
                if lit:
                    pieces.append(bytes(lit))
                    lit.clear()
                pieces.append(conv)
                num_spec += 1
                i += 1
                continue
            elif nxt in b"iI" and at(i + 2) in b"46" and at(i + 2) != 0:
                i += 2
                ip_size = 4 if at(i) == ord("4") else 16
                if binbuf.room < ip_size:
                    return -errno.ENOSPC
                raw = kernel(arg, ip_size)
                text = _format_ip(raw if raw is not None else bytes(ip_size),
                                  upper=nxt == ord("I"))
                binbuf.used += len(text) + 1
                conv = Conv(flags, width, "str", text)
                if lit:
                    pieces.append(bytes(lit))
                    lit.clear()
                pieces.append(conv)
                num_spec += 1
                i += 1
                continue
            else:
                return -errno.EINVAL              # only %pI4 %pi4 %pI6 %pi6 beyond these
            if not binbuf.scalar(8):
                return -errno.ENOSPC
        elif ch == ord("s"):
            res = _string(fmt, i, at, "s", arg, flags, width, binbuf, strings)
            if isinstance(res, int):
                return res
            conv = res
        elif ch == ord("c"):
            if binbuf.room == 0:
                return -errno.ENOSPC
            binbuf.used += 1
            conv = Conv(flags, width, "c", arg & 0xFF)
        else:
            size = 4
            if at(i) == ord("l"):
                size = 8
                i += 1
            if at(i) == ord("l"):
                i += 1
            ch = at(i)
            if ch == 0 or ch not in b"iduxX":
                return -errno.EINVAL
            if not binbuf.scalar(size):
                return -errno.ENOSPC
            kind = "d" if ch in b"id" else chr(ch)
            conv = Conv(flags, width, kind, arg, size)
        if lit:
            pieces.append(bytes(lit))
            lit.clear()
        pieces.append(conv)
        num_spec += 1
        i += 1
    if lit:
        pieces.append(bytes(lit))
    return pieces


def _string(fmt: bytes, i: int, at: Callable[[int], int], ptype: str, arg: int,
            flags: bytes, width: int | None, binbuf: _Bin,
            strings: StringSource) -> Conv | int:
    """The ``fmt_str`` path of bpf_bprintf_prepare; ``fmt[i]`` is the ``s``."""
    nxt = at(i + 1)
    if not (nxt == 0 or _isspace(nxt) or _ispunct(nxt)):
        return -errno.EINVAL
    if binbuf.room == 0:
        return -errno.ENOSPC
    text = strings(ptype, arg, binbuf.room)
    if text is None:
        text = b""                                # an unreadable string prints as ""
    binbuf.used += len(text) + 1
    return Conv(flags, width, "s", text)


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


def render(pieces: Sequence[Piece]) -> bytes:
    """bstr_printf's output for prepared pieces (the whole text, not truncated)."""
    out = bytearray()
    for piece in pieces:
        if isinstance(piece, bytes):
            out += piece
            continue
        kind, flags, width, v = piece.kind, piece.flags, piece.width, piece.value
        if kind in ("s", "str"):
            assert isinstance(v, bytes)
            out += _pad(v, flags, width)
        elif kind == "c":
            assert isinstance(v, int)
            out += _pad(bytes([v]), flags, width)
        elif kind == "p":
            assert isinstance(v, int)
            out += _pad(b"%016x" % v, flags, width) if width is None else \
                _int(v, flags.replace(b"+", b"").replace(b" ", b""), width, "x")
        elif kind == "sym":
            assert isinstance(v, int)
            out += _pad(b"0x%x" % v, flags, width)
        else:
            assert isinstance(v, int)
            bits = piece.size * 8
            v &= (1 << bits) - 1
            if kind == "d":
                if v >> (bits - 1):
                    v -= 1 << bits
                out += _int(v, flags, width, "d")
            else:   # unsigned conversions ignore '+' and ' ' (vsprintf's SIGN only)
                out += _int(v, flags.replace(b"+", b"").replace(b" ", b""), width,
                            "d" if kind == "u" else kind)
    return bytes(out)


def _int(v: int, flags: bytes, width: int | None, conv: str) -> bytes:
    spec = b"%" + flags + (b"%d" % width if width is not None else b"") + conv.encode()
    return spec % v


def bstr_printf(pieces: Sequence[Piece], size: int) -> tuple[bytes, int]:
    """(what fits a buffer of ``size`` bytes without the NUL, the full length), as
    vsnprintf reports it."""
    text = render(pieces)
    return (text[:max(size - 1, 0)], len(text))
