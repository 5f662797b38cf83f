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

containers-common's ``seccomp.json`` (Podman, CRI-O) is read too: its ``errno`` and
``defaultErrno`` give the errno as a name (``"EPERM"``) or a decimal number (``"38"``),
and, when not empty, take precedence over ``errnoRet`` / ``defaultErrnoRet`` exactly as in
containers/common's ``getErrno``; an unknown name is an error, as there.

A profile file is read as a regular file of at most :data:`MAX_PROFILE_BYTES`, nested at
most :data:`MAX_DEPTH` levels deep; integers are JSON integers of any size, reported (not
converted) when longer than Python's 4300-digit limit.
"""

from __future__ import annotations

import enum
import errno as _errno
import json
import os
import re
import stat
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
    "ERRNO_NAMES",
    "MAX_DEPTH",
    "MAX_PROFILE_BYTES",
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
MAX_PROFILE_BYTES = 16 << 20     # 16 MiB: Docker's default profile is 20 KiB
MAX_DEPTH = 32                   # real profiles nest 5 levels (OCI config: 7)

#: The errno names containers/common's ``errnoArch`` table knows (pkg/seccomp/
#: errno_list.go), in its order; their values are this host's (Linux x86).
ERRNO_NAMES: tuple[str, ...] = (
    "EPERM", "ENOENT", "ESRCH", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF", "ECHILD",
    "EDEADLK", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV",
    "ENODEV", "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY",
    "EFBIG", "ENOSPC", "ESPIPE", "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE", "EAGAIN",
    "EINPROGRESS", "EALREADY", "ENOTSOCK", "EDESTADDRREQ", "EMSGSIZE", "EPROTOTYPE",
    "ENOPROTOOPT", "EPROTONOSUPPORT", "ESOCKTNOSUPPORT", "EOPNOTSUPP", "EPFNOSUPPORT",
    "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL", "ENETDOWN", "ENETUNREACH", "ENETRESET",
    "ECONNABORTED", "ECONNRESET", "ENOBUFS", "EISCONN", "ENOTCONN", "ESHUTDOWN",
    "ETOOMANYREFS", "ETIMEDOUT", "ECONNREFUSED", "ELOOP", "ENAMETOOLONG", "EHOSTDOWN",
    "EHOSTUNREACH", "ENOTEMPTY", "EUSERS", "EDQUOT", "ESTALE", "EREMOTE", "ENOLCK",
    "ENOSYS", "EILSEQ", "ENOMEDIUM", "EMEDIUMTYPE", "EOVERFLOW", "ECANCELED", "EIDRM",
    "ENOMSG", "ENOTSUP", "EBADMSG", "ENOTRECOVERABLE", "EOWNERDEAD",
)


class HugeInt:
    """A JSON integer longer than Python converts (4300 digits): kept as its digit count
    so that validation can say what it was."""
    __slots__ = ("digits",)

    def __init__(self, text: str) -> None:
        self.digits = len(text.lstrip("-"))

    def __repr__(self) -> str:
        return f"an integer of {self.digits} digits"


def _parse_int(text: str) -> int | HugeInt:
    return int(text) if len(text) <= 4000 else HugeInt(text)


def parse_errno(text: str) -> int:
    """containers/common's ``getErrno``: a decimal number (``strconv.ParseUint(s, 10,
    32)``) or a name of its table.  Raises ValueError with its message."""
    if re.fullmatch(r"[0-9]{1,10}", text) and int(text) <= 0xFFFFFFFF:
        return int(text)
    if text in ERRNO_NAMES:
        return int(getattr(_errno, text))
    raise ValueError(f"unknown errno {_show(text)} (expected a name like \"EPERM\" of"
                     f" containers/common's table, or a decimal number)")


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
    if isinstance(v, HugeInt):
        raise ValueError(f"expected an unsigned integer, got {v!r}")
    if isinstance(v, bool) or not isinstance(v, int):
        # pydantic reports ValueError only (not TypeError)
        raise ValueError(f"expected an unsigned integer, got {_show(v)}")
    return v


U64 = Annotated[int, BeforeValidator(_strict_uint), Field(ge=0, le=U64_MAX)]
UInt = Annotated[int, BeforeValidator(_strict_uint), Field(ge=0, le=0xFFFFFFFF)]


def _show(v: Any) -> str:
    """A value for a one-line message: JSON (strings quoted as Python does), ASCII only,
    at most 60 characters."""
    if isinstance(v, HugeInt):
        return repr(v)
    try:
        text = ascii(v) if isinstance(v, str) else json.dumps(v, default=repr)
    except (ValueError, RecursionError):
        text = type(v).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _errno_text(v: Any) -> Any:
    """``errno`` / ``defaultErrno``: a JSON string (Go's ``string``)."""
    if v is not None and not isinstance(v, str):
        raise ValueError(f"expected a string (an errno name or number), got {_show(v)}")
    if v:
        parse_errno(v)
    return v


ErrnoText = Annotated[str | None, BeforeValidator(_errno_text)]


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
    errno: ErrnoText = None          # containers-common: a name, e.g. "EPERM"
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
        if self.errno_value is not None and not self.action.takes_errno:
            which = "errno" if self.errno else "errnoRet"
            raise ValueError(f"{which} is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE,"
                             f" not {self.action.value}")
        return self

    @property
    def errno_value(self) -> int | None:
        """containers/common's ``getErrno(errno, errnoRet)``: ``errno`` when not empty,
        else ``errnoRet``."""
        return parse_errno(self.errno) if self.errno else self.errno_ret

    @property
    def errno_field(self) -> str:
        """The field the errno came from, for messages."""
        return "errno" if self.errno else "errnoRet"

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
    default_errno: ErrnoText = Field(None, alias="defaultErrno")
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
        if self.default_errno_value is not None and not self.default_action.takes_errno:
            which = "defaultErrno" if self.default_errno else "defaultErrnoRet"
            raise ValueError(f"{which} is only valid with a defaultAction of"
                             f" SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not"
                             f" {self.default_action.value}")
        if self.listener_metadata and not self.listener_path:
            raise ValueError("listenerMetadata must not be set without listenerPath")
        return self

    @property
    def default_errno_value(self) -> int | None:
        """``defaultErrno`` when not empty, else ``defaultErrnoRet`` (containers/common)."""
        return parse_errno(self.default_errno) if self.default_errno else self.default_errno_ret

    @property
    def default_errno_field(self) -> str:
        return "defaultErrno" if self.default_errno else "defaultErrnoRet"

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
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", part):
            out += ("." if out else "") + part
        else:   # a key that is no identifier: quoted, ASCII, one line
            out += f"[{_show(part)}]"
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
                                     f" {_type_name(data)}"))])
    deep = _too_deep(data, len(base))
    if deep is not None:
        raise ProfileError(source, [(json_path(base + deep),
                                     f"nested more than {MAX_DEPTH} levels deep")])
    try:
        return Profile.model_validate(_go_strings(data))
    except ValidationError as exc:
        raise ProfileError(source, _problems(exc, base)) from None
    except RecursionError:   # not reached below MAX_DEPTH; kept as a last line
        raise ProfileError(source, [("", "nested too deeply")]) from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _go_strings(v: Any) -> Any:
    """Lone surrogates (``"\\ud800"``) become U+FFFD, as Go's decoder makes them (called
    below MAX_DEPTH)."""
    if isinstance(v, str):
        return _SURROGATE.sub("\ufffd", v)
    if isinstance(v, dict):
        return {_go_strings(k): _go_strings(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_go_strings(x) for x in v]
    return v


def _type_name(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(v), "a number")


def _too_deep(data: Any, depth: int) -> tuple[int | str, ...] | None:
    """The path of the first value nested deeper than MAX_DEPTH (iteratively: no
    recursion for the validator to run out of)."""
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(data, ())]
    while stack:
        v, path = stack.pop()
        if depth + len(path) > MAX_DEPTH:
            return path
        if isinstance(v, dict):
            stack += [(x, (*path, k)) for k, x in v.items()]
        elif isinstance(v, list):
            stack += [(x, (*path, i)) for i, x in enumerate(v)]
    return None


