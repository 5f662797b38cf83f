"""trace-run's own signals, as strace handles its own: ``-I`` and strace's defaults, the
clean-up on an interrupting signal, and dying of the traced command's signal.

``-I`` (strace's ``--interruptible``): ``1``/``anywhere``, ``2``/``waiting``,
``3``/``never``, ``4``/``never_tstp``.  The default is ``never`` with ``-o FILE`` and a
command (a terminal's Ctrl-C then reaches only the program, and tracing goes on), else
``waiting`` ("interactive": no -o, or -p).  In an interactive mode SIGHUP, SIGINT,
SIGQUIT, SIGPIPE and SIGTERM end the trace cleanly (:meth:`tracer.loop.Loop.request_stop`);
in ``never``/``never_tstp`` they are ignored (``never_tstp`` ignores SIGTSTP too).
SIGTTOU and SIGTTIN are always ignored, as strace does.

One difference from strace: ``-I anywhere`` leaves strace's default dispositions, so
strace dies at once on SIGINT with its output cut; trace-run handles the signals as in
``waiting``, so that every output is complete when it ends.

The spawned command must not inherit trace-run's handling: :func:`child_disposition`
says what each signal's disposition was before trace-run changed it (ignored stays
ignored, as with strace, which installs its handlers only after it forked the command).
"""

from __future__ import annotations

import contextlib
import enum
import resource
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Protocol

#: The signals that end (interactive) or are ignored by (non-interactive) trace-run.
FATAL_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE,
                 signal.SIGTERM)
_ALWAYS_IGNORED = (signal.SIGTTOU, signal.SIGTTIN)
#: Every signal whose disposition this module may change (and spawn resets in the child).
MANAGED_SIGNALS = (*FATAL_SIGNALS, signal.SIGTSTP, *_ALWAYS_IGNORED)


class IntrMode(enum.IntEnum):
    """strace's ``-I`` values."""

    ANYWHERE = 1
    WAITING = 2
    NEVER = 3
    NEVER_TSTP = 4


_INTR_NAMES = {"anywhere": IntrMode.ANYWHERE, "always": IntrMode.ANYWHERE,
               "waiting": IntrMode.WAITING, "never": IntrMode.NEVER,
               "never_tstp": IntrMode.NEVER_TSTP}


class IntrUsageError(ValueError):
    """A bad ``-I`` argument; the message is strace's."""


def parse_intr(text: str) -> IntrMode:
    """``-I ARG``: a number 1..4 or a name (``always`` is ``anywhere``, as in strace)."""
    mode = _INTR_NAMES.get(text)
    if mode is not None:
        return mode
    if text.isdigit() and 1 <= int(text) <= 4:
        return IntrMode(int(text))
    raise IntrUsageError(f"invalid -I argument: '{text}'")


def default_intr(intr: IntrMode | None, *, output_file: bool, has_cmd: bool) -> IntrMode:
    """strace's default: ``never`` with ``-o FILE`` and a command, else ``waiting``."""
    if intr is not None:
        return intr
    return IntrMode.NEVER if output_file and has_cmd else IntrMode.WAITING


def default_quiet(*, output_file: bool, has_cmd: bool) -> bool:
    """strace's ``-o FILE CMD`` implies ``-q`` (no attach/detach messages) unless quiet
    was set explicitly."""
    return output_file and has_cmd


def is_interactive(mode: IntrMode) -> bool:
    """Whether the fatal signals end the trace (strace's ``interactive``; trace-run also
    counts ``anywhere``, see the module docstring)."""
    return mode in (IntrMode.ANYWHERE, IntrMode.WAITING)


class Stoppable(Protocol):
    def request_stop(self, signum: int, detach: bool | None) -> None: ...


_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None
_original: dict[int, _Handler] = {}


def child_disposition(sig: int) -> int:
    """What the spawned command gets for ``sig``: SIG_IGN if trace-run was started with
    it ignored, else SIG_DFL.  (SIGPIPE: always SIG_DFL, as Python ignores it itself.)"""
    old = _original.get(sig, signal.getsignal(sig))
    if old == signal.SIG_IGN and sig != signal.SIGPIPE:
        return signal.SIG_IGN
    return signal.SIG_DFL


@contextlib.contextmanager
def interrupts(loop: Stoppable, mode: IntrMode, detach: bool | None = None
               ) -> Iterator[None]:
    """While inside, trace-run's signals are handled as ``mode`` says; outside, as before.

    Interactive, an interrupting signal calls ``loop.request_stop(sig, detach)``:
    ``detach`` None is strace's clean-up (the signal to the spawned command, detach
    from every other tracee), True detaches from all, False kills all (SIGKILL).
    Enter it before spawning the command (the child resets what it inherits)."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        loop.request_stop(signum, detach)

    changes: dict[int, _Handler] = dict.fromkeys(_ALWAYS_IGNORED, signal.SIG_IGN)
    if mode is IntrMode.NEVER_TSTP:
        changes[signal.SIGTSTP] = signal.SIG_IGN
    for fatal in FATAL_SIGNALS:
        changes[fatal] = on_signal if is_interactive(mode) else signal.SIG_IGN
    old: dict[int, _Handler] = {}
    try:
        for num, handler in changes.items():
            old[num] = signal.signal(num, handler)  # type: ignore[arg-type]
            _original.setdefault(num, old[num])
        yield
    finally:
        for num, handler in old.items():
            signal.signal(num, handler)  # type: ignore[arg-type]
            _original.pop(num, None)


def exit_like(sig: int | None, code: int) -> int:
    """End as strace's ``terminate()`` does.  ``sig`` not None (the command died of it,
    or trace-run was interrupted by it): core dumps off, the signal's default action
    restored, and raised on trace-run itself, so that a parent sees WIFSIGNALED.  Call
    it once every output is closed.  Returns the exit code to use if that did not kill:
    ``128 + sig`` (the signal is not fatal by default), or ``code`` when ``sig`` is None."""
    if sig is None:
        return code
    signum = signal.Signals(sig)
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    except (OSError, ValueError):
        pass
    return 128 + sig
