"""Loading a BPF object into the host kernel with the system's libbpf (libbpf.so.1 through
ctypes), attached as its section names say, as a skeleton's ``__attach`` does: the
reference that ``trace-run --probe`` is compared with.

Output is read from tracefs's ``trace_pipe`` (bpf_printk).  Needs root, bpf(2) and a
mountable tracefs; :func:`unavailable_reason` says why not otherwise.
"""

from __future__ import annotations

import ctypes
import os
import select
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")


def mount_tracefs() -> str | None:
    """Mount tracefs at /sys/kernel/tracing when it is not; None, or why it cannot be."""
    if (TRACEFS / "trace_pipe").exists():
        return None
    if os.geteuid() != 0:
        return "tracefs is not mounted and mounting it needs root"
    res = subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0 or not (TRACEFS / "trace_pipe").exists():
        return f"cannot mount tracefs: {res.stderr.strip() or res.returncode}"
    return None


def _lib() -> ctypes.CDLL:
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    lib.bpf_object__open_file.restype = ctypes.c_void_p
    lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.bpf_object__load.argtypes = [ctypes.c_void_p]
    lib.bpf_object__close.argtypes = [ctypes.c_void_p]
    lib.bpf_object__next_program.restype = ctypes.c_void_p
    lib.bpf_object__next_program.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.bpf_program__attach.restype = ctypes.c_void_p
    lib.bpf_program__attach.argtypes = [ctypes.c_void_p]
    lib.bpf_program__name.restype = ctypes.c_char_p
    lib.bpf_program__name.argtypes = [ctypes.c_void_p]
    lib.bpf_program__autoattach.restype = ctypes.c_bool
    lib.bpf_program__autoattach.argtypes = [ctypes.c_void_p]
    lib.bpf_link__destroy.argtypes = [ctypes.c_void_p]
    lib.libbpf_get_error.restype = ctypes.c_long
    lib.libbpf_get_error.argtypes = [ctypes.c_void_p]
    return lib


def unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "loading into the host kernel needs root"
    try:
        _lib()
    except OSError as exc:
        return f"no libbpf.so.1: {exc}"
    return mount_tracefs()


@contextmanager
def loaded(path: Path, skip: tuple[str, ...] = ()) -> Iterator[tuple[ctypes.CDLL, int]]:
    """(libbpf, the bpf_object) with the object loaded and every program attached where
    its section says (except those named in ``skip``).  OSError when libbpf or the
    kernel refuses a step, naming it."""
    lib = _lib()
    obj = lib.bpf_object__open_file(str(path).encode(), None)
    if not obj or lib.libbpf_get_error(obj):
        raise OSError(f"libbpf: cannot open {path}")
    links: list[int] = []
    try:
        if lib.bpf_object__load(obj) != 0:
            raise OSError(ctypes.get_errno(), f"the host kernel refused {path.name}")
        prog = lib.bpf_object__next_program(obj, None)
        while prog:
            name = lib.bpf_program__name(prog).decode()
            if name not in skip and lib.bpf_program__autoattach(prog):
                link = lib.bpf_program__attach(prog)
                if not link or lib.libbpf_get_error(link):
                    raise OSError(f"the host kernel refused to attach {name} of {path.name}")
                links.append(link)
            prog = lib.bpf_object__next_program(obj, prog)
        yield lib, obj
    finally:
        for link in links:
            lib.bpf_link__destroy(link)
        lib.bpf_object__close(obj)


class TracePipe:
    """tracefs's trace_pipe, drained: lines written by bpf_printk while it was open."""

    def __init__(self) -> None:
        self.fd = os.open(TRACEFS / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK)
        self.drain()

    def drain(self) -> list[str]:
        out = b""
        while True:
            r, _, _ = select.select([self.fd], [], [], 0)
            if not r:
                break
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            out += chunk
        return out.decode(errors="replace").splitlines()

    def close(self) -> None:
        os.close(self.fd)


def printk_messages(lines: list[str], comm: str) -> list[str]:
    """The messages of trace_pipe lines written in tasks named ``comm``:
    ``   <comm>-<pid>  [cpu] flags  ts: bpf_trace_printk: MSG`` -> MSG."""
    out = []
    for line in lines:
        head, sep, msg = line.partition(": bpf_trace_printk: ")
        if sep and head.strip().startswith(comm + "-"):
            out.append(msg)
    return out
