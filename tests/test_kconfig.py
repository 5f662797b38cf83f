"""Kconfig and kernel-version externs (bpf_vm.kconfig): a libbpf C program built with
``bpf-vm build`` reads ``__kconfig`` and weak ``__ksym`` externs; the VM's values and
its ``.kconfig`` map's layout are compared with libbpf loading the same object into the
host kernel, and libbpf's type and range checks with Kconfig files of our own."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpf_vm.cli import app
from bpf_vm.elf import load_object
from bpf_vm.errors import ElfLoadError
from bpf_vm.kconfig import WRAPPED_SYSCALL_MACHINES, kconfig_text, kernel_version
from bpf_vm.vm import Vm
from tests import libbpf_skel

pytestmark = [pytest.mark.needs_bpf_cc,
              pytest.mark.needs_uapi_headers("/usr/include/linux/bpf.h",
                                             "/usr/include/bpf/bpf_helpers.h")]

HEAD = "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"
TAIL = 'char LICENSE[] SEC("license") = "GPL";\n'

HOST_SRC = HEAD + r"""
extern int LINUX_KERNEL_VERSION __kconfig;
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig __weak;
extern _Bool LINUX_HAS_BPF_COOKIE __kconfig __weak;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern unsigned long long CONFIG_NR_CPUS __kconfig __weak;
extern unsigned short CONFIG_LOG_BUF_SHIFT __kconfig __weak;
extern char CONFIG_LOCALVERSION[16] __kconfig __weak;
extern char CONFIG_CC_VERSION_TEXT[8] __kconfig __weak;
extern char CONFIG_BPF __kconfig __weak;
extern _Bool CONFIG_TRACE_RUN_NO_SUCH_OPTION __kconfig __weak;
extern const void trace_run_no_such_symbol __ksym __weak;
extern int trace_run_no_such_kfunc(int) __ksym __weak;

struct {
  int kver; _Bool wrapper, cookie, bpf_syscall; int jit; int hz; unsigned long long nr_cpus;
  unsigned short log_buf_shift; char localversion[16]; char cc[8]; char bpf;
  _Bool missing; _Bool sym_exists; _Bool kfunc_exists; int kfunc;
} out;

