"""The renderers that strace's options change, swapped in per option value once, when
:mod:`tracer.format` makes a call's plan (never per syscall):

- ``-X raw`` / ``-X verbose``: a symbolic renderer (one marked :func:`.common.with_raw`)
  shows its number (``0x80000``), or its number with the names in a comment
  (``0x80000 /* O_RDONLY|O_CLOEXEC */``);
- ``-y`` / ``-yy``: a descriptor (:func:`.common.fd`, :func:`.fs.dirfd`) is followed by
  what the stop learnt of it (``3</etc/passwd>``, ``AT_FDCWD</home/u>``,
  ``3<TCP:[127.0.0.1:40000->127.0.0.1:80]>``), read through the pseudo sizes of
  :mod:`tracer.format_options` (see :mod:`tracer.fd_info`);
- ``-v``: execve's environment as an array, as its argv is.

``-s`` and ``-x`` need no swap: the string renderers read ``ctx.strlen`` and
``ctx.fmt.xflag``."""

from __future__ import annotations

import dataclasses
import struct
import time
from collections.abc import Callable

from probes.abi import Abi
from tracer.format_options import CWD_INFO, FD_INFO, FormatOptions
from tracer.syscalls import layouts as L
from tracer.syscalls import xlat as X
from tracer.syscalls.decode import fs, memory, net, process
from tracer.syscalls.decode.common import (
    FD_COUNT_ATTR,
    SCALARS,
    Arg,
    Ctx,
    Render,
    fd,
    fd_suffix,
    fetch_of,
    fetched_by,
    flags_text,
    hx,
    ptr,
    pure,
    raw_hex,
    raw_hex32,
    raw_of,
    read_prefix,
    signed,
    with_raw,
)
from tracer.syscalls.decode.strings import fetch_str, str_

__all__ = ["fd_suffix", "styled_specs"]


# --- the raw forms of the symbolic renderers outside common -----------------------------------

def _raw_dirfd(ctx: Ctx, v: int) -> str:
    return str(signed(v, 32))


def _raw_socket_type(ctx: Ctx, v: int) -> str:
    """strace shows a socket's type and its flags apart: ``0x1|0x80000``."""
    v &= 0xFFFFFFFF
    kind, rest = v & X.SOCK_TYPE_MASK, v & ~X.SOCK_TYPE_MASK
    return hx(kind) + (f"|{rest:#x}" if rest else "")


def _socket_type_verbose(ctx: Ctx, v: int) -> str:
    """-X verbose of a socket's type: ``0x1 /* SOCK_STREAM */|0x80000 /* SOCK_CLOEXEC */``."""
    v &= 0xFFFFFFFF
    kind, rest = v & X.SOCK_TYPE_MASK, v & ~X.SOCK_TYPE_MASK
    name = X.SOCKET_TYPES.get(kind)
    text = hx(kind) + (f" /* {name} */" if name else "")
    if rest:
        flags = flags_text(rest, X.SOCKET_TYPE_FLAGS)
        text += f"|{rest:#x}" + (f" /* {flags} */" if flags != hex(rest) else "")
    return text


def _raw_protocol(ctx: Ctx, v: int) -> str:
    """socket's protocol: a known one in hex, an unknown one as it is."""
    text = net.socket_protocol(0)(ctx, v)
    return text if text == str(signed(v, 32)) else raw_hex32(ctx, v)


_VERBOSE_ATTR = "xlat_verbose"   # a renderer's own -X verbose form, where not the rule's
setattr(net.socket_type, _VERBOSE_ATTR, _socket_type_verbose)

with_raw(_raw_dirfd)(fs.dirfd)
with_raw(raw_hex)(fs.open_flags)
with_raw(raw_hex)(memory.prot)
with_raw(raw_hex)(memory.mmap_flags)
with_raw(_raw_socket_type)(net.socket_type)


