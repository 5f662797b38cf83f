"""CO-RE relocations (``.BTF.ext`` core_relo records), resolved and applied as libbpf does.

clang writes one ``struct bpf_core_relo`` per instruction whose constant depends on a
kernel type's layout (``__builtin_preserve_access_index``, ``BPF_CORE_READ``,
``bpf_core_field_exists``, ``bpf_core_type_size``, ``bpf_core_enum_value``...)::

    core_relo: u32 rec_size, then per section:
        struct btf_ext_info_sec { u32 sec_name_off; u32 num_info; }
        struct bpf_core_relo { u32 insn_off;        /* bytes, in the ELF section */
                               u32 type_id;         /* local .BTF type */
                               u32 access_str_off;  /* "0:1:2" in .BTF strings */
                               u32 kind; }          /* enum bpf_core_relo_kind */

Each is resolved against the target BTF (:mod:`bpf_vm.core_match`) and the instruction
patched: an ALU immediate, a LDX/ST/STX offset (and its size, for pointers and unsigned
integers whose size differs), or an ``ld_imm64`` constant.  The instruction must hold
the value the local BTF gives (libbpf's validation), else the object is refused.

A field or enum value the target lacks *poisons* its instruction, as libbpf does: it
becomes ``call 0xbad2310`` (195896080), an invalid helper.  The verifier ignores it on a
path it proves dead (a ``bpf_core_field_exists`` guard) and refuses the program with
``invalid func unknown#195896080`` otherwise; :attr:`CoreResult.poisoned` says which
relocation it was, in libbpf's words.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .btf import BTF_MAGIC, Btf, Kind
from .btf_ext import ext_string
from .core_match import (
    ENUMVAL_KINDS,
    FIELD_KINDS,
    TYPE_ID_LOCAL,
    TYPE_ID_TARGET,
    TYPE_KINDS,
    TYPE_SIZE,
    CoreFailure,
    Spec,
    Target,
    match_spec,
    parse_spec,
    target_btf,
)
from .errors import ElfLoadError
from .insn import Insn
from .isa import LD_IMM64

POISON_HELPER = 0xBAD2310
KIND_NAMES = ("byte_off", "byte_sz", "field_exists", "signed", "lshift_u64", "rshift_u64",
              "local_type_id", "target_type_id", "type_exists", "type_size",
              "enumval_exists", "enumval_value", "type_matches")
_REC = struct.Struct("<IIII")
_SEC = struct.Struct("<II")
_SIZES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}       # BPF_W, BPF_H, BPF_B, BPF_DW
_SIZE_CODES = {v: k for k, v in _SIZES.items()}


@dataclass(frozen=True, slots=True)
class CoreRelo:
    """One record: its number in the section's list, where it is in ``.BTF.ext``."""
    num: int
    section: str
    insn_off: int
    type_id: int
    access: str
    kind: int
    ext_offset: int


def _string(strings: bytes, off: int, where: str) -> str:
    return ext_string(strings, off, where, "section '.BTF.ext'")


def parse_core_relos(data: bytes, strings: bytes) -> list[CoreRelo]:
    """Every core_relo record of a ``.BTF.ext`` section, in order.  ``strings`` is
    ``.BTF``'s string section.  Malformed records raise one :class:`ElfLoadError`
    naming the section and the byte offset."""
    if len(data) < 8:
        raise ElfLoadError(f"section '.BTF.ext': {len(data)} bytes is shorter than the"
                           " header at offset 0")
    magic, _ver, _flags, hdr_len = struct.unpack_from("<HBBI", data)
    if magic != BTF_MAGIC:
        raise ElfLoadError(f"section '.BTF.ext': bad magic 0x{magic:04x} at offset 0")
    if hdr_len < 32 or len(data) < 32:
        return []
    off, length = struct.unpack_from("<II", data, 24)
    if not length:
        return []
    start, end = hdr_len + off, hdr_len + off + length
    if end > len(data) or length < 4:
        raise ElfLoadError(f"section '.BTF.ext': core_relo [{start}, +{length}) extends"
                           f" past the end of the section ({len(data)} bytes), at offset 24")
    (rec_size,) = struct.unpack_from("<I", data, start)
    if rec_size < _REC.size or rec_size % 4:
        raise ElfLoadError(f"section '.BTF.ext': core_relo record size {rec_size} at offset"
                           f" {start} (expected at least {_REC.size}, a multiple of 4)")
    out: list[CoreRelo] = []
    pos = start + 4
    while pos < end:
        if pos + _SEC.size > end:
            raise ElfLoadError(f"section '.BTF.ext': core_relo section header at offset"
                               f" {pos} is truncated")
        name_off, num = _SEC.unpack_from(data, pos)
        sec = _string(strings, name_off, f"core_relo section header at offset {pos}")
        pos += _SEC.size
        if num == 0 or pos + num * rec_size > end:
            raise ElfLoadError(f"section '.BTF.ext': core_relo records of '{sec}' at offset"
                               f" {pos}: {num} records of {rec_size} bytes do not fit in"
                               f" [{start}, {end})")
        for i in range(num):
            insn_off, type_id, access_off, kind = _REC.unpack_from(data, pos)
            where = f"core_relo record at offset {pos}"
            if insn_off % 8:
                raise ElfLoadError(f"section '.BTF.ext': {where}: instruction offset"
                                   f" {insn_off} is not a multiple of 8")
            if kind >= len(KIND_NAMES):
                raise ElfLoadError(f"section '.BTF.ext': {where}: unknown relocation kind"
                                   f" {kind}")
            out.append(CoreRelo(i, sec, insn_off, type_id,
                                _string(strings, access_off, where), kind, pos))
            pos += rec_size
    return out


