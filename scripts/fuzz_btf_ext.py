#!/usr/bin/env python3
"""A structure-aware fuzzer of an object's ``.BTF.ext`` and ``.BTF``: no record, however
malformed, may end the loader in a Python traceback.

The seed is a clang-built object with func_info, line_info and CO-RE relocation records
(:data:`SEED_SOURCE`: ``BPF_CORE_READ`` chains, field existence and size, type and enum
relocations, a subprogram).  Each case mutates one to three *fields* of it, chosen from
a map of the seed's records (:func:`field_map`):

* ``.BTF.ext``: the header (magic, version, flags, hdr_len, each subsection's offset and
  length), each subsection's record size, its section headers (section name offset,
  record count), and every record's fields (func_info: insn_off, type_id; line_info:
  insn_off, file_name_off, line_off, line_col; core_relo: insn_off, type_id,
  access_str_off, kind), plus the bytes of the access strings (``0:1:2``) in ``.BTF``'s
  strings, and the section's length in the ELF section header (a truncated section);
* ``.BTF``: the header, and every type record's fields (name_off, the info word's kind,
  vlen and kind_flag, size_or_type, and the kind's trailing data: members, params, enum
  values, array, var, datasec entries).

Values are the ones that find bugs: 0, 1, all-ones, sign boundaries, the old value
plus or minus a record size, another field's value of the same kind (a valid offset or
type id in the wrong place), random ones.  A case is then loaded as ``trace-run --probe``
loads an object (:func:`bpf_vm.load_object` into a fresh VM, every program through
:func:`bpf_vm.prog_load`) and its line info read as the explorer reads it
(:func:`bpf_vm.btf_ext.program_lines`).  Outcomes: loaded, a one-line
:class:`~bpf_vm.BpfError` (grouped by the loader function that raised it and its
message with numbers elided), or anything else (a traceback: the bug).

    python3 scripts/fuzz_btf_ext.py [-n 10000] [--seed 1] [--show 5]

Exit status 1 when any case ended in a traceback, or an error of the BTF and .BTF.ext
parsers did not name its section and offset on one line.
"""

from __future__ import annotations

import argparse
import random
import re
import struct
import sys
import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED_SOURCE = r"""
#include "bpf_helpers.h"
#include "bpf_tracing.h"

typedef struct { unsigned int val; } kuid_t;
struct cred { kuid_t uid; kuid_t gid; } __attribute__((preserve_access_index));
struct task_struct {
    int pid; int tgid; struct task_struct *real_parent; const struct cred *cred;
    char comm[16]; unsigned int flags : 3;
} __attribute__((preserve_access_index));
enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_MAX___x };

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u64); } seen SEC(".maps");

static __attribute__((noinline)) int note(__u32 k, __u64 v)
{
    bpf_map_update_elem(&seen, &k, &v, 0);
    return 0;
}

SEC("kprobe/__x64_sys_openat")
int on_open(struct pt_regs *ctx)
{
    struct task_struct *t = (void *)bpf_get_current_task(), *p = 0;
    const struct cred *c = 0;
    int ppid = 0;
    unsigned int uid = 0;
    bpf_probe_read_kernel(&p, sizeof(p), &t->real_parent);
    bpf_probe_read_kernel(&ppid, sizeof(ppid), &p->tgid);
    bpf_probe_read_kernel(&c, sizeof(c), &t->cred);
    bpf_probe_read_kernel(&uid, sizeof(uid), &c->uid.val);
    __u64 v = ppid + uid;
    if (__builtin_preserve_field_info(t->comm, 2))          /* field exists */
        v += __builtin_preserve_field_info(t->comm, 1);     /* byte size */
    v += __builtin_preserve_field_info(t->flags, 0)         /* byte offset */
         + __builtin_preserve_field_info(t->flags, 4)       /* lshift */
         + __builtin_preserve_field_info(t->flags, 5)       /* rshift */
         + __builtin_preserve_field_info(t->pid, 3);        /* signed */
    return note(0, v);
}

SEC("kprobe/__x64_sys_close")
int on_close(struct pt_regs *ctx)
{
    __u64 v = __builtin_preserve_type_info(*(struct task_struct *)0, 1);   /* size */
    v += __builtin_preserve_type_info(*(struct cred *)0, 0);              /* exists */
    v += __builtin_preserve_enum_value(*(enum pid_type *)PIDTYPE_TGID, 0); /* exists */
    v += __builtin_preserve_enum_value(*(enum pid_type *)PIDTYPE_TGID, 1); /* value */
    v += __builtin_btf_type_id(*(struct task_struct *)0, 1) != 0;         /* target id */
    return note(1, v);
}

char LICENSE[] SEC("license") = "GPL";
"""

