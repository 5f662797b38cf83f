"""strace-compatible syscall text: tables of calls and the lines strace prints for them.

Expected lines come from strace 6.1 on x86_64 (``strace -f`` of sh, python3 and coreutils
on the project's machines), with the memory the pointers referred to rebuilt in a fake
address space.  ``test_matches_strace_live`` runs strace itself on the same calls.
"""

from __future__ import annotations

import ctypes
import os
import re
import struct
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from probes.abi import X32_SYSCALL_BIT, Abi, syscall_number
from tracer.format import (
    CallText,
    format_args,
    format_call,
    format_entry,
    format_sigset,
    quote_string,
)
from tracer.format_results import format_return, format_siginfo
from tracer.syscalls.xlat import ERRNO_NAMES

PAGE = 4096


class FakeMemory:
    """A tracee address space with page granularity, as process_vm_readv sees one: a read
    succeeds when every byte is in a mapped page, and returns None otherwise."""

    def __init__(self) -> None:
        self.pages: dict[int, bytearray] = {}
        self.next = 0x10000000  # low enough for i386 pointers
        self.reads = 0

    def put(self, data: bytes, addr: int | None = None) -> int:
        if addr is None:
            addr = self.next
            self.next += (len(data) // PAGE + 2) * PAGE  # an unmapped page between blobs
        for i, byte in enumerate(data):
            a = addr + i
            self.pages.setdefault(a & ~(PAGE - 1), bytearray(PAGE))[a % PAGE] = byte
        return addr

    def __call__(self, addr: int, size: int) -> bytes | None:
        self.reads += 1
        out = bytearray()
        while size > 0:
            page = self.pages.get(addr & ~(PAGE - 1))
            if page is None:
                return None
            take = min(size, PAGE - addr % PAGE)
            out += page[addr % PAGE : addr % PAGE + take]
            addr += take
            size -= take
        return bytes(out)


@dataclass(frozen=True)
class Mem:
    """An argument that points at these bytes (placed at a fresh address)."""

    data: bytes
    addr: int | None = None


def cstr(text: str | bytes) -> Mem:
    return Mem((text.encode() if isinstance(text, str) else text) + b"\0")


def i32(*values: int) -> Mem:
    return Mem(struct.pack(f"<{len(values)}i", *values))


def stat64(mode: int, size: int = 0, rdev: int = 0) -> Mem:
    """x86_64 struct stat (144 bytes)."""
    return Mem(struct.pack("<QQQIII4xQq", 0x803, 42, 1, mode, 0, 0, rdev, size) + bytes(88))


def sigaction(handler: int, flags: int, restorer: int, mask: int) -> Mem:
    return Mem(struct.pack("<QQQQ", handler, flags, restorer, mask))


def ptr_array(mem: FakeMemory, items: Sequence[bytes], word: int = 8) -> int:
    ptrs = [mem.put(item + b"\0") for item in items] + [0]
    return mem.put(struct.pack(f"<{len(ptrs)}{'Q' if word == 8 else 'I'}", *ptrs))


def sig_mask(*signals: int) -> int:
    return sum(1 << (s - 1) for s in signals)


def place(mem: FakeMemory, args: Sequence[int | Mem]) -> list[int]:
    return [mem.put(a.data, a.addr) if isinstance(a, Mem) else a for a in args]


def line(abi: Abi, name: str, args: Sequence[int | Mem], ret: int | None,
         mem: FakeMemory | None = None) -> str:
    mem = mem if mem is not None else FakeMemory()
    nr = syscall_number(abi, name)
    assert nr is not None, name
    call = format_entry(abi, nr, place(mem, args), mem)
    return f"{call.finish(ret, mem)} = {call.result(ret)}"


AT_FDCWD = -100
NEG1 = 0xFFFFFFFFFFFFFFFF
WRITTEN = b'hello\x017\x018\x00\x7f\xff\t\n\r\x0b\x0c"\\ end' + b"A" * 40
SIGSET_ALL_BUT_RT01 = (1 << 64) - 1 - sig_mask(32, 33)

X86_64_CASES = [
    ("openat", [AT_FDCWD, cstr("/etc/ld.so.cache"), 0o2000000], 3,
     'openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3'),
    ("openat", [AT_FDCWD, cstr("/tmp/cal/x.txt"), 0o6017102, 0o640], 3,
     ('openat(AT_FDCWD, "/tmp/cal/x.txt", O_RDWR|O_CREAT|O_TRUNC|O_APPEND|O_NONBLOCK|O_SYNC'
     "|O_CLOEXEC, 0640) = 3")),
    ("openat", [AT_FDCWD, cstr("/tmp/cal"), 0o3600000], 3,
     'openat(AT_FDCWD, "/tmp/cal", O_RDONLY|O_NOFOLLOW|O_NOATIME|O_CLOEXEC|O_DIRECTORY) = 3'),
    ("openat", [AT_FDCWD, cstr("/tmp/cal/nonexist"), 0o2050701, 0o7777], 4,
     ('openat(AT_FDCWD, "/tmp/cal/nonexist", O_WRONLY|O_CREAT|O_EXCL|O_NOCTTY|O_DSYNC|O_DIRECT'
     "|O_CLOEXEC, 07777) = 4")),
    ("openat", [AT_FDCWD, cstr("/tmp/cal"), 0o22200002, 0o600], 5,
     'openat(AT_FDCWD, "/tmp/cal", O_RDWR|O_CLOEXEC|O_TMPFILE, 0600) = 5'),
    ("openat", [AT_FDCWD, cstr("/tmp/cal"), 0o12000000], 6,
     'openat(AT_FDCWD, "/tmp/cal", O_RDONLY|O_CLOEXEC|O_PATH) = 6'),
    ("openat", [AT_FDCWD, cstr("/dev/null"), 0o1101, 0o666], 3,
     'openat(AT_FDCWD, "/dev/null", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3'),
    ("openat", [AT_FDCWD, cstr("/usr/lib/locale/locale-archive"), 0o2000000], -2,
     ('openat(AT_FDCWD, "/usr/lib/locale/locale-archive", O_RDONLY|O_CLOEXEC) = -1 ENOENT '
     "(No such file or directory)")),
    ("openat", [AT_FDCWD, cstr("/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache"), 0], 3,
     'openat(AT_FDCWD, "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache", O_RDONLY) = 3'),
    ("write", [3, Mem(WRITTEN), 63], 63,
     r'write(3, "hello\0017\18\0\177\377\t\n\r\v\f\"\\ endAAAAAAAAA"..., 63) = 63'),
    ("write", [2, Mem(b""), 0], 0, 'write(2, "", 0) = 0'),
    ("write", [1, Mem(b"hi\n"), 3], 3, r'write(1, "hi\n", 3) = 3'),
    ("read", [3, Mem(WRITTEN[:10] + bytes(90)), 10], 10, r'read(3, "hello\0017\18\0", 10) = 10'),
    ("read", [3, Mem(WRITTEN[10:] + bytes(47)), 100], 53,
     r'read(3, "\177\377\t\n\r\v\f\"\\ endAAAAAAAAAAAAAAAAAAA"..., 100) = 53'),
    ("read", [3, Mem(bytes(4096)), 4096], 0, 'read(3, "", 4096) = 0'),
    ("read", [99, 0, 10], -9, "read(99, NULL, 10) = -1 EBADF (Bad file descriptor)"),
    ("read", [0, 0x7FFC00001000, 10], -11,
     "read(0, 0x7ffc00001000, 10) = -1 EAGAIN (Resource temporarily unavailable)"),
    ("pread64", [3, Mem(b"llo\x017"), 5, 2], 5, r'pread64(3, "llo\0017", 5, 2) = 5'),
    ("lseek", [3, 0, 0], 0, "lseek(3, 0, SEEK_SET) = 0"),
    ("close", [3], 0, "close(3) = 0"),
    ("access", [cstr("/etc/ld.so.preload"), 4], -2,
     'access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory)'),
    ("access", [cstr("/tmp"), 7], 0, 'access("/tmp", R_OK|W_OK|X_OK) = 0'),
    ("access", [cstr("/tmp"), 0], 0, 'access("/tmp", F_OK) = 0'),
    ("faccessat", [AT_FDCWD, cstr("/tmp"), 7, 0x200], 0,
     'faccessat(AT_FDCWD, "/tmp", R_OK|W_OK|X_OK) = 0'),
    ("getcwd", [Mem(b"/tmp/cal\0"), 1024], 9, 'getcwd("/tmp/cal", 1024) = 9'),
    ("readlink", [cstr("/proc/self/exe"), Mem(b"/root/.pyenv/versions/3.11.7/bin/python3.11"),
                  4096], 43,
     'readlink("/proc/self/exe", "/root/.pyenv/versions/3.11.7/bin"..., 4096) = 43'),
    ("readlink", [cstr("/proc/self/exe"), 0, 10], -14,
     'readlink("/proc/self/exe", NULL, 10) = -1 EFAULT (Bad address)'),
    ("readlink", [cstr("/proc/self/exe"), 1, 10], -14,
     'readlink("/proc/self/exe", 0x1, 10) = -1 EFAULT (Bad address)'),
    ("pipe2", [i32(7, 8), 0o2000000], 0, "pipe2([7, 8], O_CLOEXEC) = 0"),
    ("dup2", [7, 30], 30, "dup2(7, 30) = 30"),
    ("dup3", [7, 31, 0o2000000], 31, "dup3(7, 31, O_CLOEXEC) = 31"),
    ("fcntl", [7, 1030, 0], 9, "fcntl(7, F_DUPFD_CLOEXEC, 0) = 9"),
    ("fcntl", [1, 0, 10], 11, "fcntl(1, F_DUPFD, 10) = 11"),
    ("fcntl", [7, 3], 0, "fcntl(7, F_GETFL) = 0 (flags O_RDONLY)"),
    ("fcntl", [12, 3], 0x8000, "fcntl(12, F_GETFL) = 0x8000 (flags O_RDONLY|O_LARGEFILE)"),
    ("fcntl", [7, 4, 0o4002], 0, "fcntl(7, F_SETFL, O_RDWR|O_NONBLOCK) = 0"),
    ("fcntl", [7, 1], 1, "fcntl(7, F_GETFD) = 0x1 (flags FD_CLOEXEC)"),
    ("fcntl", [11, 2, 1], 0, "fcntl(11, F_SETFD, FD_CLOEXEC) = 0"),
    ("fcntl", [7, 1031, 8192], 8192, "fcntl(7, F_SETPIPE_SZ, 8192) = 8192"),
    ("fcntl", [7, 99, 5], -22, "fcntl(7, 0x63 /* F_??? */, 0x5) = -1 EINVAL (Invalid argument)"),
    ("ioctl", [1, 0x5401, 0], -25, "ioctl(1, TCGETS, NULL) = -1 ENOTTY (Inappropriate ioctl for device)"),
    ("ioctl", [1, 0x12345678, 0], -25,
     "ioctl(1, _IOC(_IOC_NONE, 0x56, 0x78, 0x1234), 0) = -1 ENOTTY (Inappropriate ioctl for device)"),
    ("newfstatat", [3, cstr(""), stat64(0o100644, 34547), 0x1000], 0,
     'newfstatat(3, "", {st_mode=S_IFREG|0644, st_size=34547, ...}, AT_EMPTY_PATH) = 0'),
    ("newfstatat", [AT_FDCWD, cstr("/tmp"), stat64(0o41777, 4096), 0], 0,
     'newfstatat(AT_FDCWD, "/tmp", {st_mode=S_IFDIR|S_ISVTX|0777, st_size=4096, ...}, 0) = 0'),
    ("newfstatat", [AT_FDCWD, cstr("/root/.cargo/bin/cat"), 0x7FFCF9F758C0, 0], -2,
     ('newfstatat(AT_FDCWD, "/root/.cargo/bin/cat", 0x7ffcf9f758c0, 0) = -1 ENOENT '
     "(No such file or directory)")),
    ("fstat", [1, stat64(0o20620, rdev=0x8800)], 0,
     "fstat(1, {st_mode=S_IFCHR|0620, st_rdev=makedev(0x88, 0), ...}) = 0"),
    ("mmap", [0, 8192, 3, 0x22, NEG1, 0], 0x7F1099964000,
     "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f1099964000"),
    ("mmap", [0x7F109979F000, 1400832, 5, 0x812, 3, 0x26000], 0x7F109979F000,
     ("mmap(0x7f109979f000, 1400832, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, "
     "3, 0x26000) = 0x7f109979f000")),
    ("mmap", [0, 4096, 0, 0x4022, NEG1, 0], 0x7F9BF167C000,
     "mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0) = 0x7f9bf167c000"),
    ("mmap", [0, 4096, 0x1000007, 0x100021, NEG1, 4096], 0,
     ("mmap(NULL, 4096, PROT_READ|PROT_WRITE|PROT_EXEC|PROT_GROWSDOWN, "
     "MAP_SHARED|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0x1000) = 0")),
    ("mprotect", [0, 0, 3], 0, "mprotect(NULL, 0, PROT_READ|PROT_WRITE) = 0"),
    ("munmap", [0x7F109995B000, 34547], 0, "munmap(0x7f109995b000, 34547) = 0"),
    ("brk", [0], 0x55F4A1CA6000, "brk(NULL) = 0x55f4a1ca6000"),
    ("brk", [0x56391A10E000], 0x56391A10E000, "brk(0x56391a10e000) = 0x56391a10e000"),
    ("mremap", [0, 4096, 8192, 3, 0], -22,
     "mremap(NULL, 4096, 8192, MREMAP_MAYMOVE|MREMAP_FIXED, NULL) = -1 EINVAL (Invalid argument)"),
    ("madvise", [0x7F9BEFEC5000, 8368128, 4], 0,
     "madvise(0x7f9befec5000, 8368128, MADV_DONTNEED) = 0"),
    ("rt_sigaction", [10, sigaction(0x7F9BF12D4D00, 0x0C000000, 0x7F9BF0E5A050, 0),
                      sigaction(0, 0, 0, 0), 8], 0,
     ("rt_sigaction(SIGUSR1, {sa_handler=0x7f9bf12d4d00, sa_mask=[], sa_flags=SA_RESTORER|SA_ONSTACK, "
     "sa_restorer=0x7f9bf0e5a050}, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0")),
    ("rt_sigaction", [17, sigaction(0x55F588EDFDC0, 0x04000000, 0x7F9EEF098050,
                                    SIGSET_ALL_BUT_RT01), 0, 8], 0,
     ("rt_sigaction(SIGCHLD, {sa_handler=0x55f588edfdc0, sa_mask=~[RTMIN RT_1], "
     "sa_flags=SA_RESTORER, sa_restorer=0x7f9eef098050}, NULL, 8) = 0")),
    ("rt_sigaction", [12, sigaction(1, 0x0C000000, 0x7F9BF0E5A050, 0), 0, 8], 0,
     ("rt_sigaction(SIGUSR2, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=SA_RESTORER|SA_ONSTACK, "
     "sa_restorer=0x7f9bf0e5a050}, NULL, 8) = 0")),
    ("rt_sigprocmask", [0, Mem(struct.pack("<Q", sig_mask(1, 12, 40))), Mem(bytes(8)), 8], 0,
     "rt_sigprocmask(SIG_BLOCK, [HUP USR2 RT_8], [], 8) = 0"),
    ("rt_sigprocmask", [0, Mem(struct.pack("<Q", (1 << 64) - 1)),
                        Mem(struct.pack("<Q", sig_mask(1, 12, 40))), 8], 0,
     "rt_sigprocmask(SIG_BLOCK, ~[], [HUP USR2 RT_8], 8) = 0"),
    ("rt_sigprocmask", [2, Mem(bytes(8)),
                        Mem(struct.pack("<Q", (1 << 64) - 1 - sig_mask(9, 19, 32, 33))), 8], 0,
     "rt_sigprocmask(SIG_SETMASK, [], ~[KILL STOP RTMIN RT_1], 8) = 0"),
    ("rt_sigsuspend", [Mem(bytes(8)), 8], -514,
     "rt_sigsuspend([], 8) = ? ERESTARTNOHAND (To be restarted if no handler)"),
    ("kill", [8526, 0], 0, "kill(8526, 0) = 0"),
    ("kill", [8526, 10], 0, "kill(8526, SIGUSR1) = 0"),
    ("kill", [5534, 15], 0, "kill(5534, SIGTERM) = 0"),
    ("kill", [5533, 34], 0, "kill(5533, SIGRT_2) = 0"),
    ("kill", [5541, 64], 0, "kill(5541, SIGRT_32) = 0"),
    ("kill", [8526, 99], -22, "kill(8526, 99) = -1 EINVAL (Invalid argument)"),
    ("umask", [0o22], 0o22, "umask(022) = 022"),
    ("mkdir", [cstr("/tmp/cal/d"), 0o755], 0, 'mkdir("/tmp/cal/d", 0755) = 0'),
    ("rmdir", [cstr("/tmp/cal/d")], 0, 'rmdir("/tmp/cal/d") = 0'),
    ("unlinkat", [AT_FDCWD, cstr("/tmp/cal/d"), 0x200], -2,
     'unlinkat(AT_FDCWD, "/tmp/cal/d", AT_REMOVEDIR) = -1 ENOENT (No such file or directory)'),
    ("chmod", [cstr("/tmp/cal/x.txt"), 0o4755], 0, 'chmod("/tmp/cal/x.txt", 04755) = 0'),
    ("rename", [cstr("/tmp/cal/x.txt"), cstr("/tmp/cal/y.txt")], 0,
     'rename("/tmp/cal/x.txt", "/tmp/cal/y.txt") = 0'),
    ("getrandom", [Mem(bytes.fromhex("43ca178f")), 4, 0], 4,
     r'getrandom("\x43\xca\x17\x8f", 4, 0) = 4'),
    ("getrandom", [Mem(bytes.fromhex("a6c08a57cd6a9223")), 8, 1], 8,
     r'getrandom("\xa6\xc0\x8a\x57\xcd\x6a\x92\x23", 8, GRND_NONBLOCK) = 8'),
    ("nanosleep", [0, 0], 0, "nanosleep(NULL, NULL) = 0"),
    ("clock_nanosleep", [1, 1, Mem(struct.pack("<qq", 622, 765249219)), 0], 0,
     "clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, {tv_sec=622, tv_nsec=765249219}, NULL) = 0"),
    ("socket", [2, 0x80001, 0], 9, "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 9"),
    ("socket", [1, 0x80802, 0], 9, "socket(AF_UNIX, SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 9"),
    ("socket", [10, 0x80002, 17], 11, "socket(AF_INET6, SOCK_DGRAM|SOCK_CLOEXEC, IPPROTO_UDP) = 11"),
    ("socket", [16, 0x80003, 0], 13, "socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) = 13"),
    ("getsockname", [9, Mem(struct.pack("<HH4s8x", 2, 0, bytes(4))), i32(16)], 0,
     ('getsockname(9, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("0.0.0.0")}, '
     "[16]) = 0")),
    ("getpeername", [9, 0x7FFD62FD1450, i32(16)], -107,
     "getpeername(9, 0x7ffd62fd1450, [16]) = -1 ENOTCONN (Transport endpoint is not connected)"),
    ("getsockname", [13, Mem(struct.pack("<HHII", 16, 0, 0, 0)), i32(12)], 0,
     "getsockname(13, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, [12]) = 0"),
    ("connect", [9, Mem(struct.pack("<H", 1) + b"/tmp/cal/nosock\0"), 18], -2,
     ('connect(9, {sa_family=AF_UNIX, sun_path="/tmp/cal/nosock"}, 18) = -1 ENOENT '
     "(No such file or directory)")),
    ("sendto", [11, Mem(b"x"), 1, 0,
                Mem(struct.pack("<H", 10) + (9).to_bytes(2, "big") + bytes(4)
                    + bytes(15) + b"\x01" + bytes(4)), 28], 1,
     ('sendto(11, "x", 1, 0, {sa_family=AF_INET6, sin6_port=htons(9), sin6_flowinfo=htonl(0), '
     'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 1')),
    ("bind", [12, Mem(struct.pack("<H", 2) + bytes(2) + bytes([127, 0, 0, 1]) + bytes(8)), 16], 0,
     'bind(12, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0'),
    ("recvfrom", [12, Mem(b"abc"), 100, 0,
                  Mem(struct.pack("<H", 2) + (40038).to_bytes(2, "big") + bytes([127, 0, 0, 1])
                      + bytes(8)), i32(16)], 3,
     ('recvfrom(12, "abc", 100, 0, {sa_family=AF_INET, sin_port=htons(40038), '
     'sin_addr=inet_addr("127.0.0.1")}, [16]) = 3')),
    ("clone", [0x1200011, 0, 0, 0x7F9EEF059A10, 0], 5534,
     ("clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
     "child_tidptr=0x7f9eef059a10) = 5534")),
    ("clone3", [0, 0], -22, "clone3(NULL, 0) = -1 EINVAL (Invalid argument)"),
    ("futex", [0x7F08CA525A4C, 0x81, 0x7FFFFFFF], 0,
     "futex(0x7f08ca525a4c, FUTEX_WAKE_PRIVATE, 2147483647) = 0"),
    ("futex", [0x562E28DCA670, 0x189, 0, 0, 0, 0xFFFFFFFF], 0,
     ("futex(0x562e28dca670, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, "
     "FUTEX_BITSET_MATCH_ANY) = 0")),
    ("futex", [0x7F9BF154E6F0, 0x89, 0, Mem(struct.pack("<qq", 622, 771267148)), 0,
               0xFFFFFFFF], 0,
     ("futex(0x7f9bf154e6f0, FUTEX_WAIT_BITSET_PRIVATE, 0, {tv_sec=622, tv_nsec=771267148}, "
     "FUTEX_BITSET_MATCH_ANY) = 0")),
    ("futex", [0, 0, 1, 0], -11, ("futex(NULL, FUTEX_WAIT, 1, NULL) = -1 EAGAIN "
     "(Resource temporarily unavailable)")),
    ("futex", [0, 3, 1, 0, 0], 0, "futex(NULL, FUTEX_REQUEUE, 1, 0, NULL) = 0"),
    ("wait4", [NEG1, i32(15), 1, 0], 5534,
     "wait4(-1, [{WIFSIGNALED(s) && WTERMSIG(s) == SIGTERM}], WNOHANG, NULL) = 5534"),
    ("wait4", [NEG1, i32(0), 0, 0], 4044,
     "wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 4044"),
    ("wait4", [NEG1, 0x7FFFA5FABB8C, 1, 0], -10,
     "wait4(-1, 0x7fffa5fabb8c, WNOHANG, NULL) = -1 ECHILD (No child processes)"),
    ("wait4", [NEG1, 0x7FFFA5FABB8C, 1, 0], 0, "wait4(-1, 0x7fffa5fabb8c, WNOHANG, NULL) = 0"),
    ("wait4", [NEG1, 0, 0x4000000B, 0], -10,
     "wait4(-1, NULL, WNOHANG|WSTOPPED|WCONTINUED|__WALL, NULL) = -1 ECHILD (No child processes)"),
    ("prlimit64", [0, 3, 0, Mem(struct.pack("<QQ", 8192 * 1024, (1 << 64) - 1))], 0,
     "prlimit64(0, RLIMIT_STACK, NULL, {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}) = 0"),
    ("prlimit64", [0, 7, 0, 0], 0, "prlimit64(0, RLIMIT_NOFILE, NULL, NULL) = 0"),
    ("setrlimit", [7, 0], 0, "setrlimit(RLIMIT_NOFILE, NULL) = 0"),
    ("arch_prctl", [0x1002, 0x7F1099776740], 0, "arch_prctl(ARCH_SET_FS, 0x7f1099776740) = 0"),
    ("arch_prctl", [0x1003, 0], 0, "arch_prctl(ARCH_GET_FS, NULL) = 0"),
    ("set_tid_address", [0x7F1099776A10], 4038, "set_tid_address(0x7f1099776a10) = 4038"),
    ("set_robust_list", [0x7F1099776A20, 24], 0, "set_robust_list(0x7f1099776a20, 24) = 0"),
    ("rseq", [0x7F1099777060, 0x20, 0, 0x53053053], 0,
     "rseq(0x7f1099777060, 0x20, 0, 0x53053053) = 0"),
    ("close_range", [15, 2147483647, 0], 0, "close_range(15, 2147483647, 0) = 0"),
    ("exit_group", [0], None, "exit_group(0) = ?"),
    ("exit", [0], None, "exit(0) = ?"),
    ("getpid", [], 4043, "getpid() = 4043"),
    ("getuid", [], 0, "getuid() = 0"),
    ("vfork", [], 4044, "vfork() = 4044"),
    ("rt_sigreturn", [], 0, "rt_sigreturn() = 0"),
    ("getdents64", [3, Mem(b"".join(struct.pack("<QqHB", 1, 0, 24, 4) + b"ab\0".ljust(5, b"\0")
                                   for _ in range(8))), 32768], 192,
     "getdents64(3, 0x10000000 /* 8 entries */, 32768) = 192"),
    ("getdents64", [3, 0x555555585790, 32768], 0,
     "getdents64(3, 0x555555585790 /* 0 entries */, 32768) = 0"),
    ("fadvise64", [3, 0, 0, 2], 0, "fadvise64(3, 0, 0, POSIX_FADV_SEQUENTIAL) = 0"),
    ("getgroups", [0, 0x555555564FC4], 0, "getgroups(0, []) = 0"),
    ("getgroups", [0, 0], 0, "getgroups(0, NULL) = 0"),
    ("getgroups", [32, i32(0, 27)], 2, "getgroups(32, [0, 27]) = 2"),
    ("statx", [AT_FDCWD, cstr("/nonexist"), 0x900, 0x25E, 0x7FFFFFFFE160], -2,
     ('statx(AT_FDCWD, "/nonexist", AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW|AT_NO_AUTOMOUNT, '
      "STATX_MODE|STATX_NLINK|STATX_UID|STATX_GID|STATX_MTIME|STATX_SIZE, 0x7fffffffe160) = -1 "
      "ENOENT (No such file or directory)")),
    ("statx", [AT_FDCWD, cstr("/etc/hostname"), 0x900, 0x25E,
               Mem(struct.pack("<I4xQ12xH10xQ", 0x17FF, 0, 0o100755, 3).ljust(256, b"\0"))], 0,
     ('statx(AT_FDCWD, "/etc/hostname", AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW|'
      "AT_NO_AUTOMOUNT, STATX_MODE|STATX_NLINK|STATX_UID|STATX_GID|STATX_MTIME|STATX_SIZE, "
      "{stx_mask=STATX_BASIC_STATS|STATX_MNT_ID, stx_attributes=0, stx_mode=S_IFREG|0755, "
      "stx_size=3, ...}) = 0")),
    ("clock_nanosleep", [0, 0, Mem(struct.pack("<qq", 0, 10000000)), 0x7FFFFFFFE000], 0,
     ("clock_nanosleep(CLOCK_REALTIME, 0, {tv_sec=0, tv_nsec=10000000}, 0x7fffffffe000) = 0")),
    ("nanosleep", [Mem(struct.pack("<qq", 5, 0)), Mem(struct.pack("<qq", 4, 500))], -516,
     ("nanosleep({tv_sec=5, tv_nsec=0}, {tv_sec=4, tv_nsec=500}) = ? ERESTART_RESTARTBLOCK "
      "(Interrupted by signal)")),
    ("lgetxattr", [cstr("/etc/hostname"), cstr("security.selinux"), 0x555555583640, 255], -61,
     ('lgetxattr("/etc/hostname", "security.selinux", 0x555555583640, 255) = -1 ENODATA '
      "(No data available)")),
    ("getxattr", [cstr("/etc/hostname"), cstr("system.posix_acl_access"), 0, 0], -61,
     ('getxattr("/etc/hostname", "system.posix_acl_access", NULL, 0) = -1 ENODATA '
      "(No data available)")),
    ("statfs", [cstr("/sys/fs/selinux"), 0x7FFFFFFFE650], -2,
     ('statfs("/sys/fs/selinux", 0x7fffffffe650) = -1 ENOENT (No such file or directory)')),
    ("uname", [Mem(b"Linux".ljust(65, b"\0") + b"box".ljust(65, b"\0") * 4)], 0,
     'uname({sysname="Linux", nodename="box", ...}) = 0'),
]


@pytest.mark.parametrize(("name", "args", "ret", "expected"), X86_64_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(X86_64_CASES)])
def test_x86_64_lines_match_strace(name: str, args: list[int | Mem], ret: int | None,
                                   expected: str) -> None:
    assert line(Abi.X86_64, name, args, ret) == expected


