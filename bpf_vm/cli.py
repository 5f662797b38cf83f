"""``bpf-vm``: assemble, disassemble, verify and run BPF programs.

A thin layer: parsing options, reading files, printing.  It is the only place that
catches the project's errors; each becomes one line on stderr and exit status 1 (a
program the verifier refused: that line, then the log's last lines).  ``bpf-vm verify``
exits 1 for a refused program and 2 for bad input or usage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeGuard

import typer

from .errors import BpfError, InternalError, VerifierReject

if TYPE_CHECKING:
    from .program import Program
    from .verifier import Verdict, VerifierRefused
    from .vm import Vm

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Assemble, disassemble and run eBPF programs in trace-run's VM.",
                  pretty_exceptions_enable=False)

# Shared option types, defined once.
InFile = Annotated[Path, typer.Argument(help="Input file.", show_default=False)]
OutFile = Annotated[Path, typer.Option("-o", "--output", help="Output file.")]
HexOpt = Annotated[bool, typer.Option("--hex", help="The input is hex text, not raw bytes.")]
ProgOpt = Annotated[str | None, typer.Option("--prog", help="Object files: the program "
                                            "(function name) to use.")]
TraceOpt = Annotated[bool, typer.Option("--trace", help="Print every executed instruction "
                                        "with the registers it changed.")]
NoVerifyOpt = Annotated[bool, typer.Option(
    "--no-verify", help="Run without the verifier, on the VM's run-time checks alone (to "
    "see what the verifier prevents).")]
VerifierLogOpt = Annotated[bool, typer.Option(
    "--verifier-log", help="Print the verifier's whole log on stderr: a refused program's "
    "(level 1), and every accepted program's states (level 2, as bpftool -d prints).")]


def _show_version(value: bool) -> None:
    if value:
        from ._version import __version__
        typer.echo(f"bpf-vm (trace-run) {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", "-V", is_eager=True, callback=_show_version,
        help="Print the version and exit.")] = False) -> None:
    """Assemble, disassemble and run eBPF programs in trace-run's VM."""


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


def _is_refusal(exc: Exception) -> TypeGuard[VerifierRefused]:
    """The verifier's refusal (its package is imported only when a program was refused
    or needs verifying: ``asm`` and ``disasm`` never load it)."""
    if not isinstance(exc, VerifierReject):
        return False
    from .verifier import VerifierRefused
    return isinstance(exc, VerifierRefused)


def refused(exc: VerifierRefused, whole_log: bool = False) -> typer.Exit:
    """A refused program: one error line naming it, then the log's last lines (the
    whole log with ``whole_log``), on stderr; exit 1."""
    from .load import refusal_lines
    typer.echo(f"bpf-vm: error: {exc}", err=True)
    for line in refusal_lines(exc, whole_log=whole_log):
        typer.echo(line, err=True)
    return typer.Exit(1)


def show_log(program: Program, verdict: Verdict) -> None:
    """``--verifier-log`` for an accepted program: its level-2 log on stderr."""
    typer.echo(f"-- verifier log of prog '{program.name}': accepted --", err=True)
    typer.echo(verdict.log.rstrip("\n"), err=True)


