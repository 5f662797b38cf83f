"""Run the test vectors of the bpf_conformance suite against ``bpf-vm-conformance``.

The suite (github.com/Alan-Jowett/bpf_conformance) is not vendored here: point this
script at a checkout of its ``tests`` directory::

    git clone https://github.com/Alan-Jowett/bpf_conformance /tmp/bpf_conformance
    python3 scripts/conformance_suite.py /tmp/bpf_conformance/tests
    python3 scripts/conformance_suite.py /tmp/bpf_conformance/tests --kernel   # + oracle
    python3 scripts/conformance_suite.py DIR --json > summary.json
    python3 scripts/conformance_suite.py DIR --plugin bpf-vm-conformance       # real process

Every ``*.data`` file under DIR (recursively) is one test.  Its sections are read as the
suite's runner reads them: ``-- raw`` (64-bit instruction words in hex, one a line) gives
the program when present; otherwise ``-- asm`` is assembled by the small assembler below,
which implements the suite's own syntax (``mov32 %r0, 1``, ``ldxw r0, [r1+2]``,
``lock fetch add [r10-8], r1``, ``jeq r1, 0xb, label``, ``call local f``...; this is not
our kernel/LLVM syntax).  ``-- mem`` is the input memory (r1 = its address, r2 = its
length), ``-- result`` the expected r0 (64 bits), ``-- error`` means the plugin must fail
(its text need not match).  Sections such as ``-- c`` are ignored.

The program and memory go to the plugin exactly as the suite's runner sends them (hex
bytes on stdin, memory as argv[1]); by default ``bpf_vm.conformance.main`` is called in
process (same code as the console script, without 300 process start-ups), ``--plugin``
runs a command instead.

Outcomes, one line per test and a summary:

* ``pass``;
* ``FAIL``: r0 differs, the plugin failed where a result was expected (or succeeded where
  an error was), or crashed: exit status 1;
* ``xfail``: a listed divergence (``KNOWN_DIVERGENCES``) where the test expects what the
  Linux kernel does not do; the VM follows the kernel.  ``--kernel`` re-checks each claim
  against the host kernel and turns a stale entry into a failure;
* ``skip``: the test needs what the plugin protocol cannot express (maps, helpers) or a
  feature the VM deliberately leaves out (``callx``, packet LD_ABS/LD_IND).

With ``--kernel`` every program also runs in the host kernel (``bpf_vm.kernel``: a
BPF_PROG_TYPE_SYSCALL program under BPF_PROG_TEST_RUN, which reports the low 32 bits of
r0), and each line shows whether the kernel loads it and what it returns.  A test the VM
passes but whose r0 the kernel computes differently is a failure.  A passing test whose
program the kernel refuses to load is noted, not failed: the VM implements RFC 9669 where
the verifier is stricter: a shift by an immediate out of range, division by the immediate
0, unreachable instructions, misaligned context accesses or a moved context pointer.

A file with both ``-- result`` and ``-- error`` (``call_runtime.data``) is taken as
expecting an error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
import struct
import subprocess
import sys
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

MASK64 = (1 << 64) - 1

#: Tests whose expectation is not what the Linux kernel computes.  Keyed by the path
#: relative to the tests directory; the reason says what the kernel does instead.  The
#: VM follows the kernel, so these fail as the suite writes them.
KNOWN_DIVERGENCES: dict[str, str] = {
    "call_local.data": "`stdw [r10-4], ...` writes 8 bytes across the top of the stack: "
                       "the kernel refuses the program (misaligned stack access), the VM "
                       "faults",
    "rfc9669/sec_4_1_div32.data": "expects dst unchanged after div32 by a zero register; "
                                  "the kernel (and RFC 9669) set it to 0",
    "rfc9669/sec_4_1_mod64.data": "`jne r5, 0x0000000100000000`: a jump imm has 32 bits "
                                  "(0), so the branch is taken: r0 = 0",
    **{f"rfc9669/sec_4_1_{op}.data":
       f"`jne rX, {imm}` compares the zero-extended 32-bit result with the sign-extended "
       "imm, so the branch is taken: r0 = 0"
       for op, imm in (("arsh32", "0xffffffff"), ("neg32", "0xffffffff"),
                       ("sdiv32", "0xfffffffc"), ("smod32", "0xffffffff"),
                       ("sub32", "0xffffffff"), ("xor32", "0xff0000ff"))},
    "rfc9669/sec_5_3_lock_cmpxchg32.data": "`jne r0, 0x9abcdef0` compares the zero-extended "
                                           "32-bit result with a sign-extended imm: r0 = 0",
    "rfc9669/sec_5_3_lock_xchg32.data": "`jne r2, 0xaabbccdd` compares the zero-extended "
                                        "32-bit load with a sign-extended imm: r0 = 0",
    "rfc9669/sec_5_3_lock_xchg64.data": "`jne r1, 0x1122334455667788`: a jump imm has 32 "
                                        "bits (0x55667788), so the branch is taken: r0 = 0",
}

# --------------------------------------------------------------------------------------
# .data files


@dataclass
class DataFile:
    path: Path
    name: str                       # relative to the tests directory
    sections: dict[str, list[str]] = field(default_factory=dict)

    def text(self, key: str) -> list[str] | None:
        return self.sections.get(key)


def parse_data(path: Path, root: Path) -> DataFile:
    """Split a ``.data`` file into ``-- name`` sections (lines kept verbatim; text before
    the first header is the licence comment and dropped)."""
    df = DataFile(path, path.relative_to(root).as_posix())
    current: list[str] | None = None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("--"):
            current = df.sections.setdefault(line[2:].strip(), [])
        elif current is not None:
            current.append(line)
    return df


def strip_comment(line: str) -> str:
    return line.split("#", 1)[0].strip()


def parse_number(text: str, bits: int) -> int:
    """A number as the suite's runner reads one (``std::stoull``): hexadecimal when it
    contains ``0x``, otherwise decimal; a leading minus wraps; truncated to ``bits``."""
    t = text.strip()
    neg = t.startswith("-")
    if neg or t.startswith("+"):
        t = t[1:]
    value = int(t, 16) if "0x" in t.lower() else int(t, 10)
    return (-value if neg else value) & ((1 << bits) - 1)


def parse_mem(lines: list[str]) -> bytes:
    return bytes(int(tok, 16) for line in lines for tok in strip_comment(line).split())


def parse_raw(lines: list[str]) -> bytes:
    """``-- raw``: one 64-bit instruction word per line (the opcode is the low byte)."""
    words = [strip_comment(line) for line in lines]
    return b"".join(struct.pack("<Q", parse_number(w, 64)) for w in words if w)


def parse_result(lines: list[str]) -> tuple[int, str]:
    """The expected r0 and a note when the file's number does not fit in 64 bits."""
    words = [strip_comment(line) for line in lines if strip_comment(line)]
    text = words[0]
    t = text.lower()
    value = int(t, 16) if "0x" in t else int(t, 10)
    note = f"expected value {text} is wider than 64 bits; compared modulo 2**64" \
        if value > MASK64 else ""
    return value & MASK64, note


