"""The C -> BPF compiler driver of ``bpf-vm build``: an object file, content-cached.

The default compiler is the clang inside the ``ziglang`` wheel, so probes build after
``pip install`` alone: ``python -m ziglang cc -target bpfel-freestanding -O2 -g -c``.
``$BPF_CC`` selects another compiler (e.g. ``clang``), which gets ``-target bpf``.

Objects are cached under ``$XDG_CACHE_HOME/trace-run`` (default ``~/.cache/trace-run``),
keyed by a hash of the source, every header in the include path and in the source's
directory, the compiler's identity and the flags: a change to any of them rebuilds.

The include path, in search order: the ``include_dirs`` (``-I``: the user's, then the
front end's), then, with ``system_includes``, the system's (``-idirafter``
/usr/include/<multiarch> and /usr/include, which ``-target bpf`` does not search by
itself; libbpf-bootstrap adds them the same way), then the ``fallback_dirs`` (also
``-idirafter``: headers used only when the system has none, such as trace-run's
``bpf/bpf_helpers.h`` where libbpf-dev is not installed).  Of the system directories
only the ``bpf/`` headers (libbpf's) enter the cache key.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from .errors import BpfError

OPT_FLAGS = ("-O2", "-g", "-Wall", "-Wno-unused-function", "-c")
CACHE_VERSION = b"trace-run-build-1"


class BuildError(BpfError):
    """The compiler refused the source (or could not run).  ``str(exc)`` is one headline
    line naming the file, then the compiler's own message."""

    def __init__(self, source: str, message: str, returncode: int | None = None) -> None:
        self.source = source
        self.compiler_output = message
        self.returncode = returncode
        head = f"{source}: compilation failed"
        if returncode is not None:
            head += f" (exit status {returncode})"
        super().__init__(f"{head}\n{message.rstrip()}" if message.strip() else head)


def compiler_command() -> list[str]:
    """The compiler and its target flag: ``$BPF_CC -target bpf`` or ziglang's clang."""
    cc = os.environ.get("BPF_CC")
    if cc:
        return [*shlex.split(cc), "-target", "bpf"]
    return [sys.executable, "-m", "ziglang", "cc", "-target", "bpfel-freestanding"]


@lru_cache(maxsize=8)
def _compiler_identity(cmd: tuple[str, ...]) -> str:
    """What distinguishes one compiler from another for the cache key: for ziglang,
    its ``zig`` executable's path, size and mtime (a stat: trace-run loads its default
    probe through here at every start); else the first line of ``--version``."""
    if cmd[1:4] == ("-m", "ziglang", "cc"):
        from importlib.util import find_spec
        spec = find_spec("ziglang")
        if spec is not None and spec.origin is not None:
            zig = Path(spec.origin).parent / "zig"
            try:
                st = zig.stat()
                return f"ziglang {zig} {st.st_size} {st.st_mtime_ns}"
            except OSError:   # no executable there: ask the compiler
                pass
    exe = cmd[:-2] if cmd[-2:] == ("-target", "bpf") else cmd
    try:
        out = subprocess.run([*exe, "--version"], capture_output=True, text=True, timeout=60,
                             check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(cmd)} (unknown version: {exc})"
    lines = (out.stdout or out.stderr).splitlines()
    return lines[0] if lines else " ".join(cmd)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trace-run"


def _headers(dirs: list[Path]) -> list[Path]:
    out: list[Path] = []
    for d in dirs:
        if d.is_dir():
            out.extend(sorted(p for p in d.rglob("*.h") if p.is_file()))
    return out


def cache_key(source: Path, cmd: list[str], flags: list[str],
              include_dirs: list[Path]) -> str:
    """sha256 of the source, the headers it may include, the compiler and the flags."""
    h = hashlib.sha256(CACHE_VERSION)
    h.update(b"\0src\0" + source.read_bytes())
    for hdr in _headers([*include_dirs, source.parent]):
        h.update(b"\0hdr\0" + str(hdr.name).encode() + b"\0" + hdr.read_bytes())
    h.update(b"\0cc\0" + _compiler_identity(tuple(cmd)).encode())
    h.update(b"\0argv\0" + "\0".join(cmd).encode())
    h.update(b"\0flags\0" + "\0".join(flags).encode())
    return h.hexdigest()


