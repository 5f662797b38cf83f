"""The object loader on objects compiled at test time: every libbpf convention it claims,
and errors (never tracebacks) for malformed or unsupported objects."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from bpf_vm.elf import load_object, parse_object
from bpf_vm.errors import ElfLoadError, MapError, VerifierReject, VmFault
from bpf_vm.isa import CallKind, Kind, Pseudo
from bpf_vm.objfile import load_asm
from bpf_vm.vm import Vm
from tests.bpf_c import cc_fixture  # noqa: F401  (the `cc` fixture)

PT_REGS = bytes(168)
LICENSE = 'char LICENSE[] SEC("license") = "GPL";\n'


#: The caller's syscall table for ``ksyscall/<name>`` sections (x86_64 numbers); the VM
#: has none of its own.
SYSCALL_NRS = {"write": 1, "close": 3, "openat": 257}


def load(path: Path | bytes, **kw) -> tuple[Vm, object]:
    vm = Vm()
    kw.setdefault("syscall_number", SYSCALL_NRS.get)
    return vm, load_object(path, vm, **kw)


def u32(b: bytes) -> int:
    return int.from_bytes(b[:4], "little")


# -- programs, sections, license, version ------------------------------------------------

def test_programs_one_per_function_in_section_order(cc) -> None:
    _, obj = load(cc("""
        SEC("xdp") int first(void *ctx) { return 1; }
        SEC("xdp") int second(void *ctx) { return 2; }
        SEC("kprobe/do_sys_open") int third(void *ctx) { return 3; }
        SEC("tracepoint/syscalls/sys_enter_openat") int fourth(void *ctx) { return 4; }
        SEC("socket") int fifth(void *ctx) { return 5; }
        char LICENSE[] SEC("license") = "Dual BSD/GPL";
        __u32 _version SEC("version") = 0x060c00;
    """))
    assert list(obj.programs) == ["first", "second", "third", "fourth", "fifth"]
    assert obj.license == "Dual BSD/GPL" and obj.version == 0x060C00
    p = obj.programs["third"]
    assert p.section == "kprobe/do_sys_open" and p.license == "Dual BSD/GPL"
    assert (p.meta["kind"], p.meta["attach_target"], p.meta["prog_type"]) == \
        ("kprobe", "do_sys_open", "kprobe")
    tp = obj.programs["fourth"].meta
    assert (tp["kind"], tp["attach_target"], tp["prog_type"]) == \
        ("tracepoint", "syscalls/sys_enter_openat", "tracepoint")
    assert obj.programs["fifth"].meta["prog_type"] == "socket_filter"
    assert obj.programs["first"].meta["prog_type"] == "xdp"


def test_run_each_program(cc) -> None:
    vm, obj = load(cc("""
        SEC("xdp") int a(void *ctx) { return 11; }
        SEC("xdp") int b(void *ctx) { return 22; }
    """ + LICENSE))
    assert [vm.run(p, PT_REGS).r0 for p in obj.programs.values()] == [11, 22]
    assert obj.program() is obj.programs["a"]
    with pytest.raises(ElfLoadError, match="no program 'c'"):
        obj.program("c")


def test_missing_license_is_empty_as_in_the_kernel(cc) -> None:
    _, obj = load(cc('SEC("xdp") int a(void *ctx) { return 0; }'))
    assert obj.license == "" and obj.version is None


@pytest.mark.parametrize("license, allowed", [("GPL", True), ("Dual MIT/GPL", True),
                                              ("MIT", False), (None, False)])
def test_license_section_gates_gpl_only_helpers(cc, license: str | None,
                                                allowed: bool) -> None:
    src = 'SEC("kprobe/x") int f(void *ctx) { return bpf_printk("hi"); }\n'
    if license is not None:
        src += f'char LICENSE[] SEC("license") = "{license}";\n'
    vm, obj = load(cc(src))
    if allowed:
        assert vm.run(obj.programs["f"], PT_REGS).r0 > 0
    else:
        with pytest.raises(VerifierReject, match="GPL"):
            vm.run(obj.programs["f"], PT_REGS)


# -- subprograms and calls ---------------------------------------------------------------

SUBPROGS = """
    static __noinline int twice(int x) { return x * 2; }
    __noinline int plus_twice(int x, int y) { return x + twice(y); }   /* global */
    static __noinline int deep(int n) { return n ? plus_twice(n, deep2(n - 1)) : 0; }
