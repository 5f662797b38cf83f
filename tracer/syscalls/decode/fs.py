"""Files and directories: open's flags and mode, directory fds, stat and statx results,
getdents' entries, fcntl's shapes and i386's _llseek (strace's open.c, stat.c, fcntl.c)."""

from __future__ import annotations

from tracer.syscalls import layouts as L
from tracer.syscalls import xlat as X
from tracer.syscalls.decode.common import (
    Ctx,
    Render,
    Sig,
    fd,
    fetched_by,
    flags,
    flags_text,
    hex_,
    hx,
    int_,
    oct_,
    ptr,
    pure,
    scalar,
    signed,
)


@scalar
def dirfd(ctx: Ctx, v: int) -> str:
    fd = signed(v, 32)
    return "AT_FDCWD" if fd == X.AT_FDCWD else str(fd)


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


# --- fcntl: the third argument's shape depends on the command --------------------------------

_FCNTL_UNKNOWN = scalar(lambda c, v: f"{hx(v & 0xFFFFFFFF)} /* F_??? */")
_FD_FLAGS = flags(X.FD_FLAGS)


def fcntl(ctx: Ctx) -> Sig:
    cmd = ctx.args[1] & 0xFFFFFFFF
    name = X.FCNTL_CMDS.get(cmd)
    if name is None:
        return (fd, _FCNTL_UNKNOWN, hex_)
    shown = pure(lambda c, v: name)
    if name.startswith("F_GET") and name not in ("F_GETLK", "F_GETOWN_EX"):
        return (fd, shown)
    third: Render
    if name == "F_SETFD":
        third = _FD_FLAGS
    elif name == "F_SETFL":
        third = open_flags
    elif name in ("F_GETLK", "F_SETLK", "F_SETLKW", "F_OFD_GETLK", "F_OFD_SETLK",
                  "F_OFD_SETLKW", "F_SETOWN_EX", "F_GETOWN_EX"):
        third = ptr
    else:
        third = int_
    return (fd, shown, third)


# --- i386's _llseek: a 64-bit offset in two arguments, the result through a pointer ----------


@pure
def llseek_offset(ctx: Ctx, v: int) -> str:
    return str(signed((ctx.args[1] << 32) | (ctx.args[2] & 0xFFFFFFFF), 64))


def _fetch_loff_out(ctx: Ctx, v: int) -> None:
    if not ctx.failed:
        ctx.mem(v, 8)


@fetched_by(_fetch_loff_out)
def loff_out(ctx: Ctx, v: int) -> str:
    data = None if ctx.failed else ctx.mem(v, 8)
    if data is None or len(data) < 8:
        return ptr(ctx, v)
    return f"[{int.from_bytes(data, 'little', signed=True)}]"
