"""Generate ``tracer/syscalls/_generated_classes.py``: strace's syscall classes per ABI.

Origin: strace 6.1 (git tag ``v6.1`` of https://github.com/strace/strace), the tables
``src/linux/{x86_64,i386,x32}/syscallent.h`` with the files they include
(``syscallent-common.h``, ``32/syscallent-common-32.h``).  Each entry's flags field
(``TD|TF|TST|TSTA``) names the classes of that syscall; the shorthands are those of
``src/sysent_shorthand_defs.h`` and the classes those of ``qualify_syscall_class`` in
``src/basic_filters.c``.  A syscall belongs to a class when it has all the class's bits.

Left out, on purpose:

* i386's socketcall/ipc subcalls (``32/subcallent.h``, numbers from 500): pseudo numbers
  strace gives the multiplexed calls, not numbers the kernel sees;
* names ending in ``#64`` in the x32 table: x86_64 calls that x32 cannot make
  (the kernel refuses them), which strace's x32 names never match.

Numbers are written as trace-run keys them (:mod:`probes.abi`): x32 with the x32 bit.
The script checks that every number it keeps names the same syscall in probes.abi.

Usage::

    python scripts/gen_syscall_classes.py STRACE_SOURCE_TREE        # rewrite the table
    python scripts/gen_syscall_classes.py STRACE_SOURCE_TREE --check

STRACE_SOURCE_TREE is a checkout of strace at v6.1 (or a bare repository: then the files
are read with ``git show v6.1:PATH``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tracer" / "syscalls" / "_generated_classes.py"
TAG = "v6.1"
X32_SYSCALL_BIT = 0x40000000

# shorthand (sysent_shorthand_defs.h) -> bit of ours
SHORTHANDS = {
    "TD": "desc", "TF": "file", "TI": "ipc", "TN": "network", "TP": "process",
    "TS": "signal", "TM": "memory", "TST": "stat", "TLST": "lstat", "TFST": "fstat",
    "TSTA": "stat_like", "TSF": "statfs", "TFSF": "fstatfs", "TSFA": "statfs_like",
    "PU": "pure", "TC": "creds", "TCL": "clock",
}
IGNORED = {"NF", "MA", "SI", "SE", "CST", "TSD", "CC", "0"}

# class name (as -e trace= spells it) -> the flags it needs (basic_filters.c)
CLASSES = {
    "%desc": "desc", "%file": "file", "%memory": "memory", "%process": "process",
    "%creds": "creds", "%signal": "signal", "%ipc": "ipc", "%network": "network",
    "%stat": "stat", "%lstat": "lstat", "%fstat": "fstat", "%%stat": "stat_like",
    "%statfs": "statfs", "%fstatfs": "fstatfs", "%%statfs": "statfs_like",
    "%pure": "pure", "%clock": "clock",
}

ENTRY = re.compile(r'^\[\s*(?:BASE_NR\s*\+\s*)?(\d+)\]\s*=\s*\{\s*\d+,\s*([^,]*),\s*SEN\([^)]*\),'
                   r'\s*"([^"]+)"')
INCLUDE = re.compile(r'^#include "([^"]+)"')


class Source:
    def __init__(self, tree: Path) -> None:
        self.tree = tree
        self.bare = not (tree / "src").is_dir()

    def read(self, path: str) -> str | None:
        if not self.bare:
            p = self.tree / path
            return p.read_text() if p.is_file() else None
        r = subprocess.run(["git", f"--git-dir={self.tree}", "show", f"{TAG}:{path}"],
                           capture_output=True, text=True, check=False)
        return r.stdout if r.returncode == 0 else None


def entries(src: Source, path: str) -> list[tuple[int, str, set[str]]]:
    text = src.read(path)
    if text is None:
        raise SystemExit(f"{path}: not found in the strace tree")
    out: list[tuple[int, str, set[str]]] = []
    for line in text.splitlines():
        m = INCLUDE.match(line)
        if m:
            inc = m.group(1)
            if "subcallent" in inc:
                continue
            base = str(Path(path).parent)
            for cand in (f"{base}/{inc}", f"src/linux/generic/{inc}"):
                cand = str(Path(cand)).replace("/x86_64/../", "/").replace("/i386/../", "/")
                cand = cand.replace("/x32/../", "/")
                if src.read(cand) is not None:
                    out += entries(src, cand)
                    break
            else:
                raise SystemExit(f"{path}: cannot find included {inc}")
            continue
        m = ENTRY.match(line)
        if not m:
            continue
        nr, flags, name = int(m.group(1)), m.group(2), m.group(3)
        bits: set[str] = set()
        for f in flags.replace(" ", "").split("|"):
            if f in SHORTHANDS:
                bits.add(SHORTHANDS[f])
            elif f not in IGNORED:
                raise SystemExit(f"{path}: unknown flag {f} of {name}")
        out.append((nr, name, bits))
    return out


def table(src: Source, abi: str) -> dict[int, tuple[str, set[str]]]:
    sys.path.insert(0, str(ROOT))
    from probes.abi import Abi, syscall_name, syscalls
    a = Abi(abi)
    known = syscalls(a)
    out: dict[int, tuple[str, set[str]]] = {}
    for nr, name, bits in entries(src, f"src/linux/{abi}/syscallent.h"):
        if name.endswith("#64"):
            continue
        key = nr | X32_SYSCALL_BIT if abi == "x32" else nr
        if key not in known:
            print(f"note: {abi} {nr} {name}: not in probes.abi, left out", file=sys.stderr)
            continue
        if syscall_name(a, key) != name:
            raise SystemExit(f"{abi} {nr}: strace names it {name}, probes.abi "
                             f"{syscall_name(a, key)}")
        out[key] = (name, bits)
    return out


def render(src: Source) -> str:
    lines = [
        '"""strace 6.1\'s syscall classes per ABI.  GENERATED by scripts/gen_syscall_classes.py;',
        "do not edit.",
        "",
        "Origin: strace v6.1, src/linux/{x86_64,i386,x32}/syscallent.h and the files they",
        "include; classes as src/basic_filters.c's qualify_syscall_class defines them.",
        "Numbers as probes.abi keys them (x32 with the x32 bit).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "CLASSES: dict[str, dict[str, tuple[int, ...]]] = {",
    ]
    for abi in ("x86_64", "i386", "x32"):
        t = table(src, abi)
        lines.append(f'    "{abi}": {{')
        for cls, bit in CLASSES.items():
            nrs = sorted(nr for nr, (_, bits) in t.items() if bit in bits)
            lines.append(f'        "{cls}": (')
            row = "           "
            for nr in nrs:
                item = f" {nr:#x}," if abi == "x32" else f" {nr},"
                if len(row) + len(item) > 92:
                    lines.append(row)
                    row = "           "
                row += item
            if row.strip():
                lines.append(row)
            lines.append("        ),")
        lines.append("    },")
    lines.append("}")
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree", type=Path, help="strace source tree (or bare git dir)")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = render(Source(args.tree))
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} is out of date", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