_SHDR = struct.Struct("<IIQQQQIIQQ")


@dataclass(frozen=True, slots=True)
class Field:
    """A mutable place in the object: absolute file offset, size in bytes, and what it
    is (``label`` groups fields of one kind: values are borrowed within a label)."""
    offset: int
    size: int
    label: str


def sections(data: bytes) -> dict[str, tuple[int, int, int]]:
    """name -> (file offset, size, offset of the sh_size field of its section header)."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    heads = [_SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
    strtab = heads[shstrndx][4]
    out = {}
    for i, h in enumerate(heads):
        end = data.index(b"\0", strtab + h[0])
        out[data[strtab + h[0]:end].decode()] = (h[4], h[5], shoff + i * shentsize + 32)
    return out


def _btf_fields(data: bytes, base: int) -> tuple[list[Field], int, int]:
    """Fields of ``.BTF`` at ``base``; returns them and its strings' file offset, size."""
    u32 = lambda off: struct.unpack_from("<I", data, off)[0]   # noqa: E731
    fields = [Field(base, 2, "btf.magic"), Field(base + 2, 1, "btf.version"),
              Field(base + 3, 1, "btf.flags")]
    fields += [Field(base + 4 + 4 * i, 4, f"btf.hdr.{n}") for i, n in
               enumerate(("hdr_len", "type_off", "type_len", "str_off", "str_len"))]
    hdr_len = u32(base + 4)
    type_off, type_len, str_off, str_len = (u32(base + 8 + 4 * i) for i in range(4))
    pos, end = base + hdr_len + type_off, base + hdr_len + type_off + type_len
    trailing = {1: (4, "int_enc"), 2: (0, ""), 3: (12, "array"), 4: (12, "member"),
                5: (12, "member"), 6: (8, "enum"), 13: (8, "param"), 14: (4, "var"),
                15: (12, "datasec"), 17: (4, "decl_tag"), 19: (12, "enum64")}
    per_vlen = {4, 5, 6, 13, 15, 19}
    while pos + 12 <= end:
        info = u32(pos + 4)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        fields += [Field(pos, 4, "type.name_off"), Field(pos + 4, 4, "type.info"),
                   Field(pos + 6, 2, "type.info.vlen_hi"), Field(pos + 7, 1, "type.kind"),
                   Field(pos + 8, 4, "type.size_or_type")]
        pos += 12
        size, what = trailing.get(kind, (0, ""))
        count = vlen if kind in per_vlen else (1 if size else 0)
        for _ in range(count):
            fields += [Field(pos + k, 4, f"type.{what}.{k // 4}") for k in range(0, size, 4)]
            pos += size
    return fields, base + hdr_len + str_off, str_len


