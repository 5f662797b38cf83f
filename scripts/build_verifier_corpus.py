"""Build the verifier's differential corpus: tests/verifier/corpus/*.jsonl.

Every record is one program loaded into the host kernel at generation time, with the
kernel's verdict kept beside it (``kernel: {accepted, errno, error, processed}``;
``error`` is tests/verifier/kernel_load.error_line of the level-1 log).  The host runs us
as root, so the verdicts are the privileged ones (uninitialised stack reads, bounded
loops, pointer comparisons are allowed).  Families, one file each:

* ``hand.jsonl``: the hand-written cases of tests/verifier/cases/*.s (see
  tests/verifier/cases.py), one or more per rejection class, each naming its line;
* ``hypothesis.jsonl``: programs drawn by Hypothesis, derandomized (the same programs on
  every run of the same code): structured ones (``hyp_struct``: initialised registers,
  stack, ctx and map-value pointers, forward branches, helper calls) and sequences of
  raw instructions (``hyp_raw``: any opcode, registers and fields, some malformed);
* ``mutation.jsonl``: the hand cases, the clang programs and accepted structured
  programs mutated by a PRNG seeded with the seed's name: register, stack, pointer,
  branch, loop and helper mutations (classes ``mut_register`` ... ``mut_helper``);
* ``clang.jsonl``: every program of every BPF C object the tests build (each ``cc(...)``
  source in tests/, with tests/bpf_c.py's prelude, and probes/syscalls.bpf.c), compiled
  by probes.build (bpf_vm.toolchain) and linked by bpf_vm.load_object.  Programs of
  other types than the five (xdp, tc, fentry and the other BTF-attached types) are left
  out, and so are objects the tests build to see them fail.

Generated programs the kernel needs more than MAX_PROCESSED instructions to decide are
left out (the hand cases keep the complexity limit), and so are duplicates.  ``--check``
compares the hand cases' expected lines with the kernel's.

    python3 scripts/build_verifier_corpus.py [--family hand,clang,...] [--check]
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import random
import sys
import tempfile
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.verifier import cases as C  # noqa: E402
from tests.verifier import kernel_load as KL  # noqa: E402
from tests.verifier.cases import INSN, Prog  # noqa: E402

CORPUS = ROOT / "tests" / "verifier" / "corpus"
MAX_PROCESSED = 30_000
FAMILIES = ("hand", "hypothesis", "mutation", "clang")
N_STRUCT, N_RAW = 560, 200           # Hypothesis examples drawn (before dedup)
MUTANTS_PER_FAMILY = 220             # per mutation class
PTYPES = ("syscall", "syscall", "kprobe", "tracepoint", "raw_tracepoint", "socket_filter")
Slots = list[list[int]]              # [op, dst, src, off, imm] per 8-byte slot


def to_record(p: Prog, v: KL.Verdict) -> dict[str, Any]:
    rec: dict[str, Any] = {"name": p.name, "cls": p.cls, "prog_type": p.prog_type,
                           "license": p.license, "insns": p.code.hex(), "maps": p.maps}
    if p.prog_flags:
        rec["prog_flags"] = p.prog_flags
    if p.func_info:
        rec["func_info"] = True
    rec["asm"] = p.asm or C.disasm(p.code)
    if p.expect is not None:
        rec["expect"] = p.expect
    if p.note:
        rec["note"] = p.note
    rec["kernel"] = {**v.as_record(), "processed": v.processed}
    return rec


# --- Hypothesis ---------------------------------------------------------------------------

def hypothesis_progs() -> list[Prog]:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    alu = ("+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=", "s>>=")
    jmp = ("==", "!=", ">", ">=", "<", "<=", "s>", "s>=", "s<", "s<=", "&")
    sizes = ("u8", "u16", "u32", "u64")
    imms = st.one_of(st.sampled_from((0, 1, -1, 7, 8, 16, 31, 32, 63, 64, 255, -8, 4096,
                                      0x7FFFFFFF)), st.integers(-(1 << 31), (1 << 31) - 1))
    reg = st.integers(0, 9)
    fp_off = st.sampled_from((-8, -16, -4, -1, -24, -32, -64, -256, -512, -520, 0, 8, -3))
    ptr_off = st.sampled_from((0, 4, 8, 16, 24, 56, 64, 160, 168, -8, 3))
    ctx_off = {"kprobe": range(0, 176, 8), "tracepoint": range(0, 64, 8),
               "raw_tracepoint": range(0, 104, 8), "syscall": range(0, 72, 8),
               "socket_filter": range(0, 84, 4)}
    calls = {
        "ktime": ["call bpf_ktime_get_ns"],
        "prandom": ["call bpf_get_prandom_u32"],
        "pid": ["call bpf_get_current_pid_tgid"],
        "probe_read": ["r1 = r10", "r1 += -16", "r2 = 8", "r3 = r{x}",
                       "call bpf_probe_read_kernel"],
        "lookup": ["r1 = map[m] ll", "r2 = r10", "r2 += -4", "call bpf_map_lookup_elem"],
        "update": ["r1 = map[m] ll", "r2 = r10", "r2 += -4", "r3 = r10", "r3 += -16",
                   "r4 = 0", "call bpf_map_update_elem"],
        "bare": ["call {id}"],
    }

    @st.composite
    def body_line(draw: Any, ptype: str, i: int, n: int, has_map: bool,
                  inited: list[int]) -> str:
        kind = draw(st.sampled_from(("alu", "alu", "alu32", "mov", "ldst", "ldst", "ptr",
                                     "ptr", "jmp", "jmp", "call", "misc")))
        live = st.sampled_from(inited) if inited else reg
        d = draw(st.one_of(live, live, live, reg))
        s = draw(st.one_of(live, live, live, reg))
        if kind in ("alu", "alu32"):
            w = "w" if kind == "alu32" else "r"
            src = f"{w}{s}" if draw(st.booleans()) else str(draw(imms))
            return f"{w}{d} {draw(st.sampled_from(alu))} {src}"
        if kind == "mov":
            return draw(st.sampled_from((f"r{d} = r{s}", f"w{d} = w{s}", f"r{d} = {draw(imms)}",
                                         f"r{d} = {draw(st.integers(0, (1 << 64) - 1))} ll")))
        if kind == "ldst":
            sz, off = draw(st.sampled_from(sizes)), draw(fp_off)
            return draw(st.sampled_from((f"*({sz} *)(r10 {off:+d}) = r{s}",
                                         f"*({sz} *)(r10 {off:+d}) = {draw(imms)}",
                                         f"r{d} = *({sz} *)(r10 {off:+d})")))
        if kind == "ptr":
            base = draw(st.sampled_from((6, 6, 7, 8, s)))
            sz = draw(st.sampled_from(sizes))
            off = draw(st.sampled_from(ctx_off[ptype])) if base == 6 else draw(ptr_off)
            if base == 6 and ptype != "socket_filter":
                sz = draw(st.sampled_from(("u64", "u64", "u32")))
            return draw(st.sampled_from((f"r{d} = *({sz} *)(r{base} {off:+d})",
                                         f"r{d} = *({sz} *)(r{base} {off:+d})",
                                         f"*({sz} *)(r{base} {off:+d}) = r{s}")))
        if kind == "jmp":
            target = f"l{draw(st.integers(i + 1, n))}"
            w = draw(st.sampled_from("rrrw"))
            rhs = f"{w}{s}" if draw(st.booleans()) else str(draw(imms))
            return f"if {w}{d} {draw(st.sampled_from(jmp))} {rhs} goto {target}"
        if kind == "call":
            names = [k for k in calls if has_map or k not in ("lookup", "update")]
            lines = calls[draw(st.sampled_from(names))]
            helper = draw(st.sampled_from((6, 8, 14, 16, 35, 113, 130, 999)))
            return "\n".join(x.format(x=s, id=helper) for x in lines)
        return draw(st.sampled_from((f"r{d} = -r{d}", f"r{d} = be16 r{d}",
                                     f"r{d} = le64 r{d}", f"lock *(u64 *)(r10 -8) += r{s}",
                                     f"r{d} = *(s32 *)(r10 {draw(fp_off):+d})")))

    @st.composite
    def structured(draw: Any) -> tuple[str, str]:
        ptype = draw(st.sampled_from(PTYPES))
        lines = ["r6 = r1"]
        has_map = draw(st.booleans())
        if has_map:
            mtype = draw(st.sampled_from(("array", "hash", "percpu_array")))
            vsize = draw(st.sampled_from((8, 16, 64)))
            lines[:0] = [f".map m {mtype} key=4 value={vsize} max_entries=4"]
            lines += ["*(u32 *)(r10 -4) = 0", "r1 = map[m] ll", "r2 = r10", "r2 += -4",
                      "call bpf_map_lookup_elem", "r7 = r0"]
            if draw(st.integers(0, 9)) < 8:
                lines.append(f"if r7 == 0 goto l{99}")
        inited = [6, 7] if has_map else [6]
        for r in (0, 1, 2, 3, 4, 5, 8, 9):
            init = draw(st.sampled_from(("none", "const", "const", "const", "fp", "ctx",
                                         "load")))
            if init == "const":
                lines.append(f"r{r} = {draw(imms)}")
            elif init == "fp":
                lines += [f"r{r} = r10", f"r{r} += {draw(fp_off)}"]
            elif init == "ctx":
                lines.append(f"r{r} = r6")
            elif init == "load" and ptype != "socket_filter":
                lines.append(f"r{r} = *(u64 *)(r6 +{draw(st.sampled_from(ctx_off[ptype]))})")
            inited += [r] if init != "none" else []
        n = draw(st.integers(1, 12))
        for i in range(n):
            lines.append(f"l{i}: " + draw(body_line(ptype, i, n, has_map, inited)))
        ret = draw(st.sampled_from(inited))
        end = draw(st.sampled_from(("r0 = 0", "r0 = 1", f"r0 = r{ret}", f"r0 = r{ret}",
                                    f"r0 = r{draw(reg)}", "")))
        lines += [f"l{n}: l99: {end}", "exit"]
        return ptype, "\n".join(lines)

    raw_ops = (list(range(0x04, 0xD0, 0x08)) + list(range(0x07, 0xD0, 0x08))
               + [0x0C, 0x0F, 0xBC, 0xBF, 0x84, 0x87, 0xD4, 0xDC, 0xD7, 0x61, 0x69, 0x71,
                  0x79, 0x81, 0x89, 0x91, 0x62, 0x6A, 0x72, 0x7A, 0x63, 0x6B, 0x73, 0x7B,
                  0xC3, 0xDB, 0x05, 0x06, 0x15, 0x1D, 0x25, 0x55, 0xA5, 0x16, 0x5E, 0x85,
                  0x95, 0xE5, 0x18])

    @st.composite
    def raw(draw: Any) -> tuple[str, bytes]:
        ptype = draw(st.sampled_from(PTYPES))
        out = b""
        for _ in range(draw(st.integers(1, 8))):
            odd = draw(st.integers(0, 9)) == 0        # one field in ten is out of range
            op = draw(st.integers(0, 255) if odd else st.sampled_from(raw_ops))
            dst = draw(st.sampled_from((*range(11), 11) if odd else range(11)))
            src = draw(st.sampled_from((*range(11), 13) if odd else range(11)))
            jump = op & 7 in (5, 6)
            off = draw(st.integers(-3, 3)) if jump else draw(st.sampled_from((0, 0, -8, 8,
                                                                              -4, 1)))
            imm = draw(st.sampled_from((0, 0, 1, -1, 8, 64, 5, 130)))
            if op == 0x18:
                src = 0
                out += INSN.pack(op, dst, off, imm) + INSN.pack(0, 0, 0, draw(imms))
            else:
                out += INSN.pack(op, dst | src << 4, off, imm)
        return ptype, out + INSN.pack(0xB7, 0, 0, 0) + INSN.pack(0x95, 0, 0, 0)

    got_struct: list[tuple[str, str]] = []
    got_raw: list[tuple[str, bytes]] = []
    opts = {"derandomize": True, "database": None, "deadline": None,
            "phases": [Phase.generate], "suppress_health_check": list(HealthCheck)}

    @settings(max_examples=N_STRUCT, **opts)
    @given(structured())
    def draw_struct(x: tuple[str, str]) -> None:
        got_struct.append(x)

    @settings(max_examples=N_RAW, **opts)
    @given(raw())
    def draw_raw(x: tuple[str, bytes]) -> None:
        got_raw.append(x)

    draw_struct()
    draw_raw()
    progs = [C.from_asm(f"hyp/struct/{i}", "hyp_struct", ptype, text)
             for i, (ptype, text) in enumerate(got_struct)]
    progs += [Prog(f"hyp/raw/{i}", "hyp_raw", ptype, code, prog_flags=C.default_flags(ptype))
              for i, (ptype, code) in enumerate(got_raw)]
    return progs


# --- mutations ----------------------------------------------------------------------------

def to_slots(code: bytes) -> Slots:
    out = []
    for i in range(len(code) // 8):
        op, regs, off, imm = INSN.unpack_from(code, i * 8)
        out.append([op, regs & 0xF, regs >> 4, off, imm])
    return out


def to_code(slots: Slots) -> bytes:
    return b"".join(INSN.pack(op & 0xFF, (d & 0xF) | (s & 0xF) << 4,
                              max(-(1 << 15), min((1 << 15) - 1, off)),
                              max(-(1 << 31), min((1 << 31) - 1, imm)))
                    for op, d, s, off, imm in slots)


def starts(slots: Slots) -> list[int]:
    """Indices of instruction starts (not the second slot of an ld_imm64)."""
    out, i = [], 0
    while i < len(slots):
        out.append(i)
        i += 2 if slots[i][0] == 0x18 else 1
    return out


def rel_field(s: list[int]) -> int | None:
    """Which field holds a relative target: 3 (off) for jumps, 4 (imm) for gotol,
    BPF-to-BPF calls and ld_imm64 function pointers; None otherwise."""
    op, cls = s[0], s[0] & 7
    if op == 0x06 or (op == 0x85 and s[2] == 1) or (op == 0x18 and s[2] == 4):
        return 4
    if cls in (5, 6) and op & 0xF0 not in (0x80, 0x90):
        return 3
    return None


def insert(slots: Slots, at: int, new: Slots) -> Slots:
    """``new`` before slot ``at``; relative targets crossing ``at`` are moved."""
    out = [list(s) for s in slots]
    for i in starts(out):
        f = rel_field(out[i])
        if f is None:
            continue
        tgt = i + 1 + out[i][f]
        if i < at <= tgt:
            out[i][f] += len(new)
        elif tgt < at <= i:
            out[i][f] -= len(new)
    return out[:at] + [list(s) for s in new] + out[at:]


NOP = [0x05, 0, 0, 0, 0]
COND_OPS = (0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0)
HELPER_POOL = (1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 16, 25, 26, 35, 51, 67, 113, 130, 131, 132,
               181, 0, 212, 999)


def m_register(sl: Slots, r: random.Random) -> Slots | None:
    i = r.choice(starts(sl))
    how = r.randrange(3)
    if how == 0:
        sl[i][r.choice((1, 2))] = r.choice((*range(11), 11))
    elif how == 1:   # drop an initialisation: the register stays unwritten
        inits = [j for j in starts(sl) if sl[j][0] in (0xB7, 0xBF, 0xB4, 0xBC, 0x18)]
        if not inits:
            return None
        j = r.choice(inits)
        sl[j] = list(NOP)
        if j + 1 < len(sl) and sl[j + 1][0] == 0 and r.random() < 0.9:
            sl[j + 1] = list(NOP)
    else:
        sl[i][1], sl[i][2] = sl[i][2], sl[i][1]
    return sl


def _mem(s: list[int]) -> bool:
    return s[0] & 7 in (1, 2, 3) and s[0] & 0xE0 in (0x60, 0x80, 0xC0)


def m_stack(sl: Slots, r: random.Random) -> Slots | None:
    fp = [i for i in starts(sl) if _mem(sl[i]) and
          (sl[i][2] if sl[i][0] & 7 == 1 else sl[i][1]) == 10]
    adds = [i for i in starts(sl) if sl[i][0] == 0x07 and sl[i][4] < 0]
    how = r.randrange(4)
    if how == 0 and fp:
        sl[r.choice(fp)][3] += r.choice((-8, -4, -2, -1, 1, 2, 4, 8, -512, 8, -256))
    elif how == 1 and fp:
        i = r.choice(fp)
        sl[i][0] = (sl[i][0] & ~0x18) | r.choice((0x00, 0x08, 0x10, 0x18))
    elif how == 2 and adds:
        sl[r.choice(adds)][4] += r.choice((-8, -1, 4, 8, -512, 512))
    else:
        off = r.choice((-8, -16, -4, -64, -504, -512, -520, 0))
        new = ([0x79, r.randrange(10), 10, off, 0] if r.random() < 0.5
               else [0x7B, 10, r.randrange(10), off, 0])
        return insert(sl, r.choice(starts(sl)), [new])
    return sl


def m_pointer(sl: Slots, r: random.Random) -> Slots | None:
    mem = [i for i in starts(sl) if _mem(sl[i])]
    if not mem:
        return None
    i = r.choice(mem)
    base = sl[i][2] if sl[i][0] & 7 == 1 else sl[i][1]
    how = r.randrange(4)
    if how == 0:
        sl[i][3] += r.choice((-8, -1, 1, 4, 8, 16, 64, 4096, -4096))
    elif how == 1:
        sl[i][1 if sl[i][0] & 7 != 1 else 2] = r.choice((0, 1, 6, 7, 8, 10))
    else:
        op = r.choice(((0x07, 8), (0x07, -8), (0x07, 1), (0x17, 8), (0x57, -8), (0x47, 1),
                       (0x27, 2), (0x04, 8), (0x0F, None), (0xBF, None), (0x87, 0),
                       (0x1F, None), (0x67, 1)))
        if op[1] is None:
            new = [op[0], base, r.choice((0, 1, 6, 7, 10)), 0, 0]
        else:
            new = [op[0], base, 0, 0, op[1]]
        return insert(sl, i, [new])
    return sl


def m_branch(sl: Slots, r: random.Random) -> Slots | None:
    conds = [i for i in starts(sl) if rel_field(sl[i]) == 3 and sl[i][0] & 0xF0 not in
             (0x00, 0xE0)]
    how = r.randrange(5)
    if conds and how < 4:
        i = r.choice(conds)
        if how == 0:
            sl[i][0] = (sl[i][0] & 0x0F) | r.choice(COND_OPS)
        elif how == 1:
            sl[i][4] = r.choice((0, 1, -1, sl[i][4] + 1, sl[i][4] - 1, 1 << 20))
        elif how == 2:
            sl[i][3] += r.choice((-2, -1, 1, 2))
        else:
            sl[i] = list(NOP) if r.random() < 0.5 else [0x05, 0, 0, sl[i][3], 0]
        return sl
    at = r.choice(starts(sl))
    new = [r.choice((0x15, 0x55, 0x25, 0xA5, 0x65, 0x16)), r.randrange(10), 0,
           r.choice((0, 1, 2)), r.choice((0, 1, -1, 100))]
    return insert(sl, at, [new])


def m_loop(sl: Slots, r: random.Random) -> Slots | None:
    how = r.randrange(4)
    at = r.choice(starts(sl))
    jumps = [i for i in starts(sl) if rel_field(sl[i]) == 3]
    if how == 0 and jumps:
        i = r.choice(jumps)
        sl[i][3] = -r.randint(1, i + 1)
        return sl
    k = r.randrange(10)
    if how <= 1:
        n = r.choice((0, 1, 3, 16, 100, 1000, 4000))
        return insert(sl, at, [[0xB7, k, 0, 0, n], [0x07, k, 0, 0, -1],
                               [0x55, k, 0, -2, 0]])
    if how == 2:
        return insert(sl, at, [[0xE5, 0, 0, 1, 0], [0x05, 0, 0, -2, 0]])
    return insert(sl, at, [[0x07, k, 0, 0, 1], [0xA5, k, 0, -2, r.choice((8, 64, 1 << 20))]])


def m_helper(sl: Slots, r: random.Random) -> Slots | None:
    calls = [i for i in starts(sl) if sl[i][0] == 0x85 and sl[i][2] == 0]
    how = r.randrange(4)
    if calls and how == 0:
        sl[r.choice(calls)][4] = r.choice(HELPER_POOL)
    elif calls and how == 1:
        i = r.choice(calls)
        arg = [0xBF, r.randint(1, 5), r.choice((0, 6, 10, 1)), 0, 0]
        if r.random() < 0.4:
            arg = [0xB7, arg[1], 0, 0, r.choice((0, 1, 8, -1, 4096))]
        return insert(sl, i, [arg])
    elif calls and how == 2:
        sl[r.choice(calls)][2] = 1     # a BPF-to-BPF call (2, kfuncs, needs vmlinux BTF)
    else:
        return insert(sl, r.choice(starts(sl)), [[0x85, 0, 0, 0, r.choice(HELPER_POOL)]])
    return sl


MUTATORS: dict[str, Callable[[Slots, random.Random], Slots | None]] = {
    "register": m_register, "stack": m_stack, "pointer": m_pointer, "branch": m_branch,
    "loop": m_loop, "helper": m_helper}


def mutants(seeds: list[Prog]) -> list[Prog]:
    """MUTANTS_PER_FAMILY mutants per class, seeds taken in a seeded shuffled order."""
    out: list[Prog] = []
    for fam, fn in MUTATORS.items():
        r = random.Random(f"verifier-corpus/{fam}")
        order = r.sample(seeds, len(seeds))
        made, k = 0, 0
        while made < MUTANTS_PER_FAMILY and k < 20 * len(order):
            seed = order[k % len(order)]
            k += 1
            rr = random.Random(f"{seed.name}/{fam}/{k}")
            new = fn(to_slots(seed.code), rr)
            if new is None or not new:
                continue
            code = to_code(new)
            if code == seed.code:
                continue
            out.append(Prog(f"mut/{fam}/{seed.name}/{k}", f"mut_{fam}", seed.prog_type, code,
                            seed.maps, seed.license, prog_flags=seed.prog_flags,
                            func_info=seed.func_info))
            made += 1
    return out


# --- clang objects --------------------------------------------------------------------------

def c_sources() -> list[tuple[str, str]]:
    """(origin, C source) of each ``cc(...)`` call in tests/**/test_*.py whose argument
    evaluates to a string (module constants, literals, and the simple local assignments
    of the calling function), with the prelude cc adds, then probes/syscalls.bpf.c."""
    from tests.bpf_c import PRELUDE
    out: list[tuple[str, str]] = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        text = path.read_text()
        if "cc(" not in text:
            continue
        mod = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        funcs = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef)]
        for fn in funcs:
            env = dict(vars(mod))
            nodes = sorted((n for n in ast.walk(fn) if isinstance(n, ast.Assign | ast.Call)),
                           key=lambda n: (n.lineno, n.col_offset))
            for node in nodes:
                try:
                    if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                            isinstance(node.targets[0], ast.Name):
                        env[node.targets[0].id] = eval(compile(
                            ast.Expression(node.value), str(path), "eval"), env)
                    elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "cc" \
                            and node.args:
                        src = eval(compile(ast.Expression(node.args[0]), str(path),
                                           "eval"), env)
                        plain = any(k.arg == "prelude" and getattr(k.value, "value", 1) is False
                                    for k in node.keywords)
                        if isinstance(src, str):
                            out.append((f"{path.relative_to(ROOT)}:{node.lineno}",
                                        ("" if plain else PRELUDE) + textwrap.dedent(src)))
                except Exception:
                    continue
    out.append(("probes/syscalls.bpf.c", (ROOT / "probes" / "syscalls.bpf.c").read_text()))
    seen: set[str] = set()
    return [(o, s) for o, s in out if not (s in seen or seen.add(s))]  # type: ignore[func-returns-value]


def clang_progs() -> tuple[list[Prog], Counter[str]]:
    """Every program of every object that builds and loads; ``skipped`` counts why
    others are not in the corpus."""
    from bpf_vm import Vm, load_object
    from bpf_vm._generated_map_types import MAP_TYPES
    from probes import build
    from probes.abi import x86_64_syscall_number
    names = {v: k for k, v in MAP_TYPES.items()}
    progs: list[Prog] = []
    skipped: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="verifier-corpus-") as tmp:
        work = Path(tmp)
        for n, (origin, src) in enumerate(c_sources()):
            cfile = work / f"o{n}.bpf.c"
            cfile.write_text(src)
            try:
                obj = load_object(build(cfile, work / f"o{n}.o", cache=work / "cache"),
                                  Vm(), syscall_number=x86_64_syscall_number)
            except Exception:
                skipped["object does not build or load (a test of the failure)"] += 1
                continue
            maps = []
            for d in obj.map_defs.values():
                spec: dict[str, Any] = {"type": names.get(d.type, d.type),
                                        "key_size": d.key_size, "value_size": d.value_size,
                                        "max_entries": d.max_entries}
                if d.flags:
                    spec["flags"] = d.flags
                if d.initial is not None:
                    spec["init"] = d.initial.hex()
                if d.readonly:
                    spec["freeze"] = True
                maps.append(spec)
            for pname, prog in obj.programs.items():
                ptype = prog.meta.get("prog_type")
                if ptype not in KL.PROG_TYPES:
                    skipped[f"program type {ptype} (section {prog.section})"] += 1
                    continue
                code = C.by_index_to_fd(prog.code)
                progs.append(Prog(f"clang/{origin}/{pname}", "clang", ptype, code, maps,
                                  obj.license, prog_flags=C.default_flags(ptype),
                                  func_info=len(KL.subprog_starts(code)) > 1,
                                  note=f"section {prog.section}"))
    return progs, skipped


# --- main -----------------------------------------------------------------------------------

def needs_vmlinux_btf(code: bytes) -> bool:
    """ld_imm64 BPF_PSEUDO_BTF_ID and kfunc calls (call src 2) name types of the host's
    vmlinux BTF: their verdicts are the host's, not the verifier's to know."""
    sl = to_slots(code)
    return any(sl[i][2] == {0x18: 3, 0x85: 2}.get(sl[i][0]) for i in starts(sl))


def judge(progs: list[Prog], keep_all: bool) -> list[dict[str, Any]]:
    """Records for ``progs``, without duplicates, without the programs that need the
    host's vmlinux BTF and (unless ``keep_all``) without those the kernel needs more than
    MAX_PROCESSED instructions for."""
    out, seen = [], set()
    for p in progs:
        key = (p.code, p.prog_type, json.dumps(p.maps, sort_keys=True), p.license,
               p.func_info)
        if key in seen or needs_vmlinux_btf(p.code):
            continue
        seen.add(key)
        v = C.verdict(p)
        if not keep_all and (v.processed or 0) > MAX_PROCESSED:
            continue
        out.append(to_record(p, v))
    return out


def write(family: str, records: list[dict[str, Any]]) -> None:
    CORPUS.mkdir(parents=True, exist_ok=True)
    with open(CORPUS / f"{family}.jsonl", "w") as f:
        for rec in records:
            f.write(json.dumps(rec, sort_keys=False) + "\n")
    acc = sum(r["kernel"]["accepted"] for r in records)
    print(f"{family}: {len(records)} programs ({acc} accepted by the kernel)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", default=",".join(FAMILIES))
    ap.add_argument("--check", action="store_true", help="compare the hand cases' expected"
                    " lines with the kernel's and stop")
    args = ap.parse_args(argv)
    if unavailable := KL.unavailable_reason():
        sys.exit(f"cannot build the corpus: {unavailable}")
    hand = C.hand_cases()
    if args.check:
        return 1 if C.check(hand) else 0
    wanted = args.family.split(",")
    if "hand" in wanted:
        write("hand", judge(hand, keep_all=True))
    clang: list[Prog] = []
    if "clang" in wanted or "mutation" in wanted:
        clang, skipped = clang_progs()
        if "clang" in wanted:
            write("clang", judge(clang, keep_all=True))
            for why, n in sorted(skipped.items()):
                print(f"  left out: {n} x {why}")
    hyp = hypothesis_progs() if {"hypothesis", "mutation"} & set(wanted) else []
    hyp_records = judge(hyp, keep_all=False)
    if "hypothesis" in wanted:
        write("hypothesis", hyp_records)
    if "mutation" in wanted:
        ok_struct = {r["name"] for r in hyp_records if r["kernel"]["accepted"]}
        seeds = hand + clang + [p for p in hyp if p.name in ok_struct][:150]
        write("mutation", judge(mutants(seeds), keep_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