# --------------------------------------------------------------------------------------
# The suite's assembly syntax (our own implementation of what its runner accepts)


class Unsupported(Exception):
    """The test needs something this harness deliberately does not run."""


class AsmError(Exception):
    """The assembly does not parse."""


ALU_OPS = {"add": 0x0, "sub": 0x1, "mul": 0x2, "div": 0x3, "sdiv": 0x3, "or": 0x4,
           "and": 0x5, "lsh": 0x6, "rsh": 0x7, "neg": 0x8, "mod": 0x9, "smod": 0x9,
           "xor": 0xa, "mov": 0xb, "arsh": 0xc}
JMP_OPS = {"jeq": 0x1, "jgt": 0x2, "jge": 0x3, "jset": 0x4, "jne": 0x5, "jsgt": 0x6,
           "jsge": 0x7, "jlt": 0xa, "jle": 0xb, "jslt": 0xc, "jsle": 0xd}
SIZES = {"w": 0x00, "h": 0x08, "b": 0x10, "dw": 0x18}
ATOMIC_OPS = {"add": 0x00, "or": 0x40, "and": 0x50, "xor": 0xa0, "xchg": 0xe1,
              "cmpxchg": 0xf1}
FETCH = 0x01
CLS_LD, CLS_LDX, CLS_ST, CLS_STX, CLS_ALU, CLS_JMP, CLS_JMP32, CLS_ALU64 = range(8)
MODE_IMM, MODE_MEM, MODE_MEMSX, MODE_ATOMIC = 0x00, 0x60, 0x80, 0xc0
SRC_X = 0x08
MEMSX = re.compile(r"ldxs(b|h|w)$")
MOVSX = re.compile(r"movsx(8|16|32)(32|64)$")
MEM_OPERAND = re.compile(r"\[\s*(%?r\d+)\s*(?:([+-])\s*(\w+))?\s*\]$")
# A few well-known helper names the suite's newer files call by name.
HELPER_IDS = {"bpf_map_lookup_elem": 1, "bpf_map_update_elem": 2, "bpf_map_delete_elem": 3}


