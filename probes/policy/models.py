"""Seccomp profiles as users already have them: the OCI runtime-spec ``linux.seccomp``
object and Docker's profile JSON (a superset: ``archMap``, ``includes`` / ``excludes``,
``comment``, the legacy single ``name``).

The models follow the Go types that read these files (runtime-spec's ``LinuxSeccomp``,
moby's ``profiles/seccomp.Seccomp``) field for field, and forbid anything else, so a typo
(``"defaultActon"``) is an error instead of a silently ignored key.  Constants are the
libseccomp names the spec lists; an unknown one is reported with the JSON path of the
field and the values that were expected (:class:`ProfileError`).

Checks that the Go side makes when it turns a profile into a filter (runc, moby) are made
here, at load time, so a profile that a container runtime would refuse is refused before
anything runs: ``errnoRet`` only with SCMP_ACT_ERRNO / SCMP_ACT_TRACE, ``name`` or
``names`` but not both, ``architectures`` or ``archMap`` but not both, arguments 0-5,
``listenerMetadata`` only with ``listenerPath``.
"""

from __future__ import annotations

import enum
import json
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from .errors import ProfileError

__all__ = [
    "U64_MAX",
    "Action",
    "Arch",
    "ArchMapEntry",
    "Condition",
    "Filter",
    "Flag",
    "Op",
    "Profile",
    "ProfileError",
    "Rule",
    "load_profile",
    "parse_profile",
]

U64_MAX = (1 << 64) - 1


class Action(enum.StrEnum):
    """``syscalls[].action`` and ``defaultAction`` (libseccomp's SCMP_ACT_* names)."""
    KILL = "SCMP_ACT_KILL"                  # libseccomp: the same as KILL_THREAD
    KILL_PROCESS = "SCMP_ACT_KILL_PROCESS"
    KILL_THREAD = "SCMP_ACT_KILL_THREAD"
    TRAP = "SCMP_ACT_TRAP"
    ERRNO = "SCMP_ACT_ERRNO"
    TRACE = "SCMP_ACT_TRACE"
    ALLOW = "SCMP_ACT_ALLOW"
    LOG = "SCMP_ACT_LOG"
    NOTIFY = "SCMP_ACT_NOTIFY"

    @property
    def takes_errno(self) -> bool:
        """runc accepts ``errnoRet`` only on these (the spec: "actions like
        SCMP_ACT_ERRNO and SCMP_ACT_TRACE allow to specify the errno code")."""
        return self in (Action.ERRNO, Action.TRACE)


class Op(enum.StrEnum):
    """``args[].op``: libseccomp's comparison operators.  MASKED_EQ compares
    ``arg & value == valueTwo`` (value is the mask, valueTwo the datum, as runc passes
    them to ``MakeCondition``)."""
    NE = "SCMP_CMP_NE"
    LT = "SCMP_CMP_LT"
    LE = "SCMP_CMP_LE"
    EQ = "SCMP_CMP_EQ"
    GE = "SCMP_CMP_GE"
    GT = "SCMP_CMP_GT"
    MASKED_EQ = "SCMP_CMP_MASKED_EQ"


class Arch(enum.StrEnum):
    """``architectures`` entries: libseccomp's SCMP_ARCH_* (v2.5 list of the spec, plus
    the ones libseccomp added since).  Only X86_64, X86 and X32 can occur on an x86_64
    host; the others are accepted so that multi-arch profiles (Docker's) load."""
    X86 = "SCMP_ARCH_X86"
    X86_64 = "SCMP_ARCH_X86_64"
    X32 = "SCMP_ARCH_X32"
    ARM = "SCMP_ARCH_ARM"
    AARCH64 = "SCMP_ARCH_AARCH64"
    MIPS = "SCMP_ARCH_MIPS"
    MIPS64 = "SCMP_ARCH_MIPS64"
    MIPS64N32 = "SCMP_ARCH_MIPS64N32"
    MIPSEL = "SCMP_ARCH_MIPSEL"
    MIPSEL64 = "SCMP_ARCH_MIPSEL64"
    MIPSEL64N32 = "SCMP_ARCH_MIPSEL64N32"
    PPC = "SCMP_ARCH_PPC"
    PPC64 = "SCMP_ARCH_PPC64"
    PPC64LE = "SCMP_ARCH_PPC64LE"
    S390 = "SCMP_ARCH_S390"
    S390X = "SCMP_ARCH_S390X"
    PARISC = "SCMP_ARCH_PARISC"
    PARISC64 = "SCMP_ARCH_PARISC64"
    RISCV64 = "SCMP_ARCH_RISCV64"
    LOONGARCH64 = "SCMP_ARCH_LOONGARCH64"
    M68K = "SCMP_ARCH_M68K"
    SH = "SCMP_ARCH_SH"
    SHEB = "SCMP_ARCH_SHEB"


