"""``bpf-vm btf dump``: BTF as text, with bpftool as the oracle.

* ``format raw``: the same lines as ``bpftool btf dump file F format raw``, for the host's
  vmlinux BTF and for clang-built objects.
* ``format c``: with ``--legacy-enums`` the same text, byte for byte, as the installed
  bpftool (7.1, whose libbpf comes from Linux 6.1); by default it differs from it only
  by ``mode(byte)``/``mode(word)`` on enums of 1 and 8 bytes (libbpf 1.1's rule), which
  gives those enums, and the structs that hold them, the size BTF says.
* Layout: every named struct and union of the header, compiled with clang -target bpf,
  has the size and member offsets that BTF gives (static asserts generated from BTF);
  the only exceptions are those that hold a ``va_list``, whose size C leaves to the
  target.  The same asserts against bpftool's header fail only in structs that hold an
  enum that needs ``mode(...)``.
* CO-RE: a program reading a sample of kernel structs, built against our header and
  against bpftool's, has the same relocation records, and its compiled offsets are the
  kernel's.
* A real libbpf-tools program (bcc v0.26.0's opensnoop) builds with ``bpf-vm build``
  against the generated header, to the same instructions as against bpftool's.
* Bad input: one line naming the file and the byte offset of the bad record, exit 1.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from functools import cache
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from typer.testing import CliRunner

from bpf_vm.btf import Btf, Kind, parse_btf
from bpf_vm.btf_c import FOOTER, HEADER, CDumper, dump_c
from bpf_vm.btf_file import btf_from_bytes, dump_raw, load_btf_file
from bpf_vm.cli import app
from bpf_vm.core_reloc import parse_core_relos
from bpf_vm.errors import ElfLoadError

VMLINUX = Path("/sys/kernel/btf/vmlinux")
BPFTOOL = shutil.which("bpftool") or ("/usr/sbin/bpftool"
                                      if os.access("/usr/sbin/bpftool", os.X_OK) else None)
CLANG = shutil.which("clang-14") or shutil.which("clang")
BCC = Path("/work/.mirror/iovisor+bcc/repo")
runner = CliRunner()

needs_bpftool = pytest.mark.skipif(BPFTOOL is None, reason="bpftool is not installed")
needs_clang = pytest.mark.skipif(CLANG is None, reason="no clang (clang-14) to compile C")
needs_vmlinux = pytest.mark.skipif(not os.access(VMLINUX, os.R_OK),
                                   reason=f"{VMLINUX} is not readable")

# Every kind of declaration the writer has a rule for.
FEATURES_C = r"""
typedef unsigned long long u64_t;
typedef int arr_t[4];
typedef void (*handler_t)(int);
struct inner { int a; char b; };
typedef struct inner inner_t;
typedef inner_t *inner_ptr;
struct packed_s { char c; int i; long l; } __attribute__((packed));
struct packed_tail { long l; char c; } __attribute__((packed));
struct bits { unsigned a:3; unsigned b:13; unsigned long long c:40; int d:5; char e;
              int :0; int f:2; };
struct aligned_s { char c; long long x __attribute__((aligned(16))); char tail; };
struct hole { char c; int : 0; char d; long : 0; short s; };
struct arrs { int m[3][4][5]; char *names[2][8]; arr_t t[2]; const volatile int cv[2]; };
struct fp { int (*cb)(void *, int); void (*arr[4])(void); int (*(*ret_fp)(int))(char);
            int (*va)(const char *, ...); handler_t h; };
union u { int i; float f; double d; long double ld; struct { short lo, hi; } parts; };
enum e8 : unsigned char { E8_A, E8_B = 200 };
enum e64 : unsigned long { E64_A = 1, E64_B = 2 };
enum eneg { NEG_A = -5, NEG_B = 7 };
struct anon_holder { union { int x; long y; }; struct { char p; char q; } pq;
                     enum { AN1, AN2 } kind; struct { struct { int deep; } lvl2; } lvl1; };
struct other;
struct cv { const int ci; volatile long vl; int * restrict rp; const char *const cpc;
            struct other *fwd_only; };