"""


def test_static_and_global_subprograms_are_appended_and_relinked(cc) -> None:
    vm, obj = load(cc("""
        static __noinline int twice(int x) { return x * 2 + 0 * x; }
        __noinline int plus_twice(int x, int y) { return x + twice(y); }
        static __noinline int add3(int a, int b, int c) { return plus_twice(a, b) + c; }
        SEC("xdp") int main1(struct pt_regs *ctx) { return add3(ctx->di, ctx->si, 1000); }
        SEC("xdp") int main2(struct pt_regs *ctx) { return twice(ctx->di); }
    """ + LICENSE))
    regs = bytearray(168)
    regs[14 * 8:14 * 8 + 8] = (5).to_bytes(8, "little")   # di
    regs[13 * 8:13 * 8 + 8] = (7).to_bytes(8, "little")   # si
    assert vm.run(obj.programs["main1"], bytes(regs)).r0 == 5 + 14 + 1000
    assert vm.run(obj.programs["main2"], bytes(regs)).r0 == 10
    p1 = obj.programs["main1"]
    assert set(p1.func_names.values()) == {"main1", "add3", "plus_twice", "twice"}
    # each program carries its own copy of only what it calls
    assert set(obj.programs["main2"].func_names.values()) == {"main2", "twice"}
    for pc, insn in enumerate(p1.insns):
        if insn is not None and insn.kind is Kind.CALL and insn.src == CallKind.LOCAL:
            assert pc + 1 + insn.imm in p1.func_names


def test_bpf_loop_callback_becomes_a_pseudo_func(cc) -> None:
    src = """
        static int step(__u32 i, __u64 *acc) { *acc += i; return 0; }
        SEC("xdp") int loop(void *ctx) {
            __u64 acc = 0;
            bpf_loop(10, step, &acc, 0);
            return acc;
        }
    """ + LICENSE
    vm, obj = load(cc(src))
    p = obj.programs["loop"]
    funcs = [(pc, i) for pc, i in enumerate(p.insns)
             if i is not None and i.kind is Kind.LD_IMM64 and i.src == Pseudo.FUNC]
    assert len(funcs) == 1
    pc, insn = funcs[0]
    assert p.func_names[pc + 1 + insn.imm] == "step"
    if 181 in vm.helpers:     # bpf_loop, from the helpers module
        assert vm.run(p, PT_REGS).r0 == sum(range(10))


# -- maps --------------------------------------------------------------------------------

def test_legacy_maps_section(cc) -> None:
    vm, obj = load(cc("""
        struct bpf_map_def SEC("maps") counts = {
            .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 4,
        };
        struct bpf_map_def SEC("maps") table = {
            .type = BPF_MAP_TYPE_HASH, .key_size = 8, .value_size = 16, .max_entries = 64,
            .map_flags = BPF_F_NO_PREALLOC,
        };
        SEC("kprobe/x") int use(void *ctx) {
            __u32 k = 2; __u64 *v = bpf_map_lookup_elem(&counts, &k);
            if (v) *v += 40;
            __u64 k2 = 0; bpf_map_lookup_elem(&table, &k2);
            return v ? *v : 1;
        }
    """ + LICENSE))
    c, t = obj.maps["counts"], obj.maps["table"]
    assert (c.type, c.key_size, c.value_size, c.max_entries, c.flags) == (2, 4, 8, 4, 0)
    assert (t.type, t.key_size, t.value_size, t.max_entries, t.flags) == (1, 8, 16, 64, 1)
    p = obj.programs["use"]
    refs = [(i.src, i.imm) for i in p.insns if i is not None and i.kind is Kind.LD_IMM64]
    assert set(refs) == {(Pseudo.MAP_IDX, 0), (Pseudo.MAP_IDX, 1)}
    assert p.maps[0] is c and p.maps[1] is t
    if 1 in vm.helpers:
        assert vm.run(p, PT_REGS).r0 == 40
        assert vm.run(p, PT_REGS).r0 == 80
        assert c.lookup(2) == (80).to_bytes(8, "little")


def test_btf_maps_in_the_vm(cc) -> None:
    _, obj = load(cc("""
        struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 16);
                 __type(key, __u64); __type(value, struct pt_regs); } regs_by_id SEC(".maps");
        struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 2);
                 __type(key, __u32); __type(value, __u32); } per_cpu SEC(".maps");
        struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 8192); } rb SEC(".maps");
        SEC("kprobe/x") int use(void *ctx) {
            __u64 k = 0; __u32 i = 0;
            bpf_map_lookup_elem(&regs_by_id, &k); bpf_map_lookup_elem(&per_cpu, &i);
            bpf_ringbuf_output(&rb, &k, 8, 0);
            return 0;
        }
    """ + LICENSE))
    got = {n: (int(m.type), m.key_size, m.value_size, m.max_entries)
           for n, m in obj.maps.items()}
    assert got == {"regs_by_id": (9, 8, 168, 16), "per_cpu": (6, 4, 4, 2),
                   "rb": (27, 0, 0, 8192)}


def test_unsupported_map_type_names_the_map(cc) -> None:
    with pytest.raises(ElfLoadError, match="map 'q'"):
        load(cc("""
            struct { __uint(type, BPF_MAP_TYPE_QUEUE); __uint(max_entries, 4);
                     __uint(value_size, 4); } q SEC(".maps");
            SEC("xdp") int a(void *ctx) { __u32 v; bpf_map_peek_elem(&q, &v); return 0; }
        """ + LICENSE))


# -- global data -------------------------------------------------------------------------

GLOBALS = """
    __u64 counter = 100;                 /* .data */
    __u64 zeroed;                        /* .bss */
    const volatile __u32 limit = 7;      /* .rodata */
    static const char greeting[] = "hi!"; /* .rodata (or .rodata.str) */
    SEC("xdp") int bump(void *ctx) {
        counter += 1;
        zeroed += 2;
        return counter + zeroed + limit;
    }
    SEC("xdp") int letter(struct pt_regs *ctx) {
        const char *s = "hello, world";   /* a string literal: .rodata.str1.1 */
        __u64 i = ctx->di & 7;
        return s[i] + greeting[ctx->si & 3];
    }
    SEC("xdp") int scribble(void *ctx) { *(volatile __u32 *)&limit = 9; return 0; }
