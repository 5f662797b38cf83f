"""What trace-run lends ``bpf-vm demo``: the chapters that trace real processes.

``bpf-vm demo`` (in :mod:`bpf_vm`) shows the chapters the VM can show alone; the ones
that need ptrace, policies and sweeps live here and reach it through the
``bpf_vm.extensions`` entry point (``trace-run-demo``), so the VM never imports the
front end:

2. one syscall of a real command stepped through, the tail call highlighted
   (:mod:`tracer.demo_trace`);
5. a seccomp profile compiled into per-syscall programs and enforced on a real
   ``mkdir`` (:mod:`tracer.demo_policy`);
6. a sweep of a small command (:mod:`tracer.demo_policy`).

The chapter modules are imported only when a chapter runs: ``bpf-vm build`` and
``bpf-vm verify`` also read the extensions, and pay only for this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bpf_vm import DemoChapter, Extension

if TYPE_CHECKING:
    from bpf_vm import Demo


def _trace(demo: Demo) -> None:
    from tracer.demo_trace import chapter
    chapter(demo)


def _policy(demo: Demo) -> None:
    from tracer.demo_policy import policy_chapter
    policy_chapter(demo)


def _sweep(demo: Demo) -> None:
    from tracer.demo_policy import sweep_chapter
    sweep_chapter(demo)


CHAPTERS = (
    DemoChapter(2, "One syscall of a real command, step by step", _trace),
    DemoChapter(5, "A seccomp profile as per-syscall programs", _policy),
    DemoChapter(6, "A sweep: which syscalls does a command need?", _sweep),
)


def bpf_vm_extension() -> Extension:
    """The demo's front-end chapters (entry point ``trace-run-demo``)."""
    return Extension(demo_chapters=CHAPTERS)


__all__ = ["CHAPTERS", "bpf_vm_extension"]