def read_profile_text(path: str | Path) -> str:
    """The text of a profile file: a regular file (not a FIFO, device or directory, which
    could block or never end) of at most MAX_PROFILE_BYTES, UTF-8.  Raises ProfileError."""
    p = str(path)

    def fail(msg: str) -> ProfileError:
        return ProfileError(p, [("", msg)])
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else
                    "a FIFO" if stat.S_ISFIFO(st.st_mode) else
                    "a character device" if stat.S_ISCHR(st.st_mode) else
                    "a block device" if stat.S_ISBLK(st.st_mode) else
                    "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file")
            raise fail(f"not a regular file ({kind}): a profile must be a regular file")
        if st.st_size > MAX_PROFILE_BYTES:
            raise fail(f"{st.st_size} bytes: larger than the {MAX_PROFILE_BYTES >> 20} MiB a"
                       f" profile may have")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_PROFILE_BYTES:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_PROFILE_BYTES:
            raise fail(f"larger than the {MAX_PROFILE_BYTES >> 20} MiB a profile may have")
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (byte {exc.start})") from None


def parse_profile_text(text: str, source: str = "") -> Profile:
    """Decode JSON text and validate it (:func:`parse_profile`); every failure is a
    :class:`ProfileError`."""
    try:
        data = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise ProfileError(source, [("", (f"not valid JSON: {exc.msg} at line {exc.lineno}"
                                     f" column {exc.colno}"))]) from None
    except RecursionError:
        raise ProfileError(source, [("", f"not a profile: nested more than {MAX_DEPTH}"
                                     f" levels deep (far more)")]) from None
    except ValueError as exc:   # what the decoder's hooks raise
        raise ProfileError(source, [("", f"not valid JSON: {exc}")]) from None
    return parse_profile(data, source)


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile file (JSON)."""
    return parse_profile_text(read_profile_text(path), str(path))


_SYSCALL_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def looks_like_syscall_name(name: str) -> bool:
    """Syscall names are C identifiers in lower case."""
    return _SYSCALL_NAME.match(name) is not None
