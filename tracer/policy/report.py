"""The report at the end of an audited (or enforced) run: what the profile denied or
would have denied, killed or logged, each syscall once with its count and its first call
with decoded arguments.  Plain text for people; JSON when the report file ends in .json.
"""

from __future__ import annotations

import json
from typing import Any

from .handler import Seen, Tally

__all__ = ["report_json", "report_text"]


def _action(s: Seen) -> str:
    return str(s.verdict)


def report_text(tally: Tally, *, profile: str, default: str, audit: bool) -> str:
    denied = tally.denied()
    verb = "would have been" if audit else "were"
    what = "audit" if audit else "enforcement"
    head = f"trace-run: {what} of {profile} (default action {default}): "
    lines: list[str] = []
    if not denied:
        lines.append(head + f"no syscall {verb} denied or killed"
                     f" ({tally.calls} syscalls checked)")
    else:
        total = sum(s.count for s in denied)
        lines.append(head + f"{len(denied)} syscall(s) {verb} denied or killed,"
                     f" {total} call(s) of {tally.calls} checked")
        rows = [("SYSCALL", "ABI", "ACTION", "CALLS", "FIRST CALL")]
        rows += [(s.name, s.abi.value, _action(s), str(s.count),
                  f"[pid {s.first_pid}] {s.first_call}") for s in denied]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            lines.append("  " + "  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]),
                                           r[2].ljust(widths[2]), r[3].rjust(widths[3]),
                                           r[4]]).rstrip())
    for s in tally.logged():
        lines.append(f"  logged (SCMP_ACT_LOG): {s.name} ({s.abi.value}), {s.count} call(s),"
                     f" first [pid {s.first_pid}] {s.first_call}")
    if tally.faults:
        lines.append(f"  {tally.faults} syscall(s) ran unchecked after a BPF fault")
    return "\n".join(lines) + "\n"


def _row(s: Seen) -> dict[str, Any]:
    return {"syscall": s.name, "abi": s.abi.value, "action": s.verdict.action.value,
            "errno": s.verdict.errno, "count": s.count, "first_pid": s.first_pid,
            "first_call": s.first_call}


def report_json(tally: Tally, *, profile: str, default: str, audit: bool) -> str:
    obj = {"mode": "audit" if audit else "enforce", "profile": profile,
           "default_action": default, "syscalls_checked": tally.calls,
           "denied": [_row(s) for s in tally.denied()],
           "logged": [_row(s) for s in tally.logged()], "faults": tally.faults}
    return json.dumps(obj, indent=2) + "\n"