#: ``--target-arch`` names (libbpf's __TARGET_ARCH_xxx) for ``uname -m`` values
_ARCH_OF_MACHINE = {"x86_64": "x86", "i686": "x86", "aarch64": "arm64", "armv7l": "arm",
                    "s390x": "s390", "ppc64le": "powerpc", "ppc64": "powerpc",
                    "mips64": "mips", "riscv64": "riscv", "sparc64": "sparc",
                    "loongarch64": "loongarch"}
TARGET_ARCHES = frozenset(_ARCH_OF_MACHINE.values()) | {"arc"}


def host_target_arch() -> str:
    """libbpf's name for this machine's architecture (``x86`` on x86-64)."""
    return _ARCH_OF_MACHINE.get(platform.machine(), "x86")


def system_include_dirs() -> list[Path]:
    """The C library's include directories (the multiarch one first), where present."""
    out = []
    for d in (Path(f"/usr/include/{platform.machine()}-linux-gnu"), Path("/usr/include")):
        if d.is_dir():
            out.append(d)
    return out


def build(source: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, *,
          include_dirs: list[Path] | None = None, extra_flags: list[str] | None = None,
          use_cache: bool = True, cache: Path | None = None,
          defines: list[str] | None = None, target_arch: str | None = None,
          system_includes: bool = False, fallback_dirs: list[Path] | None = None) -> Path:
    """Compile ``source`` to a BPF object and return its path.

    ``include_dirs`` are searched in order (the driver adds none of its own: trace-run's
    headers come from :mod:`probes`, which passes them), then the system's
    (``system_includes``), then ``fallback_dirs``.  ``defines`` are ``-D`` values
    (``NAME`` or ``NAME=VALUE``); ``target_arch`` (libbpf's names: x86, arm64...) defines
    ``__TARGET_ARCH_<arch>`` as libbpf's bpf_tracing.h expects.  Without ``output`` the
    cached object itself is returned (don't modify it).  Raises :class:`BuildError`
    with the compiler's message on failure."""
    src = Path(source)
    if not src.is_file():
        raise BuildError(str(src), "no such file")
    if target_arch is not None and target_arch not in TARGET_ARCHES:
        raise BuildError(str(src), f"unknown target arch {target_arch!r} (one of"
                                   f" {', '.join(sorted(TARGET_ARCHES))})")
    incs = list(include_dirs or [])
    after = [*(system_include_dirs() if system_includes else []), *(fallback_dirs or [])]
    flags = [*OPT_FLAGS, *(f"-I{d}" for d in incs),
             *([f"-D__TARGET_ARCH_{target_arch}"] if target_arch else []),
             *(f"-D{d}" for d in defines or []),
             *(f for d in after for f in ("-idirafter", str(d))), *(extra_flags or [])]
    incs += [d / "bpf" for d in after if (d / "bpf").is_dir()] + list(fallback_dirs or [])
    cmd = compiler_command()
    if not use_cache:
        out = Path(output) if output is not None else src.with_suffix(".o")
        _compile(src, cmd, flags, out)
        return out
    cdir = cache if cache is not None else cache_dir()
    cached = cdir / f"{cache_key(src, cmd, flags, incs)}.o"
    if not cached.is_file():
        _compile(src, cmd, flags, cached)
    if output is None:
        return cached
    out = Path(output)
    if out.resolve() != cached.resolve():
        _atomic_copy(cached, out)
    return out


def _atomic_copy(src: Path, dest: Path) -> None:
    """Copy through a temporary name, so a concurrent reader never sees half a file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, part)
    os.replace(part, dest)


def _compile(src: Path, cmd: list[str], flags: list[str], dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="trace-run-build-") as tmp:
        obj = Path(tmp) / (src.stem + ".o")
        argv = [*cmd, *flags, str(src), "-o", str(obj)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                                  check=False)
        except FileNotFoundError as exc:
            raise BuildError(str(src), f"compiler not found: {exc.filename}"
                             " (install ziglang or set $BPF_CC)") from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuildError(str(src), f"{' '.join(argv)}: {exc}") from None
        if proc.returncode != 0 or not obj.is_file():
            raise BuildError(str(src), (proc.stderr or proc.stdout).strip(), proc.returncode)
        _atomic_copy(obj, dest)


__all__ = [
    "BuildError",
    "build",
    "cache_dir",
    "cache_key",
    "compiler_command",
    "host_target_arch",
    "system_include_dirs",
]