def test_execve_argv_and_environment_count() -> None:
    mem = FakeMemory()
    argv = ptr_array(mem, [b"sh", b"-c", b"cat /etc/hostname > /dev/null; ls /nonexist"])
    env = ptr_array(mem, [b"A=%d" % i for i in range(35)])
    text = line(Abi.X86_64, "execve", [cstr("/usr/bin/sh"), argv, env], 0, mem)
    assert text == (f'execve("/usr/bin/sh", ["sh", "-c", "cat /etc/hostname > /dev/null; l"...], '
                    f"{env:#x} /* 35 vars */) = 0")
    one = ptr_array(mem, [b"X=1"])
    assert line(Abi.X86_64, "execve", [cstr("/bin/true"), ptr_array(mem, [b"/bin/true"]), one],
                -2, mem).endswith(f'["/bin/true"], {one:#x} /* 1 var */) = -1 ENOENT '
                                  "(No such file or directory)")


def test_argv_longer_than_strlen_is_cut() -> None:
    mem = FakeMemory()
    argv = ptr_array(mem, [b"a"] * 40)
    text = line(Abi.X86_64, "execve", [cstr("/x"), argv, 0], 0, mem)
    assert text == 'execve("/x", [' + '"a", ' * 32 + "...], NULL) = 0"


