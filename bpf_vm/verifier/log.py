"""The verifier log, in the kernel's format and with its rewinding.

At level 1 the kernel keeps only the path being walked: when it goes back to a branch
it saved, it cuts the log back to where it was when it saved it, so a refusal's log is
the failing path and an acceptance's log is the statistics line alone.  Level 2 keeps
everything and adds ``from X to Y:`` lines and ``safe`` for pruned paths.
"""

from __future__ import annotations


def _align(length: int) -> int:
    """Spaces before ``;`` after an instruction of ``length`` characters: the kernel
    rounds the column up to a multiple of 8, at least 40 (counting the newline)."""
    pos = length + 1
    col = max(pos + 4, 40)
    col = (col + 7) // 8 * 8
    return col - pos - 1


class Log:
    def __init__(self, level: int) -> None:
        self.level = level
        self.parts: list[str] = []
        self._line = 0  # length of the last instruction's text

    def mark(self) -> int:
        return len(self.parts)

    def reset(self, mark: int) -> None:
        del self.parts[mark:]

    def write(self, text: str) -> None:
        if self.level:
            self.parts.append(text)

    def insn(self, pc: int, text: str) -> None:
        if self.level:
            line = f"{pc}: {text}"
            self._line = len(line)
            self.parts.append(line + "\n")

    def insn_state(self, state: str) -> None:
        """``; R1=...`` after the instruction just printed (its newline removed)."""
        if not self.level or not state or not self.parts:
            return
        last = self.parts[-1]
        if last.endswith("\n"):
            self.parts[-1] = last[:-1] + " " * _align(self._line) + ";" + state + "\n"

    def strip_newline(self) -> None:
        if self.parts and self.parts[-1].endswith("\n"):
            self.parts[-1] = self.parts[-1][:-1]

    def text(self) -> str:
        return "".join(self.parts)
