"""Where trace-run's BPF programs are verified, and how a refusal is told.

Every program trace-run runs goes through one place, :func:`load`, called when a
syscall handler is made (:class:`tracer.probe_handler.ProbeHandler`, which the bundled
probe, ``--probe FILE``, the policy of ``--policy``/``--audit``/``--compare`` and the
``-e inject=``/``-e fault=`` rules are all run by): each program of the object is loaded
as BPF_PROG_LOAD does (:func:`bpf_vm.prog_load`), verified once as the kprobe program
its section says it is, then compiled, before the command starts.  A policy's programs
shared by many prog-array slots are one program each, verified once.

``--no-verify`` skips the verifier (the VM's run-time checks alone);
``--verifier-log`` shows a refused program's whole log instead of its last lines.  Both
are :data:`CHECKS`, set once by the CLI (:func:`configure`) for the whole process, so
the policy modes, the sweep's forked runs and the injections see the same setting
without each passing it on.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, TypeGuard

from bpf_vm import BpfObject, VerifierReject

if TYPE_CHECKING:
    from bpf_vm import Program, VerifierRefused

__all__ = ["CHECKS", "Checks", "configure", "is_refusal", "load", "report_refusal"]


@dataclass
class Checks:
    """``verify``: run the verifier at load (not ``--no-verify``); ``whole_log``: a
    refusal shows the whole log (``--verifier-log``)."""
    verify: bool = True
    whole_log: bool = False


CHECKS = Checks()


def configure(*, verify: bool = True, whole_log: bool = False) -> None:
    """Set the process's checks (the CLI, once per run)."""
    CHECKS.verify = verify
    CHECKS.whole_log = whole_log


def load(obj: BpfObject, programs: Iterable[Program] | None = None) -> None:
    """Load every program of ``obj`` (or only ``programs``, those that can run) into its
    VM: verified unless ``--no-verify``, then compiled.  A refused program raises
    :class:`bpf_vm.VerifierRefused` naming the object and the program."""
    from bpf_vm import VerifierRefused, prog_load
    for program in (obj.programs.values() if programs is None else programs):
        try:
            prog_load(obj.vm, program, verify=CHECKS.verify)
        except VerifierRefused as exc:
            raise VerifierRefused(exc.verdict, f"{obj.name}: prog '{program.name}'"
                                  ) from None


def is_refusal(exc: BaseException) -> TypeGuard[VerifierRefused]:
    """``exc`` is the verifier's refusal (checked without importing the verifier for
    other errors: ``trace-run -h`` and ``--no-verify`` never load it)."""
    if not isinstance(exc, VerifierReject):
        return False
    from bpf_vm import VerifierRefused
    return isinstance(exc, VerifierRefused)


def report_refusal(exc: VerifierRefused, prog: str = "trace-run",
                   err: IO[str] | None = None) -> None:
    """One error line naming the program, then the log's last lines (the whole log
    with ``--verifier-log``)."""
    from bpf_vm import refusal_lines
    out = err if err is not None else sys.stderr
    print(f"{prog}: {exc}", file=out)
    hint = "--verifier-log prints the whole log; --no-verify runs it unverified"
    for line in refusal_lines(exc, whole_log=CHECKS.whole_log, hint=hint):
        print(line, file=out)
    out.flush()
