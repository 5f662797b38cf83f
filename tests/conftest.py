"""The suite's lanes: markers, and the one place that decides whether a lane can run here.

Markers (registered here; ``--strict-markers`` refuses any other):

* ``kernel``: loads and test-runs programs with bpf(2) in the host kernel (root, or
  CAP_BPF + CAP_PERFMON; a kernel that takes sleepable BPF_PROG_TYPE_SYSCALL programs).
* ``ptrace``: runs real processes under ptrace (the tracer in-process, or the trace-run
  CLI in a subprocess).
* ``slow``: takes more than about a second (hypothesis properties at full strength,
  sweeps over every syscall table, real-process round trips).  ``pytest -m "not slow"``
  is the development loop.
* ``needs_gcc``: builds C test programs with gcc.
* ``needs_strace``: runs strace (and compares with it).
* ``needs_bpf_cc``: compiles BPF C (``probes.build``: ziglang's clang, or ``$BPF_CC``).
* ``needs_llvm(tool, ...)``: runs LLVM binutils (``llvm-objdump``, ``llvm-objcopy``).
* ``needs_uapi_headers(path, ...)``: reads the kernel's uapi headers (linux-libc-dev).
* ``needs_browser``: drives headless Chromium through selenium (the distribution's
  ``chromium`` and ``chromium-driver``; nothing is downloaded: tests/explain/browser.py).

Tests that use the ``cc`` fixture are ``needs_bpf_cc``, ``cprog`` ``needs_gcc``,
``traced`` ``ptrace`` and ``browser`` ``needs_browser`` without saying so: the marker is
added at collection.

A marked test whose lane cannot run here is skipped at setup with the reason (what is
missing, or what the kernel answered); each lane is probed once, and only when a test
that needs it runs.

Hypothesis: the ``ci`` profile (the default: the counts the tests ask for) or ``dev``
(few examples), chosen by ``HYPOTHESIS_PROFILE``; see tests/hypothesis_profiles.py.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests import hypothesis_profiles

MARKERS = {
    "kernel": "needs bpf(2) of the host kernel (load and test-run programs; root)",
    "ptrace": "runs real processes under ptrace",
    "slow": "takes more than about a second; deselect with -m 'not slow'",
    "needs_gcc": "builds C test programs with gcc",
    "needs_strace": "runs strace",
    "needs_bpf_cc": "compiles BPF C (ziglang's clang or $BPF_CC)",
    "needs_llvm(tool, ...)": "runs the named LLVM tools (llvm-objdump, llvm-objcopy)",
    "needs_uapi_headers(path, ...)": "reads these kernel uapi headers (linux-libc-dev)",
    "needs_browser": "drives headless Chromium (chromium, chromium-driver) through selenium",
}

# a test using one of these fixtures needs the lane without saying so
FIXTURE_LANES = {"cc": "needs_bpf_cc", "cprog": "needs_gcc", "traced": "ptrace",
                 "browser": "needs_browser"}


def pytest_configure(config: pytest.Config) -> None:
    for name, help_text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {help_text}")


def pytest_report_header(config: pytest.Config) -> str:
    return f"hypothesis profile: {hypothesis_profiles.PROFILE}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, lane in FIXTURE_LANES.items():
            if fixture in getattr(item, "fixturenames", ()) and \
                    item.get_closest_marker(lane) is None:
                item.add_marker(lane)


# --- why a lane cannot run here (None: it can) -------------------------------------------

@functools.cache
def kernel_reason() -> str | None:
    from bpf_vm import kernel
    return kernel.kernel_unavailable_reason()


@functools.cache
def ptrace_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"ptrace: Linux only (this is {sys.platform})"
    # PTRACE_SEIZE of a child of ours, as the tracer's spawn does
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    try:
        if libc.ptrace(0x4206, pid, None, None) != 0:  # PTRACE_SEIZE
            err = ctypes.get_errno()
            return f"ptrace(PTRACE_SEIZE) refused: {os.strerror(err)}"
        return None
    finally:
        os.close(w)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _tool(name: str) -> str | None:
    return None if shutil.which(name) else f"{name} is not installed"


@functools.cache
def strace_reason() -> str | None:
    if (missing := _tool("strace")) is not None:
        return missing
    proc = subprocess.run(["strace", "-f", "-o", os.devnull, "true"], capture_output=True,
                          text=True, timeout=60, check=False)
    if proc.returncode != 0:
        return f"strace cannot trace here: {proc.stderr.strip()}"
    return None


@functools.cache
def bpf_cc_reason() -> str | None:
    cc = os.environ.get("BPF_CC")
    if cc:
        return None if shutil.which(cc) else f"$BPF_CC ({cc}) is not installed"
    import importlib.util
    if importlib.util.find_spec("ziglang") is None:
        return "ziglang (the BPF C compiler) is not installed and $BPF_CC is not set"
    return None


def _paths_reason(paths: tuple[object, ...]) -> str | None:
    missing = [str(p) for p in paths if not Path(str(p)).exists()]
    return f"uapi headers not installed: {', '.join(missing)}" if missing else None


@functools.cache
def browser_reason() -> str | None:
    from tests.explain.browser import browser_unavailable_reason
    return browser_unavailable_reason()


def lane_reasons(item: pytest.Item) -> list[str]:
    reasons: list[str | None] = []
    if item.get_closest_marker("kernel"):
        reasons.append(kernel_reason())
    if item.get_closest_marker("ptrace"):
        reasons.append(ptrace_reason())
    if item.get_closest_marker("needs_gcc"):
        reasons.append(_tool("gcc"))
    if item.get_closest_marker("needs_strace"):
        reasons.append(strace_reason())
    if item.get_closest_marker("needs_bpf_cc"):
        reasons.append(bpf_cc_reason())
    for mark in item.iter_markers("needs_llvm"):
        reasons += [_tool(tool) for tool in mark.args]
    for mark in item.iter_markers("needs_uapi_headers"):
        reasons.append(_paths_reason(mark.args))
    if item.get_closest_marker("needs_browser"):
        reasons.append(browser_reason())
    return [r for r in reasons if r is not None]


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures are set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    reasons = lane_reasons(item)
    if reasons:
        pytest.skip("; ".join(dict.fromkeys(reasons)))