def reg(tok: str) -> int:
    m = re.fullmatch(r"%?r(\d+)", tok)
    if not m or int(m.group(1)) > 10:
        raise AsmError(f"invalid register: {tok}")
    return int(m.group(1))


def is_reg(tok: str) -> bool:
    return re.fullmatch(r"%?r\d+", tok) is not None


def mem_operand(tok: str) -> tuple[int, int]:
    m = MEM_OPERAND.match(tok.replace(" ", ""))
    if not m:
        raise AsmError(f"bad memory operand: {tok}")
    base, sign, off = m.groups()
    value = parse_number((sign or "+") + off, 16) if off else 0
    return reg(base), value


def insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBHI", op, (src << 4) | dst, off & 0xFFFF, imm & 0xFFFFFFFF)


@dataclass
class _Slot:
    op: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    label: str | None = None        # resolve into off (jumps) or imm (local calls)
    label_in_imm: bool = False


def assemble_suite(lines: list[str]) -> bytes:
    """Assemble the suite's syntax into bytecode."""
    slots: list[_Slot] = []
    labels: dict[str, int] = {}

    def target(tok: str, slot: _Slot, in_imm: bool = False) -> None:
        if re.fullmatch(r"[+-]\d+", tok):
            if in_imm:
                slot.imm = int(tok)
            else:
                slot.off = int(tok)
        else:
            slot.label, slot.label_in_imm = tok, in_imm

    for raw in lines:
        line = strip_comment(raw)
        if not line:
            continue
        if line.endswith(":") and " " not in line:
            labels.setdefault(line[:-1], len(slots))
            continue
        mnem, _, rest = line.partition(" ")
        ops = [o.strip() for o in rest.split(",")] if rest.strip() else []
        # the first `exit` doubles as the label "exit", as in the suite's assembler
        if mnem == "exit":
            labels.setdefault("exit", len(slots))
            slots.append(_Slot(0x95))
            continue
        slots.extend(_encode(mnem, ops, target))

    out = []
    for pc, s in enumerate(slots):
        if s.label is not None:
            if s.label not in labels:
                raise AsmError(f"invalid label: {s.label}")
            rel = labels[s.label] - pc - 1
            if s.label_in_imm:
                s.imm = rel
            else:
                s.off = rel
        out.append(insn(s.op, s.dst, s.src, s.off, s.imm))
    return b"".join(out)


