"""probes/: the build, the headers, and the seed's tracex5 pattern (syscalls.bpf.c and
dispatch.s) on synthetic pt_regs."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bpf_vm.elf import load_object
from bpf_vm.host import FakeHost
from bpf_vm.isa import CallKind, Kind
from bpf_vm.objfile import load_asm
from bpf_vm.objrun import pt_regs
from bpf_vm.toolchain import BuildError, cache_key, compiler_command
from bpf_vm.vm import Vm
from probes import INCLUDE_DIR, build
from probes.abi import PT_REGS_FIELDS, PT_REGS_SIZE, x86_64_syscall_number
from tests.bpf_c import cc_fixture  # noqa: F401  (the `cc` fixture)

ROOT = Path(__file__).resolve().parent.parent
PROBES = ROOT / "probes"

# -- the build ---------------------------------------------------------------------------


def test_build_and_cache(tmp_path: Path) -> None:
    src = tmp_path / "p.c"
    src.write_text('#include "bpf_helpers.h"\nSEC("xdp") int f(void *c) { return 7; }\n')
    cache = tmp_path / "cache"
    out = build(src, tmp_path / "p.o", cache=cache)
    assert out.read_bytes()[:4] == b"\x7fELF"
    assert len(list(cache.glob("*.o"))) == 1
    # a second build is served from the cache: the compiler is not run
    before = {p: p.stat().st_mtime_ns for p in cache.glob("*.o")}
    again = build(src, tmp_path / "q.o", cache=cache)
    assert again.read_bytes() == out.read_bytes()
    assert {p: p.stat().st_mtime_ns for p in cache.glob("*.o")} == before
    # any change to the source is a new key
    src.write_text(src.read_text().replace("7", "8"))
    build(src, tmp_path / "r.o", cache=cache)
    assert len(list(cache.glob("*.o"))) == 2


def test_cache_key_covers_headers_compiler_and_flags(tmp_path: Path) -> None:
    src = tmp_path / "p.c"
    src.write_text('#include "mine.h"\n')
    hdr = tmp_path / "mine.h"
    hdr.write_text("#define X 1\n")
    cmd = compiler_command()
    k0 = cache_key(src, cmd, ["-O2"], [INCLUDE_DIR])
    hdr.write_text("#define X 2\n")
    k1 = cache_key(src, cmd, ["-O2"], [INCLUDE_DIR])
    assert len({k0, k1, cache_key(src, cmd, ["-O1"], [INCLUDE_DIR]),
                cache_key(src, ["clang", "-target", "bpf"], ["-O2"], [INCLUDE_DIR])}) == 4


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bpf_vm.toolchain import cache_dir
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "trace-run"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "trace-run"


def test_compile_error_carries_the_compilers_message(tmp_path: Path) -> None:
    src = tmp_path / "bad.c"
    src.write_text("int f( { return 0; }\n")
    with pytest.raises(BuildError) as info:
        build(src, tmp_path / "bad.o", cache=tmp_path / "cache")
    first, _, rest = str(info.value).partition("\n")
    assert first == f"{src}: compilation failed (exit status 1)"
    assert "error:" in rest and "bad.c:1:" in rest
    assert not list((tmp_path / "cache").glob("*.o"))


def test_bpf_cc_selects_the_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "fakecc"
    log = tmp_path / "argv"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {log}\necho 'fake: no' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("BPF_CC", str(fake))
    assert compiler_command() == [str(fake), "-target", "bpf"]
    src = tmp_path / "p.c"
    src.write_text("int x;\n")
    with pytest.raises(BuildError, match="exit status 3") as info:
        build(src, tmp_path / "p.o", cache=tmp_path / "cache")
    assert "fake: no" in str(info.value)
    argv = log.read_text().split()
    assert argv[:2] == ["-target", "bpf"] and "-O2" in argv and f"-I{INCLUDE_DIR}" in argv


def test_cli_build(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bpf_vm.cli import app
    src = tmp_path / "p.bpf.c"
    src.write_text('#include "bpf_helpers.h"\nSEC("xdp") int f(void *c) { return 7; }\n')
    res = CliRunner().invoke(app, ["build", str(src), "-o", str(tmp_path / "p.o")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p.o").read_bytes()[:4] == b"\x7fELF"
    src.write_text("oops\n")
    res = CliRunner().invoke(app, ["build", str(src), "-o", str(tmp_path / "p.o")])
    assert res.exit_code == 1
    assert "compilation failed" in res.output and "Traceback" not in res.output


# -- headers -----------------------------------------------------------------------------

@pytest.mark.needs_uapi_headers("/usr/include/linux/bpf.h")  # the prototypes' source
def test_generated_headers_do_not_drift() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_probe_headers.py"),
                        "--check"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


def test_syscall_numbers_header_is_the_tracers_table() -> None:
    from probes.abi import Abi, syscalls
    text = (INCLUDE_DIR / "syscall_nrs.h").read_text()
    defined = {line.split()[1][5:]: int(line.split()[2]) for line in text.splitlines()
               if line.startswith("#define __NR_")}
    assert defined == {name: nr for nr, name in syscalls(Abi.X86_64).items()}
    assert defined["openat"] == 257 and defined["clone3"] == 435


PT_REGS_PROGS = "".join(
    f'SEC("kprobe/x") int get_{m.lower()}(struct pt_regs *ctx) {{ return {m}(ctx); }}\n'
    for m in ("PT_REGS_PARM1", "PT_REGS_PARM2", "PT_REGS_PARM3", "PT_REGS_PARM4",
              "PT_REGS_PARM5", "PT_REGS_PARM6", "PT_REGS_PARM1_SYSCALL",
              "PT_REGS_PARM2_SYSCALL", "PT_REGS_PARM3_SYSCALL", "PT_REGS_PARM4_SYSCALL",
              "PT_REGS_PARM5_SYSCALL", "PT_REGS_PARM6_SYSCALL", "PT_REGS_RC",
              "PT_REGS_SYSCALL_NR", "PT_REGS_IP", "PT_REGS_SP", "PT_REGS_FP")
) + """
SEC("kprobe/x") int size(void *ctx) { return sizeof(struct pt_regs); }
char LICENSE[] SEC("license") = "GPL";
"""


def test_pt_regs_layout_and_accessors(cc) -> None:
    vm = Vm()
    obj = load_object(cc(PT_REGS_PROGS), vm)
    regs = {f: 100 + i for i, f in enumerate(PT_REGS_FIELDS)}
    ctx = pt_regs(regs)
    got = {name[4:]: vm.run(p, ctx, ctx_writable=False).r0
           for name, p in obj.programs.items() if name.startswith("get_")}
    want = {"pt_regs_parm1": "di", "pt_regs_parm2": "si", "pt_regs_parm3": "dx",
            "pt_regs_parm4": "cx", "pt_regs_parm5": "r8", "pt_regs_parm6": "r9",
            "pt_regs_parm1_syscall": "di", "pt_regs_parm2_syscall": "si",
            "pt_regs_parm3_syscall": "dx", "pt_regs_parm4_syscall": "r10",
            "pt_regs_parm5_syscall": "r8", "pt_regs_parm6_syscall": "r9",
            "pt_regs_rc": "ax", "pt_regs_syscall_nr": "orig_ax", "pt_regs_ip": "ip",
            "pt_regs_sp": "sp", "pt_regs_fp": "bp"}
    assert got == {k: regs[v] for k, v in want.items()}
    assert vm.run(obj.programs["size"], ctx).r0 == 168


def test_c_header_declares_the_one_pt_regs_layout() -> None:
    """bpf_tracing.h's struct pt_regs is bpf_vm.pt_regs, field for field: 21 unsigned
    longs in the same order (the C side cannot import the Python definition)."""
    text = (INCLUDE_DIR / "bpf_tracing.h").read_text()
    body = re.search(r"struct pt_regs \{(.*?)\};", text, re.S)
    assert body is not None, "bpf_tracing.h has no struct pt_regs"
    decls = re.findall(r"^\s*(unsigned long) (\w+);", body.group(1), re.M)
    assert [name for _, name in decls] == list(PT_REGS_FIELDS)
    assert len(decls) * 8 == PT_REGS_SIZE


def test_pt_regs_matches_the_tracers_layout() -> None:
    regs_mod = pytest.importorskip("tracer.regs")
    assert tuple(regs_mod.FIELDS) == PT_REGS_FIELDS


def test_helper_declarations_call_the_kernels_ids(cc) -> None:
    obj = load_object(cc("""
        SEC("kprobe/x") int f(struct pt_regs *ctx) {
            char buf[16];
            bpf_probe_read_user_str(buf, sizeof(buf), (void *)ctx->di);
            bpf_get_current_pid_tgid();
            bpf_ktime_get_ns();
            bpf_send_signal(9);
            return bpf_get_prandom_u32();
        }
        char LICENSE[] SEC("license") = "GPL";
    """), Vm())
    calls = [i.imm for i in obj.programs["f"].insns
             if i is not None and i.kind is Kind.CALL and i.src == CallKind.HELPER]
    assert calls == [114, 14, 5, 109, 7]


# -- syscalls.bpf.c: the tracex5 pattern --------------------------------------------------

EVENT = struct.Struct("<II6QiI128s")
STRING_ADDR = 0x7FFF_0000_1000
AT_FDCWD = -100


@pytest.fixture(scope="module")
def syscalls_o(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("probes")
    return build(PROBES / "syscalls.bpf.c", d / "syscalls.bpf.o", cache=d / "cache")


def _vm(user_mem: dict[int, bytes] | None = None) -> tuple[Vm, FakeHost]:
    host = FakeHost(pid=777, tgid=700, comm=b"cat", user_mem=user_mem or {},
                    now_ns=5_000_123_456)
    return Vm(host=host), host


def _text(line: str) -> str:
    _, sep, text = line.partition(": bpf_trace_printk: ")
    assert sep, line
    return text


def test_prog_array_is_filled_by_syscall_number(syscalls_o: Path) -> None:
    vm, _ = _vm()
    obj = load_object(syscalls_o, vm, syscall_number=x86_64_syscall_number)
    want = {"read": 0, "write": 1, "openat": 257, "close": 3, "execve": 59, "mmap": 9,
            "clone": 56, "clone3": 435, "socket": 41, "connect": 42, "exit_group": 231}
    i386 = {"read": 3, "write": 4, "open": 5, "close": 6, "execve": 11, "exit_group": 252,
            "openat": 295}
    assert obj.prog_arrays == {"progs": {nr: f"sys_{n}" for n, nr in want.items()},
                               "progs_ia32": {nr: f"sys_ia32_{n}" for n, nr in i386.items()},
                               "progs_x32": {520: "sys_x32_execve"}}
    assert next(iter(obj.programs)) == "dispatch"
    assert obj.programs["dispatch"].section == "kprobe/syscall_entry"
    assert {n: obj.maps[n].type.name for n in ("progs", "events", "unhandled")} == \
        {"progs": "PROG_ARRAY", "events": "RINGBUF", "unhandled": "HASH"}


def test_openat_with_a_user_string(syscalls_o: Path) -> None:
    """orig_ax=257 (openat), di=AT_FDCWD, si -> "/etc/passwd" in the tracee's memory."""
    vm, _ = _vm({STRING_ADDR: b"/etc/passwd\0garbage"})
    obj = load_object(syscalls_o, vm, syscall_number=x86_64_syscall_number)
    ctx = pt_regs({"orig_ax": 257, "di": AT_FDCWD & (2**64 - 1), "si": STRING_ADDR,
                   "dx": 0o2101, "r10": 0o644})
    res = vm.run(obj.programs["dispatch"], ctx, ctx_writable=False)
    assert (res.r0, res.tail_calls) == (0, 1)
    line = ('             cat-777     [000] d..31     5.000123: bpf_trace_printk: '
            'openat(-100, "/etc/passwd", 0x441)')
    assert res.effects.printk == [line]
    (name, rec), = res.effects.ringbuf
    assert name == "events" and len(rec) == EVENT.size == 192
    nr, tgid, *rest = EVENT.unpack(rec)
    args, str_len, pad, s = rest[:6], rest[6], rest[7], rest[8]
    assert (nr, tgid) == (257, 700)
    assert args == [AT_FDCWD & (2**64 - 1), STRING_ADDR, 0o2101, 0o644, 0, 0]
    assert str_len == len("/etc/passwd") + 1 and pad == 0
    assert s == b"/etc/passwd".ljust(128, b"\0")
    assert obj.maps["unhandled"].dump_hex() == []


