"""The system's libbpf (libbpf.so.1, through ctypes) used as a skeleton uses it: open an
object, give its global-data maps initial values, load it into the host kernel, run a
program with BPF_PROG_TEST_RUN, read and write maps, and dump them with bpftool.
The reference for ``--set`` and for BTF-decoded map dumps (tests/test_globals_set.py,
tests/test_btf_value.py), and, through :func:`run_syscall_prog`, for what a program
sees of its own task and of the host's Kconfig (tests/test_kernel_task.py,
tests/test_kconfig.py).
"""

from __future__ import annotations

import ctypes as C
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

BTF_KIND_VAR, BTF_KIND_DATASEC = 14, 15
_PRINT_FN = C.CFUNCTYPE(C.c_int, C.c_int, C.c_char_p, C.c_void_p)
#: libbpf's print callback, silent.  Module-level: libbpf keeps the pointer for the
#: process's life, so the trampoline must outlive every object (one freed with its
#: object made the next libbpf call anywhere in the process jump into freed memory).
_QUIET = _PRINT_FN(lambda level, fmt, args: 0)


class TestRunOpts(C.Structure):
    """struct bpf_test_run_opts (libbpf 1.x)."""
    _fields_ = [("sz", C.c_size_t), ("data_in", C.c_void_p), ("data_out", C.c_void_p),
                ("data_size_in", C.c_uint32), ("data_size_out", C.c_uint32),
                ("ctx_in", C.c_void_p), ("ctx_out", C.c_void_p),
                ("ctx_size_in", C.c_uint32), ("ctx_size_out", C.c_uint32),
                ("retval", C.c_uint32), ("repeat", C.c_int), ("duration", C.c_uint32),
                ("flags", C.c_uint32), ("cpu", C.c_uint32), ("batch_size", C.c_uint32)]


def _sig(lib: C.CDLL, name: str, res: Any, *args: Any) -> None:
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = list(args)


def _lib() -> C.CDLL:
    lib = C.CDLL("libbpf.so.1", use_errno=True)
    P = C.c_void_p
    _sig(lib, "bpf_object__open_file", P, C.c_char_p, P)
    _sig(lib, "bpf_object__load", C.c_int, P)
    _sig(lib, "bpf_object__close", None, P)
    _sig(lib, "bpf_object__btf", P, P)
    _sig(lib, "bpf_object__find_map_by_name", P, P, C.c_char_p)
    _sig(lib, "bpf_object__next_map", P, P, P)
    _sig(lib, "bpf_object__find_program_by_name", P, P, C.c_char_p)
    _sig(lib, "bpf_program__fd", C.c_int, P)
    _sig(lib, "bpf_map__name", C.c_char_p, P)
    _sig(lib, "bpf_map__fd", C.c_int, P)
    _sig(lib, "bpf_map__value_size", C.c_uint32, P)
    _sig(lib, "bpf_map__initial_value", P, P, C.POINTER(C.c_size_t))
    _sig(lib, "bpf_map__set_initial_value", C.c_int, P, P, C.c_size_t)
    _sig(lib, "bpf_map__lookup_elem", C.c_int, P, P, C.c_size_t, P, C.c_size_t, C.c_uint64)
    _sig(lib, "bpf_map__update_elem", C.c_int, P, P, C.c_size_t, P, C.c_size_t, C.c_uint64)
    _sig(lib, "bpf_obj_get_info_by_fd", C.c_int, C.c_int, P, C.POINTER(C.c_uint32))
    _sig(lib, "bpf_prog_test_run_opts", C.c_int, C.c_int, P)
    _sig(lib, "btf__find_by_name_kind", C.c_int, P, C.c_char_p, C.c_uint32)
    _sig(lib, "btf__type_by_id", P, P, C.c_uint32)
    _sig(lib, "btf__name_by_offset", C.c_char_p, P, C.c_uint32)
    _sig(lib, "libbpf_set_print", P, P)
    _sig(lib, "libbpf_num_possible_cpus", C.c_int)
    return lib


def unavailable_reason() -> str | None:
    """Why libbpf objects cannot be loaded here (None: they can)."""
    try:
        _lib()
    except OSError as exc:
        return f"libbpf.so.1 is not loadable: {exc}"
    if os.geteuid() != 0:
        return "loading BPF objects into the kernel needs root"
    if shutil.which("bpftool") is None:
        return "bpftool is not installed"
    return None


