"""``--record-profile``: the profile that allows exactly what a command did.

Every syscall entry of every process and thread of the command is seen by the handler
(the loop calls it for each tracee from the command's execve on, which is also where a
container runtime installs its filter).  The profile is an OCI ``linux.seccomp`` object:
``defaultAction`` SCMP_ACT_ERRNO with ``defaultErrnoRet`` 1 (EPERM), the architectures
the calls came through, and one SCMP_ACT_ALLOW rule listing the names, sorted, so the
same behaviour always gives the same file.

With ``--merge BASE``, the base profile is kept as it is and the observed syscalls it
does not already allow unconditionally are added: into its first unconditional ALLOW rule
(no ``args``, ``includes`` or ``excludes``), or as a new rule at the end.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from probes.abi import Abi, syscall_number
from probes.policy.models import Action, Arch, Profile
from tracer.handler import ALLOW, Decision, SyscallCall, Tracee

__all__ = ["RecordingHandler", "profile_json", "recorded_profile"]

_ARCH_OF = {Abi.X86_64: Arch.X86_64, Abi.I386: Arch.X86, Abi.X32: Arch.X32}


class RecordingHandler:
    """Counts every syscall by (ABI, name) and lets it run."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[Abi, str]] = Counter()

    def on_entry(self, call: SyscallCall, tracee: Tracee) -> Decision:
        self.counts[(call.abi, call.name)] += 1
        return ALLOW

    def on_exit(self, call: SyscallCall, ret: int, tracee: Tracee) -> None:
        return None

    def nameable(self) -> tuple[set[str], set[Abi], list[str]]:
        """(names a profile can list, the ABIs used, numbers no table names)."""
        names: set[str] = set()
        unnamed: list[str] = []
        abis: set[Abi] = set()
        for abi, name in self.counts:
            abis.add(abi)
            if syscall_number(abi, name) is None:
                unnamed.append(f"{abi.value} {name}")
            else:
                names.add(name)
        return names, abis, sorted(unnamed)


def _arches(abis: set[Abi]) -> list[str]:
    return [_ARCH_OF[a].value for a in (Abi.X86_64, Abi.I386, Abi.X32)
            if a is Abi.X86_64 or a in abis]


def _allows_outright(profile: Profile, name: str) -> bool:
    if profile.default_action is Action.ALLOW:
        return True
    return any(r.action is Action.ALLOW and not r.args and r.includes is None
               and r.excludes is None and name in r.syscall_names for r in profile.syscalls)


def recorded_profile(names: set[str], abis: set[Abi], base: Profile | None = None
                     ) -> dict[str, Any]:
    """The profile as a JSON-ready dict with the spec's key order."""
    if base is None:
        return {"defaultAction": Action.ERRNO.value, "defaultErrnoRet": 1,
                "architectures": _arches(abis),
                "syscalls": [{"names": sorted(names), "action": Action.ALLOW.value}]}
    out: dict[str, Any] = json.loads(base.model_dump_json(by_alias=True,
                                                          exclude_defaults=True))
    missing = sorted(n for n in names if not _allows_outright(base, n))
    if not base.arch_map:
        have = out.get("architectures") or []
        want = _arches(abis)
        if have or want != [Arch.X86_64.value]:
            out["architectures"] = have + [a for a in want if a not in have]
    if missing:
        rules: list[dict[str, Any]] = out.setdefault("syscalls", [])
        for rule in rules:
            if (rule.get("action") == Action.ALLOW.value and not rule.get("args")
                    and "includes" not in rule and "excludes" not in rule
                    and rule.get("names")):
                rule["names"] = sorted(set(rule["names"]) | set(missing))
                break
        else:
            rules.append({"names": missing, "action": Action.ALLOW.value,
                          "comment": "recorded by trace-run"})
    return out


def profile_json(profile: dict[str, Any]) -> str:
    return json.dumps(profile, indent=2) + "\n"
