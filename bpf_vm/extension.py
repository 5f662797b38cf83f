"""What a front end lends the ``bpf-vm`` CLI: a syscall table, C headers, its probe
sources and the guided demo's chapters that need it.

The VM knows no syscall numbers and ships no BPF C headers; both belong to the project
that uses it (trace-run's :mod:`probes`).  A library caller passes them directly
(``load_object(..., syscall_number=...)``, ``toolchain.build(..., include_dirs=...)``).
The CLI finds them through the ``bpf_vm.extensions`` entry-point group: each entry names
a zero-argument callable returning an :class:`Extension`.  So the dependency points one
way (the front end names the VM in its packaging metadata; the VM imports nothing of
it), and with no extension installed ``bpf-vm`` still runs, without those things
(``bpf-vm demo`` then shows only its own chapters).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from .objfile import SyscallResolver

if TYPE_CHECKING:
    from .demo import DemoChapter

GROUP = "bpf_vm.extensions"


@dataclass(frozen=True)
class Extension:
    """``syscall_number`` numbers ``ksyscall/<name>`` sections; ``include_dirs`` are the
    headers ``bpf-vm build`` searches after the user's ``-I`` directories;
    ``probe_sources`` the front end's own probe (C, then assembly: the first program of
    each is its dispatcher), which ``bpf-vm demo`` opens with; ``demo_chapters`` the
    demo's chapters that need the front end (tracing real commands, policies);
    ``fallback_include_dirs`` headers searched after the system's (libbpf's ``bpf/``
    layout where libbpf-dev is absent)."""

    syscall_number: SyscallResolver | None = None
    include_dirs: tuple[Path, ...] = ()
    probe_sources: tuple[Path, ...] = ()
    demo_chapters: tuple[DemoChapter, ...] = ()
    fallback_include_dirs: tuple[Path, ...] = ()


@cache
def installed() -> Extension:
    """The installed extensions merged: the first resolver, every include directory,
    the first probe's sources, every demo chapter.  Looked up only when a command needs
    one (reading package metadata costs ~20 ms)."""
    from importlib.metadata import entry_points
    resolver: SyscallResolver | None = None
    dirs: list[Path] = []
    fallback: list[Path] = []
    sources: tuple[Path, ...] = ()
    chapters: list[DemoChapter] = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        make: Callable[[], Extension] = ep.load()
        ext = make()
        if resolver is None:
            resolver = ext.syscall_number
        dirs.extend(d for d in ext.include_dirs if d not in dirs)
        fallback.extend(d for d in ext.fallback_include_dirs if d not in fallback)
        sources = sources or ext.probe_sources
        chapters.extend(ext.demo_chapters)
    return Extension(resolver, tuple(dirs), sources, tuple(chapters), tuple(fallback))


def syscall_number(name: str) -> int | None:
    """The installed resolver, for the CLI's loaders (looked up at the first
    ``ksyscall/<name>`` section).  Without one, LookupError, which the loader reports
    with the section that needed it."""
    resolve = installed().syscall_number
    if resolve is None:
        raise LookupError(f"no syscall table is installed (entry-point group {GROUP})")
    return resolve(name)


__all__ = ["GROUP", "Extension", "installed", "syscall_number"]
