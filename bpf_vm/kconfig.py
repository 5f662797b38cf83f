"""Extern variables of a BPF object: ``__kconfig`` values from the host, ``__ksym`` refused
or zero, as libbpf resolves them (libbpf.c: bpf_object__collect_externs,
bpf_object__resolve_externs, bpf_object__process_kconfig_line).

* ``.kconfig`` externs (``extern int LINUX_KERNEL_VERSION __kconfig;``, ``extern bool
  CONFIG_X __kconfig __weak;``) live in a read-only internal map, ``.kconfig``, laid
  out as libbpf lays it out: sorted by alignment (largest first), then size, then
  name, each at the next offset its alignment allows.  Values, typed by the extern's
  BTF type with libbpf's checks:

  - ``LINUX_KERNEL_VERSION``: KERNEL_VERSION(a, b, c) of the running kernel, the patch
    level clamped to 255 (Ubuntu's /proc/version_signature, then a Debian ``uname -v``,
    then ``uname -r``, as libbpf's get_kernel_version);
  - ``LINUX_HAS_SYSCALL_WRAPPER``: 1 on x86-64 (syscalls enter through
    ``__x64_sys_*(struct pt_regs *)``, which trace-run's kprobes emulate), arm64, s390x
    and riscv64 (their kernels wrap syscalls too), else 0;
  - ``LINUX_HAS_BPF_COOKIE``: 1 when the VM provides bpf_get_attach_cookie;
  - other weak ``LINUX_*`` externs: 0; strong ones are refused;
  - ``CONFIG_*``: the host's Kconfig, ``$BPF_VM_KCONFIG`` if set, else
    /boot/config-$(uname -r), else /proc/config.gz (libbpf's order): ``y``/``n``/``m``
    for bool, tristate (``enum libbpf_tristate``) and char, quoted strings for char
    arrays (truncated as libbpf truncates), integers (any C base) for integers and
    char, range-checked for the extern's size and signedness.  ``# CONFIG_X is not
    set`` leaves X without a value.

  A weak extern without a value is 0; a strong one is an error naming it.

* ``.ksyms`` externs (kernel variables and kfuncs): trace-run has no kernel symbols.
  A weak one resolves as libbpf resolves a symbol the kernel lacks: a variable's
  address is 0 (so ``bpf_ksym_exists()`` is false) and a kfunc call becomes libbpf's
  poisoned call, which the verifier refuses only if it is reachable.  A strong one is
  an error naming it.
"""

from __future__ import annotations

import enum
import gzip
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from .btf import Btf, Kind
from .elf_read import SHN_UNDEF, ElfReader
from .errors import ElfLoadError

KCONFIG_SEC = ".kconfig"
KSYMS_SEC = ".ksyms"
#: libbpf's poisoned kfunc call: ``call`` of helper POISON_CALL_KFUNC_BASE + extern index
POISON_CALL_KFUNC_BASE = 2002000000
BTF_INT_SIGNED, BTF_INT_BOOL = 1, 4
TRI_NO, TRI_YES, TRI_MODULE = 0, 1, 2
#: machines whose kernels enter syscalls through __<arch>_sys_NAME(struct pt_regs *)
WRAPPED_SYSCALL_MACHINES = frozenset({"x86_64", "aarch64", "s390x", "riscv64"})
NO_KSYMS = "kernel symbols/kfuncs are not provided by trace-run"


class KcfgType(enum.Enum):
    """libbpf's enum kcfg_type."""
    BOOL = "bool"
    CHAR = "char"
    INT = "integer"
    TRISTATE = "tristate"
    CHAR_ARR = "char array"


@dataclass
class Extern:
    """One extern of the object: ``kind`` is ``kcfg`` or ``ksym``; for kcfg externs the
    type, size, alignment and (once laid out) offset in the .kconfig map."""
    name: str
    index: int
    kind: str
    weak: bool
    is_func: bool = False
    type: KcfgType | None = None
    size: int = 0
    align: int = 1
    signed: bool = False
    data_off: int = 0
    is_set: bool = False


