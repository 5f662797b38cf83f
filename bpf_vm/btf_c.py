"""BTF to a C header (``vmlinux.h``), as ``bpftool btf dump file F format c`` writes it.

The reference is libbpf's BTF-to-C converter (btf_dump.c) as the installed bpftool 7.1
has it (Debian 12's, built from Linux 6.1.y, "libbpf v1.1"); with ``enum_modes=False``
the text is that bpftool's, byte for byte.  The rules, which this module follows:

* **Order.**  Every type id from 1 up is *ordered* by a depth-first walk that tells a
  *strong* dependency (a type embedded by value, or reached through an anonymous
  struct that is defined inline) from a *weak* one (reached through a pointer and a
  named type, so a forward declaration suffices).  Named structs, unions, enums,
  forward declarations and typedefs join an emit queue when their strong
  dependencies are queued; anonymous enums that nothing references (the kernel's
  global constants) are emitted on their own.
* **Emission.**  Each queued type is emitted once; a named struct met while another
  is being defined gets a forward declaration ``struct x;`` first.
* **Declarators** are built from the chain of types down to a terminal one (int,
  struct, typedef, ...): qualifiers go left of base types and right of ``*``, arrays
  and function prototypes wrap the inner declarator in parentheses, a prototype without
  parameters is ``(void)`` and a trailing void parameter is ``...``.
* **Layout.**  A struct whose members are not all at their natural alignment, or whose
  size is not a multiple of its alignment, is ``__attribute__((packed))``.  Holes the
  compiler would not leave on its own are filled with anonymous bitfields
  (``long: 64;``, ``int: 0;``): the widest of long/int/short/char that reaches an
  aligned boundary in the hole, then whole units, then the smallest type that covers
  the rest.
* **Names.**  Struct/union/enum tags share one namespace, typedefs and enumerators
  another; the n-th type to claim a name (n > 1) is written ``name___n``, in the order
  in which names are first printed.  Forward declarations and empty enums keep their
  names.
* Enums of 1 byte get ``mode(byte)``, 8-byte enums whose values fit 32 bits get
  ``mode(word)``; 64-bit enumerators carry ``LL``/``ULL``.  (libbpf v1.1.0 has the
  attributes; the 6.1.y libbpf in bpftool 7.1 has every other rule here but not that
  one, so on a kernel with 1-byte enums such as 6.18's ``enum rw_hint`` its header lays
  out ``struct inode`` and 32 other structs differently from BTF.)

What C cannot express is kept as BTF says it, as in libbpf: ``va_list`` is the
compiler's ``__builtin_va_list``, whose size depends on the target (8 bytes for
``-target bpf``, 24 in the x86-64 kernel).
"""

from __future__ import annotations

from .btf import Btf, BtfType, Kind
from .btf_file import BtfRecordError, check_references
from .btf_layout import BtfLayout

HEADER = ("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n"
          "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
          "#pragma clang attribute push (__attribute__((preserve_access_index)),"
          " apply_to = record)\n#endif\n\n")
FOOTER = ("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n"
          "#endif /* __VMLINUX_H__ */\n")

#: GCC's Arm SIMD base types, which have no C spelling: aliased to one that does.
_MISSING_BASE_TYPES = {"__Poly8_t": "unsigned char", "__Poly16_t": "unsigned short",
                       "__Poly64_t": "unsigned long long",
                       "__Poly128_t": "unsigned __int128"}

_QUALIFIERS = {Kind.VOLATILE: "volatile", Kind.CONST: "const", Kind.RESTRICT: "restrict"}
_MODS = frozenset({Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})
_COMPOSITE = frozenset({Kind.STRUCT, Kind.UNION})
_ENUMS = frozenset({Kind.ENUM, Kind.ENUM64})
#: Kinds a declarator chain passes through to the type they refer to.
_CHAIN = frozenset({Kind.PTR, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.FUNC_PROTO,
                    Kind.TYPE_TAG, Kind.ARRAY})

# ordering and emission states of a type
_NOT, _BUSY, _DONE = 0, 1, 2
_MAX_TABS = 13
MAX_HOLE_BITS = 8 << 20     # 1 MiB


def _tabs(level: int) -> str:
    return "\t" * min(level, _MAX_TABS)


def _roundup(x: int, y: int) -> int:
    return (x + y - 1) // y * y