def _encode(mnem: str, ops: list[str], target) -> list[_Slot]:
    def need(n: int) -> None:
        if len(ops) != n:
            raise AsmError(f"invalid number of operands for {mnem}: {ops}")

    if mnem == "lddw":
        need(2)
        if "(" in ops[1]:
            raise Unsupported(f"lddw {ops[1]}: needs maps (the plugin protocol has none)")
        v = parse_number(ops[1], 64)
        return [_Slot(CLS_LD | 0x18, reg(ops[0]), imm=v & 0xFFFFFFFF), _Slot(0, imm=v >> 32)]
    if mnem in ("ldxb", "ldxh", "ldxw", "ldxdw") or MEMSX.match(mnem):
        need(2)
        sx = MEMSX.match(mnem)
        width, ld_mode = (sx.group(1), MODE_MEMSX) if sx else (mnem[3:], MODE_MEM)
        base, off = mem_operand(ops[1])
        return [_Slot(CLS_LDX | ld_mode | SIZES[width], reg(ops[0]), base, off)]
    if mnem in ("stb", "sth", "stw", "stdw"):
        need(2)
        base, off = mem_operand(ops[0])
        return [_Slot(CLS_ST | MODE_MEM | SIZES[mnem[2:]], base, 0, off,
                      parse_number(ops[1], 32))]
    if mnem in ("stxb", "stxh", "stxw", "stxdw"):
        need(2)
        base, off = mem_operand(ops[0])
        return [_Slot(CLS_STX | MODE_MEM | SIZES[mnem[3:]], base, reg(ops[1]), off)]
    if mnem == "lock":
        words = ops[0].split() if ops else []
        fetch = bool(words) and words[0] == "fetch"
        if fetch:
            words = words[1:]
        if len(words) != 2 or len(ops) != 2:
            raise AsmError(f"invalid number of operands for lock: {ops}")
        name, dst_tok = words
        wide = not name.endswith("32")
        name = name.removesuffix("32")
        if name not in ATOMIC_OPS:
            raise AsmError(f"invalid atomic operation: {name}")
        imm = ATOMIC_OPS[name] | (FETCH if fetch else 0)
        base, off = mem_operand(dst_tok)
        return [_Slot(CLS_STX | MODE_ATOMIC | SIZES["dw" if wide else "w"], base,
                      reg(ops[1]), off, imm)]
    for prefix, cls, src in (("le", CLS_ALU, 0), ("be", CLS_ALU, SRC_X),
                             ("bswap", CLS_ALU64, 0), ("swap", CLS_ALU64, 0)):
        if re.fullmatch(prefix + r"(16|32|64)", mnem):
            need(1)
            return [_Slot(cls | 0xd0 | src, reg(ops[0]), imm=int(mnem[len(prefix):]))]
    if m := MOVSX.match(mnem):
        need(2)
        cls = CLS_ALU64 if m.group(2) == "64" else CLS_ALU
        return [_Slot(cls | 0xb0 | SRC_X, reg(ops[0]), reg(ops[1]), int(m.group(1)))]
    if mnem in ("ja", "ja32", "gotol"):
        need(1)
        if mnem == "ja":
            s = _Slot(CLS_JMP)
            target(ops[0], s)
        else:                       # JMP32 | JA: the offset lives in imm
            s = _Slot(CLS_JMP32)
            target(ops[0], s, in_imm=True)
        return [s]
    if mnem == "call":
        if len(ops) == 1 and len(ops[0].split()) == 2:
            ops = ops[0].split()
        if len(ops) == 1:
            if is_reg(ops[0]):
                raise Unsupported("callx (BPF_CALL|BPF_X): not part of the Linux ISA")
            ops = ["helper", ops[0]]
        call_mode, what = ops
        if call_mode == "helper":
            num = HELPER_IDS.get(what)
            return [_Slot(CLS_JMP | 0x80, imm=num if num is not None
                          else parse_number(what, 32))]
        if call_mode == "local":
            s = _Slot(CLS_JMP | 0x80, src=1)
            target(what, s, in_imm=True)
            return [s]
        if call_mode == "runtime":
            return [_Slot(CLS_JMP | 0x80, src=2, imm=parse_number(what, 32))]
        raise AsmError(f"invalid call mode: {call_mode}")
    op_name = mnem.removesuffix("32")
    if op_name in JMP_OPS:
        need(3)
        cls = CLS_JMP32 if mnem.endswith("32") else CLS_JMP
        s = _Slot(cls | (JMP_OPS[op_name] << 4), reg(ops[0]))
        if is_reg(ops[1]):
            s.op |= SRC_X
            s.src = reg(ops[1])
        else:
            s.imm = parse_number(ops[1], 32)
        target(ops[2], s)
        return [s]
    if op_name in ALU_OPS:
        cls = CLS_ALU if mnem.endswith("32") else CLS_ALU64
        off = 1 if op_name in ("sdiv", "smod") else 0
        s = _Slot(cls | (ALU_OPS[op_name] << 4), reg(ops[0]) if ops else 0, off=off)
        if op_name == "neg":
            need(1)
            return [s]
        need(2)
        if is_reg(ops[1]):
            s.op |= SRC_X
            s.src = reg(ops[1])
        else:
            s.imm = parse_number(ops[1], 32)
        return [s]
    raise AsmError(f"invalid mnemonic: {mnem}")