CASES = [
    # (registers, user memory, expected printk text)
    ({"orig_ax": 0, "di": 3, "si": 0x1000, "dx": 4096}, {}, "read(3, 0x1000, 4096)"),
    ({"orig_ax": 1, "di": 1, "si": STRING_ADDR, "dx": 6}, {STRING_ADDR: b"hello\n"},
     "write(1, 0x7fff00001000, 6)"),
    ({"orig_ax": 3, "di": 5}, {}, "close(5)"),
    ({"orig_ax": 59, "di": STRING_ADDR, "si": 0x2000, "dx": 0x3000},
     {STRING_ADDR: b"/bin/ls\0"}, 'execve("/bin/ls", 0x2000, 0x3000)'),
    ({"orig_ax": 9, "di": 0, "si": 8192, "dx": 3, "r10": 0x22, "r8": 2**64 - 1}, {},
     "mmap(0x0, 8192, 0x3)"),
    ({"orig_ax": 56, "di": 0x1200011, "si": 0}, {}, "clone(0x1200011, 0x0)"),
    ({"orig_ax": 435, "di": STRING_ADDR, "si": 88},
     {STRING_ADDR: (0x200).to_bytes(8, "little")}, "clone3(0x7fff00001000, 88) flags=0x200"),
    ({"orig_ax": 41, "di": 2, "si": 1, "dx": 0}, {}, "socket(2, 1, 0)"),
    ({"orig_ax": 42, "di": 4, "si": STRING_ADDR, "dx": 16},
     {STRING_ADDR: b"\x02\x00\x00\x50"}, "connect(4, family=2, 16)"),
    ({"orig_ax": 231, "di": 2**64 - 1}, {}, "exit_group(-1)"),
]


