"""The verifier log, in the kernel's format and with its rewinding.

At level 1 the kernel keeps only the path being walked: when it goes back to a branch
it saved, it cuts the log back to where it was when it saved it, so a refusal's log is
the failing path and an acceptance's log is the statistics line alone.  Level 2 keeps
everything and adds ``from X to Y:`` lines and ``safe`` for pruned paths.

Instruction lines are kept as values and spelled only when the text is asked for:
most of what the walk logs is cut again, and a long walk logs a million lines.
"""

from __future__ import annotations

from collections.abc import Callable

from ..insn import Insn
from .kdisasm import kernel_insn

#: the most of a log kept, as a 16 MiB log buffer would keep it
LOG_LIMIT = 16 << 20


def _align(length: int) -> int:
    """Spaces before ``;`` after an instruction of ``length`` characters: the kernel
    rounds the column up to a multiple of 8, at least 40 (counting the newline)."""
    pos = length + 1
    col = max(pos + 4, 40)
    col = (col + 7) // 8 * 8
    return col - pos - 1


class _Line:
    """``N: (op) text`` and, once the instruction is done, ``; R1=...``."""
    __slots__ = ("insn", "ld", "newline", "pc", "state")

    def __init__(self, pc: int, insn: Insn, ld: int | None) -> None:
        self.pc = pc
        self.insn = insn
        self.ld = ld
        self.state: Callable[[], str] | None = None
        self.newline = True

    def render(self) -> str:
        text = f"{self.pc}: {kernel_insn(self.insn, self.pc, self.ld)}"
        if self.state is not None:
            st = self.state()
            if st:
                text += " " * _align(len(text)) + ";" + st
        return text + ("\n" if self.newline else "")


class _Lazy:
    __slots__ = ("text",)

    def __init__(self, text: Callable[[], str]) -> None:
        self.text = text

    def render(self) -> str:
        return self.text()


class Log:
    def __init__(self, level: int) -> None:
        self.level = level
        self.parts: list[str | _Line | _Lazy] = []

    def mark(self) -> int:
        return len(self.parts)

    def reset(self, mark: int) -> None:
        """Cut back to ``mark``.  Marks are taken while an instruction is walked, before
        its ``; R1=...`` is known, so the line left last loses that part too."""
        del self.parts[mark:]
        if self.parts and isinstance(self.parts[-1], _Line):
            self.parts[-1].state = None

    def write(self, text: str) -> None:
        if self.level:
            self.parts.append(text)

    def write_lazy(self, text: Callable[[], str]) -> None:
        """A line spelled only if the log is read and the line is still in it."""
        if self.level:
            self.parts.append(_Lazy(text))

    def insn(self, pc: int, insn: Insn, ld: int | None = None) -> None:
        if self.level:
            self.parts.append(_Line(pc, insn, ld))

    def insn_state(self, state: Callable[[], str]) -> None:
        """``; R1=...`` after the instruction just logged."""
        if self.level and self.parts:
            last = self.parts[-1]
            if isinstance(last, _Line):
                last.state = state

    def strip_newline(self) -> None:
        if not self.parts:
            return
        last = self.parts[-1]
        if isinstance(last, _Line):
            last.newline = False
        elif isinstance(last, _Lazy):
            self.parts[-1] = last.render()[:-1]
        elif last.endswith("\n"):
            self.parts[-1] = last[:-1]

    def text(self, limit: int = LOG_LIMIT) -> str:
        """The log, its last ``limit`` bytes at most (whole lines), as a loader's log
        buffer in the kernel's rotating mode keeps the end of a longer log."""
        out: list[str] = []
        size = 0
        for p in reversed(self.parts):
            text = p if isinstance(p, str) else p.render()
            size += len(text)
            if size > limit and out:
                break
            out.append(text)
        return "".join(reversed(out))
