"""What the explorer page knows of a program before any run: its instructions in the
kernel's verifier-log syntax with the registers each reads and writes, its functions,
where each instruction came from in the source, its CFG picture, and the verifiers'
view of it (ours, state by state; the host kernel's log when bpf(2) is allowed).

Each program is stored once in the page; runs refer to it by index.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..insn import Insn
from ..isa import AtomicOp, CallKind, Kind, Pseudo, Source
from ..verifier.kdisasm import kernel_insn
from .cfg import blocks_and_edges, cfg_svg
from .helper_docs import helper_doc

if TYPE_CHECKING:
    from ..btf_ext import LineInfo
    from ..program import Program
    from ..vm import Vm

#: a kernel log longer than this is cut (the page must stay small)
MAX_KERNEL_LOG = 256 * 1024
#: a source file longer than this is not embedded (its lines from line info are)
MAX_SOURCE = 512 * 1024
#: the verifier's states kept per instruction (a loop the verifier walks 60,000 times
#: reaches its instructions on as many paths); the page says how many there were
MAX_STATES = 16


def uses_defs(insn: Insn, nargs: int = 5) -> tuple[list[int], list[int]]:
    """The registers ``insn`` reads and those it writes (a helper call: its arguments,
    r0; ``exit``: r0)."""
    kind = insn.kind
    spec = insn.spec
    x = spec is not None and spec.source is Source.X
    if kind is Kind.ALU:
        mov = spec is not None and spec.op is not None and spec.op == 0xB0
        uses = ([insn.src] if x else []) + ([] if mov else [insn.dst])
        return sorted(set(uses)), [insn.dst]
    if kind in (Kind.NEG, Kind.END):
        return [insn.dst], [insn.dst]
    if kind is Kind.LD_IMM64:
        return [], [insn.dst]
    if kind is Kind.LDX:
        return [insn.src], [insn.dst]
    if kind is Kind.ST:
        return [insn.dst], []
    if kind is Kind.STX:
        return sorted({insn.dst, insn.src}), []
    if kind is Kind.ATOMIC:
        if insn.imm == AtomicOp.CMPXCHG:
            return sorted({0, insn.dst, insn.src}), [0]
        fetch = insn.imm == AtomicOp.XCHG or insn.imm & 1
        return sorted({insn.dst, insn.src}), [insn.src] if fetch else []
    if kind is Kind.JCOND:
        return sorted({insn.dst, *([insn.src] if x else [])}), []
    if kind is Kind.CALL:
        if insn.src == CallKind.HELPER:
            return list(range(1, nargs + 1)), [0]
        return [], []
    if kind is Kind.EXIT:
        return [0], []
    return [], []


class SourceTable:
    """The source files the page shows, each once: by index, with their lines."""

    def __init__(self) -> None:
        self.files: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}

    def file(self, name: str, known: dict[int, str] | None = None) -> int:
        """The index of ``name``, read from disk when it is there; otherwise (or also)
        the lines ``known`` from line info."""
        idx = self._index.get(name)
        if idx is None:
            idx = self._index[name] = len(self.files)
            entry: dict[str, Any] = {"name": name, "found": False, "lines": {}}
            try:
                p = Path(name)
                if p.is_file() and p.stat().st_size <= MAX_SOURCE:
                    entry = {"name": name, "found": True,
                             "lines": p.read_text(errors="replace").splitlines()}
            except OSError:
                pass
            self.files.append(entry)
        entry = self.files[idx]
        if known and not entry["found"]:
            for line, text in known.items():
                entry["lines"][str(line)] = text
        return idx


def _helper_text(insn: Insn, vm: Vm) -> tuple[str, dict[str, Any], int]:
    h = vm.helpers.get(insn.imm)
    from ..syntax import helper_name
    name = helper_name(insn.imm) or (f"bpf_{h.proto.name}" if h is not None else
                                     f"helper#{insn.imm}")
    nargs = len(h.proto.args) if h is not None else 5
    if name in ("bpf_trace_printk",):
        nargs = 5
    args, _doc = helper_doc(name, nargs)
    shown = ", ".join(f"{a}: r{i + 1}" for i, a in enumerate(args[:5]))
    text = f"({insn.opcode:02x}) r0 = {name}({shown})"
    return text, {"h": insn.imm}, len(args[:5])


def insn_rows(program: Program, vm: Vm) -> list[list[Any]]:
    """``[pc, text, uses, defs, info]`` of each instruction (not the second half of an
    ld_imm64).  ``info``: ``h`` helper id, ``c`` a local call's target and ``f`` its
    function, ``map`` the map an ld_imm64 refers to."""
    rows: list[list[Any]] = []
    for pc, insn in enumerate(program.insns):
        if insn is None:
            continue
        info: dict[str, Any] = {}
        nargs = 5
        if insn.kind is Kind.CALL and insn.src == CallKind.HELPER:
            text, info, nargs = _helper_text(insn, vm)
        elif insn.kind is Kind.LD_IMM64 and insn.src in (Pseudo.MAP_FD, Pseudo.MAP_IDX,
                                                         Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE):
            value = None
            try:
                value = vm.resolve_map_ref(program, insn)
            except Exception:   # a reference the VM cannot resolve: shown raw
                value = None
            text = kernel_insn(insn, pc, value)
            m = _map_of(program, vm, insn)
            if m is not None:
                info["map"] = m
        else:
            text = kernel_insn(insn, pc)
            if insn.kind is Kind.CALL and insn.src == CallKind.LOCAL:
                target = pc + 1 + insn.imm
                info["c"] = target
                info["f"] = program.func_names.get(target, f"pc {target}")
        uses, defs = uses_defs(insn, nargs)
        rows.append([pc, text, uses, defs, info] if info else [pc, text, uses, defs])
    return rows


def _map_of(program: Program, vm: Vm, insn: Insn) -> str | None:
    if insn.src in (Pseudo.MAP_IDX, Pseudo.MAP_IDX_VALUE):
        m = program.maps[insn.imm] if 0 <= insn.imm < len(program.maps) else None
    else:
        m = vm.map_by_fd(insn.imm)
    return getattr(m, "name", None)


def verifier_data(program: Program, vm: Vm, kind: str) -> dict[str, Any]:
    """Our verifier's verdict and, per pc, the state on each path reaching it:
    ``{"accepted", "error", "processed", "log" (refused: the failing path),
    "states": {pc: [[frame, state line], ...]}, "paths": {pc: count}}`` (``paths``: the
    pcs reached on more than :data:`MAX_STATES` paths, whose first ones are kept)."""
    from ..verifier import verify
    v = verify(program, prog_type=kind, maps=vm._maps_by_fd, helpers=vm.helpers, record=True)
    out: dict[str, Any] = {"accepted": v.accepted, "processed": v.processed,
                           "states": {str(pc): [[s.get("_frame", "0"), s.get("_state", "")]
                                                for s in states[:MAX_STATES]]
                                      for pc, states in sorted(v.states.items())}}
    more = {str(pc): len(states) for pc, states in v.states.items() if len(states) > MAX_STATES}
    if more:
        out["paths"] = more     # how many paths reached those pcs (the first are kept)
    if not v.accepted:
        out["error"] = v.error
        out["pc"] = v.pc
        out["log"] = v.log
    return out


def kernel_data(program: Program, vm: Vm, kind: str) -> dict[str, Any]:
    """The host kernel's verdict and level-2 log, or why there is none."""
    from ..kernel import KernelUnavailable
    from ..kernel_verify import KernelMapError, kernel_code, kernel_verify
    from ..verifier import KERNEL_NUMBER, ProgKind
    pk = ProgKind(kind)
    try:
        with ExitStack() as stack:
            code = kernel_code(program, vm.map_by_fd, stack)
            kv = kernel_verify(code, KERNEL_NUMBER[pk], license=program.license,
                               flags=(1 << 4) if pk is ProgKind.SYSCALL else 0,
                               name=program.name, log_level=2)
    except KernelUnavailable as exc:
        return {"unavailable": f"bpf(2) is refused here ({exc})"}
    except KernelMapError as exc:
        return {"unavailable": f"not asked: {exc}"}
    except OSError as exc:
        return {"unavailable": f"bpf(2) failed: {exc}"}
    log = kv.log
    if len(log) > MAX_KERNEL_LOG:
        log = log[:MAX_KERNEL_LOG] + f"\n... (cut at {MAX_KERNEL_LOG} bytes)\n"
    return {"accepted": kv.accepted, "error": kv.error, "log": log}