"""


def test_global_data_becomes_internal_array_maps(cc) -> None:
    vm, obj = load(cc(GLOBALS + LICENSE))
    data, bss, ro = obj.maps[".data"], obj.maps[".bss"], obj.maps[".rodata"]
    for m in (data, bss, ro):
        assert (int(m.type), m.key_size, m.max_entries) == (2, 4, 1)
    assert data.lookup(0) == (100).to_bytes(8, "little")
    assert bss.lookup(0) == bytes(8)
    assert ro.flags & (1 << 7)            # BPF_F_RDONLY_PROG, as libbpf sets it
    assert any(n.startswith(".rodata.str") for n in obj.maps) or b"hello" in ro.lookup(0)
    bump = obj.programs["bump"]
    assert vm.run(bump, PT_REGS).r0 == 101 + 2 + 7
    assert vm.run(bump, PT_REGS).r0 == 102 + 4 + 7
    assert data.lookup(0) == (102).to_bytes(8, "little")
    assert bss.lookup(0) == (4).to_bytes(8, "little")
    refs = [i for i in bump.insns if i is not None and i.kind is Kind.LD_IMM64]
    assert {i.src for i in refs} == {Pseudo.MAP_IDX_VALUE}


def test_string_literals_and_offsets_into_rodata(cc) -> None:
    vm, obj = load(cc(GLOBALS + LICENSE))
    regs = bytearray(168)
    for di, si in ((0, 0), (4, 1), (7, 2)):
        regs[14 * 8:15 * 8] = di.to_bytes(8, "little")
        regs[13 * 8:14 * 8] = si.to_bytes(8, "little")
        assert vm.run(obj.programs["letter"], bytes(regs)).r0 == \
            ord("hello, world"[di]) + ord("hi!"[si])


def test_rodata_is_read_only_for_programs(cc) -> None:
    vm, obj = load(cc(GLOBALS + LICENSE))
    with pytest.raises(VmFault, match="read-only"):
        vm.run(obj.programs["scribble"], PT_REGS)
    with pytest.raises(MapError):           # frozen for user space too, as libbpf does
        obj.maps[".rodata"].update(0, bytes(obj.maps[".rodata"].value_size))


def test_variables_set_before_load_like_a_skeleton(cc) -> None:
    path = cc(GLOBALS + LICENSE)
    vm, obj = load(path, variables={"limit": 40, "counter": -1, "zeroed": b"\x05" + bytes(7)})
    assert obj.maps[".rodata"].lookup(0)[:4] == (40).to_bytes(4, "little")
    assert vm.run(obj.programs["bump"], PT_REGS).r0 == 0 + 7 + 40
    for bad, what in (({"nope": 1}, "no such variable"), ({"limit": 2**40}, "does not fit"),
                      ({"counter": b"12"}, "2 bytes for a variable of 8")):
        with pytest.raises(ElfLoadError, match=what):
            load(path, variables=bad)


def test_legacy_map_definitions_with_more_fields(cc) -> None:
    src = """
        struct bpf_load_map_def {       /* samples/bpf/bpf_load.h's longer definition */
            unsigned int type, key_size, value_size, max_entries, map_flags;
            unsigned int inner_map_idx, numa_node;
        };
        struct bpf_load_map_def SEC("maps") m = {
            .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 2,
            .inner_map_idx = INNER,
        };
        SEC("xdp") int f(void *ctx) { __u32 k = 0; return !!bpf_map_lookup_elem(&m, &k); }
    """ + LICENSE
    _, obj = load(cc(src.replace("INNER", "0")))        # zero extra fields: fine
    assert obj.maps["m"].max_entries == 2
    with pytest.raises(ElfLoadError, match="map 'm' has 28 bytes of definition"):
        load(cc(src.replace("INNER", "1")))


def test_co_re_relocation_without_a_target_type(cc) -> None:
    """CO-RE is tests/test_core_reloc.py's; a type the target lacks poisons the load."""
    _, obj = load(cc("""
        struct no_such_task { int pid; int tgid; } __attribute__((preserve_access_index));
        SEC("kprobe/x") int f(struct no_such_task *t) { return t->tgid; }
    """ + LICENSE))
    assert any("no_such_task.tgid" in w for w in obj.warnings)


