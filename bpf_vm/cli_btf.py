"""``bpf-vm btf``: BTF files as bpftool shows them (``btf dump``).

Registered on :data:`bpf_vm.cli.app` when the CLI module loads.  Bad input (a file that
is not BTF, a malformed record) is one line naming the file and the record's byte
offset, exit status 1; usage errors exit 2, as for every other command.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated

import typer

from .cli import CliError, app, guarded

btf_app = typer.Typer(no_args_is_help=True, help="Show BTF (raw BTF files such as "
                      "/sys/kernel/btf/vmlinux, or an ELF file's .BTF section).")
app.add_typer(btf_app, name="btf")


class Format(enum.StrEnum):
    raw = "raw"
    c = "c"


def target_btf_path() -> Path:
    """The BTF that CO-RE relocates against (:func:`bpf_vm.core_match.target_btf`):
    ``$BPF_VM_TARGET_BTF``, else the running kernel's, else the subset trace-run ships;
    the first readable one."""
    from .core_match import VMLINUX, fallback_btf_path
    tried = [p for p in (os.environ.get("BPF_VM_TARGET_BTF"), VMLINUX,
                         str(fallback_btf_path())) if p]
    for p in tried:
        if os.access(p, os.R_OK):
            return Path(p)
    raise CliError(f"no target BTF is readable (tried {', '.join(tried)})")


@btf_app.command()
@guarded  # type: ignore[untyped-decorator]  # typer's command() is untyped
def dump(file: Annotated[Path | None, typer.Argument(
             help="Raw BTF or an ELF file with .BTF (default: the target BTF of CO-RE: "
             "$BPF_VM_TARGET_BTF, else /sys/kernel/btf/vmlinux, else trace-run's subset).",
             show_default=False)] = None,
         fmt: Annotated[Format, typer.Option(
             "--format", "-f", help="raw: one line per type, as `bpftool btf dump file F "
             "format raw`; c: a header (vmlinux.h), as `... format c`.")] = Format.raw,
         output: Annotated[Path | None, typer.Option(
             "-o", "--output", help="Write here instead of standard output.")] = None,
         legacy_enums: Annotated[bool, typer.Option(
             "--legacy-enums", help="C: leave out mode(byte)/mode(word) on 1- and 8-byte "
             "enums, as bpftool 7.1 (the libbpf of Linux 6.1) does.  Its text byte for "
             "byte, but a 1-byte enum then takes 4 and the structs holding one get "
             "another layout.")] = False) -> None:
    """Dump every type of a BTF file, as bpftool's btf dump does.

    --format c writes a vmlinux.h for BPF C: every struct laid out as BTF says."""
    from .btf_c import dump_c
    from .btf_file import BtfRecordError, dump_raw, load_btf_file
    loaded = load_btf_file(file if file is not None else target_btf_path())
    if fmt is Format.c:
        try:
            text = dump_c(loaded.btf, enum_modes=not legacy_enums)
        except BtfRecordError as exc:
            raise loaded.error(exc) from None
    else:
        text = dump_raw(loaded.btf)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        raise CliError(f"{output}: {exc.strerror or exc}") from None


__all__ = ["btf_app", "dump", "target_btf_path"]
