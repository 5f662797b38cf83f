"""The rest: ioctl's command, resource limits, uname, group lists, prctl and arch_prctl
(strace's ioctl.c, resource.c, uname.c, uid.c, prctl.c)."""

from __future__ import annotations

from tracer.syscalls import layouts as L
from tracer.syscalls import xlat as X
from tracer.syscalls.decode.common import (
    Ctx,
    Render,
    Sig,
    fetched_by,
    hex_,
    hx,
    out,
    output,
    ptr,
    pure,
    quote_string,
    scalar,
    xval,
)
from tracer.syscalls.decode.strings import str_

# --- ioctl ----------------------------------------------------------------------------------


@scalar
def ioctl_cmd(ctx: Ctx, v: int) -> str:
    v &= 0xFFFFFFFF
    name = X.IOCTL_CMDS.get(v)
    if name is not None:
        return name
    direction = ("_IOC_NONE", "_IOC_WRITE", "_IOC_READ", "_IOC_READ|_IOC_WRITE")[v >> 30]
    size, kind, nr = (v >> 16) & 0x3FFF, (v >> 8) & 0xFF, v & 0xFF
    return f"_IOC({direction}, {hx(kind)}, {hx(nr)}, {hx(size)})"


@pure
def ioctl_arg(ctx: Ctx, v: int) -> str:
    """ioctl's third argument: a pointer for the commands we know, else a number."""
    return (ptr if ctx.args[1] & 0xFFFFFFFF in X.IOCTL_CMDS else hex_)(ctx, v)


# --- resources and identity -----------------------------------------------------------------


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


def _fetch_uname(ctx: Ctx, v: int) -> None:
    ctx.mem(v, 2 * L.UTSNAME_FIELD)


@fetched_by(_fetch_uname)
def uname(ctx: Ctx, v: int) -> str:
    names = L.unpack_utsname(ctx.mem(v, 2 * L.UTSNAME_FIELD) or b"")
    if names is None:
        return ptr(ctx, v)
    return f"{{sysname={quote_string(names[0])}, nodename={quote_string(names[1])}, ...}}"


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


# --- prctl and arch_prctl: the arguments' shape depends on the option -------------------------

_ARCH_PRCTL_CODE = xval(X.ARCH_PRCTL_CODES, hex_)
_PRCTL_OPTION = xval(X.PRCTL_OPTIONS, hex_)
_PRCTL_NAME_OUT = out(output(str_))


def arch_prctl(ctx: Ctx) -> Sig:
    getter = ctx.args[0] in (0x1003, 0x1004)  # ARCH_GET_FS, ARCH_GET_GS write through it
    return (_ARCH_PRCTL_CODE, ptr if getter else hex_)


def prctl(ctx: Ctx) -> Sig:
    option = _PRCTL_OPTION
    name = X.PRCTL_OPTIONS.get(ctx.args[0] & 0xFFFFFFFF, "")
    if name == "PR_SET_NAME":
        return (option, str_)
    if name == "PR_GET_NAME":
        return (option, _PRCTL_NAME_OUT)
    if name.startswith("PR_GET_") and name != "PR_GET_PDEATHSIG":
        return (option,)
    return (option, hex_, hex_, hex_, hex_)