class Flag(enum.StrEnum):
    """``flags``: seccomp(2) filter flags.  They change how the kernel installs or logs
    a filter, not which action a syscall gets, so trace-run accepts and ignores them."""
    TSYNC = "SECCOMP_FILTER_FLAG_TSYNC"
    LOG = "SECCOMP_FILTER_FLAG_LOG"
    SPEC_ALLOW = "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
    WAIT_KILLABLE_RECV = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"


def _strict_uint(v: Any) -> Any:
    """JSON numbers only (Go's ``uint``/``uint64`` refuse strings and floats): pydantic's
    lax mode would take ``"5"`` or ``5.0``."""
    if isinstance(v, bool) or not isinstance(v, int):
        # pydantic reports ValueError only (not TypeError)
        raise ValueError(f"expected an unsigned integer, got {_show(v)}")
    return v


U64 = Annotated[int, BeforeValidator(_strict_uint), Field(ge=0, le=U64_MAX)]
UInt = Annotated[int, BeforeValidator(_strict_uint), Field(ge=0, le=0xFFFFFFFF)]


def _show(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, str) else repr(v)


def _none_to_list(v: Any) -> Any:
    """Go marshals an empty slice as ``null`` (Docker's own default.json has
    ``"subArchitectures": null``)."""
    return [] if v is None else v


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Condition(_Model):
    """One ``args[]`` entry: a comparison of syscall argument ``index``."""
    index: Annotated[int, BeforeValidator(_strict_uint), Field(ge=0, le=5)]
    value: U64
    value_two: U64 = Field(0, alias="valueTwo")
    op: Op


class Filter(_Model):
    """Docker's ``includes`` / ``excludes``: conditions on the host that decide whether
    a rule is part of the profile at all (see :mod:`probes.policy.resolve`)."""
    caps: Annotated[list[Annotated[str, Field(pattern=r"^CAP_[A-Z0-9_]+$")]],
                    BeforeValidator(_none_to_list)] = []
    arches: Annotated[list[str], BeforeValidator(_none_to_list)] = []
    min_kernel: Annotated[str | None, Field(alias="minKernel",
                                            pattern=r"^[0-9]+\.[0-9]+$")] = None


class Rule(_Model):
    """One ``syscalls[]`` entry.  ``name`` is Docker's legacy single-name form."""
    names: Annotated[list[str], BeforeValidator(_none_to_list)] = []
    name: str | None = None
    action: Action
    errno_ret: UInt | None = Field(None, alias="errnoRet")
    args: Annotated[list[Condition], BeforeValidator(_none_to_list)] = []
    comment: str | None = None
    includes: Filter | None = None
    excludes: Filter | None = None

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if self.name is not None and self.names:
            raise ValueError("use either 'name' or 'names', not both (as moby requires)")
        if not self.syscall_names:
            raise ValueError("'names' must contain at least one syscall name")
        if self.errno_ret is not None and not self.action.takes_errno:
            raise ValueError(f"errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE,"
                             f" not {self.action.value}")
        return self

    @property
    def syscall_names(self) -> list[str]:
        """``names``, or the legacy ``name`` as a one-element list."""
        return list(self.names) if self.names else ([self.name] if self.name else [])


class ArchMapEntry(_Model):
    """Docker's ``archMap`` entry: the architectures a native architecture brings along."""
    architecture: Arch
    sub_architectures: Annotated[list[Arch], BeforeValidator(_none_to_list)] = Field(
        default_factory=list, alias="subArchitectures")


