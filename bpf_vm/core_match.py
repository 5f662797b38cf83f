"""CO-RE specs and their matching against a target BTF, following libbpf's relo_core.c.

A CO-RE relocation names a *local* type (in the object's ``.BTF``) and an access string
(``0:1:2``: array index on the root pointer, then member or array indices).  The local
spec (:func:`parse_spec`) follows that string through the local types; a target spec
(:func:`match_spec`) follows the same *names* through a candidate type of the target
BTF: every target type whose name equals the local one with any ``___flavor`` suffix
stripped and whose kind is compatible (:func:`candidates`).  Anonymous struct/union
members of the target are searched through, as libbpf does.

The target BTF is the running kernel's ``/sys/kernel/btf/vmlinux`` (parsed once per
process, :func:`target_btf`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .btf import Btf, BtfType, Kind, parse_btf
from .errors import ElfLoadError

MAX_SPEC_LEN = 64          # libbpf's BPF_CORE_SPEC_MAX_LEN
MAX_DEPTH = 32             # libbpf's recursion limit for type compatibility
INT_SIGNED = 1
VMLINUX = "/sys/kernel/btf/vmlinux"

FIELD_KINDS = frozenset(range(0, 6))
TYPE_KINDS = frozenset({6, 7, 8, 9, 12})
ENUMVAL_KINDS = frozenset({10, 11})
TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES = 6, 7, 8, 9, 12


class CoreFailure(Exception):
    """A relocation that cannot be resolved (an error, not a poisoning)."""


@dataclass
class Accessor:
    """One step of a spec: the (skipped) type it indexes, the index, the member name
    (None for an array index)."""
    type_id: int
    idx: int
    name: str | None = None


@dataclass
class Spec:
    btf: Btf
    root_type_id: int
    kind: int
    acc: list[Accessor] = field(default_factory=list)
    raw: list[int] = field(default_factory=list)
    bit_offset: int = 0


def essential_name(name: str) -> str:
    """``name`` without its ``___flavor`` suffix (libbpf's bpf_core_essential_name_len:
    the last ``___`` preceded and followed by a character other than ``_``)."""
    for i in range(len(name) - 5, -1, -1):
        if name[i] != "_" and name[i + 1:i + 4] == "___" and name[i + 4] != "_":
            return name[:i + 1]
    return name


def _skip(btf: Btf, type_id: int) -> tuple[int, BtfType]:
    """(id, type) behind typedefs and modifiers."""
    t = btf.skip_mods_and_typedefs(type_id)
    return t.id, t


def _any_enum(t: BtfType) -> bool:
    return t.kind in (Kind.ENUM, Kind.ENUM64)


def _composite(t: BtfType) -> bool:
    return t.kind in (Kind.STRUCT, Kind.UNION)


def kinds_compat(a: BtfType, b: BtfType) -> bool:
    """libbpf's btf_kind_core_compat: the same kind, or both enums (32/64-bit)."""
    return a.kind is b.kind or (_any_enum(a) and _any_enum(b))


def _flex(btf: Btf, prev: Accessor, arr: BtfType) -> bool:
    """A flexible array: zero elements, the last member of its struct."""
    if prev.name is None or arr.nelems > 0:
        return False
    return prev.idx == len(btf[prev.type_id].members) - 1


