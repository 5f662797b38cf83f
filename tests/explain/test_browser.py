"""The explorer page in headless Chromium, against the VM's own step trace.

The page is made as a user makes it: ``bpf-vm explain tests/explain/tailcalls.s`` (a
dispatcher that tail-calls progs[257] = sys_openat, which calls a BPF-to-BPF
subprogram, looks up and writes a map, and tail-calls progs[511] = epilogue), and the
same object is run in Python with the VM's step hook
(``bpf_vm.objrun.run_object(..., trace=...)``, what ``bpf-vm run --trace`` prints).
Stepping with ArrowRight, each step's register pane is compared with that trace, as
are the current instruction, the CFG's current block, the tail-call banners and
count, and a use-def highlight; the console must stay free of errors and the page must
fetch nothing.  (``trace-run --explain`` of a real command: test_browser_trace.py.)

Screenshots for the README go to docs/img/explorer-*.png, at a fixed window size
(tests/explain/browser.py): those of the ``bpf-vm explain`` page are the same from one
run to the next (a file is rewritten only when its bytes change)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bpf_vm.engine.loops import Step
from bpf_vm.objrun import run_object
from tests.explain.browser import (
    ARROW_LEFT,
    ARROW_RIGHT,
    no_console_errors,
    open_page,
    press,
    screenshot,
    snap,
)

pytestmark = [pytest.mark.needs_browser, pytest.mark.slow]   # a browser: seconds

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROBE = HERE / "tailcalls.s"
REGS = {"orig_ax": 257, "si": 0x43}        # openat, flags with 3 bits set
M64 = (1 << 64) - 1


# --- making the pages ------------------------------------------------------------------

def bpf_vm(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from bpf_vm.cli import main; main()",
                           *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture(scope="module")
def probe_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    page = tmp_path_factory.mktemp("explain") / "tailcalls.html"
    regs = ",".join(f"{k}={v:#x}" for k, v in REGS.items())
    proc = bpf_vm("explain", str(PROBE.relative_to(ROOT)), "--regs", regs, "-o", str(page))
    assert proc.returncode == 0, proc.stderr
    assert page.stat().st_size > 0
    return page


@pytest.fixture(scope="module")
def vm_steps() -> list[Step]:
    """The VM's own trace of the same run, as ``bpf-vm run --trace`` prints it."""
    steps: list[Step] = []
    res = run_object(PROBE, regs=REGS, trace=steps.append)
    assert (res.program, res.tail_calls) == ("dispatch", 2)
    return steps


def regs_of(step: Step) -> dict[str, str]:
    return {f"r{i}": str(v & M64) for i, v in enumerate(step.after)}


def first(steps: list[Step], pred: Callable[[Step], bool], after: int = -1) -> int:
    return next(i for i, s in enumerate(steps) if i > after and pred(s))


# --- bpf-vm explain: a probe with tail calls and a subprogram ------------------------------

def test_each_step_shows_the_vms_registers(browser: Any, probe_page: Path,
                                            vm_steps: list[Step]) -> None:
    open_page(browser, probe_page)
    assert browser.execute_script("return window.explorer.steps()") == len(vm_steps)
    seen_programs: set[str] = set()
    executed: dict[str, set[int]] = {}
    for k, step in enumerate(vm_steps):
        if k:
            press(browser, ARROW_RIGHT)
        got = snap(browser)
        where = f"step {k}: {step.program} pc {step.pc} {step.text}"
        state = got["state"]
        assert (state["run"], state["step"], state["program"], state["pc"]) == \
            (0, k, step.program, step.pc), where
        want = regs_of(step)
        assert got["regs"] == want, where                  # the state pane
        assert state["regs"] == want, where                # and explorer.state()
        changed = {f"r{i}" for i, (a, b) in enumerate(zip(step.before, step.after,
                                                          strict=True)) if a != b}
        assert set(got["written"]) == changed, where
        for reg in changed:
            before = step.before[int(reg[1:])] & M64
            assert got["prev"][reg] == f"{before:#x}", where   # the value before
        # the instruction pane: the current row, and those executed so far in this program
        assert got["current"] == [step.pc], where
        executed.setdefault(step.program, set()).add(step.pc)
        assert set(got["executed"]) == executed[step.program], where
        # the CFG: the current block is the one that holds the current pc
        starts = sorted(got["blocks"])
        assert starts, where
        holder = max(s for s in starts if s <= step.pc)
        assert got["currentBlocks"] == [holder], where
        ran = {max(s for s in starts if s <= pc) for pc in executed[step.program]}
        assert set(got["executedBlocks"]) == ran, where
        seen_programs.add(step.program)
    assert seen_programs == {"dispatch", "sys_openat", "epilogue"}
    # at the end, ArrowRight stays on the last step
    press(browser, ARROW_RIGHT)
    assert snap(browser)["state"]["step"] == len(vm_steps) - 1
    no_console_errors(browser)


def test_read_and_written_registers_of_a_known_step(browser: Any, probe_page: Path,
                                                    vm_steps: list[Step]) -> None:
    open_page(browser, probe_page)
    k = first(vm_steps, lambda s: s.program == "sys_openat" and s.text == "r1 += r7")
    browser.execute_script("window.explorer.go(arguments[0])", k)
    got = snap(browser)
    assert got["state"]["pc"] == vm_steps[k].pc
    assert set(got["read"]) >= {"r1", "r7"}
    assert got["written"] == ["r1"]
    press(browser, ARROW_LEFT)
    assert snap(browser)["state"]["step"] == k - 1
    no_console_errors(browser)


