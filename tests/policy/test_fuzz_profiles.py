"""scripts/fuzz_profiles.py, seeded and small: no mutated or garbage profile ends in a
traceback or a hang, in process or through the CLI."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _fuzzer():  # type: ignore[no-untyped-def]
    path = Path(__file__).parents[2] / "scripts" / "fuzz_profiles.py"
    spec = importlib.util.spec_from_file_location("fuzz_profiles", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_no_traceback_in_200_fuzzed_profiles() -> None:
    result = _fuzzer().run(200, seed=12, cli_every=100, log=lambda _: None)
    assert result["failures"] == [], "\n".join(result["failures"][:5])
    assert result.get("ok", 0) + result.get("refused", 0) == 200
    assert result.get("refused", 0) > 50 and result.get("cli", 0) == 2
