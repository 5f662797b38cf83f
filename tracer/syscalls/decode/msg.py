"""Vectored I/O and messages: iovec arrays (readv, writev, preadv2...), struct msghdr
and mmsghdr (sendmsg, recvmsg, sendmmsg, recvmmsg), and socket options (setsockopt,
getsockopt): strace's io.c, msghdr.c, mmsghdr.c and net.c.

Layouts are in ABI words: an iovec is two words, a msghdr seven (name, namelen, iov,
iovlen, control, controllen, flags; x86_64 pads namelen and flags to a word), an
mmsghdr a msghdr and msg_len in eight."""

from __future__ import annotations

import struct

from tracer.syscalls import xlat as X
from tracer.syscalls.decode.common import (
    Ctx,
    Render,
    buffer_text,
    fetched_by,
    flags_text,
    ptr,
    pure,
    quote_string,
    signed,
    xval,
)
from tracer.syscalls.decode.net import sockaddr_text
from tracer.syscalls.decode.shared import array_text, self_fetched, unpack, word_fmt

_UNLIMITED = 1 << 64


# --- iovec ----------------------------------------------------------------------------------


def _iovecs(ctx: Ctx, addr: int, count: int,
            data_size: int) -> list[tuple[int, int, int, bytes | None]] | None:
    """The shown entries of an iovec array as ``(base, iov_len, bytes shown, data)``, with
    every read the text needs made; None when the array itself is not shown."""
    if not addr & ctx.mask or count < 0 or count > 1024:
        return None
    w = ctx.word
    shown = min(count, ctx.strlen)
    raw = ctx.mem(addr, 2 * w * shown) if shown else b""
    if raw is None:
        return None
    fmt = "<" + word_fmt(ctx) * 2
    entries = []
    left = data_size
    for i in range(shown):
        base, length = unpack(fmt, raw[2 * w * i:]) or (0, 0)
        size = min(length, max(left, 0))
        left -= length
        data = ctx.mem(base, min(size, ctx.strlen)) if size else b""
        entries.append((base, length, size, data))
    return entries


def _fetch_iovec(ctx: Ctx, addr: int, count: int, data_size: int) -> None:
    _iovecs(ctx, addr, count, data_size)


def iovec_text(ctx: Ctx, addr: int, count: int, data_size: int) -> str:
    """``[{iov_base="hello", iov_len=5}, ...]``; each buffer shows at most ``data_size``
    bytes in all (the return value of a read; unlimited for a write), cut at ``-s``."""
    if not addr & ctx.mask:
        return "NULL"
    entries = _iovecs(ctx, addr, count, data_size)
    if entries is None:
        return ptr(ctx, addr)
    items = []
    for base, length, size, data in entries:
        text = (ptr(ctx, base) if data is None or (not base and size)
                else buffer_text(data, size))
        items.append(f"{{iov_base={text}, iov_len={length}}}")
    return array_text(items, count, ctx.strlen)


def iovec_in(count_index: int) -> Render:
    """A vector the call reads (writev): at entry, the whole of each buffer."""
    def fetch(ctx: Ctx, v: int) -> None:
        _fetch_iovec(ctx, v, signed(ctx.args[count_index], 32), _UNLIMITED)

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        return iovec_text(ctx, v, signed(ctx.args[count_index], 32), _UNLIMITED)
    return render


def iovec_out(count_index: int) -> Render:
    """A vector the call fills (readv): at exit, ``ret`` bytes across the buffers."""
    def fetch(ctx: Ctx, v: int) -> None:
        if not ctx.failed and ctx.ret is not None:
            _fetch_iovec(ctx, v, signed(ctx.args[count_index], 32), ctx.ret)

    @fetched_by(fetch)
    def render(ctx: Ctx, v: int) -> str:
        if ctx.failed or ctx.ret is None:
            return ptr(ctx, v)
        return iovec_text(ctx, v, signed(ctx.args[count_index], 32), ctx.ret)
    return render


def split_offset(low_index: int) -> Render:
    """preadv's offset on i386: the low word here, the high word in the next argument."""
    @pure
    def render(ctx: Ctx, v: int) -> str:
        high = ctx.args[low_index + 1] if len(ctx.args) > low_index + 1 else 0
        return str(signed((high & 0xFFFFFFFF) << 32 | (v & 0xFFFFFFFF), 64))
    return render


