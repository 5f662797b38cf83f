"""Event loops: poll and ppoll's pollfd arrays, select and pselect6's fd sets, epoll's
events (strace's poll.c, desc.c and epoll.c).

The results strace appends after the return value (``= 1 ([{fd=3, revents=POLLIN}])``,
``(in [3], left {...})``) need the memory at the exit stop, which the return value's
renderer (:func:`tracer.format_results.format_return`) does not get; only ``(Timeout)``
is shown, from the return value alone."""

from __future__ import annotations

from tracer.syscalls import xlat as X
from tracer.syscalls.decode.common import (
    Ctx,
    Render,
    fetched_by,
    flags_text,
    ptr,
    signed,
)
from tracer.syscalls.decode.shared import (
    array_text,
    bits_text,
    klong,
    klong_fmt,
    self_fetched,
    unpack,
)
from tracer.syscalls.decode.signal import format_sigset

_POLLFD = 8          # struct pollfd: int fd; short events, revents
_EPOLL_EVENT = 12    # struct epoll_event: u32 events; u64 data (packed on x86)
_FD_SETSIZE_CAP = 1 << 20


# --- poll -----------------------------------------------------------------------------------


def pollfd_text(data: bytes) -> str:
    fd, events, _ = unpack("<ihh", data) or (0, 0, 0)
    if fd < 0:
        return f"{{fd={fd}}}"
    return f"{{fd={fd}, events={flags_text(events & 0xFFFF, X.POLL_EVENTS)}}}"


def _fetch_pollfds(ctx: Ctx, v: int) -> None:
    shown = min(ctx.args[1] & 0xFFFFFFFF, ctx.strlen)
    if v & ctx.mask and shown:
        ctx.mem(v, _POLLFD * shown)


@fetched_by(_fetch_pollfds)
def pollfds(ctx: Ctx, v: int) -> str:
    """poll's ``[{fd=3, events=POLLIN}, ...]``: ``nfds`` (the next argument) entries."""
    count = ctx.args[1] & 0xFFFFFFFF
    if not v & ctx.mask:
        return ptr(ctx, v)
    shown = min(count, ctx.strlen)
    data = ctx.mem(v, _POLLFD * shown) if shown else b""
    if data is None:
        return ptr(ctx, v)
    items = [pollfd_text(data[i:i + _POLLFD]) for i in range(0, len(data), _POLLFD)]
    return array_text(items, count, ctx.strlen)


# --- select ---------------------------------------------------------------------------------


@self_fetched
def fd_set(ctx: Ctx, v: int) -> str:
    """One fd_set of ``nfds`` (argument 0) bits: ``[3 4]``; NULL; its address if unreadable."""
    if not v & ctx.mask:
        return "NULL"
    nfds = signed(ctx.args[0], 32)
    if nfds < 0:
        return ptr(ctx, v)
    nfds = min(nfds, _FD_SETSIZE_CAP)
    lw = klong(ctx)   # fd_set is an array of kernel longs
    size = (nfds + 8 * lw - 1) // (8 * lw) * lw
    data = ctx.mem(v, size) if size else b""
    return ptr(ctx, v) if data is None else bits_text(data, nfds)



def _timeval(ctx: Ctx, v: int) -> str:
    fields = unpack("<" + klong_fmt(ctx, signed=True) * 2, ctx.mem(v, 2 * klong(ctx)))
    return ptr(ctx, v) if fields is None else f"{{tv_sec={fields[0]}, tv_usec={fields[1]}}}"


timeval: Render = self_fetched(_timeval)


@self_fetched
def pselect6_sigmask(ctx: Ctx, v: int) -> str:
    """pselect6's sixth argument: ``{sigmask=[USR1], sigsetsize=8}``."""
    if not v & ctx.mask:
        return "NULL"
    pair = unpack("<" + klong_fmt(ctx) * 2, ctx.mem(v, 2 * klong(ctx)))
    if pair is None:
        return ptr(ctx, v)
    mask_addr, size = pair
    mask = "NULL"
    if mask_addr:
        data = ctx.mem(mask_addr, size) if 0 < size <= 128 else None
        mask = (hex(mask_addr) if data is None
                else format_sigset(int.from_bytes(data, "little"), min(8 * size, X.NSIG)))
    return f"{{sigmask={mask}, sigsetsize={size}}}"


# --- epoll ----------------------------------------------------------------------------------


def epoll_event_text(data: bytes) -> str:
    events, u64 = unpack("<IQ", data) or (0, 0)
    return (f"{{events={flags_text(events, X.EPOLL_EVENTS)}, "
            f"data={{u32={u64 & 0xFFFFFFFF}, u64={u64}}}}}")


