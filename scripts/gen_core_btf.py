"""Generate bpf_vm/data/vmlinux-subset.btf: the CO-RE target BTF trace-run ships for
hosts whose ``/sys/kernel/btf/vmlinux`` is unreadable.

It is a subset of the host's vmlinux BTF: the kernel types trace-run emulates, with
their real offsets and sizes.  Listed structs keep only the listed members (at their
kernel offsets, the struct keeping its kernel size); structs reached by value are kept
whole; structs reached only through a pointer become forward declarations.

    python3 -m scripts.gen_core_btf [--btf /sys/kernel/btf/vmlinux] [-o PATH]
"""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

from bpf_vm.btf import Btf, BtfType, Kind, parse_btf
from bpf_vm.core_match import VMLINUX, fallback_btf_path

#: struct -> the members kept (None: all of them).
SUBSET: dict[str, tuple[str, ...] | None] = {
    "pt_regs": None,
    "trace_event_raw_sys_enter": None,
    "trace_event_raw_sys_exit": None,
    "seccomp_data": None,
    "task_struct": ("pid", "tgid", "comm", "real_parent", "parent", "group_leader", "cred",
                    "real_cred", "nsproxy", "flags", "exit_code", "exit_signal",
                    "start_time", "start_boottime", "thread_pid"),
    "cred": ("uid", "gid", "euid", "egid", "suid", "sgid", "fsuid", "fsgid"),
    "nsproxy": ("pid_ns_for_children", "mnt_ns", "net_ns"),
    "pid_namespace": ("ns", "level", "parent"),
    "mnt_namespace": ("ns",),
    "pid": ("level", "numbers"),
    "upid": None,
    "ns_common": ("inum",),
}


class Writer:
    """Re-encodes selected types of ``src`` with new ids."""

    def __init__(self, src: Btf) -> None:
        self.src = src
        self.ids: dict[int, int] = {}
        self.fwds: dict[str, int] = {}
        self.out: list[bytes] = []
        self.strings = bytearray(b"\0")
        self.offsets: dict[str, int] = {"": 0}

    def name(self, s: str) -> int:
        if s not in self.offsets:
            self.offsets[s] = len(self.strings)
            self.strings += s.encode() + b"\0"
        return self.offsets[s]

    def reserve(self) -> int:
        self.out.append(b"")
        return len(self.out)

    def fwd(self, t: BtfType) -> int:
        key = f"{t.kind.name}:{t.name}"
        if key not in self.fwds:
            nid = self.reserve()
            self.out[nid - 1] = struct.pack("<III", self.name(t.name),
                                            (Kind.FWD << 24) | ((t.kind is Kind.UNION) << 31),
                                            0)
            self.fwds[key] = nid
        return self.fwds[key]

    def add(self, tid: int, by_pointer: bool = False) -> int:
        """The new id of source type ``tid`` (0 is void)."""
        if tid == 0:
            return 0
        t = self.src[tid]
        if t.kind in (Kind.STRUCT, Kind.UNION) and t.name and by_pointer \
                and t.name not in SUBSET:
            return self.fwd(t)
        if tid in self.ids:
            return self.ids[tid]
        nid = self.ids[tid] = self.reserve()
        self.out[nid - 1] = self.encode(t)
        return nid

    def encode(self, t: BtfType) -> bytes:
        info = (t.kind << 24) | (int(t.kind_flag) << 31)
        name = self.name(t.name)
        if t.kind is Kind.INT:
            enc = (t.int_encoding << 24) | (t.int_offset << 16) | t.int_bits
            return struct.pack("<IIII", name, info, t.size, enc)
        if t.kind is Kind.PTR:
            return struct.pack("<III", name, info, self.add(t.ref, by_pointer=True))
        if t.kind is Kind.ARRAY:
            return struct.pack("<III", name, info, 0) + struct.pack(
                "<III", self.add(t.ref), self.add(t.index_type), t.nelems)
        if t.kind in (Kind.STRUCT, Kind.UNION):
            keep = SUBSET.get(t.name) if t.name else None
            members = [m for m in t.members if keep is None or m.name in keep]
            body = b""
            for m in members:
                off = (m.bitfield_size << 24 | m.bit_offset) if t.kind_flag else m.bit_offset
                body += struct.pack("<III", self.name(m.name), self.add(m.type), off)
            return struct.pack("<III", name, info | len(members), t.size) + body
        if t.kind in (Kind.ENUM, Kind.ENUM64):
            body = b""
            for m in t.members:
                if t.kind is Kind.ENUM:
                    body += struct.pack("<Ii", self.name(m.name),
                                        ((m.value & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000)
                else:
                    body += struct.pack("<III", self.name(m.name), m.value & 0xFFFFFFFF,
                                        (m.value >> 32) & 0xFFFFFFFF)
            return struct.pack("<III", name, info | len(t.members), t.size) + body
        if t.kind in (Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT,
                      Kind.TYPE_TAG):
            return struct.pack("<III", name, info, self.add(t.ref, by_pointer=True))
        if t.kind is Kind.FUNC_PROTO:           # function pointers: keep as void *
            return struct.pack("<III", 0, Kind.PTR << 24, 0)
        if t.kind is Kind.FLOAT:
            return struct.pack("<III", name, info, t.size)
        raise SystemExit(f"unexpected kind {t.kind.name} ({t.name})")

    def blob(self) -> bytes:
        types = b"".join(self.out)
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                          len(self.strings))
        return hdr + types + bytes(self.strings)


def generate(src: Btf) -> bytes:
    w = Writer(src)
    for name in SUBSET:
        t = src.find(name, Kind.STRUCT)
        if t is None:
            raise SystemExit(f"struct {name} is not in the source BTF")
        w.add(t.id)
    return w.blob()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--btf", default=VMLINUX, help="source BTF (default: %(default)s)")
    ap.add_argument("-o", "--output", default=str(fallback_btf_path()))
    args = ap.parse_args(argv)
    blob = generate(parse_btf(Path(args.btf).read_bytes()))
    parse_btf(blob)                          # what we wrote must read back
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    print(f"{out}: {len(blob)} bytes, {len(parse_btf(blob)) - 1} types")


if __name__ == "__main__":
    main()