# -- prog arrays -------------------------------------------------------------------------

def test_declarative_prog_array(cc) -> None:
    vm, obj = load(cc("""
        SEC("xdp") int slot1(void *ctx) { return 101; }
        SEC("xdp") int slot3(void *ctx) { return 103; }
        struct {
            __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
            __uint(max_entries, 8);
            __uint(key_size, sizeof(__u32));
            __array(values, int (void *));
        } jump SEC(".maps") = { .values = { [1] = (void *)&slot1, [3] = (void *)&slot3 } };
        SEC("xdp") int entry(struct pt_regs *ctx) {
            bpf_tail_call(ctx, &jump, ctx->di);
            return 7;
        }
    """ + LICENSE))
    assert obj.prog_arrays == {"jump": {1: "slot1", 3: "slot3"}}
    jump = obj.maps["jump"]
    assert jump.program_at(1) is obj.programs["slot1"]
    assert jump.program_at(3) is obj.programs["slot3"]
    regs = bytearray(168)
    for di, want in ((1, 101), (3, 103), (2, 7), (9, 7)):
        regs[14 * 8:15 * 8] = di.to_bytes(8, "little")
        r = vm.run(obj.programs["entry"], bytes(regs))
        assert (r.r0, r.tail_calls) == (want, 1 if want > 100 else 0)


