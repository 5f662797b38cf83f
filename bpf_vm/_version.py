"""The version of the trace-run distribution (bpf_vm, probes, tracer), defined once:
pyproject.toml reads it from here."""

__version__ = "0.2.0.dev0"
