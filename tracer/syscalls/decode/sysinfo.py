"""System and process information: sysinfo, statfs and fstatfs, getrusage, times, cpu
affinity sets, group lists, priorities, memfd_create's flags and utimensat's times
(strace's sysinfo.c, statfs.c, resource.c, times.c, affinity.c, uid.c, utimes.c)."""

from __future__ import annotations

import time as _time

from tracer.syscalls import xlat as X
from tracer.syscalls.decode.common import (
    Ctx,
    Render,
    clock_t_text,
    flags,
    flags_text,
    output,
    ptr,
    scalar,
    signed,
    xval,
)
from tracer.syscalls.decode.shared import (
    array_text,
    bits_text,
    klong,
    klong_fmt,
    self_fetched,
    unpack,
)

# --- sysinfo --------------------------------------------------------------------------------


@self_fetched
def _sysinfo(ctx: Ctx, v: int) -> str:
    w = klong(ctx)
    wf = klong_fmt(ctx)
    fields = unpack(f"<{wf.lower()}{wf * 9}H{w - 2}x{wf}{wf}I", ctx.mem(v, 14 * w))
    if fields is None:
        return ptr(ctx, v)
    up, l1, l2, l3, total, free, shared, buffer, tswap, fswap, procs, thigh, fhigh, unit = fields
    return (f"{{uptime={up}, loads=[{l1}, {l2}, {l3}], totalram={total}, freeram={free}, "
            f"sharedram={shared}, bufferram={buffer}, totalswap={tswap}, freeswap={fswap}, "
            f"procs={procs}, totalhigh={thigh}, freehigh={fhigh}, mem_unit={unit}}}")


sysinfo = output(_sysinfo)


# --- statfs ---------------------------------------------------------------------------------


def _statfs_text(f_type: int, bsize: int, counts: tuple[int, ...], fsid: tuple[int, int],
                 namelen: int, frsize: int, st_flags: int) -> str:
    kind = X.FS_MAGICS.get(f_type & 0xFFFFFFFF, hex(f_type & 0xFFFFFFFF))
    blocks, bfree, bavail, files, ffree = counts
    val = ", ".join(hex(x & 0xFFFFFFFF) if x & 0xFFFFFFFF else "0" for x in fsid)
    text = (f"{{f_type={kind}, f_bsize={bsize}, f_blocks={blocks}, f_bfree={bfree}, "
            f"f_bavail={bavail}, f_files={files}, f_ffree={ffree}, f_fsid={{val=[{val}]}}, "
            f"f_namelen={namelen}, f_frsize={frsize}")
    if st_flags & 0x20:   # ST_VALID: the kernel filled f_flags
        text += f", f_flags={flags_text(st_flags, X.STATFS_FLAGS)}"
    return text + "}"


@self_fetched
def _statfs(ctx: Ctx, v: int) -> str:
    if klong(ctx) == 8:
        fields = unpack("<qqQQQQQiiqqq", ctx.mem(v, 88))
    else:
        fields = unpack("<iiIIIIIiiiii", ctx.mem(v, 48))
    if fields is None:
        return ptr(ctx, v)
    return _statfs_text(fields[0], fields[1], fields[2:7], (fields[7], fields[8]),
                        fields[9], fields[10], fields[11])


@self_fetched
def _statfs64(ctx: Ctx, v: int) -> str:
    """i386's struct statfs64 (statfs64, fstatfs64): 32-bit words, 64-bit counts."""
    fields = unpack("<IIQQQQQiiIII", ctx.mem(v, 68))
    if fields is None:
        return ptr(ctx, v)
    return _statfs_text(fields[0], fields[1], fields[2:7], (fields[7], fields[8]),
                        fields[9], fields[10], fields[11])


statfs = output(_statfs)
statfs64 = output(_statfs64)


# --- getrusage and times --------------------------------------------------------------------

rusage_who = xval(X.RUSAGE_WHO)


def _timeval_text(sec: int, usec: int) -> str:
    return f"{{tv_sec={sec}, tv_usec={usec}}}"


@self_fetched
def _rusage(ctx: Ctx, v: int) -> str:
    wf = klong_fmt(ctx, signed=True)
    tv = unpack("<" + wf * 4, ctx.mem(v, 4 * klong(ctx)))
    if tv is None:
        return ptr(ctx, v)
    return (f"{{ru_utime={_timeval_text(tv[0], tv[1])}, "
            f"ru_stime={_timeval_text(tv[2], tv[3])}, ...}}")