TRACEX5 = """
    struct bpf_map_def SEC("maps") progs = {
        .type = BPF_MAP_TYPE_PROG_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 1024,
    };
    #define PROG(F) SEC("kprobe/" __stringify(F)) int bpf_func_##F
    SEC("kprobe/__seccomp_filter") int bpf_prog1(struct pt_regs *ctx) {
        int sc_nr = (int)PT_REGS_PARM1(ctx);
        bpf_tail_call(ctx, &progs, sc_nr);
        return 1000 + sc_nr;
    }
    PROG(__NR_write)(struct pt_regs *ctx) { return 1; }
    PROG(__NR_read)(struct pt_regs *ctx) { return 2; }
    PROG(__NR_mmap)(struct pt_regs *ctx) { return 3; }
"""


def test_tracex5_section_numbering(cc) -> None:
    vm, obj = load(cc(TRACEX5 + LICENSE))
    assert obj.prog_arrays == {"progs": {1: "bpf_func___NR_write", 0: "bpf_func___NR_read",
                                         9: "bpf_func___NR_mmap"}}
    assert obj.programs["bpf_func___NR_write"].section == "kprobe/1"
    regs = bytearray(168)
    for nr, want in ((1, 1), (0, 2), (9, 3), (2, 1002)):
        regs[14 * 8:15 * 8] = nr.to_bytes(8, "little")
        assert vm.run(obj.programs["bpf_prog1"], bytes(regs)).r0 == want


def test_populate_false_leaves_prog_arrays_empty(cc) -> None:
    _, obj = load(cc(TRACEX5 + LICENSE), populate=False)
    assert obj.prog_arrays["progs"][1] == "bpf_func___NR_write"     # the plan is kept
    assert obj.maps["progs"].program_at(1) is None


def test_ksyscall_and_x64_sys_names_go_to_syscall_numbers(cc) -> None:
    _, obj = load(cc("""
        struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 512);
                 __type(key, __u32); __type(value, __u32); } progs SEC(".maps");
        SEC("ksyscall/openat") int on_openat(void *ctx) { return 0; }
        SEC("kprobe/__x64_sys_close") int on_close(void *ctx) { return 0; }
        SEC("kretsyscall/openat") int openat_ret(void *ctx) { return 0; }
        SEC("kprobe/do_sys_open") int other(void *ctx) { return 0; }
    """ + LICENSE))
    assert obj.prog_arrays == {"progs": {257: "on_openat", 3: "on_close"}}


def test_ksyscall_names_need_the_callers_syscall_table(cc) -> None:
    """The VM knows no syscall numbers: without a resolver, or with one that does not
    know the name, the section that needed it is named."""
    src = cc("""
        struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 512);
                 __type(key, __u32); __type(value, __u32); } progs SEC(".maps");
        SEC("ksyscall/openat") int on_openat(void *ctx) { return 0; }
    """ + LICENSE)
    with pytest.raises(ElfLoadError, match=r"section 'ksyscall/openat'.*needs a syscall table"):
        load(src, syscall_number=None)
    with pytest.raises(ElfLoadError, match="'openat' is not an x86_64 syscall"):
        load(src, syscall_number={}.get)