def test_argv_in_unreadable_memory_prints_its_address() -> None:
    mem = FakeMemory()
    page = mem.put(bytes(PAGE))
    # two pointers at the very end of a mapping, no NULL terminator before the hole
    argv = mem.put(struct.pack("<2Q", mem.put(b"a\0"), mem.put(b"b\0")), page + PAGE - 16)
    assert format_call(Abi.X86_64, 59, [mem.put(b"/x\0"), argv, 0xDEAD000], mem, -14) == (
        f'execve("/x", {argv:#x}, 0xdead000)')


def test_clone3_reads_parent_tid_at_exit() -> None:
    mem = FakeMemory()
    tid_addr = mem.put(bytes(4))
    args = struct.pack("<11Q", 0x3D0F00, 0, tid_addr, tid_addr, 0, 0x7F9BEFEC5000, 0x7FFF80,
                       0x7F9BF06C56C0, 0, 0, 0)
    call = format_entry(Abi.X86_64, 435, [mem.put(args), 88], mem)
    head = ("clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM"
            "|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, "
            f"child_tid={tid_addr:#x}, parent_tid={tid_addr:#x}, exit_signal=0, "
            "stack=0x7f9befec5000, stack_size=0x7fff80, tls=0x7f9bf06c56c0}")
    assert call.entry == head
    mem.put(struct.pack("<i", 8567), tid_addr)  # the kernel writes the new tid
    assert call.finish(8567, mem) == head + " => {parent_tid=[8567]}, 88)"


