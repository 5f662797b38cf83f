"""strace's timestamps: ``-t``/``-tt``/``-ttt`` (``--absolute-timestamps``) and ``-r``
(``--relative-timestamps``) at the start of a line, ``-T`` (``--syscall-times``) after
the result.

* absolute, format ``time``: the local wall-clock time, ``13:31:03`` (precision s) or
  ``13:31:02.914573`` (us); format ``unix``: seconds since the epoch, ``1796563862.986950``;
* relative: the time since the previous line's leader, ``     0.000891`` (``%6d.%06d``),
  or ``(+     0.000891)`` after an absolute timestamp;
* ``-T``: ``<0.000674>`` after the result of a call that returned.

A line's time is when it happened: a call's entry for its line, its return for a
``<... resumed>`` line, the stop for a ``---``/``+++`` line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["PRECISIONS", "Stamps", "parse_absolute", "parse_precision"]

#: Digits after the point for each precision name.
PRECISIONS = {"s": 0, "ms": 3, "us": 6, "ns": 9}


@dataclass
class Stamps:
    """What a StraceWriter adds to its lines."""

    absolute: str | None = None   # None, "time" or "unix"
    absolute_digits: int = 0
    relative: bool = False
    relative_digits: int = 6
    durations: bool = False       # -T
    duration_digits: int = 6

    def __post_init__(self) -> None:
        self._last: float | None = None
        self._second = -1
        self._clock = ""

    @property
    def active(self) -> bool:
        return bool(self.absolute or self.relative or self.durations)

    def leader(self, ts: float | None) -> str:
        """The timestamps that start a line happening at ``ts`` (None: now)."""
        if ts is None:
            ts = time.time()
        out = ""
        if self.absolute == "time":
            second, fraction = _split(ts, self.absolute_digits)
            if second != self._second:
                self._second = second
                self._clock = time.strftime("%H:%M:%S", time.localtime(second))
            out = f"{self._clock}{fraction} "
        elif self.absolute == "unix":
            second, fraction = _split(ts, self.absolute_digits)
            out = f"{second}{fraction} "
        if self.relative:
            last = self._last
            delta = 0.0 if last is None else max(ts - last, 0.0)
            self._last = ts
            whole, fraction = _split(delta, self.relative_digits)
            text = f"{whole:6d}{fraction}"
            out += f"(+{text}) " if self.absolute else f"{text} "
        return out

    def duration(self, seconds: float) -> str:
        """``-T``'s text for a call that took ``seconds`` (without the angle brackets)."""
        whole, fraction = _split(seconds, self.duration_digits)
        return f"{whole}{fraction}"


def _split(value: float, digits: int) -> tuple[int, str]:
    """``value`` as whole seconds and ``.ddd`` with ``digits`` digits (none for 0), cut
    to that precision as strace cuts a timespec (a float's last bit is not a digit)."""
    if not digits:
        return int(value), ""
    scale = 10 ** digits
    ticks = int(value * scale + 1e-6)
    return ticks // scale, f".{ticks % scale:0{digits}d}"


def parse_precision(text: str, option: str) -> int:
    """A precision name (``s``, ``ms``, ``us``, ``ns``) as a digit count."""
    digits = PRECISIONS.get(text)
    if digits is None:
        raise ValueError(f"invalid {option} argument: '{text}'")
    return digits


def parse_absolute(text: str) -> tuple[str | None, int]:
    """``--absolute-timestamps=[[format:]FORMAT[,[precision:]PRECISION]]`` as (format,
    digits); format None is ``none``."""
    fmt: str | None = "time"
    digits = 0
    for item in text.split(","):
        key, _, value = item.rpartition(":")
        if key not in ("", "format", "precision"):
            raise ValueError(f"invalid --absolute-timestamps argument: '{text}'")
        if value in ("none", "time", "unix") and key != "precision":
            fmt = None if value == "none" else value
        elif value in PRECISIONS and key != "format":
            digits = PRECISIONS[value]
        else:
            raise ValueError(f"invalid --absolute-timestamps argument: '{text}'")
    return fmt, digits