struct self_ref { struct self_ref *next; union fwd_union *fu; };
struct mutual_b;
struct mutual_a { struct mutual_b *b; int x; };
struct mutual_b { struct mutual_a a; struct mutual_a *pa; };
struct flex { int n; char data[]; };
struct empty {};
struct holds_empty { struct empty e; int after; };
struct fnptr_anon { struct { int z; } *(*make)(struct { int w; } *); };
struct all {
    u64_t u; arr_t a; handler_t h; inner_t it; inner_ptr ip; struct packed_s ps;
    struct packed_tail pt; struct bits b; struct aligned_s as; struct hole ho;
    struct arrs ar; struct fp f; union u un; enum e8 e8; enum e64 e64; enum eneg en;
    struct anon_holder ah; struct cv cv; struct self_ref sr; struct mutual_a ma;
    struct mutual_b mb; struct flex *fl; struct empty em; struct holds_empty he;
    struct fnptr_anon fa; _Bool flag; float fl32; double fl64;
};
struct all g_all;
int f(struct all *p) { return p->a[1]; }
"""

# Two objects with different types of the same names, linked by bpftool: name___2.
CONFLICT_C = ("struct conflict { int a; }; typedef int conflict_t; enum ce { CE_X = 1 };\n"
              "struct conflict g1; conflict_t t1; enum ce e1;\n",
              "struct conflict { long b; char c; }; typedef long conflict_t;\n"
              "enum ce { CE_X = 2, CE_Y = 3 }; struct conflict g2; conflict_t t2;"
              " enum ce e2;\n")


def _run(argv: list[str], **kw: object) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False,
                         **kw)  # type: ignore[call-overload]
    assert res.returncode == 0, f"{argv[0]} failed: {res.stderr[-2000:]}"
    return str(res.stdout)


def bpftool_dump(path: Path, fmt: str) -> str:
    assert BPFTOOL is not None
    return _run([BPFTOOL, "btf", "dump", "file", str(path), "format", fmt])


def clang_object(tmp: Path, name: str, source: str) -> Path:
    assert CLANG is not None
    src = tmp / f"{name}.c"
    src.write_text(source)
    obj = tmp / f"{name}.o"
    _run([CLANG, "-target", "bpf", "-O2", "-g", "-Wno-fixed-enum-extension", "-c",
          str(src), "-o", str(obj)])
    return obj


def dumper(btf: Btf, enum_modes: bool = True) -> tuple[str, CDumper]:
    """The header and the dumper that wrote it (its names: ``struct x___2``...)."""
    d = CDumper(btf, enum_modes)
    for tid in range(1, len(btf.types)):
        d.dump_type(tid)
    return HEADER + d.text() + FOOTER, d


# -- layout: static asserts generated from BTF ----------------------------------------

def _members(btf: Btf, t_id: int, base: int = 0) -> list[tuple[str, int]]:
    """(name, byte offset) of the named, byte-aligned, non-bitfield members C can
    reach by name (through anonymous structs and unions)."""
    out = []
    for m in btf[t_id].members:
        if m.name:
            if not m.bitfield_size and (base + m.bit_offset) % 8 == 0:
                out.append((m.name, (base + m.bit_offset) // 8))
            continue
        inner = btf.skip_mods_and_typedefs(m.type)
        if inner.kind in (Kind.STRUCT, Kind.UNION) and not inner.name:
            out += _members(btf, inner.id, base + m.bit_offset)
    return out


def layout_asserts(btf: Btf, d: CDumper, header: Path) -> str:
    lines = [f'#include "{header}"']
    for t in btf.types[1:]:
        if t.kind in (Kind.STRUCT, Kind.UNION) and t.name:
            tag = f"{t.kind.name.lower()} {d.names[t.id]}"
            lines.append(f'_Static_assert(sizeof({tag}) == {t.size}, "{t.id} sizeof");')
            lines += [f'_Static_assert(__builtin_offsetof({tag}, {name}) == {off},'
                      f' "{t.id} {name}");' for name, off in _members(btf, t.id)]
    return "\n".join(lines) + "\n"


def failing_asserts(tmp: Path, btf: Btf, d: CDumper, header: Path) -> set[int]:
    """Type ids whose size or offsets the compiler disagrees with BTF about."""
    assert CLANG is not None
    check = tmp / f"check_{header.stem}.c"
    check.write_text(layout_asserts(btf, d, header))
    res = subprocess.run([CLANG, "-target", "bpf", "-fsyntax-only", "-ferror-limit=0",
                          "-Wno-fixed-enum-extension", str(check)],
                         capture_output=True, text=True, timeout=300, check=False)
    errors = [ln for ln in res.stderr.splitlines() if "error:" in ln]
    found = [re.search(r'"(\d+) [^"]*"$', ln) for ln in errors]
    assert all(found), f"the header does not compile: {errors[:5]}"
    return {int(m.group(1)) for m in found if m}


def embedding(btf: Btf, pred: object) -> set[int]:
    """Struct/union ids that hold, by value, a type for which ``pred(t)`` is true."""
    @cache
    def holds(tid: int) -> bool:
        t = btf[tid]
        if pred(t):  # type: ignore[operator]
            return True
        if t.kind in (Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT,
                      Kind.TYPE_TAG, Kind.ARRAY):
            return holds(t.ref)
        if t.kind in (Kind.STRUCT, Kind.UNION):
            return any(holds(m.type) for m in t.members)
        return False
    return {t.id for t in btf.types[1:] if t.kind in (Kind.STRUCT, Kind.UNION) and holds(t.id)}


def _va_list(t: object) -> bool:
    return getattr(t, "kind", None) is Kind.TYPEDEF and \
        getattr(t, "name", "") == "__builtin_va_list"


def _odd_enum(t: object) -> bool:
    return getattr(t, "kind", None) in (Kind.ENUM, Kind.ENUM64) and \
        getattr(t, "size", 4) in (1, 8)


# -- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module", name="kbtf")
def kbtf_fixture() -> Btf:
    if not os.access(VMLINUX, os.R_OK):
        pytest.skip(f"{VMLINUX} is not readable")
    return load_btf_file(VMLINUX).btf


@pytest.fixture(scope="module", name="kheaders")
def kheaders_fixture(kbtf: Btf, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Our header (default and legacy) for vmlinux, bpftool's, written to files."""
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed")
    tmp = tmp_path_factory.mktemp("vmlinux-h")
    ours, d = dumper(kbtf)
    legacy = dump_c(kbtf, enum_modes=False)
    theirs = bpftool_dump(VMLINUX, "c")
    paths = {}
    for name, text in (("ours", ours), ("legacy", legacy), ("bpftool", theirs)):
        (tmp / name).mkdir()
        paths[name] = tmp / name / "vmlinux.h"
        paths[name].write_text(text)
    return {"dumper": d, "tmp": tmp, **paths}


