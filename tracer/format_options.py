"""How arguments are shown: strace's ``-s``, ``-x``/``-xx``, ``-y``/``-yy``, ``-X`` and ``-v``
as one value, made once at start-up and handed to :class:`tracer.record.OutputRecorder`.

:data:`DEFAULT` is strace's defaults and gives trace-run's usual text, byte for byte, by
the usual (fastest) path; any other value makes :mod:`tracer.format` build its per-call
plans for that value (see :func:`tracer.format.fetch_entry`).

This module imports nothing of trace-run's, so that every renderer module can import it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CWD_INFO", "DEFAULT", "FD_INFO", "XLAT_STYLES", "FormatOptions"]

XLAT_STYLES = ("raw", "abbrev", "verbose")

# The reader a fetch reads through takes two pseudo sizes, below 0, when -y is on: the
# answer is not memory but what the stop knows of a descriptor (see tracer.fd_info).
FD_INFO = -1     # read(fd, FD_INFO): the descriptor ``fd`` of the tracee
CWD_INFO = -2    # read(0, CWD_INFO): the tracee's working directory (AT_FDCWD)


@dataclass(frozen=True, slots=True)
class FormatOptions:
    """strace's argument-formatting options.

    ``strsize`` (``-s N``): bytes of a string or buffer shown, and array elements;
    ``xflag`` (``-x`` 1: a string with a non-ASCII byte is shown all in ``\\x`` hex;
    ``-xx`` 2: every string in hex); ``yflag`` (``-y`` 1: descriptors with their path,
    ``3</etc/passwd>``; ``-yy`` 2: also socket endpoints and device numbers); ``xlat``
    (``-X``: "abbrev" the names, "raw" the numbers, "verbose" both,
    ``0x80000 /* O_RDONLY|O_CLOEXEC */``); ``verbose`` (``-v``: execve's environment in
    full)."""

    strsize: int = 32
    xflag: int = 0
    yflag: int = 0
    xlat: str = "abbrev"
    verbose: bool = False

    def __post_init__(self) -> None:
        if type(self.strsize) is not int or self.strsize < 0:
            raise ValueError(f"-s: string size must be a non-negative integer, "
                             f"not {self.strsize!r}")
        if self.xflag not in (0, 1, 2):
            raise ValueError(f"-x: xflag must be 0, 1 or 2, not {self.xflag!r}")
        if self.yflag not in (0, 1, 2):
            raise ValueError(f"-y: yflag must be 0, 1 or 2, not {self.yflag!r}")
        if self.xlat not in XLAT_STYLES:
            raise ValueError(f"-X: expected one of raw, abbrev, verbose, not {self.xlat!r}")

    @property
    def is_default(self) -> bool:
        return self == DEFAULT


DEFAULT = FormatOptions()