class LibbpfObject:
    """One object opened with libbpf; :meth:`load` puts it in the kernel."""

    def __init__(self, path: Path) -> None:
        self.lib = lib = _lib()
        lib.libbpf_set_print(C.cast(_QUIET, C.c_void_p))
        self.obj = lib.bpf_object__open_file(str(path).encode(), None)
        if not self.obj:
            raise OSError(C.get_errno(), f"bpf_object__open_file({path}) failed")

    def close(self) -> None:
        if self.obj:
            self.lib.bpf_object__close(self.obj)
            self.obj = None

    def __enter__(self) -> LibbpfObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(self, name: str) -> int:
        m = self.lib.bpf_object__find_map_by_name(self.obj, name.encode())
        if not m:
            raise KeyError(name)
        return int(m)

    def internal_maps(self) -> dict[str, int]:
        """Global-data maps by their section (libbpf names them ``OBJ.rodata``...)."""
        out, m = {}, None
        while True:
            m = self.lib.bpf_object__next_map(self.obj, m)
            if not m:
                return out
            size = C.c_size_t()
            if self.lib.bpf_map__initial_value(m, C.byref(size)):
                name = self.lib.bpf_map__name(m).decode()
                out["." + name.split(".", 1)[1] if not name.startswith(".") else name] = m

    def datasec_vars(self, section: str) -> dict[str, tuple[int, int]]:
        """{var: (offset, size)} of a DATASEC, as libbpf fixed it at open."""
        lib = self.lib
        btf = lib.bpf_object__btf(self.obj)
        tid = lib.btf__find_by_name_kind(btf, section.encode(), BTF_KIND_DATASEC)
        assert tid > 0, section
        t = lib.btf__type_by_id(btf, tid)
        _name, info, _size = struct.unpack("<III", C.string_at(t, 12))
        out = {}
        raw = C.string_at(t + 12, 12 * (info & 0xFFFF))
        for i in range(info & 0xFFFF):
            vt, off, size = struct.unpack_from("<III", raw, 12 * i)
            (name_off,) = struct.unpack("<I", C.string_at(lib.btf__type_by_id(btf, vt), 4))
            out[lib.btf__name_by_offset(btf, name_off).decode()] = (off, size)
        return out

    def set_vars(self, values: dict[str, C._SimpleCData | C.Array[Any]]) -> None:
        """Store C-typed values into the global-data maps' initial values, as
        ``skel->rodata->name = value`` does, then bpf_map__set_initial_value."""
        for sec, m in self.internal_maps().items():
            layout = self.datasec_vars(sec)
            mine = {n: v for n, v in values.items() if n in layout}
            if not mine:
                continue
            size = C.c_size_t()
            ptr = self.lib.bpf_map__initial_value(m, C.byref(size))
            buf = bytearray(C.string_at(ptr, size.value))
            for name, value in mine.items():
                off, vsize = layout[name]
                raw = bytes(value)
                assert len(raw) == vsize, (name, len(raw), vsize)
                buf[off:off + vsize] = raw
            cbuf = (C.c_char * len(buf)).from_buffer(buf)
            rc = self.lib.bpf_map__set_initial_value(m, cbuf, len(buf))
            assert rc == 0, (sec, rc)

    def load(self) -> None:
        rc = self.lib.bpf_object__load(self.obj)
        if rc:
            raise OSError(-rc, f"bpf_object__load failed: {os.strerror(-rc)}")

    def test_run(self, prog: str) -> int:
        p = self.lib.bpf_object__find_program_by_name(self.obj, prog.encode())
        opts = TestRunOpts(sz=C.sizeof(TestRunOpts))
        rc = self.lib.bpf_prog_test_run_opts(self.lib.bpf_program__fd(p), C.byref(opts))
        assert rc == 0, f"test run of {prog}: {os.strerror(C.get_errno())}"
        return int(opts.retval)

    def lookup(self, name: str, key: bytes, value_size: int) -> bytes:
        k = C.create_string_buffer(key, len(key))
        v = C.create_string_buffer(value_size)
        rc = self.lib.bpf_map__lookup_elem(self.map(name), k, len(key), v, value_size, 0)
        assert rc == 0, f"lookup in {name}: {rc}"
        return v.raw

    def update(self, name: str, key: bytes, value: bytes) -> None:
        k = C.create_string_buffer(key, len(key))
        v = C.create_string_buffer(value, len(value))
        rc = self.lib.bpf_map__update_elem(self.map(name), k, len(key), v, len(value), 0)
        assert rc == 0, f"update of {name}: {rc}"

    def map_id(self, m: int) -> int:
        info = C.create_string_buffer(256)
        n = C.c_uint32(256)
        assert self.lib.bpf_obj_get_info_by_fd(self.lib.bpf_map__fd(m), info,
                                               C.byref(n)) == 0
        return int(struct.unpack_from("<I", info.raw, 4)[0])   # bpf_map_info.id

    def bpftool_dump(self, m: int) -> list[dict[str, Any]]:
        """``bpftool -j map dump id N``: the kernel's entries with "formatted"."""
        res = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(self.map_id(m))],
                             capture_output=True, text=True, check=True)
        return list(json.loads(res.stdout))

    def possible_cpus(self) -> int:
        return int(self.lib.libbpf_num_possible_cpus())


def run_syscall_prog(path: Path, prog: str, maps: tuple[str, ...] = (".bss",)
                     ) -> tuple[int, dict[str, bytes]]:
    """Load ``path`` with libbpf (CO-RE against the kernel's BTF, Kconfig externs from
    the host), test-run its ``SEC("syscall")`` program ``prog`` once in this thread, and
    return its return value and the value of each map in ``maps`` (key 0)."""
    with LibbpfObject(path) as o:
        o.load()
        retval = o.test_run(prog)
        key = (0).to_bytes(4, "little")
        return retval, {name: o.lookup(name, key, o.lib.bpf_map__value_size(o.map(name)))
                        for name in maps}


__all__ = ["LibbpfObject", "run_syscall_prog", "unavailable_reason"]
