"""The structure, checked: which package may import what, and how big a module may grow.

import-linter (``lint-imports``, run by CI) checks the layers (tracer -> probes -> bpf_vm)
and that nothing below the tracer imports ptrace.  These tests add what its contracts
cannot say: the tracer and the probes use the VM only through its declared public API
(``from bpf_vm import X`` with X in ``bpf_vm.__all__``), every name of that API resolves,
and no hand-written module grows past the size where it holds several jobs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bpf_vm

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bpf_vm", "probes", "tracer")
MAX_LINES = 600


def _modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def _imports(path: Path) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, module, names) of every import in the file, at any depth (functions and
    TYPE_CHECKING blocks too); relative imports are made absolute."""
    package = list(path.relative_to(ROOT).parts[:-1])   # the module's own package
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package[:len(package) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            out.append((node.lineno, base, tuple(a.name for a in node.names)))
    return out


@pytest.mark.parametrize("path", _modules("probes", "tracer"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_tracer_and_probes_use_only_the_vms_public_api(path: Path) -> None:
    bad = []
    for line, module, names in _imports(path):
        if module == "bpf_vm":
            bad += [f"{line}: from bpf_vm import {n} (not in bpf_vm.__all__)"
                    for n in names if n not in bpf_vm.__all__]
        elif module.startswith("bpf_vm."):
            bad.append(f"{line}: imports {module} (use 'from bpf_vm import ...')")
    assert not bad, f"{path.relative_to(ROOT)}:\n" + "\n".join(bad)


def test_every_public_name_resolves() -> None:
    missing = [n for n in bpf_vm.__all__ if getattr(bpf_vm, n, None) is None]
    assert not missing


def test_import_directions_hold_at_every_depth() -> None:
    """The layers again, including imports inside functions (which import-linter also
    sees) and under TYPE_CHECKING: bpf_vm imports nothing of probes or tracer, probes
    nothing of tracer."""
    below = {"bpf_vm": ("probes", "tracer"), "probes": ("tracer",)}
    bad = []
    for pkg, forbidden in below.items():
        for path in _modules(pkg):
            for line, module, _ in _imports(path):
                if module.split(".")[0] in forbidden:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", [p for p in _modules(*PACKAGES)
                                  if not p.name.startswith("_generated")],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_hand_written_module_holds_several_jobs(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, (f"{path.relative_to(ROOT)} has {lines} lines: split it along"
                                " its seams")
