"""Sockets: types and protocols, socket addresses, value-result socklen_t (strace's
net.c and sockaddr.c)."""

from __future__ import annotations

import socket
import struct

from tracer.syscalls import layouts as L
from tracer.syscalls import xlat as X
from tracer.syscalls.decode.common import (
    Arg,
    Ctx,
    Render,
    fetched_by,
    flags_text,
    int_,
    ptr,
    pure,
    quote_string,
    scalar,
    signed,
)


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
