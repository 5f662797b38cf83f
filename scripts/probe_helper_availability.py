#!/usr/bin/env python3
"""Measure which helpers each program type may call, on the host kernel.

For every helper id and each program type the verifier models, load a two-instruction
program that calls it and read the verifier's first complaint: "program of this type
cannot use helper" / "unknown func" means unavailable; anything else (an argument
check, a GPL refusal) means the kernel found a prototype.  Writes
bpf_vm/verifier/_helper_availability.py (checked in, so the verifier does not need
bpf(2)); run again on a newer kernel to refresh it.  Needs root (CAP_BPF, CAP_PERFMON).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bpf_vm import kernel as K  # noqa: E402
from bpf_vm._generated_helper_ids import HELPER_NAMES  # noqa: E402
from bpf_vm.kernel_verify import kernel_verify  # noqa: E402
from bpf_vm.verifier.ctx import KERNEL_NUMBER, ProgKind  # noqa: E402


def main() -> int:
    out: dict[str, list[int]] = {}
    for kind in ProgKind:
        flags = K.BPF_F_SLEEPABLE if kind is ProgKind.SYSCALL else 0
        ids = []
        for fid in sorted(HELPER_NAMES):
            if fid == 0:
                continue
            code = struct.pack("<BBhi", 0x85, 0, 0, fid) + struct.pack("<BBhi", 0x95, 0, 0, 0)
            log = kernel_verify(code, KERNEL_NUMBER[kind], flags=flags).log
            if "cannot use helper" in log or "unknown func" in log or "invalid func" in log:
                continue
            ids.append(fid)
        out[kind.value] = ids
    lines = ['"""Helpers each program type may call on Linux 6.18 (measured on the host by',
             'scripts/probe_helper_availability.py; do not edit)."""', "",
             "AVAILABLE: dict[str, frozenset[int]] = {"]
    for kind, ids in out.items():
        body = ", ".join(str(i) for i in ids)
        lines.append(f'    "{kind}": frozenset({{{body}}}),')
    lines.append("}")
    target = ROOT / "bpf_vm" / "verifier" / "_helper_availability.py"
    text = "\n".join(lines) + "\n"
    import textwrap
    wrapped = []
    for line in text.splitlines():
        if len(line) > 99:
            head, _, rest = line.partition("{")
            wrapped.append(head + "{")
            body = rest.rstrip("}),")
            wrapped.extend("        " + w for w in textwrap.wrap(body, 88))
            wrapped.append("    }),")
        else:
            wrapped.append(line)
    target.write_text("\n".join(wrapped) + "\n")
    print(f"wrote {target}: " + ", ".join(f"{k} {len(v)}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