def test_clone_thread_flags_and_parent_tid() -> None:
    mem = FakeMemory()
    ptid = mem.put(struct.pack("<i", 3401))
    flags = 0x3D0F00
    text = line(Abi.X86_64, "clone", [flags, 0x7F00DEAD0000, ptid, 0x7F00BEEF0000, 0x7F00CAFE0000],
                3401, mem)
    assert text == ("clone(child_stack=0x7f00dead0000, flags=CLONE_VM|CLONE_FS|CLONE_FILES"
                    "|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID"
                    "|CLONE_CHILD_CLEARTID, parent_tid=[3401], tls=0x7f00cafe0000, "
                    "child_tidptr=0x7f00beef0000) = 3401")


def test_socklen_changed_by_the_call() -> None:
    mem = FakeMemory()
    addr = mem.put(bytes(110))
    slen = mem.put(struct.pack("<i", 110))
    call = format_entry(Abi.X86_64, 43, [3, addr, slen], mem)
    assert call.entry == "accept(3, "
    mem.put(struct.pack("<H", 1), addr)
    mem.put(struct.pack("<i", 2), slen)
    assert call.finish(4, mem) == "accept(3, {sa_family=AF_UNIX}, [110 => 2])"


# --- other ABIs ---------------------------------------------------------------------------

