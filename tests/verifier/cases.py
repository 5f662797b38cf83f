"""The hand-written cases of the verifier's differential corpus, read from
tests/verifier/cases/*.s.

A case file holds several cases.  A case starts at ``;; ===== NAME``; the ``;; key:
value`` lines right after it are its header, the rest is bpf_vm assembly
(:func:`bpf_vm.asm.assemble`), in which ``.insn OP DST SRC OFF IMM`` is one raw slot (for
encodings the assembler refuses to write).  Header keys:

* ``cls``: the rejection class (one per kernel error the case is about);
* ``type``: the program type (kprobe unless said: socket_filter, tracepoint,
  raw_tracepoint, syscall -- syscall programs are loaded sleepable, the only way the
  kernel takes them);
* ``expect``: the kernel's error line (see tests/verifier/kernel_load.error_line), or
  ``accept``; the host kernel runs us as root, so these are the privileged verdicts;
* ``license`` (GPL unless said), ``note``, ``flags`` (prog_flags), ``btf: func_info``
  (load with BTF naming each subprogram, which callbacks need), ``init: MAP HEX`` (the
  map's value at key 0) and ``freeze: MAP``.

``map[NAME]`` references (the assembler's BPF_PSEUDO_MAP_IDX forms) become the corpus's
MAP_FD / MAP_VALUE forms with imm = the map's index in the case's ``.map`` list.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.verifier import kernel_load as KL

CASES = Path(__file__).resolve().parent / "cases"
INSN = struct.Struct("<BBhi")
PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE = 5, 6
SLEEPABLE = 1 << 4


@dataclass
class Prog:
    """A corpus program before its verdict: bytecode with map indices, and its maps."""
    name: str
    cls: str
    prog_type: str
    code: bytes
    maps: list[dict[str, Any]] = field(default_factory=list)
    license: str = "GPL"
    asm: str = ""
    expect: str | None = None
    note: str = ""
    prog_flags: int = 0
    func_info: bool = False


def default_flags(prog_type: str) -> int:
    """Syscall programs can only be sleepable (BPF_F_SLEEPABLE)."""
    return SLEEPABLE if prog_type == "syscall" else 0


_HEADER = re.compile(r";;\s*(\w+):\s*(.*)$")
_RAW = re.compile(r"^\s*\.insn\s+(.*)$")
PLACEHOLDER = "r0 = r0"


def _map_spec(d: Any, extra: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": d.type, "key_size": d.key_size,
                            "value_size": d.value_size, "max_entries": d.max_entries}
    if d.flags:
        spec["flags"] = d.flags
    spec.update(extra.get(d.name, {}))
    return spec


def by_index_to_fd(code: bytes) -> bytes:
    """The assembler's MAP_IDX(_VALUE) references as the corpus's MAP_FD/MAP_VALUE ones
    (imm stays the map's index)."""
    out = bytearray(code)
    pc = 0
    while pc < len(out) // 8:
        op, regs, off, imm = INSN.unpack_from(out, pc * 8)
        if op == 0x18:
            src = regs >> 4
            if src in (PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE):
                src = 1 if src == PSEUDO_MAP_IDX else 2
                INSN.pack_into(out, pc * 8, op, (regs & 0xF) | src << 4, off, imm)
            pc += 2
        else:
            pc += 1
    return bytes(out)


def parse_case(name: str, header: dict[str, str], body: str, source: str) -> Prog:
    """One case: its ``.insn OP DST SRC OFF IMM`` lines are raw slots (assembled as a
    placeholder, then overwritten), the rest is bpf_vm assembly."""
    from bpf_vm.asm import assemble
    raws: dict[int, tuple[int, ...]] = {}
    lines = []
    for lineno, line in enumerate(body.splitlines(), start=1):
        m = _RAW.match(line.split(";")[0])
        if m:
            raws[lineno] = tuple(int(x, 0) for x in m.group(1).split())
            lines.append(PLACEHOLDER)
        else:
            lines.append(line)
    res = assemble("\n".join(lines), source=f"{source}:{name}")
    prog = res.programs[0]
    code = bytearray(by_index_to_fd(res.code))
    for pc, lineno in enumerate(prog.lines):
        if lineno in raws:
            op, dst, src, off, imm = raws[lineno]
            INSN.pack_into(code, pc * 8, op, dst | src << 4, off, imm)
    extra: dict[str, dict[str, Any]] = {}
    for key, val in header.items():
        if key == "init":       # init: MAP HEX
            mname, hexval = val.split()
            extra.setdefault(mname, {})["init"] = hexval
        elif key == "freeze":
            extra.setdefault(val.strip(), {})["freeze"] = True
    expect = header.get("expect", "").strip()
    ptype = header.get("type", "kprobe").strip()
    return Prog(name=f"hand/{name}", cls=header["cls"].strip(), prog_type=ptype,
                code=bytes(code),
                maps=[_map_spec(d, extra) for d in res.maps],
                license=header.get("license", "GPL").strip(), asm=body.strip("\n"),
                expect=expect or None, note=header.get("note", "").strip(),
                prog_flags=int(header.get("flags", str(default_flags(ptype))), 0),
                func_info=header.get("btf", "").strip() == "func_info")


def hand_cases() -> list[Prog]:
    """Every case of tests/verifier/cases/*.s: a case starts at ``;; ===== NAME`` and its
    ``;; key: value`` header lines follow (cls, type, license, expect, note, init,
    freeze, flags)."""
    out: list[Prog] = []
    for path in sorted(CASES.glob("*.s")):
        chunks = re.split(r"^;; =+ *(\S+) *$", path.read_text(), flags=re.M)
        for name, text in zip(chunks[1::2], chunks[2::2], strict=True):
            header: dict[str, str] = {}
            body = []
            in_header = True
            for line in text.splitlines():
                m = _HEADER.match(line.strip()) if in_header else None
                if m:
                    header[m.group(1)] = m.group(2)
                    continue
                in_header = in_header and not line.strip()
                body.append(line)
            out.append(parse_case(name, header, "\n".join(body), path.name))
    return out


# --- programs from text ----------------------------------------------------------------

def disasm(code: bytes) -> str:
    """Readable text where the decoder takes the bytes, else one hex line per slot."""
    from bpf_vm.disasm import disassemble_text
    from bpf_vm.insn import decode
    try:
        return disassemble_text(decode(code))
    except Exception:
        return "\n".join(f"{i}: {code[i * 8:i * 8 + 8].hex(' ')}"
                         for i in range(len(code) // 8))


def from_asm(name: str, cls: str, ptype: str, text: str, license: str = "GPL") -> Prog:
    from bpf_vm.asm import assemble
    res = assemble(text)
    maps = [{"type": d.type, "key_size": d.key_size, "value_size": d.value_size,
             "max_entries": d.max_entries} for d in res.maps]
    return Prog(name, cls, ptype, by_index_to_fd(res.code), maps, license, text,
                prog_flags=default_flags(ptype))


# --- the kernel's verdict -------------------------------------------------------------------

def verdict(p: Prog) -> KL.Verdict:
    with KL.KernelMaps(p.maps) as km:
        return KL.load(p.code, p.prog_type, license=p.license, fds=km.fds,
                       flags=p.prog_flags, log_on_success=True, func_info=p.func_info)


def check(progs: list[Prog]) -> int:
    """Print the cases whose kernel verdict is not the one they expect."""
    bad = 0
    for p in progs:
        v = verdict(p)
        got = "accept" if v.accepted else v.error
        if p.expect is not None and got != p.expect:
            bad += 1
            print(f"{p.name} [{p.cls}] expected {p.expect!r}\n    kernel: {got!r}")
    print(f"{len(progs)} cases, {bad} differ")
    return bad
