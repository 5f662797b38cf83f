"""``bpf-vm``: assemble, disassemble and run BPF programs.

A thin layer: parsing options, reading files, printing.  It is the only place that
catches the project's errors; each becomes one line on stderr and exit status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .errors import BpfError, InternalError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Assemble, disassemble and run eBPF programs in trace-run's VM.",
                  pretty_exceptions_enable=False)

# Shared option types, defined once.
InFile = Annotated[Path, typer.Argument(help="Input file.", show_default=False)]
OutFile = Annotated[Path, typer.Option("-o", "--output", help="Output file.")]
HexOpt = Annotated[bool, typer.Option("--hex", help="The input is hex text, not raw bytes.")]
TraceOpt = Annotated[bool, typer.Option("--trace", help="Print every executed instruction "
                                        "with the registers it changed.")]


class CliError(Exception):
    """A usage problem found by the CLI itself (a missing file, bad hex)."""


def fail(message: str) -> typer.Exit:
    typer.echo(f"bpf-vm: error: {message}", err=True)
    return typer.Exit(1)


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None


def parse_hex(text: str, what: str) -> bytes:
    compact = "".join(text.split()).removeprefix("0x")
    try:
        return bytes.fromhex(compact)
    except ValueError:
        raise CliError(f"{what}: not hex bytes: {text.strip()[:40]!r}") from None


def load_code(path: Path, hex_text: bool = False) -> bytes:
    """A program's bytes from .s (assembled), hex text, or raw little-endian bytes."""
    from .asm import assemble
    data = read_file(path)
    if path.suffix in (".s", ".asm"):
        return assemble(data.decode(errors="replace"), source=str(path)).code
    if hex_text or path.suffix == ".hex":
        return parse_hex(data.decode(errors="replace"), str(path))
    return data


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def guarded(fn):  # type: ignore[no-untyped-def]
    """Run a command body, turning project errors into one line and exit 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return fn(*args, **kwargs)
        except (BpfError, CliError) as exc:
            raise fail(str(exc)) from None
        except InternalError as exc:
            raise fail(f"internal error (a bug in trace-run): {exc}") from None
        except BrokenPipeError:
            raise typer.Exit(1) from None
    return wrapper


@app.command()
@guarded
def asm(source: InFile, output: OutFile = Path("a.bin"),
        hex_out: Annotated[bool, typer.Option("--hex", help="Write hex text.")] = False) -> None:
    """Assemble kernel-syntax assembly into raw little-endian bytecode."""
    from .asm import assemble
    result = assemble(read_file(source).decode(errors="replace"), source=str(source))
    code = result.code
    try:
        if hex_out:
            output.write_text(code.hex(" ") + "\n")
        else:
            output.write_bytes(code)
    except OSError as exc:
        raise CliError(f"{output}: {exc.strerror or exc}") from None


@app.command()
@guarded
def disasm(program: InFile, hex_text: HexOpt = False,
           prog: Annotated[str | None, typer.Option("--prog", help="Only this program of "
                                                       "an object file.")] = None) -> None:
    """Disassemble a raw .bin (or --hex text, or an ELF object) into assembly that
    `bpf-vm asm` accepts back."""
    if is_elf(program):
        from .objrun import disasm_object
        typer.echo(disasm_object(program, prog), nl=False)
        return
    code = load_code(program, hex_text)
    typer.echo(listing(code), nl=False)


def listing(code: bytes) -> str:
    """llvm-objdump's layout: pc, the instruction's bytes, its text.  `bpf-vm asm` reads
    it back (it skips the pc and byte columns)."""
    from .disasm import format_insn
    from .insn import decode
    out = []
    for pc, insn in enumerate(decode(code)):
        if insn is not None:
            raw = insn.encode().hex(" ")
            out.append(f"{pc:>6}:\t{raw}\t{format_insn(insn, pc)}\n")
    return "".join(out)


def _format_step(step) -> str:  # type: ignore[no-untyped-def]
    changed = [f"r{i} {a:#x} -> {b:#x}" for i, (a, b) in enumerate(zip(step.before, step.after))
               if a != b]
    indent = "  " * step.depth
    note = f"  [{step.event}]" if step.event else ""
    return f"{indent}{step.program}:{step.pc:>4}: {step.text:<40} {'; '.join(changed)}{note}"


@app.command()
@guarded
def run(program: InFile,
        mem: Annotated[str | None, typer.Option("--mem", help="Input memory as hex bytes;"
                                                   " r1 = its address, r2 = its length.")] = None,
        mem_file: Annotated[Path | None, typer.Option("--mem-file", help="Input memory "
                                                         "from a file.")] = None,
        trace: TraceOpt = False,
        engine: Annotated[str, typer.Option("--engine", help="interp: this VM; kernel: the "
                                            "host kernel via bpf(2).")] = "interp",
        hex_text: HexOpt = False,
        budget: Annotated[int, typer.Option("--budget", help="Instruction budget.")] = 1_000_000,
        ) -> None:
    """Run a program (.bin, .hex or .s) once and print r0 in hex."""
    if is_elf(program):
        raise CliError(f"{program}: an object file; run it with `bpf-vm run-object`")
    if engine not in ("interp", "kernel"):
        raise CliError(f"--engine: expected interp or kernel, got {engine!r}")
    if mem is not None and mem_file is not None:
        raise CliError("--mem and --mem-file are exclusive")
    data = parse_hex(mem, "--mem") if mem is not None else (
        read_file(mem_file) if mem_file is not None else None)
    code = load_code(program, hex_text)
    if engine == "kernel":
        from . import kernel
        reason = kernel.kernel_unavailable_reason()
        if reason is not None:
            raise CliError(reason)
        kres = kernel.run_program(code, data)
        typer.echo(f"{kres.r0:#x}")
        return
    from .program import Program
    from .vm import Vm
    vm = Vm(budget=budget)
    hook = (lambda s: typer.echo(_format_step(s))) if trace else None
    res = vm.run(Program.from_bytes(code, name=program.stem), data,
                 regs={2: len(data) if data else 0}, trace=hook)
    typer.echo(f"{res.r0:#x}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