def _xlat(render: Render, raw: Callable[[Ctx, int], str], verbose: bool) -> Render:
    """``render`` as ``-X raw`` (``verbose`` False) or ``-X verbose`` show it."""
    own = getattr(render, _VERBOSE_ATTR, None) if verbose else None
    if own is not None:
        return pure(own) if render in SCALARS else fetched_by(fetch_of(render))(own)

    def styled(ctx: Ctx, v: int) -> str | None:
        text = render(ctx, v)
        if text is None:
            return None
        number = raw(ctx, v)
        if not verbose or text == number:
            return number
        return f"{number} /* {text} */"
    # pure, not scalar: SCALARS keeps what it registers, and the per-call renderers of
    # the shapes (fcntl's) pass here per call
    return pure(styled) if render in SCALARS else fetched_by(fetch_of(render))(styled)


# --- -y: descriptors ----------------------------------------------------------------------------

def _with_fd(render: Render, *, dirfd: bool) -> Render:
    """``render`` followed by the descriptor's :func:`fd_suffix` (``dirfd``: AT_FDCWD is
    followed by the working directory)."""
    def where(v: int) -> tuple[int, int] | None:
        n = signed(v, 32)
        if n >= 0:
            return n, FD_INFO
        if dirfd and n == X.AT_FDCWD:
            return 0, CWD_INFO
        return None

    inner = fetch_of(render)

    def fetch(ctx: Ctx, v: int) -> None:
        if inner is not None:
            inner(ctx, v)
        key = where(v)
        if key is not None:
            ctx.read(*key)

    @fetched_by(fetch)
    def shown(ctx: Ctx, v: int) -> str | None:
        text = render(ctx, v)
        key = where(v)
        if text is None or key is None:
            return text
        return text + fd_suffix(ctx.read(*key), ctx.fmt.xflag)
    return shown


def _raw_of_made(render: Render) -> Callable[[Ctx, int], str] | None:
    """The raw form of renderers the table makes with a factory of a module not ours."""
    name = getattr(render, "__qualname__", "")
    if name.startswith("socket_protocol."):
        return _raw_protocol
    if name == "fcntl.<locals>.<lambda>":   # fcntl's command, named per call
        return raw_hex32
    return None


def _with_fds(render: Render, count: int) -> Render:
    """``[3<pipe:[5]>, 4<pipe:[5]>]``: an :func:`.common.out_fds` array with -y."""
    inner = fetch_of(render)

    def fds(ctx: Ctx, v: int) -> list[int] | None:
        return None if ctx.failed else L.unpack_ints(ctx.mem(v, 4 * count) or b"", count)

    def fetch(ctx: Ctx, v: int) -> None:
        if inner is not None:
            inner(ctx, v)
        for n in fds(ctx, v) or ():
            if n >= 0:
                ctx.read(n, FD_INFO)

    @fetched_by(fetch)
    def shown(ctx: Ctx, v: int) -> str | None:
        got = fds(ctx, v)
        if got is None:
            return render(ctx, v)
        return "[" + ", ".join(
            str(n) + (fd_suffix(ctx.read(n, FD_INFO), ctx.fmt.xflag) if n >= 0 else "")
            for n in got) + "]"
    return shown


# --- -v: execve's arrays in full ------------------------------------------------------------

_MAX_ITEMS = 1 << 16   # pointers read before giving up on an array with no end


def _pointers(ctx: Ctx, v: int) -> list[int] | None:
    """The pointers of a NULL-terminated array at ``v``, None if it runs into
    unreadable memory (or past :data:`_MAX_ITEMS`)."""
    word, addr = ctx.word, v
    items: list[int] = []
    while len(items) < _MAX_ITEMS:
        words = L.unpack_words(read_prefix(ctx.read, addr, 512 * word), word)
        if not words:
            return None
        if 0 in words:
            return items + words[:words.index(0)]
        items += words
        addr += len(words) * word
    return None


def _fetch_array(ctx: Ctx, v: int) -> None:
    for item in (_pointers(ctx, v) or []) if v else []:
        fetch_str(ctx, item)