@pytest.mark.parametrize("regs, mem, text", CASES, ids=[c[2].split("(")[0] for c in CASES])
def test_each_syscall_program(syscalls_o: Path, regs: dict[str, int],
                              mem: dict[int, bytes], text: str) -> None:
    vm, _ = _vm(mem)
    obj = load_object(syscalls_o, vm, syscall_number=x86_64_syscall_number)
    res = vm.run(obj.programs["dispatch"], pt_regs(regs), ctx_writable=False)
    assert (res.r0, res.tail_calls) == (0, 1)
    assert [_text(line) for line in res.effects.printk] == [text]
    (_, rec), = res.effects.ringbuf
    nr, tgid, *args = EVENT.unpack(rec)[:8]
    assert (nr, tgid) == (regs["orig_ax"], 700)
    assert args == [regs.get(f, 0) for f in ("di", "si", "dx", "r10", "r8", "r9")]


def test_write_records_the_bytes_written(syscalls_o: Path) -> None:
    vm, _ = _vm({STRING_ADDR: b"hello\n"})
    obj = load_object(syscalls_o, vm, syscall_number=x86_64_syscall_number)
    res = vm.run(obj.programs["dispatch"], pt_regs({"orig_ax": 1, "di": 1, "si": STRING_ADDR,
                                                    "dx": 6}))
    *_, str_len, _, s = EVENT.unpack(res.effects.ringbuf[0][1])
    assert (str_len, s[:7]) == (6, b"hello\n\0")


