"""What generated code calls at run time: the operations a template does not spell
inline (signed division, byte swaps), the struct functions of loads and stores, and the
functions that raise a memory fault.  :data:`BASE_GLOBALS` is the namespace every
program's generated code starts from (:class:`bpf_vm.engine.codegen.CodeGen`)."""

from __future__ import annotations

import struct
from typing import Any

from .control import M32, _Fault


def _sdiv(a: int, b: int, sg: int, m: int) -> int:
    if not b:
        return 0
    sa, sb = (a ^ sg) - sg, (b ^ sg) - sg
    q = abs(sa) // abs(sb)
    return (-q if (sa < 0) != (sb < 0) else q) & m


def _smod(a: int, b: int, sg: int, m: int) -> int:
    if not b:
        return a
    sa, sb = (a ^ sg) - sg, (b ^ sg) - sg
    rem = abs(sa) % abs(sb)
    return (-rem if sa < 0 else rem) & m


def _bswap16(v: int) -> int:
    return ((v & 0xFF) << 8) | ((v >> 8) & 0xFF)


def _bswap32(v: int) -> int:
    return int.from_bytes((v & M32).to_bytes(4, "little"), "big")


def _bswap64(v: int) -> int:
    return int.from_bytes(v.to_bytes(8, "little"), "big")


def _rfault(addr: int, size: int, pc: int) -> None:
    raise _Fault("read", addr, size, pc)


def _wfault(addr: int, size: int, pc: int) -> None:
    raise _Fault("write", addr, size, pc)


#: the struct format letter of an access of 1, 2, 4 or 8 bytes (little-endian, unsigned)
STRUCT_CODE = {1: "B", 2: "H", 4: "I", 8: "Q"}

BASE_GLOBALS: dict[str, Any] = {
    "_sdiv": _sdiv, "_smod": _smod, "_bswap16": _bswap16, "_bswap32": _bswap32,
    "_bswap64": _bswap64, "_Fault": _Fault, "_rfault": _rfault, "_wfault": _wfault,
    **{f"_u{8 * n}": struct.Struct(f"<{c}").unpack_from for n, c in ((2, "H"), (4, "I"),
                                                                      (8, "Q"))},
    **{f"_s{8 * n}": struct.Struct(f"<{c}").unpack_from for n, c in ((2, "h"), (4, "i"))},
    **{f"_p{8 * n}": struct.Struct(f"<{c}").pack_into for n, c in ((2, "H"), (4, "I"),
                                                                   (8, "Q"))},
}

__all__ = ["BASE_GLOBALS", "STRUCT_CODE"]
