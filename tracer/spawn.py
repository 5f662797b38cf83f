"""Start a command traced from its first instruction.

fork, then in the child either PTRACE_TRACEME + SIGSTOP, or (SEIZE, the default) wait
on a pipe until the parent has PTRACE_SEIZEd and PTRACE_INTERRUPTed it; then the
seccomp prefilter if the run has one (:mod:`probes.prefilter`, installed while the
child still has trace-run's privileges), the pre-exec hook, then execve.  The child
is handed to the loop stopped, options set, before execve, so the loop sees execve's
entry.  An execve that fails sends its errno up a CLOEXEC pipe: EOF on that pipe means
the exec happened.  CMD is looked up on PATH in the parent first, as execvp would, so
"not found" and "not executable" are reported without starting anything.
"""

from __future__ import annotations

import errno
import os
import pwd
import signal
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tracer import ptrace_api as pt
from tracer.interrupts import MANAGED_SIGNALS, child_disposition

PreExecHook = Callable[[], None]
_HOOK_FAILED = -1  # errno slot value: the pre-exec hook raised


class SpawnError(Exception):
    """CMD cannot be run; ``exit_code`` is what a shell would exit with (127/126)."""

    def __init__(self, cmd: str, err: int) -> None:
        self.cmd = cmd
        self.errno = err
        reason = "pre-exec setup failed" if err == _HOOK_FAILED else os.strerror(err)
        super().__init__(f"cannot run '{cmd}': {reason}")

    @property
    def exit_code(self) -> int:
        return 127 if self.errno == errno.ENOENT else 126


class UserError(Exception):
    """``-u USER`` cannot be honoured (strace's wording); ``exit_code`` is strace's."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class RunAs:
    """Who CMD runs as (strace ``-u USER``): the user's uid and gid, its groups."""

    name: str
    uid: int
    gid: int

    @classmethod
    def lookup(cls, user: str) -> RunAs:
        """The user by name (strace's ``-u``); root only, as with strace."""
        if os.getuid() != 0 or os.geteuid() != 0:
            raise UserError("You must be root to use the -u/--username option")
        try:
            ent = pwd.getpwnam(user)
        except KeyError:
            raise UserError(f"Cannot find user '{user}'") from None
        return cls(user, ent.pw_uid, ent.pw_gid)


@dataclass(frozen=True, slots=True)
class Spawned:
    """The child, in a ptrace-stop before its execve, traced with ``pt.TRACE_OPTIONS``."""

    pid: int
    cmd: str
    seized: bool
    errpipe: int  # read end; O_NONBLOCK

    def exec_error(self) -> SpawnError | None:
        """The execve failure the child reported, if any.  Call once the child is gone."""
        try:
            data = os.read(self.errpipe, 4)
        except BlockingIOError:
            return None
        finally:
            os.close(self.errpipe)
        if len(data) != 4:
            return None
        return SpawnError(self.cmd, int.from_bytes(data, "little", signed=True))


def resolve(cmd: str, path: str | None = None) -> str:
    """Find CMD as execvp does: as given when it has a '/', else the first executable
    regular file in PATH.  Raises SpawnError with ENOENT, or EACCES if something was
    found but none of it executable."""
    if "/" in cmd:
        candidates = [cmd]
    else:
        search = path if path is not None else os.environ.get("PATH", "/bin:/usr/bin")
        candidates = [os.path.join(d or ".", cmd) for d in search.split(":")]
    found_err = errno.ENOENT
    for cand in candidates:
        try:
            st = os.stat(cand)
        except OSError as exc:
            if "/" in cmd and exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                found_err = exc.errno or errno.EACCES
            continue
        if stat.S_ISREG(st.st_mode) and os.access(cand, os.X_OK):
            return cand
        found_err = errno.EACCES
    raise SpawnError(cmd, found_err)


