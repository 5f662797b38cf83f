"""The policy package's error type, importable without loading the models (pydantic),
so that ``trace-run`` can name it without paying for it on every start."""

from __future__ import annotations

__all__ = ["ProfileError"]


class ProfileError(Exception):
    """A profile that cannot be used.  ``problems`` are ``(json path, message)`` pairs;
    the path is in JavaScript notation (``syscalls[3].args[0].op``), empty for the file
    as a whole.  The CLI prints one line per problem and exits 2."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One line per problem, printable whatever the profile held (a control
        character or a lone surrogate is escaped, never printed)."""
        prefix = f"{_clean(self.source)}: " if self.source else ""
        return [f"{prefix}{_clean(path)}: {_clean(msg)}" if path else f"{prefix}{_clean(msg)}"
                for path, msg in self.problems]


def _clean(text: str) -> str:
    if text.isprintable() and text.isascii():
        return text
    try:
        if text.isprintable():
            text.encode("utf-8")
            return text
    except UnicodeEncodeError:
        pass
    return ascii(text)[1:-1]
