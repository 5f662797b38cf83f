"""``trace-run --explain`` of a real command in headless Chromium: the page lists the
recorded syscalls, and choosing one steps through the bundled probe's run of it (the
dispatcher's tail call into the syscall's program, then that program).

Its screenshot shows pids and addresses, which differ from run to run: it is written
to docs/img/explorer-syscalls.png only with ``EXPLORER_SCREENSHOTS=1``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.explain.browser import (
    ARROW_RIGHT,
    ROOT,
    no_console_errors,
    open_page,
    press,
    screenshot,
    snap,
)

pytestmark = [pytest.mark.needs_browser, pytest.mark.ptrace, pytest.mark.slow]

LIMIT = 200      # more than ls / makes


def explain(page: Path, *options: str) -> Path:
    """``trace-run -o /dev/null --explain PAGE OPTIONS ls /``."""
    proc = subprocess.run([sys.executable, "-m", "tracer.cli", "-o", os.devnull,
                           "--explain", str(page), *options, "ls", "/"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return page


def listed(driver: Any) -> list[tuple[int, str]]:
    return [(i, text) for i, text in driver.execute_script(
        "return [...document.querySelectorAll('#runs li[data-run]')]"
        ".map(li => [Number(li.dataset.run), li.textContent])")]


@pytest.fixture(scope="module")
def command_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return explain(tmp_path_factory.mktemp("explain") / "ls.html",
                   "--explain-limit", str(LIMIT))


def test_a_real_commands_syscalls_step_into_one(browser: Any, command_page: Path,
                                                tmp_path: Path) -> None:
    open_page(browser, command_page)
    items = listed(browser)
    assert 1 < len(items) < LIMIT
    assert re.search(r"\bexecve\(", items[0][1]), items[0]
    assert [i for i, _ in items] == list(range(len(items)))
    names = " ".join(text for _, text in items)
    for call in ("openat", "getdents64", "write"):
        assert call in names, names
    run = next(i for i, text in items if re.search(r"\bopenat\(", text))
    browser.find_element("css selector", f'#runs li[data-run="{run}"]').click()
    got = snap(browser)
    assert (got["state"]["run"], got["state"]["step"]) == (run, 0)
    n = browser.execute_script("return window.explorer.steps()")
    assert n > 2
    # the dispatcher reads orig_ax, then tail-calls the syscall's program
    press(browser, "t")
    got = snap(browser)
    assert got["banner"] is not None and got["banner"].startswith("tail call → "), got
    assert "[257] = " in got["banner"] and got["banner"].endswith("1 of 33")
    k = got["state"]["step"]
    for j in range(1, min(8, n - k)):
        press(browser, ARROW_RIGHT)
        got = snap(browser)
        assert got["state"]["step"] == k + j
        assert got["regs"] == got["state"]["regs"]
        assert got["current"] == [got["state"]["pc"]]
    screenshot(browser, "explorer-syscalls.png", tmp_path, deterministic=False)
    no_console_errors(browser)


def test_a_set_of_syscalls(browser: Any, tmp_path: Path) -> None:
    page = explain(tmp_path / "set.html", "--explain-syscalls", "openat,getdents64")
    open_page(browser, page)
    items = listed(browser)
    calls = {re.search(r"\b(\w+)\(", text).group(1) for _, text in items}  # type: ignore[union-attr]
    assert calls == {"openat", "getdents64"}, items
    last = items[-1][0]
    browser.execute_script("window.explorer.run(arguments[0])", last)
    got = snap(browser)
    assert (got["state"]["run"], got["state"]["step"]) == (last, 0)
    no_console_errors(browser)