def format_spec(spec: Spec) -> str:
    """libbpf's bpf_core_format_spec: ``<byte_off> [7] struct task_struct.pid (0:45 @
    offset 1268)``."""
    btf = spec.btf
    t = btf[spec.root_type_id]
    kname = t.kind.name.lower() if t.kind is not Kind.UNKN else "void"
    out = f"<{KIND_NAMES[spec.kind]}> [{spec.root_type_id}] {kname} {t.name or '<anon>'}"
    if spec.kind in TYPE_KINDS:
        return out
    if spec.kind in ENUMVAL_KINDS:
        e = btf.skip_mods_and_typedefs(spec.root_type_id).members[spec.raw[0]]
        return out + f"::{e.name} = {e.value}"
    for i, a in enumerate(spec.acc):
        if a.name is not None:
            out += f".{a.name}"
        elif i > 0 or a.idx > 0:
            out += f"[{a.idx}]"
    bit = spec.bit_offset
    at = f"{bit // 8}.{bit % 8}" if bit % 8 else f"{bit // 8}"
    return out + f" ({':'.join(map(str, spec.raw))} @ offset {at})"


@dataclass
class Res:
    """libbpf's bpf_core_relo_res."""
    orig: int = 0
    new: int = 0
    poison: bool = False
    validate: bool = True
    memsz_fail: bool = False
    orig_sz: int = 0
    new_sz: int = 0
    why: str = ""