@fetched_by(_fetch_array)
def string_array(ctx: Ctx, v: int) -> str:
    """``["A=1", "B=2"]``: execve's argv and envp with -v, every element shown (strace
    caps the elements at -s only when not verbose)."""
    if not v:
        return "NULL"
    items = _pointers(ctx, v)
    if items is None:
        return ptr(ctx, v)
    return "[" + ", ".join(str_(ctx, item) for item in items) + "]"


# --- -v: struct stat in full -------------------------------------------------------------------

# x86_64's and x32's struct stat: dev ino nlink mode uid gid pad rdev size blksize blocks
# atime atime_nsec mtime mtime_nsec ctime ctime_nsec
_STAT = struct.Struct("<QQQIII4xQqqqqqqqqq")


def _when(sec: int, nsec: int) -> str:
    """strace's sprinttime_nsec comment, in this process's local time: "" for 0."""
    if (sec == 0 and nsec == 0) or not 0 <= nsec <= 999_999_999:
        return ""
    try:
        t = time.localtime(sec)
    except (OverflowError, OSError, ValueError):
        return ""
    frac = f".{nsec:09d}" if nsec else ""
    return f" /* {time.strftime('%Y-%m-%dT%H:%M:%S', t)}{frac}{time.strftime('%z', t)} */"


def _dev(dev: int) -> str:
    return f"makedev({hx(L.dev_major(dev))}, {hx(L.dev_minor(dev))})"


def _stat_in_full(abbreviated: Render) -> Render:
    """``-v``'s struct stat (x86_64, x32), every field; i386's stays ``abbreviated``."""
    @fetched_by(fetch_of(abbreviated))
    def render(ctx: Ctx, v: int) -> str | None:
        if ctx.failed or ctx.abi is Abi.I386:
            return abbreviated(ctx, v)
        data = ctx.mem(v, L.stat_size(ctx.abi))   # what the abbreviated one's fetch read
        if data is None or len(data) < _STAT.size:
            return abbreviated(ctx, v)
        (dev, ino, nlink, mode, uid, gid, rdev, size, blksize, blocks,
         atime, atime_ns, mtime, mtime_ns, ctime, ctime_ns) = _STAT.unpack_from(data)
        sized = (f"st_rdev={_dev(rdev)}" if mode & X.S_IFMT in (0o020000, 0o060000)
                 else f"st_size={size}")
        return (f"{{st_dev={_dev(dev)}, st_ino={ino}, st_mode={fs.mode_text(mode)}, "
                f"st_nlink={nlink}, st_uid={uid}, st_gid={gid}, st_blksize={blksize}, "
                f"st_blocks={blocks}, {sized}, "
                f"st_atime={atime}{_when(atime, atime_ns)}, st_atime_nsec={atime_ns}, "
                f"st_mtime={mtime}{_when(mtime, mtime_ns)}, st_mtime_nsec={mtime_ns}, "
                f"st_ctime={ctime}{_when(ctime, ctime_ns)}, st_ctime_nsec={ctime_ns}}}")
    return render


# struct statx (every ABI): mask blksize attributes nlink uid gid mode ino size blocks
# attributes_mask, four statx_timestamps {s64 sec, u32 nsec, pad}, rdev major/minor,
# dev major/minor, mnt_id, dio_mem_align, dio_offset_align
_STATX = struct.Struct("<IIQIIIH2xQQQQ" + "qI4x" * 4 + "IIIIQII")
_STATX_BTIME, _STATX_MNT_ID, _STATX_DIOALIGN = 0x800, 0x1000, 0x2000


def _statx_time(name: str, sec: int, nsec: int) -> str:
    return f"{name}={{tv_sec={sec}, tv_nsec={nsec}}}{_when(sec, nsec)}"