def test_conventions_need_exactly_one_prog_array(cc) -> None:
    _, obj = load(cc("""
        struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 512);
                 __type(key, __u32); __type(value, __u32); } a SEC(".maps"), b SEC(".maps");
        SEC("ksyscall/openat") int on_openat(void *ctx) { return 0; }
    """ + LICENSE))
    assert obj.prog_arrays == {}
    assert obj.warnings and "exactly one" in obj.warnings[0]
    # and without any prog array, a ksyscall program is just a program
    _, obj = load(cc('SEC("ksyscall/no_such_call") int f(void *ctx) { return 0; }' + LICENSE))
    assert list(obj.programs) == ["f"] and obj.prog_arrays == {}


def test_unknown_syscall_name_is_an_error_naming_the_section(cc) -> None:
    with pytest.raises(ElfLoadError, match=r"ksyscall/no_such_call.*not an x86_64 syscall"):
        load(cc("""
            struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 512);
                     __type(key, __u32); __type(value, __u32); } progs SEC(".maps");
            SEC("ksyscall/no_such_call") int f(void *ctx) { return 0; }
        """ + LICENSE))


def test_slot_beyond_max_entries_and_conflicts(cc) -> None:
    with pytest.raises(ElfLoadError, match=r"index 257 .* out of range"):
        load(cc("""
            struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 8);
                     __type(key, __u32); __type(value, __u32); } progs SEC(".maps");
            SEC("ksyscall/openat") int f(void *ctx) { return 0; }
        """ + LICENSE))
    with pytest.raises(ElfLoadError, match=r"slot 1: both 'f'.*and 'g'"):
        load(cc("""
            struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 8);
                     __type(key, __u32); __type(value, __u32); } progs SEC(".maps");
            SEC("kprobe/1") int f(void *ctx) { return 0; }
            SEC("ksyscall/write") int g(void *ctx) { return 0; }
        """ + LICENSE))


# -- assembly objects --------------------------------------------------------------------

def test_load_asm_gives_the_same_kind_of_object() -> None:
    vm = Vm()
    obj = load_asm("""
        .license "GPL"
        .map progs prog_array key=4 value=4 max_entries=8
        .prog entry "kprobe/x"
            r2 = map[progs] ll
            r3 = 0x5
            call bpf_tail_call
            w0 = 0x1
            exit
        .prog five "kprobe/5"
            w0 = 0x55
            exit
    """, vm)
    assert list(obj.programs) == ["entry", "five"]
    assert obj.programs["five"].section == "kprobe/5"
    assert obj.prog_arrays == {"progs": {5: "five"}}
    assert vm.run(obj.program(), PT_REGS).r0 == 0x55


# -- malformed and unsupported objects ---------------------------------------------------

@pytest.fixture(scope="module")
def good(cc) -> bytes:
    return Path(cc(GLOBALS + TRACEX5.replace("bpf_prog1", "entry1") + LICENSE)).read_bytes()


def test_the_base_object_loads(good: bytes) -> None:
    load(good)


@pytest.mark.parametrize("cut", [0, 3, 16, 63, 64, 200, 0.5, 0.9, -1])
def test_truncated_object(good: bytes, cut: float) -> None:
    n = int(len(good) * cut) if isinstance(cut, float) else (cut % len(good))
    with pytest.raises(ElfLoadError):
        load(good[:n])


@pytest.mark.parametrize("seed", range(8))
def test_garbage_and_bit_flips_never_traceback(good: bytes, seed: int) -> None:
    import random
    rnd = random.Random(seed)
    if seed == 0:
        data = bytes(rnd.randrange(256) for _ in range(4096))
    else:      # flip bytes all over a valid object: either it loads, or ElfLoadError
        b = bytearray(good)
        for _ in range(20 * seed):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        data = bytes(b)
    with contextlib.suppress(ElfLoadError):
        load(data)


def test_wrong_machine(good: bytes) -> None:
    b = bytearray(good)
    b[18:20] = (62).to_bytes(2, "little")           # EM_X86_64
    with pytest.raises(ElfLoadError, match="machine EM_X86_64 is not BPF"):
        load(bytes(b))


