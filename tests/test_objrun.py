"""Running programs of objects: bpf_vm.objrun, the object side of the `bpf-vm` CLI, the
disassembly of objects against llvm-objdump, and the host kernel as the reference."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpf_vm import kernel
from bpf_vm.cli import app
from bpf_vm.elf import load_object
from bpf_vm.errors import BpfError
from bpf_vm.insn import Insn, encode
from bpf_vm.isa import LD_IMM64, CallKind, Kind, Pseudo
from bpf_vm.objrun import (
    PT_REGS_FIELDS,
    RegsError,
    disasm_object,
    parse_regs,
    pt_regs,
    run_object,
)
from bpf_vm.vm import Vm
from probes import build
from tests.bpf_c import cc_fixture  # noqa: F401  (the `cc` fixture)

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture(scope="module")
def syscalls_o(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("objrun")
    return build(ROOT / "probes" / "syscalls.bpf.c", d / "syscalls.bpf.o", cache=d / "c")


# -- registers -----------------------------------------------------------------------------

def test_parse_regs() -> None:
    assert parse_regs("orig_ax=257,di=0x1000") == {"orig_ax": 257, "di": 0x1000}
    assert parse_regs(["rdi=-100", "orig_rax=1", "r10=0o17"]) == \
        {"di": 2**64 - 100, "orig_ax": 1, "r10": 15}
    assert parse_regs(None) == {}
    for bad in ("rzz=1", "di", "di=x"):
        with pytest.raises(RegsError):
            parse_regs(bad)


def test_pt_regs_layout() -> None:
    ctx = pt_regs({f: i + 1 for i, f in enumerate(PT_REGS_FIELDS)})
    assert len(ctx) == 168
    assert [int.from_bytes(ctx[i * 8:i * 8 + 8], "little") for i in range(21)] == \
        list(range(1, 22))
    assert PT_REGS_FIELDS.index("orig_ax") * 8 == 120    # what dispatch loads


# -- run_object ------------------------------------------------------------------------------

def test_run_object_collects_everything(syscalls_o: Path) -> None:
    res = run_object(syscalls_o, regs={"orig_ax": 257, "si": 0x1000},
                     user_mem={0x1000: b"/x\0"})
    assert (res.program, res.r0, res.tail_calls) == ("dispatch", 0, 1)
    assert res.printk[0].endswith(': bpf_trace_printk: openat(0, "/x", 0x0)')
    assert [n for n, _ in res.ringbuf] == ["events"]
    assert res.maps["progs"] and res.maps["unhandled"] == [] and res.maps["events"] == []
    js = res.to_json()
    assert list(js) == ["r0", "printk", "ringbuf", "maps", "insns", "tail_calls"]
    assert js["ringbuf"] == [res.ringbuf[0][1].hex()]
    assert res.insns > 20


def test_run_object_prog_option(syscalls_o: Path) -> None:
    res = run_object(syscalls_o, "sys_close", regs={"di": 9})
    assert (res.program, res.tail_calls) == ("sys_close", 0)
    assert res.printk[0].endswith("bpf_trace_printk: close(9)")


# -- the CLI -------------------------------------------------------------------------------

def test_cli_run_json_is_exactly_one_object(syscalls_o: Path) -> None:
    res = runner.invoke(app, ["run", str(syscalls_o), "--regs", "orig_ax=257,di=3",
                              "--regs", "si=0x7000", "--user-mem", "0x7000=2f746d7000",
                              "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.output)          # one object, nothing else on stdout
    assert set(obj) == {"r0", "printk", "ringbuf", "maps", "insns", "tail_calls"}
    assert obj["r0"] == 0 and obj["tail_calls"] == 1
    assert obj["printk"][0].endswith('openat(3, "/tmp", 0x0)')
    rec = bytes.fromhex(obj["ringbuf"][0])
    assert rec[:4] == (257).to_bytes(4, "little") and b"/tmp\0" in rec
    assert {"key": "01010000", "value": obj["maps"]["progs"][-2]["value"]} in \
        obj["maps"]["progs"]
    assert obj["maps"]["unhandled"] == []


def test_cli_run_text_and_dump_maps(syscalls_o: Path) -> None:
    res = runner.invoke(app, ["run", str(syscalls_o), "--regs", "orig_ax=39",
                              "--dump-maps"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("r0 = 0x0 (0)\n")
    assert "map unhandled: 1 entries\n  27000000: 0100000000000000\n" in res.output
    plain = runner.invoke(app, ["run", str(syscalls_o), "--regs", "orig_ax=39"])
    assert "map unhandled" not in plain.output


def test_cli_run_trace_shows_the_tail_call(syscalls_o: Path) -> None:
    res = runner.invoke(app, ["run", str(syscalls_o), "--regs", "orig_ax=3,di=1", "--trace"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    tail = [x for x in lines if "[tail_call]" in x]
    assert len(tail) == 1 and tail[0].lstrip().startswith("dispatch:")
    assert any(x.lstrip().startswith("sys_close:") for x in lines)


def test_cli_run_asm_object() -> None:
    res = runner.invoke(app, ["run", str(ROOT / "probes" / "dispatch.s"), "--regs",
                              "orig_ax=39", "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.output)
    assert obj["tail_calls"] == 1
    assert obj["maps"]["getpid_calls"] == [{"key": "00000000", "value": "0100000000000000"}]


@pytest.mark.parametrize("args, message", [
    (["--regs", "bogus=1"], "--regs 'bogus=1'"),
    (["--prog", "nope"], "no program 'nope'"),
    (["--user-mem", "12"], "--user-mem '12'"),
    (["--engine", "kernel"], "apply to raw programs"),
])
def test_cli_run_errors_are_one_line(syscalls_o: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["run", str(syscalls_o), *args])
    assert res.exit_code == 1
    assert message in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_cli_run_malformed_object(tmp_path: Path, syscalls_o: Path) -> None:
    bad = tmp_path / "bad.o"
    bad.write_bytes(syscalls_o.read_bytes()[:700])
    res = runner.invoke(app, ["run", str(bad)])
    assert res.exit_code == 1
    assert res.output.startswith("bpf-vm: error: ") and "Traceback" not in res.output


def test_cli_disasm_object(syscalls_o: Path) -> None:
    res = runner.invoke(app, ["disasm", str(syscalls_o), "--prog", "dispatch"])
    assert res.exit_code == 0, res.output
    assert "r2 = map[progs] ll" in res.output and "call bpf_tail_call" in res.output
    assert "section kprobe/syscall_entry" in res.output
    everything = runner.invoke(app, ["disasm", str(syscalls_o)]).output
    assert everything.count("Disassembly of program") == 22


# -- disassembly against llvm-objdump ----------------------------------------------------------

LLVM_OBJDUMP = shutil.which("llvm-objdump")


def _objdump(path: Path) -> dict[str, list[tuple[str, str]]]:
    """function name -> [(bytes, text)] from `llvm-objdump -d`."""
    out = subprocess.run([LLVM_OBJDUMP, "-d", str(path)], capture_output=True, text=True,
                         check=True).stdout
    funcs: dict[str, list[tuple[str, str]]] = {}
    cur: list[tuple[str, str]] | None = None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]{16} <(.+)>:$", line)
        if m:
            cur = funcs.setdefault(m.group(1), [])
            continue
        m = re.match(r"^\s+\d+:\t((?:[0-9a-f]{2} ){7,15}[0-9a-f]{2})\t(.*)$", line)
        if m and cur is not None:
            cur.append((m.group(1), m.group(2)))
    return funcs


def _ours(path: Path) -> dict[str, list[tuple[int, str, str]]]:
    """program name -> [(pc, bytes, text)] from `bpf-vm disasm`, with function labels."""
    out: dict[str, list[tuple[int, str, str]]] = {}
    prog = None
    for line in disasm_object(path).splitlines():
        m = re.match(r"^Disassembly of program (\S+)", line)
        if m:
            prog = out.setdefault(m.group(1), [])
            continue
        m = re.match(r"^\s+(\d+):\t([0-9a-f ]+)\t(.*)$", line)
        if m and prog is not None:
            prog.append((int(m.group(1)), m.group(2), m.group(3)))
    return out


def _normalise(text: str) -> str:
    """The documented spelling differences between `bpf-vm disasm` and llvm-objdump 14:
    (1) we print immediates and offsets in hex (as llvm-objdump >= 16), it prints decimal;
    (2) we name helpers (`call bpf_tail_call`), it prints ids (`call 12`);
    (3) it annotates jump targets (`goto +2 <dispatch+0x78>`), we don't;
    (4) relocated instructions differ in substance, not spelling (it shows the object's
    `r1 = 0 ll` / `call -1`, we the loaded `map[progs] ll` / `call pc+9`): both sides
    print those as `<reloc>`."""
    from bpf_vm.helper_table import helper_id
    text = re.sub(r"\s*<[^>]*>$", "", text)
    text = re.sub(r"call (bpf_\w+)", lambda m: f"call {helper_id(m.group(1))}", text)
    text = re.sub(r"-?0x[0-9a-f]+", lambda m: str(int(m.group(0), 16)), text)
    return text


def _relocated(text: str) -> bool:
    return bool(re.search(r"map\[|func\[|call pc[+-]", text))


@pytest.mark.needs_llvm("llvm-objdump")
def test_disasm_matches_llvm_objdump(cc) -> None:
    obj = cc("""
        struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);
                 __type(key, __u32); __type(value, __u64); } h SEC(".maps");
        __u64 g = 1;
        static __noinline __s64 sub(__s64 a, __s64 b) { return a > b ? a / 3 : b % 7; }
        static int cb(__u32 i, __u64 *acc) { *acc += i << 2; return 0; }
        SEC("kprobe/x") int main1(struct pt_regs *ctx) {
            __u32 k = ctx->di; __u64 acc = 0, *v = bpf_map_lookup_elem(&h, &k);
            __s32 s = (__s32)ctx->si;
            bpf_loop(3, cb, &acc, 0);
            if (v) __sync_fetch_and_add(v, 1);
            g ^= ctx->dx >> 3;
            return sub(s, -5) + acc + g + (v ? *v : -1) + bpf_get_prandom_u32();
        }
    """ + 'char LICENSE[] SEC("license") = "GPL";')
    theirs = _objdump(obj)
    ours = _ours(obj)
    prog = load_object(obj, Vm()).programs["main1"]
    compared = 0
    for start, fname in sorted(prog.func_names.items()):
        mine = [row for row in ours["main1"] if row[0] >= start][:len(theirs[fname])]
        assert len(mine) == len(theirs[fname])
        pairs = zip(mine, theirs[fname], strict=True)
        for (pc, our_bytes, our_text), (their_bytes, their_text) in pairs:
            if _relocated(our_text):
                continue
            assert our_bytes == their_bytes, (fname, pc)
            assert _normalise(our_text) == _normalise(their_text), (fname, pc)
            compared += 1
    assert set(prog.func_names.values()) == {"main1", "sub", "cb"}
    assert compared > 30


# -- the host kernel as the reference ----------------------------------------------------------

KERNEL_SRC = """
struct args { __u64 a; __u64 b; __u32 key; __u32 pad; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16);
         __type(key, __u32); __type(value, __u64); } sums SEC(".maps");