def _field(spec: Spec | None, kind: int, res: Res, local: bool) -> tuple[int, int, int]:
    """(value, field size, field type id) of a field relocation (bpf_core_calc_field_relo);
    a missing target returns poison via CoreFailure-free ``res.poison``."""
    if kind == 2:                                       # FIELD_EXISTS
        return (1 if spec else 0), 0, 0
    if spec is None:
        res.poison = True
        return 0, 0, 0
    btf, acc = spec.btf, spec.acc[-1]
    if acc.name is None:                                # a[n]
        sz = btf.resolve_size(acc.type_id)
        if kind == 0:
            return spec.bit_offset // 8, sz, acc.type_id
        if kind == 1:
            return sz, 0, 0
        raise CoreFailure(f"{KIND_NAMES[kind]} can't be applied to an array access")
    m = btf[acc.type_id].members[acc.idx]
    mt = btf.skip_mods_and_typedefs(m.type)
    bit_off, bit_sz = spec.bit_offset, m.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        byte_sz = mt.size
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise CoreFailure("the bitfield can't be read with a 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = btf.resolve_size(mt.id)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    if local:
        res.validate = not bitfield
    if kind == 0:
        return byte_off, (0 if bitfield else byte_sz), mt.id
    if kind == 1:
        return byte_sz, 0, 0
    if kind == 3:
        if local:
            res.validate = True
        signed = (mt.kind in (Kind.ENUM, Kind.ENUM64) and mt.kind_flag) or \
            (mt.kind is Kind.INT and bool(mt.int_encoding & 1))
        return int(signed), 0, 0
    if kind == 4:
        return 64 - (bit_off + bit_sz - byte_off * 8), 0, 0
    if local:
        res.validate = True
    return 64 - bit_sz, 0, 0                            # RSHIFT_U64


def _type(spec: Spec | None, kind: int, res: Res, local: bool) -> int:
    if spec is None:
        return 0
    if kind == TYPE_ID_TARGET:
        if local:
            res.validate = False
        return spec.root_type_id
    if kind == TYPE_SIZE:
        return spec.btf.resolve_size(spec.root_type_id)
    return 1                                            # TYPE_EXISTS, TYPE_MATCHES


def _enumval(spec: Spec | None, kind: int, res: Res) -> int:
    if kind == 10:
        return 1 if spec else 0
    if spec is None:
        res.poison = True
        return 0
    t = spec.btf.skip_mods_and_typedefs(spec.acc[0].type_id)
    return t.members[spec.acc[0].idx].value


def calc(local: Spec, targ: Spec | None) -> Res:
    """libbpf's bpf_core_calc_relo: the value the instruction holds and the new one."""
    res, kind = Res(), local.kind
    if kind in FIELD_KINDS:
        res.orig, res.orig_sz, otid = _field(local, kind, res, True)
        res.new, res.new_sz, ntid = _field(targ, kind, res, False)
        if not res.poison and res.orig_sz != res.new_sz:
            ot = local.btf.skip_mods_and_typedefs(otid)
            nt = targ.btf.skip_mods_and_typedefs(ntid) if targ else ot
            unsigned = (ot.kind is Kind.INT and nt.kind is Kind.INT
                        and not ot.int_encoding & 1 and not nt.int_encoding & 1)
            res.memsz_fail = not (ot.kind is nt.kind is Kind.PTR or unsigned)
    elif kind in TYPE_KINDS:
        res.orig = _type(local, kind, res, True)
        res.new = _type(targ, kind, res, False)
    else:
        res.orig = _enumval(local, kind, res)
        res.new = _enumval(targ, kind, res)
    return res


def poison_insns(insns: list[Insn | None], idx: int) -> None:
    """Replace the instruction (both slots of an ld_imm64) by ``call 0xbad2310``."""
    call = Insn(0x85, 0, 0, 0, POISON_HELPER)
    insn = insns[idx]
    if insn is not None and insn.opcode == LD_IMM64 and idx + 1 < len(insns):
        insns[idx + 1] = call
    insns[idx] = call


def patch(insns: list[Insn | None], idx: int, res: Res) -> str | None:
    """Patch one instruction as libbpf's bpf_core_patch_insn.  Returns a poisoning
    reason, or None; raises CoreFailure when the instruction does not fit."""
    insn = insns[idx]
    if insn is None:
        raise CoreFailure(f"insn #{idx} is the second half of an ld_imm64")
    if res.poison:
        poison_insns(insns, idx)
        return "the target has no such field or value"
    cls = insn.opcode & 0x07
    orig, new = res.orig, res.new
    if cls in (0x04, 0x07):                             # ALU, ALU64
        if insn.opcode & 0x08:
            raise CoreFailure(f"insn #{idx} (ALU/ALU64) uses a register source")
        if res.validate and insn.imm & 0xFFFFFFFF != orig & 0xFFFFFFFF:
            raise CoreFailure(f"unexpected insn #{idx} (ALU/ALU64) value: got {insn.imm},"
                              f" exp {orig} -> {new}")
        insns[idx] = Insn(insn.opcode, insn.dst, insn.src, insn.off,
                          ((new & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000)
        return None
    if cls in (0x01, 0x02, 0x03):                       # LDX, ST, STX
        if res.validate and insn.off != orig:
            raise CoreFailure(f"unexpected insn #{idx} (LDX/ST/STX) value: got {insn.off},"
                              f" exp {orig} -> {new}")
        if new > 0x7FFF:
            raise CoreFailure(f"insn #{idx} (LDX/ST/STX) value too big: {new}")
        if res.memsz_fail:
            poison_insns(insns, idx)
            return (f"insn #{idx} (LDX/ST/STX) accesses field incorrectly. Make sure you"
                    " are accessing pointers, unsigned integers, or fields of matching"
                    " type and size.")
        opcode = insn.opcode
        if res.new_sz != res.orig_sz:
            have = _SIZES[opcode & 0x18]
            if have != res.orig_sz:
                raise CoreFailure(f"insn #{idx} (LDX/ST/STX) unexpected mem size: got"
                                  f" {have}, exp {res.orig_sz}")
            if res.new_sz not in _SIZE_CODES:
                raise CoreFailure(f"insn #{idx} (LDX/ST/STX) invalid new mem size:"
                                  f" {res.new_sz}")
            opcode = (opcode & ~0x18) | _SIZE_CODES[res.new_sz]
        insns[idx] = Insn(opcode, insn.dst, insn.src, new, insn.imm)
        return None
    if insn.opcode == LD_IMM64:
        if insn.src or insn.off:
            raise CoreFailure(f"insn #{idx} (LDIMM64) has unexpected form")
        if res.validate and insn.imm64 != orig:
            raise CoreFailure(f"unexpected insn #{idx} (LDIMM64) value: got {insn.imm64},"
                              f" exp {orig} -> {new}")
        lo, hi = new & 0xFFFFFFFF, (new >> 32) & 0xFFFFFFFF
        insns[idx] = Insn(LD_IMM64, insn.dst, 0, 0, (lo ^ 0x80000000) - 0x80000000,
                          (hi ^ 0x80000000) - 0x80000000)
        return None
    raise CoreFailure(f"trying to relocate unrecognized insn #{idx}, code:0x{insn.opcode:x},"
                      f" src:0x{insn.src:x}, dst:0x{insn.dst:x}, off:0x{insn.off & 0xffff:x},"
                      f" imm:0x{insn.imm & 0xffffffff:x}")


def resolve(relo: CoreRelo, local: Btf, target: Target) -> tuple[Spec, Spec | None, Res]:
    """The local spec, the target spec (None: no candidate matches) and the values
    (libbpf's bpf_core_calc_relo_insn)."""
    lspec = parse_spec(local, relo.type_id, relo.access, relo.kind)
    if relo.kind == TYPE_ID_LOCAL:
        return lspec, lspec, Res(relo.type_id, relo.type_id, validate=False)
    if not local[relo.type_id].name:
        raise CoreFailure(f"<{KIND_NAMES[relo.kind]}> ({relo.type_id}) relocation doesn't"
                          " support anonymous types")
    found: Spec | None = None
    res: Res | None = None
    for cand in target.candidates(local, relo.type_id):
        tspec = match_spec(lspec, target.btf, cand)
        if tspec is None:
            continue
        r = calc(lspec, tspec)
        if found is None or res is None:
            found, res = tspec, r
        elif tspec.bit_offset != found.bit_offset:
            raise CoreFailure(f"field offset ambiguity: {found.bit_offset // 8} !="
                              f" {tspec.bit_offset // 8}")
        elif r.poison != res.poison or r.new != res.new:
            raise CoreFailure(f"relocation decision ambiguity: {res.new} != {r.new}")
    if res is None:
        res = calc(lspec, None)
    return lspec, found, res


@dataclass
class CoreResult:
    """What applying an object's CO-RE relocations did: how many, against what, and
    the instructions poisoned (``section``, insn index, libbpf's message)."""
    count: int = 0
    target: str = ""
    poisoned: list[tuple[str, int, str]] = field(default_factory=list)


def apply_core_relos(relos: list[CoreRelo], local: Btf,
                     code: dict[str, list[Insn | None]],
                     target: Target | None = None) -> CoreResult:
    """Resolve every relocation and patch the instructions of ``code`` (by section
    name) in place.  Unresolvable ones raise ElfLoadError in libbpf's words."""
    out = CoreResult(len(relos))
    if not relos:
        return out
    target = target or target_btf()
    out.target = target.source
    for relo in relos:
        head = (f"section '{relo.section}': CO-RE relo #{relo.num} (.BTF.ext record at"
                f" offset {relo.ext_offset})")
        insns = code.get(relo.section)
        if insns is None:
            raise ElfLoadError(f"section '.BTF.ext': core_relo record at offset"
                               f" {relo.ext_offset}: no executable section"
                               f" '{relo.section}'")
        idx = relo.insn_off // 8
        if idx >= len(insns):
            raise ElfLoadError(f"section '.BTF.ext': core_relo record at offset"
                               f" {relo.ext_offset}: instruction offset {relo.insn_off}"
                               f" is outside '{relo.section}'")
        what = f"{KIND_NAMES[relo.kind]} of type id {relo.type_id} '{relo.access}'"
        try:
            lspec, tspec, res = resolve(relo, local, target)
            what = format_spec(lspec)
            why = patch(insns, idx, res)
        except (CoreFailure, ElfLoadError) as exc:   # one line, whatever the strings hold
            msg = f"{head}: {what}: relocation failed: {exc}"
            raise ElfLoadError(msg.encode("unicode_escape").decode("ascii")) from None
        if why is not None:
            if tspec is None:
                why = f"no matching target in {target.source}"
            out.poisoned.append((relo.section, idx,
                                 f"{head}: insn #{idx} poisoned (call 0x{POISON_HELPER:x}):"
                                 f" failed to resolve CO-RE relocation {what}: {why}"))
    return out


__all__ = [
    "KIND_NAMES",
    "POISON_HELPER",
    "CoreRelo",
    "CoreResult",
    "apply_core_relos",
    "format_spec",
    "parse_core_relos",
    "resolve",
]