def _kcfg_type(btf: Btf, type_id: int) -> tuple[KcfgType | None, bool]:
    """libbpf's find_kcfg_type: (type, signed); None for a type it does not support."""
    t = btf.skip_mods_and_typedefs(type_id)
    if t.kind is Kind.INT:
        if t.int_encoding & BTF_INT_BOOL:
            return (KcfgType.BOOL if t.size == 1 else None), False
        signed = bool(t.int_encoding & BTF_INT_SIGNED)
        if t.size == 1:
            return KcfgType.CHAR, signed
        if t.size not in (2, 4, 8):
            return None, signed
        return KcfgType.INT, signed
    if t.kind in (Kind.ENUM, Kind.ENUM64):
        ok = t.name == "libbpf_tristate" and (t.kind is Kind.ENUM64 or t.size == 4)
        return (KcfgType.TRISTATE if ok else None), False
    if t.kind is Kind.ARRAY:
        elem = btf.skip_mods_and_typedefs(t.ref)     # a char: not an array (no recursion)
        if t.nelems == 0 or elem.kind is not Kind.INT or elem.size != 1 \
                or elem.int_encoding & BTF_INT_BOOL:
            return None, False
        return KcfgType.CHAR_ARR, False
    return None, False


def _align_of(btf: Btf, type_id: int) -> int:
    """btf__align_of for what a kcfg extern can be: scalars align to their size (at
    most 8), arrays to their element."""
    t = btf.skip_mods_and_typedefs(type_id)
    if t.kind in (Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FLOAT):
        return min(t.size, 8) or 1
    if t.kind is Kind.PTR:
        return 8
    if t.kind is Kind.ARRAY:
        elem = btf.skip_mods_and_typedefs(t.ref)
        return 1 if elem.kind is Kind.ARRAY else _align_of(btf, elem.id)
    return 1


def _btf_sections(btf: Btf) -> dict[str, tuple[str, int]]:
    """Each VAR or FUNC a DATASEC lists: name -> (section, type id)."""
    out: dict[str, tuple[str, int]] = {}
    for t in btf.types[1:]:
        if t.kind is not Kind.DATASEC:
            continue
        for m in t.members:
            if 0 < m.type < len(btf.types):
                out[btf.types[m.type].name] = (t.name, m.type)
    return out


