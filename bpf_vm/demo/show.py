"""What a chapter of ``bpf-vm demo`` prints with: headings, prose, listings, banners,
and the one-line report of a step that failed.

Colour (ANSI) only on a terminal, and never with ``NO_COLOR`` set; what is printed is
otherwise the same, so a test reading a pipe sees every word a reader sees.

With ``--html DIR`` (:attr:`Demo.html`) a chapter also writes the explorer page of the
runs it showed, through :meth:`Demo.page`: ``DIR/chapterN-SLUG.html``, its path printed.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ..explain import Explorer

_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"
_BANNER = "\033[1;30;43m"     # bold black on yellow: the tail call
_BAD = "\033[1;31m"
_GOOD = "\033[1;32m"
_CODE = "\033[36m"


@dataclass(frozen=True)
class DemoChapter:
    """One chapter: its place in the tour, its title, and what runs it.  ``run`` raises
    when its real step fails; the demo reports that in one line and goes on."""

    number: int
    title: str
    run: Callable[[Demo], None]


class Demo:
    """The printer the chapters share.  ``failures`` collects the one-line reports of
    steps that failed; the demo's exit status is non-zero when there are any.  ``html``
    is ``--html``'s directory (None: no pages); ``pages`` the pages written."""

    def __init__(self, out: TextIO, *, color: bool | None = None,
                 width: int | None = None, html: Path | None = None) -> None:
        self.out = out
        self.html = html
        self.pages: list[Path] = []
        if color is None:
            color = _isatty(out) and "NO_COLOR" not in os.environ
        self.color = color
        if width is None:
            width = shutil.get_terminal_size((100, 24)).columns
        self.width = max(60, min(width, 110))
        self.failures: list[str] = []
        self.chapter = 0

    # -- text ------------------------------------------------------------------------

    def _paint(self, style: str, text: str) -> str:
        return f"{style}{text}{_RESET}" if self.color else text

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def heading(self, number: int, title: str) -> None:
        """A chapter's heading: ``Chapter N · TITLE`` over a rule."""
        self.chapter = number
        head = f"Chapter {number} · {title}"
        self.line()
        self.line(self._paint(_BOLD, head))
        self.line(self._paint(_BOLD, "═" * min(len(head), self.width)))

    def title(self, text: str) -> None:
        """A sub-heading inside a chapter."""
        self.line()
        self.line(self._paint(_BOLD, f"── {text}"))

    def say(self, text: str) -> None:
        """Prose: paragraphs (separated by blank lines) wrapped to the terminal."""
        paragraphs = textwrap.dedent(text).strip("\n").split("\n\n")
        for para in paragraphs:
            self.line()
            words = " ".join(para.split())
            for row in textwrap.wrap(words, self.width - 2):
                self.line(row)

    def code(self, text: str, *, indent: int = 4) -> None:
        """A listing (C, assembly, a log, a command's output), indented, as it is."""
        self.line()
        pad = " " * indent
        for row in text.rstrip("\n").splitlines():
            self.line(self._paint(_CODE, pad + row) if row else "")

    def banner(self, text: str) -> None:
        """One event that matters, framed and highlighted (the tail call)."""
        inner = f" {text} "
        bar = "━" * len(inner)
        self.line(self._paint(_BANNER, f"┏{bar}┓"))
        self.line(self._paint(_BANNER, f"┃{inner}┃"))
        self.line(self._paint(_BANNER, f"┗{bar}┛"))

    def good(self, text: str) -> None:
        self.line(self._paint(_GOOD, text))

    def dim(self, text: str) -> str:
        return self._paint(_DIM, text)

    def strong(self, text: str) -> str:
        return self._paint(_BOLD, text)

    # -- explorer pages (--html DIR) ----------------------------------------------------

    def page_path(self, slug: str) -> Path | None:
        """Where this chapter's page goes, ``DIR/chapterN-SLUG.html``, with DIR made when
        missing and the file opened for writing once (another process may write it);
        None without ``--html``, or (after a :meth:`fail` line) when it cannot be
        written."""
        if self.html is None:
            return None
        path = self.html / f"chapter{self.chapter}-{slug}.html"
        try:
            self.html.mkdir(parents=True, exist_ok=True)
            with path.open("ab"):
                pass
        except OSError as exc:
            self.fail(f"writing its page {path}", exc)
            return None
        return path

    def wrote(self, path: Path, what: str) -> None:
        """Say that the page at ``path`` was written (``what``: what it holds)."""
        self.pages.append(path)
        self.line()
        self.line(f"  explorer page: {path} ({what})")

    def page(self, slug: str, explorer: Explorer, what: str = "") -> Path | None:
        """With ``--html``: write ``explorer``'s page (see :meth:`page_path`) and print
        its path; a failure is one :meth:`fail` line and the chapter goes on."""
        path = self.page_path(slug)
        if path is None:
            return None
        try:
            size = explorer.write(path)
        except Exception as exc:
            self.fail(f"writing its page {path}", exc)
            return None
        runs = len(explorer.runs)
        self.wrote(path, f"{what + ', ' if what else ''}{runs} run{'' if runs == 1 else 's'}, "
                         f"{_size(size)}")
        return path

    # -- failures --------------------------------------------------------------------

    def fail(self, what: str, exc: BaseException | str) -> None:
        """One line saying that a real step failed; the demo goes on."""
        why = exc if isinstance(exc, str) else _one_line(exc)
        message = f"✗ chapter {self.chapter}: {what} failed: {why}"
        self.failures.append(message)
        self.line(self._paint(_BAD, message))

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Run one real step: an exception becomes a :meth:`fail` line and the chapter
        goes on after the ``with`` block."""
        try:
            yield
        except Exception as exc:
            self.fail(what, exc)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{str(exc.filename) + ': ' if exc.filename else ''}{exc.strerror}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}"


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = ["Demo", "DemoChapter"]
