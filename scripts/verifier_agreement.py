"""How far bpf_vm.verifier decides as the host kernel's verifier does, on the corpus of
tests/verifier/corpus/*.jsonl (built by scripts/build_verifier_corpus.py).

Each record is loaded now into the host kernel (tests/verifier/kernel_load.py: real maps,
the record's program type, root's privileges) and into our verifier
(``bpf_vm.verifier.verify_bytes``, ``privileged=True``, the record's ``func_info``, the
maps created in a VM and passed by their index, which is what the record's MAP_FD
ld_imm64 carry).  Printed, as plain text a
README can quote:

* verdict agreement overall (target >= 97%) and per class (100% on the hand-written
  classes), and whether the kernel still decides as recorded;
* on programs both refuse, the same error line (target >= 90%);
* programs of the hand-written classes we accept and the kernel refuses (target: none);
* for programs both accept that can be run deterministically (syscall programs that call
  no helper outside map operations, tail calls and bpf_loop), r0 and the context after
  BPF_PROG_TEST_RUN in the kernel and after ``bpf_vm.Vm().run`` compared;
* the disagreements grouped by class, with the kernel's and our message.

    python3 scripts/verifier_agreement.py [--md /work/notes/verifier_disagreements.md]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import types
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.verifier import kernel_load as KL  # noqa: E402

CORPUS = ROOT / "tests" / "verifier" / "corpus"
TARGET_VERDICT, TARGET_MESSAGE = 0.97, 0.90
RUN_HELPERS = frozenset({1, 2, 3, 12, 181})   # map ops, tail call, bpf_loop: deterministic
CTX_SIZE = 512
TIMEOUT = 5.0                                 # seconds of our verifier per program
#: classes walked to the end whatever it takes: the kernel's 1,000,000-instruction limit
#: is their verdict, and a Python walk of a million instructions takes minutes
UNTIMED = frozenset({"complexity"})
CTX_IN = bytes(range(256)) * (CTX_SIZE // 256)


@dataclass
class Outcome:
    """One record judged by both sides now."""
    rec: dict[str, Any]
    k_accepted: bool
    k_error: str | None
    ours_accepted: bool | None       # None: our verifier raised
    ours_error: str | None
    run: str | None = None           # None: not run; "same"; or what differs
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return str(self.rec["name"])

    @property
    def cls(self) -> str:
        return str(self.rec["cls"])

    @property
    def hand(self) -> bool:
        return self.name.startswith("hand/")

    @property
    def agree(self) -> bool:
        return self.ours_accepted == self.k_accepted

    @property
    def stale(self) -> bool:
        """The kernel decides otherwise than when the corpus was built."""
        k = self.rec["kernel"]
        return (k["accepted"], k["error"]) != (self.k_accepted, self.k_error)


@dataclass
class Evaluation:
    outcomes: list[Outcome] = field(default_factory=list)

    def agreement(self, of: list[Outcome] | None = None) -> tuple[int, int]:
        xs = self.outcomes if of is None else of
        return sum(o.agree for o in xs), len(xs)

    def by_class(self) -> dict[str, list[Outcome]]:
        out: dict[str, list[Outcome]] = defaultdict(list)
        for o in self.outcomes:
            out[o.cls].append(o)
        return dict(sorted(out.items()))

    def hand_classes(self) -> set[str]:
        return {o.cls for o in self.outcomes if o.hand}

    def both_refuse(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ours_accepted is False and not o.k_accepted]

    def same_message(self) -> tuple[int, int]:
        xs = self.both_refuse()
        return sum(o.ours_error == o.k_error for o in xs), len(xs)

    def unsound_hand(self) -> list[Outcome]:
        """Hand-written programs we accept and the kernel refuses."""
        return [o for o in self.outcomes if o.hand and o.ours_accepted and not o.k_accepted]

    def runs(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.run is not None and not
                o.run.startswith("skipped")]

    def stale(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.stale]


def load_corpus(directory: Path = CORPUS) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(directory.glob("*.jsonl"))
            for line in path.read_text().splitlines() if line.strip()]


# --- our side -----------------------------------------------------------------------------

def vm_maps(specs: list[dict[str, Any]], vm: Any) -> list[Any]:
    """The record's maps in ``vm`` (with their initial value, frozen as asked); a type
    the VM does not implement becomes a stand-in carrying the attributes the verifier
    reads (type, sizes, max_entries, flags)."""
    from bpf_vm.maps import MapType
    from bpf_vm.objfile import MapDef, create_map
    out = []
    for i, s in enumerate(specs):
        tid = KL.map_type_id(s["type"])
        d = MapDef(f"m{i}", tid, s["key_size"], s["value_size"], s["max_entries"],
                   s.get("flags", 0), initial=bytes.fromhex(s["init"]) if s.get("init")
                   else None, readonly=bool(s.get("freeze")))
        try:
            out.append(create_map(d, vm))
        except Exception:
            out.append(types.SimpleNamespace(
                name=d.name, type=MapType(tid), key_size=d.key_size,
                value_size=d.value_size, max_entries=d.max_entries, flags=d.flags,
                frozen=d.readonly, fd=-1, spec=None))
    return out


def by_index(code: bytes) -> bytes:
    """MAP_FD/MAP_VALUE (imm = index) as the VM's MAP_IDX/MAP_IDX_VALUE, for running."""
    out = bytearray(code)
    pc = 0
    while pc < len(out) // 8:
        op, regs, off, imm = KL._INSN.unpack_from(out, pc * 8)
        if op == KL.LD_IMM64:
            if regs >> 4 in (KL.PSEUDO_MAP_FD, KL.PSEUDO_MAP_VALUE):
                regs = (regs & 0xF) | (5 if regs >> 4 == KL.PSEUDO_MAP_FD else 6) << 4
                KL._INSN.pack_into(out, pc * 8, op, regs, off, imm)
            pc += 2
        else:
            pc += 1
    return bytes(out)