def collect_externs(reader: ElfReader) -> list[Extern]:
    """The object's extern symbols, classified and sorted as libbpf sorts them (kcfg
    before ksym; kcfg by alignment descending, size ascending; then by name), with the
    kcfg ones' offsets in the .kconfig map."""
    syms = [s for s in reader.symbols if s.shndx == SHN_UNDEF and s.name
            and s.bind in ("STB_GLOBAL", "STB_WEAK") and s.type != "STT_SECTION"]
    if not syms:
        return []
    btf = reader.btf
    if btf is None:
        raise ElfLoadError(f"extern '{syms[0].name}': the object has no .BTF to say what it"
                           " is (compile with -g)")
    secs = _btf_sections(btf)
    out: list[Extern] = []
    for s in syms:
        where = secs.get(s.name)
        if where is None:
            raise ElfLoadError(f"'{s.name}' is undefined: an extern must be __kconfig or"
                               " __ksym (its BTF is in no .kconfig or .ksyms section)")
        sec, tid = where
        t = btf[tid]
        ext = Extern(s.name, 0, "", s.bind == "STB_WEAK", is_func=t.kind is Kind.FUNC)
        if sec == KCONFIG_SEC:
            if ext.is_func:
                raise ElfLoadError(f"extern function {s.name} is unsupported under"
                                   f" {KCONFIG_SEC} section")
            ext.kind = "kcfg"
            ext.size = btf.resolve_size(t.ref)
            ext.type, ext.signed = _kcfg_type(btf, t.ref)
            if ext.type is None:
                raise ElfLoadError(f"extern (kcfg) '{s.name}': type is unsupported")
            ext.align = _align_of(btf, t.ref)     # of a scalar or a char array
        elif sec == KSYMS_SEC:
            ext.kind = "ksym"
        else:
            raise ElfLoadError(f"extern '{s.name}': unrecognized extern section '{sec}'")
        out.append(ext)
    out.sort(key=lambda e: (e.kind != "kcfg", -e.align if e.kind == "kcfg" else 0,
                            e.size if e.kind == "kcfg" else 0, e.name))
    off = 0
    for i, e in enumerate(out):
        e.index = i
        if e.kind == "kcfg":
            e.data_off = -(-off // e.align) * e.align
            off = e.data_off + e.size
    return out


# -- values ----------------------------------------------------------------------------

def kernel_version(release: str | None = None, version: str | None = None,
                   signature: str | None = None) -> int:
    """KERNEL_VERSION(a, b, c) of the running kernel as libbpf computes it (0 when
    nothing parses); the arguments replace uname's release and version and
    /proc/version_signature."""
    if signature is None:
        try:
            signature = Path("/proc/version_signature").read_text()
        except OSError:
            signature = ""
    m = re.match(r"\S+\s+\S+\s+(\d+)\.(\d+)\.(\d+)", signature)
    if m is None:
        uts = os.uname()
        ver = uts.version if version is None else version
        d = re.search(r"Debian (\d+)\.(\d+)\.(\d+)", ver)
        m = d or re.match(r"(\d+)\.(\d+)\.(\d+)", uts.release if release is None
                          else release)
    if m is None:
        return 0
    a, b, c = (int(x) & 0xFFFFFFFF for x in m.groups())
    return ((a << 16) + (b << 8) + min(c, 255)) & 0xFFFFFFFF


def kconfig_text() -> tuple[str, str] | None:
    """(where, text) of the host's Kconfig: $BPF_VM_KCONFIG, /boot/config-$(uname -r),
    /proc/config.gz, the first readable (gzip or plain); None when there is none."""
    env = os.environ.get("BPF_VM_KCONFIG")
    paths = [env] if env else [f"/boot/config-{platform.release()}", "/proc/config.gz"]
    for p in paths:
        try:
            raw = Path(p).read_bytes()
        except OSError:
            continue
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as exc:
                raise ElfLoadError(f"Kconfig {p}: not a readable gzip file: {exc}") from None
        return p, raw.decode(errors="replace")
    return None


def _in_range(e: Extern, v: int) -> bool:
    """libbpf's is_kcfg_value_in_range, on the u64 value."""
    bits = e.size * 8
    if e.size == 8:
        return True
    if e.signed:
        return (v + (1 << (bits - 1))) & ((1 << 64) - 1) < (1 << bits)
    return v >> bits == 0


class _Data:
    """The .kconfig map's bytes while values are set."""

    def __init__(self, size: int) -> None:
        self.buf = bytearray(size)

    def num(self, e: Extern, value: int) -> None:
        if e.type not in (KcfgType.INT, KcfgType.CHAR, KcfgType.BOOL):
            raise ElfLoadError(f"extern (kcfg) '{e.name}': value '{value}' implies integer,"
                               " char, or boolean type")
        if e.type is KcfgType.BOOL and value > 1:
            raise ElfLoadError(f"extern (kcfg) '{e.name}': value '{value}' isn't boolean"
                               " compatible")
        if not _in_range(e, value):
            raise ElfLoadError(f"extern (kcfg) '{e.name}': value '{value}' doesn't fit in"
                               f" {e.size} bytes")
        self.buf[e.data_off:e.data_off + e.size] = (value & ((1 << (8 * e.size)) - 1)
                                                    ).to_bytes(e.size, "little")
        e.is_set = True

    def tri(self, e: Extern, value: str) -> None:
        if e.type is KcfgType.BOOL and value != "m":
            v = 1 if value == "y" else 0
        elif e.type is KcfgType.TRISTATE:
            v = {"y": TRI_YES, "m": TRI_MODULE}.get(value, TRI_NO)
        elif e.type is KcfgType.CHAR:
            v = ord(value)
        elif e.type is KcfgType.BOOL:
            raise ElfLoadError(f"extern (kcfg) '{e.name}': value '{value}' implies tristate"
                               " or char type")
        else:
            raise ElfLoadError(f"extern (kcfg) '{e.name}': value '{value}' implies bool,"
                               " tristate, or char type")
        self.buf[e.data_off:e.data_off + e.size] = v.to_bytes(e.size, "little")
        e.is_set = True

    def string(self, e: Extern, value: str) -> None:
        if e.type is not KcfgType.CHAR_ARR:
            raise ElfLoadError(f"extern (kcfg) '{e.name}': value '{value}' implies char"
                               " array type")
        if len(value) < 2 or not value.endswith('"'):
            raise ElfLoadError(f"extern (kcfg) '{e.name}': invalid string config '{value}'")
        raw = value[1:-1].encode()[:e.size - 1]
        self.buf[e.data_off:e.data_off + e.size] = raw + bytes(e.size - len(raw))
        e.is_set = True


def _parse_u64(text: str) -> int | None:
    """strtoull(text, &end, 0) consuming all of it (libbpf's parse_u64)."""
    s = text.strip()
    neg = s.startswith("-")
    body = s[1:] if neg or s.startswith("+") else s
    try:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", body):
            v = int(body, 16)
        elif re.fullmatch(r"0[0-7]*", body):
            v = int(body, 8)
        elif re.fullmatch(r"[1-9][0-9]*", body):
            v = int(body, 10)
        else:
            return None
    except ValueError:
        return None
    if v >> 64:
        return None
    return (-v if neg else v) & ((1 << 64) - 1)


def _config_line(data: _Data, by_name: dict[str, Extern], line: str, where: str) -> None:
    """libbpf's bpf_object__process_kconfig_line."""
    if not line.startswith("CONFIG_"):
        return
    name, sep, value = line.rstrip("\n").partition("=")
    if not sep:
        raise ElfLoadError(f"{where}: failed to parse '{line.strip()}': no separator")
    if not value:
        raise ElfLoadError(f"{where}: failed to parse '{line.strip()}': no value")
    e = by_name.get(name)
    if e is None or e.is_set:
        return
    if value[0] in "ynm":
        data.tri(e, value[0])
    elif value[0] == '"':
        data.string(e, value)
    else:
        num = _parse_u64(value)
        if num is None:
            raise ElfLoadError(f"extern (kcfg) '{name}': value '{value}' isn't a valid"
                               " integer")
        if e.type not in (KcfgType.INT, KcfgType.CHAR):
            raise ElfLoadError(f"extern (kcfg) '{name}': value '{value}' implies integer"
                               " type")
        data.num(e, num)


def _has_bpf_cookie() -> int:
    from ._generated_helper_ids import HELPER_IDS
    from .helpers import default_helpers
    return int(default_helpers().get(HELPER_IDS["get_attach_cookie"]) is not None)


def resolve_externs(externs: list[Extern]) -> bytes:
    """Give every extern its value (libbpf's bpf_object__resolve_externs) and return
    the .kconfig map's bytes (empty without kcfg externs).  LINUX_KERNEL_VERSION is the
    running kernel's even when the object has a ``version`` section (so is libbpf's)."""
    kcfg = [e for e in externs if e.kind == "kcfg"]
    size = max((e.data_off + e.size for e in kcfg), default=0)
    data = _Data(size)
    need_config = False
    for e in externs:
        if e.kind == "ksym":
            if not e.weak:
                what = "kfunc" if e.is_func else "kernel symbol"
                raise ElfLoadError(f"extern (ksym) '{e.name}': {what} not found: {NO_KSYMS}")
            continue
        if e.name.startswith("LINUX_"):
            if e.name == "LINUX_KERNEL_VERSION":
                v = kernel_version()
                if not v:
                    raise ElfLoadError("extern (kcfg) 'LINUX_KERNEL_VERSION': failed to get"
                                       " kernel version")
            elif e.name == "LINUX_HAS_SYSCALL_WRAPPER":
                v = int(os.uname().machine in WRAPPED_SYSCALL_MACHINES)
            elif e.name == "LINUX_HAS_BPF_COOKIE":
                v = _has_bpf_cookie()
            elif e.weak:
                continue
            else:
                raise ElfLoadError(f"extern (kcfg) '{e.name}': unrecognized virtual extern")
            data.num(e, v)
        elif e.name.startswith("CONFIG_"):
            need_config = True
        else:
            raise ElfLoadError(f"unrecognized extern '{e.name}'")
    if need_config:
        found = kconfig_text()
        if found is not None:
            where, text = found
            by_name = {e.name: e for e in kcfg}
            for line in text.splitlines():
                _config_line(data, by_name, line, where)
    for e in kcfg:
        if not e.is_set and not e.weak:
            src = "" if not e.name.startswith("CONFIG_") else \
                " (no such line in the host's Kconfig)" if kconfig_text() is not None else \
                " (no Kconfig found: /boot/config-$(uname -r), /proc/config.gz)"
            raise ElfLoadError(f"extern (kcfg) '{e.name}' (strong): value not found{src}")
    return bytes(data.buf)


__all__ = [
    "KCONFIG_SEC",
    "KSYMS_SEC",
    "NO_KSYMS",
    "POISON_CALL_KFUNC_BASE",
    "Extern",
    "KcfgType",
    "collect_externs",
    "kconfig_text",
    "kernel_version",
    "resolve_externs",
]