def parse_spec(btf: Btf, type_id: int, access: str, kind: int) -> Spec:
    """The local spec of a relocation (libbpf's bpf_core_parse_spec)."""
    try:
        raw = [int(x) for x in access.split(":")]
    except ValueError:
        raise CoreFailure(f"access string '{access}' is not a list of indices") from None
    if not raw or len(raw) > MAX_SPEC_LEN or any(x < 0 for x in raw):
        raise CoreFailure(f"access string '{access}' is malformed")
    spec = Spec(btf, type_id, kind, raw=list(raw))
    if kind in TYPE_KINDS:
        if raw != [0]:
            raise CoreFailure(f"type relocation with access string '{access}' (expected 0)")
        return spec
    tid, t = _skip(btf, type_id)
    if kind in ENUMVAL_KINDS:
        if not _any_enum(t) or len(raw) != 1 or raw[0] >= len(t.members):
            raise CoreFailure(f"enum value relocation '{access}' on {btf.describe(type_id)}")
        spec.acc.append(Accessor(tid, raw[0], t.members[raw[0]].name))
        return spec
    if kind not in FIELD_KINDS:
        raise CoreFailure(f"unknown relocation kind {kind}")
    spec.acc.append(Accessor(type_id, raw[0]))
    spec.bit_offset = raw[0] * btf.resolve_size(tid) * 8
    for idx in raw[1:]:
        tid, t = _skip(btf, tid)
        if _composite(t):
            if idx >= len(t.members):
                raise CoreFailure(f"member index {idx} of {btf.describe(tid)}, which has"
                                  f" {len(t.members)}")
            m = t.members[idx]
            spec.bit_offset += m.bit_offset
            if m.name:
                spec.acc.append(Accessor(tid, idx, m.name))
            tid = m.type
        elif t.kind is Kind.ARRAY:
            eid, _ = _skip(btf, t.ref)
            if not _flex(btf, spec.acc[-1], t) and idx >= t.nelems:
                raise CoreFailure(f"index {idx} of {btf.describe(tid)}")
            spec.acc.append(Accessor(eid, idx))
            spec.bit_offset += idx * btf.resolve_size(eid) * 8
            tid = eid
        else:
            raise CoreFailure(f"access '{access}' goes through {btf.describe(tid)}, which"
                              " is neither a struct, a union nor an array")
    return spec


def fields_compat(lb: Btf, lid: int, tb: Btf, tid: int) -> bool:
    """libbpf's bpf_core_fields_are_compat."""
    for _ in range(MAX_DEPTH):
        _, lt = _skip(lb, lid)
        _, tt = _skip(tb, tid)
        if _composite(lt) and _composite(tt):
            return True
        if not kinds_compat(lt, tt):
            return False
        if lt.kind in (Kind.PTR, Kind.FLOAT):
            return True
        if lt.kind in (Kind.FWD, Kind.ENUM, Kind.ENUM64):
            return not lt.name or essential_name(lt.name) == essential_name(tt.name)
        if lt.kind is Kind.INT:
            return lt.int_offset == 0 and tt.int_offset == 0
        if lt.kind is Kind.ARRAY:
            lid, tid = lt.ref, tt.ref
            continue
        return False
    raise CoreFailure("types nest too deeply")


def types_compat(lb: Btf, lid: int, tb: Btf, tid: int, depth: int = MAX_DEPTH) -> bool:
    """libbpf's bpf_core_types_are_compat (TYPE_EXISTS, TYPE_SIZE, TYPE_ID_TARGET)."""
    if not kinds_compat(lb[lid], tb[tid]):
        return False
    while True:
        depth -= 1
        if depth < 0:
            raise CoreFailure("types nest too deeply")
        lid, lt = _skip(lb, lid)
        tid, tt = _skip(tb, tid)
        if not kinds_compat(lt, tt):
            return False
        if lt.kind in (Kind.UNKN, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
                       Kind.FWD, Kind.FLOAT):
            return True
        if lt.kind is Kind.INT:
            return lt.int_offset == 0 and tt.int_offset == 0
        if lt.kind in (Kind.PTR, Kind.ARRAY):
            lid, tid = lt.ref, tt.ref
            continue
        if lt.kind is Kind.FUNC_PROTO:
            if len(lt.members) != len(tt.members):
                return False
            if not all(types_compat(lb, a.type, tb, b.type, depth)
                       for a, b in zip(lt.members, tt.members, strict=True)):
                return False
            lid, tid = lt.ref, tt.ref
            continue
        return False