I386_CASES = [
    ("open", [cstr("/etc/passwd"), 0, 0], 3, 'open("/etc/passwd", O_RDONLY) = 3'),
    ("getpid", [], 20, "getpid() = 20"),
    ("exit", [0], None, "exit(0) = ?"),
    ("write", [1, Mem(b"hi\n"), 3], 3, r'write(1, "hi\n", 3) = 3'),
    ("read", [0xFFFFFFFF, 0, 10], -9, "read(-1, NULL, 10) = -1 EBADF (Bad file descriptor)"),
    ("mmap2", [0, 8192, 3, 0x22, 0xFFFFFFFF, 0], 0xF7F00000,
     "mmap2(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0xf7f00000"),
    ("mmap2", [0xF7D6C000, 1212416, 5, 0x812, 3, 0x22], 0xF7D6C000,
     ("mmap2(0xf7d6c000, 1212416, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, "
     "0x22000) = 0xf7d6c000")),
    ("_llseek", [3, 1, 0, Mem(struct.pack("<q", 1 << 32)), 0], 0,
     "_llseek(3, 4294967296, [4294967296], SEEK_SET) = 0"),
    ("fstat64", [3, Mem(struct.pack("<Q4xIIIIIQ4xq", 0x803, 7, 0o100644, 1, 0, 0, 0, 1234)
                        + bytes(48))], 0,
     "fstat64(3, {st_mode=S_IFREG|0644, st_size=1234, ...}) = 0"),
    ("rt_sigaction", [2, Mem(struct.pack("<IIIQ", 1, 0, 0, 0)), 0, 8], 0,
     "rt_sigaction(SIGINT, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=0}, NULL, 8) = 0"),
    ("nanosleep", [Mem(struct.pack("<ii", 1, 500)), 0], 0,
     "nanosleep({tv_sec=1, tv_nsec=500}, NULL) = 0"),
    ("clock_nanosleep_time64", [0, 0, Mem(struct.pack("<qq", 1, 500)), 0], 0,
     "clock_nanosleep_time64(CLOCK_REALTIME, 0, {tv_sec=1, tv_nsec=500}, NULL) = 0"),
    ("getuid32", [], 1000, "getuid32() = 1000"),
    ("exit_group", [0xFFFFFFFF], None, "exit_group(-1) = ?"),
    ("brk", [0], 0x5655A000, "brk(NULL) = 0x5655a000"),
]


@pytest.mark.parametrize(("name", "args", "ret", "expected"), I386_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(I386_CASES)])
def test_i386_lines(name: str, args: list[int | Mem], ret: int | None, expected: str) -> None:
    assert line(Abi.I386, name, args, ret) == expected


def test_i386_uses_only_the_low_32_bits() -> None:
    mem = FakeMemory()
    path = mem.put(b"/etc/passwd\0")
    text = line(Abi.I386, "open", [0xFFFFFFFF00000000 | path, 0, 0], 0xFFFFFFFFFFFFFFFE, mem)
    assert text == 'open("/etc/passwd", O_RDONLY) = -1 ENOENT (No such file or directory)'
    assert format_return(0xFFFFFFFE, abi=Abi.I386) == "-1 ENOENT (No such file or directory)"
    assert format_return(0xFFFFFFFE, abi=Abi.X86_64) == "4294967294"


