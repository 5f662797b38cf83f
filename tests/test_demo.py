"""``bpf-vm demo``: the whole tour end to end in a subprocess, and its parts.

The end-to-end test runs ``bpf-vm demo --no-pause`` as CI would and reads each chapter's
section of the output: the heading, the tail-call banner of the stepped openat, the 33
of the limit, the verifier's message, the EPERM of the enforced profile.  A second one
adds ``--html DIR`` and reads the explorer pages it writes (chapters 1 to 5, none for
6): each self-contained, with the data blob and the runs the chapter showed.  The unit
tests
cover the printer, the runner's failure and pause rules, the listings, the chapter
programs (the 33-call chain under both counting rules, the refused program and its
fix) and the front end's helpers (steps, stores, folding, the policy listing, the sweep
summary).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpf_vm import Demo, DemoChapter, Extension, Step
from bpf_vm.cli import app
from bpf_vm.demo import TITLES, run_demo
from bpf_vm.demo.listing import c_function, c_map, kernel_listing
from bpf_vm.demo.refusal import CHECKED, MESSAGE, UNCHECKED, load
from bpf_vm.demo.tail_calls import SELF, WASTEFUL, calls_allowed, run_chain
from bpf_vm.isa import MAX_TAIL_CALL_CNT
from bpf_vm.load import verify_program
from tracer.demo_policy import blocks, sweep_summary
from tracer.demo_trace import fold, format_step, store_note, tail_banner

# --- end to end --------------------------------------------------------------------------


def _sections(text: str) -> dict[int, str]:
    """The output cut at each chapter heading: number -> that chapter's text."""
    parts = re.split(r"^Chapter (\d) · ", text, flags=re.MULTILINE)
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


@pytest.mark.slow
@pytest.mark.ptrace
@pytest.mark.needs_bpf_cc
def test_the_whole_demo_runs_end_to_end_without_pauses(tmp_path: Path) -> None:
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-c", "from bpf_vm.cli import main; main()",
                          "demo", "--no-pause"], capture_output=True, text=True,
                         timeout=600, cwd=tmp_path, stdin=subprocess.DEVNULL, check=False)
    took = time.monotonic() - started
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "✗" not in res.stdout and "failed" not in res.stdout.splitlines()[-1]
    sections = _sections(res.stdout)
    assert sorted(sections) == [1, 2, 3, 4, 5, 6]
    for n, title in TITLES.items():
        assert f"Chapter {n} · {title}" in res.stdout
    # 1: the dispatcher's C and its bytecode in the kernel's syntax
    assert "int dispatch(struct pt_regs *ctx)" in sections[1]
    assert "(85) call bpf_tail_call#12" in sections[1]
    # 2: the stepped openat of a real cat, with the tail-call banner
    assert "tail call → progs[257] = sys_openat · same stack frame · 1 of 33" in sections[2]
    assert 'openat(-100, "/etc/hostname", 0x0)' in sections[2]
    # 3: the limit, the 2015 check, the host's rules or the VM's modes
    assert "33 tail calls taken" in sections[3]
    assert "-> 33 calls" in sections[3]
    assert 'tail_call_counting="interpreter"' in sections[3]
    # 4: the verifier's message
    assert MESSAGE in sections[4]
    # 5: mkdir denied with EPERM
    assert "EPERM" in sections[5] and "(DENIED)" in sections[5]
    # 6: the sweep's table and its profile
    assert "minimal profile:" in sections[6]
    print(f"bpf-vm demo --no-pause: {took:.1f} s")


PAGES = {1: ("chapter1-dispatcher.html", 2), 2: ("chapter2-openat.html", 1),
         3: ("chapter3-chain.html", 1), 4: ("chapter4-refusal.html", 2),
         5: ("chapter5-policy.html", 1)}
"""The page each chapter writes with --html, and its number of runs (6 writes none)."""


def page_data(path: Path) -> dict:
    """The explorer's data blob of a page, after checking that the page needs nothing
    from outside (no script, stylesheet or image fetched)."""
    html = path.read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=|<link[^>]*href=", html, re.I)
    m = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>',
                  html, re.S)
    assert m is not None, path
    data: dict = json.loads(m.group(1))
    return data


