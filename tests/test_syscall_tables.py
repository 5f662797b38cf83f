"""The generated syscall tables: no drift from their generator, known numbers, ABI separation."""

from __future__ import annotations

from pathlib import Path

import pytest
from ptrace.syscall.linux import i386 as ptrace_i386
from ptrace.syscall.linux import x86_64 as ptrace_x86_64
from ptrace.syscall.prototypes import SYSCALL_PROTOTYPES

from probes.abi import (
    AUDIT_ARCH_I386,
    AUDIT_ARCH_X86_64,
    X32_SYSCALL_BIT,
    Abi,
    abi_for,
    normalize_nr,
    syscall_name,
    syscall_number,
    syscalls,
)
from scripts import gen_syscall_tables as gen
from tracer.syscalls.prototypes import arg_count, prototype_name, ptrace_prototypes

TABLE_DIR = Path(__file__).resolve().parent.parent / "probes" / "abi"
X32 = X32_SYSCALL_BIT


@pytest.mark.needs_uapi_headers(*(gen.DEFAULT_INCLUDE_DIR / h for h, _ in gen.ABI_FILES.values()))
def test_checked_in_tables_match_generator() -> None:
    for module_name, source in gen.render_tables().items():
        checked_in = (TABLE_DIR / module_name).read_text()
        assert checked_in == source, (
            f"{module_name} drifted: run python scripts/gen_syscall_tables.py")


KNOWN = [
    (Abi.X86_64, 0, "read"), (Abi.X86_64, 2, "open"), (Abi.X86_64, 5, "fstat"),
    (Abi.X86_64, 59, "execve"), (Abi.X86_64, 231, "exit_group"), (Abi.X86_64, 257, "openat"),
    (Abi.X86_64, 262, "newfstatat"), (Abi.X86_64, 435, "clone3"),
    (Abi.X86_64, 450, "set_mempolicy_home_node"),
    (Abi.I386, 1, "exit"), (Abi.I386, 5, "open"), (Abi.I386, 11, "execve"),
    (Abi.I386, 20, "getpid"), (Abi.I386, 140, "_llseek"), (Abi.I386, 192, "mmap2"),
    (Abi.I386, 252, "exit_group"), (Abi.I386, 295, "openat"), (Abi.I386, 336, "perf_event_open"),
    (Abi.I386, 403, "clock_gettime64"), (Abi.I386, 435, "clone3"),
    (Abi.X32, X32 + 0, "read"), (Abi.X32, X32 + 2, "open"), (Abi.X32, X32 + 231, "exit_group"),
    (Abi.X32, X32 + 512, "rt_sigaction"), (Abi.X32, X32 + 520, "execve"),
    (Abi.X32, X32 + 547, "pwritev2"), (Abi.X32, X32 + 257, "openat"),
    (Abi.X32, X32 + 435, "clone3"),
]


@pytest.mark.parametrize(("abi", "nr", "name"), KNOWN)
def test_known_pairs(abi: Abi, nr: int, name: str) -> None:
    assert syscall_name(abi, nr) == name
    assert syscall_number(abi, name) == nr


# Added after the 6.1 headers, up to Linux 6.18 (arch/x86/entry/syscalls/syscall_*.tbl).
NEWER = [
    ("uretprobe", 335, None), ("uprobe", 336, None), ("cachestat", 451, 451),
    ("fchmodat2", 452, 452), ("map_shadow_stack", 453, 453), ("futex_wake", 454, 454),
    ("futex_wait", 455, 455), ("futex_requeue", 456, 456), ("statmount", 457, 457),
    ("listmount", 458, 458), ("lsm_get_self_attr", 459, 459), ("lsm_set_self_attr", 460, 460),
    ("lsm_list_modules", 461, 461), ("mseal", 462, 462), ("setxattrat", 463, 463),
    ("getxattrat", 464, 464), ("listxattrat", 465, 465), ("removexattrat", 466, 466),
    ("open_tree_attr", 467, 467), ("file_getattr", 468, 468), ("file_setattr", 469, 469),
]