# -- raw -------------------------------------------------------------------------------

@pytest.mark.slow
@needs_bpftool
@needs_vmlinux
def test_raw_vmlinux_is_bpftools(kbtf: Btf) -> None:
    ours = dump_raw(kbtf).splitlines()
    theirs = bpftool_dump(VMLINUX, "raw").splitlines()
    assert len(ours) == len(theirs)
    diff = [(a, b) for a, b in zip(ours, theirs, strict=True) if a != b]
    assert not diff, diff[:5]


@needs_bpftool
@needs_clang
def test_raw_and_c_of_objects_are_bpftools(tmp_path: Path) -> None:
    feat = clang_object(tmp_path, "feat", FEATURES_C)
    parts = [clang_object(tmp_path, f"c{i}", src) for i, src in enumerate(CONFLICT_C)]
    linked = tmp_path / "linked.o"
    assert BPFTOOL is not None
    _run([BPFTOOL, "gen", "object", str(linked), *map(str, parts)])
    for obj in (feat, linked):
        btf = load_btf_file(obj).btf
        assert dump_raw(btf) == bpftool_dump(obj, "raw")
        assert dump_c(btf, enum_modes=False) == bpftool_dump(obj, "c")
    text = dump_c(load_btf_file(linked).btf)
    assert "struct conflict___2 {" in text and "typedef long conflict_t___2;" in text
    assert "\tCE_X___2 = 2,\n\tCE_Y = 3," in text


