"""The explorer page's Python side (bpf_vm.explain): the data it embeds against the VM's
own step trace, its size, its CFG pictures, its source pane, and that it is
self-contained.  What the page does in a browser is tests/explain's browser tests'."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bpf_vm import Explorer, Vm, load_any, prog_load
from bpf_vm.btf_ext import parse_line_info, program_lines
from bpf_vm.errors import ElfLoadError
from bpf_vm.explain.cfg import blocks_and_edges, cfg_svg
from bpf_vm.explain.command import explain
from bpf_vm.explain.program_info import uses_defs
from bpf_vm.host import ProcessHost
from bpf_vm.insn import decode
from bpf_vm.objrun import pt_regs
from probes.abi import x86_64_syscall_number
from tests.bpf_c import cc_fixture  # noqa: F401  (the `cc` fixture)

HERE = Path(__file__).resolve().parent
TAILCALLS = HERE / "tailcalls.s"
ROOT = HERE.parent.parent
M64 = (1 << 64) - 1

SUBPROG_C = """
struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 512);
    __type(key, __u32);
    __type(value, __u32);
} progs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

static __noinline __u64 square(__u64 x)
{
    return x * x + 1;
}

SEC("kprobe/syscall_entry")
int entry(struct pt_regs *ctx)
{
    __u32 nr = PT_REGS_SYSCALL_NR(ctx);
    __u64 one = 1, *c;

    bpf_tail_call(ctx, &progs, nr);
    c = bpf_map_lookup_elem(&counts, &nr);
    if (c)
        __sync_fetch_and_add(c, 1);
    else
        bpf_map_update_elem(&counts, &nr, &one, BPF_NOEXIST);
    return 0;
}

SEC("ksyscall/openat")
int sys_openat(struct pt_regs *ctx)
{
    char path[16] = {};
    __u64 v = square(PT_REGS_PARM2_SYSCALL(ctx) & 0xff);

    bpf_probe_read_user_str(path, sizeof(path), (void *)PT_REGS_PARM2_SYSCALL(ctx));
    bpf_printk("openat %s %lu", path, v);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


def page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>',
                  html, re.S)
    assert m is not None
    return json.loads(m.group(1))


def loaded(path: Path, user_mem: dict[int, bytes] | None = None) -> tuple[Vm, object]:
    vm = Vm(host=ProcessHost(user_mem or {}))
    obj = load_any(path, vm, syscall_number=x86_64_syscall_number)
    for p in obj.programs.values():
        prog_load(vm, p)
    return vm, obj


def vm_trace(path: Path, regs: dict[str, int], user_mem: dict[int, bytes] | None = None,
             entry: str | None = None) -> list:
    """The VM's own step trace of one run, from a fresh load."""
    vm, obj = loaded(path, user_mem)
    steps: list = []
    vm.run(obj.program(entry), pt_regs(regs), ctx_writable=False, trace=steps.append)
    return steps


def replay(run: dict) -> list[list[int]]:
    """The registers after each step, rebuilt from the page's data as the page does."""
    regs = [int(v, 16) for v in run["regs0"]]
    out = []
    for s in run["steps"]:
        r = s.get("r", [])
        for i in range(0, len(r), 2):
            regs[r[i]] = int(r[i + 1], 16)
        out.append(list(regs))
    return out


@pytest.fixture(scope="module")
def tailcalls_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("page") / "t.html"
    done = explain(TAILCALLS, out, regs={"orig_ax": 257, "si": 0x40}, kernel=False)
    assert done.refused is None and done.error is None
    html = out.read_text()
    return html, page_data(html)