class _Timeout(Exception):
    pass


def _alarm(_sig: int, _frame: Any) -> None:
    raise _Timeout


def ours(rec: dict[str, Any], timeout: float = 0) -> tuple[bool | None, str | None]:
    """Our verifier's (accepted, error); (None, 'crash: ...') when it raised, (None,
    'timeout ...') when it took more than ``timeout`` seconds (0: no limit)."""
    if timeout:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return _ours(rec)
        except _Timeout:
            return None, f"timeout: our verifier took more than {timeout:g} s"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    return _ours(rec)


def _ours(rec: dict[str, Any]) -> tuple[bool | None, str | None]:
    """bpf_vm.verifier.verify_bytes when it exists (it refuses malformed code at the
    kernel's phase, in its words); else Program.from_bytes, whose InvalidInstruction is
    a refusal with the decoder's reason, then verify.  The record's ``func_info`` goes to
    the verifier as the load's BTF func_info would."""
    from bpf_vm import Program, Vm
    from bpf_vm import verifier as V
    from bpf_vm.errors import InvalidInstruction
    code = bytes.fromhex(rec["insns"])
    name, func_info = rec["name"][-15:], bool(rec.get("func_info", False))
    try:
        maps = dict(enumerate(vm_maps(rec.get("maps", []), Vm())))
        if hasattr(V, "verify_bytes"):
            v = V.verify_bytes(code, name=name, license=rec["license"], func_info=func_info,
                               prog_type=rec["prog_type"], maps=maps, log_level=1,
                               privileged=True)
        else:
            try:
                prog = Program.from_bytes(code, name=name, license=rec["license"],
                                          meta={"func_info": func_info})
            except InvalidInstruction as exc:
                return False, exc.reason
            v = V.verify(prog, prog_type=rec["prog_type"], maps=maps, log_level=1,
                         privileged=True)
    except _Timeout:
        raise
    except Exception as exc:
        return None, f"crash: {type(exc).__name__}: {exc}"
    # the error line by the kernel's rule: the log's last line before the statistics
    return v.accepted, None if v.accepted else (KL.error_line(v.log) or v.error)


