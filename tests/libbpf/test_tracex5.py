"""The kernel's samples/bpf/tracex5, unchanged, under `trace-run --probe` on a real
command prints what it prints in the host kernel.

In the kernel, tracex5's loader (tracex5_user.c) puts each ``kprobe/<N>`` program into
``progs[N]`` and attaches the dispatcher to ``__seccomp_filter``, which runs at every
syscall of a process with a seccomp filter.  csrc/tx5.c installs an allow-all filter
and makes the calls tracex5 prints (and some it does not); its bpf_trace_printk lines
are read from trace_pipe and compared, message by message, with trace-run's --printk
lines from the marker call (getsid) on: trace-run also runs the dispatcher before the
filter exists, which the kernel does not."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import libbpf_host
from tests.libbpf.catalogue import ROOT

pytestmark = [pytest.mark.needs_bpf_cc, pytest.mark.needs_gcc, pytest.mark.slow]

CSRC = Path(__file__).parent / "csrc"
KPROBE_PMU = Path("/sys/bus/event_source/devices/kprobe")
MARKER = "syscall=124 (one of get/set uid/pid/gid)"   # getsid(0): the first call shown
EXPECTED = [MARKER, "mmap", "write(fd=3, buf=0000000010000000, size=512)",
            "read(fd=4, buf=0000000010000000, size=300)",
            "syscall=102 (one of get/set uid/pid/gid)"]


@pytest.fixture(scope="module")
def tx5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("tx5") / "tx5"
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(CSRC / "tx5.c")], check=True,
                   capture_output=True, text=True)
    return exe


def from_marker(messages: list[str]) -> list[str]:
    return messages[messages.index(MARKER):] if MARKER in messages else messages


def printk_of_trace_run(obj: Path, exe: Path) -> list[str]:
    """The messages trace-run --probe OBJ --printk - prints for ``exe``."""
    proc = subprocess.run([sys.executable, "-m", "tests.tracer.cli_runner", "-o",
                           "/dev/null", "--probe", str(obj), "--printk", "-", str(exe)],
                          capture_output=True, text=True, timeout=120, check=False,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return libbpf_host.printk_messages(proc.stdout.splitlines(), exe.name)


@pytest.mark.ptrace
@pytest.mark.parametrize("name", ["tracex5", "tracex5_kern"])
def test_tracex5_under_trace_run(name: str, objects: dict[str, Path], tx5: Path) -> None:
    """Both the current tracex5.bpf.c and the older tracex5_kern.c print exactly these
    lines for tx5's calls."""
    assert from_marker(printk_of_trace_run(objects[name], tx5)) == EXPECTED


# ---- the host kernel: tracex5_user.c's loading, with the system's libbpf -----------------

def _lib() -> ctypes.CDLL:
    lib = libbpf_host._lib()
    lib.bpf_program__section_name.restype = ctypes.c_char_p
    lib.bpf_program__section_name.argtypes = [ctypes.c_void_p]
    lib.bpf_program__fd.argtypes = [ctypes.c_void_p]
    lib.bpf_program__set_autoattach.argtypes = [ctypes.c_void_p, ctypes.c_bool]
    lib.bpf_object__find_map_fd_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.bpf_map_update_elem.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_uint64]
    return lib


def _programs(lib: ctypes.CDLL, obj: int) -> Iterator[int]:
    prog = lib.bpf_object__next_program(obj, None)
    while prog:
        yield prog
        prog = lib.bpf_object__next_program(obj, prog)


@contextmanager
def tracex5_in_kernel(path: Path) -> Iterator[None]:
    """Loaded as tracex5_user.c loads it: ``progs[N]`` = the fd of ``kprobe/N``, the
    dispatcher attached (the slot programs attach nowhere)."""
    lib = _lib()
    obj = lib.bpf_object__open_file(str(path).encode(), None)
    if not obj or lib.libbpf_get_error(obj):
        pytest.fail(f"libbpf cannot open {path}")
    link = None
    try:
        slots = {}
        for prog in _programs(lib, obj):
            section = lib.bpf_program__section_name(prog).decode()
            target = section.removeprefix("kprobe/")
            if target.isdigit():
                slots[int(target)] = prog
                lib.bpf_program__set_autoattach(prog, False)
        if lib.bpf_object__load(obj) != 0:
            pytest.skip(f"the host kernel refused to load {path.name} "
                        f"({ctypes.get_errno()})")
        progs_fd = lib.bpf_object__find_map_fd_by_name(obj, b"progs")
        for nr, prog in slots.items():
            key, fd = ctypes.c_uint32(nr), ctypes.c_uint32(lib.bpf_program__fd(prog))
            assert lib.bpf_map_update_elem(progs_fd, ctypes.byref(key), ctypes.byref(fd),
                                           0) == 0
        for prog in _programs(lib, obj):
            if lib.bpf_program__autoattach(prog):
                link = lib.bpf_program__attach(prog)
                if not link or lib.libbpf_get_error(link):
                    pytest.skip("the host kernel refused the kprobe on __seccomp_filter "
                                f"({ctypes.get_errno()})")
        yield
    finally:
        if link:
            lib.bpf_link__destroy(link)
        lib.bpf_object__close(obj)


@pytest.mark.kernel
@pytest.mark.ptrace
def test_tracex5_prints_what_the_kernel_prints(objects: dict[str, Path], tx5: Path) -> None:
    if (why := libbpf_host.unavailable_reason()) is not None:
        pytest.skip(why)
    if not KPROBE_PMU.exists():
        pytest.skip(f"the host kernel has no kprobes ({KPROBE_PMU} is missing: "
                    "CONFIG_KPROBES is not set), so tracex5's dispatcher cannot attach")
    pipe = libbpf_host.TracePipe()
    try:
        with tracex5_in_kernel(objects["tracex5"]):
            subprocess.run([str(tx5)], check=True, timeout=60)
            kernel = libbpf_host.printk_messages(pipe.drain(), tx5.name)
    finally:
        pipe.close()
    assert kernel == EXPECTED           # the kernel's own output: the oracle
    assert from_marker(printk_of_trace_run(objects["tracex5"], tx5)) == kernel
