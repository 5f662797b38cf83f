"""A vendored object loaded into the host kernel with the system's libbpf (ctypes on
libbpf.so.1), every program attached as its section says, and its perf-event records
read with libbpf's perf_buffer: the oracle where the distribution's binary of the same
source cannot be one (statsnoop v0.26.0 loads none of its programs).

Records are read with perf_buffer__consume after the traced command has exited, which
drains every CPU's buffer: nothing is timed."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from tests import libbpf_host

SAMPLE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                             ctypes.c_uint32)
LOST_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64)


def _lib() -> ctypes.CDLL:
    lib = libbpf_host._lib()
    lib.bpf_object__find_map_fd_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.perf_buffer__new.restype = ctypes.c_void_p
    lib.perf_buffer__new.argtypes = [ctypes.c_int, ctypes.c_size_t, SAMPLE_FN, LOST_FN,
                                     ctypes.c_void_p, ctypes.c_void_p]
    lib.perf_buffer__consume.argtypes = [ctypes.c_void_p]
    lib.perf_buffer__free.argtypes = [ctypes.c_void_p]
    return lib


class KernelObjectError(Exception):
    """libbpf or the kernel refused the object (the test skips with this reason)."""


def perf_records(path: Path, map_name: str, run: Callable[[], None]) -> list[bytes]:
    """The records ``path``'s programs write to its perf-event array ``map_name`` while
    ``run()`` runs (each record's bytes as bpf_perf_event_output gave them)."""
    got: list[bytes] = []
    lost: list[int] = []

    def sample(_ctx: int, _cpu: int, data: int, size: int) -> None:
        got.append(ctypes.string_at(data, size))

    def on_lost(_ctx: int, _cpu: int, cnt: int) -> None:
        lost.append(cnt)

    sample_cb, lost_cb = SAMPLE_FN(sample), LOST_FN(on_lost)
    lib = _lib()
    with ExitStack() as stack:
        try:     # every program attached as its section says (libbpf_host.loaded)
            _, obj = stack.enter_context(libbpf_host.loaded(path))
        except OSError as exc:
            raise KernelObjectError(str(exc)) from None
        fd = lib.bpf_object__find_map_fd_by_name(obj, map_name.encode())
        pb = lib.perf_buffer__new(fd, 64, sample_cb, lost_cb, None, None)
        if not pb or lib.libbpf_get_error(pb):
            raise KernelObjectError(f"perf_buffer__new on {map_name} failed")
        try:
            run()
            lib.perf_buffer__consume(pb)
        finally:
            lib.perf_buffer__free(pb)
    if lost:
        raise AssertionError(f"{sum(lost)} records lost")
    return got
