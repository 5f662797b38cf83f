"""Hypothesis profiles, loaded by tests/conftest.py before any test module is imported.

``HYPOTHESIS_PROFILE=ci`` (the default, so a plain ``python3 -m pytest`` keeps the
suite's full strength): every property draws the examples its ``@settings`` asks for
(hypothesis' 100 where it asks for nothing).  ``HYPOTHESIS_PROFILE=dev``: at most
``DEV_EXAMPLES`` examples per property, for the edit-test loop.

A property that asks for more than the default writes
``@settings(max_examples=examples(300), ...)``: ``examples`` returns its argument under
``ci`` and caps it under ``dev`` (an explicit ``max_examples`` would otherwise override
any profile)."""

from __future__ import annotations

import os

from hypothesis import settings

DEV_EXAMPLES = 10

settings.register_profile("ci", print_blob=True)
settings.register_profile("dev", max_examples=DEV_EXAMPLES)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "dev"):
    raise RuntimeError(f"HYPOTHESIS_PROFILE={PROFILE!r}: use 'ci' or 'dev'")
settings.load_profile(PROFILE)


def examples(n: int) -> int:
    """``n`` examples under the ci profile, at most DEV_EXAMPLES under dev."""
    return min(n, DEV_EXAMPLES) if PROFILE == "dev" else n