# --- control messages -----------------------------------------------------------------------

_OPTMEM_MAX = 20480   # net.core.optmem_max's default: strace reads no more
_SCM_TYPES = {1: "SCM_RIGHTS", 2: "SCM_CREDENTIALS", 3: "SCM_SECURITY", 4: "SCM_PIDFD",
              29: "SO_TIMESTAMP_OLD", 35: "SO_TIMESTAMPNS_OLD", 37: "SO_TIMESTAMPING_OLD"}


def _cmsg_data(level: int, kind: int, data: bytes) -> str | None:
    if level == 1 and kind == 1 and len(data) >= 4:   # SCM_RIGHTS: the fds
        fds = [str(x) for (x,) in struct.iter_unpack("<i", data[:len(data) // 4 * 4])]
        return "[" + ", ".join(fds) + "]"
    if level == 1 and kind == 2 and len(data) >= 12:  # SCM_CREDENTIALS: struct ucred
        pid, uid_, gid = struct.unpack_from("<iII", data)
        return f"{{pid={pid}, uid={uid_}, gid={gid}}}"
    return quote_string(data, hex_all=True) if data else None


def cmsgs_text(ctx: Ctx, addr: int, controllen: int) -> str:
    """``[{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[5]}]``
    (strace's decode_msg_control; SCM_RIGHTS and SCM_CREDENTIALS decoded, other
    payloads in hex)."""
    w = ctx.word
    head = 2 * w if w == 8 else 12      # struct cmsghdr: len (size_t), level, type
    length = min(controllen, _OPTMEM_MAX)
    buf = ctx.mem(addr, length) if length >= head else None
    if buf is None:
        return ptr(ctx, addr)
    items = []
    pos, left = 0, length
    while left >= head:
        cmsg_len, level, kind = struct.unpack_from("<QiI" if w == 8 else "<IiI", buf, pos)
        size = min(cmsg_len, left)
        level_name = X.SOCKET_LEVELS.get(level & 0xFFFFFFFF, str(level))
        if level == 1:
            kind_name = _SCM_TYPES.get(kind, hex(kind) if kind else "0")
        else:
            kind_name = hex(kind) if kind else "0"
        text = f"{{cmsg_len={cmsg_len}, cmsg_level={level_name}, cmsg_type={kind_name}"
        data = _cmsg_data(level, kind, buf[pos + head:pos + size]) if size > head else None
        items.append(text + (f", cmsg_data={data}}}" if data is not None else "}"))
        if size < head:
            left -= head
            break
        step = (cmsg_len + w - 1) & ~(w - 1)
        if step >= left:
            left = 0
            break
        pos += step
        left -= step
    if left:
        items.append(f"... /* {hex(addr + length - left)} */")
    elif length < controllen:
        items.append("...")
    return "[" + ", ".join(items) + "]"


# --- msghdr ---------------------------------------------------------------------------------


def _msghdr_fields(ctx: Ctx, addr: int) -> tuple[int, ...] | None:
    w = ctx.word
    raw = ctx.mem(addr, 7 * w)
    if raw is None:
        return None
    wf = word_fmt(ctx)
    fields = unpack(f"<{wf}I{w - 4}x{wf}{wf}{wf}{wf}i", raw)
    return fields


def msghdr_text(ctx: Ctx, addr: int, data_size: int) -> str:
    fields = _msghdr_fields(ctx, addr)
    if fields is None:
        return ptr(ctx, addr)
    name, namelen, iov, iovlen, control, controllen, flags = fields
    if not name:
        name_text = "NULL"
    else:
        data = ctx.mem(name, min(namelen, 128)) if namelen else None
        name_text = hex(name) if data is None else sockaddr_text(data)
    parts = [f"msg_name={name_text}", f"msg_namelen={namelen}",
             f"msg_iov={iovec_text(ctx, iov, iovlen, data_size)}", f"msg_iovlen={iovlen}"]
    if controllen:
        parts.append(f"msg_control={cmsgs_text(ctx, control, controllen)}")
    parts += [f"msg_controllen={controllen}",
              f"msg_flags={flags_text(flags & 0xFFFFFFFF, X.MSG_FLAGS)}"]
    return "{" + ", ".join(parts) + "}"


@self_fetched
def msghdr_in(ctx: Ctx, v: int) -> str:
    """sendmsg's message, at entry."""
    return msghdr_text(ctx, v, _UNLIMITED)


@self_fetched
def msghdr_out(ctx: Ctx, v: int) -> str:
    """recvmsg's message at exit, ``ret`` bytes of data; ``{msg_namelen=N}`` if it failed."""
    if ctx.failed or ctx.ret is None:
        fields = _msghdr_fields(ctx, v)
        return ptr(ctx, v) if fields is None else f"{{msg_namelen={fields[1]}}}"
    return msghdr_text(ctx, v, ctx.ret)


def mmsghdr_out(*, received: bool) -> Render:
    """sendmmsg and recvmmsg's vector at exit: ``ret`` entries with their msg_len."""
    @self_fetched
    def render(ctx: Ctx, v: int) -> str:
        if ctx.failed or ctx.ret is None:
            return ptr(ctx, v)
        w = ctx.word
        count = ctx.ret
        items = []
        for i in range(min(count, ctx.strlen)):
            entry = v + 8 * w * i
            lens = unpack("<I", ctx.mem(entry + 7 * w, 4))
            if lens is None:
                items.append("...")
                break
            hdr = msghdr_text(ctx, entry, lens[0] if received else _UNLIMITED)
            items.append(f"{{msg_hdr={hdr}, msg_len={lens[0]}}}")
        return array_text(items, count, ctx.strlen)
    return render


# --- socket options -------------------------------------------------------------------------

sockopt_level = xval(X.SOCKET_LEVELS)


@pure
def sockopt_name(ctx: Ctx, v: int) -> str:
    table = X.SOCKET_OPTIONS.get(ctx.args[1] & 0xFFFFFFFF, {})
    name = table.get(v & 0xFFFFFFFF)
    return name if name is not None else str(signed(v, 32))


_SO_ERROR, _SO_LINGER, _SO_PEERCRED = 4, 13, 17


def _optval(ctx: Ctx, v: int, length: int, *, out: bool = False) -> str:
    name = ctx.args[2] & 0xFFFFFFFF
    if ctx.args[1] & 0xFFFFFFFF == 1 and v & ctx.mask:   # SOL_SOCKET's structs
        if name == _SO_LINGER and (length >= 8 or (out and length > 0)):
            got = unpack("<ii", ctx.mem(v, 8)) if length >= 8 else None
            if got is None and length >= 4:
                got = unpack("<i", ctx.mem(v, 4))
                return ptr(ctx, v) if got is None else f"{{l_onoff={got[0]}}}"
            return ptr(ctx, v) if got is None else f"{{l_onoff={got[0]}, l_linger={got[1]}}}"
        if name == _SO_PEERCRED and out and length >= 12:
            cred = unpack("<iII", ctx.mem(v, 12))
            return (ptr(ctx, v) if cred is None
                    else f"{{pid={cred[0]}, uid={cred[1]}, gid={cred[2]}}}")
        if name == _SO_ERROR and out and length >= 4:
            err = unpack("<I", ctx.mem(v, 4))
            return ptr(ctx, v) if err is None else f"[{X.errno_name(err[0]) if err[0] else 0}]"
    if length == 4:
        value = unpack("<i", ctx.mem(v, 4))
        return ptr(ctx, v) if value is None else f"[{value[0]}]"
    if length <= 0 or not v & ctx.mask:
        return ptr(ctx, v)
    data = ctx.mem(v, min(length, ctx.strlen))
    return ptr(ctx, v) if data is None else buffer_text(data, length)


@self_fetched
def optval_in(ctx: Ctx, v: int) -> str:
    """setsockopt's value: ``[1]`` for an int, else its bytes (strace's default)."""
    return _optval(ctx, v, signed(ctx.args[4], 32))


@self_fetched
def optval_out(ctx: Ctx, v: int) -> str:
    """getsockopt's value at exit, as long as the updated optlen says."""
    if ctx.failed or ctx.ret is None:
        return ptr(ctx, v)
    lens = unpack("<i", ctx.mem(ctx.args[4], 4))
    return ptr(ctx, v) if lens is None else _optval(ctx, v, lens[0], out=True)