def test_i386_argv_pointers_are_32_bit() -> None:
    mem = FakeMemory()
    argv = ptr_array(mem, [b"ls", b"-l"], word=4)
    env = ptr_array(mem, [b"A=1", b"B=2"], word=4)
    assert line(Abi.I386, "execve", [cstr("/bin/ls"), argv, env], 0, mem) == (
        f'execve("/bin/ls", ["ls", "-l"], {env:#x} /* 2 vars */) = 0')


X32_CASES = [
    (X32_SYSCALL_BIT + 0, [0, 0, 0], -38, "read(0, NULL, 0) = -1 ENOSYS (Function not implemented)"),
    (X32_SYSCALL_BIT + 500, [1, 0x7F7467955548, 2, 3, 4, 6], -38,
     ("syscall_0x400001f4(0x1, 0x7f7467955548, 0x2, 0x3, 0x4, 0x6) = -1 ENOSYS "
     "(Function not implemented)")),
    (X32_SYSCALL_BIT + 520, [0, 0, 0], -14, "execve(NULL, NULL, NULL) = -1 EFAULT (Bad address)"),
    (520, [0, 0, 0], -14, "execve(NULL, NULL, NULL) = -1 EFAULT (Bad address)"),  # bit cleared
]


@pytest.mark.parametrize(("nr", "args", "ret", "expected"), X32_CASES)
def test_x32_lines(nr: int, args: list[int], ret: int, expected: str) -> None:
    mem = FakeMemory()
    assert format_call(Abi.X32, nr, args, mem, ret) + f" = {format_return(ret, abi=Abi.X32)}" \
        == expected


def test_same_number_different_abi() -> None:
    mem = FakeMemory()
    path = mem.put(b"/etc/hosts\0")
    assert format_call(Abi.I386, 5, [path, 0, 0], mem, 3) == 'open("/etc/hosts", O_RDONLY)'
    assert format_call(Abi.X86_64, 5, [path, 0, 0], mem, 0).startswith("fstat(1010, ") is False
    assert format_call(Abi.X86_64, 5, [3, 0, 0], mem, -14) == "fstat(3, NULL)"


# --- unknown and generic calls ------------------------------------------------------------


def test_unknown_number_prints_six_hex_arguments_like_strace() -> None:
    mem = FakeMemory()
    assert (format_call(Abi.X86_64, 500, [1, 2, 3, 4, 5, 6], mem, -38)
            == "syscall_0x1f4(0x1, 0x2, 0x3, 0x4, 0x5, 0x6)")
    assert format_return(-38) == "-1 ENOSYS (Function not implemented)"
    assert format_call(Abi.X86_64, 500, [0] * 6, mem, -38) == "syscall_0x1f4(0, 0, 0, 0, 0, 0)"


def test_generic_fallback_uses_python_ptrace_prototypes() -> None:
    mem = FakeMemory()
    path = mem.put(b"/mnt\0")
    # chroot has no decoder of ours: python-ptrace says (const char *filename).
    assert format_call(Abi.X86_64, 161, [path], mem, -1) == 'chroot("/mnt")'
    # sethostname(char *name, int len): a pointer and an int.
    assert format_call(Abi.X86_64, 170, [path, 4], mem, -1) == f"sethostname({path:#x}, 4)"
    # A syscall newer than python-ptrace: our count, hex values.
    assert format_call(Abi.X86_64, 462, [0x1000, 4096, 0], mem, 0) == "mseal(0x1000, 0x1000, 0)"


# --- two phases ------------------------------------------------------------------------


def test_input_strings_are_read_at_entry_outputs_at_exit() -> None:
    mem = FakeMemory()
    path = mem.put(b"/etc/first\0")
    call = format_entry(Abi.X86_64, 257, [AT_FDCWD, path, 0, 0], mem)
    mem.put(b"/etc/other\0", path)  # another thread rewrites the path: strace shows the old
    assert call.finish(3, mem) == 'openat(AT_FDCWD, "/etc/first", O_RDONLY)'

    buf = mem.put(bytes(16))
    call = format_entry(Abi.X86_64, 0, [3, buf, 16], mem)
    mem.put(b"data", buf)  # the kernel fills the buffer during the call
    assert call.finish(4, mem) == 'read(3, "data", 16)'


ENTRY_CASES = [
    ("wait4", [NEG1, 0x7FFC0000, 0, 0], "wait4(-1, "),
    ("kill", [5534, 15], "kill(5534, SIGTERM"),
    ("vfork", [], "vfork("),
    ("read", [3, 0x1000, 10], "read(3, "),
    ("getcwd", [0x1000, 100], "getcwd("),
    ("rt_sigprocmask", [2, Mem(struct.pack("<Q", sig_mask(1, 12, 40))), 0, 8],
     "rt_sigprocmask(SIG_SETMASK, [HUP USR2 RT_8], "),
    ("rseq", [0x7F9BF06C5FE0, 0x20, 0, 0x53053053], "rseq(0x7f9bf06c5fe0, 0x20, 0, 0x53053053"),
    ("futex", [0x562E28DCA670, 0x189, 0, 0, 0, 0xFFFFFFFF],
     ("futex(0x562e28dca670, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, "
     "FUTEX_BITSET_MATCH_ANY")),
    ("execve", [cstr("/bin/true"), 0, 0], 'execve("/bin/true", NULL, NULL'),
]


@pytest.mark.parametrize(("name", "args", "entry"), ENTRY_CASES)
def test_entry_text_is_what_strace_prints_before_unfinished(
        name: str, args: list[int | Mem], entry: str) -> None:
    mem = FakeMemory()
    nr = syscall_number(Abi.X86_64, name)
    assert nr is not None
    call = format_entry(Abi.X86_64, nr, place(mem, args), mem)
    assert call.entry == entry
    for ret in (0, -14, None):
        assert call.finish(ret, mem).startswith(call.entry)


def test_call_that_never_returns() -> None:
    mem = FakeMemory()
    read = format_entry(Abi.X86_64, 0, [0, 0x1000, 10], mem)
    assert read.finish(None, mem) == "read(0,  <unfinished ...>)"
    assert read.result(None) == "?"
    group = format_entry(Abi.X86_64, 231, [3], mem)
    assert group.complete_at_entry and group.finish(None, mem) == "exit_group(3)"


def test_format_args_phases() -> None:
    mem = FakeMemory()
    buf = mem.put(b"abc")
    assert format_args(Abi.X86_64, 0, [3, buf, 3], mem) == "3, 3"  # outputs not yet known
    assert format_args(Abi.X86_64, 0, [3, buf, 3], mem, ret=3) == '3, "abc", 3'


# --- memory edge cases -----------------------------------------------------------------


def test_unreadable_pointer_prints_its_address() -> None:
    mem = FakeMemory()
    assert format_call(Abi.X86_64, 2, [0xDEAD000, 0, 0], mem, -14) == "open(0xdead000, O_RDONLY)"
    assert format_call(Abi.X86_64, 1, [1, 0xDEAD000, 5], mem, -14) == "write(1, 0xdead000, 5)"