def runnable(rec: dict[str, Any]) -> str | None:
    """None if the record can be run deterministically in both, else why not."""
    if rec["prog_type"] != "syscall":
        return "skipped: only syscall programs run on plain memory in both"
    code = bytes.fromhex(rec["insns"])
    for pc in range(len(code) // 8):
        op, regs, _off, imm = KL._INSN.unpack_from(code, pc * 8)
        if op == 0x85 and regs >> 4 == 0 and imm not in RUN_HELPERS:
            return f"skipped: calls helper {imm}"
    return None


def vm_address(v: int) -> bool:
    """Whether ``v`` looks like an address of the VM's space (slot n at n << 44, regions
    within its first 4 GiB): a pointer, whose value the kernel's cannot match."""
    return 0 < v >> 44 < 1 << 12 and not (v >> 32) & 0xFFF


def compare_run(rec: dict[str, Any], fd: int) -> str:
    """Run the loaded program ``fd`` (its kernel maps fresh) and the VM on CTX_IN.

    Results that depend on where things are in memory are not compared: the kernel runs
    twice, the second time with a context twice as large (another kmalloc cache, so
    another address), and a difference means an address leaked into r0 or the context;
    a VM r0 or context word that is a VM address means the same on our side."""
    from bpf_vm import Program, Vm
    from bpf_vm.errors import BudgetExceeded
    try:
        r0, ctx = KL.test_run(fd, CTX_IN)
        r0b, ctxb = KL.test_run(fd, CTX_IN + bytes(CTX_SIZE))
    except OSError as exc:
        return f"skipped: BPF_PROG_TEST_RUN refused ({exc})"
    if (r0b, ctxb[:CTX_SIZE]) != (r0, ctx):
        return "skipped: the kernel's result depends on addresses"
    vm = Vm()
    try:
        prog = Program.from_bytes(by_index(bytes.fromhex(rec["insns"])), name="run",
                                  license=rec["license"],
                                  maps=vm_maps(rec.get("maps", []), vm))
        res = vm.run(prog, CTX_IN)
    except BudgetExceeded:
        return "skipped: longer than the VM's instruction budget"
    except Exception as exc:
        return f"VM: {type(exc).__name__}: {exc}"
    out = res.ctx or b""
    words = [int.from_bytes(out[i:i + 8], "little") for i in range(0, len(out), 8)]
    if vm_address(res.r0) or any(map(vm_address, words)):
        return "skipped: the VM's result holds an address"
    diffs = []
    if res.r0 & 0xFFFFFFFF != r0:
        diffs.append(f"r0 kernel {r0:#x}, VM {res.r0 & 0xFFFFFFFF:#x}")
    if out != ctx:
        at = next(i for i in range(CTX_SIZE) if out[i:i + 1] != ctx[i:i + 1])
        diffs.append(f"ctx differs from byte {at}")
    return "; ".join(diffs) or "same"


def evaluate(records: list[dict[str, Any]], *, run: bool = True,
             timeout: float = TIMEOUT) -> Evaluation:
    """Both verdicts for every record (and the runs); our verifier gets ``timeout``
    seconds per program.  Raises KL.BpfRefused when bpf(2) is refused here."""
    ev = Evaluation()
    for rec in records:
        keep = run and runnable(rec) is None
        v, kmaps = KL.load_record(rec, keep=keep)
        try:
            t0 = time.perf_counter()
            acc, err = ours(rec, 0 if rec["cls"] in UNTIMED else timeout)
            o = Outcome(rec, v.accepted, v.error, acc, err,
                        seconds=time.perf_counter() - t0)
            if run and v.accepted and acc:
                o.run = compare_run(rec, v.fd) if v.fd is not None else runnable(rec)
        finally:
            if v.fd is not None:
                KL.K.close_fd(v.fd)
            kmaps.close()
        ev.outcomes.append(o)
    return ev


# --- the report ---------------------------------------------------------------------------

def pct(a: int, n: int) -> str:
    return f"{a}/{n} ({100 * a / n:.1f}%)" if n else "0/0"


def family(o: Outcome) -> str:
    return o.name.split("/", 1)[0]


def verdict_text(accepted: bool | None, error: str | None) -> str:
    if accepted is None:
        return error or "crash"
    return "accepted" if accepted else f"refused: {error}"


def report(ev: Evaluation) -> str:
    hand = ev.hand_classes()
    lines = [f"verifier agreement with the host kernel ({len(ev.outcomes)} programs, "
             "root's verdicts)", ""]
    fams = Counter(family(o) for o in ev.outcomes)
    lines.append("corpus: " + ", ".join(f"{f} {n}" for f, n in sorted(fams.items())))
    total = len(ev.outcomes)
    lines.append(f"kernel decides as recorded: {pct(total - len(ev.stale()), total)}")
    a, n = ev.agreement()
    lines.append(f"verdict agreement: {pct(a, n)}  (target >= {TARGET_VERDICT:.0%})  "
                 f"{'OK' if n and a / n >= TARGET_VERDICT else 'BELOW TARGET'}")
    m, r = ev.same_message()
    ok = "OK" if r and m / r >= TARGET_MESSAGE else "BELOW TARGET"
    lines.append(f"same error line when both refuse: {pct(m, r)}  (target >= "
                 f"{TARGET_MESSAGE:.0%})  {ok}")
    bad = ev.unsound_hand()
    lines.append(f"hand-written programs we accept and the kernel refuses: {len(bad)}  "
                 f"(target 0)")
    runs = ev.runs()
    same = sum(o.run == "same" for o in runs)
    lines.append("runs compared (r0 and ctx, kernel BPF_PROG_TEST_RUN vs VM): "
                 f"{pct(same, len(runs))}")
    skips = Counter(o.run for o in ev.outcomes if o.run and o.run.startswith("skipped: ")
                    and not o.run.startswith(("skipped: only", "skipped: calls")))
    if skips:
        lines.append("  not compared: " + "; ".join(f"{n} {why[9:]}"
                                                    for why, n in skips.most_common()))
    crashes = [o for o in ev.outcomes if o.ours_accepted is None]
    if crashes:
        lines.append(f"our verifier raised on {len(crashes)} programs")
    slow = sorted(ev.outcomes, key=lambda o: -o.seconds)[:3]
    lines.append("slowest for our verifier: " + ", ".join(f"{o.name} {o.seconds:.1f}s"
                                                           for o in slow))
    lines += ["", "per class (* = hand-written; target 100%):"]
    for cls, xs in ev.by_class().items():
        a, n = ev.agreement(xs)
        mark = "*" if cls in hand else " "
        lines.append(f"  {mark} {cls:<24} {pct(a, n):>18}"
                     + ("" if a == n else f"   {n - a} disagree"))
    lines += ["", "disagreements by class (kernel / ours):"]
    for cls, xs in ev.by_class().items():
        dis = [o for o in xs if not o.agree or (o.ours_accepted is False and not o.k_accepted
                                                 and o.ours_error != o.k_error)]
        if not dis:
            continue
        lines.append(f"  [{cls}] {len(dis)}")
        for o in dis:
            lines.append(f"    {o.name}")
            lines.append(f"      kernel: {verdict_text(o.k_accepted, o.k_error)}")
            lines.append(f"      ours:   {verdict_text(o.ours_accepted, o.ours_error)}")
    diff_runs = [o for o in runs if o.run != "same"]
    if diff_runs:
        lines += ["", "runs that differ:"]
        lines += [f"  {o.name}: {o.run}" for o in diff_runs]
    stale = ev.stale()
    if stale:
        lines += ["", "the kernel now decides otherwise than recorded (rebuild the corpus):"]
        for o in stale:
            was = verdict_text(o.rec["kernel"]["accepted"], o.rec["kernel"]["error"])
            lines.append(f"  {o.name}: recorded {was}; now {verdict_text(o.k_accepted, o.k_error)}")
    return "\n".join(lines) + "\n"


def markdown(ev: Evaluation) -> str:
    """The disagreements grouped by class, for the notes: both verdicts side by side,
    most frequent (kernel line, our line) pairs first."""
    text = report(ev).split("\n\nper class")[0]
    out = ["# Verifier disagreements with the host kernel", "",
           "Written by scripts/verifier_agreement.py (overwritten each run).", "",
           "```", text, "```", ""]
    groups: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    examples: dict[tuple[str, str, str], str] = {}
    for o in ev.outcomes:
        wrong_msg = o.ours_accepted is False and not o.k_accepted and o.ours_error != o.k_error
        if o.agree and not wrong_msg:
            continue
        pair = (verdict_text(o.k_accepted, o.k_error), verdict_text(o.ours_accepted,
                                                                     o.ours_error))
        groups[o.cls][pair] += 1
        examples.setdefault((o.cls, *pair), o.name)
    hand = ev.hand_classes()
    for cls in sorted(groups, key=lambda c: (c not in hand, -sum(groups[c].values()))):
        kind = "hand-written" if cls in hand else "generated"
        out += [f"## {cls} ({kind}: {sum(groups[cls].values())})", "",
                "| n | kernel | ours | example |", "|---|---|---|---|"]
        for (k, us), n in groups[cls].most_common():
            cell = [x.replace("|", "\\|") for x in (k, us, examples[(cls, k, us)])]
            out.append(f"| {n} | `{cell[0]}` | `{cell[1]}` | {cell[2]} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--md", type=Path, default=Path("/work/notes/verifier_disagreements.md"),
                    help="where to write the disagreements (markdown); '-' for nowhere")
    ap.add_argument("--no-run", action="store_true", help="skip the run comparisons")
    ap.add_argument("--timeout", type=float, default=TIMEOUT,
                    help="seconds our verifier may take per program (0: no limit)")
    args = ap.parse_args(argv)
    reason = KL.unavailable_reason()
    if reason:
        print(f"cannot ask the kernel: {reason}", file=sys.stderr)
        return 2
    ev = evaluate(load_corpus(args.corpus), run=not args.no_run, timeout=args.timeout)
    print(report(ev), end="")
    if str(args.md) != "-":
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(markdown(ev))
    return 0


if __name__ == "__main__":
    sys.exit(main())