@pytest.mark.parametrize(("name", "nr64", "nr32"), NEWER)
def test_syscalls_newer_than_the_headers(name: str, nr64: int, nr32: int | None) -> None:
    assert syscall_name(Abi.X86_64, nr64) == name
    assert syscall_name(Abi.X32, X32 | nr64) == name
    assert syscall_number(Abi.I386, name) == nr32


@pytest.mark.parametrize(("abi", "nr", "text"), [
    (Abi.X86_64, 500, "syscall_0x1f4"),  # what strace 6.1 prints for these numbers
    (Abi.X86_64, 470, "syscall_0x1d6"),
    (Abi.X32, X32 + 500, "syscall_0x400001f4"),
    (Abi.I386, 999, "syscall_0x3e7"),
    (Abi.X86_64, -1, "syscall_0xffffffffffffffff"),
])
def test_unknown_numbers_named_like_strace(abi: Abi, nr: int, text: str) -> None:
    assert syscall_name(abi, nr) == text


def test_abis_never_share_a_number_by_accident() -> None:
    # python-ptrace's x86_64 table lists x32's 512-547 as x86_64 calls; they are not.
    assert syscall_name(Abi.X86_64, 520) == "syscall_0x208"
    assert syscall_name(Abi.X32, X32 + 520) == "execve"
    # x32 has no number for x86_64-only calls, and x86_64 numbers lack the x32 bit.
    assert syscall_number(Abi.X32, "uselib") is None
    assert syscall_name(Abi.X86_64, 1 << 40) == "syscall_0x10000000000"
    assert X32 + 13 not in syscalls(Abi.X32)  # x86_64 rt_sigaction; x32's is 512
    assert syscall_name(Abi.I386, 5) == "open" and syscall_name(Abi.X86_64, 5) == "fstat"
    assert all(nr & X32 for nr in syscalls(Abi.X32))
    assert not any(nr & X32 for nr in syscalls(Abi.X86_64))


@pytest.mark.parametrize("abi", list(Abi))
def test_tables_are_one_to_one(abi: Abi) -> None:
    table = syscalls(abi)
    assert len(set(table.values())) == len(table)
    for nr, name in table.items():
        assert syscall_number(abi, name) == nr
    with pytest.raises(TypeError):
        table[99999] = "x"  # type: ignore[index]


@pytest.mark.parametrize(("arch", "nr", "abi"), [
    (AUDIT_ARCH_X86_64, 0, Abi.X86_64),
    (AUDIT_ARCH_X86_64, X32 + 0, Abi.X32),
    (AUDIT_ARCH_I386, 11, Abi.I386),
    (AUDIT_ARCH_I386, X32 + 0, Abi.I386),
])
def test_abi_for(arch: int, nr: int, abi: Abi) -> None:
    assert abi_for(arch, nr) is abi


def test_x32_numbers_accepted_without_the_bit() -> None:
    assert normalize_nr(Abi.X32, 0) == X32
    assert syscall_name(Abi.X32, 520) == syscall_name(Abi.X32, X32 + 520) == "execve"
    assert normalize_nr(Abi.I386, 0xFFFFFFFF0000000B) == 11
    assert normalize_nr(Abi.X86_64, X32) == X32


def test_abi_for_unknown_arch_is_an_error() -> None:
    with pytest.raises(ValueError, match="0xc00000b7"):
        abi_for(0xC00000B7, 0)


def test_x86_64_numbers_agree_with_python_ptrace() -> None:
    """An independent table: python-ptrace's x86_64 names (uapi names, as ours)."""
    theirs: dict[int, str] = ptrace_x86_64.SYSCALL_NAMES
    renamed = {283: "timerfd"}  # timerfd_create's name before Linux 2.6.25
    compared = {nr: name for nr, name in theirs.items() if nr < 512 and nr not in renamed}
    assert len(compared) > 300
    assert {nr: syscall_name(Abi.X86_64, nr) for nr in compared} == compared


