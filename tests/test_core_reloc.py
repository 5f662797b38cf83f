"""CO-RE relocations: objects compiled at test time with clang's preserve_* builtins,
resolved against the host's ``/sys/kernel/btf/vmlinux``; the patched constants must be
the offsets, sizes and values that BTF gives."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from bpf_vm.btf import Btf, Kind
from bpf_vm.core_match import VMLINUX, essential_name, target_btf
from bpf_vm.core_reloc import POISON_HELPER, parse_core_relos
from bpf_vm.elf import load_object, parse_object
from bpf_vm.errors import ElfLoadError
from bpf_vm.load import verify_program
from bpf_vm.vm import Vm
from tests.bpf_c import cc_fixture  # noqa: F401  (the `cc` fixture)

LICENSE = 'char LICENSE[] SEC("license") = "GPL";\n'
PAI = "__attribute__((preserve_access_index))"

pytestmark = pytest.mark.skipif(not os.access(VMLINUX, os.R_OK),
                                reason=f"{VMLINUX} is not readable")


@pytest.fixture(scope="module", name="kbtf")
def kbtf_fixture() -> Btf:
    return target_btf().btf


def member(btf: Btf, struct_name: str, name: str) -> tuple[int, int, int]:
    """(byte offset, size, bit offset) of a member of a vmlinux struct."""
    t = btf.find(struct_name, Kind.STRUCT)
    assert t is not None
    for m in t.members:
        if m.name == name:
            size = btf.resolve_size(m.type)
            return m.bit_offset // 8, size, m.bit_offset
    raise AssertionError(f"{struct_name}.{name} not in vmlinux")


def insns(path: Path, section: str) -> list:
    obj = parse_object(path)
    return [i for c in obj.code.values() if c.name == section for i in c.insns if i]


def test_field_offsets_are_the_kernels(cc, kbtf) -> None:
    path = cc(f"""
        struct task_struct {{ int pid; int tgid; struct task_struct *real_parent;
                             char comm[16]; }} {PAI};
        struct pt_regs___core {{ unsigned long si; unsigned long di; }} {PAI};
        SEC("kprobe/x") int f(struct pt_regs___core *r) {{
            struct task_struct *t = (void *)r->di;
            int x = 0;
            bpf_probe_read_kernel(&x, 4, &t->real_parent->tgid);
            return x + t->pid + r->si;
        }}
    """ + LICENSE, prelude=True)
    code = insns(path, "kprobe/x")
    offs = {i.off for i in code if i.opcode & 7 == 1}            # LDX
    imms = {i.imm for i in code if i.opcode == 0xB7}               # mov64 imm
    assert member(kbtf, "pt_regs", "di")[0] in offs
    assert member(kbtf, "pt_regs", "si")[0] in offs
    assert member(kbtf, "task_struct", "pid")[0] in offs
    assert member(kbtf, "task_struct", "real_parent")[0] in offs
    assert member(kbtf, "task_struct", "tgid")[0] in imms         # &t->real_parent->tgid


def test_field_info_and_flavors(cc, kbtf) -> None:
    path = cc(f"""
        struct task_struct___mine {{ int tgid; char comm[16]; unsigned long nope; }} {PAI};
        SEC("kprobe/x") long f(struct task_struct___mine *t) {{
            long a = __builtin_preserve_field_info(t->comm, 1);     /* byte size */
            long b = __builtin_preserve_field_info(t->tgid, 2);     /* exists */
            long c = __builtin_preserve_field_info(t->nope, 2);     /* exists: no */
            long d = __builtin_preserve_field_info(t->tgid, 3);     /* signed */
            long e = __builtin_preserve_field_info(t->tgid, 0);     /* byte offset */
            return a << 40 | b << 32 | c << 24 | d << 16 | e;
        }}
    """ + LICENSE)
    imms = [i.imm for i in insns(path, "kprobe/x") if i.opcode in (0xB7, 0xB4)]
    assert member(kbtf, "task_struct", "comm")[1] in imms
    assert member(kbtf, "task_struct", "tgid")[0] in imms
    assert 1 in imms and 0 in imms                 # tgid exists, nope does not


def test_bitfield_shifts(cc, kbtf) -> None:
    t = kbtf.find("task_struct", Kind.STRUCT)
    assert t is not None
    bf = next(m for m in t.members if m.bitfield_size and m.name)
    path = cc(f"""
        struct task_struct {{ unsigned {bf.name}:1; }} {PAI};
        SEC("kprobe/x") long f(struct task_struct *t) {{
            return __builtin_preserve_field_info(t->{bf.name}, 4) << 8
                 | __builtin_preserve_field_info(t->{bf.name}, 5);
        }}
    """ + LICENSE)
    imms = [i.imm for i in insns(path, "kprobe/x") if i.opcode in (0xB7, 0xB4)]
    # libbpf: smallest load holding the bitfield, starting from the member type's size
    byte_sz = kbtf.skip_mods_and_typedefs(bf.type).size
    bit_off = bf.bit_offset
    byte_off = bit_off // 8 // byte_sz * byte_sz
    lshift = 64 - (bit_off + bf.bitfield_size - byte_off * 8)
    assert lshift in imms and 64 - bf.bitfield_size in imms


def test_types_and_enums(cc, kbtf) -> None:
    path = cc("""
        struct task_struct { int pid; };
        struct no_such_type___x { int a; };
        enum pid_type { PIDTYPE_TGID = 77, PIDTYPE_NOPE = 5 };
        SEC("kprobe/x") long f(void *ctx) {
            long s = __builtin_preserve_type_info(*(struct task_struct *)0, 1);
            long e = __builtin_preserve_type_info(*(struct task_struct *)0, 0);
            long n = __builtin_preserve_type_info(*(struct no_such_type___x *)0, 0);
            long v = __builtin_preserve_enum_value(*(enum pid_type *)PIDTYPE_TGID, 1);
            long x = __builtin_preserve_enum_value(*(enum pid_type *)PIDTYPE_NOPE, 0);
            long id = __builtin_btf_type_id(*(struct task_struct *)0, 1);
            return s + e + n + v + x + id;
        }
    """ + LICENSE)
    code = insns(path, "kprobe/x")
    values = {i.imm64 if i.opcode == 0x18 else i.imm for i in code}
    task = kbtf.find("task_struct", Kind.STRUCT)
    pid_type = kbtf.find("pid_type", Kind.ENUM)
    assert task is not None and pid_type is not None
    tgid = next(m.value for m in pid_type.members if m.name == "PIDTYPE_TGID")
    assert task.size in values
    assert tgid in values
    assert task.id in values                      # target type id
    assert 77 not in values and 5 not in values


def test_missing_field_is_poisoned(cc) -> None:
    path = cc(f"""
        struct task_struct {{ int pid; int no_such_field; }} {PAI};
        SEC("kprobe/x") int f(struct task_struct *t) {{ return t->no_such_field; }}
    """ + LICENSE)
    obj = load_object(path, Vm())
    code = insns(path, "kprobe/x")
    assert any(i.opcode == 0x85 and i.imm == POISON_HELPER for i in code)
    assert any("task_struct.no_such_field" in w and "failed to resolve CO-RE relocation" in w
               for w in obj.warnings), obj.warnings
    verdict = verify_program(obj.program("f"))
    assert not verdict.accepted
    assert "invalid func unknown#195896080" in (verdict.error or "")


def test_guarded_missing_field_is_dead_code(cc) -> None:
    path = cc(f"""
        struct task_struct {{ int pid; int no_such_field; }} {PAI};
        SEC("kprobe/x") int f(struct task_struct *t) {{
            int v = 0;
            if (__builtin_preserve_field_info(t->no_such_field, 2))
                bpf_probe_read_kernel(&v, 4, &t->no_such_field);
            return v;
        }}
    """ + LICENSE)
    obj = load_object(path, Vm())
    assert obj.warnings
    verdict = verify_program(obj.program("f"))
    assert verdict.accepted, verdict.log


def _ext_section(path: Path) -> tuple[bytes, int]:
    data = path.read_bytes()
    with path.open("rb") as f:
        sec = ELFFile(f).get_section_by_name(".BTF.ext")
        return data, sec["sh_offset"]


def test_malformed_core_relo_record(cc) -> None:
    path = cc(f"""
        struct task_struct {{ int pid; }} {PAI};
        SEC("kprobe/x") int f(struct task_struct *t) {{ return t->pid; }}
    """ + LICENSE)
    data, base = _ext_section(path)
    hdr_len = struct.unpack_from("<I", data, base + 4)[0]
    relo_off = struct.unpack_from("<I", data, base + 24)[0]
    first = base + hdr_len + relo_off + 4 + 8          # rec_size, one section header
    bad = bytearray(data)
    struct.pack_into("<I", bad, first + 12, 99)      # kind
    with pytest.raises(ElfLoadError, match=r"'\.BTF\.ext'.*offset \d+.*kind 99"):
        load_object(bytes(bad), Vm())
    bad = bytearray(data)
    struct.pack_into("<I", bad, first + 8, 0x7FFFFFF)    # access string offset
    with pytest.raises(ElfLoadError, match=r"'\.BTF\.ext'.*offset \d+.*string offset"):
        load_object(bytes(bad), Vm())
    bad = bytearray(data)
    struct.pack_into("<I", bad, first + 4, 0x7FFFFFF)    # type id
    with pytest.raises(ElfLoadError, match=r"CO-RE relo #0.*relocation failed"):
        load_object(bytes(bad), Vm())


def test_parse_records_and_names() -> None:
    assert essential_name("task_struct___old") == "task_struct"
    assert essential_name("a___b___c") == "a___b"
    assert essential_name("__x") == "__x"
    assert parse_core_relos(b"\x9f\xeb\x01\x00\x18\x00\x00\x00" + bytes(16), b"\0") == []


def test_shipped_subset_gives_the_kernels_offsets(cc, kbtf, monkeypatch) -> None:
    """The fallback target (bpf_vm/data, scripts/gen_core_btf.py) has the host's
    offsets for the types trace-run emulates."""
    from bpf_vm.core_match import fallback_btf_path
    if not fallback_btf_path().is_file():
        pytest.skip("no shipped subset BTF")
    monkeypatch.setenv("BPF_VM_TARGET_BTF", str(fallback_btf_path()))
    path = cc(f"""
        struct task_struct {{ int tgid; struct task_struct *real_parent; void *cred; }} {PAI};
        typedef struct {{ unsigned int val; }} kuid_t;
        struct cred {{ kuid_t uid; }} {PAI};
        SEC("kprobe/x") int f(struct task_struct *t) {{
            struct cred *c = 0;
            int x = 0;
            bpf_probe_read_kernel(&c, 8, &t->cred);
            bpf_probe_read_kernel(&x, 4, &c->uid.val);
            return x + t->real_parent->tgid;
        }}
    """ + LICENSE)
    obj = parse_object(path)
    assert obj.core.target == str(fallback_btf_path())
    assert obj.core.count >= 4 and not obj.core.poisoned, obj.core
    code = [i for c in obj.code.values() if c.name == "kprobe/x" for i in c.insns if i]
    values = {i.off for i in code} | {i.imm for i in code}
    for s, m in (("task_struct", "tgid"), ("task_struct", "real_parent"),
                 ("task_struct", "cred"), ("cred", "uid")):
        assert member(kbtf, s, m)[0] in values, (s, m)
