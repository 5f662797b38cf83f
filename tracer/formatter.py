"""trace-run's text with format options other than the default (strace's -s, -x, -y, -X,
-v; see :mod:`tracer.format_options`): :func:`formatter` gives the :class:`Formatter` of
an options value, whose ``fetch_entry`` / ``format_entry`` / ``format_call`` are
:mod:`tracer.format`'s with plans of their own.  The default value's formatter uses the
module's functions and plans, so the default path is unchanged."""

from __future__ import annotations

from collections.abc import Sequence

from probes.abi import Abi, normalize_nr
from tracer.format import (
    _EAGER,
    _NO_PLAN,
    CallText,
    FetchedCall,
    MemoryReader,
    _fetch_general,
    _format_entry_general,
    _Plan,
    _plan,
    _recording,
    _registers,
    _render_plan,
)
from tracer.format_options import DEFAULT as DEFAULT_FORMAT
from tracer.format_options import FormatOptions
from tracer.syscalls.signatures import static_signature

__all__ = ["Formatter", "formatter"]


class Formatter:
    """:func:`fetch_entry`, :func:`format_entry` and :func:`format_call` for one
    :class:`~tracer.format_options.FormatOptions`, with plans of their own (made per
    ``(abi, nr)`` at first use, as the module's).  Get one with :func:`formatter`: for
    the default options it is the module's functions, whose path is unchanged.

    With ``-y`` the reader must answer the pseudo sizes of
    :mod:`tracer.format_options` (``FD_INFO``, ``CWD_INFO``): see
    :func:`tracer.fd_info.stop_reader`."""

    __slots__ = ("fmt", "plans")

    def __init__(self, fmt: FormatOptions) -> None:
        self.fmt = fmt
        self.plans: dict[Abi, dict[int, _Plan | object]] = {abi: {} for abi in Abi}

    def plan(self, abi: Abi, nr: int) -> _Plan | object:
        plans = self.plans[abi]
        plan = plans.get(nr)
        if plan is None:
            norm = normalize_nr(abi, nr)
            specs = static_signature(abi, norm)
            plan = plans[nr] = (_NO_PLAN if specs is None
                                else _Plan(abi, norm, specs, self.fmt))
        return plan

    def fetch_entry(self, abi: Abi, nr: int, args: Sequence[int], read_memory: MemoryReader,
                    *, now: bool = False) -> FetchedCall:
        """:func:`fetch_entry` with these options."""
        fmt = self.fmt
        strlen = fmt.strsize
        plan = self.plan(abi, nr)
        if type(plan) is not _Plan:
            return _fetch_general(abi, nr, args, read_memory, strlen, now, fmt)
        values = _registers(abi, args)
        if now or not plan.deferrable:
            return FetchedCall(plan, values, strlen, None if plan.deferrable else _EAGER,
                               _render_plan(plan, abi, values, read_memory, strlen))
        if not plan.fetch_in:
            return FetchedCall(plan, values, strlen, None)
        snap: dict[tuple[int, int], bytes | None] = {}
        ctx = plan.new_ctx(abi, values, _recording(read_memory, snap), strlen)
        for index, fetch in plan.fetch_in:
            fetch(ctx, values[index])
        return FetchedCall(plan, values, strlen, snap)

    def format_entry(self, abi: Abi, nr: int, args: Sequence[int],
                     read_memory: MemoryReader) -> CallText:
        """:func:`format_entry` with these options."""
        plan = self.plan(abi, nr)
        if type(plan) is not _Plan:
            return _format_entry_general(abi, nr, args, read_memory,
                                         strlen=self.fmt.strsize, fmt=self.fmt)
        return _render_plan(plan, abi, _registers(abi, args), read_memory,  # type: ignore[arg-type]
                            self.fmt.strsize)

    def format_call(self, abi: Abi, nr: int, args: Sequence[int], read_memory: MemoryReader,
                    ret: int | None) -> str:
        """:func:`format_call` with these options."""
        return self.format_entry(abi, nr, args, read_memory).finish(ret, read_memory)


class _DefaultFormatter(Formatter):
    """The default options: the module's functions and plans."""

    __slots__ = ()

    def plan(self, abi: Abi, nr: int) -> _Plan | object:
        return _plan(abi, nr)


_FORMATTERS: dict[FormatOptions, Formatter] = {DEFAULT_FORMAT: _DefaultFormatter(DEFAULT_FORMAT)}


def formatter(fmt: FormatOptions = DEFAULT_FORMAT) -> Formatter:
    """The :class:`Formatter` of ``fmt`` (one per distinct value, kept)."""
    found = _FORMATTERS.get(fmt)
    if found is None:
        found = _FORMATTERS[fmt] = Formatter(fmt)
    return found
