"""Running a BPF object's ``SEC("syscall")`` program in the host kernel with the system's
libbpf (libbpf.so.1 through ctypes): libbpf opens and loads the object (CO-RE against
the kernel's BTF, Kconfig externs from the host), ``bpf_prog_test_run_opts`` runs the
program in the calling thread's context, and the global-data maps are read back.  The
reference the VM's run of the same object is compared with."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path


class TestRunOpts(ctypes.Structure):
    """struct bpf_test_run_opts (libbpf 1.x)."""
    _fields_ = [("sz", ctypes.c_size_t), ("data_in", ctypes.c_void_p),
                ("data_out", ctypes.c_void_p), ("data_size_in", ctypes.c_uint32),
                ("data_size_out", ctypes.c_uint32), ("ctx_in", ctypes.c_void_p),
                ("ctx_out", ctypes.c_void_p), ("ctx_size_in", ctypes.c_uint32),
                ("ctx_size_out", ctypes.c_uint32), ("retval", ctypes.c_uint32),
                ("repeat", ctypes.c_int), ("duration", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32),
                ("batch_size", ctypes.c_uint32)]


def _lib() -> ctypes.CDLL:
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    vp, cp, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for name, res, args in (
            ("bpf_object__open_file", vp, [cp, vp]), ("bpf_object__load", ci, [vp]),
            ("bpf_object__close", None, [vp]), ("libbpf_get_error", ctypes.c_long, [vp]),
            ("bpf_object__find_program_by_name", vp, [vp, cp]),
            ("bpf_program__fd", ci, [vp]), ("bpf_object__find_map_by_name", vp, [vp, cp]),
            ("bpf_map__fd", ci, [vp]), ("bpf_map__value_size", ctypes.c_uint32, [vp]),
            ("bpf_map_lookup_elem", ci, [ci, vp, vp]),
            ("bpf_prog_test_run_opts", ci, [ci, ctypes.POINTER(TestRunOpts)]),
            ("libbpf_set_print", vp, [vp])):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "loading into the host kernel needs root"
    try:
        _lib()
    except (OSError, AttributeError) as exc:
        return f"libbpf.so.1 (libbpf1) is not usable: {exc}"
    return None


def run_syscall_prog(path: Path, prog: str, maps: tuple[str, ...] = (".bss",)
                     ) -> tuple[int, dict[str, bytes]]:
    """Load ``path`` with libbpf, test-run program ``prog`` (a SEC("syscall") one) once
    in this thread, and return its return value and the value of each map in ``maps``
    (key 0).  Raises OSError with libbpf's errno when a step fails."""
    lib = _lib()
    lib.libbpf_set_print(None)                 # libbpf's warnings: not ours to show
    obj = lib.bpf_object__open_file(str(path).encode(), None)
    if not obj or lib.libbpf_get_error(obj):
        raise OSError(ctypes.get_errno() or errno.EINVAL, f"libbpf cannot open {path}")
    try:
        rc = lib.bpf_object__load(obj)
        if rc:
            raise OSError(-rc, f"libbpf cannot load {path}: {os.strerror(-rc)}")
        p = lib.bpf_object__find_program_by_name(obj, prog.encode())
        if not p:
            raise OSError(errno.ENOENT, f"{path}: no program {prog}")
        opts = TestRunOpts(sz=ctypes.sizeof(TestRunOpts))
        rc = lib.bpf_prog_test_run_opts(lib.bpf_program__fd(p), ctypes.byref(opts))
        if rc:
            raise OSError(ctypes.get_errno(), f"test run of {prog} failed")
        out = {}
        for name in maps:
            m = lib.bpf_object__find_map_by_name(obj, name.encode())
            if not m:
                raise OSError(errno.ENOENT, f"{path}: no map {name}")
            buf = ctypes.create_string_buffer(lib.bpf_map__value_size(m))
            key = ctypes.c_uint32(0)
            if lib.bpf_map_lookup_elem(lib.bpf_map__fd(m), ctypes.byref(key), buf):
                raise OSError(ctypes.get_errno(), f"lookup in {name} failed")
            out[name] = buf.raw
        return opts.retval, out
    finally:
        lib.bpf_object__close(obj)


__all__ = ["run_syscall_prog", "unavailable_reason"]