def _names_match(a: str, b: str) -> bool:
    return essential_name(a) == essential_name(b)


def types_match(lb: Btf, lid: int, tb: Btf, tid: int, behind_ptr: bool = False,
                depth: int = MAX_DEPTH) -> bool:
    """libbpf's bpf_core_types_match (TYPE_MATCHES): a stricter, layout-aware match."""
    while True:
        depth -= 1
        if depth < 0:
            raise CoreFailure("types nest too deeply")
        lid, lt = _skip(lb, lid)
        tid, tt = _skip(tb, tid)
        if not _names_match(lt.name, tt.name):
            return False
        lk, tk = lt.kind, tt.kind
        if lk is Kind.UNKN:
            return tk is Kind.UNKN
        if lk is Kind.FWD:
            if behind_ptr and lk is not tk:
                return (tk is Kind.STRUCT and not lt.kind_flag) or \
                    (tk is Kind.UNION and lt.kind_flag)
            return lk is tk and lt.kind_flag == tt.kind_flag
        if _any_enum(lt):
            if not _any_enum(tt):
                return False
            values = {(essential_name(m.name), m.value) for m in tt.members}
            return all((essential_name(m.name), m.value) in values for m in lt.members)
        if _composite(lt):
            if behind_ptr:
                return lk is tk or (tk is Kind.FWD and (lk is Kind.UNION) == tt.kind_flag)
            if lk is not tk or len(lt.members) > len(tt.members):
                return False
            for m in lt.members:
                tm = next((x for x in tt.members if _names_match(m.name, x.name)), None)
                if tm is None or not types_match(lb, m.type, tb, tm.type, False, depth):
                    return False
            return True
        if lk is not tk:
            return False
        if lk is Kind.INT:
            return lt.size == tt.size and (lt.int_encoding & INT_SIGNED) == \
                (tt.int_encoding & INT_SIGNED)
        if lk is Kind.PTR:
            behind_ptr = True
            lid, tid = lt.ref, tt.ref
            continue
        if lk is Kind.ARRAY:
            if lt.nelems != tt.nelems:
                return False
            lid, tid = lt.ref, tt.ref
            continue
        if lk is Kind.FUNC_PROTO:
            if len(lt.members) != len(tt.members):
                return False
            if not all(types_match(lb, a.type, tb, b.type, behind_ptr, depth)
                       for a, b in zip(lt.members, tt.members, strict=True)):
                return False
            lid, tid = lt.ref, tt.ref
            continue
        return False


def _match_member(local: Spec, lacc: Accessor, tb: Btf, tid: int,
                  spec: Spec) -> int | None:
    """Find the local member's name in target type ``tid``, through anonymous members;
    returns the member's type id, or None.  Extends ``spec`` on success."""
    lm = local.btf[lacc.type_id].members[lacc.idx]
    tid, tt = _skip(tb, tid)
    if not _composite(tt):
        return None
    for i, m in enumerate(tt.members):
        if len(spec.raw) >= MAX_SPEC_LEN:
            raise CoreFailure("the target's struct/union/array nesting is too deep")
        spec.bit_offset += m.bit_offset
        spec.raw.append(i)
        if not m.name:
            found = _match_member(local, lacc, tb, m.type, spec)
            if found is not None:
                return found
        elif m.name == lm.name:
            if fields_compat(local.btf, lm.type, tb, m.type):
                spec.acc.append(Accessor(tid, i, m.name))
                return m.type
            return None
        spec.bit_offset -= m.bit_offset
        spec.raw.pop()
    return None