def test_embedded_steps_are_the_vms_step_trace(tailcalls_page: tuple[str, dict]) -> None:
    _html, data = tailcalls_page
    assert data["format"] == "trace-run-explorer/1"
    [run] = data["runs"]
    steps = vm_trace(TAILCALLS, {"orig_ax": 257, "si": 0x40})
    names = [p["name"] for p in data["programs"]]
    assert len(run["steps"]) == len(steps)
    assert [int(v, 16) for v in run["regs0"]] == steps[0].before
    for rec, regs, step in zip(run["steps"], replay(run), steps, strict=True):
        assert names[rec["p"]] == step.program
        assert rec["pc"] == step.pc
        assert rec.get("d", 0) == step.depth
        assert regs == [v & M64 for v in step.after]
    events = {"tail_call": "tail", "tail_call_failed": "tailx", "call": "call",
              "exit": "exit"}
    assert [r.get("e", "") for r in run["steps"]] == [events.get(s.event, "")
                                                      for s in steps]


def test_tail_calls_subprogram_and_map_are_recorded(tailcalls_page: tuple[str, dict]) -> None:
    _html, data = tailcalls_page
    [run] = data["runs"]
    names = [p["name"] for p in data["programs"]]
    tails = [s["x"] for s in run["steps"] if s.get("e") == "tail"]
    assert tails == [["progs", 257, "sys_openat", 1], ["progs", 511, "epilogue", 2]]
    assert run["tail_calls"] == 2
    # the BPF-to-BPF call: a frame at depth 1 running flag_bits, and back
    calls = [i for i, s in enumerate(run["steps"]) if s.get("e") == "call"]
    assert len(calls) == 1
    inner = run["steps"][calls[0] + 1]
    assert inner["d"] == 1 and names[inner["p"]] == "sys_openat"
    # counts[1]: looked up, read, written through the pointer
    assert run["entries"] == [["counts", "01000000"]]
    ops = [a[1] for s in run["steps"] for a in s.get("k", [])]
    assert ops == ["l", "r", "w"]
    bits = bin(0x40 & 0xFF).count("1")
    write = [a for s in run["steps"] for a in s.get("k", [])][-1]
    assert write[2:] == [bits.to_bytes(8, "little").hex(), bytes(8).hex()]
    # the key's store on the stack: the bytes written and those before
    store = next(s for s in run["steps"] if names[s["p"]] == "sys_openat"
                 and s["pc"] == 5)
    [[kind, addr, new, old]] = store["m"]
    assert (kind, new, old) == ("w", "01000000", "00000000")
    assert int(addr, 16) & 0xFFFFFFFF == 512 - 4


def test_cfg_has_one_block_per_basic_block_and_is_deterministic(
        tailcalls_page: tuple[str, dict]) -> None:
    _html, data = tailcalls_page
    for p in data["programs"]:
        svg = p["svg"]
        starts = [int(s) for s in re.findall(r'<g class="block" data-start="(\d+)"', svg)]
        assert starts == [b[0] for b in p["blocks"]]
        covered = sorted(pc for s, e in p["blocks"] for pc in range(s, e + 1))
        assert len(covered) == len(set(covered))
        assert {r[0] for r in p["insns"]} <= set(covered)
        for a, b, _k in p["edges"]:
            assert f'data-from="{a}" data-to="{b}"' in svg
    _vm, obj = loaded(TAILCALLS)
    prog = obj.program("sys_openat")
    texts = {pc: "x" for pc, i in enumerate(prog.insns) if i is not None}
    assert cfg_svg(prog.insns, texts, "p") == cfg_svg(prog.insns, texts, "p")
    blocks, edges = blocks_and_edges(prog.insns)
    # the subprogram is its own block chain, entered by a call edge
    assert any(k == "call" for _a, _b, k in edges)
    assert prog.insns and blocks[0][0] == 0