@self_fetched
def epoll_event(ctx: Ctx, v: int) -> str:
    """epoll_ctl's event: ``{events=EPOLLIN, data={u32=7, u64=7}}``."""
    data = ctx.mem(v, _EPOLL_EVENT)
    return ptr(ctx, v) if data is None else epoll_event_text(data)


def _fetch_epoll_events(ctx: Ctx, v: int) -> None:
    if not ctx.failed and ctx.ret:
        ctx.mem(v, _EPOLL_EVENT * min(ctx.ret, ctx.strlen))


@fetched_by(_fetch_epoll_events)
def epoll_events_out(ctx: Ctx, v: int) -> str:
    """epoll_wait's events: ``ret`` entries at exit; the address when it failed."""
    if ctx.failed or ctx.ret is None:
        return ptr(ctx, v)
    count = ctx.ret
    shown = min(count, ctx.strlen)
    data = ctx.mem(v, _EPOLL_EVENT * shown) if shown else b""
    if data is None:
        return ptr(ctx, v)
    items = [epoll_event_text(data[i:i + _EPOLL_EVENT])
             for i in range(0, len(data), _EPOLL_EVENT)]
    return array_text(items, count, ctx.strlen)


# --- what strace appends to the return value ------------------------------------------------
# ``= 2 ([{fd=3, revents=POLLIN}], left {tv_sec=0, tv_nsec=208})``: read at the exit stop.
# These take ``(ctx, 0)`` with ``ret`` set and give the text between the parentheses, or
# None for nothing; ``(Timeout)`` comes from the return value alone (format_return).


def _left(ctx: Ctx, addr: int, render: Render) -> str | None:
    return None if not addr & ctx.mask else f"left {render(ctx, addr)}"


def _timespec_at(ctx: Ctx, v: int) -> str:
    fields = unpack("<" + klong_fmt(ctx, signed=True) * 2, ctx.mem(v, 2 * klong(ctx)))
    return ptr(ctx, v) if fields is None else f"{{tv_sec={fields[0]}, tv_nsec={fields[1]}}}"


def _poll_result(ctx: Ctx, timeout_index: int | None) -> str | None:
    if ctx.failed or not ctx.ret:
        return None
    count = min(ctx.args[1] & 0xFFFFFFFF, 1 << 16)
    data = ctx.mem(ctx.args[0], _POLLFD * count) if count else None
    if data is None:
        return None
    ready = []
    for i in range(0, len(data), _POLLFD):
        fd, _, revents = unpack("<ihh", data[i:i + _POLLFD]) or (0, 0, 0)
        if revents:
            ready.append(f"{{fd={fd}, revents={flags_text(revents & 0xFFFF, X.POLL_EVENTS)}}}")
    parts = [array_text(ready, len(ready), ctx.strlen)]
    if timeout_index is not None:
        left = _left(ctx, ctx.args[timeout_index], _timespec_at)
        if left:
            parts.append(left)
    return ", ".join(parts)


@self_fetched
def poll_result(ctx: Ctx, v: int) -> str | None:
    return _poll_result(ctx, None)


@self_fetched
def ppoll_result(ctx: Ctx, v: int) -> str | None:
    return _poll_result(ctx, 2)


def _select_result(ctx: Ctx, timeout: Render) -> str | None:
    if ctx.failed or not ctx.ret:
        return None
    parts = []
    for name, index in (("in", 1), ("out", 2), ("except", 3)):
        addr = ctx.args[index]
        if not addr & ctx.mask:
            continue
        text = fd_set(ctx, addr) or ""
        if text.startswith("[") and text != "[]":
            parts.append(f"{name} {text}")
    left = _left(ctx, ctx.args[4], timeout)
    if left:
        parts.append(left)
    return ", ".join(parts) or None


@self_fetched
def select_result(ctx: Ctx, v: int) -> str | None:
    return _select_result(ctx, timeval)


@self_fetched
def pselect6_result(ctx: Ctx, v: int) -> str | None:
    return _select_result(ctx, _timespec_at)


RESULT_DETAILS: dict[str, Render] = {
    "poll": poll_result, "ppoll": ppoll_result, "select": select_result,
    "_newselect": select_result, "pselect6": pselect6_result,
}
"""By call name: the text strace shows in parentheses after a successful return value.
:mod:`tracer.format` fetches it at the exit stop with the call's other outputs, and
:meth:`tracer.call_text.CallText.result` renders it after the value: ``= 1 ({text})``."""
