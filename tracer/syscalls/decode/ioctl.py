"""ioctl's shape by command: what its third argument is (strace's ioctl.c, term.c,
file_ioctl.c).  Commands not here keep :func:`.misc.ioctl_cmd` and :func:`.misc.ioctl_arg`."""

from __future__ import annotations

from tracer.syscalls import xlat as X
from tracer.syscalls.decode.common import (
    Arg,
    Ctx,
    Render,
    Sig,
    fd,
    flags_text,
    int_,
    out,
    output,
    ptr,
)
from tracer.syscalls.decode.misc import ioctl_arg, ioctl_cmd
from tracer.syscalls.decode.shared import self_fetched, unpack

_TCGETS, _TCSETS, _TCSETSW, _TCSETSF = 0x5401, 0x5402, 0x5403, 0x5404
_TIOCGPGRP, _TIOCSPGRP = 0x540F, 0x5410
_TIOCGWINSZ, _TIOCSWINSZ = 0x5413, 0x5414
_FIONREAD, _FIONBIO, _FIONCLEX, _FIOCLEX, _FIOASYNC = 0x541B, 0x5421, 0x5450, 0x5451, 0x5452
_FICLONE = 0x40049409


@self_fetched
def int_ptr(ctx: Ctx, v: int) -> str:
    """``[3]``: an int the call reads or writes."""
    got = unpack("<i", ctx.mem(v, 4))
    return ptr(ctx, v) if got is None else f"[{got[0]}]"


@self_fetched
def winsize(ctx: Ctx, v: int) -> str:
    got = unpack("<HHHH", ctx.mem(v, 8))
    if got is None:
        return ptr(ctx, v)
    row, col, xpix, ypix = got
    return f"{{ws_row={row}, ws_col={col}, ws_xpixel={xpix}, ws_ypixel={ypix}}}"


def _oflag_text(value: int) -> str:
    names = []
    for mask, table, unknown in X.TERM_ODELAYS:
        names.append(table.get(value & mask, unknown))
        value &= ~mask
    if value:
        names.append(flags_text(value, X.TERM_OFLAGS))
    return "|".join(names)


def _cflag_text(value: int) -> str:
    names = [X.BAUD_RATES.get(value & X.CBAUD, "B???")]
    if value & X.CIBAUD:
        names.append(f"{X.BAUD_RATES.get((value & X.CIBAUD) >> X.IBSHIFT, 'B???')}<<IBSHIFT")
    names.append(X.TERM_CSIZE[value & X.CSIZE])
    rest = value & ~(X.CBAUD | X.CIBAUD | X.CSIZE)
    if rest:
        names.append(flags_text(rest, X.TERM_CFLAGS))
    return "|".join(names)


def termios_text(iflag: int, oflag: int, cflag: int, lflag: int) -> str:
    """strace's abbreviated struct termios (its default, without ``-v``)."""
    return (f"{{c_iflag={flags_text(iflag, X.TERM_IFLAGS)}, c_oflag={_oflag_text(oflag)}, "
            f"c_cflag={_cflag_text(cflag)}, c_lflag={flags_text(lflag, X.TERM_LFLAGS)}, ...}}")


@self_fetched
def termios(ctx: Ctx, v: int) -> str:
    got = unpack("<IIII", ctx.mem(v, 16))
    return ptr(ctx, v) if got is None else termios_text(*got)


_INT_OUT = out(output(int_ptr))
_WINSIZE_OUT = out(output(winsize))
_TERMIOS_OUT = out(output(termios))

_SHAPES: dict[int, tuple[Render | Arg, ...]] = {
    _FIOCLEX: (), _FIONCLEX: (),
    _FIONREAD: (_INT_OUT,), _TIOCGPGRP: (_INT_OUT,),
    _FIONBIO: (int_ptr,), _FIOASYNC: (int_ptr,), _TIOCSPGRP: (int_ptr,),
    _TIOCGWINSZ: (_WINSIZE_OUT,), _TIOCSWINSZ: (winsize,),
    _TCGETS: (_TERMIOS_OUT,), _TCSETS: (termios,), _TCSETSW: (termios,), _TCSETSF: (termios,),
    _FICLONE: (int_,),
}


def ioctl(ctx: Ctx) -> Sig:
    """``ioctl(3, FIOCLEX)``, ``ioctl(4, FIONREAD, [3])``, ``ioctl(6, TCGETS, {...})``."""
    shape = _SHAPES.get(ctx.args[1] & 0xFFFFFFFF)
    if shape is None:
        return (fd, ioctl_cmd, ioctl_arg)
    return (fd, ioctl_cmd, *shape)