def test_the_page_is_self_contained(tailcalls_page: tuple[str, dict]) -> None:
    html, _data = tailcalls_page
    for attr in re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', html):
        assert not attr.startswith(("http:", "https:", "//")), attr
    assert "<link" not in html
    assert not re.search(r"<script[^>]*\bsrc=", html)
    outside = re.sub(r'<script type="application/json".*?</script>', "", html, flags=re.S)
    assert "http://" not in outside and "https://" not in outside
    for name in ("window.explorer", "run:", "go:", "step:", "state:", "steps:"):
        assert name in outside
    for needed in ('id="insns"', 'id="regs"', 'class="tailcall-banner"',
                   'id="tailcall-count"', 'id="runs"', 'id="next-tailcall"',
                   'id="next-call"', 'id="next-map"', 'id="next-exit"', 'id="prev"',
                   'id="next"'):
        assert needed in outside


def test_steps_are_stored_compactly(tmp_path: Path) -> None:
    """Each program once; each step a few dozen bytes (pc and what changed)."""
    _vm, obj = loaded(TAILCALLS)
    ex = Explorer.for_object(obj, source=TAILCALLS, kernel=False)
    ex.run("dispatch", pt_regs({"orig_ax": 257, "si": 0xFF}), ctx_writable=False)
    one = len(ex.html())
    for _ in range(49):
        ex.run("dispatch", pt_regs({"orig_ax": 257, "si": 0xFF}), ctx_writable=False)
    fifty = len(ex.html())
    steps = sum(len(r.steps) for r in ex.runs)
    per_step = (fifty - one) / (steps - len(ex.runs[0].steps))
    assert per_step < 80, per_step


def test_asm_source_lines_and_helper_arguments(tailcalls_page: tuple[str, dict]) -> None:
    _html, data = tailcalls_page
    [src] = data["sources"]
    assert src["found"] and src["name"].endswith("tailcalls.s")
    openat = next(p for p in data["programs"] if p["name"] == "sys_openat")
    lines = dict((pc, line) for pc, _f, line in openat["lines"])
    text = src["lines"][lines[0] - 1]
    assert "r6 = r1" in text
    lookup = next(r for r in openat["insns"] if len(r) > 4 and r[4].get("h") == 1)
    assert lookup[1] == "(85) r0 = bpf_map_lookup_elem(map: r1, key: r2)"
    assert lookup[2:4] == [[1, 2], [0]]
    assert data["helpers"]["12"]["args"] == ["ctx", "prog_array_map", "index"]
    assert openat["verifier"]["accepted"]
    assert openat["verifier"]["states"]["0"][0][1].startswith("R1=ctx()")


def test_c_source_from_btf_line_info(cc, tmp_path: Path) -> None:
    obj = cc(SUBPROG_C, name="subprog")
    lines = program_lines(obj)
    assert set(lines) == {"entry", "sys_openat"}
    src = {li.file for prog in lines.values() for li in prog.values()}
    assert len(src) == 1 and src.pop().endswith("subprog.bpf.c")
    # the subprogram appended to sys_openat carries its own lines
    _vm, loaded_obj = loaded(obj)
    prog = loaded_obj.program("sys_openat")
    square = next(pc for pc, n in prog.func_names.items() if n == "square")
    assert "return x * x + 1;" in lines["sys_openat"][square + 1].text
    out = tmp_path / "c.html"
    done = explain(obj, out, regs={"orig_ax": 257, "si": 0x1000},
                   user_mem={0x1000: b"/etc/passwd\0"}, kernel=False)
    assert done.tail_calls == 1
    data = page_data(out.read_text())
    [source] = data["sources"]
    assert source["found"] and any("square(__u64 x)" in t for t in source["lines"])
    [run] = data["runs"]
    assert any(s.get("e") == "call" for s in run["steps"])
    assert "openat /etc/passwd" in run["printk"][0]
    # bpf_probe_read_user_str's bytes on the stack, found by comparing after the call
    wrote = [a for s in run["steps"] for a in s.get("m", []) if a[0] == "w"
             and bytes.fromhex(a[2]).startswith(b"/etc/passwd")]
    assert wrote


def test_line_info_of_a_malformed_section_is_an_error() -> None:
    with pytest.raises(ElfLoadError):
        parse_line_info(b"\x00\x00\x01\x00" + bytes(28), b"\0")
    assert parse_line_info(b"", b"\0") == {}