rusage = output(_rusage)


@self_fetched
def _tms(ctx: Ctx, v: int) -> str:
    if not v & ctx.mask:
        return "NULL"
    fields = unpack("<" + klong_fmt(ctx, signed=True) * 4, ctx.mem(v, 4 * klong(ctx)))
    if fields is None:
        return ptr(ctx, v)
    raw = ctx.fmt.xlat == "raw"
    u, s, cu, cs = (clock_t_text(t, raw=raw) for t in fields)
    return f"{{tms_utime={u}, tms_stime={s}, tms_cutime={cu}, tms_cstime={cs}}}"


tms = output(_tms)


# --- cpu sets, groups, priorities -----------------------------------------------------------


def _cpu_set(ctx: Ctx, v: int, size: int) -> str:
    if size <= 0:
        return ptr(ctx, v)
    data = ctx.mem(v, min(size, 1024))
    return ptr(ctx, v) if data is None else bits_text(data)


@self_fetched
def cpu_set_in(ctx: Ctx, v: int) -> str:
    """sched_setaffinity's mask: ``cpusetsize`` (argument 1) bytes: ``[0 1]``."""
    return _cpu_set(ctx, v, ctx.args[1] & 0xFFFFFFFF)


@self_fetched
def cpu_set_out(ctx: Ctx, v: int) -> str:
    """sched_getaffinity's mask at exit: ``ret`` bytes."""
    if ctx.failed or ctx.ret is None:
        return ptr(ctx, v)
    return _cpu_set(ctx, v, ctx.ret)


_NGROUPS_MAX = 65536


def group_list(id_size: int) -> Render:
    """setgroups' list at entry: ``size`` (argument 0) ids, ``[0, 1, 2]``."""
    @self_fetched
    def render(ctx: Ctx, v: int) -> str:
        count = ctx.args[0] & 0xFFFFFFFF
        if not v & ctx.mask or count > _NGROUPS_MAX:
            return ptr(ctx, v)
        shown = min(count, ctx.strlen)
        data = ctx.mem(v, id_size * shown) if shown else b""
        if data is None:
            return ptr(ctx, v)
        none = (1 << 8 * id_size) - 1
        ids = [int.from_bytes(data[i:i + id_size], "little")
               for i in range(0, len(data), id_size)]
        return array_text(("-1" if i == none else str(i) for i in ids), count, ctx.strlen)
    return render


priority_which = xval(X.PRIORITY_WHICH)
memfd_flags = flags(X.MEMFD_FLAGS)


# --- utimensat's times ----------------------------------------------------------------------


def _utime_text(sec: int, nsec: int) -> str:
    if nsec == X.UTIME_NOW:
        return "UTIME_NOW"
    if nsec == X.UTIME_OMIT:
        return "UTIME_OMIT"
    text = f"{{tv_sec={sec}, tv_nsec={nsec}}}"
    if (sec == 0 and nsec == 0) or not 0 <= nsec < 1_000_000_000:
        return text
    try:
        moment = _time.localtime(sec)
    except (OverflowError, OSError, ValueError):
        return text
    stamp = _time.strftime("%Y-%m-%dT%H:%M:%S", moment)
    if nsec:
        stamp += f".{nsec:09d}"
    return f"{text} /* {stamp}{_time.strftime('%z', moment)} */"


def _utimens(ctx: Ctx, v: int, word: int) -> str:
    if not v & ctx.mask:
        return "NULL"
    fields = unpack("<" + ("q" if word == 8 else "i") * 4, ctx.mem(v, 4 * word))
    if fields is None:
        return ptr(ctx, v)
    return f"[{_utime_text(fields[0], fields[1])}, {_utime_text(fields[2], fields[3])}]"


@self_fetched
def utimens(ctx: Ctx, v: int) -> str:
    """utimensat's two timespecs: ``[UTIME_OMIT, {tv_sec=1, tv_nsec=0} /* ... */]``."""
    return _utimens(ctx, v, klong(ctx))


@self_fetched
def utimens64(ctx: Ctx, v: int) -> str:
    """utimensat_time64's (i386): two struct __kernel_timespec."""
    return _utimens(ctx, v, 8)


@scalar
def prio(ctx: Ctx, v: int) -> str:
    return str(signed(v, 32))
