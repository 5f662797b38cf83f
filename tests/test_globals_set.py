"""``--set NAME=VALUE``: global variables read by their BTF types and set before load, as
a libbpf skeleton sets them.  The reference is the system's libbpf in the host kernel:
the same values stored as C types at libbpf's offsets (bpf_map__set_initial_value),
the object loaded and its SEC("syscall") program test-run; both copy every global into
one map value, which must be the same bytes."""

from __future__ import annotations

import ctypes as C
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bpf_vm.btf import Kind
from bpf_vm.cli import app
from bpf_vm.elf import parse_object
from bpf_vm.errors import BpfError
from bpf_vm.globals_set import (
    GlobalSetError,
    apply_settings,
    parse_set_args,
    settable_globals,
)
from bpf_vm.objrun import run_object
from tests import libbpf_skel

pytestmark = pytest.mark.needs_bpf_cc     # every object is built by `bpf-vm build`
runner = CliRunner()

GLOBALS_C = r"""
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

typedef int pid_t;
typedef __u8 u8;
enum mode { MODE_A = 1, MODE_B = 7, MODE_NEG = -3 };

const volatile u8 v_u8 = 0;
const volatile __s8 v_s8 = 0;
const volatile __u16 v_u16 = 0;
const volatile __s16 v_s16 = 0;
const volatile __u32 v_u32 = 0;
const volatile __s32 v_s32 = 0;
const volatile __u64 v_u64 = 0;
const volatile __s64 v_s64 = 0;
const volatile bool v_bool = false;
const volatile enum mode v_mode = MODE_A;
const volatile char v_name[16] = {};
const volatile pid_t targ_pid = 0;
const volatile char v_char = 'x';
int d_int = 5;
unsigned long b_long;
const volatile int c_ro SEC(".rodata.cfg") = 0;
int c_data SEC(".data.cfg") = 0;
static const volatile int s_static = 3;

struct out {
	__u8 u8; __s8 s8; __u16 u16; __s16 s16; __u32 u32; __s32 s32; __u64 u64; __s64 s64;
	bool b; int mode; char name[16]; pid_t pid; int d; unsigned long bl; int cro; int cd;
	int st; char c;
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct out);
} out SEC(".maps");

SEC("syscall") int dump(void *ctx)
{
	__u32 k = 0;
	struct out *o = bpf_map_lookup_elem(&out, &k);
	if (!o)
		return 0;
	o->u8 = v_u8; o->s8 = v_s8; o->u16 = v_u16; o->s16 = v_s16; o->u32 = v_u32;
	o->s32 = v_s32; o->u64 = v_u64; o->s64 = v_s64; o->b = v_bool; o->mode = v_mode;
	for (int i = 0; i < 16; i++)
		o->name[i] = v_name[i];
	o->pid = targ_pid; o->d = d_int; o->bl = b_long; o->cro = c_ro; o->cd = c_data;
	o->st = s_static; o->c = v_char;
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""

def layout(path: Path) -> tuple[int, dict[str, int]]:
    """sizeof(struct out) and its members' byte offsets, from the object's BTF."""
    btf = parse_object(path).btf
    assert btf is not None
    t = btf.find("out", Kind.STRUCT)
    assert t is not None
    return t.size, {m.name: m.bit_offset // 8 for m in t.members}


def build(tmp_path: Path, source: str, name: str) -> Path:
    """Built as users build: ``bpf-vm build`` with the system's libbpf headers."""
    src = tmp_path / f"{name}.bpf.c"
    src.write_text(source)
    out = tmp_path / f"{name}.o"
    res = runner.invoke(app, ["build", str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module", name="globals_o")
def globals_o_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("globals"), GLOBALS_C, "globals")


# (NAME=VALUE as typed, the value a skeleton user stores, as a C type)
SETTINGS: list[list[tuple[str, Any]]] = [
    [("v_u8=255", C.c_uint8(255)), ("v_s8=-128", C.c_int8(-128)),
     ("v_u16=0xbeef", C.c_uint16(0xBEEF)), ("v_s16=-2", C.c_int16(-2)),
     ("v_u32=4000000000", C.c_uint32(4000000000)), ("v_s32=-7", C.c_int32(-7)),
     ("v_u64=0xffffffffffffffff", C.c_uint64(2**64 - 1)),
     ("v_s64=-9223372036854775808", C.c_int64(-2**63)), ("v_bool=TRUE", C.c_bool(True)),
     ("v_mode=MODE_NEG", C.c_int(-3)), ("v_name=cat", C.create_string_buffer(b"cat", 16)),
     ("targ_pid=1234", C.c_int(1234)), ("d_int=-1", C.c_int(-1)),
     ("b_long=77", C.c_ulong(77)), ("c_ro=0x7fffffff", C.c_int(2**31 - 1)),
     ("c_data=-2147483648", C.c_int(-2**31)), ("v_char='q'", C.c_char(b"q"))],
    [("v_u8=0", C.c_uint8(0)), ("v_s8=127", C.c_int8(127)), ("v_bool=0", C.c_bool(False)),
     ("v_mode=7", C.c_int(7)),
     ("v_name=exactly15chars.", C.create_string_buffer(b"exactly15chars.", 16)),
     ("v_char=-1", C.c_byte(-1)), ("targ_pid=-1", C.c_int(-1))],
    [("v_bool=1", C.c_bool(True)), ("v_s16=0x7fff", C.c_int16(0x7FFF)),
     ("v_mode=-3", C.c_int(-3)), ("v_name=", C.create_string_buffer(b"", 16)),
     ("c_ro=-0x10", C.c_int(-16)), ("v_u16=65535", C.c_uint16(65535))],
]


def vm_out(path: Path, specs: list[str]) -> bytes:
    args = ["run", str(path), "--json"]
    for s in specs:
        args += ["--set", s]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return bytes.fromhex(json.loads(res.output)["maps"]["out"][0]["value"])


def kernel_out(path: Path, values: dict[str, Any]) -> bytes:
    with libbpf_skel.LibbpfObject(path) as obj:
        obj.set_vars(values)
        obj.load()
        assert obj.test_run("dump") == 0
        return obj.lookup("out", bytes(4), layout(path)[0])


@pytest.mark.kernel
@pytest.mark.parametrize("case", range(len(SETTINGS)))
def test_set_matches_libbpf_skeleton_in_the_kernel(globals_o: Path, case: int) -> None:
    reason = libbpf_skel.unavailable_reason()
    if reason:
        pytest.skip(reason)
    settings = SETTINGS[case]
    ours = vm_out(globals_o, [s for s, _ in settings])
    theirs = kernel_out(globals_o, {s.partition("=")[0]: v for s, v in settings})
    assert ours == theirs
    assert ours != vm_out(globals_o, [])       # the settings did change something


def test_unset_globals_keep_their_initial_values(globals_o: Path) -> None:
    out = vm_out(globals_o, [])
    size, off = layout(globals_o)
    assert len(out) == size
    assert out[off["d"]:off["d"] + 4] == (5).to_bytes(4, "little")       # d_int = 5
    assert out[off["st"]:off["st"] + 4] == (3).to_bytes(4, "little")     # static, 3
    assert out[off["c"]:off["c"] + 1] == b"x"                            # v_char = 'x'


@pytest.mark.parametrize("spec, words", [
    ("v_u8=256", ["'v_u8'", "256 is out of range for 'u8' (unsigned char): 0..255"]),
    ("v_u8=-1", ["'v_u8'", "out of range"]),
    ("v_s8=128", ["'v_s8'", "-128..127"]),
    ("v_u64=0x10000000000000000", ["'v_u64'", "out of range"]),
    ("targ_pid=3000000000", ["'targ_pid'", "'pid_t' (int)"]),
    ("v_u32=12abc", ["'v_u32'", "not an integer"]),
    ("v_bool=yes", ["'v_bool'", "true, false, 1 or 0"]),
    ("v_mode=MODE_C", ["'v_mode'", "MODE_A, MODE_B, MODE_NEG"]),
    ("v_name=0123456789abcdef", ["'v_name'", "16 bytes and the terminating NUL"]),
    ("nope=1", ["'nope'", "no such global variable (settable: ", "targ_pid", "c_ro"]),
    ("s_static=1", ["'s_static'", "static variable of .rodata"]),
    ("out=1", ["'out'", "is a map"]),
    ("dump=1", ["'dump'", "is a function"]),
    ("LICENSE=x", ["'LICENSE'", "section license"]),
    ("v_u8", ["--set 'v_u8'", "expected NAME=VALUE"]),
])
def test_errors_are_one_line_naming_the_variable(globals_o: Path, spec: str,
                                                 words: list[str]) -> None:
    res = runner.invoke(app, ["run", str(globals_o), "--set", spec])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bpf-vm: error: "), res.output
    for w in words:
        assert w in lines[0]


def test_settable_globals_are_what_a_skeleton_exposes(globals_o: Path) -> None:
    loader = parse_object(globals_o)
    assert loader.btf is not None
    known = settable_globals(loader.btf)
    assert set(known) == {"v_u8", "v_s8", "v_u16", "v_s16", "v_u32", "v_s32", "v_u64",
                          "v_s64", "v_bool", "v_mode", "v_name", "targ_pid", "v_char",
                          "d_int", "b_long", "c_ro", "c_data"}
    assert (known["c_ro"].section, known["c_ro"].readonly) == (".rodata.cfg", True)
    assert (known["b_long"].section, known["b_long"].readonly) == (".bss", False)
    # the DATASEC offsets are libbpf's (filled from the symbols at open)
    assert known["targ_pid"].offset == 56 and known["v_name"].offset == 40


def test_apply_settings_from_a_path_or_a_parsed_object(globals_o: Path) -> None:
    assert apply_settings(globals_o, ["v_u16=0x102", "v_name=ab"]) == {
        "v_u16": b"\x02\x01", "v_name": b"ab" + bytes(14)}
    loader = parse_object(globals_o)
    apply_settings(loader, ["targ_pid=9"])
    rodata = next(m for m in loader.maps if m.name == ".rodata")
    assert rodata.initial is not None and rodata.initial[56:60] == (9).to_bytes(4, "little")
    with pytest.raises(GlobalSetError) as exc:
        apply_settings(globals_o, ["v_u8=1", "v_u8=2"])
    assert exc.value.name == "v_u8"


def test_parse_set_args_keeps_everything_after_the_first_equals() -> None:
    assert parse_set_args(["a=b=c", "n=1,2", "e="]) == {"a": "b=c", "n": "1,2", "e": ""}
    assert parse_set_args(None) == {}
    for bad in ("=1", "x"):
        with pytest.raises(GlobalSetError):
            parse_set_args([bad])


MORE_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct pair { int a, b; };
const volatile float v_float = 0;
const volatile double v_double = 0;
const volatile int v_arr[4] = {9, 9, 9, 9};
const volatile char v_names[2][4] = {};
const volatile struct pair v_pair = {};
const volatile void *v_ptr = 0;
const volatile unsigned __int128 v_big = 0;

SEC("syscall") int f(void *ctx) { return v_arr[0] + v_pair.a + (long)v_ptr + v_names[1][0]
                                         + (int)v_big + *(const volatile int *)&v_float
                                         + *(const volatile int *)&v_double; }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module", name="more_o")
def more_o_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("more"), MORE_C, "more")