def test_a_refused_program_gets_a_page_with_the_verifiers_log(tmp_path: Path) -> None:
    src = tmp_path / "bad.s"
    src.write_text(".map counts hash key=4 value=8 max_entries=4\n"
                   ".prog bad kprobe/x\n"
                   "  *(u32 *)(r10 - 0x4) = 0\n  r2 = r10\n  r2 += -4\n"
                   "  r1 = map[counts] ll\n  call bpf_map_lookup_elem\n"
                   "  r1 = *(u64 *)(r0 + 0x0)\n  r0 = 0\n  exit\n")
    done = explain(src, tmp_path / "bad.html", kernel=False)
    assert done.refused is not None and done.steps == 0
    data = page_data((tmp_path / "bad.html").read_text())
    v = data["programs"][0]["verifier"]
    assert not v["accepted"] and v["pc"] == 6 and "map_value_or_null" in v["error"]
    assert data["runs"][0]["error"].startswith("not run:")


def test_uses_and_defs() -> None:
    insns = decode(bytes.fromhex(
        "bf13000000000000"      # r3 = r1
        "0703000004000000"      # r3 += 4
        "7b3af8ff00000000"      # *(u64 *)(r10 - 8) = r3
        "79a1f8ff00000000"      # r1 = *(u64 *)(r10 - 8)
        "1d13010000000000"      # if r3 == r1 goto +1
        "9500000000000000"))    # exit
    got = [uses_defs(i) for i in insns if i is not None]
    assert got == [([1], [3]), ([3], [3]), ([3, 10], []), ([10], [1]), ([1, 3], []),
                   ([0], [])]


def test_bpf_vm_explain_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bpf_vm.cli import app
    out = tmp_path / "p.html"
    res = CliRunner().invoke(app, ["explain", str(TAILCALLS), "--regs", "orig_ax=257",
                                   "--no-kernel", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert f"{out}:" in res.output and "2 tail calls" in res.output
    assert page_data(out.read_text())["runs"][0]["steps"]
    raw = tmp_path / "sum.html"
    res = CliRunner().invoke(app, ["explain", str(ROOT / "probes/examples/sum.s"),
                                   "--no-kernel", "-o", str(raw)])
    assert res.exit_code == 0, res.output
    data = page_data(raw.read_text())
    assert data["runs"][0]["r0"] == format(2 * 55, "x")


def test_a_loops_verifier_states_are_capped(tmp_path: Path) -> None:
    """The verifier walks a bounded loop once per iteration: the page keeps the first
    states of each instruction and says how many paths there were."""
    from bpf_vm.explain.program_info import MAX_STATES
    src = tmp_path / "loop.s"
    src.write_text("  r0 = 0\n  r1 = 40\nloop:\n  r0 += r1\n  r1 -= 1\n"
                   "  if r1 != 0 goto loop\n  exit\n")
    done = explain(src, tmp_path / "loop.html", kernel=False)
    assert done.steps == 2 + 3 * 40 + 1
    v = page_data((tmp_path / "loop.html").read_text())["programs"][0]["verifier"]
    assert len(v["states"]["2"]) == MAX_STATES
    assert v["paths"]["2"] >= 40


def test_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bpf_vm.cli import app
    bad_hex = tmp_path / "bad.hex"
    bad_hex.write_text("zz\n")
    for args, message in ((["nonexistent.o"], "nonexistent.o: No such file or directory"),
                          ([str(bad_hex)], "bad.hex: not hex bytes"),
                          ([str(TAILCALLS), "-o", str(tmp_path / "no" / "p.html")],
                           "p.html: No such file or directory")):
        res = CliRunner().invoke(app, ["explain", *args, "--no-kernel"])
        assert res.exit_code == 1
        assert message in res.output and "Traceback" not in res.output