def guarded(fn):  # type: ignore[no-untyped-def]
    """Run a command body, turning project errors into one line and exit 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return fn(*args, **kwargs)
        except (BpfError, CliError) as exc:
            if _is_refusal(exc):
                raise refused(exc) from None
            raise fail(str(exc)) from None
        except InternalError as exc:
            raise fail(f"internal error (a bug in trace-run): {exc}") from None
        except BrokenPipeError:
            raise typer.Exit(1) from None
    return wrapper


@app.command()
@guarded  # type: ignore[untyped-decorator]  # typer's app.command() is untyped
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
@guarded  # type: ignore[untyped-decorator]  # typer's app.command() is untyped
def disasm(program: InFile, hex_text: HexOpt = False, prog: ProgOpt = None) -> None:
    """Disassemble a raw .bin (or --hex text, or an ELF object) into assembly that
    `bpf-vm asm` accepts back."""
    if is_elf(program) or _declares_object(program):
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
    pairs = enumerate(zip(step.before, step.after, strict=True))
    changed = [f"r{i} {a:#x} -> {b:#x}" for i, (a, b) in pairs if a != b]
    indent = "  " * step.depth
    note = f"  [{step.event}]" if step.event else ""
    return f"{indent}{step.program}:{step.pc:>4}: {step.text:<40} {'; '.join(changed)}{note}"


@app.command()
@guarded  # type: ignore[untyped-decorator]  # typer's app.command() is untyped
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
        prog: ProgOpt = None,
        regs: Annotated[list[str] | None, typer.Option(
            "--regs", help="Object files: the syscall's user registers (pt_regs fields),"
            " e.g. orig_ax=257,di=0x1000 (repeatable); the context follows the section.")
        ] = None,
        user_mem: Annotated[list[str] | None, typer.Option(
            "--user-mem", help="Object files: the tracee's memory, ADDR=HEX (repeatable).")
        ] = None,
        dump_maps: Annotated[bool, typer.Option("--dump-maps", help="Object files: print "
                                                "every map's entries.")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="Object files: print one "
                                               "JSON object.")] = False,
        no_verify: NoVerifyOpt = False,
        verifier_log: VerifierLogOpt = False,
        set_vars: Annotated[list[str] | None, typer.Option(
            "--set", help="Object files: set global variable NAME (.rodata, .data, .bss) "
            "to VALUE before load, read by its BTF type, as a skeleton does: "
            "NAME=VALUE (repeatable).")] = None,
        record_type: Annotated[list[str] | None, typer.Option(
            "--record-type", help="Object files: decode ring-buffer/perf records of MAP "
            "as TYPE (struct NAME, a typedef...): MAP=TYPE (repeatable).")] = None,
        ) -> None:
    """Run a program (.bin, .hex or .s) once and print r0 in hex.  An object file (.o, or
    a .s with .map/.prog declarations) runs one program (--prog, default the first),
    with its maps and prog arrays set up, on the context its section asks for, built from
    --regs read as a syscall's user registers (orig_ax = the number, di, si, dx, r10, r8,
    r9 = the arguments, ax = the return value of an exit program): a kprobe's pt_regs;
    a syscalls/sys_enter_NAME or sys_exit_NAME tracepoint record; raw_syscalls'
    records; raw_tracepoint/tp_btf sys_enter|sys_exit's {regs, id|ret}; a syscall
    wrapper's pt_regs for ksyscall/NAME and kprobe/__x64_sys_NAME (di -> the user
    registers, in kernel memory); __seccomp_filter's (nr, seccomp_data *).

    Each program is verified first, as BPF_PROG_LOAD does (an object's: all of them, as
    kprobe programs unless their sections say otherwise; a raw program: as a
    BPF_PROG_TYPE_SYSCALL program, after r2 = LEN with --mem, as --engine kernel loads
    it); a refused one does not run."""
    if is_elf(program) or _declares_object(program) or prog or regs or user_mem \
            or dump_maps or json_out or set_vars or record_type:
        if engine != "interp" or mem is not None or mem_file is not None or hex_text:
            raise CliError("--engine, --mem, --mem-file and --hex apply to raw programs,"
                           " not to object files")
        _run_object(program, prog, regs or [], user_mem or [], trace, budget, dump_maps,
                    json_out, not no_verify, verifier_log, set_vars or [],
                    record_type or [])
        return
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
    loaded = Program.from_bytes(code, name=program.stem)
    if not no_verify:
        _verify_raw(vm, loaded, data, verifier_log)
    hook = (lambda s: typer.echo(_format_step(s))) if trace else None
    res = vm.run(loaded, data, regs={2: len(data) if data else 0}, trace=hook)
    typer.echo(f"{res.r0:#x}")


def _verify_raw(vm: Vm, program: Program, data: bytes | None, whole_log: bool) -> None:
    """A raw program's verdict, as ``--engine kernel`` loads it: a sleepable
    BPF_PROG_TYPE_SYSCALL program, with ``r2 = len(data)`` first when there is memory
    (so the log counts that instruction as insn 0)."""
    from .insn import Insn
    from .load import verify_program
    from .program import Program
    checked = program if data is None else Program(
        [Insn(0xB7, 2, 0, 0, len(data)), *program.insns], name=program.name)
    verdict = verify_program(checked, vm=vm, prog_type="syscall")
    if not verdict.accepted:
        from .verifier import VerifierRefused
        raise refused(VerifierRefused(verdict, program.name), whole_log)
    if whole_log:
        show_log(program, verify_program(checked, vm=vm, prog_type="syscall",
                                         log_level=2))


def _declares_object(path: Path) -> bool:
    """A .s file with .map or .prog declarations is an object, not one program."""
    if path.suffix not in (".s", ".asm"):
        return False
    import re
    text = read_file(path).decode(errors="replace")
    return re.search(r"^\s*\.(map|prog)\b", text, re.MULTILINE) is not None


def _run_object(path: Path, prog: str | None, regs: list[str], user_mem: list[str],
                trace: bool, budget: int, dump_maps: bool, json_out: bool, verify: bool,
                verifier_log: bool, set_vars: list[str], record_type: list[str]) -> None:
    import json

    from .btf_output import parse_record_types
    from .globals_set import parse_set_args
    from .host import parse_user_mem
    from .objrun import format_run, parse_regs, run_object
    from .verifier import VerifierRefused
    try:
        mem = parse_user_mem(user_mem)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    steps: list[str] = []
    hook = (lambda s: steps.append(_format_step(s))) if trace else None
    try:
        res = run_object(path, prog, regs=parse_regs(regs), user_mem=mem, trace=hook,
                         budget=budget, verify=verify,
                         verifier_log=show_log if verifier_log else None,
                         variables=parse_set_args(set_vars),
                         record_types=parse_record_types(record_type))
    except VerifierRefused as exc:
        raise refused(exc, verifier_log) from None
    if json_out:
        typer.echo(json.dumps(res.to_json()))
        return
    for line in steps:
        typer.echo(line)
    typer.echo(format_run(res, show_maps=dump_maps), nl=False)


@app.command()
@guarded  # type: ignore[untyped-decorator]  # typer's app.command() is untyped
def explain(program: InFile,
            output: Annotated[Path | None, typer.Option(
                "-o", "--output", help="The page (default: PROGRAM with .html).")] = None,
            prog: ProgOpt = None,
            regs: Annotated[list[str] | None, typer.Option(
                "--regs", help="pt_regs fields, e.g. orig_ax=257,di=0x1000 (repeatable).")
            ] = None,
            user_mem: Annotated[list[str] | None, typer.Option(
                "--user-mem", help="The tracee's memory, ADDR=HEX (repeatable).")] = None,
            budget: Annotated[int, typer.Option("--budget", help="Instruction budget.")
                              ] = 1_000_000,
            no_verify: NoVerifyOpt = False,
            no_kernel: Annotated[bool, typer.Option(
                "--no-kernel", help="Leave out the host kernel's verifier log (asked "
                "with bpf(2) when it is allowed).")] = False,
            hex_text: HexOpt = False) -> None:
    """Run a program (.o, .c, .s or .bin) once, recording every step, and write the
    explorer page: one self-contained HTML file (source, instructions, registers, stack,
    maps, tail calls, CFG, the verifiers' view) to step through in a browser."""
    from .explain.command import explain as explain_file
    from .host import parse_user_mem
    from .objrun import parse_regs
    try:
        mem = parse_user_mem(user_mem or [])
    except ValueError as exc:
        raise CliError(str(exc)) from None
    out = output if output is not None else program.with_suffix(".html")
    done = explain_file(program, out, prog=prog, regs=parse_regs(regs or []), user_mem=mem,
                        budget=budget, verify=not no_verify, kernel=not no_kernel,
                        hex_text=hex_text)
    if done.refused is not None:
        typer.echo(f"bpf-vm: error: {done.refused}", err=True)
        typer.echo(f"bpf-vm: {out}: {done.size} bytes, the program not run: the page shows"
                   " the verifier's log", err=True)
        raise typer.Exit(1)
    note = f", the run faulted: {done.error}" if done.error else ""
    typer.echo(f"{out}: {done.size} bytes, {done.steps} steps, {done.tail_calls} tail calls"
               f"{note}")


@app.command()
def verify(program: InFile,
           prog: Annotated[str | None, typer.Option(
               "--prog", help="Object files: verify only this program (function name); "
               "default: every program.")] = None,
           prog_type: Annotated[str | None, typer.Option(
               "--prog-type", help="kprobe, tracepoint, raw_tracepoint, syscall or "
               "socket_filter, instead of what each section says (raw programs: "
               "syscall).")] = None,
           log_level: Annotated[int, typer.Option(
               "--log-level", help="1: a refused program's failing path; 2: every "
               "state.")] = 1,
           kernel: Annotated[bool, typer.Option(
               "--kernel", help="Also load the same bytes with bpf(2) and show the "
               "kernel's verdict and log beside ours.")] = False,
           hex_text: HexOpt = False) -> None:
    """Verify each program of a file (.o, .s or .bin) as BPF_PROG_LOAD would and print
    the verifier's log.  Exit status: 0 all accepted, 1 one refused, 2 bad input."""
    import shutil

    from .verify_cmd import VerifyUsage, targets, verify_targets

    def bad(message: str) -> typer.Exit:
        typer.echo(f"bpf-vm: error: {message}", err=True)
        return typer.Exit(2)
    if log_level not in (1, 2):
        raise bad(f"--log-level: expected 1 or 2, got {log_level}")
    try:
        ts = targets(program, lambda: load_code(program, hex_text),
                     is_object=is_elf(program) or _declares_object(program), prog=prog,
                     prog_type=prog_type)
        lines, ok = verify_targets(ts, log_level=log_level, kernel=kernel,
                                   width=shutil.get_terminal_size().columns)
    except (BpfError, CliError, VerifyUsage) as exc:
        raise bad(str(exc)) from None
    except InternalError as exc:
        raise bad(f"internal error (a bug in trace-run): {exc}") from None
    try:
        typer.echo("\n".join(lines))
    except BrokenPipeError:
        raise typer.Exit(1) from None
    raise typer.Exit(0 if ok else 1)


@app.command()
@guarded  # type: ignore[untyped-decorator]  # typer's app.command() is untyped
def build(source: InFile,
          output: Annotated[Path | None, typer.Option("-o", "--output", help="Object file "
                                                      "(default: SOURCE with .o).")] = None,
          include: Annotated[list[Path] | None, typer.Option(
              "-I", "--include", help="Include directory, searched before trace-run's "
              "headers (repeatable).")] = None,
          define: Annotated[list[str] | None, typer.Option(
              "-D", "--define", help="Preprocessor definition NAME or NAME=VALUE "
              "(repeatable).")] = None,
          target_arch: Annotated[str | None, typer.Option(
              "--target-arch", help="libbpf's __TARGET_ARCH_<ARCH> (x86, arm64, ...; "
              "default: this machine's).")] = None,
          no_cache: Annotated[bool, typer.Option("--no-cache", help="Always run the "
                                                 "compiler.")] = False) -> None:
    """Compile BPF C with ziglang's clang (or $BPF_CC), cached by content hash.  Headers
    are searched in the -I directories, then the installed extension's (trace-run's
    probes/include), then the system's (/usr/include: linux/bpf.h, libbpf-dev's bpf/),
    then trace-run's libbpf-compatible bpf/ headers."""
    from .extension import installed
    from .toolchain import build as build_c
    from .toolchain import host_target_arch
    out = output if output is not None else source.with_name(
        source.name.removesuffix(".c") + ".o")
    ext = installed()
    build_c(source, out, include_dirs=[*(include or []), *ext.include_dirs],
            defines=define, target_arch=target_arch or host_target_arch(),
            system_includes=True, fallback_dirs=list(ext.fallback_include_dirs),
            use_cache=not no_cache)
    typer.echo(str(out))


@app.command()
def demo(no_pause: Annotated[bool, typer.Option(
            "--no-pause", help="Run every chapter without waiting for Enter (also when "
            "stdin is not a terminal).")] = False,
         html: Annotated[Path | None, typer.Option(
             "--html", help="Also write each chapter's explorer page into this "
             "directory.")] = None,
         chapter: Annotated[list[int] | None, typer.Option(
             "--chapter", help="Only this chapter (1-6; repeatable).")] = None) -> None:
    """A guided tour of tail calls (about ten minutes when read): the tracex5
    dispatcher, one syscall of a real command stepped through, the 33-call limit, a
    refusal by the verifier, a seccomp profile enforced, a sweep.  Every chapter runs
    real code.  Exit status 1 when a chapter's real step failed."""
    from .demo import run_demo
    from .extension import installed
    try:
        code = run_demo(installed(), pause=not no_pause, html=html, only=chapter or ())
    except ValueError as exc:
        raise fail(str(exc)) from None
    except BrokenPipeError:
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


from . import cli_btf as _cli_btf  # noqa: E402,F401  (registers `bpf-vm btf`)