class CDumper:
    """One header's worth of state: what is ordered, emitted, forward-declared, and
    which names are taken.  :meth:`dump_type` may be called for any subset of ids."""

    def __init__(self, btf: Btf, enum_modes: bool = True) -> None:
        self.enum_modes = enum_modes
        self.types = btf.types
        n = len(self.types)
        self.layout = BtfLayout(btf)
        self.ptr_sz = self.layout.ptr_sz
        self.order = bytearray(n)
        self.emit_state = bytearray(n)
        self.fwd_emitted = bytearray(n)
        self.order[0] = self.emit_state[0] = _DONE     # void is always there
        self.names: dict[int, str] = {}
        self.tag_names: dict[str, int] = {}            # struct/union/enum tags
        self.ident_names: dict[str, int] = {}          # typedefs and enumerators
        self.out: list[str] = []
        self.queue: list[int] = []
        self.referenced = self._referenced()

    def text(self) -> str:
        return "".join(self.out)

    def _referenced(self) -> bytearray:
        """Types some other type refers to.  An anonymous enum that nothing refers to
        is a list of global constants and is emitted on its own."""
        ref = bytearray(len(self.types))
        for t in self.types[1:]:
            k = t.kind
            if k in _COMPOSITE or k in (Kind.FUNC_PROTO, Kind.DATASEC):
                for m in t.members:      # a prototype's return type does not count
                    ref[m.type] = 1
            elif k is Kind.ARRAY:
                ref[t.index_type] = ref[t.ref] = 1
            elif k not in (Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FWD, Kind.FLOAT):
                ref[t.ref] = 1
        return ref

    # -- ordering ------------------------------------------------------------------

    def dump_type(self, type_id: int) -> None:
        """Emit ``type_id`` and whatever it needs that is not emitted yet."""
        self.queue = []
        self._order(type_id, False)
        for qid in self.queue:
            self._emit(qid, 0)

    def _order(self, tid: int, through_ptr: bool) -> bool:
        """Queue what ``tid`` needs defined first; True for a strong link (the full
        definition is needed), False when a forward declaration would do."""
        if self.order[tid] == _DONE:
            return True
        t = self.types[tid]
        k = t.kind
        if self.order[tid] == _BUSY:
            if k in _COMPOSITE and through_ptr and t.name:
                return False
            raise BtfRecordError(tid, f"{k.name.lower()} '{t.name}' is part of a type"
                                 " cycle that C cannot declare")
        if k in (Kind.INT, Kind.FLOAT):
            self.order[tid] = _DONE
            return False
        if k is Kind.PTR:
            strong = self._order(t.ref, True)
            self.order[tid] = _DONE
            return strong
        if k is Kind.ARRAY:
            return self._order(t.ref, False)
        if k in _COMPOSITE:
            if through_ptr and t.name:
                return False
            self.order[tid] = _BUSY
            for m in t.members:
                self._order(m.type, False)
            if t.name:
                self.queue.append(tid)
            self.order[tid] = _DONE
            return True
        if k in _ENUMS or k is Kind.FWD:
            if t.name or not self.referenced[tid]:
                self.queue.append(tid)
            self.order[tid] = _DONE
            return True
        if k is Kind.TYPEDEF:
            strong = self._order(t.ref, through_ptr)
            if through_ptr and not strong:
                return False
            self.queue.append(tid)
            self.order[tid] = _DONE
            return True
        if k in _MODS:
            return self._order(t.ref, through_ptr)
        if k is Kind.FUNC_PROTO:
            strong = self._order(t.ref, through_ptr)
            for m in t.members:
                strong = self._order(m.type, through_ptr) or strong
            return strong
        # FUNC, VAR, DATASEC, DECL_TAG: nothing to declare
        self.order[tid] = _DONE
        return False

    # -- emission of whole definitions --------------------------------------------

    def _emit(self, tid: int, cont_id: int) -> None:
        """Emit the definition of ``tid`` (top level when ``cont_id`` is 0), or, inside
        the definition of ``cont_id``, whatever forward declarations it needs."""
        state = self.emit_state[tid]
        if state == _DONE:
            return
        t = self.types[tid]
        k = t.kind
        if state == _BUSY:
            if self.fwd_emitted[tid]:
                return
            if k in _COMPOSITE:
                if tid == cont_id or not t.name:    # itself, or an anonymous loop
                    return
                self.out.append(self._struct_fwd(tid, t) + ";\n\n")
                self.fwd_emitted[tid] = 1
            elif k is Kind.TYPEDEF:
                # a typedef is its own forward declaration, for uses through pointers
                if t.name != "__builtin_va_list":
                    self._typedef_def(tid, t, 0)
                    self.out.append(";\n\n")
                self.fwd_emitted[tid] = 1
            return
        if k is Kind.INT:
            name = self._tag_name(tid)
            alias = _MISSING_BASE_TYPES.get(name)
            if alias is not None:
                self.out.append(f"typedef {alias} {name};\n\n")
            self.emit_state[tid] = _DONE
        elif k in _ENUMS:
            if cont_id == 0:
                self._enum_def(tid, t, 0)
                self.out.append(";\n\n")
            self.emit_state[tid] = _DONE
        elif k in _MODS or k is Kind.PTR or k is Kind.ARRAY:
            self._emit(t.ref, cont_id)
        elif k is Kind.FWD:
            self.out.append(self._fwd_def(tid, t) + ";\n\n")
            self.emit_state[tid] = _DONE
        elif k is Kind.TYPEDEF:
            self.emit_state[tid] = _BUSY
            self._emit(t.ref, tid)
            if not self.fwd_emitted[tid] and t.name != "__builtin_va_list":
                self._typedef_def(tid, t, 0)
                self.out.append(";\n\n")
            self.emit_state[tid] = _DONE
        elif k in _COMPOSITE:
            self.emit_state[tid] = _BUSY
            if cont_id == 0 or not t.name:
                inner = tid if t.name else cont_id
                for m in t.members:
                    self._emit(m.type, inner)
            elif not self.fwd_emitted[tid] and tid != cont_id:
                self.out.append(self._struct_fwd(tid, t) + ";\n\n")
                self.fwd_emitted[tid] = 1
            if cont_id == 0:
                self._struct_def(tid, t, 0)
                self.out.append(";\n\n")
                self.emit_state[tid] = _DONE
            else:
                self.emit_state[tid] = _NOT
        elif k is Kind.FUNC_PROTO:
            self._emit(t.ref, cont_id)
            for m in t.members:
                self._emit(m.type, cont_id)

    # -- names -----------------------------------------------------------------------

    def _resolve(self, tid: int, table: dict[str, int]) -> str:
        name = self.names.get(tid)
        if name is not None:
            return name
        t = self.types[tid]
        name = t.name
        if name and not (t.kind is Kind.FWD or (t.kind is Kind.ENUM and not t.members)):
            count = table.get(name, 0) + 1
            table[name] = count
            if count > 1:
                name = f"{name}___{count}"
        self.names[tid] = name
        return name

    def _tag_name(self, tid: int) -> str:
        return self._resolve(tid, self.tag_names)

    def _ident_name(self, tid: int) -> str:
        return self._resolve(tid, self.ident_names)

    def _enumerator(self, name: str) -> str:
        """Enumerators are counted each time they are printed, not cached."""
        count = self.ident_names.get(name, 0) + 1
        self.ident_names[name] = count
        return name if count == 1 else f"{name}___{count}"

    # -- struct, union, enum, typedef text ---------------------------------------------

    def _struct_fwd(self, tid: int, t: BtfType) -> str:
        tag = "struct" if t.kind is Kind.STRUCT else "union"
        return f"{tag} {self._tag_name(tid)}" if t.name else tag

    def _fwd_def(self, tid: int, t: BtfType) -> str:
        return f"{'union' if t.kind_flag else 'struct'} {self._tag_name(tid)}"

    def _struct_def(self, tid: int, t: BtfType, level: int) -> None:
        out = self.out
        is_struct = t.kind is Kind.STRUCT
        packed = is_struct and self.layout.is_packed(t)
        out.append(self._struct_fwd(tid, t) + " {")
        off = 0
        prev_bitfield = False
        inner = _tabs(level + 1)
        for m in t.members:
            bits = m.bitfield_size
            m_align = 1 if packed else self.layout.align_of(m.type)
            self._check_hole(tid, t, off, m.bit_offset, m.name)
            self._padding(off, m.bit_offset, m_align, prev_bitfield and bits != 0, level + 1)
            out.append("\n" + inner)
            self._decl(m.type, m.name, level + 1)
            if bits:
                out.append(f": {bits}")
                off = m.bit_offset + bits
                prev_bitfield = True
            else:
                off = m.bit_offset + self.layout.size_of(m.type) * 8
                prev_bitfield = False
            out.append(";")
        if is_struct:
            self._check_hole(tid, t, off, t.size * 8, "")
            self._padding(off, t.size * 8, self.layout.align_of(tid), False, level + 1)
        # an empty struct stays on one line
        out.append("\n" + _tabs(level) + "}" if t.members or t.size else "}")
        if packed:
            out.append(" __attribute__((packed))")

    @staticmethod
    def _check_hole(tid: int, t: BtfType, cur: int, nxt: int, member: str) -> None:
        """Holes are filled one ``long: 64;`` at a time: a hole no compiler leaves
        (the kernel's largest is 4092 bytes) is a corrupt size or offset."""
        if nxt - cur > MAX_HOLE_BITS:
            where = f"before member '{member}'" if member else "at the end"
            raise BtfRecordError(tid, f"{t.kind.name.lower()} '{t.name}' has a hole of"
                                 f" {(nxt - cur) // 8} bytes {where} (at byte {cur // 8})")

    def _padding(self, cur: int, nxt: int, nxt_align: int, in_bitfield: bool,
                 level: int) -> None:
        """Fill the bits [cur, nxt) with anonymous bitfields where the compiler would
        not put the next member at ``nxt`` on its own."""
        if cur >= nxt:
            return
        pads = (("long", self.ptr_sz * 8), ("int", 32), ("short", 16), ("char", 8))
        # the widest unit that has an aligned boundary inside the hole (else char)
        pad_type, pad_bits = next(((name, bits) for name, bits in pads
                                   if _roundup(cur, bits) <= nxt), pads[-1])
        new_off = _roundup(cur, pad_bits)
        pfx = "\n" + _tabs(level)
        out = self.out
        if cur < new_off <= nxt:
            if in_bitfield or (new_off == nxt and
                               _roundup(cur, max(nxt_align, 1) * 8) != new_off) \
                    or (new_off != nxt and nxt - new_off <= new_off - cur):
                out.append(f"{pfx}{pad_type}: {new_off - cur if in_bitfield else 0};")
            cur = new_off
        while cur != nxt:
            bits = min(nxt - cur, pad_bits)
            if bits == pad_bits:
                out.append(f"{pfx}{pad_type}: {pad_bits};")
                cur += bits
                continue
            for pad_type, pad_bits in reversed(pads):     # the smallest that covers it
                if pad_bits >= bits:
                    out.append(f"{pfx}{pad_type}: {bits};")
                    cur += bits
                    break

    def _enum_def(self, tid: int, t: BtfType, level: int) -> None:
        out = self.out
        out.append(f"enum {self._tag_name(tid)}" if t.name else "enum")
        if not t.members:
            return
        out.append(" {")
        pfx = "\n" + _tabs(level + 1)
        signed = t.kind_flag
        if t.kind is Kind.ENUM:
            for v in t.members:
                val = v.value if signed else v.value & 0xFFFFFFFF
                out.append(f"{pfx}{self._enumerator(v.name)} = {val},")
        else:
            for v in t.members:
                val = v.value - (1 << 64) if signed and v.value >> 63 else v.value
                out.append(f"{pfx}{self._enumerator(v.name)} = {val}"
                           f"{'LL' if signed else 'ULL'},")
        out.append("\n" + _tabs(level) + "}")
        if not self.enum_modes:
            return
        if t.size == 1:
            out.append(" __attribute__((mode(byte)))")
        elif t.size == 8 and self.ptr_sz == 8 and (
                t.kind is Kind.ENUM or not any(v.value >> 32 for v in t.members)):
            out.append(" __attribute__((mode(word)))")

    def _typedef_def(self, tid: int, t: BtfType, level: int) -> None:
        name = self._ident_name(tid)
        if t.ref == 0 and name == "__gnuc_va_list":    # old GCC's typedef to void
            self.out.append("typedef __builtin_va_list __gnuc_va_list")
            return
        self.out.append("typedef ")
        self._decl(t.ref, name, level)

    # -- declarators ---------------------------------------------------------------------

    def _decl(self, tid: int, name: str, level: int) -> None:
        """Declare ``name`` of type ``tid`` (a member, parameter or typedef)."""
        types = self.types
        chain = [tid]
        while tid and types[tid].kind in _CHAIN:
            tid = types[tid].ref
            chain.append(tid)
            if len(chain) > len(types):
                raise BtfRecordError(chain[0], "a loop of pointers, arrays or qualifiers")
        self._chain(chain, name, level)

    def _chain(self, chain: list[int], name: str, level: int) -> None:
        """Write the declarator of ``chain`` (outermost type first); consumed from the
        end, the base type, outwards."""
        out = self.out
        types = self.types
        last_was_ptr = True
        while chain:
            tid = chain.pop()
            if tid == 0:
                self._qualifiers(chain)
                out.append("void")
                last_was_ptr = False
                continue
            t = types[tid]
            k = t.kind
            if k is Kind.INT or k is Kind.FLOAT:
                self._qualifiers(chain)
                out.append(t.name)
            elif k in _COMPOSITE:
                self._qualifiers(chain)
                if t.name:
                    out.append(self._struct_fwd(tid, t))
                else:
                    self._struct_def(tid, t, level)
            elif k in _ENUMS:
                self._qualifiers(chain)
                if t.name:
                    out.append(f"enum {self._tag_name(tid)}")
                else:
                    self._enum_def(tid, t, level)
            elif k is Kind.FWD:
                self._qualifiers(chain)
                out.append(self._fwd_def(tid, t))
            elif k is Kind.TYPEDEF:
                self._qualifiers(chain)
                out.append(self._ident_name(tid))
            elif k is Kind.PTR:
                out.append("*" if last_was_ptr else " *")
            elif k in _QUALIFIERS:
                out.append(" " + _QUALIFIERS[k])
            elif k is Kind.TYPE_TAG:
                self._qualifiers(chain)
                out.append(f' __attribute__((btf_type_tag("{t.name}")))')
            elif k is Kind.ARRAY:
                self._array(t, chain, name, level, last_was_ptr)
                return
            elif k is Kind.FUNC_PROTO:
                self._func_proto(t, chain, name, level, last_was_ptr)
                return
            else:
                return
            last_was_ptr = k is Kind.PTR
        self._name(name, last_was_ptr)

    def _array(self, t: BtfType, chain: list[int], name: str, level: int,
               last_was_ptr: bool) -> None:
        # qualifiers on an array (GCC puts the element's there) mean nothing: dropped
        self._drop_mods(chain)
        if not chain:
            self._name(name, last_was_ptr)
            self.out.append(f"[{t.nelems}]")
            return
        multidim = chain[-1] != 0 and self.types[chain[-1]].kind is Kind.ARRAY
        if name and not last_was_ptr:
            self.out.append(" ")
        if not multidim:
            self.out.append("(")
        self._chain(chain, name, level)
        self.out.append(f"[{t.nelems}]" if multidim else f")[{t.nelems}]")

    def _func_proto(self, t: BtfType, chain: list[int], name: str, level: int,
                    last_was_ptr: bool) -> None:
        out = self.out
        self._drop_mods(chain)    # GCC's volatile on noreturn function pointers
        if chain:
            out.append(" (")
            self._chain(chain, name, level)
            out.append(")")
        else:
            self._name(name, last_was_ptr)
        out.append("(")
        params = t.members
        if not params or (len(params) == 1 and params[0].type == 0):   # clang's (void)
            out.append("void)")
            return
        last = len(params) - 1
        for i, p in enumerate(params):
            if i:
                out.append(", ")
            if i == last and p.type == 0:
                out.append("...")
                break
            self._decl(p.type, p.name, level)
        out.append(")")

    def _name(self, name: str, last_was_ptr: bool) -> None:
        if name:
            self.out.append(name if last_was_ptr else " " + name)

    def _qualifiers(self, chain: list[int]) -> None:
        """const/volatile/restrict applied to a base type go to its left."""
        types = self.types
        while chain and chain[-1] and types[chain[-1]].kind in _QUALIFIERS:
            self.out.append(_QUALIFIERS[types[chain.pop()].kind] + " ")

    def _drop_mods(self, chain: list[int]) -> None:
        types = self.types
        while chain and chain[-1] and types[chain[-1]].kind in _MODS:
            chain.pop()


def dump_c(btf: Btf, enum_modes: bool = True) -> str:
    """The whole BTF as a C header, as ``bpftool btf dump file F format c`` prints it.
    ``enum_modes=False`` leaves out the ``mode(byte)``/``mode(word)`` attributes, as the
    libbpf of Linux 6.1 (bpftool 7.1) does: its text, byte for byte, but every 1-byte
    enum then takes 4 bytes and the structs that hold one get another layout."""
    check_references(btf)
    d = CDumper(btf, enum_modes)
    d.out.append(HEADER)
    try:
        for tid in range(1, len(btf.types)):
            d.dump_type(tid)
    except RecursionError:
        raise BtfRecordError(tid, "starts a chain of types nested too deeply (or a loop)"
                             " to write as C") from None
    d.out.append(FOOTER)
    return d.text()


__all__ = ["FOOTER", "HEADER", "CDumper", "dump_c"]
