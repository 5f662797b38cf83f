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

LIBBPF_COMPAT_DIR = INCLUDE_DIR / "libbpf"
"""libbpf's include layout (``bpf/bpf_helpers.h``, ``bpf/bpf_tracing.h``,
``bpf/bpf_core_read.h``) over the headers above, searched after the system's: a
program written against libbpf builds with the system's libbpf-dev headers where they
are installed, else with these."""

DEFAULT_PROBE = Path(__file__).resolve().parent / "syscalls.bpf.c"
"""The probe ``trace-run CMD`` runs when no ``--probe`` is given."""

DISPATCH_ASM = Path(__file__).resolve().parent / "dispatch.s"
"""The default probe's dispatcher written by hand in assembly."""


def build(source: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, *,
          include_dirs: list[Path] | None = None, extra_flags: list[str] | None = None,
          use_cache: bool = True, cache: Path | None = None) -> Path:
    """Compile a probe: :func:`bpf_vm.toolchain.build` with :data:`INCLUDE_DIR` searched
    first, then ``include_dirs``, the system's headers and :data:`LIBBPF_COMPAT_DIR`;
    ``__TARGET_ARCH_x86`` defined, as libbpf's bpf_tracing.h needs."""
    return toolchain.build(source, output, include_dirs=[INCLUDE_DIR, *(include_dirs or [])],
                           extra_flags=extra_flags, use_cache=use_cache, cache=cache,
                           target_arch="x86", system_includes=True,
                           fallback_dirs=[LIBBPF_COMPAT_DIR])


def bpf_vm_extension() -> Extension:
    """What ``bpf-vm`` borrows from trace-run: the x86_64 syscall table, the headers and
    the default probe's sources (C, then its dispatcher in assembly)."""
    from probes.abi import x86_64_syscall_number
    return Extension(syscall_number=x86_64_syscall_number, include_dirs=(INCLUDE_DIR,),
                     probe_sources=(DEFAULT_PROBE, DISPATCH_ASM),
                     fallback_include_dirs=(LIBBPF_COMPAT_DIR,))


__all__ = ["DEFAULT_PROBE", "DISPATCH_ASM", "INCLUDE_DIR", "LIBBPF_COMPAT_DIR", "__version__",
           "bpf_vm_extension", "build"]
