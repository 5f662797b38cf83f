"""Values decoded through BTF: map dumps as bpftool's formatted dump shows them (the
reference: the same object loaded with the system's libbpf into the host kernel, the
same entries written with bpf(2), ``bpftool -j map dump id N``), and ring-buffer and
perf records as JSON and readable lines."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bpf_vm.btf import Btf, Kind
from bpf_vm.btf_output import (
    RecordDecoder,
    RecordTypeError,
    find_type,
    parse_record_types,
)
from bpf_vm.btf_value import c_string, to_json, to_text
from bpf_vm.cli import app
from bpf_vm.dwarf_types import DwarfTypes
from bpf_vm.effects import PerfRecord, RingbufRecord
from bpf_vm.elf import load_object
from bpf_vm.objrun import dump_maps, run_object
from bpf_vm.vm import Vm
from tests import libbpf_skel
from tests.test_globals_set import build

pytestmark = pytest.mark.needs_bpf_cc     # every object is built by `bpf-vm build`
runner = CliRunner()

VALUES_C = r"""
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

typedef int pid_t;
typedef char tchar;
enum color { RED, GREEN = 5, BLUE = -2 };
struct inner { __u16 a; char tag[4]; };
union u { __u32 i; __u8 b[4]; };
struct key { __u32 id; char tag[4]; };
struct val {
	__u8 u8; __s8 s8; __u16 u16; __s16 s16; __u32 u32; __s32 s32; __u64 u64; __s64 s64;
	bool flag; char c; unsigned char uc; signed char sc;
	char name[8]; char raw[4]; tchar tname[4]; const char cname[4];
	enum color col;
	struct inner in; struct inner arr2[2];
	union u un;
	struct { int x; int y; } named_anon;
	union { __u32 w; __u16 h[2]; };
	int bits_a : 3; unsigned int bits_b : 5; int bits_c : 12; __u64 bits_d : 40;
	void *ptr; struct inner *iptr;
	__u32 matrix[2][3];
	unsigned __int128 big; __int128 sbig;
	pid_t pid;
	enum color ecol : 4;
};

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64);
	__type(key, struct key); __type(value, struct val); } hmap SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4);
	__type(key, __u32); __type(value, enum color); } amap SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 2);
	__type(key, __u32); __type(value, struct inner); } pmap SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);
	__uint(key_size, 4); __uint(value_size, 8); } nobtf SEC(".maps");

const volatile __u32 ro_num = 17;
const volatile char ro_str[8] = "hello";
const volatile enum color ro_col = BLUE;
static const volatile int ro_static = -5;
struct inner data_in = { 3, "ab" };
__u64 bss_counts[3];

SEC("syscall") int touch(void *ctx)
{
	struct key k = {};
	__u32 z = 0;
	bpf_map_lookup_elem(&hmap, &k); bpf_map_lookup_elem(&amap, &z);
	bpf_map_lookup_elem(&pmap, &z); bpf_map_lookup_elem(&nobtf, &z);
	return ro_num + ro_str[0] + ro_col + ro_static + data_in.a + bss_counts[1];
}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module", name="values_o")
def values_o_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("values"), VALUES_C, "values")


