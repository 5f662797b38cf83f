"""The explorer page: one self-contained HTML file that steps through recorded runs of
BPF programs, with the source, the instructions, the state, the CFG and the verifiers'
view side by side.  ``bpf-vm explain`` and ``trace-run --explain`` write it.

The file holds inline CSS and JavaScript (``explorer.css``, ``explorer.js`` beside this
module) and the data as one JSON blob in ``<script type="application/json"
id="explorer-data">``; nothing is fetched, so it works from ``file://``.  Each program's
instructions, CFG picture and verifier states are stored once; each run's steps store
only what changed (:mod:`bpf_vm.explain.record`), and the page rebuilds any step's state
from them when it is shown.

Data format (``format: "trace-run-explorer/1"``)::

    {"format", "title", "kind": "program" | "trace",
     "max_tail_calls": 33, "ctx_fields": [pt_regs field names] | null,
     "maps": [{"name", "type", "key_size", "value_size", "max_entries", "handle": hex}],
     "helpers": {"<id>": {"name", "args": [...], "doc"}},
     "sources": [{"name", "found", "lines": [text, ...] | {"<line>": text}}],
     "programs": [{"name", "section", "type",
                   "insns": [[pc, text, uses, defs, info?], ...],
                   "funcs": [[pc, name]], "blocks": [[start, end]],
                   "edges": [[from, to, "fall"|"jump"|"call"]], "svg": "<svg ...>",
                   "lines": [[pc, source index, line]],
                   "verifier": {"accepted", "processed", "error"?, "log"?,
                                "states": {"<pc>": [[frame, state line], ...]},
                                "paths"?: {"<pc>": count beyond the states kept}},
                   "kernel": {"accepted", "error", "log"} | {"unavailable": why}}],
     "runs": [{"label", "pid"?, "tid"?, "nr"?, "abi"?, "call"?, "outcome"?, "r0"?,
               "error"?, "printk"?, "ringbuf"?: [[map, hex]], "truncated"?,
               "entry": program index,
               "regs0": [hex x 11], "ctx": hex | null, "regions": {"<slot>": name},
               "entries": [[map, key hex]], "tail_calls",
               "steps": [{"p", "pc", "d"?, "e"?, "r"?, "m"?, "k"?, "x"?}, ...]}]}

Values are unsigned 64-bit, in hex without ``0x``.  Step fields: see
:mod:`bpf_vm.explain.record`.

DOM contract (the browser tests depend on it; keep it):

* ``window.explorer``: ``run(i)`` selects recorded run ``i`` (0 for ``bpf-vm
  explain``) and goes to its step 0; ``go(stepIndex)``; ``step(+1 | -1)``;
  ``state()`` returns ``{run, step, pc, program, regs: {r0: "<u64 decimal>", ...,
  r10}}``, the VM's registers AFTER the current step; ``steps()`` the number of steps
  of the current run.  Also ``data`` (the JSON above) and ``ready`` (true once set up).
* Keys: ArrowRight / ArrowLeft step; ``t`` next tail call (one that happened), ``c``
  next helper call, ``m`` next map access, ``e`` next exit.  Buttons ``#prev``,
  ``#next``, ``#next-tailcall``, ``#next-call``, ``#next-map``, ``#next-exit``.  A jump
  with nothing ahead stays where it is.  A map access is a step with map-entry
  accesses (``k``: a lookup, update or delete, a load or store through a looked-up
  pointer) or a ring-buffer helper call (reserve, submit, discard, output).
* Instruction pane: ``#insns .insn[data-pc]``, the rows of the current step's program;
  the current one has class ``current``; those executed in this program at any step up
  to and including the current one have ``executed``.
* Registers: ``#regs tr[data-reg="r0"]`` ... ``r10``, each with ``td.value[data-u64=
  "<decimal>"]``; rows of registers whose value the step changed have class
  ``written`` and show the value before in ``td.prev``; registers the instruction reads
  have class ``read``.
* Tail calls: ``.tailcall-banner`` is visible (not ``hidden``) exactly at a step that
  made a tail call, with the text ``tail call → progs[257] = sys_openat · same stack
  frame · 1 of 33`` (prog array, index, target, count so far, the limit);
  ``#tailcall-count`` holds the number of tail calls up to the current step.  A tail
  call that fell through shows ``.tailcall-failed`` instead.
* CFG: ``svg.cfg g.block[data-start="<pc>"]`` of the current program; blocks executed
  up to the current step have class ``executed``, the current one ``current``; edges
  taken up to the current step are ``svg.cfg path.edge.executed``.  Clicking a block
  goes to the next step (else the last before) that runs its first instruction.
* Use-def: ``.operand[data-reg="r3"]`` spans in the instruction text (``w3`` is
  ``r3`` too; memory operands are ``.operand.mem``); clicking one in the current row
  adds class ``def`` to the ``#insns .insn`` rows whose write produced the value the
  instruction read (and ``dep`` to the rows that one depended on, transitively).  A
  register's row in ``#regs`` and a slot's row in ``#stack`` can be clicked likewise.
* Syscall list (``trace-run --explain``): ``#runs li[data-run="<i>"]``; clicking one
  selects that run.  ``bpf-vm explain`` has one item.
* No console errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .program_info import SourceTable, program_data
from .record import RunRecorder

if TYPE_CHECKING:
    from ..objfile import BpfObject
    from ..program import Program
    from ..vm import RunResult, Vm

FORMAT = "trace-run-explorer/1"
_HERE = Path(__file__).resolve().parent


class Explorer:
    """Programs and the recorded runs of them, written as one page.

    ``programs`` are the programs a run may reach (an object's: tail calls switch
    between them), ``vm`` the VM they are loaded in.  ``source`` is the file their line
    info comes from: an ELF object (``.BTF.ext``) or an assembly file (its lines);
    None: no source pane.  ``verifier`` adds our verifier's states per instruction,
    ``kernel`` the host kernel's log when bpf(2) is allowed."""

    def __init__(self, programs: Mapping[str, Program], vm: Vm, *, title: str = "",
                 source: str | Path | None = None, kind: str = "program",
                 verifier: bool = True, kernel: bool = True) -> None:
        self.vm = vm
        self.title = title
        self.kind = kind
        self.source = Path(source) if source is not None else None
        self.verifier = verifier
        self.kernel = kernel
        self._programs: dict[str, tuple[int, Program]] = {}
        for name, p in programs.items():
            self._programs[name] = (len(self._programs), p)
        self.runs: list[RunRecorder] = []

    @classmethod
    def for_object(cls, obj: BpfObject, *, source: str | Path | None = None,
                   title: str = "", **options: Any) -> Explorer:
        return cls(obj.programs, obj.vm, title=title or obj.name, source=source, **options)

    # -- recording -----------------------------------------------------------------------

    def record(self, entry: str | Program, info: dict[str, Any] | None = None
               ) -> RunRecorder:
        """A new run of ``entry``: pass the result's ``hook`` as ``Vm.run``'s ``trace``,
        then call its ``finish``.  ``info`` is shown with the run (``label``, ``pid``,
        ``call``, ``outcome``; the caller may fill it in later)."""
        name = entry if isinstance(entry, str) else entry.name
        if not isinstance(entry, str) and name not in self._programs:
            self._programs[name] = (len(self._programs), entry)
        rec = RunRecorder(self.vm, self._programs, name, info)
        self.runs.append(rec)
        return rec

    def run(self, entry: str | Program, ctx: bytes | None = None, *,
            info: dict[str, Any] | None = None, **run_options: Any) -> RunResult | None:
        """Record one run of ``entry`` on ``ctx`` (``Vm.run``'s options); a fault
        ends the recorded run with its message and returns None."""
        from ..errors import BpfError
        program = entry if not isinstance(entry, str) else self._programs[entry][1]
        rec = self.record(program, info)
        try:
            res = self.vm.run(program, ctx, trace=rec.hook, **run_options)
        except BpfError as exc:
            rec.finish(error=str(exc), effects=self.vm.state.effects)
            return None
        rec.finish(r0=res.r0, effects=res.effects)
        return res

    # -- the page ------------------------------------------------------------------------

    def _source_lines(self) -> tuple[dict[str, Any], dict[str, tuple[str, list[int]]]]:
        if self.source is None:
            return {}, {}
        src = self.source
        try:
            with src.open("rb") as f:
                magic = f.read(4)
        except OSError:
            return {}, {}
        if magic == b"\x7fELF":
            from ..btf_ext import program_lines
            from ..errors import BpfError
            try:
                return dict(program_lines(src)), {}
            except BpfError:
                return {}, {}
        from ..asm import assemble
        from ..errors import BpfError
        try:
            result = assemble(src.read_text(errors="replace"), source=str(src))
        except BpfError:
            return {}, {}
        name = str(src.resolve())
        progs = {p.name: (name, p.lines) for p in result.programs}
        if len(result.programs) == 1:
            only = result.programs[0]
            for pname in self._programs:
                progs.setdefault(pname, (name, only.lines))
        return {}, progs

    def data(self) -> dict[str, Any]:
        """The page's data (the JSON the page embeds)."""
        from ..pt_regs import FIELDS, SIZE
        from ..syntax import helper_name
        from .helper_docs import helper_doc
        lines, asm = self._source_lines()
        sources = SourceTable()
        programs = []
        for name, (_idx, program) in self._programs.items():
            programs.append(program_data(program, self.vm, sources=sources,
                                         lines=lines.get(name), asm=asm.get(name),
                                         verifier=self.verifier, kernel=self.kernel))
        helpers: dict[str, Any] = {}
        for p in programs:
            for row in p["insns"]:
                hid = row[4].get("h") if len(row) > 4 else None
                if hid is None or str(hid) in helpers:
                    continue
                h = self.vm.helpers.get(hid)
                hname = helper_name(hid) or (f"bpf_{h.proto.name}" if h else f"helper#{hid}")
                args, doc = helper_doc(hname, len(h.proto.args) if h else 5)
                helpers[str(hid)] = {"name": hname, "args": args, "doc": doc}
        maps = []
        for fd, m in sorted(self.vm._maps_by_fd.items()):
            spec = getattr(m, "spec", None)
            maps.append({"name": getattr(m, "name", f"fd {fd}"),
                         "type": str(getattr(spec, "type", "")).lower().split(".")[-1],
                         "key_size": getattr(m, "key_size", 0),
                         "value_size": getattr(m, "value_size", 0),
                         "max_entries": getattr(m, "max_entries", 0),
                         "handle": format(self.vm.map_handle(m, fd), "x")})
        runs = [r.data() for r in self.runs]
        ctx_fields = list(FIELDS) if any(
            r.get("ctx") is not None and len(r["ctx"]) == 2 * SIZE for r in runs) else None
        return {"format": FORMAT, "title": self.title, "kind": self.kind,
                "max_tail_calls": 33, "ctx_fields": ctx_fields, "maps": maps,
                "helpers": helpers, "sources": sources.files, "programs": programs,
                "runs": runs}

    def html(self) -> str:
        """The whole page."""
        from html import escape
        blob = json.dumps(self.data(), separators=(",", ":"), ensure_ascii=False)
        blob = blob.replace("</", "<\\/").replace("<!--", "<\\!--")
        css = (_HERE / "explorer.css").read_text()
        js = (_HERE / "explorer.js").read_text()
        body = (_HERE / "explorer.html").read_text()
        parts = {"title": escape(self.title or "BPF explorer"), "css": css, "data": blob,
                 "js": js}
        import re
        return re.sub(r"\{\{(title|css|data|js)\}\}", lambda m: parts[m.group(1)], body)

    def write(self, path: str | Path) -> int:
        """Write the page to ``path``; returns its size in bytes."""
        text = self.html()
        data = text.encode()
        Path(path).write_bytes(data)
        return len(data)


__all__ = ["FORMAT", "Explorer"]