def test_i386_prototypes_agree_with_python_ptrace() -> None:
    """python-ptrace names most i386 calls by kernel entry point (18 is sys_stat, the
    old stat), which is what our uapi-name -> prototype mapping must reproduce."""
    theirs: dict[int, str] = ptrace_i386.SYSCALL_NAMES
    # The uname family, where python-ptrace kept uapi names although syscall_32.tbl's
    # entries differ: 59 oldolduname is sys_olduname, 109 olduname sys_uname, 122 uname
    # sys_newuname (each takes a different struct).
    exceptions = {59, 109, 122}
    checked = 0
    for nr, entry in theirs.items():
        if nr in exceptions or entry not in SYSCALL_PROTOTYPES:
            continue
        ours = prototype_name(Abi.I386, nr)
        assert ours is not None, (nr, syscall_name(Abi.I386, nr))
        assert SYSCALL_PROTOTYPES[ours] == SYSCALL_PROTOTYPES[entry], (nr, ours, entry)
        checked += 1
    assert checked > 250
    assert prototype_name(Abi.I386, 59) == "olduname"
    assert prototype_name(Abi.I386, 109) == "uname"
    assert prototype_name(Abi.I386, 122) == "newuname"


@pytest.mark.parametrize(("abi", "name", "proto"), [
    (Abi.X86_64, "stat", "newstat"), (Abi.X32, "uname", "newuname"),
    (Abi.I386, "mmap", "old_mmap"), (Abi.I386, "mmap2", "mmap_pgoff"),
    (Abi.I386, "getuid", "getuid16"), (Abi.I386, "getuid32", "getuid"),
    (Abi.X86_64, "openat", "openat"), (Abi.X86_64, "clone3", None),
])
def test_prototype_name(abi: Abi, name: str, proto: str | None) -> None:
    nr = syscall_number(abi, name)
    assert nr is not None
    assert prototype_name(abi, nr) == proto
    assert (nr in ptrace_prototypes(abi)) == (proto is not None)


@pytest.mark.parametrize(("abi", "nr", "count"), [
    (Abi.X86_64, 0, 3), (Abi.X86_64, 9, 6), (Abi.X86_64, 15, 0), (Abi.X86_64, 158, 2),
    (Abi.X86_64, 435, 2), (Abi.X86_64, 500, 6), (Abi.I386, 90, 1), (Abi.I386, 192, 6),
    (Abi.X32, X32 + 512, 4),
])
def test_arg_count(abi: Abi, nr: int, count: int) -> None:
    assert arg_count(abi, nr) == count


def test_generator_parses_and_merges() -> None:
    header = "#define __NR_read 0\n#define __NR_write 1\n#define __NR_cachestat 451\n"
    table = gen.merge("x86_64", gen.parse_header(header))
    assert table[0] == "read" and table[451] == "cachestat" and table[469] == "file_setattr"
    x32 = gen.parse_header("#define __NR_read (__X32_SYSCALL_BIT + 0)\n")
    assert x32 == {X32: "read"}


def test_generator_refuses_to_rename_a_number() -> None:
    with pytest.raises(gen.TableError, match="cachestat"):
        gen.merge("x86_64", gen.parse_header("#define __NR_other 451\n"))
    with pytest.raises(gen.TableError):
        gen.parse_header("nothing here")


@pytest.mark.needs_uapi_headers(gen.DEFAULT_INCLUDE_DIR / "unistd_64.h")
def test_generator_check_mode(tmp_path: Path) -> None:
    assert gen.main(["--out-dir", str(tmp_path), "--check"]) == 1
    assert gen.main(["--out-dir", str(tmp_path)]) == 0
    assert gen.main(["--out-dir", str(tmp_path), "--check"]) == 0