def test_floats_arrays_and_wide_ints(more_o: Path) -> None:
    got = apply_settings(more_o, ["v_float=1.5", "v_double=-0.25", "v_arr=1,-2,0x3",
                                  "v_names=ab,c", "v_big=0xffffffffffffffffffffffffffffffff"])
    assert got["v_float"] == C.string_at(C.byref(C.c_float(1.5)), 4)
    assert got["v_double"] == C.string_at(C.byref(C.c_double(-0.25)), 8)
    assert got["v_arr"] == bytes((C.c_int * 4)(1, -2, 3, 0))   # missing elements: zero
    assert got["v_names"] == b"ab\0\0c\0\0\0"
    assert got["v_big"] == b"\xff" * 16


@pytest.mark.parametrize("spec, words", [
    ("v_pair=1", ["'struct pair' is a struct"]),
    ("v_ptr=1", ["is a pointer"]),
    ("v_arr=1,2,3,4,5", ["5 values for", "holds 4"]),
    ("v_float=fast", ["not a number"]),
    ("v_names=abcd", ["4 bytes and the terminating NUL"]),
])
def test_unsettable_types_and_bad_values(more_o: Path, spec: str, words: list[str]) -> None:
    with pytest.raises(GlobalSetError) as exc:
        apply_settings(more_o, [spec])
    for w in words:
        assert w in str(exc.value)


def test_asm_objects_take_no_settings(tmp_path: Path) -> None:
    src = tmp_path / "p.s"
    src.write_text(".map m array key=4 value=4 max_entries=1\n.prog p kprobe/x\n"
                   "  r0 = 0\n  exit\n")
    with pytest.raises(BpfError) as exc:
        run_object(src, variables={"x": "1"})
    assert "ELF object with BTF" in str(exc.value)
