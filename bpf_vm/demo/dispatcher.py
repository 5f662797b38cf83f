"""Chapter 1: the tracex5 dispatcher in C and in bytecode.

The front end's probe (trace-run's ``probes/syscalls.bpf.c``) is built with the bundled
toolchain, its dispatcher's C is cut out of the source and shown beside the bytecode
clang made of it (in the kernel's syntax), the loader's filling of the prog array is
listed, and the dispatcher runs twice: on a syscall with a program, and on one without.
With ``--html`` those two runs are recorded and written as ``chapter1-dispatcher.html``.
The hand-written assembly twin (``dispatch.s``) is loaded and run the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .listing import c_function, c_map, kernel_listing

if TYPE_CHECKING:
    from ..explain import Explorer
    from ..extension import Extension
    from ..objfile import BpfObject
    from .show import Demo

OPENAT, GETPID = 257, 39          # x86_64 numbers: a syscall with a program, one without
PATH_ADDR = 0x7FFE1000            # where the fake tracee keeps openat's path
PATH = b"/etc/hostname\0"


def _load(path: Path, ext: Extension) -> tuple[BpfObject, float, Path]:
    """The object of a C or assembly source, built (cached) and loaded into a fresh VM
    whose host fakes a tracee with a path in its memory; every program verified and
    compiled as BPF_PROG_LOAD would.  Returns it, the build's seconds and the file it
    was loaded from (the object, for a C source)."""
    from ..host import ProcessHost
    from ..load import load_programs
    from ..objrun import load_any
    from ..toolchain import build
    from ..vm import Vm
    took = 0.0
    obj_path = path
    if path.suffix == ".c":
        t0 = time.monotonic()
        obj_path = build(path, include_dirs=list(ext.include_dirs))
        took = time.monotonic() - t0
    vm = Vm(host=ProcessHost({PATH_ADDR: PATH}, comm=b"demo"))
    obj = load_any(obj_path, vm, syscall_number=ext.syscall_number)
    load_programs(vm, obj.programs.values())
    return obj, took, obj_path


def _run(demo: Demo, obj: BpfObject, nr: int, args: dict[str, int] | None = None,
         page: Explorer | None = None, name: str = "") -> None:
    """Run the object's dispatcher on pt_regs with ``orig_ax = nr`` and say what it did;
    ``page``: record the run there (labelled with the syscall's ``name``)."""
    from ..errors import BpfError
    from ..objrun import run_program
    regs = {"orig_ax": nr, **(args or {})}
    entry = obj.program()
    rec = None
    if page is not None:
        shown = ", ".join(f"{k} = {v:#x}" for k, v in regs.items())
        rec = page.record(entry, {"label": f"{entry.name} on {name or nr}", "nr": nr,
                                  "abi": "x86_64", "call": f"{entry.name}: {shown}"})
    try:
        run = run_program(obj, entry.name, regs=regs, collect_maps=False,
                          trace=rec.hook if rec is not None else None)
    except BpfError as exc:
        if rec is not None:
            rec.finish(error=str(exc), effects=obj.vm.state.effects)
        raise
    if rec is not None:
        rec.finish(r0=run.r0, effects=obj.vm.state.effects)
    last = obj.vm.state.cur
    ended = last.program.name if last is not None else entry.name
    where = (f"tail-called into {demo.strong(ended)}" if run.tail_calls
             else "found no program in the slot and fell through")
    demo.line(f"  orig_ax = {nr:<4} {entry.name} {where}: {run.insns} instructions, "
              f"{run.tail_calls} tail call(s), r0 = {run.r0}")
    for line in run.printk:
        demo.line(f"      printk: {line.split('bpf_trace_printk: ')[-1]}")


def _slots(obj: BpfObject) -> list[str]:
    rows = []
    first = obj.program()
    used = {getattr(m, "name", None) for m in first.maps}
    for array, slots in sorted(obj.prog_arrays.items(), key=lambda kv: kv[0] not in used):
        if not slots:
            continue
        cells = [f"[{i}] {name}" for i, name in sorted(slots.items())]
        rows.append(f"{array} ({len(slots)} slot{'s' if len(slots) > 1 else ''} filled):")
        line = "   "
        for cell in cells:
            if len(line) + len(cell) + 2 > 88:
                rows.append(line.rstrip())
                line = "   "
            line += f" {cell},"
        rows.append(line.rstrip(","))
    return rows


def chapter(demo: Demo, sources: Sequence[Path], ext: Extension) -> None:
    c_sources = [p for p in sources if p.suffix == ".c"]
    asm_sources = [p for p in sources if p.suffix in (".s", ".asm")]
    demo.say("""
        A kprobe on the syscall entry runs one BPF program for every syscall of every
        process.  tracex5 keeps that program tiny: it reads the syscall number from the
        registers (struct pt_regs, the program's context) and tail-calls through a
        BPF_MAP_TYPE_PROG_ARRAY indexed by it.  Slot 257 holds the program for openat,
        slot 0 the one for read, and a slot left empty means "no program": bpf_tail_call
        then simply returns, and the dispatcher goes on after the call.

        trace-run's bundled probe is written that way.  It is built now with the
        bundled compiler (clang from the ziglang wheel, -target bpf -O2 -g), and loaded
        into the VM the way libbpf loads it.""")
    if not c_sources:
        demo.fail("finding the probe's C source", "the front end lends no .c probe")
        return
    src = c_sources[0]
    obj, took, built = _load(src, ext)
    entry = obj.program()
    text = src.read_text(errors="replace")
    demo.line()
    demo.line(f"{src.name}: object ready in {took:.2f} s (compiled once, then cached by "
              f"content hash): {len(obj.programs)} programs, {len(obj.maps)} maps, each "
              "program verified")
    demo.title(f"The dispatcher in C ({src.name})")
    maps = [m for m in (getattr(x, "name", None) for x in entry.maps)
            if m and c_map(text, m) is not None and f"&{m}" in (c_function(text, entry.name)
                                                              or "")]
    for m in maps[:1]:
        demo.code(c_map(text, m) or "")
    demo.code(c_function(text, entry.name) or f"(no definition of {entry.name} found)")
    demo.title(f"The same function in bytecode, in the kernel's syntax ({len(entry)} slots)")
    tail = [pc for pc, i in enumerate(entry.insns)
            if i is not None and i.opcode == 0x85 and i.src == 0 and i.imm == 12]
    demo.code(kernel_listing(entry, marks={pc: "the tail call" for pc in tail}))
    demo.say("""
        Read it against the C: r1 is the context, so r3 = *(u64 *)(r1 +120) loads
        orig_ax, the 16th register of pt_regs (15 * 8 = 120), which holds the syscall
        number.  bpf_tail_call takes its three arguments in r1 (still the context),
        r2 (the prog array) and r3 (the index).  Everything after the call is the
        fall-through: it only runs when the slot was empty (or the tail-call budget was
        spent), and here it counts the syscall in the 'unhandled' hash map.  Note that
        the key is stored on the stack *before* the call: a tail call keeps the stack
        frame, but the fall-through is the only code that reads it.""")
    demo.title("What the loader put in the prog arrays")
    demo.code("\n".join(_slots(obj)) or "(no prog array was filled)")
    demo.say("""
        Nobody wrote those numbers: each per-syscall program sits in a section named
        ksyscall/<name>, and the loader looked the name up in the x86_64 syscall table
        (the front end lends it) to find its slot, as tracex5's loader did with
        kprobe/<number> sections.""")
    demo.title("The dispatcher, run twice")
    page = None
    if demo.html is not None:
        from ..explain import Explorer
        page = Explorer.for_object(obj, source=built,
                                   title=f"bpf-vm demo, chapter 1: {src.name}, the dispatcher")
    _run(demo, obj, OPENAT, {"di": 0xFFFFFF9C, "si": PATH_ADDR}, page, "openat")
    _run(demo, obj, GETPID, page=page, name="getpid")
    unhandled = obj.maps.get("unhandled")
    if unhandled is not None:
        counts = [f"nr {int.from_bytes(k, 'little')}: {int.from_bytes(v, 'little')}"
                  for k, v in unhandled.items()]
        demo.line(f"  the fall-through counted it: unhandled = {{{', '.join(counts)}}}")
    if page is not None:
        demo.page("dispatcher", page, f"{src.name}'s {entry.name} on openat and getpid")
    for asm in asm_sources[:1]:
        with demo.step(f"loading {asm.name}"):
            twin, _, _ = _load(asm, ext)
            first = twin.program()
            demo.title(f"Written by hand: {asm.name}")
            demo.say(f"""
                The same dispatcher in assembly ({len(first)} slots against clang's
                {len(entry)}), readable without a compiler.  Its prog array has one
                program, for getpid, so this time getpid is the call that tail-calls.""")
            demo.code(kernel_listing(first))
            _run(demo, twin, GETPID)
            _run(demo, twin, OPENAT)


__all__ = ["chapter"]
