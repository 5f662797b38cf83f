"""Headless Chromium for the explorer page's tests and benchmark, from the distribution.

The browser and its driver are Debian's ``chromium`` and ``chromium-driver``
(/usr/bin/chromium, /usr/bin/chromedriver; ``$CHROMIUM`` and ``$CHROMEDRIVER`` name
others), driven by selenium.  Nothing is downloaded: the driver's path is given to
selenium's ``Service`` and the browser's to ``options.binary_location``, so
selenium-manager never runs (``SE_OFFLINE`` is set all the same), and the browser is
started with its background networking, component updates and sync off.

The viewport is of a fixed size (``WINDOW``) at a device scale factor of 1, so
screenshots are the same from one run to the next; the browser's console is kept
(``goog:loggingPrefs``) for :func:`console_errors`.

Below: driving the explorer page by its DOM contract (documented in
bpf_vm/explain/page.py): open it, press keys, read what one step shows in one round
trip (``SNAPSHOT``), and save the README's screenshots (docs/img)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

ROOT = Path(__file__).resolve().parents[2]
IMG = ROOT / "docs" / "img"      # the README's screenshots
ARROW_RIGHT, ARROW_LEFT = "\ue014", "\ue012"     # WebDriver's key codes
WINDOW = (1400, 1200)     # the page's viewport, in CSS pixels


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
    # the viewport itself, whatever the window's decorations take: screenshots are
    # exactly this size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False})
    driver.set_page_load_timeout(60)
    return driver


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    """The console's SEVERE entries since the last call (uncaught exceptions,
    console.error, failed loads)."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


# --- the explorer page (its DOM contract: bpf_vm/explain/page.py) ----------------------

# Everything the tests read of the page at one step, in one round trip.
SNAPSHOT = """
const q = (s) => document.querySelector(s), qa = (s) => [...document.querySelectorAll(s)];
const regs = {}, written = [], read = [], prev = {};
for (const tr of qa('#regs tr[data-reg]')) {
  const reg = tr.dataset.reg, td = tr.querySelector('td.value');
  regs[reg] = td ? td.dataset.u64 : null;
  if (tr.classList.contains('written')) {
    written.push(reg);
    const p = tr.querySelector('td.prev');
    prev[reg] = p ? p.textContent.trim() : '';
  }
  if (tr.classList.contains('read')) read.push(reg);
}
const banner = q('.tailcall-banner'), failed = q('.tailcall-failed');
return {
  state: window.explorer.state(),
  regs, written, read, prev,
  current: qa('#insns .insn.current').map(r => Number(r.dataset.pc)),
  executed: qa('#insns .insn.executed').map(r => Number(r.dataset.pc)),
  banner: banner && !banner.hidden ? banner.textContent.trim() : null,
  failed: failed && !failed.hidden ? failed.textContent.trim() : null,
  tailcalls: q('#tailcall-count').textContent.trim(),
  blocks: qa('svg.cfg g.block[data-start]').map(g => Number(g.dataset.start)),
  currentBlocks: qa('svg.cfg g.block.current').map(g => Number(g.dataset.start)),
  executedBlocks: qa('svg.cfg g.block.executed').map(g => Number(g.dataset.start)),
  executedEdges: qa('svg.cfg path.edge.executed').length,
  defs: qa('#insns .insn.def').map(r => Number(r.dataset.pc)),
  deps: qa('#insns .insn.dep').map(r => Number(r.dataset.pc)),
};
"""


def open_page(driver: Any, page: Path) -> None:
    """Load the page and wait until ``window.explorer.ready``."""
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(page.as_uri())
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return !!(window.explorer && window.explorer.ready)"))


def press(driver: Any, key: str) -> None:
    """A key press on whatever has the focus (the page's keydown handler is the
    document's)."""
    from selenium.webdriver.common.action_chains import ActionChains
    ActionChains(driver).send_keys(key).perform()


def snap(driver: Any) -> dict[str, Any]:
    """What the page shows at the current step (``SNAPSHOT``)."""
    return driver.execute_script(SNAPSHOT)


def no_console_errors(driver: Any) -> None:
    errors = console_errors(driver)
    assert errors == [], errors


def screenshot(driver: Any, name: str, tmp: Path, *, deterministic: bool = True,
               element: Any = None) -> Path:
    """Save the viewport (or one element) as docs/img/NAME, rewritten only when its
    bytes change.  A picture that differs from run to run (pids, addresses) goes to
    ``tmp`` instead, unless ``EXPLORER_SCREENSHOTS=1`` asks for the README's copy."""
    png = element.screenshot_as_png if element is not None \
        else driver.get_screenshot_as_png()
    assert png.startswith(b"\x89PNG")
    out = IMG / name if deterministic or os.environ.get("EXPLORER_SCREENSHOTS") == "1" \
        else tmp / name
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists() or out.read_bytes() != png:
        out.write_bytes(png)
    return out
