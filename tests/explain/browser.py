"""Headless Chromium for the explorer page's tests and benchmark, from the distribution.

The browser and its driver are Debian's ``chromium`` and ``chromium-driver``
(/usr/bin/chromium, /usr/bin/chromedriver; ``$CHROMIUM`` and ``$CHROMEDRIVER`` name
others), driven by selenium.  Nothing is downloaded: the driver's path is given to
selenium's ``Service`` and the browser's to ``options.binary_location``, so
selenium-manager never runs (``SE_OFFLINE`` is set all the same), and the browser is
started with its background networking, component updates and sync off.

The window is of a fixed size at a device scale factor of 1, so screenshots are the same
from one run to the next; the browser's console is kept (``goog:loggingPrefs``) for
:func:`console_errors`."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

WINDOW = (1400, 900)


def chromium_path() -> str:
    return os.environ.get("CHROMIUM") or "/usr/bin/chromium"


def chromedriver_path() -> str:
    return os.environ.get("CHROMEDRIVER") or "/usr/bin/chromedriver"


def browser_unavailable_reason() -> str | None:
    """Why headless Chromium cannot be driven here (None: it can)."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    missing = [p for p in (chromium_path(), chromedriver_path())
               if not (Path(p).is_file() and os.access(p, os.X_OK))]
    if missing:
        return (f"{' and '.join(missing)} not installed (apt-get install chromium "
                f"chromium-driver)")
    try:
        proc = subprocess.run([chromedriver_path(), "--version"], capture_output=True,
                              text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{chromedriver_path()} does not run: {exc}"
    if proc.returncode != 0:
        return f"{chromedriver_path()} --version failed: {proc.stderr.strip()}"
    return None


def start_browser(window: tuple[int, int] = WINDOW) -> WebDriver:
    """A headless Chromium driven by the installed chromedriver."""
    os.environ.setdefault("SE_OFFLINE", "true")      # selenium-manager: never fetch
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium_path()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", f"--window-size={window[0]},{window[1]}",
                "--force-device-scale-factor=1", "--hide-scrollbars",
                "--font-render-hinting=none", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-default-apps",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver_path(), log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_window_size(*window)
    driver.set_page_load_timeout(60)
    return driver


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    """The console's SEVERE entries since the last call (uncaught exceptions,
    console.error, failed loads)."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
