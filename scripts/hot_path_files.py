"""Which of the project's files run for every syscall of a traced command.

    python3 scripts/hot_path_files.py [--count N]

Runs ``trace-run -o /dev/null dd if=/dev/zero of=/dev/null bs=1 count=N`` in this process,
then the same with count=2N, with a profile hook that counts Python calls per file.  The
difference between the two runs is what the extra 2N syscalls cost, so start-up and
loading (the same in both) drop out.  It lists the files of ``bpf_vm``, ``probes`` and
``tracer`` whose functions are called at least once per syscall.  The code the
translating engine generates is shown as ``<generated>``.  Used to check how many
files one syscall's path crosses (DESIGN.md, "The path of one syscall").
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000, help="bytes dd copies (2 syscalls each)")
    args = ap.parse_args()

    from tracer import cli

    calls: collections.Counter[str] = collections.Counter()
    roots = tuple(str(ROOT / pkg) + os.sep for pkg in ("bpf_vm", "probes", "tracer"))

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            name = frame.f_code.co_filename
            if name.startswith(roots):
                calls[str(Path(name).relative_to(ROOT))] += 1
            elif name.startswith("<"):
                calls["<generated>"] += 1

    def run(count: int) -> collections.Counter[str]:
        calls.clear()
        argv = ["-o", os.devnull, "dd", "if=/dev/zero", "of=/dev/null", "bs=1",
                f"count={count}", "status=none"]
        sys.setprofile(hook)
        try:
            cli.app(argv, prog_name="trace-run", standalone_mode=False)
        except SystemExit:
            pass
        finally:
            sys.setprofile(None)
        return collections.Counter(calls)

    small, large = run(args.count), run(2 * args.count)
    syscalls = 2 * args.count          # the extra syscalls of the larger run
    per = {f: (large[f] - small[f]) / syscalls for f in large}
    hot = sorted((f for f, n in per.items() if n >= 1.0), key=lambda f: -per[f])
    for f in hot:
        print(f"{per[f]:7.1f} calls/syscall  {f}")
    print(f"{len(hot)} files run for every syscall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