def test_string_at_the_end_of_a_mapping_is_read() -> None:
    mem = FakeMemory()
    end = mem.put(bytes(PAGE))  # one page mapped, the next one not
    path = mem.put(b"/tmp/x\0", end + PAGE - 7)
    assert format_call(Abi.X86_64, 83, [path, 0o700], mem, 0) == 'mkdir("/tmp/x", 0700)'
    unterminated = mem.put(b"/tmp/xy", end + PAGE - 7)
    assert format_call(Abi.X86_64, 83, [unterminated, 0o700], mem, -14) == \
        f"mkdir({unterminated:#x}, 0700)"


def test_long_path_is_not_cut_but_long_string_is() -> None:
    mem = FakeMemory()
    long_path = b"/" + b"d" * 300
    assert format_call(Abi.X86_64, 84, [mem.put(long_path + b"\0")], mem, -2) == \
        f'rmdir("{long_path.decode()}")'
    arg = mem.put(b"x" * 33 + b"\0")
    exact = format_entry(Abi.X86_64, 59, [mem.put(b"/a\0"), ptr_array(mem, [b"x" * 32]), 0], mem)
    assert exact.entry == f'execve("/a", ["{"x" * 32}"], NULL'
    over = format_entry(Abi.X86_64, 59, [mem.put(b"/a\0"), ptr_array(mem, [b"x" * 33]), 0], mem)
    assert over.entry == f'execve("/a", ["{"x" * 32}"...], NULL'
    # a buffer argument likewise: 32 bytes whole, the 33rd cut off with "..."
    assert format_call(Abi.X86_64, 1, [1, arg, 32], mem, 32) == f'write(1, "{"x" * 32}", 32)'
    assert format_call(Abi.X86_64, 1, [1, arg, 33], mem, 33) == \
        f'write(1, "{"x" * 32}"..., 33)'
    # and a path never: the same 33 bytes as a path are shown whole
    assert format_call(Abi.X86_64, 84, [arg], mem, -2) == f'rmdir("{"x" * 33}")'


def test_strlen_option() -> None:
    mem = FakeMemory()
    buf = mem.put(b"0123456789")
    call = format_entry(Abi.X86_64, 1, [1, buf, 10], mem, strlen=4)
    assert call.finish(10, mem) == 'write(1, "0123"..., 10)'


@pytest.mark.slow
def test_reads_are_bounded() -> None:
    mem = FakeMemory()
    buf = mem.put(bytes(1 << 20))
    format_call(Abi.X86_64, 0, [3, buf, 1 << 20], mem, 1 << 20)
    assert mem.reads <= 2


# --- strings: escaping ------------------------------------------------------------------

QUOTE_CASES = [
    (b"", '""'),
    (b"plain text", '"plain text"'),
    (b'"\\', r'"\"\\"'),
    (b"\t\n\v\f\r", r'"\t\n\v\f\r"'),
    (b"\x00", r'"\0"'),
    (b"\x001", r'"\0001"'),  # a following octal digit forces three digits
    (b"\x018", r'"\18"'),  # 8 is no octal digit
    (b"\x7f\x80\xff", r'"\177\200\377"'),
    (b"\x1b[0m", r'"\33[0m"'),
    (b"\xc3\xa9", r'"\303\251"'),  # strace does not decode UTF-8 by default
]


@pytest.mark.parametrize(("data", "text"), QUOTE_CASES)
def test_quote_string(data: bytes, text: str) -> None:
    assert quote_string(data) == text


def test_quote_string_hex() -> None:
    assert quote_string(b"\x00\xffA", hex_all=True) == r'"\x00\xff\x41"'


# --- return values, sigsets, siginfo -------------------------------------------------------

RETURN_CASES = [
    (3, {}, "3"),
    (0, {}, "0"),
    (-2, {}, "-1 ENOENT (No such file or directory)"),
    (-1, {}, "-1 EPERM (Operation not permitted)"),
    (-13, {}, "-1 EACCES (Permission denied)"),
    (-11, {}, "-1 EAGAIN (Resource temporarily unavailable)"),
    (-95, {}, "-1 EOPNOTSUPP (Operation not supported)"),
    (-512, {}, "? ERESTARTSYS (To be restarted if SA_RESTART is set)"),
    (-513, {}, "? ERESTARTNOINTR (To be restarted)"),
    (-516, {}, "? ERESTART_RESTARTBLOCK (Interrupted by signal)"),
    (-4095, {}, "-1 errno 4095 (Unknown error 4095)"),
    (-4096, {}, "-4096"),
    ((1 << 64) - 2, {}, "-1 ENOENT (No such file or directory)"),
    (None, {}, "?"),
    (0x7F1099964000, {"name": "mmap"}, "0x7f1099964000"),
    (0, {"name": "mmap"}, "0"),
    (0x55F4A1CA6000, {"name": "brk"}, "0x55f4a1ca6000"),
    (-12, {"name": "mmap"}, "-1 ENOMEM (Cannot allocate memory)"),
    (0o22, {"name": "umask"}, "022"),
    (0, {"name": "fcntl", "args": (1, 1)}, "0"),
]


@pytest.mark.parametrize(("ret", "kwargs", "text"), RETURN_CASES)
def test_format_return(ret: int | None, kwargs: dict[str, object], text: str) -> None:
    assert format_return(ret, **kwargs) == text  # type: ignore[arg-type]


def test_every_errno_has_a_name_and_message() -> None:
    for err in set(range(1, 134)) - {41, 58}:  # 41 and 58 are unassigned on Linux
        text = format_return(-err)
        assert re.fullmatch(r"-1 E[A-Z0-9]+ \(.+\)", text), text
        assert ERRNO_NAMES[err] in text


@pytest.mark.parametrize(("mask", "nsig", "text"), [
    (0, 64, "[]"),
    ((1 << 64) - 1, 64, "~[]"),
    (sig_mask(1, 12, 40), 64, "[HUP USR2 RT_8]"),
    (SIGSET_ALL_BUT_RT01, 64, "~[RTMIN RT_1]"),
    (sig_mask(17, 2), 64, "[INT CHLD]"),
    (sig_mask(64), 64, "[RT_32]"),
])
def test_format_sigset(mask: int, nsig: int, text: str) -> None:
    assert format_sigset(mask, nsig) == text


SIGINFO_CASES = [
    (17, {"si_code": 1, "si_pid": 5549, "si_uid": 0, "si_status": 0, "si_utime": 0,
          "si_stime": 0},
     ("{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=5549, si_uid=0, si_status=0, si_utime=0, "
     "si_stime=0}")),
    (17, {"si_code": 2, "si_pid": 5534, "si_uid": 0, "si_status": 15, "si_utime": 0,
          "si_stime": 0},
     ("{si_signo=SIGCHLD, si_code=CLD_KILLED, si_pid=5534, si_uid=0, si_status=SIGTERM, "
     "si_utime=0, si_stime=0}")),
    (15, {"si_code": 0, "si_pid": 5533, "si_uid": 0},
     "{si_signo=SIGTERM, si_code=SI_USER, si_pid=5533, si_uid=0}"),
    (34, {"si_code": 0, "si_pid": 5533, "si_uid": 0},
     "{si_signo=SIGRT_2, si_code=SI_USER, si_pid=5533, si_uid=0}"),
    (10, {"si_code": -6, "si_pid": 7, "si_uid": 1000},
     "{si_signo=SIGUSR1, si_code=SI_TKILL, si_pid=7, si_uid=1000}"),
    (11, {"si_code": 1, "si_addr": 0}, "{si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL}"),
    (11, {"si_code": 0x80, "si_addr": 0}, "{si_signo=SIGSEGV, si_code=SI_KERNEL, si_addr=NULL}"),
    (31, {"si_code": 1, "si_call_addr": 0x401000, "si_syscall": 39, "si_arch": 0xC000003E},
     ("{si_signo=SIGSYS, si_code=SYS_SECCOMP, si_call_addr=0x401000, si_syscall=__NR_getpid, "
     "si_arch=AUDIT_ARCH_X86_64}")),
]


