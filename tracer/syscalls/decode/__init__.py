"""How one syscall argument becomes strace's text: the renderers the signature table uses.

A renderer is ``(ctx, value) -> str | None``: ``value`` is the raw register, ``ctx`` the
whole call (other arguments, the ABI, memory, and at the exit stop the return value).
None leaves the argument out, as strace omits open's mode without O_CREAT.  Small
factories build families (``flags(table)``, ``in_buf(count_index)``), as the kernel's
disassembler builds its tables.  The rules are strace's: see :mod:`tracer.format`.

Every renderer that reads memory has a *fetch* (``(ctx, value) -> None``, see
:func:`fetch_of`): it makes, through ``ctx.read``, every read the renderer will make for
the same value, arguments, ``ret`` and memory (it may make more), and renders nothing.
:mod:`tracer.format` runs the fetches at the stop through a reader that records what it
reads, and the renderers after the tracee was resumed, through a reader that answers
from that record only.  Renderers that read no memory are in :data:`SCALARS` or marked
:func:`pure`; a renderer with no fetch known is rendered at the stop.

The renderers are grouped by syscall family, as strace's ``src/`` is:

- :mod:`.common`: the context, the renderer protocol, argument specs, string quoting,
  numbers and flags (every other module imports it, it imports none of them);
- :mod:`.strings`: paths, strings and byte buffers;
- :mod:`.fs`: open, stat, statx, getdents, fcntl, _llseek;
- :mod:`.memory`: mmap's protection, flags and offset;
- :mod:`.process`: execve, clone, clone3, wait, futex;
- :mod:`.signal`: signal numbers, sigsets, sigaction;
- :mod:`.time`: timespec and nanosleep's remainder;
- :mod:`.net`: socket types and protocols, socket addresses, socklen_t;
- :mod:`.misc`: ioctl's command, resource limits, uname, getgroups, prctl and arch_prctl;
- :mod:`.ioctl`: ioctl's shape by command (FIOCLEX, FIONREAD, TCGETS, TIOCGWINSZ, FICLONE);
- :mod:`.poll`: poll and ppoll's pollfds, select's fd sets, epoll's events, and the details
  strace appends to their return values;
- :mod:`.msg`: iovec arrays, msghdr and mmsghdr with control messages, socket options;
- :mod:`.sysinfo`: sysinfo, statfs, getrusage, times, cpu sets, group lists, priorities,
  memfd_create's flags, utimensat's times;
- :mod:`.shared`: what those share (renderers that are their own fetch, strace's cut
  arrays, uid_t's -1, NULL-aware buffers, bitmaps).

This package exposes what :mod:`tracer.format` and :mod:`tracer.record` use; the table in
:mod:`tracer.syscalls.signatures` names the renderers by their family module.
"""

from tracer.syscalls.decode.common import (
    DEFAULT_STRLEN,
    MAX_ERRNO,
    SCALARS,
    Arg,
    Ctx,
    Fetch,
    MemoryReader,
    Render,
    clock_t_text,
    fetch_of,
    flags_text,
    hx,
    is_error,
    no_fetch,
    octal,
    quote_string,
    signed,
)
from tracer.syscalls.decode.fs import open_flags_text
from tracer.syscalls.decode.signal import format_sigset

__all__ = [
    "DEFAULT_STRLEN",
    "MAX_ERRNO",
    "SCALARS",
    "Arg",
    "Ctx",
    "Fetch",
    "MemoryReader",
    "Render",
    "clock_t_text",
    "fetch_of",
    "flags_text",
    "format_sigset",
    "hx",
    "is_error",
    "no_fetch",
    "octal",
    "open_flags_text",
    "quote_string",
    "signed",
]
