"""strace-compatible text for one syscall: ``openat(AT_FDCWD, "/etc/x", O_RDONLY) = 3``.

Users diff trace-run's output against strace's, so the rules are strace's (6.x, default
options): strings quoted and escaped like strace's string_quote and cut after 32 bytes
(``-s 32``) with ``...`` after the closing quote; paths printed whole; pointers as hex and
0 as ``NULL``; flags decoded symbolically with leftover bits in hex; an unreadable
pointer, and an output argument of a failed call, printed as its address.

Two phases, because memory changes while a call runs::

    call = format_entry(abi, nr, args, read_memory)   # entry stop: inputs read now
    ...                                                # the policy runs, the call runs
    text = call.finish(ret, read_memory)              # exit stop: outputs read now
    line = f"{text} = {call.result(ret)}"             # the writer aligns "=" to column 40

``call.entry`` (``wait4(-1, ``) is what strace prints before ``<unfinished ...>`` and is a
prefix of ``finish()``'s text, so a writer can print the rest after ``<... wait4 resumed>``.

The tracer does the same in two steps per stop, so that only the memory reads happen
while the tracee is stopped and the rendering once it runs again::

    fetched = fetch_entry(abi, nr, args, read_memory)  # entry stop: inputs read, not shown
    call = fetched.render()                             # after the resume: the text
    snap = fetched.fetch_exit(ret, read_memory)         # exit stop: outputs read
    text = call.finish(ret, replay(snap))               # after the resume

A fetch makes every read the renderers will make (see :mod:`tracer.syscalls.decode`) and
keeps what each read answered, ``(addr, size) -> bytes | None``; the render then reads
from that record only (:func:`replay`), never from the tracee, and a read that was not
fetched raises :class:`UnfetchedRead` (a bug of a fetch).  The text is the same as
:func:`format_entry` and ``finish`` would have made at the stops.  A call with a renderer
whose fetch is unknown is rendered at the entry stop as before, and its exit rendered
once at the exit stop (through the recording reader) to fetch it.

Memory is read through ``read_memory(addr, size) -> bytes | None`` (None: unreadable).
The per-argument decoders are in :mod:`tracer.syscalls.decode` and the per-syscall table
in :mod:`tracer.syscalls.signatures`; calls not in the table fall back to python-ptrace's
prototypes, and numbers nobody knows to six hex arguments, as strace does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from probes.abi import Abi, normalize_nr, syscall_name
from tracer.call_text import CallText, _Pending, _text_maker
from tracer.format_options import DEFAULT as DEFAULT_FORMAT
from tracer.format_options import FormatOptions
from tracer.syscalls import xlat as X
from tracer.syscalls.decode import (
    DEFAULT_STRLEN,
    SCALARS,
    Arg,
    Ctx,
    Fetch,
    MemoryReader,
    Render,
    fetch_of,
    format_sigset,
    is_error,
    no_fetch,
    quote_string,
)
from tracer.syscalls.decode.common import ctx_maker
from tracer.syscalls.decode.poll import RESULT_DETAILS
from tracer.syscalls.decode.styled import styled_specs
from tracer.syscalls.signatures import signature_for, static_signature

__all__ = [
    "DEFAULT_STRLEN",
    "CallText",
    "FetchedCall",
    "MemoryReader",
    "UnfetchedRead",
    "call_identity",
    "fetch_entry",
    "format_args",
    "format_call",
    "format_entry",
    "format_sigset",
    "is_error",
    "quote_string",
    "replay",
    "signal_name",
]

signal_name = X.signal_name


def _mask_args(abi: Abi, args: Sequence[int]) -> tuple[int, ...]:
    """Six raw arguments, cut to the ABI's register width (i386 uses the low 32 bits),
    and the stack pointer when it is given as a seventh."""
    if abi is not Abi.I386 and len(args) == 6 and min(args) >= 0 and max(args) <= _M64:
        return tuple(args)   # already registers (the loop's case)
    mask = 0xFFFFFFFF if abi is Abi.I386 else _M64
    values = tuple(a & mask for a in args[:6])
    # a seventh value is the stack pointer, which rt_sigreturn's renderer reads
    return values + (0,) * (6 - len(values)) + tuple(a & mask for a in args[6:7])


_M64 = 0xFFFFFFFFFFFFFFFF


def _format_entry_general(abi: Abi, nr: int, args: Sequence[int], read_memory: MemoryReader,
                          *, strlen: int = DEFAULT_STRLEN,
                          fmt: FormatOptions = DEFAULT_FORMAT) -> CallText:
    """:func:`format_entry` without plans: the signature looked up and walked afresh.
    Every call whose shape depends on its arguments takes this way; the tests check the
    planned way against it."""
    nr = normalize_nr(abi, nr)
    values = _mask_args(abi, args)
    ctx = ctx_maker(fmt)(abi, values, read_memory, strlen)
    return _render_specs(ctx, nr, _styled(signature_for(ctx, nr), fmt))


def _styled(specs: tuple[Arg, ...], fmt: FormatOptions) -> tuple[Arg, ...]:
    """``specs`` with the renderers ``fmt`` changes (-y, -X, -v) replaced."""
    if fmt is DEFAULT_FORMAT:
        return specs
    return styled_specs(specs, fmt)


def _render_specs(ctx: Ctx, nr: int, specs: Sequence[Arg]) -> CallText:
    """The entry text of call ``nr`` (normalised) with these specs, memory read through
    ``ctx`` (the call's values, ABI and strlen)."""
    abi, values, strlen = ctx.abi, ctx.args, ctx.strlen
    parts: list[str | _Pending] = []
    for spec in specs:
        value = values[spec.index]
        if spec.at_exit:
            parts.append(_Pending(spec))
        elif spec.exit_suffix is not None:
            parts.append(_Pending(spec, spec.render(ctx, value) or ""))
        else:
            text = spec.render(ctx, value)
            if text is not None:
                parts.append(text)
    return _text_maker(ctx.fmt)(abi, nr, syscall_name(abi, nr), values[:6], strlen,
                                tuple(parts))


# --- plans: what is known of a call from its number alone --------------------------------


def _unreadable(addr: int, size: int) -> bytes | None:
    return None


class _Plan:
    """Call ``nr`` of one ABI whose signature does not depend on its arguments, resolved
    once: its name, and per argument ``(index, render, pending)`` where ``pending`` is
    None (rendered at entry), a shared :class:`_Pending` (an output, rendered at exit)
    or the spec of one rendered at entry and completed at exit (``exit_suffix``).
    ``ctx`` is None when some renderer at entry needs the call's own :class:`Ctx`
    (memory, other arguments), else a constant one of the ABI for the scalars.
    ``fetch_in`` / ``fetch_out``: the ``(index, fetch)`` to run at the entry / exit stop
    (:func:`_fetches`); ``deferrable``: False when some fetch is unknown."""

    __slots__ = ("abi", "ctx", "deferrable", "fetch_in", "fetch_out", "fmt", "head", "name",
                 "new_ctx", "new_text", "nr", "steps", "strlen")

    def __init__(self, abi: Abi, nr: int, specs: tuple[Arg, ...],
                 fmt: FormatOptions = DEFAULT_FORMAT) -> None:
        self.abi = abi
        self.nr = nr
        self.fmt = fmt
        self.strlen = fmt.strsize
        self.new_ctx = ctx_maker(fmt)
        self.new_text = _text_maker(fmt)
        specs = _styled(specs, fmt)
        self.name = syscall_name(abi, nr)
        self.head = self.name + "("
        steps: list[tuple[int, Render, _Pending | Arg | None]] = []
        scalar_only = True
        for spec in specs:
            if spec.at_exit:
                steps.append((spec.index, spec.render, _Pending(spec)))
                continue
            if spec.render not in SCALARS:
                scalar_only = False
            steps.append((spec.index, spec.render,
                          spec if spec.exit_suffix is not None else None))
        self.steps = tuple(steps)
        self.ctx = self.new_ctx(abi, (0,) * 6, _unreadable, fmt.strsize) if scalar_only else None
        self.fetch_in, self.fetch_out, self.deferrable = _fetches(specs)
        self.fetch_out += _result_fetch(self.name)


_Fetches = tuple[tuple[int, Fetch], ...]


def _result_fetch(name: str) -> _Fetches:
    """The exit fetch of the details :meth:`CallText.result` shows after the return
    value of call ``name`` (none for most calls)."""
    detail = RESULT_DETAILS.get(name)
    if detail is None:
        return ()
    fetch = fetch_of(detail)
    return () if fetch is None else ((0, fetch),)


def _fetches(specs: Sequence[Arg]) -> tuple[_Fetches, _Fetches, bool]:
    """``(fetch_in, fetch_out, deferrable)`` of a signature: the fetches of what is
    rendered at entry (inputs, the entry part of ``exit_suffix`` ones), those of what is
    rendered at exit (outputs, exit suffixes), each as ``(argument index, fetch)``
    without the renderers that read no memory; ``deferrable`` is False when some
    renderer's fetch is unknown."""
    fetch_in: list[tuple[int, Fetch]] = []
    fetch_out: list[tuple[int, Fetch]] = []
    deferrable = True
    for spec in specs:
        fetch = fetch_of(spec.render)
        if fetch is None:
            deferrable = False
        elif fetch is not no_fetch:
            (fetch_out if spec.at_exit else fetch_in).append((spec.index, fetch))
        if spec.exit_suffix is not None:
            fetch = fetch_of(spec.exit_suffix)
            if fetch is None:
                deferrable = False
            elif fetch is not no_fetch:
                fetch_out.append((spec.index, fetch))
    return tuple(fetch_in), tuple(fetch_out), deferrable


_NO_PLAN = object()   # the shape depends on the arguments: the general way
_PLANS: dict[Abi, dict[int, _Plan | object]] = {abi: {} for abi in Abi}
_PLANS_X86_64, _PLANS_I386, _PLANS_X32 = _PLANS[Abi.X86_64], _PLANS[Abi.I386], _PLANS[Abi.X32]
# Reading an enum member from its class costs ~0.1 µs; the hot paths use these globals.
_X86_64, _I386 = Abi.X86_64, Abi.I386


def _plan(abi: Abi, nr: int) -> _Plan | object:
    """The plan of call ``nr`` (as given to :func:`format_entry`), made at first use;
    ``_NO_PLAN`` for a call whose shape depends on its arguments."""
    if abi is _X86_64:
        plans = _PLANS_X86_64
    elif abi is _I386:
        plans = _PLANS_I386
    else:
        plans = _PLANS_X32
    plan = plans.get(nr)
    if plan is None:
        norm = normalize_nr(abi, nr)
        specs = static_signature(abi, norm)
        plan = plans[nr] = _NO_PLAN if specs is None else _Plan(abi, norm, specs)
    return plan


def format_entry(abi: Abi, nr: int, args: Sequence[int], read_memory: MemoryReader, *,
                 strlen: int = DEFAULT_STRLEN) -> CallText:
    """Render what is known at the entry stop.  Input strings are read now, before the
    tracee (or another of its threads) can change them.  ``args`` are the raw argument
    registers; x32 ``nr`` may come with or without the x32 bit (``call.nr`` has it).

    Calls whose signature is fixed go by their plan (made once per number), the others
    by :func:`_format_entry_general`; both give the same text."""
    plan = _plan(abi, nr)
    if type(plan) is not _Plan:
        return _format_entry_general(abi, nr, args, read_memory, strlen=strlen)
    return _render_plan(plan, abi, _registers(abi, args), read_memory, strlen)  # type: ignore[arg-type]


def _render_plan(plan: _Plan, abi: Abi, values: tuple[int, ...], read_memory: MemoryReader,
                 strlen: int) -> CallText:
    """The entry text of a planned call, memory read through ``read_memory``."""
    ctx = plan.ctx
    if ctx is None:
        ctx = plan.new_ctx(abi, values, read_memory, strlen)
    parts: list[str | _Pending] = []
    entry = None
    for index, render, pending in plan.steps:
        if pending is None:
            text = render(ctx, values[index])
            if text is not None:
                parts.append(text)
        elif type(pending) is _Pending:
            if entry is None:
                entry = plan.head + ", ".join(parts) + (", " if parts else "")  # type: ignore[arg-type]
            parts.append(pending)
        else:   # rendered now, completed at exit
            prefix = render(ctx, values[index]) or ""
            if entry is None:
                shown = ", ".join(parts)  # type: ignore[arg-type]
                if prefix:
                    entry = plan.head + (shown + ", " + prefix if parts else prefix)
                else:
                    entry = plan.head + shown + (", " if parts else "")
            parts.append(_Pending(pending, prefix))  # type: ignore[arg-type]
    if len(values) != 6:   # the stack pointer was for the renderers only
        values = values[:6]
    if entry is None:
        return plan.new_text(abi, plan.nr, plan.name, values, strlen, tuple(parts),
                             plan.head + ", ".join(parts), True)  # type: ignore[arg-type]
    return plan.new_text(abi, plan.nr, plan.name, values, strlen, tuple(parts), entry, False)


# --- fetched at the stop, rendered later ----------------------------------------------------


class UnfetchedRead(RuntimeError):
    """A deferred render asked for memory its fetch did not read: a bug of a fetch (the
    text would depend on memory read after the tracee ran on)."""


def _recording(read_memory: MemoryReader, snap: dict[tuple[int, int], bytes | None],
               ) -> MemoryReader:
    """``read_memory`` keeping each answer in ``snap``; a read made twice is answered
    from ``snap`` the second time, so that a fetch sees one state of memory."""
    def record(addr: int, size: int) -> bytes | None:
        key = (addr, size)
        data = snap.get(key, _MISSING)
        if data is _MISSING:
            data = snap[key] = read_memory(addr, size)
        return data  # type: ignore[return-value]
    return record


_MISSING = object()


def _nothing_fetched(addr: int, size: int) -> bytes | None:
    raise UnfetchedRead(f"read of {size} bytes at {addr:#x}: nothing was fetched")


def replay(snap: Mapping[tuple[int, int], bytes | None] | None) -> MemoryReader:
    """A reader answering from what a fetch read (``snap``, None for nothing), raising
    :class:`UnfetchedRead` for anything else: it never reads the tracee."""
    if not snap:
        return _nothing_fetched

    def answer(addr: int, size: int) -> bytes | None:
        data = snap.get((addr, size), _MISSING)
        if data is _MISSING:
            raise UnfetchedRead(f"read of {size} bytes at {addr:#x} was not fetched "
                                f"(fetched: {sorted(snap)})")
        return data  # type: ignore[return-value]
    return answer


class _Shape:
    """What :class:`_Plan` says of a call whose signature depends on its arguments,
    worked out for one call: its ABI, number (normalised), specs and exit fetches."""

    __slots__ = ("abi", "fetch_out", "fmt", "new_ctx", "nr", "specs")

    def __init__(self, abi: Abi, nr: int, specs: tuple[Arg, ...], fetch_out: _Fetches,
                 fmt: FormatOptions = DEFAULT_FORMAT) -> None:
        self.abi = abi
        self.fmt = fmt
        self.new_ctx = ctx_maker(fmt)
        self.nr = nr
        self.specs = specs
        self.fetch_out = fetch_out


class FetchedCall:
    """Per-syscall type 2 of 4 (see :mod:`tracer.record`): the memory snapshot of one
    call, taken at its stops, from which its text is rendered after the tracee resumed.

    One call as read at its entry stop, not rendered yet: ``how`` (its :class:`_Plan`,
    or a :class:`_Shape` when its signature depends on its arguments), the argument
    registers ``values``, ``strlen``, and ``snap``, what the entry fetches read (None:
    nothing).  :meth:`render` makes its :class:`CallText` (once; it is kept in
    ``text``), :meth:`fetch_exit` reads the outputs at the exit stop.  Made by
    :func:`fetch_entry`; treat it as read-only but for ``text``."""

    __slots__ = ("how", "snap", "strlen", "text", "values")

    def __init__(self, how: _Plan | _Shape, values: tuple[int, ...], strlen: int,
                 snap: dict[tuple[int, int], bytes | None] | None,
                 text: CallText | None = None) -> None:
        self.how = how
        self.values = values
        self.strlen = strlen
        self.snap = snap          # _EAGER: rendered at the stop (some fetch unknown)
        self.text = text

    def __repr__(self) -> str:
        return f"FetchedCall(abi={self.how.abi!r}, nr={self.how.nr!r}, values={self.values!r})"

    def render(self) -> CallText:
        """The :class:`CallText` :func:`format_entry` would have made at the entry stop,
        from what was fetched then."""
        text = self.text
        if text is None:
            how = self.how
            if type(how) is _Plan:
                text = _render_plan(how, how.abi, self.values, replay(self.snap), self.strlen)
            else:
                text = _render_specs(how.new_ctx(how.abi, self.values, replay(self.snap),
                                                 self.strlen),
                                     how.nr, how.specs)  # type: ignore[union-attr]
            self.text = text
        return text

    def fetch_exit(self, ret: int | None, read_memory: MemoryReader,
                   ) -> dict[tuple[int, int], bytes | None] | None:
        """At the exit stop: read what ``render().finish(ret, ...)`` will read, and return
        it for :func:`replay` (None: nothing to read).  ``ret`` None reads nothing."""
        fetch_out = self.how.fetch_out
        if ret is None or not (fetch_out or self.snap is _EAGER):
            return None
        snap: dict[tuple[int, int], bytes | None] = {}
        if self.snap is _EAGER:   # some fetch unknown: render to fetch
            recording = _recording(read_memory, snap)
            self.text.finish(ret, recording)  # type: ignore[union-attr]
            self.text.result(ret, recording)  # type: ignore[union-attr]
            return snap
        values = self.values
        ctx = self.how.new_ctx(self.how.abi, values, _recording(read_memory, snap), self.strlen,
                               ret)
        for index, fetch in fetch_out:
            fetch(ctx, values[index])
        return snap


_EAGER: dict[tuple[int, int], bytes | None] = {}   # the snap of a call rendered at the stop


def fetch_entry(abi: Abi, nr: int, args: Sequence[int], read_memory: MemoryReader, *,
                strlen: int = DEFAULT_STRLEN, now: bool = False) -> FetchedCall:
    """At the entry stop: read, through ``read_memory``, the memory the entry text will
    show, and render nothing (``now``: render it at once from the tracee, for an entry
    that is written before the call runs).  Arguments as :func:`format_entry`'s."""
    plan = _plan(abi, nr)
    if type(plan) is not _Plan:
        return _fetch_general(abi, nr, args, read_memory, strlen, now, DEFAULT_FORMAT)
    values = _registers(abi, args)
    if now or not plan.deferrable:
        return FetchedCall(plan, values, strlen, None if plan.deferrable else _EAGER,
                       _render_plan(plan, abi, values, read_memory, strlen))
    fetch_in = plan.fetch_in
    if not fetch_in:
        return FetchedCall(plan, values, strlen, None)
    snap: dict[tuple[int, int], bytes | None] = {}
    ctx = Ctx(abi, values, _recording(read_memory, snap), strlen)
    for index, fetch in fetch_in:
        fetch(ctx, values[index])
    return FetchedCall(plan, values, strlen, snap)


def _fetch_general(abi: Abi, nr: int, args: Sequence[int], read_memory: MemoryReader,
                   strlen: int, now: bool, fmt: FormatOptions) -> FetchedCall:
    """:func:`fetch_entry` of a call whose signature depends on its arguments."""
    nr = normalize_nr(abi, nr)
    values = _mask_args(abi, args)
    snap: dict[tuple[int, int], bytes | None] = {}
    ctx = ctx_maker(fmt)(abi, values, _recording(read_memory, snap), strlen)
    specs = _styled(signature_for(ctx, nr), fmt)
    fetch_in, fetch_out, deferrable = _fetches(specs)
    fetch_out += _result_fetch(syscall_name(abi, nr))
    shape = _Shape(abi, nr, specs, fetch_out, fmt)
    if now or not deferrable:
        ctx.read = read_memory
        return FetchedCall(shape, values, strlen, None if deferrable else _EAGER,
                       _render_specs(ctx, nr, specs))
    for index, fetch in fetch_in:
        fetch(ctx, values[index])
    return FetchedCall(shape, values, strlen, snap or None)


def _registers(abi: Abi, args: Sequence[int]) -> tuple[int, ...]:
    """:func:`_mask_args`, with a quick way for the loop's case (six registers)."""
    if type(args) is tuple and len(args) == 6 and abi is not _I386:
        a0, a1, a2, a3, a4, a5 = args
        if 0 <= (a0 | a1 | a2 | a3 | a4 | a5) <= _M64:
            return args
    return _mask_args(abi, args)


def call_identity(abi: Abi, nr: int, args: Sequence[int]) -> tuple[int, str, tuple[int, ...]]:
    """``(call.nr, call.name, call.args)`` of ``format_entry(abi, nr, args, ...)`` without
    formatting anything: for outputs that need no text (JSON Lines, the summary)."""
    plan = _plan(abi, nr)
    values = _registers(abi, args)[:6]
    if type(plan) is _Plan:
        return plan.nr, plan.name, values
    norm = normalize_nr(abi, nr)
    return norm, syscall_name(abi, norm), values


def format_call(abi: Abi, nr: int, args: Sequence[int], read_memory: MemoryReader,
                ret: int | None, *, strlen: int = DEFAULT_STRLEN) -> str:
    """Both phases at once, ``name(args)``: for a call seen at one stop only, and tests."""
    return format_entry(abi, nr, args, read_memory, strlen=strlen).finish(ret, read_memory)


def format_args(abi: Abi, nr: int, args: Sequence[int], read_memory: MemoryReader, *,
                ret: int | None = None, strlen: int = DEFAULT_STRLEN) -> str:
    """Only the text between the parentheses.  With ``ret`` None the outputs are left
    out, as known at an entry stop; with ``ret`` they are read and shown."""
    call = format_entry(abi, nr, args, read_memory, strlen=strlen)
    if ret is None:
        shown = [p for p in call.parts if isinstance(p, str)]
        return ", ".join(shown)
    return call.finish(ret, read_memory)[len(call.name) + 1 : -1]