def test_not_a_relocatable_object(good: bytes) -> None:
    b = bytearray(good)
    b[16:18] = (2).to_bytes(2, "little")            # ET_EXEC
    with pytest.raises(ElfLoadError, match="ET_EXEC"):
        load(bytes(b))


def _reloc_entry_offsets(data: bytes, rel_name: str) -> list[int]:
    import io
    elf = ELFFile(io.BytesIO(data))
    sec = elf.get_section_by_name(rel_name)
    return [sec["sh_offset"] + i * sec["sh_entsize"] for i in range(sec.num_relocations())]


def test_unknown_relocation_type(good: bytes) -> None:
    rel = next(n for n in (".relkprobe/__seccomp_filter",) if n)
    off = _reloc_entry_offsets(good, rel)[0]
    b = bytearray(good)
    info = struct.unpack_from("<Q", b, off + 8)[0]
    struct.pack_into("<Q", b, off + 8, (info & ~0xFFFFFFFF) | 77)
    with pytest.raises(ElfLoadError, match=r"relocation #0 \(77 against 'progs'.*type 77"):
        load(bytes(b))


def test_relocation_of_a_non_ld_imm64(good: bytes) -> None:
    rel = ".relkprobe/__seccomp_filter"
    off = _reloc_entry_offsets(good, rel)[0]
    b = bytearray(good)
    struct.pack_into("<Q", b, off, 0)        # point it at instruction 0, a load
    with pytest.raises(ElfLoadError, match="neither a call nor an ld_imm64"):
        load(bytes(b))


def test_reference_to_an_undefined_map_symbol(cc) -> None:
    with pytest.raises(ElfLoadError, match="'missing_map' is undefined"):
        load(cc("""
            extern struct { int x; } missing_map;
            SEC("xdp") int f(void *ctx) {
                __u32 k = 0;
                return bpf_map_lookup_elem(&missing_map, &k) != 0;
            }
        """ + LICENSE))


@pytest.mark.needs_llvm("llvm-objcopy")
def test_btf_maps_without_btf(cc) -> None:
    import subprocess
    obj = cc("""
        struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
                 __type(key, __u32); __type(value, __u32); } m SEC(".maps");
        SEC("xdp") int f(void *ctx) { __u32 k = 0; return !!bpf_map_lookup_elem(&m, &k); }
    """ + LICENSE)
    stripped = obj.with_suffix(".nobtf.o")
    subprocess.run(["llvm-objcopy", "--remove-section=.BTF", "--remove-section=.BTF.ext",
                    str(obj), str(stripped)], capture_output=True, check=True)
    with pytest.raises(ElfLoadError, match=r"'\.maps' needs BTF"):
        load(stripped)


def test_invalid_instruction_names_the_section(good: bytes) -> None:
    import io
    elf = ELFFile(io.BytesIO(good))
    sec = elf.get_section_by_name("kprobe/1")
    b = bytearray(good)
    b[sec["sh_offset"]] = 0xFF                   # not an opcode
    with pytest.raises(ElfLoadError, match="section 'kprobe/1': instruction 0: invalid opcode"):
        load(bytes(b))


def test_static_program_is_refused_like_libbpf(cc) -> None:
    with pytest.raises(ElfLoadError, match="program 'hidden' is static"):
        load(cc('static __attribute__((used)) SEC("xdp") int hidden(void *ctx)'
                ' { return 0; }' + LICENSE))


def test_missing_file() -> None:
    with pytest.raises(ElfLoadError, match="No such file"):
        load(Path("/nonexistent/x.o"))


def test_parse_object_needs_no_vm(good: bytes) -> None:
    loader = parse_object(good)
    assert loader.maps[0].name == "progs"
    assert [f.name for f in loader.entries()][:3] == ["bump", "letter", "scribble"]