struct bpf_map_def SEC("maps") hits = {
    .type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 4,
};
__u64 total = 5;
__u32 calls;
const volatile __u64 scale = 3;

static __noinline __u64 mix(__u64 a, __u64 b) { return a * scale + (b ^ total); }

SEC("syscall") int prog(struct args *ctx)
{
    const char *word = "kernel";
    __u32 k = ctx->key, i = ctx->key & 3;
    __u64 v = mix(ctx->a, ctx->b) + word[ctx->key & 3], nv;
    __u64 *old = bpf_map_lookup_elem(&sums, &k), *slot;

    nv = old ? *old + v : v;
    bpf_map_update_elem(&sums, &k, &nv, BPF_ANY);
    slot = bpf_map_lookup_elem(&hits, &i);
    if (slot)
        *slot += 1;
    total += v;
    calls++;
    return (int)(nv + total + calls);
}
char LICENSE[] SEC("license") = "GPL";
"""


def _kernel_code(prog, fds: list[int]) -> bytes:  # type: ignore[no-untyped-def]
    """The program with BPF_PSEUDO_MAP_IDX(_VALUE) turned into the kernel's fd forms."""
    out: list[Insn] = []
    for insn in prog.insns:
        if insn is None:
            continue
        if insn.opcode == LD_IMM64 and insn.src == Pseudo.MAP_IDX:
            insn = Insn(LD_IMM64, insn.dst, Pseudo.MAP_FD, 0, fds[insn.imm], 0)
        elif insn.opcode == LD_IMM64 and insn.src == Pseudo.MAP_IDX_VALUE:
            insn = Insn(LD_IMM64, insn.dst, Pseudo.MAP_VALUE, 0, fds[insn.imm], insn.imm_hi)
        out.append(insn)
    return encode(out)


