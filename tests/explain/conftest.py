"""``browser``: one headless Chromium per test module (tests/explain/browser.py).

A test that uses it is in the ``needs_browser`` lane (tests/conftest.py adds the marker),
so it is skipped, with the reason, where chromium, chromium-driver or selenium is
missing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.explain.browser import start_browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = start_browser()
    try:
        yield driver
    finally:
        driver.quit()