def test_unreadable_string_is_reported_not_a_fault(syscalls_o: Path) -> None:
    vm, _ = _vm()
    obj = load_object(syscalls_o, vm, syscall_number=x86_64_syscall_number)
    res = vm.run(obj.programs["dispatch"], pt_regs({"orig_ax": 257, "si": 0xDEAD0000}))
    assert _text(res.effects.printk[0]) == 'openat(0, "", 0x0)'
    *_, str_len, _, s = EVENT.unpack(res.effects.ringbuf[0][1])
    assert str_len == -14 and s == bytes(128)     # -EFAULT, string zeroed


def test_fall_through_counts_syscalls_without_a_program(syscalls_o: Path) -> None:
    vm, _ = _vm()
    obj = load_object(syscalls_o, vm, syscall_number=x86_64_syscall_number)
    dispatch = obj.programs["dispatch"]
    printk = 0
    for nr in (39, 39, 60, 39, 511, 512, 2**64 - 1, 257):
        res = vm.run(dispatch, pt_regs({"orig_ax": nr}), ctx_writable=False)
        assert res.r0 == 0
        assert res.tail_calls == (1 if nr == 257 else 0)
        printk += len(res.effects.printk)
    got = {int.from_bytes(bytes.fromhex(e["key"]), "little"):
           int.from_bytes(bytes.fromhex(e["value"]), "little")
           for e in obj.maps["unhandled"].dump_hex()}
    # out-of-range numbers (512, and -1 truncated to the u32 index) fall through too
    assert got == {39: 3, 60: 1, 511: 1, 512: 1, 0xFFFFFFFF: 1}
    assert printk == 1


