"""``bpf-vm verify FILE``: the verifier's verdict and log for each program of a file,
and with ``--kernel`` the host kernel's beside it.

What it prints is what ``bpftool prog load`` with a verifier log, or ``veristat -v``,
shows: a header per program (name, section, program type, verdict), then the log as
the kernel writes it (level 1: an accepted program's statistics, a refused one's
failing path; level 2: every state).  With ``--kernel`` the same bytes go through
BPF_PROG_LOAD (:mod:`bpf_vm.kernel_verify`) and the two logs are shown side by side
when the terminal has room for two columns of :data:`MIN_COLUMN` characters, one after
the other (two labelled blocks) otherwise; a last line says whether the verdicts agree.

Programs come from an object (``.o``, or ``.s`` with ``.map``/``.prog`` declarations:
each program's section gives its type, :func:`bpf_vm.load.prog_kind`) or are one
raw program (``.bin``, ``.hex``, ``.s``), verified as BPF_PROG_TYPE_SYSCALL, the type
``bpf-vm run --engine kernel`` loads raw programs as (their context is plain memory).
``--prog-type`` overrides either.
"""

from __future__ import annotations

import errno as _errno
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kernel_verify import KernelVerdict
    from .program import Program
    from .verifier import Verdict
    from .vm import Vm

#: the narrowest log column of the side-by-side layout
MIN_COLUMN = 60
#: the program type of a raw program (no section)
RAW_KIND = "syscall"
KINDS = ("kprobe", "tracepoint", "raw_tracepoint", "syscall", "socket_filter")


class VerifyUsage(Exception):
    """Bad usage or bad input for ``bpf-vm verify`` (exit 2)."""


@dataclass
class Target:
    """One program to verify, with the VM it was loaded into and its type."""
    program: Program
    vm: Vm
    kind: str
    where: str      # "section 'kprobe/x'" or "raw program"


def targets(path: Path, code: Callable[[], bytes], *, is_object: bool,
            prog: str | None, prog_type: str | None) -> list[Target]:
    """The programs of ``path`` to verify (``code`` reads a raw program's bytes)."""
    from .load import prog_kind
    from .program import Program
    from .vm import Vm
    if prog_type is not None and prog_type not in KINDS:
        raise VerifyUsage(f"--prog-type: expected one of {', '.join(KINDS)}, got"
                          f" {prog_type!r}")
    vm = Vm()
    if not is_object:
        if prog is not None:
            raise VerifyUsage("--prog applies to object files (.o, or .s with .map/.prog"
                              " declarations), not to a raw program")
        program = Program.from_bytes(code(), name=path.stem)
        return [Target(program, vm, prog_type or RAW_KIND,
                       "raw program")]
    from .extension import syscall_number
    from .objrun import load_any
    obj = load_any(path, vm, populate=False, syscall_number=syscall_number)
    progs = [obj.program(prog)] if prog is not None else list(obj.programs.values())
    if not progs:
        raise VerifyUsage(f"{path}: the object has no programs")
    return [Target(p, vm, prog_type or str(prog_kind(p.section)),
                   f"section '{p.section}'" if p.section else "no section")
            for p in progs]


def _ours(t: Target, log_level: int) -> Verdict:
    from .load import verify_program
    return verify_program(t.program, vm=t.vm, prog_type=t.kind, log_level=log_level)


def _theirs(t: Target, log_level: int) -> KernelVerdict | str:
    """The kernel's verdict, or one line saying why there is none."""
    from contextlib import ExitStack

    from .kernel import KernelUnavailable
    from .kernel_verify import KernelMapError, kernel_code, kernel_verify
    from .verifier import KERNEL_NUMBER, ProgKind
    kind = ProgKind(t.kind)
    try:
        with ExitStack() as stack:
            code = kernel_code(t.program, t.vm.map_by_fd, stack)
            return kernel_verify(code, KERNEL_NUMBER[kind], license=t.program.license,
                                 flags=(1 << 4) if kind is ProgKind.SYSCALL else 0,
                                 name=t.program.name, log_level=log_level)
    except KernelUnavailable as exc:
        return f"kernel: bpf(2) is refused here ({exc}); only bpf-vm's verdict is shown"
    except KernelMapError as exc:
        return f"kernel: not asked: {exc}"


def _verdict_text(accepted: bool, errno: int, error: str | None) -> str:
    if accepted:
        return "accepted"
    return f"refused ({_errno.errorcode.get(errno, str(errno))}): {error}"


def _log_lines(log: str) -> list[str]:
    return log.rstrip("\n").splitlines() or ["(empty log)"]


def _columns(left: tuple[str, list[str]], right: tuple[str, list[str]], width: int
             ) -> list[str]:
    col = (width - 3) // 2

    def wrap(lines: list[str]) -> list[str]:
        out: list[str] = []
        for line in lines:
            out += textwrap.wrap(line, col, replace_whitespace=False,
                                 drop_whitespace=False, subsequent_indent="  ") or [""]
        return out

    lhead, rhead = wrap([left[0]]), wrap([right[0]])
    lbody, rbody = wrap(left[1]), wrap(right[1])
    rows: list[str] = []

    def pair(a: list[str], b: list[str]) -> None:
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else ""
            y = b[i] if i < len(b) else ""
            rows.append(f"{x:<{col}} | {y}".rstrip())
    pair(lhead, rhead)
    rows.append("-" * col + "-+-" + "-" * col)
    pair(lbody, rbody)
    return rows


def report(t: Target, ours: Verdict, theirs: KernelVerdict | str | None,
           width: int) -> list[str]:
    """The lines printed for one program."""
    head = f"prog '{t.program.name}' ({t.where}, {t.kind}):"
    mine = _verdict_text(ours.accepted, ours.errno, ours.error)
    if theirs is None:
        return [f"{head} {mine}", *_log_lines(ours.log)]
    if isinstance(theirs, str):
        return [f"{head} {mine}", theirs, *_log_lines(ours.log)]
    kern = _verdict_text(theirs.accepted, theirs.errno, theirs.error)
    left = (f"bpf-vm: {mine}", _log_lines(ours.log))
    right = (f"kernel: {kern}", _log_lines(theirs.log))
    if width >= 2 * MIN_COLUMN + 3:
        body = _columns(left, right, width)
    else:
        body = [f"== {left[0]}", *left[1], f"== {right[0]}", *right[1]]
    if ours.accepted != theirs.accepted:
        said = "verdicts DIFFER"
    elif ours.accepted or ours.error == theirs.error:
        said = "verdicts agree"
    else:
        said = "verdicts agree (both refused), messages differ"
    return [head, *body, said]


def verify_targets(ts: list[Target], *, log_level: int, kernel: bool, width: int
                   ) -> tuple[list[str], bool]:
    """Every program's report, separated by blank lines, and whether all were
    accepted (by bpf-vm's verifier: the exit status is ours)."""
    out: list[str] = []
    ok = True
    for i, t in enumerate(ts):
        ours = _ours(t, log_level)
        ok = ok and ours.accepted
        theirs = _theirs(t, log_level) if kernel else None
        if i:
            out.append("")
        out += report(t, ours, theirs, width)
    return out, ok


__all__ = ["KINDS", "MIN_COLUMN", "RAW_KIND", "Target", "VerifyUsage", "report", "targets",
           "verify_targets"]