def _ext_fields(data: bytes, base: int, size: int, strings: int) -> list[Field]:
    u32 = lambda off: struct.unpack_from("<I", data, off)[0]   # noqa: E731
    fields = [Field(base, 2, "ext.magic"), Field(base + 2, 1, "ext.version"),
              Field(base + 3, 1, "ext.flags"), Field(base + 4, 4, "ext.hdr_len")]
    hdr_len = u32(base + 4)
    kinds = (("func_info", ("insn_off", "type_id")),
             ("line_info", ("insn_off", "file_name_off", "line_off", "line_col")),
             ("core_relo", ("insn_off", "type_id", "access_str_off", "kind")))
    for i, (name, recs) in enumerate(kinds):
        hoff = base + 8 + 8 * i
        if hoff + 8 > base + hdr_len:
            break
        fields += [Field(hoff, 4, f"ext.{name}_off"), Field(hoff + 4, 4, f"ext.{name}_len")]
        start = base + hdr_len + u32(hoff)
        end = start + u32(hoff + 4)
        if start >= end:
            continue
        fields.append(Field(start, 4, f"{name}.rec_size"))
        rec_size, pos = u32(start), start + 4
        while pos + 8 <= end:
            fields += [Field(pos, 4, f"{name}.sec_name_off"), Field(pos + 4, 4, f"{name}.num")]
            num, pos = u32(pos + 4), pos + 8
            for _ in range(num):
                fields += [Field(pos + 4 * k, 4, f"{name}.{r}") for k, r in enumerate(recs)]
                if name == "core_relo":      # the access string's bytes
                    s = strings + u32(pos + 8)
                    e = data.index(b"\0", s)
                    fields += [Field(s + k, 1, "access_str.byte") for k in range(e - s + 1)]
                pos += rec_size
    return fields


def field_map(data: bytes) -> list[Field]:
    """Every field of the seed's ``.BTF`` and ``.BTF.ext`` worth mutating."""
    secs = sections(data)
    btf_off, _btf_size, _ = secs[".BTF"]
    ext_off, ext_size, ext_shsize = secs[".BTF.ext"]
    fields, strings, _ = _btf_fields(data, btf_off)
    fields += _ext_fields(data, ext_off, ext_size, strings)
    fields.append(Field(ext_shsize, 8, "ext.sh_size"))
    return fields


_SPECIAL = (0, 1, 2, 3, 4, 7, 8, 12, 16, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
            0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE)


def mutate(seed: bytes, fields: list[Field], rnd: random.Random) -> tuple[bytes, list[str]]:
    """One case: 1-3 fields changed (often 1, so each error is reachable alone)."""
    data = bytearray(seed)
    what = []
    by_label: dict[str, list[Field]] = {}
    for f in fields:
        by_label.setdefault(f.label, []).append(f)
    for _ in range(rnd.choice((1, 1, 1, 2, 3))):
        f = rnd.choice(fields)
        mask = (1 << (8 * f.size)) - 1
        old = int.from_bytes(data[f.offset:f.offset + f.size], "little")
        if f.label == "access_str.byte":
            new = ord(rnd.choice("0123456789:::\0x-9 ")) if rnd.random() < 0.8 \
                else rnd.randrange(256)
        elif f.label == "ext.sh_size":
            new = rnd.randrange(old + 1)
        else:
            how = rnd.randrange(6)
            if how == 0:
                new = rnd.choice(_SPECIAL)
            elif how == 1:
                new = old + rnd.choice((-16, -12, -8, -4, -1, 1, 4, 8, 12, 16))
            elif how == 2:
                other = rnd.choice(by_label[f.label] + rnd.sample(fields, 1))
                new = int.from_bytes(seed[other.offset:other.offset + other.size], "little")
            elif how == 3:
                new = old ^ (1 << rnd.randrange(8 * f.size))
            elif how == 4 and f.label == "type.info":
                new = (old & ~(0x1F << 24)) | (rnd.randrange(32) << 24)
            else:
                new = rnd.getrandbits(8 * f.size) if rnd.random() < 0.5 \
                    else rnd.randrange(64)
        new &= mask
        data[f.offset:f.offset + f.size] = new.to_bytes(f.size, "little")
        what.append(f"{f.label}@{f.offset}: {old:#x} -> {new:#x}")
    return bytes(data), what


#: loader functions whose errors describe a malformed record: they must name the
#: section and the offset
PARSERS = {("btf.py", "parse_btf"), ("btf.py", "_parse_type"), ("btf.py", "_string"),
           ("btf.py", "_check_refs"),
           ("btf.py", "need"), ("btf_ext.py", "parse_line_info"), ("btf_ext.py", "_string"),
           ("core_reloc.py", "parse_core_relos"), ("core_reloc.py", "_string"),
           ("btf.py", "btf_ext_core_relo_len"), ("core_reloc.py", "apply_core_relos")}