@fetched_by(fetch_of(fs.statx_out))
def _statx_in_full(ctx: Ctx, v: int) -> str | None:
    """``-v``'s struct statx: every field strace 6.1 shows; the times, mnt_id and the
    direct I/O alignments only when the returned mask has them."""
    if ctx.failed:
        return fs.statx_out(ctx, v)
    data = ctx.mem(v, L.STATX_SIZE)   # what statx_out's fetch read
    if data is None or len(data) < _STATX.size:
        return fs.statx_out(ctx, v)
    (mask, blksize, attributes, nlink, uid, gid, mode, ino, size, blocks, attributes_mask,
     asec, ansec, bsec, bnsec, csec, cnsec, msec, mnsec, rdev_major, rdev_minor,
     dev_major, dev_minor, mnt_id, dio_mem, dio_offset) = _STATX.unpack_from(data)
    parts = [f"stx_mask={flags_text(mask, X.STATX_MASK)}", f"stx_blksize={blksize}",
             f"stx_attributes={flags_text(attributes, X.STATX_ATTRS)}",
             f"stx_nlink={nlink}", f"stx_uid={uid}", f"stx_gid={gid}",
             f"stx_mode={fs.mode_text(mode)}", f"stx_ino={ino}", f"stx_size={size}",
             f"stx_blocks={blocks}",
             f"stx_attributes_mask={flags_text(attributes_mask, X.STATX_ATTRS)}"]
    for bit, name, sec, nsec in ((0x20, "stx_atime", asec, ansec),
                                 (_STATX_BTIME, "stx_btime", bsec, bnsec),
                                 (0x80, "stx_ctime", csec, cnsec),
                                 (0x40, "stx_mtime", msec, mnsec)):
        if mask & bit:   # a time the kernel did not fill is not shown
            parts.append(_statx_time(name, sec, nsec))
    parts += [f"stx_rdev_major={rdev_major}", f"stx_rdev_minor={rdev_minor}",
              f"stx_dev_major={dev_major}", f"stx_dev_minor={dev_minor}"]
    if mask & _STATX_MNT_ID:
        parts.append(f"stx_mnt_id={hx(mnt_id)}")
    if mask & _STATX_DIOALIGN:
        parts += [f"stx_dio_mem_align={dio_mem}", f"stx_dio_offset_align={dio_offset}"]
    return "{" + ", ".join(parts) + "}"


def _is_stat_out(render: Render) -> bool:
    """A renderer :func:`.fs.stat_out` made (not i386's stat64 one)."""
    if getattr(render, "__qualname__", "") != "stat_out.<locals>.render":
        return False
    code = render.__code__  # type: ignore[attr-defined]
    cells = dict(zip(code.co_freevars, render.__closure__ or (), strict=False))  # type: ignore[attr-defined]
    cell = cells.get("stat64")
    return cell is not None and cell.cell_contents is False


# --- the swap ---------------------------------------------------------------------------------

def _styled(render: Render, fmt: FormatOptions) -> Render:
    if fmt.verbose:
        if render is process.envp or render is process.argv:
            render = string_array
        elif _is_stat_out(render):
            render = _stat_in_full(render)
        elif render is fs.statx_out:
            render = _statx_in_full
    is_fd, is_dirfd = render is fd, render is fs.dirfd
    if fmt.xlat != "abbrev":
        raw = raw_of(render) or _raw_of_made(render)
        if raw is not None:
            render = _xlat(render, raw, fmt.xlat == "verbose")
    if fmt.yflag and (is_fd or is_dirfd):
        render = _with_fd(render, dirfd=is_dirfd)
    elif fmt.yflag and getattr(render, FD_COUNT_ATTR, None):
        render = _with_fds(render, getattr(render, FD_COUNT_ATTR))
    return render


def styled_specs(specs: tuple[Arg, ...], fmt: FormatOptions) -> tuple[Arg, ...]:
    """``specs`` with each renderer as ``fmt`` shows it (the same tuple when no option
    changes any of them)."""
    out = []
    changed = False
    for spec in specs:
        render = _styled(spec.render, fmt)
        if render is not spec.render:
            spec = dataclasses.replace(spec, render=render)
            changed = True
        out.append(spec)
    return tuple(out) if changed else specs