@pytest.mark.slow
@pytest.mark.ptrace
@pytest.mark.needs_bpf_cc
def test_html_writes_each_chapters_page_from_the_runs_it_shows(tmp_path: Path) -> None:
    pages = tmp_path / "pages" / "demo"     # made by the demo
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-c", "from bpf_vm.cli import main; main()",
                          "demo", "--no-pause", "--html", str(pages)], capture_output=True,
                         text=True, timeout=600, cwd=tmp_path, stdin=subprocess.DEVNULL,
                         check=False)
    took = time.monotonic() - started
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    sections = _sections(res.stdout)
    assert sorted(p.name for p in pages.iterdir()) == sorted(n for n, _ in PAGES.values())
    for chapter, (name, runs) in PAGES.items():
        assert f"  explorer page: {pages / name} (" in sections[chapter]
        data = page_data(pages / name)
        assert data["format"] == "trace-run-explorer/1"
        assert len(data["runs"]) == runs, (name, [r.get("label") for r in data["runs"]])
        assert all(r["steps"] for r in data["runs"])
    assert "no explorer page for this chapter" in sections[6]
    assert f"5 explorer pages written to {pages}" in res.stdout
    # what each page holds: the runs the chapter printed
    one = page_data(pages / PAGES[1][0])
    assert [r["tail_calls"] for r in one["runs"]] == [1, 0]        # openat, then getpid
    two = page_data(pages / PAGES[2][0])["runs"][0]
    assert two["call"].startswith('openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = ')
    assert two["tail_calls"] == 1 and f"{len(two['steps'])} instructions" in sections[2]
    three = page_data(pages / PAGES[3][0])["runs"][0]
    assert three["tail_calls"] == 33 and int(three["r0"], 16) == 34
    four = page_data(pages / PAGES[4][0])
    refused, fixed = four["programs"]
    assert not refused["verifier"]["accepted"] and MESSAGE in refused["verifier"]["error"]
    assert refused["verifier"]["log"] and fixed["verifier"]["accepted"]
    assert "NULL pointer" in four["runs"][0]["error"] and four["runs"][1]["r0"] == "0"
    five = page_data(pages / PAGES[5][0])
    assert [p["name"] for p in five["programs"]][:2] == ["dispatch", "x86_64_mkdir"]
    run = five["runs"][0]
    assert run["outcome"] == "deny" and "EPERM" in run["call"] and run["tail_calls"] == 1
    assert f"--explain {pages / PAGES[5][0]}" in sections[5]
    print(f"bpf-vm demo --no-pause --html: {took:.1f} s")


def test_html_pages_of_the_vms_own_chapters(tmp_path: Path) -> None:
    out = io.StringIO()
    pages = tmp_path / "a" / "b"
    assert run_demo(Extension(), pause=False, html=pages, only=[3, 4], out=out) == 0
    text = out.getvalue()
    for n in (3, 4):
        name, runs = PAGES[n]
        assert f"  explorer page: {pages / name} (" in text
        assert len(page_data(pages / name)["runs"]) == runs
    assert f"2 explorer pages written to {pages}" in text


def test_a_page_that_cannot_be_written_is_one_line_and_the_tour_goes_on(
        tmp_path: Path) -> None:
    out = io.StringIO()
    blocked = tmp_path / "file"
    blocked.write_text("not a directory\n")
    assert run_demo(Extension(), pause=False, html=blocked / "pages", only=[3, 4],
                    out=out) == 1
    text = out.getvalue()
    fails = [line for line in text.splitlines() if line.startswith("✗")]
    assert [f.split(":")[0] for f in fails] == ["✗ chapter 3", "✗ chapter 4"]
    assert all("writing its page" in f and "Not a directory" in f for f in fails)
    assert "count_calls_fixed on the same context: r0 = 0" in text    # chapter 4 went on
    assert "0 explorer pages written" in text and "2 step(s) failed" in text


def test_without_html_no_page_is_written(tmp_path: Path) -> None:
    out = io.StringIO()
    assert run_demo(Extension(), pause=False, only=[3], out=out, html=None) == 0
    assert "explorer page" not in out.getvalue()


# --- the runner ---------------------------------------------------------------------------

def _boom(demo: Demo) -> None:
    demo.line("before the failure")
    raise OSError(5, "Input/output error")


def _partial(demo: Demo) -> None:
    with demo.step("the first step"):
        raise ValueError("nope")
    demo.line("the chapter went on")


def test_a_failed_chapter_is_one_line_and_the_tour_goes_on() -> None:
    out = io.StringIO()
    ext = Extension(demo_chapters=(DemoChapter(2, "Breaks", _boom),
                                   DemoChapter(5, "Half", _partial),
                                   DemoChapter(6, "Fine", lambda demo: demo.line("six ran"))))
    assert run_demo(ext, pause=False, only=[2, 5, 6], out=out) == 1
    text = out.getvalue()
    assert "✗ chapter 2: its real step failed: Input/output error" in text
    assert "✗ chapter 5: the first step failed: ValueError: nope" in text
    assert "the chapter went on" in text and "six ran" in text
    assert "2 step(s) failed" in text


def test_missing_front_end_chapters_are_said_and_unknown_ones_refused() -> None:
    out = io.StringIO()
    assert run_demo(Extension(), pause=False, only=[2, 3], out=out) == 0
    text = out.getvalue()
    assert "(chapter 2, One syscall of a real command" in text
    assert "Chapter 3 · The 33-call limit" in text
    with pytest.raises(ValueError, match="no chapter 9"):
        run_demo(Extension(), pause=False, only=[9], out=io.StringIO())
    res = CliRunner().invoke(app, ["demo", "--chapter", "9"])
    assert res.exit_code == 1 and "no chapter 9" in res.output


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_pauses_wait_for_enter_on_a_terminal_only() -> None:
    chapters = tuple(DemoChapter(n, f"c{n}", lambda demo: None) for n in (2, 5, 6))
    out = io.StringIO()
    stdin = _Tty("\n")   # one Enter, then end of input: no more pauses
    assert run_demo(Extension(demo_chapters=chapters), pause=True, only=[2, 5, 6], out=out,
                    stdin=stdin) == 0
    assert out.getvalue().count("[Enter: chapter") == 2
    out = io.StringIO()
    run_demo(Extension(demo_chapters=chapters), pause=True, only=[2, 5, 6], out=out,
             stdin=io.StringIO("\n\n"))   # not a terminal: never waits
    assert "[Enter" not in out.getvalue()


def test_the_printer_wraps_prose_and_colours_only_when_asked() -> None:
    out = io.StringIO()
    demo = Demo(out, width=60)
    demo.say("word " * 40)
    assert all(len(line) <= 60 for line in out.getvalue().splitlines())
    assert "\033[" not in out.getvalue()
    coloured = io.StringIO()
    Demo(coloured, color=True).banner("tail call")
    assert "\033[" in coloured.getvalue() and "┃ tail call ┃" in coloured.getvalue()


def test_the_extensions_lend_the_probe_and_the_front_end_chapters() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="bpf_vm.extensions")}
    assert names.get("trace-run-demo") == "tracer.demo:bpf_vm_extension"
    from bpf_vm.extension import installed
    ext = installed()
    assert [c.number for c in ext.demo_chapters] == [2, 5, 6]
    assert [p.name for p in ext.probe_sources] == ["syscalls.bpf.c", "dispatch.s"]


# --- listings -------------------------------------------------------------------------------

C_TEXT = """\
struct {
\t__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
} progs SEC(".maps");

static int helper(int x);

SEC("kprobe/x")
int dispatch(struct pt_regs *ctx)
{
\tif (ctx) {
\t\treturn 1;
\t}
\treturn 0;
}
"""


def test_c_pieces_are_cut_out_by_name() -> None:
    fn = c_function(C_TEXT, "dispatch")
    assert fn is not None
    assert fn.startswith('SEC("kprobe/x")\nint dispatch(') and fn.endswith("\treturn 0;\n}\n")
    assert c_function(C_TEXT, "helper") is None       # a declaration, not a definition
    assert c_function(C_TEXT, "missing") is None
    m = c_map(C_TEXT, "progs")
    assert m is not None and m.startswith("struct {") and m.endswith('} progs SEC(".maps");\n')
    assert c_map(C_TEXT, "events") is None


def test_kernel_listing_names_maps_and_marks_pcs() -> None:
    obj = load(UNCHECKED)
    text = kernel_listing(obj.program(), marks={7: "here"})
    assert "   0: (79) r1 = *(u64 *)(r1 +120)" in text
    assert re.search(r"   4: \(18\) r1 = 0x0 +; map counts", text)
    assert re.search(r"   7: \(79\) r1 = \*\(u64 \*\)\(r0 \+0\) +; here", text)
    assert "   5:" not in text   # the second half of ld_imm64


# --- the chapters' programs -----------------------------------------------------------------

def test_both_limit_checks_allow_33_calls() -> None:
    assert calls_allowed(32, lambda count, limit: count > limit) == 33
    assert calls_allowed(MAX_TAIL_CALL_CNT, lambda count, limit: count >= limit) == 33


