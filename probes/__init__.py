"""trace-run's BPF side: the syscall ABI facts, the probe sources, and seccomp profiles
compiled into BPF.

* :mod:`probes.abi`: syscall numbers per ABI, argument registers, audit arches (and the
  VM's pt_regs layout) -- shared by the policy compiler and the tracer.
* ``include/``: the BPF C headers probes are written against; ``syscalls.bpf.c`` and
  ``dispatch.s``: the default probe.
* :mod:`probes.policy`: profile models, resolution and the BPF compiler.

:func:`build` compiles probe C with these headers through the VM's toolchain driver;
:func:`bpf_vm_extension` lends the headers, the x86_64 syscall table and the default
probe's sources (for ``bpf-vm demo``) to the ``bpf-vm`` CLI (entry point
``bpf_vm.extensions``).
"""

from __future__ import annotations

import os
from pathlib import Path

from bpf_vm import Extension, __version__, toolchain

INCLUDE_DIR = Path(__file__).resolve().parent / "include"
"""The headers of trace-run's probes (bpf_helpers.h, bpf_tracing.h, syscall_nrs.h...)."""

DEFAULT_PROBE = Path(__file__).resolve().parent / "syscalls.bpf.c"
"""The probe ``trace-run CMD`` runs when no ``--probe`` is given."""

DISPATCH_ASM = Path(__file__).resolve().parent / "dispatch.s"
"""The default probe's dispatcher written by hand in assembly."""


def build(source: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, *,
          include_dirs: list[Path] | None = None, extra_flags: list[str] | None = None,
          use_cache: bool = True, cache: Path | None = None) -> Path:
    """Compile a probe: :func:`bpf_vm.toolchain.build` with :data:`INCLUDE_DIR` searched
    first, then ``include_dirs``."""
    return toolchain.build(source, output, include_dirs=[INCLUDE_DIR, *(include_dirs or [])],
                           extra_flags=extra_flags, use_cache=use_cache, cache=cache)


def bpf_vm_extension() -> Extension:
    """What ``bpf-vm`` borrows from trace-run: the x86_64 syscall table, the headers and
    the default probe's sources (C, then its dispatcher in assembly)."""
    from probes.abi import x86_64_syscall_number
    return Extension(syscall_number=x86_64_syscall_number, include_dirs=(INCLUDE_DIR,),
                     probe_sources=(DEFAULT_PROBE, DISPATCH_ASM))


__all__ = ["DEFAULT_PROBE", "DISPATCH_ASM", "INCLUDE_DIR", "__version__", "bpf_vm_extension",
           "build"]
