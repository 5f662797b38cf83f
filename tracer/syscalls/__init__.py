"""Syscall decoding for the tracer: strace's notation for arguments and results.

The ABI facts (numbers, names, argument registers) live in :mod:`probes.abi`;
python-ptrace's prototypes and argument counts in :mod:`tracer.syscalls.prototypes`.
"""