# --------------------------------------------------------------------------------------
# What a program needs that the harness will not run


def unsupported_reason(code: bytes) -> str | None:
    for pc in range(len(code) // 8):
        op, regs, _off, imm = struct.unpack_from("<BBhi", code, pc * 8)
        cls, mode = op & 0x07, op & 0xe0
        if cls == CLS_LD and mode in (0x20, 0x40):
            return "packet LD_ABS/LD_IND: deliberately not supported"
        if op == 0x8d:
            return "callx (BPF_CALL|BPF_X): not part of the Linux ISA"
        if op == 0x85 and regs >> 4 == 0:
            return f"calls helper {imm}: the plugin protocol defines no helpers"
        if op == 0x18 and regs >> 4 != 0:
            return "ld_imm64 with a pseudo source (maps): the plugin protocol has no maps"
    return None


# --------------------------------------------------------------------------------------
# Running


@dataclass
class Outcome:
    test: str
    status: str                  # pass, FAIL, xfail, skip
    detail: str = ""
    expected: str = ""
    got: str = ""
    kernel: str = ""             # with --kernel: what the host kernel did


def run_plugin_inprocess(code: bytes, mem: bytes | None) -> tuple[int, str]:
    from bpf_vm import conformance
    argv = [" ".join(f"{b:02x}" for b in mem)] if mem else []
    out = io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(" ".join(f"{b:02x}" for b in code))
    try:
        with contextlib.redirect_stdout(out):
            rc = conformance.main(argv)
    finally:
        sys.stdin = old_stdin
    return rc, out.getvalue().strip()


def run_plugin_process(cmd: list[str], code: bytes, mem: bytes | None) -> tuple[int, str]:
    argv = cmd + ([" ".join(f"{b:02x}" for b in mem)] if mem else [])
    proc = subprocess.run(argv, check=False, input=" ".join(f"{b:02x}" for b in code),
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, (proc.stdout.strip() or proc.stderr.strip())


def kernel_verdict(code: bytes, mem: bytes | None) -> tuple[str, int | None]:
    """("ok", r0 low 32 bits) or ("load refused"/"run refused", None)."""
    from bpf_vm import kernel
    try:
        run = kernel.run_program(code, mem)
    except kernel.KernelReject as exc:
        return f"load refused: {str(exc).splitlines()[0][:80]}", None
    except kernel.KernelRunError as exc:
        return f"run refused: {exc}", None
    return "ok", run.r0


def run_test(df: DataFile, plugin, use_kernel: bool) -> Outcome:
    out = Outcome(df.name, "FAIL")
    if "map" in df.sections:
        out.status, out.detail = "skip", "needs maps (-- map): the plugin protocol has none"
        return out
    try:
        if df.text("raw") is not None:
            code = parse_raw(df.sections["raw"])
        elif df.text("asm") is not None:
            code = assemble_suite(df.sections["asm"])
        else:
            out.detail = "no -- raw or -- asm section"
            return out
        mem = parse_mem(df.sections["mem"]) if "mem" in df.sections else None
        expect_error = "error" in df.sections
        expected, note = (None, "") if expect_error else parse_result(df.sections["result"])
    except Unsupported as exc:
        out.status, out.detail = "skip", str(exc)
        return out
    except (AsmError, ValueError, KeyError, IndexError) as exc:
        out.detail = f"cannot read the test: {exc!r}"
        return out
    reason = unsupported_reason(code)
    if reason and not expect_error:
        out.status, out.detail = "skip", reason
        return out
    mem = mem or None
    out.expected = "error" if expect_error else f"{expected:#x}"
    try:
        rc, text = plugin(code, mem)
    except Exception:  # a crash of the plugin is a failure to report
        out.detail = "plugin crashed: " + traceback.format_exc(limit=3).strip().splitlines()[-1]
        out.got = "crash"
        rc, text = None, ""
    k_ok = k_r0 = None
    if use_kernel:
        verdict, k_r0 = kernel_verdict(code, mem)
        k_ok = verdict == "ok"
        out.kernel = f"r0 = {k_r0:#x} (low 32 bits)" if k_ok else verdict
    if rc is not None:
        if rc == 0:
            try:
                r0 = int(text.split()[-1], 16)
            except (ValueError, IndexError):
                out.detail, out.got = f"plugin printed {text!r}", text
            else:
                out.got = f"{r0:#x}"
                if expect_error:
                    out.detail = "expected an error, the plugin returned a value"
                elif r0 == expected:
                    out.status, out.detail = "pass", note
                else:
                    out.detail = f"r0 = {r0:#x}, expected {expected:#x}"
        else:
            out.got = "error"
            if expect_error:
                out.status = "pass"
            else:
                out.detail = f"plugin failed: {text}"
    known = KNOWN_DIVERGENCES.get(df.name)
    if out.status == "FAIL" and known:
        out.status, out.detail = "xfail", known
        if use_kernel and not _kernel_agrees_with_vm(out, k_ok, k_r0):
            out.status = "FAIL"
            out.detail = f"listed as a kernel divergence, but the kernel disagrees with the " \
                         f"VM: {known}"
    elif out.status == "pass" and known:
        out.status, out.detail = "FAIL", f"listed divergence no longer fails: {known}"
    elif out.status == "pass" and use_kernel:
        if k_ok and expected is not None and k_r0 != expected & 0xFFFFFFFF:
            out.status = "FAIL"
            out.detail = f"the VM returns what the test expects, the kernel returns {k_r0:#x}"
        elif not k_ok and not expect_error:
            out.detail = "passes, but the kernel refuses this program"
    return out


def _kernel_agrees_with_vm(out: Outcome, k_ok: bool | None, k_r0: int | None) -> bool:
    if out.got == "error":
        return k_ok is False
    if out.got.startswith("0x"):
        return bool(k_ok) and k_r0 == int(out.got, 16) & 0xFFFFFFFF
    return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tests", type=Path, help="bpf_conformance's tests directory")
    ap.add_argument("--plugin", help="run this command per test instead of calling "
                    "bpf_vm.conformance in process (e.g. bpf-vm-conformance)")
    ap.add_argument("--kernel", action="store_true",
                    help="also run every program in the host kernel (needs bpf(2))")
    ap.add_argument("-k", dest="select", help="only tests whose path contains this")
    ap.add_argument("--json", action="store_true", help="print a JSON summary instead")
    args = ap.parse_args(argv)

    root = args.tests
    files = sorted(p for p in root.rglob("*.data") if p.is_file())
    if args.select:
        files = [p for p in files if args.select in p.relative_to(root).as_posix()]
    if not files:
        print(f"no .data files under {root}", file=sys.stderr)
        return 2
    if args.kernel:
        from bpf_vm import kernel
        why = kernel.kernel_unavailable_reason()
        if why:
            print(f"--kernel: {why}", file=sys.stderr)
            return 2
    plugin = (lambda c, m: run_plugin_process(shlex.split(args.plugin), c, m)) \
        if args.plugin else run_plugin_inprocess

    outcomes = [run_test(parse_data(p, root), plugin, args.kernel) for p in files]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("pass", "FAIL", "xfail",
                                                                "skip")}
    if args.json:
        json.dump({"tests": len(outcomes), "passed": counts["pass"],
                   "failed": counts["FAIL"], "expected_failures": counts["xfail"],
                   "skipped": counts["skip"],
                   "results": [asdict(o) for o in outcomes]}, sys.stdout, indent=1)
        print()
    else:
        width = max(len(o.test) for o in outcomes)
        for o in outcomes:
            line = f"{o.status:5}  {o.test:{width}}"
            if o.detail:
                line += f"  {o.detail}"
            if o.kernel:
                line += f"  | kernel: {o.kernel}"
            print(line)
        refused = sum(o.detail.startswith("passes, but the kernel refuses") for o in outcomes)
        print(f"\n{len(outcomes)} tests: {counts['pass']} passed, {counts['FAIL']} failed, "
              f"{counts['xfail']} expected failures (the test expects what the kernel does "
              f"not do), {counts['skip']} skipped")
        if args.kernel:
            print(f"kernel: {refused} of the passing tests are programs the host kernel "
                  "refuses to load")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
