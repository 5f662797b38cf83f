"""The policy options of ``trace-run``, defined once for :mod:`tracer.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
           "Audit",
           "Caps",
           "Merge",
           "PolicyOpt",
           "PrintPrograms",
           "RecordProfile",
           "Report",
           "Strict",
           "Sweep",
           "SweepErrno",
           "SweepJobs",
           "SweepTimeout",
]

_P = "Policy experiments"

PolicyOpt = Annotated[Path | None, typer.Option(
    "--policy", metavar="PROFILE", rich_help_panel=_P,
    help="Enforce a seccomp profile (OCI linux.seccomp or Docker JSON), compiled to BPF: "
         "denied syscalls fail with the profile's errno.")]
Audit = Annotated[bool, typer.Option(
    "--audit", rich_help_panel=_P,
    help="With --policy: enforce nothing; at exit, report on stderr what would have been "
         "denied or killed.")]
Report = Annotated[Path | None, typer.Option(
    "--report", metavar="FILE", rich_help_panel=_P,
    help="With --policy: also write the report to FILE (JSON if FILE ends in .json).")]
Strict = Annotated[bool, typer.Option(
    "--strict", rich_help_panel=_P,
    help="With --policy: unknown syscall names in the profile are errors, not warnings.")]
Caps = Annotated[list[str] | None, typer.Option(
    "--cap", metavar="CAP_NAME", rich_help_panel=_P,
    help="The capabilities Docker includes/excludes are matched against (repeatable; "
         "default: Docker's default container set; 'none': no capability).")]
PrintPrograms = Annotated[bool, typer.Option(
    "--print-programs", rich_help_panel=_P,
    help="With --policy and no command: print the compiled programs, disassembled, with "
         "their prog-array slots.")]
RecordProfile = Annotated[str | None, typer.Option(
    "--record-profile", metavar="OUT.json", rich_help_panel=_P,
    help="Write a profile allowing exactly the syscalls CMD made ('-': stdout); with "
         "--sweep, the minimal profile found.")]
Merge = Annotated[Path | None, typer.Option(
    "--merge", metavar="BASE.json", rich_help_panel=_P,
    help="With --record-profile: add what CMD made to the profile BASE.json.")]
Sweep = Annotated[bool, typer.Option(
    "--sweep", rich_help_panel=_P,
    help="Run CMD once per syscall it makes with only that syscall denied, and tabulate "
         "the outcomes (--json FILE: also as JSON).")]
SweepErrno = Annotated[str, typer.Option(
    "--sweep-errno", metavar="ERRNO", rich_help_panel=_P,
    help="The errno a denied syscall gets in a sweep (name or number).")]
SweepTimeout = Annotated[float, typer.Option(
    "--sweep-timeout", metavar="SECONDS", rich_help_panel=_P,
    help="Time limit of each sweep run.")]
SweepJobs = Annotated[int | None, typer.Option(
    "--sweep-jobs", metavar="N", rich_help_panel=_P,
    help="Sweep runs in parallel (default: the CPU count).")]
