"""A call's text as tracer.format renders it (per-syscall type 3 of 4, see
:mod:`tracer.record`): the parts rendered at entry, those still to render at exit, and
the return value with strace's details after it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from probes.abi import Abi
from tracer.format_options import DEFAULT as DEFAULT_FORMAT
from tracer.format_options import FormatOptions
from tracer.format_results import format_return
from tracer.syscalls.decode import DEFAULT_STRLEN, Arg, Ctx, MemoryReader
from tracer.syscalls.decode.common import NewCtx, ctx_maker
from tracer.syscalls.decode.poll import RESULT_DETAILS

__all__ = ["CallText"]   # _Pending and _text_maker are tracer.format's


class _Pending:
    """An argument still to render at exit; ``prefix`` is what was shown of it at entry.
    Its value is ``call.args[spec.index]``."""

    __slots__ = ("prefix", "spec")

    def __init__(self, spec: Arg, prefix: str = "") -> None:
        self.spec = spec
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"_Pending({self.spec!r}, {self.prefix!r})"


class CallText:
    """Per-syscall type 3 of 4 (see :mod:`tracer.record`): a call's rendered text.

    One call as far as it is known at its entry stop; :meth:`finish` completes it.

    ``parts`` are the arguments in order: text rendered at entry, or :class:`_Pending`
    for one rendered (or completed) at exit.  ``entry`` (``wait4(-1, ``) is what strace
    shows before ``<unfinished ...>``; ``complete_at_entry`` is True when no argument
    waits for the exit stop.  Both are computed once, at construction.

    A plain class with slots, not a dataclass, as every value made at each syscall: it is
    built in one ``__init__`` call.  Treat it as read-only."""

    __slots__ = ("abi", "args", "complete_at_entry", "entry", "name", "nr", "parts", "strlen")

    fmt: FormatOptions = DEFAULT_FORMAT   # others in an _OptCallText
    _new_ctx: NewCtx = Ctx

    def __init__(self, abi: Abi, nr: int, name: str, args: tuple[int, ...],
                 strlen: int = DEFAULT_STRLEN, parts: tuple[str | _Pending, ...] = (),
                 entry: str | None = None, complete: bool | None = None) -> None:
        self.abi = abi
        self.nr = nr
        self.name = name
        self.args = args
        self.strlen = strlen
        self.parts = parts
        self.entry = _entry_text(name, parts) if entry is None else entry
        self.complete_at_entry = (all(type(p) is str for p in parts) if complete is None
                                  else complete)

    def __repr__(self) -> str:
        return (f"CallText(abi={self.abi!r}, nr={self.nr!r}, name={self.name!r}, "
                f"args={self.args!r}, strlen={self.strlen!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CallText):
            return NotImplemented
        return ((self.abi, self.nr, self.name, self.args, self.strlen, self.entry)
                == (other.abi, other.nr, other.name, other.args, other.strlen, other.entry)
                and [p if type(p) is str else (p.spec, p.prefix) for p in self.parts]   # type: ignore[union-attr]
                == [p if type(p) is str else (p.spec, p.prefix) for p in other.parts])  # type: ignore[union-attr]

    __hash__ = None  # type: ignore[assignment]

    def finish(self, ret: int | None, read_memory: MemoryReader) -> str:
        """``name(args)`` with the outputs read now.  ``ret`` None means the call never
        returned (exit_group, a killed process): outputs become ``<unfinished ...>``."""
        if self.complete_at_entry:
            return self.entry + ")"
        if ret is None:
            return self.entry + " <unfinished ...>)"
        args = self.args
        ctx = self._new_ctx(self.abi, args, read_memory, self.strlen, ret)
        shown: list[str] = []
        for part in self.parts:
            if type(part) is str:
                shown.append(part)
                continue
            spec = part.spec  # type: ignore[union-attr]
            if spec.exit_suffix is not None:
                prefix = part.prefix  # type: ignore[union-attr]
                shown.append(prefix + spec.exit_suffix(ctx, args[spec.index], prefix))
            else:
                text = spec.render(ctx, args[spec.index])
                if text is not None:
                    shown.append(text)
        return f"{self.name}({', '.join(shown)})"

    def result(self, ret: int | None, read_memory: MemoryReader | None = None) -> str:
        """The return value as strace shows it after ``= ``; with ``read_memory`` (at the
        exit stop, or its replay) also the details strace adds in parentheses to some
        successful results: ``1 ([{fd=3, revents=POLLIN}])``, ``2 (in [3], out [4])``."""
        text = format_return(ret, name=self.name, abi=self.abi, args=self.args)
        if read_memory is None or ret is None:
            return text
        detail = RESULT_DETAILS.get(self.name)
        if detail is None:
            return text
        shown = detail(self._new_ctx(self.abi, self.args, read_memory, self.strlen, ret), 0)
        return f"{text} ({shown})" if shown else text


class _OptCallText(CallText):
    """A :class:`CallText` of options other than the default."""

    __slots__ = ("_new_ctx", "fmt")

    def __init__(self, abi: Abi, nr: int, name: str, args: tuple[int, ...],
                 strlen: int = DEFAULT_STRLEN, parts: tuple[str | _Pending, ...] = (),
                 entry: str | None = None, complete: bool | None = None,
                 fmt: FormatOptions = DEFAULT_FORMAT) -> None:
        super().__init__(abi, nr, name, args, strlen, parts, entry, complete)
        self.fmt = fmt
        self._new_ctx = ctx_maker(fmt)


def _text_maker(fmt: FormatOptions) -> Callable[..., CallText]:
    """What makes a :class:`CallText` of ``fmt`` (the class itself for the defaults)."""
    if fmt == DEFAULT_FORMAT:
        return CallText
    return functools.partial(_OptCallText, fmt=fmt)


def _entry_text(name: str, parts: Sequence[str | _Pending]) -> str:
    """``wait4(-1, `` / ``kill(5, SIGTERM``: the parts up to the first pending one."""
    shown: list[str] = []
    for part in parts:
        if type(part) is str:
            shown.append(part)
        elif part.prefix:  # type: ignore[union-attr]
            return f"{name}({', '.join([*shown, part.prefix])}"  # type: ignore[union-attr]
        else:
            return f"{name}({', '.join(shown)}{', ' if shown else ''}"
    return f"{name}({', '.join(shown)}"