class Profile(_Model):
    """A seccomp profile: OCI ``linux.seccomp`` or Docker's format."""
    default_action: Action = Field(alias="defaultAction")
    default_errno_ret: UInt | None = Field(None, alias="defaultErrnoRet")
    architectures: Annotated[list[Arch], BeforeValidator(_none_to_list)] = []
    arch_map: Annotated[list[ArchMapEntry], BeforeValidator(_none_to_list)] = Field(
        default_factory=list, alias="archMap")
    flags: Annotated[list[Flag], BeforeValidator(_none_to_list)] = []
    listener_path: str | None = Field(None, alias="listenerPath")
    listener_metadata: str | None = Field(None, alias="listenerMetadata")
    syscalls: Annotated[list[Rule], BeforeValidator(_none_to_list)] = []

    @model_validator(mode="after")
    def _check(self) -> Profile:
        if self.architectures and self.arch_map:
            raise ValueError("use either 'architectures' or 'archMap', not both"
                             " (as moby requires)")
        if self.default_errno_ret is not None and not self.default_action.takes_errno:
            raise ValueError(f"defaultErrnoRet is only valid with a defaultAction of"
                             f" SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not"
                             f" {self.default_action.value}")
        if self.listener_metadata and not self.listener_path:
            raise ValueError("listenerMetadata must not be set without listenerPath")
        return self

    def to_json(self) -> str:
        """The profile as JSON with the spec's field names, defaults left out."""
        return self.model_dump_json(by_alias=True, exclude_defaults=True, indent=2) + "\n"


# --- errors -------------------------------------------------------------------------

def json_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's ``loc`` as a JSON path: ``('syscalls', 3, 'args', 0, 'op')`` ->
    ``syscalls[3].args[0].op``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


_ENUMS: dict[str, type[enum.StrEnum]] = {
    "action": Action, "defaultAction": Action, "op": Op, "architectures": Arch,
    "architecture": Arch, "subArchitectures": Arch, "flags": Flag,
}
_TYPE_NAMES = {"str": "a string", "int": "an integer", "list": "an array",
               "dict": "an object", "bool": "a boolean"}


def _message(err: dict[str, Any]) -> str:
    """One pydantic error as "expected X, got Y", in the profile's own vocabulary."""
    kind = err["type"]
    got = err.get("input")
    loc = [p for p in err["loc"] if isinstance(p, str)]
    field = loc[-1] if loc else ""
    if kind == "enum":
        allowed = ", ".join(e.value for e in _ENUMS.get(field, Action)) \
            if field in _ENUMS else err.get("ctx", {}).get("expected", "")
        return f"expected one of {allowed}, got {_show(got)}"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind in ("greater_than_equal", "less_than_equal"):
        if field == "index":
            return f"expected an argument index from 0 to 5, got {_show(got)}"
        limit = "2**64-1" if field in ("value", "valueTwo") else "2**32-1"
        return f"expected an unsigned integer up to {limit}, got {_show(got)}"
    if kind == "string_pattern_mismatch":
        if field == "minKernel":
            return f"expected a kernel version like \"5.8\", got {_show(got)}"
        if field == "caps":
            return f"expected a capability name like \"CAP_SYS_ADMIN\", got {_show(got)}"
    if kind.endswith("_type"):
        want = _TYPE_NAMES.get(kind[:-5], kind[:-5])
        return f"expected {want}, got {_show(got)}"
    msg = str(err.get("msg", kind))
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg


def _problems(exc: ValidationError, base: tuple[int | str, ...]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"]
                    if not (isinstance(p, str) and p.startswith("function-")))
        out.append((json_path(base + loc), _message(dict(err, loc=loc))))
    return out


_OCI_KEYS = {"ociVersion", "process", "root", "linux", "mounts", "hostname"}


def parse_profile(data: Any, source: str = "") -> Profile:
    """Validate decoded JSON.  A whole OCI ``config.json`` is accepted too: its
    ``linux.seccomp`` object is the profile (paths in messages say so)."""
    base: tuple[int | str, ...] = ()
    if isinstance(data, dict) and "defaultAction" not in data and _OCI_KEYS & data.keys():
        linux = data.get("linux")
        seccomp = linux.get("seccomp") if isinstance(linux, dict) else None
        if seccomp is None:
            raise ProfileError(source, [("linux.seccomp", ("an OCI config without a"
                                         " seccomp profile"))])
        data, base = seccomp, ("linux", "seccomp")
    if not isinstance(data, dict):
        raise ProfileError(source, [(json_path(base), (f"expected an object, got"
                                     f" {type(data).__name__}"))])
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(source, _problems(exc, base)) from None


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile file (JSON)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(str(p), [("", getattr(exc, "strerror", None) or str(exc))]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(str(p), [("", (f"not valid JSON: {exc.msg} at line {exc.lineno}"
                                     f" column {exc.colno}"))]) from None
    return parse_profile(data, str(p))


_SYSCALL_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def looks_like_syscall_name(name: str) -> bool:
    """Syscall names are C identifiers in lower case."""
    return _SYSCALL_NAME.match(name) is not None