def _offsets(btf: Btf, name: str) -> dict[str, int]:
    t = btf.find(name, Kind.STRUCT)
    assert t is not None
    return {m.name: m.bit_offset // 8 for m in t.members}


def hmap_entries(btf: Btf, n: int = 40) -> list[tuple[bytes, bytes]]:
    """Random values, and some shaped to reach every rendering: strings (and almost
    strings), enumerators, a false bool followed by set bytes, zero bitfields."""
    t = btf.find("val", Kind.STRUCT)
    assert t is not None
    off = _offsets(btf, "val")
    rnd = random.Random(15)
    out = []
    for i in range(n):
        key = struct.pack("<I", i) + (b"ab\0\0" if i % 3 else b"\x01\x02\x03\x04")
        v = bytearray(rnd.randbytes(t.size))
        shape = i % 4
        if shape == 0:
            v[off["name"]:off["name"] + 8] = b"cat\0zzzz"
            v[off["raw"]:off["raw"] + 4] = b"abcd"                 # no NUL: a list
            v[off["tname"]:off["tname"] + 4] = b"xy\0\0"           # typedef: a list
            v[off["cname"]:off["cname"] + 4] = b"q\0\0\0"          # const char: a string
            v[off["col"]:off["col"] + 4] = struct.pack("<i", -2)
            v[off["flag"]:off["flag"] + 4] = b"\x00\x41\x42\x43"
        elif shape == 1:
            v[off["name"]:off["name"] + 8] = b"\0" * 8                 # ""
            v[off["raw"]:off["raw"] + 4] = b"a\tb\0"                   # control char
            v[off["col"]:off["col"] + 4] = struct.pack("<i", 5)
            v[off["flag"]] = 1
        elif shape == 2:
            v[off["named_anon"] + 8:off["named_anon"] + 16] = bytes(8)
        out.append((key, bytes(v)))
    return out


def _by_key(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {json.dumps(e["key"] if isinstance(e["key"], list) else
                       [f"0x{b:02x}" for b in bytes.fromhex(e["key"])]): e for e in entries}


@pytest.mark.kernel
def test_map_dumps_match_bpftool(values_o: Path) -> None:
    reason = libbpf_skel.unavailable_reason()
    if reason:
        pytest.skip(reason)
    obj = load_object(values_o, Vm())
    assert obj.btf is not None
    hmap = hmap_entries(obj.btf)
    amap = [(struct.pack("<I", i), struct.pack("<i", v)) for i, v in
            enumerate((0, 5, -2, 99))]
    inner = struct.pack("<H4s", 513, b"hi\0\0")
    with libbpf_skel.LibbpfObject(values_o) as lo:
        lo.load()
        ncpu = lo.possible_cpus()
        for k, v in hmap:
            lo.update("hmap", k, v)
            obj.maps["hmap"].update(k, v)
        for k, v in amap:
            lo.update("amap", k, v)
            obj.maps["amap"].update(k, v)
        lo.update("pmap", struct.pack("<I", 1), (inner + bytes(2)) * ncpu)
        obj.maps["pmap"].update(struct.pack("<I", 1), inner)
        lo.update("nobtf", bytes(4), bytes(range(8)))
        obj.maps["nobtf"].update(bytes(4), bytes(range(8)))
        theirs = {name: lo.bpftool_dump(lo.map(name)) for name in
                  ("hmap", "amap", "pmap", "nobtf")}
        theirs.update({sec: lo.bpftool_dump(m) for sec, m in lo.internal_maps().items()})
    ours = dump_maps(obj)
    assert set(theirs) <= set(ours)
    compared = 0
    for name, entries in theirs.items():
        mine = _by_key(ours[name])
        assert len(mine) == len(entries), name
        for e in entries:
            o = mine[json.dumps(e["key"])]
            if name == "nobtf":
                assert "formatted" not in e and "formatted" not in o
                continue
            f = e["formatted"]
            if "values" in f:        # per-CPU: ours has CPU 0, the only possible one
                f = {**f, "values": f["values"][:1]}
            assert o["formatted"] == f, (name, e["key"])
            compared += 1
    assert compared == len(hmap) + 4 + 2 + 3
    # a record of the same type decodes to the same object
    dec = RecordDecoder(obj.btf, {"events": "struct val"})
    kernel_hmap = _by_key(theirs["hmap"])
    for k, v in hmap:
        line = json.loads(dec.render(RingbufRecord("events", v)).json)
        key = json.dumps([f"0x{b:02x}" for b in k])
        assert line["record"] == kernel_hmap[key]["formatted"]["value"]


def test_to_json_renderings(values_o: Path) -> None:
    obj = load_object(values_o, Vm())
    btf = obj.btf
    assert btf is not None
    val = btf.find("val", Kind.STRUCT)
    assert val is not None
    off = _offsets(btf, "val")
    v = bytearray(val.size)
    v[off["name"]:off["name"] + 4] = b"cat\0"
    v[off["col"]:off["col"] + 4] = struct.pack("<i", 7)
    v[off["s8"]] = 0xFF
    v[off["big"]:off["big"] + 16] = (2**100 + 5).to_bytes(16, "little")
    got = to_json(btf, val.id, bytes(v))
    assert got["name"] == "cat" and got["raw"] == ""      # NUL first: a string
    assert got["col"] == 7 and got["s8"] == -1 and got["flag"] is False
    assert got["big"] == hex(2**100 + 5) and got["bits_c"] == "0x0"
    assert got[""] == {"w": 0, "h": [0, 0]} and got["matrix"] == [[0, 0, 0], [0, 0, 0]]
    text = to_text(btf, val.id, bytes(v))
    assert text.startswith("u8=0 s8=-1 u16=0 ")
    assert ' name="cat" raw="" ' in text and " col=7 " in text
    assert " in={a=0 tag=\"\"} arr2=[{a=0 tag=\"\"},{a=0 tag=\"\"}] " in text
    assert " named_anon={x=0 y=0} w=0 h=[0,0] bits_a=0 " in text   # anonymous: inline
    assert " ptr=0x0 " in text and " matrix=[[0,0,0],[0,0,0]] " in text
    assert text.endswith(" pid=0 ecol=RED")
    assert to_text(btf, val.id, bytes(v), top=False).startswith("{u8=0 ")


def test_bitfields_read_as_c_does(values_o: Path) -> None:
    obj = load_object(values_o, Vm())
    btf = obj.btf
    assert btf is not None
    val = btf.find("val", Kind.STRUCT)
    assert val is not None
    bits = {m.name: m for m in val.members if m.bitfield_size}
    v = bytearray(val.size)

    def put(name: str, value: int) -> None:
        m = bits[name]
        word = int.from_bytes(v, "little")
        mask = ((1 << m.bitfield_size) - 1) << m.bit_offset
        word = (word & ~mask) | ((value << m.bit_offset) & mask)
        v[:] = word.to_bytes(len(v), "little")

    put("bits_a", -3)
    put("bits_b", 31)
    put("bits_d", 2**40 - 1)
    put("ecol", 5)
    got = to_json(btf, val.id, bytes(v))
    assert (got["bits_a"], got["bits_b"], got["bits_d"]) == ("0x5", "0x1f", hex(2**40 - 1))
    text = to_text(btf, val.id, bytes(v))
    assert " bits_a=-3 bits_b=31 bits_c=0 bits_d=1099511627775 " in text
    assert text.endswith(" ecol=GREEN")


def test_c_string() -> None:
    assert c_string(b"cat\0junk") == '"cat"'
    assert c_string(b'a"b\\c\n\t\x01\xff') == '"a\\"b\\\\c\\n\\t\\x01\\xff"'
    assert c_string(b"full") == '"full"'


def test_dwarf_types_decode_as_their_btf_twins(values_o: Path) -> None:
    """struct val converted from the DWARF renders exactly as its BTF type does (which
    the bpftool test checks against the kernel): bitfields, unions, anonymous
    members, multi-dimensional arrays, enums, 128-bit ints."""
    obj = load_object(values_o, Vm())
    btf = obj.btf
    assert btf is not None
    dwarf = DwarfTypes(values_o.read_bytes())
    d = dwarf.find(Kind.STRUCT, "val")
    assert d is not None and d.user
    ext, tid = dwarf.extend(btf, d)
    bt = btf.find("val", Kind.STRUCT)
    assert bt is not None and tid >= len(btf) and ext.resolve_size(tid) == bt.size
    for _k, v in hmap_entries(btf, 12):
        assert to_json(ext, tid, v) == to_json(btf, bt.id, v)
        assert to_text(ext, tid, v) == to_text(btf, bt.id, v)


def test_unreadable_dwarf_adds_nothing() -> None:
    assert DwarfTypes(b"").index == []
    assert DwarfTypes(b"\x7fELF" + bytes(60)).index == []


# -- records -----------------------------------------------------------------------------------

EVENTS_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event { int pid; char comm[16]; char fname[32]; int flags; long ret; };
struct other_shape { int a; int b; };
struct twin_a { long x; };
struct twin_b { char y[8]; };
struct varlen { int n; char data[32]; };

const volatile int targ_pid = 0;
const volatile char targ_comm[16] = "";

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } small SEC(".maps");

SEC("kprobe/x") int emit(void *ctx)
{
	struct event e = {};
	struct other_shape o = { 1, -2 };
	struct twin_a t = { 0x4142 };
	struct twin_b u = { "zz" };
	struct varlen v = { 5, "abcd" };
	e.pid = targ_pid;
	for (int i = 0; i < 16; i++)
		e.comm[i] = targ_comm[i];
	__builtin_memcpy(e.fname, "/etc/passwd", 12);
	e.flags = 0;
	e.ret = 3;
	bpf_ringbuf_output(&events, &e, sizeof(e), 0);
	bpf_ringbuf_output(&small, &o, sizeof(o), 0);
	bpf_ringbuf_output(&small, &t, sizeof(t), 0);
	bpf_ringbuf_output(&small, &u, sizeof(u), 0);
	bpf_ringbuf_output(&small, &t, 4, 0);
	bpf_ringbuf_output(&small, &v, 4 + 5, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module", name="events_o")
def events_o_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("events"), EVENTS_C, "events")


def test_records_as_json_and_readable_lines(events_o: Path) -> None:
    run = run_object(events_o, variables={"targ_pid": "1234", "targ_comm": "cat"})
    recs = run.records
    assert json.loads(recs[0].json) == {
        "map": "events", "record": {"pid": 1234, "comm": "cat", "fname": "/etc/passwd",
                                    "flags": 0, "ret": 3}}
    assert recs[0].text == 'events: pid=1234 comm="cat" fname="/etc/passwd" flags=0 ret=3'
    assert recs[0].kind == "ringbuf"
    # struct event is only a local variable's type: in the DWARF, not in the BTF
    assert recs[0].note == ("events: 64-byte records: struct event, the program's only"
                            " struct of 64 bytes (kernel and system headers' types aside)")
    perf = RecordDecoder.for_object(load_object(events_o, Vm()), source=events_o).render(
        PerfRecord("perf", 1, bytes(64)))
    assert json.loads(perf.json) == {"map": "perf", "cpu": 1, "record": {
        "pid": 0, "comm": "", "fname": "", "flags": 0, "ret": 0}}
    assert perf.kind == "perf" and perf.text.startswith('perf cpu 1: pid=0 comm="" ')
    # 8 bytes: struct other_shape, twin_a and twin_b: ambiguous, hex, said once
    assert json.loads(recs[1].json) == {"map": "small", "data": "01000000feffffff"}
    assert recs[1].text == "small: 01000000feffffff"
    assert recs[1].note is not None and "struct other_shape, struct twin_a, struct twin_b" \
        in recs[1].note and "--record-type small=TYPE" in recs[1].note
    assert recs[2].note is None and recs[3].note is None
    assert recs[4].note == ("small: 4-byte records: hex: no struct of 4 bytes in the"
                            " object's types; choose with --record-type small=TYPE")
    # 9 bytes: struct varlen's head and the part of its tail the program sent
    # (execsnoop's records); twin_b, a bare array, has no head to match
    assert json.loads(recs[5].json) == {"map": "small", "record": {"n": 5, "data": "abcd"}}
    assert recs[5].note == ("small: 9-byte records: struct varlen, the program's only struct"
                            " whose variable-length tail (data) a 9-byte record ends in (the"
                            " rest reads as zeros)")


def test_record_type_chooses(events_o: Path) -> None:
    run = run_object(events_o, record_types={"small": "struct twin_a"})
    small = [r for r in run.records if r.json.startswith('{"map": "small"')]
    assert json.loads(small[0].json) == {"map": "small", "record": {"x": -8589934591}}
    assert json.loads(small[2].json) == {"map": "small", "record": {"x": 0x7A7A}}
    assert small[2].text == "small: x=31354"
    assert small[0].note == "small: 8-byte records: struct twin_a, given by --record-type"
    assert json.loads(small[3].json) == {"map": "small", "data": "42410000"}
    assert small[3].note is not None and "shorter than struct twin_a" in small[3].note
    # a longer record: the type's bytes, then the rest as a tail
    dec = RecordDecoder.for_object(load_object(events_o, Vm()), {"small": "twin_b"},
                                   source=events_o)
    lines = dec.render(RingbufRecord("small", b"ok\0\0\0\0\0\0\x01\x02"))
    assert json.loads(lines.json) == {"map": "small", "record": {"y": "ok"}, "tail": "0102"}
    assert lines.text == 'small: y="ok" tail=0102'
    perf = dec.render(PerfRecord("small", 1, b"ok\0\0\0\0\0\0"))
    assert json.loads(perf.json) == {"map": "small", "cpu": 1, "record": {"y": "ok"}}


def test_record_type_errors(events_o: Path) -> None:
    obj = load_object(events_o, Vm())
    with pytest.raises(RecordTypeError, match="no ring buffer or perf-event array 'nope'"):
        RecordDecoder.for_object(obj, {"nope": "struct event"})
    with pytest.raises(RecordTypeError, match="no type 'struct missing'"):
        RecordDecoder.for_object(obj, {"events": "struct missing"})
    with pytest.raises(RecordTypeError, match="expected MAP=TYPE"):
        parse_record_types(["events"])
    assert obj.btf is not None
    assert find_type(obj.btf, "event") == find_type(obj.btf, "struct event")
    assert find_type(obj.btf, "union event") is None


def test_cli_run_decodes_records_and_maps(events_o: Path, values_o: Path) -> None:
    res = runner.invoke(app, ["run", str(events_o), "--set", "targ_pid=7", "--set",
                              "targ_comm=sh", "--record-type", "small=struct other_shape"])
    assert res.exit_code == 0, res.output
    assert "note: events: 64-byte records: struct event, the program's only struct of 64" \
        " bytes (kernel and system headers' types aside)\n" in res.output
    assert 'ringbuf events: pid=7 comm="sh" fname="/etc/passwd" flags=0 ret=3\n' in res.output
    assert "ringbuf small: a=1 b=-2\n" in res.output
    bad = runner.invoke(app, ["run", str(events_o), "--record-type", "small=struct nope"])
    assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1
    maps = runner.invoke(app, ["run", str(values_o), "--dump-maps"])
    assert maps.exit_code == 0, maps.output
    assert ('map .rodata: 1 entries\n  00000000: 1100000068656c6c6f000000feffffff'
            'fbffffff\n    = {"value": {".rodata": [{"ro_num": 17}, {"ro_str": "hello"},'
            ' {"ro_col": "BLUE"}, {"ro_static": -5}]}}\n') in maps.output


def test_maps_without_btf_types_have_no_formatted(values_o: Path) -> None:
    obj = load_object(values_o, Vm())
    obj.maps["nobtf"].update(bytes(4), bytes(8))
    dumped = dump_maps(obj)
    assert dumped["nobtf"] == [{"key": "00000000", "value": "0000000000000000"}]
    assert dumped[".bss"][0]["formatted"] == {"value": {".bss": [{"bss_counts": [0, 0, 0]}]}}
