"""The verifier's refusal, raised inside the walk and turned into a verdict."""

from __future__ import annotations


class Refuse(Exception):
    """The program is refused at ``pc``.  ``message`` is the kernel's text; ``lines``
    are extra lines it prints before it (``Unreleased reference …``), ``tail`` lines
    after it (the states of an infinite loop), and
    ``newline`` is False where the kernel's message has none (its log then runs on
    into the statistics line)."""

    def __init__(self, message: str, pc: int | None = None, *, lines: tuple[str, ...] = (),
                 tail: tuple[str, ...] = (), newline: bool = True, errno: int = 13) -> None:
        super().__init__(message)
        self.message = message
        self.pc = pc
        self.lines = lines
        self.tail = tail
        self.newline = newline
        self.errno = errno
