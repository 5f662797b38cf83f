"""BTF parsing and libbpf's BTF-defined map convention, on objects clang builds now."""

from __future__ import annotations

import struct

import pytest
from elftools.elf.elffile import ELFFile

from bpf_vm.btf import BTF_MAGIC, Kind, map_vars, parse_btf, parse_map_def
from bpf_vm.errors import ElfLoadError
from tests.bpf_c import cc_fixture  # noqa: F401  (the `cc` fixture)

MAPS_SRC = """
struct val { __u64 a; __u32 b[3]; char c; };
typedef struct val val_t;
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 100);
    __type(key, __u32);
    __type(value, const volatile val_t);
    __uint(map_flags, BPF_F_NO_PREALLOC);
} by_type SEC(".maps");
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(key_size, 4);
    __uint(value_size, 24);
    __uint(max_entries, 3);
} by_size SEC(".maps");
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} rb SEC(".maps");
SEC("kprobe/x") int touch(void *ctx) {
    __u32 k = 0;
    bpf_map_lookup_elem(&by_type, &k);
    bpf_map_lookup_elem(&by_size, &k);
    bpf_ringbuf_output(&rb, &k, 4, 0);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


def btf_of(path) -> bytes:
    with open(path, "rb") as f:
        return ELFFile(f).get_section_by_name(".BTF").data()


def test_types_resolve_through_typedefs_and_modifiers(cc) -> None:
    btf = parse_btf(btf_of(cc(MAPS_SRC)))
    val = btf.find("val", Kind.STRUCT)
    assert val is not None and val.size == 24
    assert [m.name for m in val.members] == ["a", "b", "c"]
    assert [m.bit_offset for m in val.members] == [0, 64, 160]
    td = btf.find("val_t", Kind.TYPEDEF)
    assert btf.skip_mods_and_typedefs(td.id) is val
    assert btf.resolve_size(val.members[1].type) == 12          # __u32[3]
    assert btf.describe(val.members[1].type) == "__u32[3]"
    assert btf.find("touch", Kind.FUNC) is not None
    proto = btf[btf.find("touch", Kind.FUNC).ref]
    assert proto.kind is Kind.FUNC_PROTO and [p.name for p in proto.members] == ["ctx"]


def test_btf_map_definitions_as_libbpf_reads_them(cc) -> None:
    btf = parse_btf(btf_of(cc(MAPS_SRC)))
    defs = {name: parse_map_def(btf, name, tid) for name, tid, _ in map_vars(btf)}
    t = defs["by_type"]
    assert (t.type, t.key_size, t.value_size, t.max_entries, t.map_flags) == (1, 4, 24, 100, 1)
    assert btf.describe(t.value_type).startswith("const volatile")
    s = defs["by_size"]
    assert (s.type, s.key_size, s.value_size, s.max_entries) == (2, 4, 24, 3)
    r = defs["rb"]
    assert (r.type, r.key_size, r.value_size, r.max_entries) == (27, None, None, 4096)


def test_declarative_prog_array_values_member(cc) -> None:
    obj = cc("""
        SEC("kprobe/a") int a(void *ctx) { return 1; }
        struct {
            __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
            __uint(max_entries, 4);
            __type(key, __u32);
            __array(values, int (void *));
        } jt SEC(".maps") = { .values = { [1] = (void *)&a } };
        char LICENSE[] SEC("license") = "GPL";
    """)
    btf = parse_btf(btf_of(obj))
    (name, tid, _), = map_vars(btf)
    d = parse_map_def(btf, name, tid)
    assert d.values_kind == "prog"
    assert d.values_offset == 24      # after three 8-byte pointer members
    assert (d.type, d.key_size, d.value_size, d.max_entries) == (3, 4, 4, 4)


def test_conflicting_key_size_and_key_type_is_refused(cc) -> None:
    btf = parse_btf(btf_of(cc("""
        struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1);
                 __type(key, __u64); __uint(key_size, 4); __type(value, __u32); }
            m SEC(".maps");
        char LICENSE[] SEC("license") = "GPL";
    """)))
    (name, tid, _), = map_vars(btf)
    with pytest.raises(ElfLoadError, match="conflicting key sizes 8 and 4"):
        parse_map_def(btf, name, tid)


def test_unknown_map_field_is_refused_like_libbpf(cc) -> None:
    btf = parse_btf(btf_of(cc("""
        struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
                 __type(key, __u32); __type(value, __u32); __uint(colour, 3); }
            m SEC(".maps");
        char LICENSE[] SEC("license") = "GPL";
    """)))
    (name, tid, _), = map_vars(btf)
    with pytest.raises(ElfLoadError, match="unknown field 'colour'"):
        parse_map_def(btf, name, tid)


def _header(**kw: int) -> bytes:
    f = {"magic": BTF_MAGIC, "version": 1, "flags": 0, "hdr_len": 24, "type_off": 0,
         "type_len": 0, "str_off": 0, "str_len": 1}
    f.update(kw)
    return struct.pack("<HBBIIIII", *f.values())


@pytest.mark.parametrize("data, what", [
    (b"", "shorter than the header"),
    (_header(magic=0x1234) + b"\0", "bad magic"),
    (_header(version=2) + b"\0", "unsupported version"),
    (_header(type_len=12) + b"\0", "extends past the end"),
    # one INT type whose name offset points outside the strings
    (_header(type_len=16, str_off=16) + struct.pack("<IIII", 99, 1 << 24, 4, 32) + b"\0",
     "outside the string section"),
    # a STRUCT claiming 2 members, with none present
    (_header(type_len=12, str_off=12) + struct.pack("<III", 0, (4 << 24) | 2, 8) + b"\0",
     "truncated"),
    # kind 31 does not exist
    (_header(type_len=12, str_off=12) + struct.pack("<III", 0, 31 << 24, 0) + b"\0",
     "unknown kind 31"),
])
def test_malformed_btf_is_an_elf_load_error(data: bytes, what: str) -> None:
    with pytest.raises(ElfLoadError, match=what):
        parse_btf(data)


def test_modifier_loop_is_detected() -> None:
    # type 1: typedef -> 2, type 2: const -> 1
    types = struct.pack("<III", 1, 8 << 24, 2) + struct.pack("<III", 0, 10 << 24, 1)
    btf = parse_btf(_header(type_len=len(types), str_off=len(types), str_len=3)
                    + types + b"\0t\0")
    with pytest.raises(ElfLoadError, match="loop"):
        btf.skip_mods_and_typedefs(1)
