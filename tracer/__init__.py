"""trace-run's ptrace front end: spawning and following processes, the stop loop, the
outputs and the policy modes.  It uses the VM only through :mod:`bpf_vm`'s public API."""

from bpf_vm import __version__

__all__ = ["__version__"]