def test_tail_call_banners_and_count(browser: Any, probe_page: Path,
                                     vm_steps: list[Step]) -> None:
    open_page(browser, probe_page)
    tails = [i for i, s in enumerate(vm_steps) if s.event == "tail_call"]
    assert len(tails) == 2
    start = snap(browser)
    assert (start["banner"], start["tailcalls"]) == (None, "0")
    press(browser, "t")
    got = snap(browser)
    assert got["state"]["step"] == tails[0]
    assert got["banner"] == "tail call → progs[257] = sys_openat · same stack frame · 1 of 33"
    assert got["tailcalls"] == "1"
    press(browser, ARROW_RIGHT)             # the banner belongs to the tail call's step
    got = snap(browser)
    assert got["banner"] is None and got["tailcalls"] == "1"
    assert got["state"]["program"] == "sys_openat"
    browser.find_element("css selector", "#next-tailcall").click()
    got = snap(browser)
    assert got["state"]["step"] == tails[1]
    assert got["banner"] == "tail call → progs[511] = epilogue · same stack frame · 2 of 33"
    assert got["tailcalls"] == "2" and got["failed"] is None
    press(browser, "t")                  # nothing ahead: stays
    assert snap(browser)["state"]["step"] == tails[1]
    # the other jumps: the subprogram's exit, and back
    browser.execute_script("window.explorer.go(0)")
    press(browser, "e")
    got = snap(browser)
    sub_exit = first(vm_steps, lambda s: s.event == "exit")
    assert got["state"]["step"] == sub_exit and vm_steps[sub_exit].depth == 1
    lookup = first(vm_steps, lambda s: "bpf_map_lookup_elem" in s.text)
    press(browser, "m")                  # the lookup of counts[1]
    assert snap(browser)["state"]["step"] == lookup
    press(browser, "m")                  # the load through the pointer it returned
    assert snap(browser)["state"]["step"] == first(
        vm_steps, lambda s: s.text == "r1 = *(u64 *)(r0 + 0x0)")
    # helper calls, not the BPF-to-BPF call: bpf_tail_call, then bpf_map_lookup_elem
    browser.execute_script("window.explorer.go(0)")
    press(browser, "c")
    assert snap(browser)["state"]["step"] == tails[0]
    press(browser, "c")
    assert snap(browser)["state"]["step"] == lookup
    no_console_errors(browser)


def test_cfg_marks_the_loops_back_edge(browser: Any, probe_page: Path,
                                       vm_steps: list[Step]) -> None:
    open_page(browser, probe_page)
    loop_back = [i for i, s in enumerate(vm_steps) if s.text.startswith("if r2 != 0x0")]
    browser.execute_script("window.explorer.go(arguments[0])", loop_back[0])
    before = snap(browser)["executedEdges"]
    browser.execute_script("window.explorer.go(arguments[0])", loop_back[0] + 1)
    got = snap(browser)
    assert got["executedEdges"] > before      # the back edge, now taken
    assert got["state"]["pc"] == vm_steps[loop_back[0] + 1].pc
    # clicking the subprogram's first block goes to the next step that runs it
    sub = vm_steps[first(vm_steps, lambda s: s.depth == 1)].pc
    browser.execute_script("window.explorer.go(0)")
    browser.execute_script("window.explorer.go(arguments[0])",
                           first(vm_steps, lambda s: s.program == "sys_openat"))
    browser.find_element("css selector", f'svg.cfg g.block[data-start="{sub}"]').click()
    got = snap(browser)
    assert got["state"]["pc"] == sub and got["currentBlocks"] == [sub]
    no_console_errors(browser)


def test_use_def_of_a_known_operand(browser: Any, probe_page: Path,
                                    vm_steps: list[Step], tmp_path: Path) -> None:
    open_page(browser, probe_page)
    k = first(vm_steps, lambda s: s.program == "sys_openat" and s.text == "r1 += r7")
    r7_def = vm_steps[first(vm_steps, lambda s: s.text == "r7 = r0")].pc
    r0_last = vm_steps[max(i for i, s in enumerate(vm_steps[:k])
                           if s.text == "r0 += r3")].pc
    browser.execute_script("window.explorer.go(arguments[0])", k)
    row = browser.find_element("css selector", f'#insns .insn[data-pc="{vm_steps[k].pc}"]')
    row.find_element("css selector", '.operand[data-reg="r7"]').click()
    got = snap(browser)
    assert got["defs"] == [r7_def]            # r7 = r0, after the subprogram returned
    assert r0_last in got["deps"]             # r0 came from the subprogram's r0 += r3
    screenshot(browser, "explorer-usedef.png", tmp_path)
    no_console_errors(browser)


def test_screenshots_of_the_probe(browser: Any, probe_page: Path,
                                  vm_steps: list[Step], tmp_path: Path) -> None:
    open_page(browser, probe_page)
    press(browser, "t")
    assert snap(browser)["banner"] is not None
    screenshot(browser, "explorer-tailcall.png", tmp_path)
    k = first(vm_steps, lambda s: s.depth == 1 and s.text == "r0 += r3", after=30)
    browser.execute_script("window.explorer.go(arguments[0])", k)
    assert snap(browser)["executedEdges"] > 0
    screenshot(browser, "explorer-subprogram.png", tmp_path)
    cfg = browser.find_element("css selector", "#cfg-pane")
    browser.execute_script("arguments[0].scrollIntoView()", cfg)
    screenshot(browser, "explorer-cfg.png", tmp_path, element=cfg)
    no_console_errors(browser)


def test_the_page_fetches_nothing(browser: Any, probe_page: Path) -> None:
    html = probe_page.read_text()
    assert not re.search(r"""<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*["']?"""
                         r"""(https?:)?//""", html, re.IGNORECASE)
    open_page(browser, probe_page)
    assert browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)") == []
    no_console_errors(browser)
