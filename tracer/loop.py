"""The one stop loop: ``waitpid(-1, __WALL)`` over every tracee.

Each status is decoded into an :mod:`tracer.events` value and handled with ``match``;
every tracee is resumed by exactly one branch (or deliberately left stopped: listening
in a group-stop, or killed).  The loop ends when waitpid says there is no child left
(ECHILD), so a tracee the table does not know yet (its stop beat its parent's fork
event) cannot be lost.  python-ptrace's PtraceDebugger is not used: it polls each pid
and sleeps (python-ptrace issue #39).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import signal
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from probes.abi import Abi, syscall_name
from probes.prefilter import Outcome, Prefilter
from tracer import ptrace_api as pt
from tracer import regs, seccomp_outcomes
from tracer.attached import process_hook
from tracer.events import (
    Detached,
    Event,
    Exec,
    Exited,
    Fork,
    GroupStop,
    Killed,
    OtherStop,
    ProcessEvent,
    SignalDelivery,
    SyscallEntry,
    SyscallExit,
    TrapStop,
    decode,
    syscall_abi,
)
from tracer.guard import GUARDED_NRS, deliver, guard
from tracer.handler import (
    Action,
    AllowAll,
    Decision,
    Recorder,
    SignalRequest,
    SyscallCall,
    SyscallHandler,
)
from tracer.spawn import Spawned
from tracer.tracee import TracedThread, tgid_of
from tracer.untraced import CLONE_NRS, keep_traced

if TYPE_CHECKING:
    from tracer.attach import AttachedTask

Namer = Callable[[Abi, int], str]
Say = Callable[[str], None]

_SYSCALL_STOP = (pt.SYSCALL_TRAP << 8) | 0x7F  # the waitpid status of a syscall stop
_SECCOMP_STOP = ((signal.SIGTRAP | pt.EVENT_SECCOMP << 8) << 8) | 0x7F  # and a seccomp stop
_STOPS = (_SYSCALL_STOP, _SECCOMP_STOP)
_EXECVE = {59, 322}  # x86_64 execve, execveat: where the spawned child becomes CMD
_ORIG_AX = regs.OFFSET["orig_ax"]
_AX = regs.OFFSET["ax"]
# What a syscall interrupted by PTRACE_INTERRUPT (or a signal) returns at its exit stop
# when the kernel will restart it: ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND,
# ERESTART_RESTARTBLOCK.  Detached there, the task restarts it: no error happened.
_RESTARTS = frozenset({-512, -513, -514, -516})


def default_namer(abi: Abi, nr: int) -> str:
    """``nr`` as tracer.syscalls numbers it (x32: with __X32_SYSCALL_BIT)."""
    return syscall_name(abi, nr)


class Loop:
    """Follows one spawned command and/or attached processes, and everything they
    start (as their ptrace options say), until all are gone or detached.

    ``detach_on_exec`` (strace ``-b execve``): a task that execs is detached at its
    exec stop (not the spawned command's first execve, which starts CMD).  ``say``:
    where strace's own messages go (``Process 1234 detached``, and ``Process 1234
    attached`` for each new task a followed fork brings); None: quiet (-q)."""

    def __init__(self, handler: SyscallHandler | None = None,
                 recorders: Sequence[Recorder] = (), namer: Namer = default_namer, *,
                 detach_on_exec: bool = False, say: Say | None = None,
                 trace: tuple[frozenset[tuple[Abi, int]], bool] | None = None,
                 judge_all: bool = False, prefilter: Prefilter | None = None) -> None:
        self.handler: SyscallHandler = handler if handler is not None else AllowAll()
        self.recorders = list(recorders)
        self._namer = namer
        self._names: dict[tuple[Abi, int], str] = {}
        self.threads: dict[int, TracedThread] = {}
        self.seized = True
        self.initial_pid = 0
        self.final: Exited | Killed | None = None
        self.interrupted: int | None = None  # the signal that stopped trace-run
        self._mode: str | None = None        # None, "kill" or "detach"
        self.detach_on_exec = detach_on_exec
        # -e trace=: (members, inverted) of (ABI, number); a call outside it is given to
        # neither the recorders nor, unless ``judge_all`` (a policy, an injection, which
        # must see every call), the handler
        self._trace = trace
        self._judge_all = judge_all
        self.say = say
        self.spawned = False                  # a command of ours runs (initial_pid)
        self.initial_detached = False         # -b execve let it go
        self._first_exec: set[int] = set()    # the spawned command's exec to come
        self._flushers: list[Callable[[], None]] = []  # the recorders' flush methods
        # The spawned command runs under a seccomp prefilter: it stops only at seccomp
        # stops of the syscalls the filter traces; resumed with PTRACE_CONT, or with
        # PTRACE_SYSCALL when that call's exit stop is wanted (TracedThread.await_exit).
        self._cont = prefilter is not None
        self._cookie = prefilter.cookie if prefilter is not None else None
        self._wants_exit = bool(getattr(self.handler, "wants_exit", True))
        self._idlers: list[Callable[[], None]] = []    # and their idle methods
        self._on_process = process_hook(self.handler)   # sched tracepoints' programs

    # ---- running ---------------------------------------------------------------------

    def run(self, child: Spawned | None = None, *,
            attached: Sequence[AttachedTask] = ()) -> int:
        """Trace until every tracee is gone (or detached); returns trace-run's exit code.

        ``child``: the spawned command, stopped before its execve.  ``attached``: tasks
        :func:`tracer.attach.attach` seized (each stops at its PTRACE_INTERRUPT, where
        the loop starts tracing it).  Either or both."""
        for task in attached:
            self.threads[task.tid] = TracedThread(task.tid, task.tgid, started=True,
                                                  fresh=True)
            if self._mode is not None:   # interrupted while attaching
                self._ask_stop(self.threads[task.tid])
        if child is not None:
            self.seized = child.seized
            self.initial_pid = child.pid
            self.spawned = True
            self._first_exec.add(child.pid)
            self.threads[child.pid] = TracedThread(child.pid, child.pid, started=False)
            if self._mode is not None:
                _kill(child.pid, signal.SIGKILL)  # stopped before CMD started: never start it
            self._resume(child.pid)
        self._flushers = [f for f in (getattr(rec, "flush", None) for rec in self.recorders)
                          if callable(f)]
        self._idlers = [f for f in (getattr(rec, "idle", None) for rec in self.recorders)
                        if callable(f)]
        waitpid, threads, syscall_stop = os.waitpid, self.threads, self._syscall_stop
        try:
            while not (self._mode == "detach" and not self.threads):
                try:
                    tid, status = waitpid(-1, pt.WALL | os.WNOHANG)
                    if not tid:   # every tracee runs on: a call may block for long
                        self._idle()
                        tid, status = waitpid(-1, pt.WALL)
                except ChildProcessError:
                    break
                # The stop of nearly every status: a syscall entry or exit of a known
                # thread, while tracing goes on.  It skips the general decoding.
                th = threads.get(tid) if status in _STOPS else None
                if th is not None and self._mode is None:
                    syscall_stop(th)
                else:
                    self._on_status(tid, status)
                self._flush()  # mostly after the tracee was resumed: it runs meanwhile
        finally:
            self._flush()
        return self.exit_code()

    def exit_code(self) -> int:
        """The initial process's exit status, 128+N if killed by signal N, 128+M if
        trace-run itself was stopped by signal M first."""
        if self.interrupted is not None:
            return 128 + self.interrupted
        match self.final:
            case Exited(status=status):
                return status
            case Killed(sig=sig):
                return 128 + sig
        return 1

    def termination(self) -> tuple[int | None, int]:
        """How trace-run ends, as strace's ``terminate()``: ``(signal, code)``.  The
        signal (not None) is to be raised on trace-run itself (see
        :func:`tracer.interrupts.exit_like`): the one that interrupted trace-run, or
        the one that killed the spawned command; ``code`` is the exit code otherwise
        (the command's exit status; 0 when there is no command of ours or -b execve let
        it go; 1 if it vanished unseen), and the fallback ``128 + signal``."""
        if self.interrupted is not None:
            return self.interrupted, 128 + self.interrupted
        match self.final:
            case Exited(status=status):
                return None, status
            case Killed(sig=sig):
                return sig, 128 + sig
        if not self.spawned or self.initial_detached:
            return None, 0
        return None, 1

    def request_stop(self, signum: int, detach: bool | None) -> None:
        """From a signal handler: end the trace.  ``detach`` True: detach from every
        tracee; False: kill every one (SIGKILL); None: strace's clean-up, the signal
        (after a SIGCONT) to the spawned command, then detach from every tracee.

        Only sends signals and PTRACE_INTERRUPTs (safe at any point of the loop); the
        stops and exits they cause come back through waitpid and are finished there.
        """
        if self._mode is not None:
            return
        self.interrupted = signum
        self._mode = "kill" if detach is False else "detach"
        if detach is None and self.spawned and self.initial_pid in self.threads:
            _kill(self.initial_pid, signal.SIGCONT)
            _kill(self.initial_pid, signum)
        for th in list(self.threads.values()):
            if detach is False:
                _kill(th.tgid, signal.SIGKILL)
            else:
                self._ask_stop(th)

    # ---- one status ------------------------------------------------------------------

    def _on_status(self, tid: int, status: int) -> None:
        th = self.threads.get(tid)
        if th is None:
            if not os.WIFSTOPPED(status):
                return  # e.g. a detached child's exit
            # Its auto-attach stop beat the parent's PTRACE_EVENT_FORK/CLONE.
            th = self._adopt(tid, tgid_of(tid))
        try:
            ev = decode(tid, th.tgid, status)
        except ProcessLookupError:
            return  # SIGKILLed while we asked; its exit follows
        if self._mode is not None and not isinstance(ev, (Exited, Killed)):
            self._stop_one(th, ev)
            return
        with contextlib.suppress(ProcessLookupError):
            self._dispatch(th, ev)

    def _syscall_stop(self, th: TracedThread) -> None:
        """A syscall-entry or -exit stop (``decode``'s syscall cases, without the event
        values): the same handling as :meth:`_dispatch` gives them."""
        ts = time.time()
        try:
            op, arch, nr, args = pt.syscall_stop(th.tid)
            if op == pt.OP_SECCOMP or (op == pt.OP_ENTRY and not self._cont):
                if arch == pt.AUDIT_ARCH_X86_64 and not nr & pt.X32_SYSCALL_BIT:
                    self._entry(th, ts, Abi.X86_64, nr, nr, args)
                else:
                    abi, abi_nr, abi_args = syscall_abi(arch, nr, args)
                    self._entry(th, ts, abi, abi_nr, nr, abi_args)
            elif op == pt.OP_EXIT:
                th.await_exit = False
                self._exit(th, nr, ts)
                self._resume(th.tid)
            elif op == pt.OP_ENTRY:
                self._stray_entry(th)
            else:
                self._resume(th.tid)
        except ProcessLookupError:
            pass  # SIGKILLed while we asked; its exit follows

    def _dispatch(self, th: TracedThread, ev: Event) -> None:
        match ev:
            case SyscallEntry(ts=ts, abi=abi, nr=nr, raw_nr=raw_nr, args=args, seccomp=sc):
                if self._cont and not sc:
                    self._stray_entry(th)
                    return
                self._entry(th, ts, abi, nr, raw_nr, args)
            case SyscallExit(ret=ret, ts=ts):
                th.await_exit = False
                self._exit(th, ret, ts)
                self._resume(th.tid)
            case Fork(kind=kind, child=child):
                known = self.threads.get(child)
                if known is None:
                    tgid = th.tgid if kind == "clone" and tgid_of(child) == th.tgid else child
                    known = self._adopt(child, tgid)
                if known.tgid == th.tgid and child != th.tgid:
                    ev = dataclasses.replace(ev, thread=True)
                self._report(ev)
                if self._on_process is not None:
                    self._on_process(ev, th)
                self._resume(th.tid)
            case Exec(former_tid=former):
                th = self._exec(th, ev, former)
                if self.detach_on_exec and not self._skip_exec(th):
                    self._detach_now(th)
                    return
                self._resume(th.tid)
            case SignalDelivery(sig=sig):
                if th.fresh and sig == signal.SIGSTOP and not self.seized:
                    th.fresh = False
                    self._resume(th.tid)
                    return
                if th.trap_fix is not None and sig == signal.SIGSYS:
                    ev = seccomp_outcomes.fix_trap(th, ev)
                if th.started:
                    self._report(ev)
                self._resume(th.tid, sig)
            case GroupStop():
                if th.started:
                    self._report(ev)
                if self.seized:
                    th.listening = True
                    pt.listen(th.tid)
                else:
                    self._resume(th.tid)
            case TrapStop():
                th.fresh = th.listening = False
                self._resume(th.tid)
            case OtherStop():
                self._resume(th.tid)
            case Exited() | Killed():
                self._gone(th, ev)

    # ---- syscalls --------------------------------------------------------------------

    def _entry(self, th: TracedThread, ts: float, abi: Abi, nr: int, raw_nr: int,
               args: tuple[int, ...]) -> None:
        if not th.started:
            if abi is not Abi.X86_64 or nr not in _EXECVE:
                self._resume(th.tid)
                return
            th.started = True
        if nr in CLONE_NRS:
            keep_traced(th.tid, abi, nr, args)
        th.memory_seen = None  # read at a former stop
        # calls aimed at trace-run itself: answered by the guard, never by the handler
        verdict = guard(th.tid, th.tgid, abi, nr, args) if nr in GUARDED_NRS[abi] else None
        trace = self._trace
        if trace is not None:
            th.hidden = ((abi, nr) in trace[0]) is trace[1]
            if th.hidden and not self._judge_all and verdict is None:
                th.call = None
                self._resume(th.tid)
                return
        name = self._names.get((abi, raw_nr))
        if name is None:   # named once per (ABI, number)
            name = self._names[(abi, raw_nr)] = self._namer(abi, raw_nr if abi is Abi.X32
                                                            else nr)
        call = SyscallCall(th.tgid, th.tid, abi, nr, raw_nr, name, args,  # type: ignore[arg-type]
                           regs.read(th.tid), ts)
        th.call, th.decision = call, None
        decision = verdict.decision if verdict is not None else self.handler.on_entry(call, th)
        th.decision = decision
        if not th.hidden:
            for rec in self.recorders:
                rec.record_entry(call, decision, th)
        if decision.seccomp is not None and self._cookie is not None:
            self._ask_kernel(th, call, decision.seccomp)
            return
        pending = [*decision.signals, *th.take_signals()] if decision.signals or th.signals \
            else ()
        if decision.action is Action.KILL:
            # The tracee dies in this stop: the kernel aborts a syscall whose entry stop
            # ends with a fatal signal pending, so the syscall never runs.
            pt.poke_user(th.tid, _ORIG_AX, -1)
            _kill(th.tgid, signal.SIGKILL)
            return
        if decision.return_value is not None:
            pt.poke_user(th.tid, _ORIG_AX, -1)  # the kernel skips nr -1; rax set at exit
            if self._cont:   # at a seccomp stop, rax is what a skipped call returns
                pt.poke_user(th.tid, _AX, decision.return_value)
        if pending:
            self._send(th, pending)
        if verdict is not None:
            deliver(verdict)    # a redirected group signal: to the other members
        if self._cont:   # an emulated vsyscall has no exit stop: its result is unseen
            th.await_exit = (not th.hidden or self._wants_exit) and \
                not regs.in_vsyscall_page(call.regs)
            if not th.await_exit:
                self._resume(th.tid)
                self._close(th, decision)
                return
        self._resume(th.tid)

    def _stray_entry(self, th: TracedThread) -> None:
        """Prefilter: a syscall-entry stop, after PTRACE_SYSCALL asked for an exit stop
        that never came (the call was a vsyscall): the call ends unfinished, and this
        one is seen again at its seccomp stop if the filter traces it."""
        th.await_exit = False
        self._unfinished(th)
        self._resume(th.tid)

    def _close(self, th: TracedThread, decision: Decision) -> None:
        """A call whose exit stop is not waited for (prefilter): forgotten, or (a
        vsyscall) shown unfinished."""
        if not th.hidden:
            self._unfinished(th)
            return
        call = th.call
        th.call = th.decision = None
        if call is not None and decision.return_value is not None:
            self.handler.on_exit(call, decision.return_value, th)

    def _ask_kernel(self, th: TracedThread, call: SyscallCall, outcome: Outcome) -> None:
        """The kernel's seccomp gives ``outcome`` (:mod:`tracer.seccomp_outcomes`); a
        TRAP's line ends here, with what the thread sees (its syscall's number)."""
        assert self._cookie is not None
        seccomp_outcomes.ask(th, call, outcome, self._cookie)
        th.await_exit = False
        if outcome is Outcome.TRAP and th.decision is not None:
            th.decision = dataclasses.replace(th.decision, return_value=None, signals=())
            self._exit(th, call.raw_nr, time.time())
        self._resume(th.tid)

    def _exit(self, th: TracedThread, ret: int, ts: float) -> None:
        call, decision = th.call, th.decision or Decision()
        if call is None:
            return  # the pre-exec child, or an exit we never saw enter
        th.call = th.decision = None
        th.memory_seen = None  # the call may have written it
        if call.name == "prctl":
            th.forget_comm()  # PR_SET_NAME renames the thread
        if decision.return_value is not None:
            ret = decision.return_value
            pt.poke_user(th.tid, _AX, ret)
        self.handler.on_exit(call, ret, th)
        if th.signals:
            self._send(th, th.take_signals())
        if not th.hidden:
            for rec in self.recorders:
                rec.record_exit(call, ret, decision, th, ts)

    def _unfinished(self, th: TracedThread) -> None:
        """Report a syscall that will never return (exit, killed, exec'd away)."""
        if th.call is not None:
            call, decision = th.call, th.decision or Decision()
            th.call = th.decision = None
            if not th.hidden:
                for rec in self.recorders:
                    rec.record_exit(call, None, decision, None, time.time())

    # ---- processes -------------------------------------------------------------------

    def _adopt(self, tid: int, tgid: int) -> TracedThread:
        th = TracedThread(tid, tgid, started=True, fresh=True)
        self.threads[tid] = th
        if self.say is not None:
            self._flush()
            self.say(f"Process {tid} attached")
        if self._mode == "detach":
            self._ask_stop(th)
        elif self._mode == "kill":
            _kill(tgid, signal.SIGKILL)
        return th

    def _exec(self, th: TracedThread, ev: Exec, former: int) -> TracedThread:
        if former != th.tid:
            # A non-leader thread exec'd: the leader (th) vanished without an exit report
            # and the exec'ing thread now has the leader's tid.
            self._unfinished(th)
            execer = self.threads.pop(former, None)
            if execer is not None:
                execer.tid = th.tid
                th = execer
            self.threads[th.tid] = th
        th.tgid = th.tid
        th.started = True
        th.forget_comm()  # the new program's name
        self._report(ev)
        if self._on_process is not None:
            self._on_process(ev, th)
        return th

    def _gone(self, th: TracedThread, ev: Exited | Killed) -> None:
        self.threads.pop(th.tid, None)
        self._unfinished(th)
        if th.started or th.tid == self.initial_pid:
            self._report(ev)
        if self._on_process is not None:
            self._on_process(ev, th)
        if th.tid == self.initial_pid:
            self.final = ev

    # ---- ending early ----------------------------------------------------------------

    def _ask_stop(self, th: TracedThread) -> None:
        """Make a running tracee stop so it can be detached."""
        try:
            if self.seized:
                pt.interrupt(th.tid)
            else:
                pt.tgkill(th.tgid, th.tid, signal.SIGSTOP)
        except ProcessLookupError:
            pass

    def _stop_one(self, th: TracedThread, ev: Event) -> None:
        """A stop after request_stop: kill or detach this tracee."""
        if self._mode == "kill":
            _kill(th.tgid, signal.SIGKILL)
            return
        sig = 0
        ours = False  # the SIGSTOP _ask_stop sent (no SEIZE): swallowed
        match ev:
            case SyscallExit(ret=ret, ts=ts):
                # Interrupted to be detached, it will restart the call: the call goes
                # on untraced, it did not fail (nor is it counted as an error).
                if ret not in _RESTARTS or (th.decision is not None
                                            and th.decision.return_value is not None):
                    with contextlib.suppress(ProcessLookupError):
                        self._exit(th, ret, ts)  # a skipped call still gets its value
            case SignalDelivery(sig=s):
                ours = not self.seized and s == signal.SIGSTOP
                sig = 0 if ours else s
                if not ours and th.started:
                    self._report(ev)  # the program gets it, after the detach
            case Fork(child=child) if child not in self.threads:
                # its child is auto-attached and will stop: it is ours to detach too
                self._adopt(child, th.tgid if tgid_of(child) == th.tgid else child)
        if not self.seized and not ours:
            with contextlib.suppress(ProcessLookupError):
                pt.detach(th.tid, sig)
                pt.tgkill(th.tgid, th.tid, signal.SIGCONT)  # cancels our pending SIGSTOP
            self._detached(th)
            return
        with contextlib.suppress(ProcessLookupError):
            pt.detach(th.tid, sig)
        self._detached(th)

    def _detached(self, th: TracedThread) -> None:
        self.threads.pop(th.tid, None)
        if th.started:
            self._report(Detached(th.tgid, th.tid, time.time()))
        self._unfinished(th)
        if th.tid == self.initial_pid and self.spawned:
            self.initial_detached = True
        if self.say is not None:
            self._flush()
            self.say(f"Process {th.tid} detached")

    def _skip_exec(self, th: TracedThread) -> bool:
        """-b execve: the spawned command's first exec (its start) is not detached."""
        if th.tid in self._first_exec:
            self._first_exec.discard(th.tid)
            return True
        return False

    def _detach_now(self, th: TracedThread) -> None:
        """Detach ``th``, stopped at its exec stop (-b execve)."""
        with contextlib.suppress(ProcessLookupError):
            pt.detach(th.tid, 0)
        self._detached(th)

    # ---- helpers ---------------------------------------------------------------------

    def _resume(self, tid: int, sig: int = 0) -> None:
        # try/except, not contextlib.suppress: this runs at every stop, and the context
        # manager costs more than the ptrace call's wrapper.
        try:
            if self._cont:
                th = self.threads.get(tid)
                if th is None or not th.await_exit:
                    pt.cont(tid, sig)
                    return
            pt.resume_syscall(tid, sig)
        except ProcessLookupError:
            pass  # killed meanwhile; waitpid will say so

    def _send(self, th: TracedThread, requests: Sequence[SignalRequest]) -> None:
        for req in requests:
            try:
                if req.thread:
                    pt.tgkill(th.tgid, th.tid, req.sig)
                else:
                    os.kill(th.tgid, req.sig)
            except ProcessLookupError:
                pass

    def _flush(self) -> None:
        for flush in self._flushers:
            flush()

    def _idle(self) -> None:
        for idle in self._idlers:
            idle()

    def _report(self, ev: ProcessEvent) -> None:
        for rec in self.recorders:
            rec.record_event(ev)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise
