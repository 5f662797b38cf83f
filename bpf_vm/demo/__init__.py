"""``bpf-vm demo``: a guided tour of BPF tail calls, about ten minutes when read.

Six chapters, each running real code (nothing is canned output):

1. the tracex5 dispatcher in C and in bytecode (:mod:`.dispatcher`);
2. one syscall of a real command stepped through, the tail call highlighted;
3. the 33-call limit, the 2015 story, the JIT and the interpreter (:mod:`.tail_calls`);
4. a program the verifier refuses, and why (:mod:`.refusal`);
5. a seccomp profile compiled into per-syscall programs and enforced;
6. a sweep.

Chapters 1, 3 and 4 need only the VM (chapter 1 the front end's probe sources, lent by
:class:`bpf_vm.extension.Extension`).  Chapters 2, 5 and 6 trace real processes: the
front end lends them through the same extension (trace-run's ``tracer.demo``); without
one, ``bpf-vm demo`` says they are not installed and shows the rest.

With ``--html DIR`` each chapter that runs BPF code also writes the explorer page
(:class:`bpf_vm.Explorer`) of the very runs it shows, ``DIR/chapterN-SLUG.html``
(:meth:`.show.Demo.page`), and prints its path:

1. ``chapter1-dispatcher.html``: the dispatcher on openat and on getpid (2 runs);
2. ``chapter2-openat.html``: the recorded openat of the real command (1 run);
3. ``chapter3-chain.html``: the self-tail-calling chain, 33 tail calls (1 run);
4. ``chapter4-refusal.html``: the refused program with the verifier's log, run anyway,
   and its fixed version (2 runs);
5. ``chapter5-policy.html``: the policy's programs on the denied mkdir, recorded by the
   ``trace-run --policy ... --explain`` run the chapter shows (1 run);
6. none (the sweep's runs are child processes'; the chapter says so).

A chapter whose real step fails, or whose page cannot be written, is reported in one
line and the tour goes on; the exit status is then 1.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .show import Demo, DemoChapter

if TYPE_CHECKING:
    from ..extension import Extension

TITLES = {
    1: "The tracex5 dispatcher, in C and in bytecode",
    2: "One syscall of a real command, step by step",
    3: "The 33-call limit",
    4: "A program the verifier refuses",
    5: "A seccomp profile as per-syscall programs",
    6: "A sweep: which syscalls does a command need?",
}
"""The tour's chapters; a front end lends 2, 5 and 6 under these numbers."""

INTRO = """
This is a guided tour of tail calls in eBPF, run on trace-run's Python eBPF VM and, where
the kernel allows bpf(2), on this machine's kernel too.  Every listing below is produced
now, by the code it describes: nothing is a recording.

In 2015 the kernel gained bpf_tail_call(ctx, &prog_array, index): a BPF program may
replace itself with another one, keeping its context and its stack frame.  The first
example shipped with it, samples/bpf/tracex5, used it to dispatch by syscall number:
one small program per syscall, reached through a table.  trace-run is built around that
pattern, and so is this tour.
"""

def own_chapters(ext: Extension) -> list[DemoChapter]:
    """The chapters the VM shows by itself."""
    from .dispatcher import chapter as dispatcher
    from .refusal import chapter as refusal
    from .tail_calls import chapter as tail_calls
    out = [DemoChapter(3, TITLES[3], tail_calls), DemoChapter(4, TITLES[4], refusal)]
    if ext.probe_sources:
        sources = ext.probe_sources
        out.append(DemoChapter(1, TITLES[1], lambda demo: dispatcher(demo, sources, ext)))
    return out


def chapters(ext: Extension) -> list[DemoChapter]:
    """Every chapter, in order: the VM's and the extension's (the first of a number
    wins)."""
    by_number: dict[int, DemoChapter] = {}
    for ch in [*own_chapters(ext), *ext.demo_chapters]:
        by_number.setdefault(ch.number, ch)
    return [by_number[n] for n in sorted(by_number)]


def _wait(demo: Demo, nxt: DemoChapter, stdin: TextIO) -> bool:
    """Wait for Enter before the next chapter; False once stdin is closed."""
    demo.line()
    try:
        demo.out.write(demo.dim(f"[Enter: chapter {nxt.number}, {nxt.title}] "))
        demo.out.flush()
        return bool(stdin.readline())
    except (OSError, ValueError):
        return False


def run_demo(ext: Extension, *, pause: bool = True, html: Path | None = None,
             only: Sequence[int] = (), out: TextIO | None = None,
             stdin: TextIO | None = None) -> int:
    """Run the tour (``only``: those chapter numbers); returns the exit status: 0, or
    1 when a chapter's real step failed.  ``pause`` waits for Enter between chapters
    when stdin is a terminal.  ``html``: the directory for the chapters' explorer
    pages (made when missing)."""
    out = out if out is not None else sys.stdout
    if (getattr(out, "encoding", None) or "utf-8").lower().replace("-", "") != "utf8":
        reconfigure = getattr(out, "reconfigure", None)
        if reconfigure is not None:   # box drawing and arrows on an ASCII terminal
            reconfigure(errors="replace")
    stdin = stdin if stdin is not None else sys.stdin
    demo = Demo(out, html=html)
    if pause:
        try:
            pause = stdin.isatty()
        except (AttributeError, ValueError):
            pause = False
    todo = chapters(ext)
    missing = [n for n in TITLES if n not in {c.number for c in todo}]
    if only:
        unknown = sorted(set(only) - set(TITLES))
        if unknown:
            raise ValueError(f"--chapter: no chapter {unknown[0]} (chapters: 1 to "
                             f"{max(TITLES)})")
        todo = [c for c in todo if c.number in only]
        missing = [n for n in missing if n in only]
    demo.line(demo.strong("bpf-vm demo: tail calls, from a syscall to a policy"))
    if not only:
        demo.say(INTRO)
    for n in missing:
        demo.line()
        demo.line(f"(chapter {n}, {TITLES[n]}: needs a front end that traces processes; "
                  "none is installed, so it is left out)")
    started = time.monotonic()
    for i, ch in enumerate(todo):
        if i and pause and not _wait(demo, ch, stdin):
            pause = False
        demo.heading(ch.number, ch.title)
        try:
            ch.run(demo)
        except Exception as exc:
            demo.fail("its real step", exc)
    took = time.monotonic() - started
    demo.line()
    demo.line(demo.strong("─" * 20))
    if html is not None:
        n = len(demo.pages)
        demo.line(f"{n} explorer page{'' if n == 1 else 's'} written to {html}"
                  f"{': open them in a browser' if n else ''}.")
    if demo.failures:
        demo.line(f"The tour ran {len(todo)} chapter(s) in {took:.1f} s; "
                  f"{len(demo.failures)} step(s) failed:")
        for f in demo.failures:
            demo.line(f"  {f}")
        return 1
    demo.line(f"The tour ran {len(todo)} chapter(s) in {took:.1f} s, every step for "
              "real.  The end.")
    return 0


__all__ = ["TITLES", "Demo", "DemoChapter", "chapters", "run_demo"]