def _kernel_dump(fd: int, key_size: int, value_size: int) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    key = kernel.map_get_next_key(fd, None, key_size)
    while key is not None:
        value = kernel.map_lookup(fd, key, value_size)
        if value is not None:
            out[key] = value
        key = kernel.map_get_next_key(fd, key, key_size)
    return out


@pytest.mark.kernel
def test_object_program_behaves_as_in_the_kernel(cc) -> None:
    path = cc(KERNEL_SRC)
    vm = Vm()
    obj = load_object(path, vm)
    prog = obj.programs["prog"]
    assert prog.meta["prog_type"] == "syscall"
    assert any(i is not None and i.kind is Kind.CALL and i.src == CallKind.LOCAL
               for i in prog.insns)
    fds: list[int] = []
    try:
        for d in obj.map_defs.values():
            fd = kernel.map_create(d.type, d.key_size, d.value_size, d.max_entries,
                                   d.flags, name=d.name)
            fds.append(fd)
            if d.initial is not None:
                assert kernel.map_update(fd, bytes(4), d.initial) == 0
        try:
            kfd = kernel.prog_load(_kernel_code(prog, fds), kernel.BPF_PROG_TYPE_SYSCALL,
                                   flags=kernel.BPF_F_SLEEPABLE, name="objprog")
        except BpfError as exc:
            pytest.fail(f"the kernel refused the loaded program: {exc}")
        with kernel.owned_fd(kfd):
            for a, b, key in ((7, 9, 1), (100, 3, 2), (7, 9, 1), (2**40, 1, 6)):
                ctx = (a.to_bytes(8, "little") + b.to_bytes(8, "little")
                       + key.to_bytes(4, "little") + bytes(4))
                kres = kernel.prog_test_run(kfd, ctx_in=ctx, repeat=0)
                vres = vm.run(prog, ctx)
                assert vres.r0 & 0xFFFFFFFF == kres.retval
                for (name, d), fd in zip(obj.map_defs.items(), fds, strict=True):
                    theirs = _kernel_dump(fd, d.key_size, d.value_size)
                    m = obj.maps[name]
                    mine = {bytes.fromhex(e["key"]): bytes.fromhex(e["value"])
                            for e in m.dump_hex()}
                    assert mine == theirs, name
    finally:
        for fd in fds:
            kernel.close_fd(fd)
