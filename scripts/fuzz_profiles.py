"""A seccomp-profile fuzzer: no input may end trace-run in a Python traceback or a hang.

Cases are mutations of the real profiles in tests/policy/data (Docker-like,
containers-common's seccomp.json, the decision tables' and the bad-profile tables'
profiles) and structural garbage: wrong types, deep nesting, huge integers, unicode and
control characters, missing and unknown fields, huge arrays, truncated or non-UTF-8
text.  Each case is written to a file and goes through what ``trace-run --policy FILE
--print-programs`` does (load_profile, resolve for this host, compile_policy), in this
process for speed; one case in ``--cli-every`` also goes through the real CLI in a
subprocess, which must exit 0 or 2 with one-line ``trace-run: ...`` messages.

    python3 scripts/fuzz_profiles.py [-n 10000] [--seed 1] [--cli-every 100]

Exit status 1 when any case raised something other than ProfileError, or hung.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from probes.policy.errors import ProfileError  # noqa: E402

DATA = ROOT / "tests" / "policy" / "data"
HUGE = "9" * 5000
MAX_TEXT = 20 << 20     # a case is at most 20 MiB (trace-run's limit is 16 MiB)
ACTIONS = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
           "SCMP_ACT_TRAP", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_NOTIFY", "SCMP_ACT_X"]
OPS = ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT",
       "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_FOO"]
NUMBERS = [0, 1, -1, 5, 38, 4094, 4095, 4096, 65535, 65536 + 1, 1 << 31, 1 << 32,
           (1 << 64) - 1, 1 << 64, 10 ** 30, 1.5, 1e308]
STRINGS = ["", "read", "socket", "EPERM", "ENOSYS", "38", "EFOO", "-1", "CAP_SYS_ADMIN",
           "amd64", "x86", "5.8", "abc", "é", "\u202e", "\ud800", "a\nb", "\x00", "A" * 5000,
           "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_FOO"]
KEYS = ["defaultAction", "defaultErrnoRet", "defaultErrno", "architectures", "archMap",
        "syscalls", "names", "name", "action", "errnoRet", "errno", "args", "index",
        "value", "valueTwo", "op", "includes", "excludes", "caps", "arches", "minKernel",
        "flags", "listenerPath", "comment", "bogus", "linux", "seccomp", "ociVersion"]


def corpus() -> list[Any]:
    """The real profiles the tests use."""
    out: list[Any] = []
    for name in ("docker_like.json", "containers_common_seccomp.json"):
        out.append(json.loads((DATA / name).read_text()))
    for table in json.loads((DATA / "decisions.json").read_text()):
        if "profile" in table:
            out.append(table["profile"])
    for case in json.loads((DATA / "bad_profiles.json").read_text()):
        out.append(case["profile"])
    return out


class Raw:
    """A piece of JSON text inserted as it is (a huge integer, deep nesting)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _nodes(v: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _nodes(x, (*path, k))
    elif isinstance(v, list):
        for i, x in enumerate(v[:50]):
            out += _nodes(x, (*path, i))
    return out


def _get(v: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        v = v[p]
    return v


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = _get(root, path[:-1])
    parent[path[-1]] = value
    return root


def _garbage_value(r: random.Random) -> Any:
    kind = r.randrange(10)
    if kind == 0:
        return Raw(r.choice(["-", ""]) + HUGE)
    if kind == 1:
        depth = r.choice([50, 985, 1000, 3000, 100_000])
        return Raw("[" * depth + "]" * depth)
    if kind == 2:
        return [r.choice([*STRINGS, "read", "write"]) for _ in range(r.choice([0, 1, 100,
                                                                            20_000]))]
    if kind == 3:
        return r.choice(NUMBERS)
    if kind == 4:
        return r.choice(STRINGS)
    if kind == 5:
        return r.choice([None, True, False, [], {}, [[]], {"": None}])
    if kind == 6:
        return r.choice(ACTIONS + OPS)
    if kind == 7:
        return {r.choice(KEYS): _garbage_value(r) for _ in range(r.randint(0, 3))}
    if kind == 8:
        return [{"index": r.choice([0, 1, 5, 6, -1]), "value": r.choice(NUMBERS),
                 "valueTwo": r.choice(NUMBERS), "op": r.choice(OPS)}
                for _ in range(r.randint(0, 4))]
    return r.choice(NUMBERS + STRINGS)


def mutate(r: random.Random, base: Any) -> Any:
    v = json.loads(json.dumps(base))
    for _ in range(r.randint(1, 4)):
        nodes = _nodes(v)
        path = r.choice(nodes)
        target = _get(v, path)
        op = r.randrange(6)
        if op == 0 and path:                                  # delete
            parent = _get(v, path[:-1])
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        elif op == 1 and isinstance(target, dict):            # add a key
            target[r.choice(KEYS)] = _garbage_value(r)
        elif op == 2 and isinstance(target, list) and 0 < len(target) < 3000:  # duplicates
            target.extend(r.choice(target) for _ in range(r.choice([1, 10, 2000])))
        elif op == 3 and isinstance(target, int | float) and not isinstance(target, bool):
            v = _set(v, path, r.choice(NUMBERS))
        elif op == 4 and isinstance(target, str):
            v = _set(v, path, r.choice(STRINGS + ACTIONS + OPS))
        else:
            v = _set(v, path, _garbage_value(r))
    return v


def dumps(v: Any) -> str:
    raws: list[str] = []

    def default(o: Any) -> Any:
        if isinstance(o, Raw):
            raws.append(o.text)
            return f"\0RAW{len(raws) - 1}\0"
        raise TypeError(type(o).__name__)
    text = json.dumps(v, default=default)
    if not raws:
        return text
    # one pass, and no case past MAX_TEXT (duplicated nesting grows fast)
    out: list[str] = []
    size = 0
    for k, part in enumerate(re.split(r'"\\u0000RAW(\d+)\\u0000"', text)):
        piece = raws[int(part)] if k % 2 else part
        out.append(piece)
        size += len(piece)
        if size > MAX_TEXT:
            break
    return "".join(out)[:MAX_TEXT]


def structural(r: random.Random) -> bytes:
    kind = r.randrange(8)
    if kind == 0:
        return bytes(r.getrandbits(8) for _ in range(r.randint(0, 200)))
    if kind == 1:
        base = dumps(mutate(r, r.choice(corpus_cache)))
        return base[:r.randint(0, len(base))].encode()
    if kind == 2:
        return b"\xef\xbb\xbf" + dumps(r.choice(corpus_cache)).encode()
    if kind == 3:
        return r.choice([b"", b"null", b"[]", b"0", b'"x"', b"NaN", b"{}", b"{" * 10_000])
    if kind == 4:
        return ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": ' + "[" * 200_000).encode()
    if kind == 5:
        return dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 1, "value": k, "op": "SCMP_CMP_EQ"}]}
            for k in range(r.choice([100, 3000]))]}).encode()
    if kind == 6:
        return b'{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -0.0e-999}'
    return dumps(mutate(r, r.choice(corpus_cache))).encode("utf-8", "surrogatepass")