SEC("syscall")
int probe(void *ctx)
{
  out.kver = LINUX_KERNEL_VERSION;
  out.wrapper = LINUX_HAS_SYSCALL_WRAPPER;
  out.cookie = LINUX_HAS_BPF_COOKIE;
  out.bpf_syscall = CONFIG_BPF_SYSCALL;
  out.jit = CONFIG_BPF_JIT;
  out.hz = CONFIG_HZ;
  out.nr_cpus = CONFIG_NR_CPUS;
  out.log_buf_shift = CONFIG_LOG_BUF_SHIFT;
  __builtin_memcpy(out.localversion, CONFIG_LOCALVERSION, 16);
  __builtin_memcpy(out.cc, CONFIG_CC_VERSION_TEXT, 8);
  out.bpf = CONFIG_BPF;
  out.missing = CONFIG_TRACE_RUN_NO_SUCH_OPTION;
  out.sym_exists = &trace_run_no_such_symbol != 0;     /* bpf_ksym_exists() */
  out.kfunc_exists = trace_run_no_such_kfunc != 0;
  if (trace_run_no_such_kfunc)                         /* dead: libbpf's poisoned call */
    out.kfunc = trace_run_no_such_kfunc(1);
  return 0;
}
""" + TAIL
WRAPPER_OFF, COOKIE_OFF = 4, 5
Builder = Callable[[str], Path]


@pytest.fixture(scope="module", name="build")
def build_fixture(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    d = tmp_path_factory.mktemp("kconfig")
    count = [0]

    def build(src: str) -> Path:
        count[0] += 1
        path = d / f"k{count[0]}.bpf.c"
        path.write_text(src)
        out = path.with_suffix(".o")
        res = CliRunner().invoke(app, ["build", str(path), "-o", str(out)])
        assert res.exit_code == 0, res.output
        return out
    return build


def vm_values(obj_path: Path) -> tuple[bytes, bytes]:
    """(.bss, .kconfig) after one run in the VM."""
    vm = Vm()
    obj = load_object(obj_path, vm)
    assert vm.run(obj.programs["probe"], bytes(8)).r0 == 0
    return bytes(obj.maps[".bss"].lookup(0)), bytes(obj.maps[".kconfig"].lookup(0))


def has_bpf_cookie() -> int:
    from bpf_vm.kconfig import _has_bpf_cookie
    return _has_bpf_cookie()


def test_host_values(build: Builder) -> None:
    if kconfig_text() is None:   # pragma: no cover - hosts without one
        pytest.skip("no Kconfig on this host (/boot/config-$(uname -r), /proc/config.gz)")
    found = kconfig_text()
    assert found is not None
    bss, _kcfg = vm_values(build(HOST_SRC))
    assert int.from_bytes(bss[:4], "little") == kernel_version() > 0
    assert bss[WRAPPER_OFF] == int(os.uname().machine in WRAPPED_SYSCALL_MACHINES)
    assert bss[COOKIE_OFF] == has_bpf_cookie()
    config = dict(ln.partition("=")[::2] for ln in found[1].splitlines()
                  if ln.startswith("CONFIG_"))
    assert bss[6] == (config.get("CONFIG_BPF_SYSCALL") == "y")
    # CONFIG_TRACE_RUN_NO_SUCH_OPTION, the weak ksym and kfunc: 0, absent, not called
    assert bss[51:54] == bytes(3) and bss[56:60] == bytes(4)


@pytest.mark.kernel
def test_same_values_and_layout_as_libbpf_in_the_kernel(build: Builder) -> None:
    """libbpf loads the same object into the host kernel: the program sees the same
    values and libbpf's .kconfig map has our layout, byte for byte.  Two values are
    trace-run's own: LINUX_HAS_BPF_COOKIE says whether the VM has
    bpf_get_attach_cookie, and LINUX_HAS_SYSCALL_WRAPPER is the emulated kprobes'
    convention (libbpf asks the kernel by creating a kprobe, so says 0 on a kernel
    without kprobes)."""
    if (why := libbpf_skel.unavailable_reason()) is not None:
        pytest.skip(why)
    obj = build(HOST_SRC)
    _rc, maps = libbpf_skel.run_syscall_prog(obj, "probe", (".bss", ".kconfig"))
    bss, kcfg = vm_values(obj)
    kbss, kkcfg = bytearray(maps[".bss"]), bytearray(maps[".kconfig"])
    assert len(kcfg) == len(kkcfg)
    # where our two values differ on purpose: patch the kernel's, in both maps
    kprobes = Path("/sys/bus/event_source/devices/kprobe").exists()
    for off, ours, theirs in ((WRAPPER_OFF, bss[WRAPPER_OFF], kbss[WRAPPER_OFF]),
                              (COOKIE_OFF, bss[COOKIE_OFF], kbss[COOKIE_OFF])):
        if off == WRAPPER_OFF and kprobes:
            assert ours == theirs
        kbss[off] = ours
        assert theirs in (0, 1)
        # the .kconfig byte holding it: the one that differs, if any
        diff = [i for i in range(len(kcfg)) if kcfg[i] != kkcfg[i] and kkcfg[i] == theirs
                and kcfg[i] == ours]
        if ours != theirs:
            assert diff, (off, kcfg.hex(), bytes(kkcfg).hex())
            kkcfg[diff[0]] = ours
    assert bss == bytes(kbss)
    assert kcfg == bytes(kkcfg)


def with_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "config"
    cfg.write_text(textwrap.dedent(text))
    monkeypatch.setenv("BPF_VM_KCONFIG", str(cfg))


TYPES_SRC = HEAD + r"""
extern _Bool CONFIG_B __kconfig;
extern enum libbpf_tristate CONFIG_TM __kconfig;
extern enum libbpf_tristate CONFIG_TY __kconfig;
extern enum libbpf_tristate CONFIG_TN __kconfig __weak;
extern char CONFIG_C __kconfig;
extern signed char CONFIG_NEG __kconfig;
extern unsigned int CONFIG_HEX __kconfig;
extern long long CONFIG_OCT __kconfig;
extern char CONFIG_S[4] __kconfig;
extern int CONFIG_UNSET __kconfig __weak;
struct { long long oct; unsigned int hex; int tm, ty, tn, unset; char s[4];
         _Bool b; char c; signed char neg; } out;