# -- C: text ---------------------------------------------------------------------------

@pytest.mark.slow
@needs_vmlinux
@needs_bpftool
def test_c_vmlinux_is_bpftools(kheaders: dict[str, object]) -> None:
    legacy = Path(str(kheaders["legacy"])).read_text()
    theirs = Path(str(kheaders["bpftool"])).read_text()
    assert legacy == theirs
    # the default adds mode(byte)/mode(word) after enums, and changes nothing else
    ours = Path(str(kheaders["ours"])).read_text().splitlines()
    theirs_lines = theirs.splitlines()
    assert len(ours) == len(theirs_lines)
    changed = [(a, b) for a, b in zip(ours, theirs_lines, strict=True) if a != b]
    for a, b in changed:
        assert b == "};" and a in ("} __attribute__((mode(byte)));",
                                   "} __attribute__((mode(word)));"), (a, b)


def test_c_declarations() -> None:
    """Declarators on a small hand-made BTF, without any tool."""
    text = dump_c(parse_btf(_btf([
        _int("int", 4, signed=True),                              # 1
        _rec(Kind.PTR, 0, 1),                                     # 2 int *
        _rec(Kind.CONST, 0, 2),                                   # 3 int * const
        _rec(Kind.ARRAY, 0, 0) + struct.pack("<III", 3, 1, 5),    # 4 int *const [5]
        _rec(Kind.FUNC_PROTO, 0, 1, vlen=2) + struct.pack("<IIII", 0, 1, 0, 0),  # 5
        _rec(Kind.PTR, 0, 5),                                     # 6 int (*)(int, ...)
        _rec(Kind.STRUCT, _S["s"], 56, vlen=2)
        + struct.pack("<III", _S["a"], 4, 0) + struct.pack("<III", _S["f"], 6, 384),
        _rec(Kind.ENUM64, _S["e"], 8, vlen=2)                     # 8
        + struct.pack("<III", _S["a"], 1, 0) + struct.pack("<III", _S["f"], 0, 1),
        _rec(Kind.ENUM, _S["neg"], 1, vlen=1, kflag=1) + struct.pack("<Ii", _S["a"], -5),
    ])))
    assert "struct s {\n\tint * const a[5];\n\tlong: 64;\n\tint (*f)(int, ...);\n};" \
        in text
    # a 64-bit value needs no mode(word); a second enumerator 'a' is a___2
    assert "enum e {\n\ta = 1ULL,\n\tf = 4294967296ULL,\n};" in text
    assert "enum neg {\n\ta___2 = -5,\n} __attribute__((mode(byte)));" in text


# -- C: layout and CO-RE -----------------------------------------------------------------

@pytest.mark.slow
@needs_vmlinux
@needs_bpftool
@needs_clang
def test_vmlinux_layout_is_btfs(kbtf: Btf, kheaders: dict[str, object]) -> None:
    d = kheaders["dumper"]
    assert isinstance(d, CDumper)
    tmp = Path(str(kheaders["tmp"]))
    va_list = embedding(kbtf, _va_list)
    ours = failing_asserts(tmp, kbtf, d, Path(str(kheaders["ours"])))
    assert ours <= va_list, sorted(kbtf[i].name for i in ours - va_list)[:20]
    # bpftool's header is wrong only where an enum needs mode(byte)/mode(word)
    theirs = failing_asserts(tmp, kbtf, d, Path(str(kheaders["bpftool"])))
    assert theirs - va_list <= embedding(kbtf, _odd_enum)