@pytest.mark.parametrize(("source", "counting", "runs"), [
    (SELF, "jit", 34), (SELF, "interpreter", 34),
    (WASTEFUL, "jit", 34), (WASTEFUL, "interpreter", 17)])
def test_self_tail_calls_stop_at_the_limit(source: str, counting: str, runs: int) -> None:
    chain, _ = run_chain(source, counting)
    assert chain.runs == runs and chain.r0 == runs and chain.taken == runs - 1


def test_the_refused_program_and_its_fix() -> None:
    bad = load(UNCHECKED)
    verdict = verify_program(bad.program(), vm=bad.vm)
    assert not verdict.accepted and verdict.error == f"R0 {MESSAGE}" and verdict.pc == 7
    good = load(CHECKED)
    assert verify_program(good.program(), vm=good.vm).accepted


# --- the front end's helpers -----------------------------------------------------------------

def _step(text: str, before: list[int], after: list[int] | None = None, event: str = "",
          program: str = "p", pc: int = 0) -> Step:
    return Step(program, pc, text, before, after if after is not None else list(before), 0,
                event)


def test_stores_show_what_they_wrote() -> None:
    regs = [0] * 11
    regs[3] = 0x1_0000_0101
    assert store_note(_step("*(u32 *)(r10 - 0x4) = r3", regs)) == "[r10 - 0x4] <- 0x101"
    assert store_note(_step("*(u8 *)(r1 + 0x2) = -0x1", regs)) == "[r1 + 0x2] <- 0xff"
    assert store_note(_step("r3 = *(u64 *)(r1 + 0x78)", regs)) == ""


def test_a_step_line_names_maps_and_changed_registers() -> None:
    before, after = [0] * 11, [0] * 11
    after[2] = 0xF00000000300
    line = format_step(_step("r2 = map[idx:0] ll", before, after, program="dispatch", pc=4),
                       {"dispatch": ["progs"]})
    assert line == "    dispatch:  4  r2 = map[progs] ll" + " " * 21 + "r2 0x0 -> 0xf00000000300"


def test_the_banner_gives_index_target_and_count() -> None:
    regs = [0] * 11
    regs[3] = 257
    step = _step("call bpf_tail_call", regs, event="tail_call")
    assert tail_banner(step, "sys_openat", 1) == \
        "tail call → progs[257] = sys_openat · same stack frame · 1 of 33"


def test_runs_of_alike_stores_are_folded() -> None:
    zero = [0] * 11
    stores = [_step(f"*(u64 *)(r6 + {off:#x}) = r8", zero, pc=i)
              for i, off in enumerate(range(0xB8, 0x30, -8))]
    other = _step("r7 = r6", zero, [0] * 7 + [1] + [0] * 3)
    shown = fold([other, *stores, other])
    assert shown[0] is other and shown[-1] is other
    assert shown[1:3] == stores[:2] and shown[4:6] == stores[-2:]
    assert shown[3] == len(stores) - 4
    assert fold(stores[:5]) == stores[:5]


LISTING = """\
dispatch: entry program of the x86_64 ABI, 7 insns
       0:\tr6 = r1

x86_64_mkdir: progs_x86_64[83] = x86_64 mkdir (nr 83), 6 insns
       0:\tr6 = r1

dispatch_i386: entry program of the i386 ABI (not allowed: kills), 5 insns
       0:\tr6 = r1
"""


def test_policy_listing_blocks_are_picked_by_program() -> None:
    picked = blocks(LISTING, ["dispatch", "x86_64_mkdir"])
    assert picked.startswith("dispatch: entry program of the x86_64 ABI")
    assert "x86_64_mkdir: progs_x86_64[83]" in picked and "dispatch_i386" not in picked


def test_sweep_summary_groups_the_rows() -> None:
    rows = [{"syscall": "mmap", "needed": True, "end": "killed by SIGSEGV", "fallbacks": []},
            {"syscall": "read", "needed": True, "end": "exit 127", "fallbacks": ["writev"]},
            {"syscall": "close", "needed": True, "end": "exit 127", "fallbacks": []},
            {"syscall": "brk", "needed": False, "end": "exit 0", "fallbacks": []}]
    assert sweep_summary(rows) == [
        "denied, exit 127: read close",
        "denied, killed by SIGSEGV: mmap",
        "denied, nothing changed: brk",
        "denied, it called something new: read -> writev"]