@pytest.mark.parametrize(("signo", "info", "text"), SIGINFO_CASES)
def test_format_siginfo(signo: int, info: dict[str, int], text: str) -> None:
    assert format_siginfo(signo, info) == text


def test_calltext_is_plain_data() -> None:
    mem = FakeMemory()
    call = format_entry(Abi.X86_64, 39, [], mem)
    assert isinstance(call, CallText)
    assert (call.abi, call.nr, call.name, call.args) == (Abi.X86_64, 39, "getpid", (0,) * 6)


# --- differential: strace itself ---------------------------------------------------------

_CHILD = textwrap.dedent("""
    import ctypes, json, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    calls = json.load(open(sys.argv[1]))
    keep = []
    prepared = []
    for nr, args in calls:
        cargs = []
        for a in args:
            if isinstance(a, str):
                buf = ctypes.create_string_buffer(bytes.fromhex(a), max(len(a) // 2, 1) + 4096)
                keep.append(buf)
                cargs.append(buf)
            else:
                cargs.append(ctypes.c_long(a))
        prepared.append((nr, cargs))
    devnull = os.open("/dev/null", os.O_WRONLY)
    os.dup2(devnull, 100)
    libc.syscall(ctypes.c_long(499), ctypes.c_long(0x1111))  # start marker
    for nr, cargs in prepared:
        libc.syscall(ctypes.c_long(nr), *cargs)
    libc.syscall(ctypes.c_long(499), ctypes.c_long(0x2222))  # end marker
""")


def _live_calls(tmp: Path) -> list[tuple[str, list[int | bytes]]]:
    """Calls whose text depends only on values we choose (no addresses strace would show)."""
    chunks = [bytes(range(i, min(i + 24, 256))) for i in range(0, 256, 24)]
    chunks += [b"0\x001\x0012\x7f8\x019", b'"quoted" \\ back\tslash\n', b"x" * 40, b""]
    calls: list[tuple[str, list[int | bytes]]] = [("write", [100, c, len(c)]) for c in chunks]
    f = str(tmp / "f").encode()
    d = str(tmp / "d").encode()
    calls += [
        ("openat", [AT_FDCWD, f + b"\0", 0o1101, 0o640]),
        ("openat", [AT_FDCWD, f + b"\0", 0o2004002]),
        ("openat", [AT_FDCWD, b"/nonexistent/x\0", 0o2200000]),
        ("access", [f + b"\0", 6]),
        ("faccessat", [AT_FDCWD, b"/\0", 1]),
        ("mkdir", [d + b"\0", 0o750]),
        ("rmdir", [d + b"\0"]),
        ("unlink", [b"/nonexistent\0"]),
        ("umask", [0o27]),
        ("umask", [0o22]),
        ("kill", [0x3FFFFFF0, 0]),
        ("kill", [0x3FFFFFF0, 15]),
        ("lseek", [NEG1, 0, 2]),
        ("dup3", [100, 101, 0o2000000]),
        ("fcntl", [101, 1]),
        ("fcntl", [100, 3]),
        ("fcntl", [100, 99, 5]),
        ("socket", [2, 0x802, 0]),
        ("wait4", [NEG1, 0, 1, 0]),
        ("rt_sigprocmask", [0, struct.pack("<Q", sig_mask(1, 12, 40)), 0, 8]),
        ("rt_sigprocmask", [1, struct.pack("<Q", sig_mask(1, 12, 40)), 0, 8]),
        ("rt_sigaction", [12, struct.pack("<QQQQ", 1, 0x14000000, 0, sig_mask(2, 3)), 0, 8]),
        ("clock_nanosleep", [1, 0, struct.pack("<qq", 0, 1000), 0]),
        ("execve", [b"/nonexistent\0", 0, 0]),
        ("futex", [0, 0x81, 1]),
        ("mprotect", [0, 0, 3]),
        ("readlinkat", [AT_FDCWD, b"/nonexistent\0", 0, 10]),
        ("newfstatat", [AT_FDCWD, b"/nonexistent\0", 0, 0x100]),
        ("close_range", [1000, 1001, 0]),
        ("prlimit64", [0, 7, 0, 0]),
        ("ioctl", [100, 0x5401, 0]),
        ("getpid", []),
    ]
    return calls


def _ret_from_strace(text: str) -> int | None:
    if text == "?":
        return None
    m = re.fullmatch(r"-1 (E[A-Z0-9]+) \(.*\)", text)
    if m:
        return -next(k for k, v in ERRNO_NAMES.items() if v == m.group(1))
    number = text.split(" ", 1)[0]
    if re.fullmatch(r"0[0-7]+", number):  # umask's octal
        return int(number, 8)
    return int(number, 0)


@pytest.mark.needs_strace
def test_matches_strace_live(tmp_path: Path) -> None:
    calls = _live_calls(tmp_path)
    spec = [(syscall_number(Abi.X86_64, name),
             [a.hex() if isinstance(a, bytes) else a for a in args]) for name, args in calls]
    (tmp_path / "calls.json").write_text(__import__("json").dumps(spec))
    (tmp_path / "child.py").write_text(_CHILD)
    log = tmp_path / "strace.log"
    proc = subprocess.run(["strace", "-qq", "-o", str(log), sys.executable,
                           str(tmp_path / "child.py"), str(tmp_path / "calls.json")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert log.exists(), proc.stderr
    lines = log.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("syscall_0x1f3(0x1111"))
    end = next(i for i, ln in enumerate(lines) if ln.startswith("syscall_0x1f3(0x2222"))
    names = {name for name, _ in calls}
    traced = [ln for ln in lines[start + 1 : end] if ln.split("(", 1)[0] in names]
    assert len(traced) == len(calls), "\n".join(lines[start:end + 1])
    for (name, args), strace_line in zip(calls, traced, strict=True):
        m = re.fullmatch(r"(.*\))\s+= (.*)", strace_line)
        assert m, strace_line
        ret = _ret_from_strace(m.group(2))
        mem = FakeMemory()
        ours = line(Abi.X86_64, name, [Mem(a) if isinstance(a, bytes) else a for a in args],
                    ret, mem)
        assert ours == f"{m.group(1)} = {m.group(2)}"


def test_fake_memory_is_page_granular() -> None:
    mem = FakeMemory()
    addr = mem.put(b"abc")
    assert mem(addr, 3) == b"abc"
    assert mem(addr, PAGE) is not None
    assert mem(addr + PAGE, 1) is None
    assert os.sysconf("SC_PAGE_SIZE") == PAGE
    assert ctypes.sizeof(ctypes.c_void_p) == 8