@needs_clang
def test_object_layout_is_btfs(tmp_path: Path) -> None:
    btf = load_btf_file(clang_object(tmp_path, "feat", FEATURES_C)).btf
    text, d = dumper(btf)
    header = tmp_path / "feat.h"
    header.write_text(text)
    assert failing_asserts(tmp_path, btf, d, header) == set()
    for must in ("} __attribute__((packed));", "\tlong: 64;", "\tint: 0;",
                 "\tint m[3][4][5];", "\tvoid (*arr[4])(void);",
                 "\tint (* (*ret_fp)(int))(char);", "\tint * restrict rp;",
                 "\tconst char * const cpc;", "} __attribute__((mode(byte)));",
                 "union fwd_union;", "struct mutual_b;", "struct empty {};",
                 "\tenum {\n\t\tAN1 = 0,"):
        assert must in text, must


def _core_program(kbtf: Btf, d: CDumper, step: int) -> tuple[str, dict[str, int]]:
    """A program with one field-offset relocation and one type-size relocation per
    sampled struct; expected values by (type name, access string)."""
    body, expect = [], {}
    structs = [t for t in kbtf.types[1:] if t.kind is Kind.STRUCT and t.name]
    for t in structs[::step]:
        named = [(i, m) for i, m in enumerate(t.members)
                 if m.name and not m.bitfield_size and m.bit_offset % 8 == 0]
        if not named:
            continue
        i, m = named[len(named) // 2]
        name = d.names[t.id]
        body.append(f"\ts += __builtin_preserve_field_info(((struct {name} *)ctx)->{m.name},"
                    " 0);")
        body.append(f"\ts += __builtin_preserve_type_info(*(struct {name} *)0, 1);")
        expect[f"{name} 0:{i}"] = m.bit_offset // 8
        expect[f"{name} 0"] = t.size
    src = ('#include "vmlinux.h"\n'
           'int prog(void *ctx) __attribute__((section("kprobe/x"), used));\n'
           "int prog(void *ctx)\n{\n\tunsigned long s = 0;\n" + "\n".join(body)
           + "\n\treturn s;\n}\n")
    return src, expect


def _relocs(obj: Path) -> list[tuple[str, int, int, str, str, int]]:
    """(section, insn offset, kind, type name, access, the insn's value: the offset of
    a load or store, else the immediate)."""
    with obj.open("rb") as f:
        elf = ELFFile(f)
        btf_sec, ext = elf.get_section_by_name(".BTF"), elf.get_section_by_name(".BTF.ext")
        assert btf_sec is not None and ext is not None
        btf = parse_btf(btf_sec.data())
        code = {s.name: s.data() for s in elf.iter_sections() if s["sh_flags"] & 0x4}
        out = []
        for r in parse_core_relos(ext.data(), btf.strings):
            opcode, _regs, off, imm = struct.unpack_from("<BBhi", code[r.section], r.insn_off)
            value = off if opcode & 7 in (1, 2, 3) else imm     # LDX, ST, STX
            out.append((r.section, r.insn_off, r.kind, btf[r.type_id].name, r.access, value))
    return out


@pytest.mark.slow
@needs_vmlinux
@needs_bpftool
@needs_clang
def test_core_relocations_as_with_bpftools_header(kbtf: Btf,
                                                  kheaders: dict[str, object]) -> None:
    d = kheaders["dumper"]
    assert isinstance(d, CDumper)
    src, expect = _core_program(kbtf, d, step=20)
    assert len(expect) > 400
    relocs = {}
    for which in ("ours", "bpftool"):
        work = Path(str(kheaders[which])).parent
        relocs[which] = _relocs(clang_object(work, "core", src))
    strip = [r[:5] for r in relocs["ours"]]
    assert strip == [r[:5] for r in relocs["bpftool"]]
    assert len(strip) == len(expect)
    got = {f"{name} {access}": imm for _s, _o, _k, name, access, imm in relocs["ours"]}
    assert got == expect


@pytest.mark.slow
@needs_vmlinux
@needs_bpftool
@pytest.mark.needs_bpf_cc
@pytest.mark.skipif(not BCC.exists(), reason=f"bcc's sources are not mirrored at {BCC}")
def test_opensnoop_builds_against_the_generated_header(
        tmp_path: Path, kheaders: dict[str, object]) -> None:
    objs = {}
    for which in ("ours", "bpftool"):
        work = tmp_path / which
        work.mkdir()
        for name in ("opensnoop.bpf.c", "opensnoop.h"):
            (work / name).write_text(_run(["git", f"--git-dir={BCC}", "show",
                                           f"v0.26.0:libbpf-tools/{name}"]))
        shutil.copy(str(kheaders[which]), work / "vmlinux.h")
        res = runner.invoke(app, ["build", str(work / "opensnoop.bpf.c"), "-I", str(work),
                                  "-o", str(work / "opensnoop.bpf.o"), "--no-cache"])
        assert res.exit_code == 0, res.output
        with (work / "opensnoop.bpf.o").open("rb") as f:
            elf = ELFFile(f)
            objs[which] = {s.name: s.data() for s in elf.iter_sections()
                           if s["sh_flags"] & 0x4 and s.data()}
    assert len(objs["ours"]) == 4          # the four syscall tracepoint programs
    assert objs["ours"] == objs["bpftool"]


@needs_clang
def test_header_of_the_shipped_subset(tmp_path: Path) -> None:
    """Without a FILE, the target BTF of CO-RE: here the subset trace-run ships (for
    hosts without /sys/kernel/btf/vmlinux), whose header must build a CO-RE program."""
    from bpf_vm.core_match import fallback_btf_path
    subset = fallback_btf_path()
    res = runner.invoke(app, ["btf", "dump", "-f", "c", "-o", str(tmp_path / "vmlinux.h")],
                        env={"BPF_VM_TARGET_BTF": str(subset)})
    assert res.exit_code == 0, res.output
    btf = load_btf_file(subset).btf
    text, d = dumper(btf)
    assert (tmp_path / "vmlinux.h").read_text() == text
    assert failing_asserts(tmp_path, btf, d, tmp_path / "vmlinux.h") == set()
    src = ('#include "vmlinux.h"\n'
           'int prog(struct pt_regs *ctx) __attribute__((section("kprobe/x"), used));\n'
           "int prog(struct pt_regs *ctx)\n{\n\tstruct task_struct *t = (void *)ctx->di;\n"
           "\treturn t->real_parent->tgid + t->pid;\n}\n")
    got = {(name, access, value)
           for _s, _o, _k, name, access, value in _relocs(clang_object(tmp_path, "p", src))}
    task, regs = btf.find("task_struct", Kind.STRUCT), btf.find("pt_regs", Kind.STRUCT)
    assert task is not None and regs is not None
    want = {("pt_regs", f"0:{i}", m.bit_offset // 8)
            for i, m in enumerate(regs.members) if m.name == "di"}
    want |= {("task_struct", f"0:{i}", m.bit_offset // 8) for i, m in enumerate(task.members)
             if m.name in ("real_parent", "tgid", "pid")}
    assert got == want


# -- bad input ----------------------------------------------------------------------------

_S = {"": 0, "int": 1, "s": 5, "a": 7, "f": 9, "loop": 11, "e": 16, "neg": 18}
_STRINGS = b"\0int\0s\0a\0f\0loop\0e\0neg\0"


def _rec(kind: Kind, name: int, size_or_type: int, vlen: int = 0, kflag: int = 0) -> bytes:
    return struct.pack("<III", name, (kflag << 31) | (kind << 24) | vlen, size_or_type)


def _int(name: str, size: int, signed: bool = False) -> bytes:
    return _rec(Kind.INT, _S[name], size) + struct.pack("<I", (int(signed) << 24) | size * 8)


def _btf(records: list[bytes], strings: bytes = _STRINGS) -> bytes:
    types = b"".join(records)
    return struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                       len(strings)) + types + strings


def _bad(tmp_path: Path, data: bytes, *args: str) -> tuple[str, Path]:
    path = tmp_path / "bad.btf"
    path.write_bytes(data)
    res = runner.invoke(app, ["btf", "dump", str(path), *args])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert str(path) in res.output
    return res.output, path


def test_bad_input_names_file_and_offset(tmp_path: Path) -> None:
    good = [_int("int", 4, signed=True), _rec(Kind.PTR, 0, 1)]
    out, _ = _bad(tmp_path, b"\0\0" + _btf(good)[2:], "--format", "c")
    assert "at offset 0 " in out and "magic" in out
    # record 2 (24 bytes of header, 16 of record 1): an unknown kind
    out, _ = _bad(tmp_path, _btf([good[0], _rec(Kind.PTR, 0, 1)[:4]
                                  + struct.pack("<I", 25 << 24) + b"\1\0\0\0"]))
    assert "at offset 40 (0x28)" in out and "unknown kind 25" in out
    # record 2 refers to type 9, which does not exist
    out, _ = _bad(tmp_path, _btf([good[0], _rec(Kind.PTR, 0, 9)]), "--format", "c")
    assert "at offset 40 " in out and "type id 9" in out
    # a name outside the strings
    out, _ = _bad(tmp_path, _btf([good[0], _rec(Kind.TYPEDEF, 999, 1)]))
    assert "at offset 40 " in out and "name offset 999" in out
    # truncated: the header promises more than the file has
    out, _ = _bad(tmp_path, _btf(good)[:40])
    assert "at offset 0 " in out and "extends past the end" in out
    # a struct that holds itself by value: no C for it
    loop = _rec(Kind.STRUCT, _S["loop"], 8, vlen=1) + struct.pack("<III", _S["a"], 2, 0)
    out, _ = _bad(tmp_path, _btf([good[0], loop]), "--format", "c")
    assert "at offset 40 " in out and "cycle" in out


@needs_clang
def test_corrupted_btf_is_an_error_never_a_traceback(tmp_path: Path) -> None:
    """Random words and bytes of a real object's BTF overwritten (seeded): every result
    is a dump or one located error; nothing hangs on a corrupt size."""
    import random
    with clang_object(tmp_path, "feat", FEATURES_C).open("rb") as f:
        sec = ELFFile(f).get_section_by_name(".BTF")
        assert sec is not None
        blob = sec.data()
    rng = random.Random(15)
    errors = 0
    for _ in range(300):
        b = bytearray(blob)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(b) - 4)
            if rng.random() < 0.5:
                b[pos] = rng.randrange(256)
            else:
                struct.pack_into("<I", b, pos - pos % 4, rng.choice(
                    [0, 1, 2, 3, rng.randrange(200), rng.randrange(1 << 32)]))
        try:
            loaded = btf_from_bytes(bytes(b), "fuzz.btf")
            dump_raw(loaded.btf)
            dump_c(loaded.btf)
        except ElfLoadError as exc:
            assert str(exc).startswith("fuzz.btf") or "type id" in str(exc)
            errors += 1
    assert 0 < errors < 300


def test_elf_without_btf_and_missing_file(tmp_path: Path) -> None:
    true = shutil.which("true")
    assert true is not None
    res = runner.invoke(app, ["btf", "dump", true])
    assert res.exit_code == 1 and "without a .BTF section" in res.output
    res = runner.invoke(app, ["btf", "dump", str(tmp_path / "nope")])
    assert res.exit_code == 1 and "No such file" in res.output
    res = runner.invoke(app, ["btf", "dump", true, "--format", "json"])
    assert res.exit_code == 2


def test_output_file(tmp_path: Path) -> None:
    path = tmp_path / "t.btf"
    path.write_bytes(_btf([_int("int", 4, signed=True), _rec(Kind.TYPEDEF, _S["s"], 1)]))
    out = tmp_path / "t.h"
    res = runner.invoke(app, ["btf", "dump", str(path), "-f", "c", "-o", str(out)])
    assert res.exit_code == 0 and res.output == ""
    assert "\ntypedef int s;\n" in out.read_text()
    res = runner.invoke(app, ["btf", "dump", str(path)])
    assert res.output == ("[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n"
                          "[2] TYPEDEF 's' type_id=1\n")
