"""Benchmark: the explorer page of a real command against issue 14's targets.

    python3 scripts/bench_explain.py [--limit 200] [--loads 5] [--steps 100] [-- CMD...]

Makes the page as the README's Teaching section does, ``trace-run --explain P.html
--explain-limit 200 ls /usr`` with the bundled probe, then measures it in headless
Chromium (the distribution's, through selenium: tests/explain/browser.py):

* **page size**, in bytes (target: at most 10 MB);
* **time to interactive**, from navigation start (``performance.timeOrigin``) to the
  task after the first frame at which the load event has fired and
  ``window.explorer.ready`` is true: a script injected before the page's own
  (``Page.addScriptToEvaluateOnNewDocument``) looks at each frame.  Each load starts
  from about:blank; median of ``--loads`` loads (target: under 2 s);
* **stepping**, in the page: ``performance.now()`` around ``explorer.step(1)`` with the
  style and layout it causes forced (``document.body.getBoundingClientRect()``), over
  ``--steps`` steps (the recorded runs from the longest down, each from its first
  step), median; and the time from the call to the task after the next frame (a
  ``requestAnimationFrame`` then a task), which includes waiting for that frame
  (target: under 50 ms).

It prints the figures and whether each meets its target; they are quoted in the
README's Teaching section.  Not a test: nothing here fails a build."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # run from a checkout

from tests.explain.browser import browser_unavailable_reason, start_browser  # noqa: E402

SIZE_TARGET = 10 * 1000 * 1000
TTI_TARGET_MS = 2000.0
STEP_TARGET_MS = 50.0

# Runs before the page's scripts: each frame, looks whether the page has loaded and set
# up window.explorer (its ``ready``), and notes the time after the first frame that has.
READY_PROBE = """
(() => {
  let loaded = false;
  window.addEventListener('load', () => { loaded = true; });
  const tick = () => {
    if (loaded && window.explorer && window.explorer.ready) {
      setTimeout(() => { window.__benchReady = performance.now(); }, 0);
      return;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""

# `n` timed steps: the runs from the longest down, each from its first step (choosing a
# run is not timed).  Each step: explorer.step(1) with the style and layout it causes
# forced, then the time to the task after the next frame.
STEP_PROBE = """
const n = arguments[0], finish = arguments[arguments.length - 1];
const ex = window.explorer;
const count = document.querySelectorAll('#runs li[data-run]').length || 1;
const order = [];
for (let i = 0; i < count; i++) { ex.run(i); order.push([ex.steps(), i]); }
order.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
const sync = [], frame = [], used = [];
let r = -1, left = 0;
const next = () => {
  if (sync.length >= n || (left <= 0 && r + 1 >= order.length)) {
    finish({runs: used, sync, frame, count,
            total: order.reduce((t, o) => t + o[0], 0)});
    return;
  }
  if (left <= 0) {
    r++;
    ex.run(order[r][1]);
    ex.go(0);
    left = order[r][0] - 1;
    used.push(order[r]);
    requestAnimationFrame(() => setTimeout(next, 0));
    return;
  }
  left--;
  const t0 = performance.now();
  ex.step(1);
  document.body.getBoundingClientRect();
  sync.push(performance.now() - t0);
  requestAnimationFrame(() => setTimeout(() => {
    frame.push(performance.now() - t0);
    next();
  }, 0));
};
next();
"""


def make_page(page: Path, limit: int, cmd: list[str]) -> float:
    """``trace-run --explain``: the seconds it took."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tracer.cli", "-o", os.devnull,
                           "--explain", str(page), "--explain-limit", str(limit), *cmd],
                          cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0 or not page.exists():
        sys.exit(f"trace-run --explain failed ({proc.returncode}):\n{proc.stderr}")
    return time.perf_counter() - t0


def time_to_interactive(driver, page: Path, loads: int) -> list[float]:
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": READY_PROBE})
    out = []
    for _ in range(loads):
        driver.get("about:blank")
        driver.get(page.as_uri())
        deadline = time.monotonic() + 60
        ready = None
        while ready is None and time.monotonic() < deadline:
            ready = driver.execute_script("return window.__benchReady ?? null")
            if ready is None:
                time.sleep(0.01)
        if ready is None:
            sys.exit("the page never set window.explorer")
        out.append(float(ready))
    return out


def stepping(driver, steps: int) -> dict:
    driver.set_script_timeout(120)
    return driver.execute_async_script(STEP_PROBE, steps)


def verdict(ok: bool) -> str:
    return "meets the target" if ok else "MISSES the target"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=200, help="--explain-limit (200)")
    ap.add_argument("--loads", type=int, default=5, help="page loads timed (5)")
    ap.add_argument("--steps", type=int, default=100, help="steps timed (100)")
    ap.add_argument("--keep", type=Path, help="also copy the page here")
    ap.add_argument("cmd", nargs="*", default=["ls", "/usr"], help="the command (ls /usr)")
    args = ap.parse_args()
    reason = browser_unavailable_reason()
    if reason is not None:
        sys.exit(f"no browser: {reason}")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "explain.html"
        made = make_page(page, args.limit, args.cmd)
        size = page.stat().st_size
        if args.keep:
            args.keep.write_bytes(page.read_bytes())
        driver = start_browser()
        try:
            tti = time_to_interactive(driver, page, args.loads)
            errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
            st = stepping(driver, args.steps)
        finally:
            driver.quit()
    tti_ms = statistics.median(tti)
    sync_ms = statistics.median(st["sync"]) if st["sync"] else float("nan")
    frame_ms = statistics.median(st["frame"]) if st["frame"] else float("nan")
    print(f"command: trace-run --explain P.html --explain-limit {args.limit} "
          f"{' '.join(args.cmd)}  ({made:.1f} s to record and write)")
    print(f"page size:           {size / 1e6:8.2f} MB   {st['count']} syscalls recorded, "
          f"{st['total']} steps (target <= 10 MB: {verdict(size <= SIZE_TARGET)})")
    print(f"time to interactive: {tti_ms:8.0f} ms   median of {len(tti)} loads "
          f"({', '.join(f'{t:.0f}' for t in tti)}) (target < 2 s: "
          f"{verdict(tti_ms < TTI_TARGET_MS)})")
    runs = ", ".join(f"{i} ({n})" for n, i in st["runs"])
    print(f"step (sync):         {sync_ms:8.2f} ms   median of {len(st['sync'])} steps "
          f"(max {max(st['sync'] or [0]):.2f}) through runs {runs} (target < 50 ms: "
          f"{verdict(sync_ms < STEP_TARGET_MS)})")
    print(f"step (to the frame): {frame_ms:8.2f} ms   median, including the wait for the "
          f"next frame (target < 50 ms: {verdict(frame_ms < STEP_TARGET_MS)})")
    if errors:
        print(f"console errors: {len(errors)}: {errors[0].get('message')}")


if __name__ == "__main__":
    main()
