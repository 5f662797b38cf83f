"""python-ptrace's prototypes for the syscalls of each ABI, and argument counts.

python-ptrace's ``SYSCALL_PROTOTYPES`` is keyed by the kernel's entry point names where
those differ from the uapi names (x86_64 ``stat`` is ``sys_newstat``);
:func:`prototype_name` maps our tables (:mod:`probes.abi`) onto those keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ptrace.syscall.prototypes import SYSCALL_PROTOTYPES

from probes.abi import Abi, normalize_nr, syscalls

__all__ = ["arg_count", "prototype_name", "ptrace_prototypes"]

# Where the uapi name differs from python-ptrace's prototype key (the kernel's entry
# point, arch/x86/entry/syscalls/syscall_{64,32}.tbl).  Names not listed map to themselves.
_PROTOTYPE_ALIASES_64: dict[str, str] = {
    "stat": "newstat",
    "fstat": "newfstat",
    "lstat": "newlstat",
    "uname": "newuname",
    "umount2": "umount",
    "_sysctl": "sysctl",
}
_PROTOTYPE_ALIASES_32: dict[str, str] = {
    **_PROTOTYPE_ALIASES_64,
    "oldstat": "stat",
    "oldfstat": "fstat",
    "oldlstat": "lstat",
    "olduname": "uname",
    "oldolduname": "olduname",
    "mmap": "old_mmap",
    "mmap2": "mmap_pgoff",
    "_llseek": "llseek",
    "_newselect": "select",
    "select": "old_select",
    "umount": "oldumount",
    "umount2": "umount",
    "readdir": "old_readdir",
    "getrlimit": "old_getrlimit",
    "ugetrlimit": "getrlimit",
    "_sysctl": "sysctl",
    "clock_gettime64": "clock_gettime",
    "clock_settime64": "clock_settime",
    "clock_adjtime64": "clock_adjtime",
    "clock_getres_time64": "clock_getres",
    "clock_nanosleep_time64": "clock_nanosleep",
    "timer_gettime64": "timer_gettime",
    "timer_settime64": "timer_settime",
    "timerfd_gettime64": "timerfd_gettime",
    "timerfd_settime64": "timerfd_settime",
    "utimensat_time64": "utimensat",
    "pselect6_time64": "pselect6",
    "ppoll_time64": "ppoll",
    "recvmmsg_time64": "recvmmsg",
    "mq_timedsend_time64": "mq_timedsend",
    "mq_timedreceive_time64": "mq_timedreceive",
    "semtimedop_time64": "semtimedop",
    "rt_sigtimedwait_time64": "rt_sigtimedwait",
    "futex_time64": "futex",
    "sched_rr_get_interval_time64": "sched_rr_get_interval",
    # i386 keeps the 16-bit uid calls under the plain names; the 32-bit ones end in 32.
    **{
        name: f"{name}16"
        for name in (
            "chown", "lchown", "fchown", "getuid", "getgid", "geteuid", "getegid",
            "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
            "getresuid", "getresgid", "getgroups", "setgroups", "setfsuid", "setfsgid",
        )
    },
    **{
        f"{name}32": name
        for name in (
            "chown", "lchown", "fchown", "getuid", "getgid", "geteuid", "getegid",
            "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
            "getresuid", "getresgid", "getgroups", "setgroups", "setfsuid", "setfsgid",
        )
    },
}
_PROTOTYPE_ALIASES: dict[Abi, dict[str, str]] = {
    Abi.X86_64: _PROTOTYPE_ALIASES_64,
    Abi.X32: _PROTOTYPE_ALIASES_64,
    Abi.I386: _PROTOTYPE_ALIASES_32,
}

# Argument counts of syscalls python-ptrace has no prototype for (from the kernel's
# SYSCALL_DEFINEn).  Anything in neither table is shown with 6 arguments, as strace does
# for numbers it does not know.
_EXTRA_ARG_COUNTS: dict[str, int] = {
    "arch_prctl": 2, "rt_sigreturn": 0, "sigreturn": 0, "modify_ldt": 3, "iopl": 1,
    "vm86": 2, "vm86old": 1, "set_thread_area": 1, "get_thread_area": 1,
    "clone3": 2, "rseq": 4, "pidfd_open": 2, "pidfd_send_signal": 4, "pidfd_getfd": 3,
    "openat2": 4, "faccessat2": 4, "close_range": 3, "epoll_pwait2": 6,
    "process_madvise": 5, "process_mrelease": 2, "futex_waitv": 5,
    "set_mempolicy_home_node": 4, "memfd_secret": 1, "quotactl_fd": 4,
    "landlock_create_ruleset": 3, "landlock_add_rule": 4, "landlock_restrict_self": 2,
    "mount_setattr": 5, "move_mount": 5, "open_tree": 3, "fsopen": 2, "fsconfig": 5,
    "fsmount": 3, "fspick": 3, "io_uring_setup": 2, "io_uring_enter": 6,
    "io_uring_register": 4, "io_pgetevents": 6, "io_pgetevents_time64": 6,
    "pkey_mprotect": 4, "pkey_alloc": 2,
    "pkey_free": 1, "preadv2": 6, "pwritev2": 6, "cachestat": 4, "fchmodat2": 4,
    "map_shadow_stack": 3, "futex_wake": 4, "futex_wait": 6, "futex_requeue": 4,
    "statmount": 4, "listmount": 4, "lsm_get_self_attr": 4, "lsm_set_self_attr": 4,
    "lsm_list_modules": 3, "mseal": 3, "setxattrat": 6, "getxattrat": 6,
    "listxattrat": 5, "removexattrat": 4, "open_tree_attr": 5, "file_getattr": 5,
    "file_setattr": 5, "uretprobe": 0, "uprobe": 0, "afs_syscall": 0, "tuxcall": 0,
    "security": 0, "vserver": 0, "getpmsg": 5, "putpmsg": 5, "create_module": 0,
    "get_kernel_syms": 0, "query_module": 0, "nfsservctl": 0, "epoll_ctl_old": 0,
    "epoll_wait_old": 0,
}


def prototype_name(abi: Abi, nr: int) -> str | None:
    """python-ptrace's ``SYSCALL_PROTOTYPES`` key for this call, or None if it has none."""
    name = syscalls(abi).get(normalize_nr(abi, nr))
    if name is None:
        return None
    key = _PROTOTYPE_ALIASES[abi].get(name, name)
    return key if key in SYSCALL_PROTOTYPES else None


def _prototype_table(abi: Abi) -> Mapping[int, str]:
    out: dict[int, str] = {}
    for nr in syscalls(abi):
        key = prototype_name(abi, nr)
        if key is not None:
            out[nr] = key
    return MappingProxyType(out)


_PROTOTYPES: dict[Abi, Mapping[int, str]] = {abi: _prototype_table(abi) for abi in Abi}


def ptrace_prototypes(abi: Abi) -> Mapping[int, str]:
    """Number -> python-ptrace prototype key, for every call of ``abi`` that has one."""
    return _PROTOTYPES[abi]


def arg_count(abi: Abi, nr: int) -> int:
    """How many arguments the call takes: python-ptrace's prototype, our extra table,
    else 6 (all argument registers, as strace shows unknown calls)."""
    nr = normalize_nr(abi, nr)
    key = _PROTOTYPES[abi].get(nr)
    if key is not None:
        return len(SYSCALL_PROTOTYPES[key][1])
    name = syscalls(abi).get(nr)
    if name is not None and name in _EXTRA_ARG_COUNTS:
        return _EXTRA_ARG_COUNTS[name]
    return 6