corpus_cache: list[Any] = []


def make_case(r: random.Random) -> bytes:
    if r.random() < 0.2:
        return structural(r)
    return dumps(mutate(r, r.choice(corpus_cache))).encode("utf-8", "surrogatepass")


class Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Hang


def in_process(path: str) -> str:
    """What --print-programs does, in this process: "ok", "refused" or raises."""
    from bpf_vm.host import FakeHost
    from probes.policy.compiler import compile_policy
    from probes.policy.models import load_profile
    from probes.policy.resolve import Environment, resolve
    try:
        policy = resolve(load_profile(path), Environment.from_host(), source=path)
    except ProfileError as exc:
        exc.lines()   # the CLI prints them: that must work too
        str(exc).encode("utf-8")
        return "refused"
    compile_policy(policy, host=FakeHost())
    return "ok"


def through_cli(path: str) -> str | None:
    """The real CLI; None when it behaved (exit 0 or 2, one-line messages)."""
    try:
        r = subprocess.run([sys.executable, "-c", "from tracer.cli import main; main()",
                            "--policy", path, "--print-programs"], capture_output=True,
                           timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "the CLI hung (120 s)"
    err = r.stderr.decode("utf-8", "replace")
    if "Traceback" in err or r.returncode not in (0, 2):
        return f"exit {r.returncode}: {err[-2000:]}"
    if r.returncode == 2 and not all(line.startswith("trace-run: ")
                                     for line in err.splitlines()):
        return f"exit 2 with a message line not from trace-run: {err[-500:]}"
    return None


def run(n: int, seed: int, cli_every: int, log: Callable[[str], None] = print,
        timeout: int = 60) -> dict[str, Any]:
    if not corpus_cache:
        corpus_cache.extend(corpus())
    r = random.Random(seed)
    counts: Counter[str] = Counter()
    failures: list[str] = []
    old = signal.signal(signal.SIGALRM, _alarm)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            data = make_case(r)
            path = os.path.join(tmp, f"case{i}.json")
            with open(path, "wb") as f:
                f.write(data)
            signal.alarm(timeout)
            try:
                counts[in_process(path)] += 1
            except Hang:
                counts["hang"] += 1
                failures.append(f"case {i} (seed {seed}): hung over {timeout} s")
            except Exception:
                counts["traceback"] += 1
                failures.append(f"case {i} (seed {seed}):\n{traceback.format_exc()}")
            finally:
                signal.alarm(0)
            if cli_every and i % cli_every == 0:
                counts["cli"] += 1
                bad = through_cli(path)
                if bad is not None:
                    counts["cli_failures"] += 1
                    failures.append(f"case {i} (seed {seed}) through the CLI: {bad}")
            os.unlink(path)
            if (i + 1) % 1000 == 0:
                log(f"  {i + 1} cases, {dict(counts)}, {time.monotonic() - t0:.0f} s")
    signal.signal(signal.SIGALRM, old)
    return {"cases": n, "seconds": round(time.monotonic() - t0, 1), **counts,
            "failures": failures}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="cases (default 10000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cli-every", type=int, default=100,
                    help="one case in N also through the CLI (0: never)")
    args = ap.parse_args(argv)
    result = run(args.n, args.seed, args.cli_every)
    for f in result["failures"][:20]:
        print(f, file=sys.stderr)
    summary = {k: v for k, v in result.items() if k != "failures"}
    print(f"fuzz_profiles: {json.dumps(summary)}")
    bad = result.get("traceback", 0) + result.get("hang", 0) + result.get("cli_failures", 0)
    print(f"tracebacks: {result.get('traceback', 0)}, hangs: {result.get('hang', 0)},"
          f" CLI failures: {result.get('cli_failures', 0)} in {args.n} cases")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