def program_data(program: Program, vm: Vm, *, sources: SourceTable,
                 lines: dict[int, LineInfo] | None = None,
                 asm: tuple[str, list[int]] | None = None,
                 verifier: bool = True, kernel: bool = True) -> dict[str, Any]:
    """Everything the page stores once per program."""
    from ..load import prog_kind
    kind = str(program.meta.get("explain_kind") or prog_kind(program.section))
    rows = insn_rows(program, vm)
    texts = {r[0]: r[1].split(") ", 1)[-1] for r in rows}
    blocks, edges = blocks_and_edges(program.insns)
    data: dict[str, Any] = {
        "name": program.name, "section": program.section, "type": kind,
        "insns": rows,
        "funcs": sorted([pc, name] for pc, name in program.func_names.items()),
        "blocks": [list(b) for b in blocks], "edges": [list(e) for e in edges],
        "svg": cfg_svg(program.insns, texts, program.name),
    }
    src_lines: list[list[int]] = []
    if lines:
        by_file: dict[str, dict[int, str]] = {}
        for li in lines.values():
            by_file.setdefault(li.file, {})[li.line] = li.text
        idx = {f: sources.file(f, known) for f, known in by_file.items()}
        src_lines = [[pc, idx[li.file], li.line] for pc, li in sorted(lines.items())]
    elif asm is not None:
        fidx = sources.file(asm[0])
        last = -1
        for pc, line in enumerate(asm[1]):
            if line != last:
                src_lines.append([pc, fidx, line])
                last = line
    data["lines"] = src_lines
    if verifier:
        data["verifier"] = verifier_data(program, vm, kind)
    if kernel:
        data["kernel"] = kernel_data(program, vm, kind)
    return data


__all__ = ["SourceTable", "insn_rows", "kernel_data", "program_data", "uses_defs",
           "verifier_data"]
