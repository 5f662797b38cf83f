"""strace's syscall classes (``-e trace=%file`` ...), per ABI.

The membership is strace 6.1's (its syscallent tables' flags), generated into
:mod:`tracer.syscalls._generated_classes` by ``scripts/gen_syscall_classes.py``.  Numbers
are keyed as :mod:`probes.abi` keys them (x32 with ``__X32_SYSCALL_BIT``).

Class names are matched as strace matches them: without regard to case, and with the
legacy spellings without ``%`` (``file``, ``process``, ``desc``, ``memory``, ``signal``,
``ipc``, ``network``; ``%net`` is ``%network``); the legacy name ``all`` stands for every
syscall of the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from probes.abi import Abi, syscalls

from ._generated_classes import CLASSES as _CLASSES

__all__ = ["CLASS_NAMES", "class_members", "lookup_class"]

CLASS_NAMES: tuple[str, ...] = tuple(_CLASSES["x86_64"])
"""The classes with ``%``, in strace's order of its manual."""

_ALIASES: Mapping[str, str] = MappingProxyType({
    "%net": "%network",
    "desc": "%desc", "file": "%file", "memory": "%memory", "process": "%process",
    "signal": "%signal", "ipc": "%ipc", "network": "%network",
    **{name: name for name in CLASS_NAMES},
})

_TABLE: dict[Abi, dict[str, frozenset[int]]] = {
    abi: {cls: frozenset(nrs) for cls, nrs in _CLASSES[abi.value].items()} for abi in Abi
}


def lookup_class(token: str) -> str | None:
    """The canonical class (``%network``) a ``-e trace=`` token names, ``"all"`` for the
    legacy ``all``, or None when it names no class.  Case does not matter."""
    low = token.lower()
    if low == "all":
        return "all"
    return _ALIASES.get(low)


def class_members(abi: Abi, cls: str) -> frozenset[int]:
    """The numbers of ``abi`` (probes.abi keys) in class ``cls`` (as :func:`lookup_class`
    returns it)."""
    if cls == "all":
        return frozenset(syscalls(abi))
    return _TABLE[abi][cls]