def test_a_slot_emptied_from_user_space_falls_through(syscalls_o: Path) -> None:
    vm, _ = _vm()
    obj = load_object(syscalls_o, vm, syscall_number=x86_64_syscall_number)
    obj.maps["progs"].delete(3)                       # no more close program
    res = vm.run(obj.programs["dispatch"], pt_regs({"orig_ax": 3}))
    assert res.effects.printk == []
    assert obj.maps["unhandled"].lookup(3) == (1).to_bytes(8, "little")


# -- dispatch.s ---------------------------------------------------------------------------

def test_dispatch_s_dispatches_and_counts() -> None:
    vm, _ = _vm()
    obj = load_asm(PROBES / "dispatch.s", vm, syscall_number=x86_64_syscall_number)
    assert list(obj.programs) == ["dispatch", "sys_getpid"]
    assert obj.prog_arrays == {"progs": {39: "sys_getpid"}}
    dispatch = obj.program()
    for nr in (39, 39, 257, 1000):
        vm.run(dispatch, pt_regs({"orig_ax": nr}), ctx_writable=False)
    assert obj.maps["getpid_calls"].lookup(0) == (2).to_bytes(8, "little")
    assert obj.maps["unhandled"].lookup(257) == (1).to_bytes(8, "little")
    assert obj.maps["unhandled"].lookup(1000) == (1).to_bytes(8, "little")
    assert obj.maps["unhandled"].lookup(39) is None


def test_dispatch_s_drives_the_c_programs(syscalls_o: Path) -> None:
    """The hand-written dispatcher with the compiled per-syscall programs in its slots
    behaves as the compiled dispatcher."""
    vm, _ = _vm({STRING_ADDR: b"/tmp/x\0"})
    c_obj = load_object(syscalls_o, vm, syscall_number=x86_64_syscall_number)
    s_obj = load_asm(PROBES / "dispatch.s", vm, syscall_number=x86_64_syscall_number)
    for index, name in c_obj.prog_arrays["progs"].items():
        s_obj.maps["progs"].update(index, c_obj.programs[name])
    ctx = pt_regs({"orig_ax": 257, "di": 3, "si": STRING_ADDR, "dx": 0})
    res = vm.run(s_obj.program("dispatch"), ctx)
    assert (res.r0, res.tail_calls) == (0, 1)
    assert [_text(x) for x in res.effects.printk] == ['openat(3, "/tmp/x", 0x0)']


def test_dispatch_s_is_what_the_compiler_makes_of_dispatch(syscalls_o: Path) -> None:
    """Same instructions as the compiled `dispatch`, map references aside, when the
    compiler is the one this was written from (ziglang's clang); otherwise the same
    helper calls in the same order."""
    nrs = x86_64_syscall_number
    c_prog = load_object(syscalls_o, Vm(), syscall_number=nrs).programs["dispatch"]
    s_prog = load_asm(PROBES / "dispatch.s", Vm(), syscall_number=nrs).programs["dispatch"]

    def shape(p: object) -> list[tuple[int, int, int, int]]:
        return [(i.opcode, i.dst, i.off, i.imm if i.kind is not Kind.LD_IMM64 else 0)
                for i in p.insns if i is not None]   # type: ignore[attr-defined]

    def helpers(p: object) -> list[int]:
        return [i.imm for i in p.insns   # type: ignore[attr-defined]
                if i is not None and i.kind is Kind.CALL]

    assert helpers(s_prog) == helpers(c_prog) == [12, 1, 2]
    if not os.environ.get("BPF_CC"):
        assert shape(s_prog) == shape(c_prog)
