"""``bpf-vm explain PROGRAM -o PAGE.html``: run a program once, recording every step, and
write the explorer page.

The input is what ``bpf-vm run`` takes for an object, and more:

* ``.o``: an ELF object, its line info shown as C source;
* ``.c``: compiled first (``bpf-vm build``'s compiler and headers), then as ``.o``;
* ``.s`` with ``.map``/``.prog`` declarations: an object written in assembly, its lines
  shown as the source;
* a ``.s`` without declarations, a ``.bin`` or a ``.hex``: one program (named after
  the file), run as a kprobe program.

The program (``--prog``, default the object's first) runs on a pt_regs context built
from ``--regs``, with the tracee memory of ``--user-mem``, after every program of the
object is loaded as ``bpf-vm run`` loads them: verified, then compiled.  A program the
verifier refuses does not run: the page shows it with the verifier's log instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BpfError
from .page import Explorer

if TYPE_CHECKING:
    from ..objfile import BpfObject
    from ..verifier import VerifierRefused
    from ..vm import Vm


class ExplainError(BpfError):
    """An input or output file ``bpf-vm explain`` cannot use (one line)."""


def _io(path: Path, exc: OSError) -> ExplainError:
    return ExplainError(f"{path}: {exc.strerror or exc}")


@dataclass
class Explained:
    """What ``bpf-vm explain`` did: the page's size, the run's steps and tail calls, and
    the refusal that kept a program from running (None when it ran)."""
    size: int
    steps: int
    tail_calls: int
    refused: VerifierRefused | None = None
    error: str | None = None


def _load(path: Path, vm: Vm, hex_text: bool) -> tuple[BpfObject | None, Path | None]:
    """The object (None for a raw program) and the file its line info comes from."""
    from ..extension import installed, syscall_number
    from ..objrun import load_any
    if path.suffix == ".c":
        from ..toolchain import build
        built = build(path, include_dirs=list(installed().include_dirs))
        obj = load_any(built, vm, syscall_number=syscall_number)
        obj.name = path.name
        return obj, built
    with path.open("rb") as f:
        elf = f.read(4) == b"\x7fELF"
    if elf:
        return load_any(path, vm, syscall_number=syscall_number), path
    if path.suffix in (".s", ".asm"):
        import re
        text = path.read_text(errors="replace")
        if re.search(r"^\s*\.(map|prog)\b", text, re.MULTILINE):
            return load_any(path, vm, syscall_number=syscall_number), path
        return None, path
    return None, None


def explain(path: str | Path, output: str | Path, *, prog: str | None = None,
            regs: dict[str, int] | None = None, user_mem: dict[int, bytes] | None = None,
            budget: int | None = None, verify: bool = True, kernel: bool = True,
            hex_text: bool = False) -> Explained:
    """Run one program of ``path`` once, recorded, and write the page to ``output``."""
    from ..host import ProcessHost
    from ..load import prog_load
    from ..objrun import pt_regs
    from ..program import Program
    from ..verifier import VerifierRefused
    from ..vm import DEFAULT_BUDGET, Vm
    p = Path(path)
    vm = Vm(host=ProcessHost(user_mem or {}), budget=budget or DEFAULT_BUDGET)
    try:
        obj, source = _load(p, vm, hex_text)
    except OSError as exc:
        raise _io(p, exc) from None
    if obj is not None:
        programs = dict(obj.programs)
        entry = obj.program(prog)
        title = obj.name
    else:
        if prog is not None:
            raise BpfError("--prog applies to object files (.o, .c, or .s with .map/.prog "
                           "declarations)")
        from ..asm import assemble
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise _io(p, exc) from None
        if p.suffix in (".s", ".asm"):
            code = assemble(data.decode(errors="replace"), source=str(p)).code
        elif hex_text or p.suffix == ".hex":
            try:
                code = bytes.fromhex("".join(data.decode(errors="replace").split())
                                     .removeprefix("0x"))
            except ValueError:
                raise ExplainError(f"{p}: not hex bytes") from None
        else:
            code = data
        entry = Program.from_bytes(code, name=p.stem, section="kprobe/")
        programs = {entry.name: entry}
        title = p.name
    ex = Explorer(programs, vm, title=f"{title}: {entry.name}", source=source,
                  kernel=kernel)
    refused: VerifierRefused | None = None
    try:
        for program in programs.values():
            prog_load(vm, program, verify=verify)
    except VerifierRefused as exc:
        refused = exc
    info = {"label": f"{entry.name}({', '.join(f'{k}={v:#x}' for k, v in (regs or {}).items())})"}
    error = None
    if refused is None:
        res = ex.run(entry, pt_regs(regs), ctx_writable=False, info=info)
        if res is None:
            error = ex.runs[-1].result.get("error")
    else:
        rec = ex.record(entry, info)
        rec.finish(error=f"not run: {refused}")
    try:
        size = ex.write(output)
    except OSError as exc:
        raise _io(Path(output), exc) from None
    rec = ex.runs[-1]
    return Explained(size, len(rec.steps), rec.tail_calls, refused, error)


__all__ = ["ExplainError", "Explained", "explain"]
