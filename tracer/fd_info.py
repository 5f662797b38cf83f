"""What ``-y`` / ``-yy`` learn of a tracee's descriptor at a stop, as strace's printfd does.

The descriptor table changes while the tracee runs (the call itself may close or open),
so this is read at the stop, through the reader the fetches read memory with: with
``-y`` the recorder hands :func:`tracer.format.Formatter.fetch_entry` the reader of
:func:`stop_reader`, which answers two pseudo sizes (:data:`FD_INFO`, :data:`CWD_INFO`)
besides memory.  The answer is recorded with the memory reads and replayed at the render,
where :func:`tracer.syscalls.decode.styled.fd_suffix` turns it into text.

The answer, bytes, starts with its kind:

- ``P`` + path: a path (``/proc/TID/fd/N``'s target), shown ``<path>``;
- ``X`` + path: an unlinked file (the kernel's `` (deleted)`` suffix taken off, as strace
  does when the path no longer names the file), shown ``<path>(deleted)``;
- ``S`` + text: a socket's endpoints (``-yy``), shown as they are;
- ``D`` + path + NUL + ``char 1:3``: a device (``-yy``), shown ``<path<char 1:3>>``.

With ``-yy`` the endpoints of TCP and UDP sockets come from ``/proc/TID/net/*`` (the
tracee's network namespace) and a UNIX socket's from sock_diag when the kernel answers,
where strace asks sock_diag for all of them.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
from collections.abc import Callable

from tracer.format_options import CWD_INFO, FD_INFO
from tracer.syscalls.decode.common import quote_string

__all__ = ["RVAL_FD", "describe_cwd", "describe_fd", "returns_fd", "stop_reader"]

MemoryReader = Callable[[int, int], "bytes | None"]

_DELETED = b" (deleted)"


def _link(path: str) -> bytes | None:
    try:
        return os.readlink(path.encode())
    except OSError:
        return None


def describe_cwd(tid: int) -> bytes | None:
    """The working directory of ``tid`` (what AT_FDCWD stands for)."""
    target = _link(f"/proc/{tid}/cwd")
    return None if target is None else b"P" + target


def describe_fd(tid: int, fd: int, yflag: int = 1) -> bytes | None:
    """What ``-y`` (``yflag`` 1) or ``-yy`` (2) shows of descriptor ``fd`` of ``tid``;
    None when it is not open."""
    link = f"/proc/{tid}/fd/{fd}"
    target = _link(link)
    if target is None:
        return None
    if yflag > 1:
        if target.startswith(b"socket:["):
            return b"S" + _socket_details(link, target).encode()
        dev = _device(target)
        if dev is not None:
            return b"D" + target + b"\0" + dev
    if target.endswith(_DELETED) and len(target) > len(_DELETED) + 1:
        kept = target[: -len(_DELETED)]
        try:
            here, there = os.stat(link), os.lstat(kept)
            gone = (here.st_ino, here.st_dev) != (there.st_ino, there.st_dev)
        except OSError:
            gone = True
        if gone:
            return b"X" + kept
    return b"P" + target


def _device(target: bytes) -> bytes | None:
    if not target.startswith(b"/"):
        return None
    try:
        st = os.stat(target)
    except OSError:
        return None
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        kind = b"block" if stat.S_ISBLK(st.st_mode) else b"char"
        return b"%s %d:%d" % (kind, os.major(st.st_rdev), os.minor(st.st_rdev))
    return None


# --- -yy: sockets ---------------------------------------------------------------------------

# strace keeps what it learnt of a socket by its inode and shows that from then on (a
# UNIX socket whose peer has closed still shows ``[inode->peer]``): so do we.
_SOCKETS: dict[int, str] = {}
_SOCKETS_MAX = 4096

_INET = {"TCP": (socket.AF_INET, 6), "UDP": (socket.AF_INET, 17),
         "UDPLITE": (socket.AF_INET, 136), "TCPv6": (socket.AF_INET6, 6),
         "UDPv6": (socket.AF_INET6, 17), "UDPLITEv6": (socket.AF_INET6, 136)}

# sock_diag (linux/sock_diag.h, inet_diag.h, unix_diag.h), asked as strace asks it
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST, _NLM_F_DUMP = 1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_UDIAG_SHOW_NAME, _UDIAG_SHOW_PEER = 0x01, 0x04
_UNIX_DIAG_NAME, _UNIX_DIAG_PEER = 0, 2


def _socket_details(link: str, target: bytes) -> str:
    """``TCP:[127.0.0.1:40000->127.0.0.1:80]``, ``UNIX-STREAM:[5->6]``; the protocol
    and the inode when sock_diag does not tell more."""
    inode = int(target[8:-1])
    known = _SOCKETS.get(inode)
    if known is not None:
        return known
    try:
        proto = os.getxattr(link, "system.sockprotoname").rstrip(b"\0").decode()
    except OSError:
        return target.decode()
    found = None
    if proto in _INET:
        found = _inet(*_INET[proto], inode)
    elif proto.startswith("UNIX"):
        found = _unix(inode)
    if found is None:
        return f"{proto}:[{inode}]"
    if len(_SOCKETS) >= _SOCKETS_MAX:
        _SOCKETS.clear()
    text = _SOCKETS[inode] = f"{proto}:[{found}]"
    return text


def _diag(request: bytes, flags: int) -> list[bytes]:
    """The sock_diag messages answering ``request`` (each without its nlmsghdr)."""
    msg = struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, flags, 1, 0) + request
    found: list[bytes] = []
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as s:
            s.sendto(msg, (0, 0))
            while True:
                data = s.recv(1 << 16)
                if not data:
                    return found
                pos = 0
                while pos + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, pos)
                    if length < 16 or kind in (_NLMSG_DONE, _NLMSG_ERROR):
                        return found
                    found.append(data[pos + 16: pos + length])
                    pos += (length + 3) & ~3
                if not flags & _NLM_F_DUMP:
                    return found
    except OSError:
        return found


def _inet(family: int, protocol: int, inode: int) -> str | None:
    """``127.0.0.1:40000->127.0.0.1:80`` (``src:port`` alone when unconnected) of the
    TCP or UDP socket ``inode``, from sock_diag (inet_diag)."""
    req = struct.pack("=BBBBI", family, protocol, 0, 0, 0xFFFFFFFF) + bytes(48)
    size = 4 if family == socket.AF_INET else 16
    left, right = ("", "") if family == socket.AF_INET else ("[", "]")
    for body in _diag(req, _NLM_F_REQUEST | _NLM_F_DUMP):
        if len(body) < 72 or struct.unpack_from("=I", body, 68)[0] != inode:
            continue
        sport, dport = struct.unpack_from(">HH", body, 4)
        src = socket.inet_ntop(family, body[8:8 + size])
        dst_raw = body[24:24 + size]
        text = f"{left}{src}{right}:{sport}"
        if dport or any(dst_raw):
            text += f"->{left}{socket.inet_ntop(family, dst_raw)}{right}:{dport}"
        return text
    return None


def _unix(inode: int) -> str | None:
    """``inode->peer,"path"`` of a UNIX socket, from sock_diag; None if it cannot tell."""
    req = struct.pack("=BBHIII", socket.AF_UNIX, 0, 0, 0xFFFFFFFF, inode,
                      _UDIAG_SHOW_NAME | _UDIAG_SHOW_PEER) + b"\xff" * 8   # no cookie
    answers = _diag(req, _NLM_F_REQUEST)
    if not answers or len(answers[0]) < 16:
        return None
    data = answers[0]
    pos, end = 16, len(data)
    path: bytes | None = None
    peer = 0
    while pos + 4 <= end:
        alen, atype = struct.unpack_from("=HH", data, pos)
        if alen < 4:
            break
        payload = data[pos + 4: pos + alen]
        if atype == _UNIX_DIAG_NAME and path is None:
            path = payload[:108]
        elif atype == _UNIX_DIAG_PEER and len(payload) >= 4:
            peer = struct.unpack_from("=I", payload)[0]
        pos += (alen + 3) & ~3
    if not peer and not path:
        return None
    text = str(inode) + (f"->{peer}" if peer else "")
    if path:
        if path[0] == 0:
            text += ",@" + quote_string(path[1:].split(b"\0", 1)[0])
        else:
            text += "," + quote_string(path.split(b"\0", 1)[0])
    return text


# --- the stop's reader --------------------------------------------------------------------------


def stop_reader(tid: int, read_memory: MemoryReader, yflag: int) -> MemoryReader:
    """``read_memory`` of the stopped ``tid``, also answering ``(fd, FD_INFO)`` and
    ``(0, CWD_INFO)`` with :func:`describe_fd` and :func:`describe_cwd`."""
    def read(addr: int, size: int) -> bytes | None:
        if size >= 0:
            return read_memory(addr, size)
        if size == FD_INFO:
            return describe_fd(tid, addr, yflag)
        if size == CWD_INFO:
            return describe_cwd(tid)
        return None
    return read


# --- results that are descriptors (strace's RVAL_FD) ----------------------------------------

RVAL_FD = frozenset({
    "open", "openat", "openat2", "creat", "open_by_handle_at", "dup", "dup2", "dup3",
    "socket", "accept", "accept4", "eventfd", "eventfd2", "timerfd_create", "signalfd",
    "signalfd4", "epoll_create", "epoll_create1", "inotify_init", "inotify_init1",
    "memfd_create", "memfd_secret", "pidfd_open", "pidfd_getfd", "perf_event_open",
    "fanotify_init", "userfaultfd", "mq_open", "fsopen", "fsmount", "fspick", "open_tree",
    "landlock_create_ruleset", "io_uring_setup",
})
_F_DUPFD, _F_DUPFD_CLOEXEC = 0, 1030


def returns_fd(name: str, args: tuple[int, ...]) -> bool:
    """Whether call ``name`` with ``args`` returns a descriptor (on success)."""
    if name in RVAL_FD:
        return True
    if name in ("fcntl", "fcntl64"):
        return (args[1] & 0xFFFFFFFF) in (_F_DUPFD, _F_DUPFD_CLOEXEC)
    return False