SEC("syscall") int probe(void *ctx) {
  out.b = CONFIG_B; out.tm = CONFIG_TM; out.ty = CONFIG_TY; out.tn = CONFIG_TN;
  out.c = CONFIG_C; out.neg = CONFIG_NEG; out.hex = CONFIG_HEX; out.oct = CONFIG_OCT;
  __builtin_memcpy(out.s, CONFIG_S, 4); out.unset = CONFIG_UNSET;
  return 0;
}
""" + TAIL


def test_types_and_values(build: Builder, monkeypatch: pytest.MonkeyPatch,
                          tmp_path: Path) -> None:
    with_config(monkeypatch, tmp_path, """
        # CONFIG_UNSET is not set
        CONFIG_B=y
        CONFIG_TM=m
        CONFIG_TY=y
        CONFIG_C=m
        CONFIG_NEG=-128
        CONFIG_HEX=0x10
        CONFIG_OCT=010
        CONFIG_S="truncated"
        CONFIG_TN=n
    """)
    bss, kcfg = vm_values(build(TYPES_SRC))
    import struct
    oct_, hex_, tm, ty, tn, unset, s, b, c, neg = struct.unpack("<qI4i4s?cb", bss[:35])
    assert (oct_, hex_, tm, ty, tn, unset) == (8, 16, 2, 1, 0, 0)
    assert (s, b, c, neg) == (b"tru\0", True, b"m", -128)
    # libbpf's layout: alignment descending, then size, then name
    assert kcfg[:8] == (8).to_bytes(8, "little")              # CONFIG_OCT
    assert kcfg[8:12] == (16).to_bytes(4, "little")           # CONFIG_HEX


@pytest.mark.parametrize("decl,value,message", [
    ("_Bool CONFIG_X", "m", "value 'm' implies tristate or char type"),
    ("_Bool CONFIG_X", "2", "value '2' implies integer type"),
    ("int CONFIG_X", "y", "value 'y' implies bool, tristate, or char type"),
    ("int CONFIG_X", '"str"', "value '\"str\"' implies char array type"),
    ("char CONFIG_X[4]", "5", "value '5' implies integer type"),
    ("char CONFIG_X", "300", "value '300' doesn't fit in 1 bytes"),
    ("unsigned short CONFIG_X", "-1", "doesn't fit in 2 bytes"),
    ("int CONFIG_X", "12abc", "value '12abc' isn't a valid integer"),
    ("char CONFIG_X[4]", '"open', "invalid string config"),
    ("int CONFIG_MISSING", "1", "extern (kcfg) 'CONFIG_MISSING' (strong): value not found"),
])
def test_libbpf_checks(build: Builder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                       decl: str, value: str, message: str) -> None:
    with_config(monkeypatch, tmp_path, f"CONFIG_X={value}\n")
    name = decl.split()[-1].split("[")[0]
    src = HEAD + f"extern {decl} __kconfig;\nint out;\n" \
        f'SEC("syscall") int probe(void *ctx) {{ out = *(volatile char *)&{name}; return 0; }}\n' \
        + TAIL
    with pytest.raises(ElfLoadError) as exc:
        load_object(build(src), Vm())
    assert message in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("decl,message", [
    ("extern const int trace_run_no_such_var __ksym;",
     "extern (ksym) 'trace_run_no_such_var': kernel symbol not found: kernel"
     " symbols/kfuncs are not provided by trace-run"),
    ("extern int trace_run_no_such_kfunc(int) __ksym;",
     "extern (ksym) 'trace_run_no_such_kfunc': kfunc not found"),
    ("extern int LINUX_NO_SUCH_THING __kconfig;",
     "extern (kcfg) 'LINUX_NO_SUCH_THING': unrecognized virtual extern"),
    ("extern int OTHER_THING __kconfig;", "unrecognized extern 'OTHER_THING'"),
    ("extern struct { int a; } CONFIG_S __kconfig;",
     "extern (kcfg) 'CONFIG_S': type is unsupported"),
])
def test_strong_externs_without_a_value(build: Builder, decl: str, message: str) -> None:
    name = decl.split("(")[0].replace("}", " ").split()[
        3 if "const" in decl else 2 if "{" not in decl else -2]
    use = f"{name}(1)" if "(" in decl else f"*(volatile const char *)&{name}"
    src = HEAD + decl + f'\nint out;\nSEC("syscall") int probe(void *ctx) {{ out = {use};' \
        " return 0; }\n" + TAIL
    with pytest.raises(ElfLoadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_object(build(src), Vm())


def test_weak_linux_extern_and_version_section(build: Builder) -> None:
    """An unknown weak LINUX_ extern is 0; LINUX_KERNEL_VERSION is the running kernel's
    even when the object has a ``version`` section (libbpf 1.1 in the kernel: the same)."""
    src = HEAD + r"""
        extern int LINUX_NO_SUCH_THING __kconfig __weak;
        extern int LINUX_KERNEL_VERSION __kconfig;
        __u32 _version SEC("version") = 0x040e00;
        struct { int a, b; } out;
        SEC("syscall") int probe(void *ctx) {
          out.a = LINUX_NO_SUCH_THING; out.b = LINUX_KERNEL_VERSION; return 0; }
    """ + TAIL
    bss, _ = vm_values(build(src))
    assert bss[:8] == (0).to_bytes(4, "little") + kernel_version().to_bytes(4, "little")


@pytest.mark.parametrize("release,version,signature,want", [
    ("6.18.44-fc-v1272", "#1 SMP", "", 0x06122C),
    ("5.4.300", "#1 SMP", "", (5 << 16) + (4 << 8) + 255),        # patch clamped
    ("5.10.0-21-amd64", "#1 SMP Debian 5.10.162-1 (2023-01-21)", "", 0x050AA2),
    ("5.4.0-42-generic", "#46-Ubuntu", "Ubuntu 5.4.0-42.46-generic 5.4.44\n", 0x05042C),
    ("weird", "#1", "", 0),
])
def test_kernel_version(release: str, version: str, signature: str, want: int) -> None:
    assert kernel_version(release, version, signature) == want


def test_malformed_kconfig_line(build: Builder, monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path) -> None:
    with_config(monkeypatch, tmp_path, "CONFIG_B\n")
    with pytest.raises(ElfLoadError, match=r"config: failed to parse 'CONFIG_B': no separator"):
        load_object(build(TYPES_SRC), Vm())