def spawn(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
          seize: bool = True, pre_exec: PreExecHook | None = None,
          redirect: Mapping[int, int] | None = None, follow: bool = True,
          user: RunAs | str | None = None, prefilter: bytes | None = None) -> Spawned:
    """Fork and start ``argv`` traced; returns with the child stopped before execve.

    ``redirect`` maps a child fd to the parent fd it becomes (``{1: log_fd}``).
    ``follow`` False (strace without -f): no fork/vfork/clone events, CMD's children
    and threads run untraced.  ``user`` (strace ``-u``): CMD runs as that user, with its
    groups (initgroups); a set-user-ID or set-group-ID CMD keeps that effective id.
    ``prefilter``: a classic-BPF seccomp filter installed in the child before the user
    change and execve; the child is then traced with PTRACE_O_TRACESECCOMP too."""
    if not argv:
        raise ValueError("empty command")
    cmd = argv[0]
    run_as = RunAs.lookup(user) if isinstance(user, str) else user
    environ = dict(os.environ if env is None else env)
    path = resolve(cmd, environ.get("PATH"))
    ids = _ids(run_as, path) if run_as is not None else None
    options = pt.TRACE_OPTIONS if follow else pt.TRACE_OPTIONS & ~(
        pt.O_TRACEFORK | pt.O_TRACEVFORK | pt.O_TRACECLONE)
    if prefilter is not None:
        options |= pt.O_TRACESECCOMP
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(path, list(argv), environ, seize, pre_exec, err_w, sync_r, (err_r, sync_w),
               dict(redirect or {}), ids, prefilter)
    os.close(err_w)
    os.close(sync_r)
    os.set_blocking(err_r, False)
    try:
        if seize:
            _seize_child(pid, options)
        else:
            _await_traceme_child(pid, options)
    except BaseException:  # in the child: report, never unwind into the parent's code
        _reap_failed(pid)
        os.close(err_r)
        raise
    finally:
        os.close(sync_w)  # EOF wakes the SEIZE child's read; TRACEME's never reads
    return Spawned(pid, cmd, seize, err_r)


_Ids = tuple[str, int, int, int, int]  # user, uid, euid, gid, egid


def _ids(run_as: RunAs, path: str) -> _Ids:
    """strace's: a set-user/group-ID program keeps its effective id."""
    try:
        st = os.stat(path)
    except OSError:
        st = None
    euid = st.st_uid if st is not None and st.st_mode & stat.S_ISUID else run_as.uid
    egid = st.st_gid if st is not None and st.st_mode & stat.S_ISGID else run_as.gid
    return run_as.name, run_as.uid, euid, run_as.gid, egid


def _child(path: str, argv: list[str], env: dict[str, str], seize: bool,
           pre_exec: PreExecHook | None, err_w: int, sync_r: int,
           parent_fds: tuple[int, int], redirect: dict[int, int],
           ids: _Ids | None = None, prefilter: bytes | None = None) -> None:
    """Runs in the forked child; never returns."""
    code = _HOOK_FAILED
    try:
        for fd in parent_fds:
            os.close(fd)
        for target, source in redirect.items():
            os.dup2(source, target)  # dup2'd fds are inheritable
        # Python ignores SIGPIPE and SIGXFSZ, trace-run may ignore or handle the
        # interrupting signals; SIG_IGN survives execve, so undo what trace-run did.
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        for sig in MANAGED_SIGNALS:
            signal.signal(sig, child_disposition(sig))
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        if seize:
            os.read(sync_r, 1)  # returns (EOF) once the parent has seized us
        else:
            pt.traceme()
            os.kill(os.getpid(), signal.SIGSTOP)
        os.close(sync_r)
        if prefilter is not None:
            from tracer.seccomp_install import install
            install(prefilter)
        if ids is not None:
            name, uid, euid, gid, egid = ids
            os.initgroups(name, gid)  # before the uid change, which loses the right
            os.setregid(gid, egid)
            os.setreuid(uid, euid)
        if pre_exec is not None:
            pre_exec()
        try:
            os.execve(path, argv, env)
        except OSError as exc:
            code = exc.errno or errno.ENOEXEC
    except BaseException:
        pass
    try:
        os.write(err_w, code.to_bytes(4, "little", signed=True))
    finally:
        os._exit(127)


def _seize_child(pid: int, options: int) -> None:
    pt.seize(pid, options)
    pt.interrupt(pid)
    while True:
        _, status = os.waitpid(pid, pt.WALL)
        if not os.WIFSTOPPED(status):
            raise OSError(errno.ECHILD, "traced child died before exec")
        if status >> 16 == pt.EVENT_STOP:
            return
        # A signal arrived before our interrupt trapped: deliver it, the trap stays pending.
        pt.cont(pid, os.WSTOPSIG(status))


def _await_traceme_child(pid: int, options: int) -> None:
    while True:
        _, status = os.waitpid(pid, pt.WALL)
        if not os.WIFSTOPPED(status):
            raise OSError(errno.ECHILD, "traced child died before exec")
        if os.WSTOPSIG(status) == signal.SIGSTOP:
            pt.set_options(pid, options)
            return
        pt.cont(pid, os.WSTOPSIG(status))


def _reap_failed(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, pt.WALL)
    except OSError:
        pass