def raised_in(exc: BaseException) -> tuple[str, str]:
    """(file name, function) of the frame that raised ``exc``."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?", "?"
    code = tb.tb_frame.f_code
    return Path(code.co_filename).name, code.co_name


def run_case(data: bytes, tmp: Path) -> tuple[str, str, BaseException | None]:
    """('loaded' | 'error' | 'traceback', detail, the exception)."""
    from bpf_vm import BpfError, Vm, load_object, prog_load
    from bpf_vm.btf_ext import program_lines
    try:
        obj = load_object(data, Vm())
        for prog in obj.programs.values():
            prog_load(obj.vm, prog)
        path = tmp / "case.o"
        path.write_bytes(data)
        program_lines(path)
    except BpfError as exc:
        return "error", str(exc), exc
    except Exception as exc:      # the bug this fuzzer looks for
        return "traceback", "".join(traceback.format_exception(exc)), exc
    return "loaded", "", None


def error_class(exc: BaseException, message: str) -> str:
    file, func = raised_in(exc)
    text = re.sub(r"'[^']*'", "'…'", message)
    text = re.sub(r"0x[0-9a-f]+|\d+", "N", text)
    return f"{type(exc).__name__} [{file}:{func}] {text[:110]}"


def well_formed(exc: BaseException, message: str) -> bool:
    """One line; a parser's error names its section and the offset."""
    if "\n" in message:
        return False
    if raised_in(exc) in PARSERS:
        return bool(re.search(r"\.BTF(\.ext)?\b", message)) and "offset" in message
    return True


def seed_object(tmp: Path) -> bytes:
    from probes import build
    src = tmp / "seed.bpf.c"
    src.write_text(SEED_SOURCE)
    return build(src, tmp / "seed.o", cache=tmp / "cache").read_bytes()


def fuzz(n: int, seed: int, show: int = 0, out: object = sys.stdout) -> dict[str, object]:
    """Run ``n`` cases; returns the counts (what the test and the CLI report)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-btf-ext-") as t:
        tmp = Path(t)
        base = seed_object(tmp)
        fields = field_map(base)
        rnd = random.Random(seed)
        outcomes: Counter[str] = Counter()
        classes: Counter[str] = Counter()
        bad: list[str] = []
        tracebacks: list[str] = []
        for _ in range(n):
            data, what = mutate(base, fields, rnd)
            outcome, detail, exc = run_case(data, tmp)
            outcomes[outcome] += 1
            if outcome == "traceback":
                tracebacks.append(f"{'; '.join(what)}\n{detail}")
            elif exc is not None:
                classes[error_class(exc, detail)] += 1
                if not well_formed(exc, detail):
                    bad.append(f"{'; '.join(what)}: {detail!r}")
    return {"cases": n, "fields": len(fields), "outcomes": dict(outcomes),
            "classes": dict(classes.most_common()), "tracebacks": tracebacks,
            "malformed_messages": bad}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10_000, help="cases (default 10000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show", type=int, default=3, help="tracebacks and bad messages shown")
    args = ap.parse_args(argv)
    r = fuzz(args.n, args.seed)
    oc = r["outcomes"]
    assert isinstance(oc, dict)
    print(f"{r['cases']} cases over {r['fields']} fields (seed {args.seed}):"
          f" {oc.get('loaded', 0)} loaded, {oc.get('error', 0)} one-line errors,"
          f" {oc.get('traceback', 0)} tracebacks;"
          f" {len(r['malformed_messages'])} parser errors without section and offset")
    print("\nerror classes (raised in, message with names and numbers elided):")
    classes = r["classes"]
    assert isinstance(classes, dict)
    for c, k in classes.items():
        print(f"  {k:6}  {c}")
    for tb in list(r["tracebacks"])[:args.show]:               # type: ignore[call-overload]
        print("\nTRACEBACK after", tb)
    for m in list(r["malformed_messages"])[:args.show]:         # type: ignore[call-overload]
        print("\nBAD MESSAGE", m)
    return 1 if oc.get("traceback", 0) or r["malformed_messages"] else 0


if __name__ == "__main__":
    sys.exit(main())