def match_spec(local: Spec, tb: Btf, cand: int) -> Spec | None:
    """The target spec of ``local`` in candidate type ``cand``, or None if it does not
    match (libbpf's bpf_core_spec_match)."""
    spec = Spec(tb, cand, local.kind)
    if local.kind in TYPE_KINDS:
        ok = (types_match(local.btf, local.root_type_id, tb, cand)
              if local.kind == TYPE_MATCHES
              else types_compat(local.btf, local.root_type_id, tb, cand))
        return spec if ok else None
    if local.kind in ENUMVAL_KINDS:
        tid, tt = _skip(tb, cand)
        if not _any_enum(tt):
            return None
        want = essential_name(local.acc[0].name or "")
        for i, m in enumerate(tt.members):
            if essential_name(m.name) == want:
                spec.acc.append(Accessor(tid, i, m.name))
                spec.raw.append(i)
                return spec
        return None
    tid = cand
    for i, lacc in enumerate(local.acc):
        if i == 0:
            tid, _ = _skip(tb, tid)
            spec.acc.append(Accessor(tid, lacc.idx))
            spec.raw.append(lacc.idx)
            spec.bit_offset += lacc.idx * tb.resolve_size(tid) * 8
            continue
        if lacc.name is not None:
            nxt = _match_member(local, lacc, tb, tid, spec)
            if nxt is None:
                return None
            tid = nxt
            continue
        tid, tt = _skip(tb, tid)
        if tt.kind is not Kind.ARRAY:
            return None
        if not _flex(tb, spec.acc[-1], tt) and lacc.idx >= tt.nelems:
            return None
        tid, _ = _skip(tb, tt.ref)
        spec.acc.append(Accessor(tid, lacc.idx))
        spec.raw.append(lacc.idx)
        spec.bit_offset += lacc.idx * tb.resolve_size(tid) * 8
    return spec


# -- the target BTF --------------------------------------------------------------------

class Target:
    """A parsed target BTF with its types indexed by essential name."""

    def __init__(self, btf: Btf, source: str) -> None:
        self.btf = btf
        self.source = source
        self._by_name: dict[str, list[int]] | None = None

    def candidates(self, local: Btf, local_id: int) -> list[int]:
        """Target types of the local type's essential name and a compatible kind
        (libbpf's bpf_core_add_cands)."""
        if self._by_name is None:      # the names Btf indexes, by essential name
            index: dict[str, list[int]] = {}
            for name, ids in self.btf._by_name.items():
                key = essential_name(name) if "___" in name else name
                index.setdefault(key, []).extend(ids)
            self._by_name = index
        lt = local[local_id]
        return [tid for tid in self._by_name.get(essential_name(lt.name), ())
                if kinds_compat(lt, self.btf.types[tid])]


_TARGETS: dict[str, Target] = {}


def fallback_btf_path() -> Path:
    """The BTF trace-run ships for the kernel types it emulates."""
    return Path(__file__).parent / "data" / "vmlinux-subset.btf"


def target_btf(path: str | os.PathLike[str] | None = None) -> Target:
    """The target BTF: ``path``, else ``$BPF_VM_TARGET_BTF``, else the running kernel's
    ``/sys/kernel/btf/vmlinux`` when readable, else the shipped subset.  Parsed once
    per process and path."""
    candidates = [str(path)] if path is not None else \
        [p for p in (os.environ.get("BPF_VM_TARGET_BTF"), VMLINUX, str(fallback_btf_path()))
         if p]
    for p in candidates:
        if p in _TARGETS:
            return _TARGETS[p]
        try:
            data = Path(p).read_bytes()
        except OSError:
            continue
        try:
            btf = parse_btf(data)
        except ElfLoadError as exc:
            raise ElfLoadError(f"target BTF {p}: {exc}") from None
        _TARGETS[p] = Target(btf, p)
        return _TARGETS[p]
    raise ElfLoadError("CO-RE relocations need a target BTF and none is readable (tried"
                       f" {', '.join(candidates)})")


__all__ = [
    "Accessor",
    "CoreFailure",
    "Spec",
    "Target",
    "essential_name",
    "fields_compat",
    "match_spec",
    "parse_spec",
    "target_btf",
    "types_compat",
    "types_match",
]
