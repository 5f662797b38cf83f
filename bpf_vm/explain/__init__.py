"""The explorer page: step through recorded runs of BPF programs in a browser.

:class:`Explorer` collects programs and recorded runs (:class:`RunRecorder`, the VM's
step hook) and writes one self-contained HTML page (:mod:`bpf_vm.explain.page`, which
documents the page's data format and DOM contract).  ``bpf-vm explain`` and
``trace-run --explain`` are its two front ends.
"""

from __future__ import annotations

from .page import FORMAT, Explorer
from .record import RunRecorder

__all__ = ["FORMAT", "Explorer", "RunRecorder"]
