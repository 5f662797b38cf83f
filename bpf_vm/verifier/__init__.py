"""The verifier: the kernel's verdict on a program, for the kernel's reasons, in the
kernel's words, before the program runs.

:func:`verify` walks every path of a program by abstract interpretation, as
kernel/bpf/verifier.c does (Linux 6.18 as the reference): registers are not
initialised, scalars (tnum plus signed/unsigned 64/32-bit bounds) or typed pointers
(ctx, stack, map pointer, map value and its ``_or_null`` form, ring-buffer memory,
function); the stack is tracked per byte (never written, data, zero, spilled
register); the context follows each program type's access rules; helper arguments
are checked against their prototypes; ring-buffer reservations are references that
must be released on every path; loops are walked until they end, with state pruning,
loop detection and the 1,000,000-instruction limit; BPF-to-BPF calls, bpf_loop
callbacks, MAX_CALL_FRAMES and the 512-byte combined stack.

The result, a :class:`Verdict`, carries the log in the kernel's format (level 1: the
failing path; level 2: every state), the processed-instruction count and, with
``record=True``, the state before each instruction on every path
(:attr:`Verdict.states`, a public API for the explorer page).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import VerifierReject
from ..helper_table import HelperTable
from ..insn import Insn
from ..isa import Pseudo
from ..program import Program
from .cfg import CfgError, check_cfg, check_subprogs, subprogs
from .core import Checker, Facts
from .ctx import KERNEL_NUMBER, ProgKind
from .decode import decode_lenient, prechecks
from .errors import Refuse
from .liveness import fmt_live, live_regs
from .log import Log

__all__ = ["KERNEL_NUMBER", "ProgKind", "Verdict", "VerifierRefused", "check", "verify",
           "verify_bytes"]

MAX_BPF_STACK = 512
MAX_TAIL_CALL_STACK = 256


class VerifierRefused(VerifierReject):
    """The verifier refused a program: ``verdict`` has the log."""

    def __init__(self, verdict: Verdict, program: str = "") -> None:
        self.verdict = verdict
        self.program = program
        super().__init__(verdict.error or "refused", verdict.pc)
        self.args = (f"{program + ': ' if program else ''}verifier refused the program: "
                     f"{verdict.error}",)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class Verdict:
    """What the verifier decided.  ``error`` is the kernel's message, ``pc`` where;
    ``log`` the whole log; ``errno`` what BPF_PROG_LOAD would return (0 accepted)."""
    accepted: bool
    log: str
    processed: int
    error: str | None = None
    pc: int | None = None
    errno: int = 0
    stack_depth: tuple[int, ...] = ()
    states: dict[int, list[dict[str, str]]] = field(default_factory=dict)
    facts: Facts = field(default_factory=Facts)

    def last_lines(self, n: int = 6) -> list[str]:
        """The log's last ``n`` lines before the statistics (what an error shows)."""
        lines = [ln for ln in self.log.splitlines() if ln.strip()]
        return lines[-n - 1:-1] if lines and lines[-1].startswith("processed ") else \
            lines[-n:]


MapResolver = Callable[[int, int], Any]


def _resolver(program: Program, maps: Mapping[int, Any] | None) -> MapResolver:
    def resolve(src: int, num: int) -> Any:
        if src in (Pseudo.MAP_FD, Pseudo.MAP_VALUE):
            return (maps or {}).get(num)
        return program.maps[num] if 0 <= num < len(program.maps) else None
    return resolve


def _default_helpers() -> HelperTable:
    from ..helpers import default_helpers
    return default_helpers()


def _stats(v: Checker | None, processed: int) -> str:
    if v is None:
        return (f"processed {processed} insns (limit 1000000) max_states_per_insn 0 "
                f"total_states 0 peak_states 0 mark_read 0\n")
    return (f"processed {v.processed} insns (limit 1000000) max_states_per_insn "
            f"{v.max_per_insn} total_states {v.total_states} peak_states {v.peak_states} "
            f"mark_read 0\n")


def verify(program: Program, *, prog_type: str | ProgKind = ProgKind.KPROBE,
           maps: Mapping[int, Any] | None = None, log_level: int = 1,
           privileged: bool = True, helpers: HelperTable | None = None,
           record: bool = False) -> Verdict:
    """Verify ``program`` as BPF_PROG_LOAD of ``prog_type`` would.  ``maps`` resolves
    ld_imm64 BPF_PSEUDO_MAP_FD/MAP_VALUE by fd; BPF_PSEUDO_MAP_IDX forms use
    ``program.maps``.  ``privileged`` is a CAP_BPF/CAP_PERFMON loader (the kernel's
    verdict for root); False is an unprivileged one."""
    return _verify(program.insns, program, prog_type=prog_type, maps=maps,
                   log_level=log_level, privileged=privileged, helpers=helpers,
                   record=record)


def _verify(insns: list[Insn | None], program: Program, *, prog_type: str | ProgKind,
            maps: Mapping[int, Any] | None, log_level: int, privileged: bool,
            helpers: HelperTable | None, record: bool) -> Verdict:
    kind = ProgKind(prog_type)
    log = Log(log_level)
    func_info = bool(program.meta.get("func_info", False))
    resolve = _resolver(program, maps)
    if helpers is None:
        helpers = _default_helpers()
    from ..license import license_is_gpl_compatible
    gpl = license_is_gpl_compatible(program.license)
    if not insns:
        return _refused(log, None, Refuse("program has no instructions", errno=22), 0)
    try:
        subs = subprogs(insns)
        check_subprogs(insns, subs)
        prechecks(insns, resolve, func_info, sleepable=kind is ProgKind.SYSCALL)
        check_cfg(insns, allow_loops=privileged)
    except CfgError as e:
        return _refused(log, None, Refuse(e.message, e.pc, errno=22), 0)
    except Refuse as e:
        return _refused(log, None, e, 0)
    nargs = {h.proto.func_id: len(h.proto.args) for h in helpers}
    nargs[12] = 3
    live = live_regs(insns, nargs)
    if log_level >= 2:
        for i, sp in enumerate(subs):
            log.write(f"func#{i} @{sp.start}\n")
        log.write("Live regs before insn:\n")
        from .kdisasm import kernel_insn
        for pc, insn in enumerate(insns):
            if insn is not None:
                log.write(f"{pc:7d}: {fmt_live(live[pc])} {kernel_insn(insn, pc)}\n")
    v = Checker(insns, subs, kind, helpers, resolve, privileged, log, live, gpl, record,
                func_info)
    try:
        # the walk makes millions of short-lived objects and no cycles: the cyclic
        # collector would only rescan the ones that live (the states kept for pruning)
        gc_was = gc.isenabled()
        gc.disable()
        try:
            v.run()
        finally:
            if gc_was:
                gc.enable()
        _check_stack(v, insns)
    except Refuse as e:
        return _refused(log, v, e, v.processed)
    if log_level == 1:
        log.reset(0)
    log.write(_stats(v, v.processed))
    return Verdict(True, log.text() if log_level else "", v.processed,
                   stack_depth=tuple(v.stack_depth), states=v.states, facts=v.facts)


def _refused(log: Log, v: Checker | None, e: Refuse, processed: int) -> Verdict:
    lines = [*list(e.lines), e.message]
    text = "".join(ln + "\n" for ln in lines)
    if not e.newline:
        text = text[:-1]
    text += "".join(ln + "\n" for ln in e.tail)
    log.level = max(log.level, 1)
    log.write(text)
    log.write(_stats(v, processed))
    return Verdict(False, log.text(), processed, e.message, e.pc, e.errno,
                   stack_depth=tuple(v.stack_depth) if v is not None else (),
                   states=v.states if v is not None else {})


def _callees(insns: list[Insn | None], start: int, end: int) -> list[int]:
    from .cfg import _callee
    return [t for pc in range(start, end) if (t := _callee(insns[pc], pc)) is not None]


def _check_stack(v: Checker, insns: list[Insn | None]) -> None:
    """check_max_stack_depth: along every chain of calls, the frames' stacks (each
    rounded up to 16 bytes, as with the JIT) add up to at most 512; a subprogram that tail-calls may
    have at most 256 bytes of stack in the frames above it."""
    subs = v.subs

    def rounded(i: int) -> int:  # the x86-64 JIT's granularity (round_up_stack_depth)
        return (v.stack_depth[i] + 15) // 16 * 16

    def walk(i: int, above: int, frames: int, seen: tuple[int, ...]) -> None:
        total = above + rounded(i)
        if total > MAX_BPF_STACK:
            raise Refuse(f"combined stack size of {frames} calls is {total}. Too large",
                         errno=22)
        if i in v.tail_call_subs and i and above > MAX_TAIL_CALL_STACK:
            raise Refuse(f"tail_calls are not allowed when call stack of previous frames "
                         f"is {above} bytes. Too large", errno=22)
        for t in _callees(insns, subs[i].start, subs[i].end):
            j = v.sub_start[t]
            if j in seen:
                continue
            walk(j, total, frames + 1, (*seen, j))

    walk(0, 0, 1, (0,))


def check(program: Program, *, prog_type: str | ProgKind = ProgKind.KPROBE,
          maps: Mapping[int, Any] | None = None, privileged: bool = True,
          helpers: HelperTable | None = None, log_level: int = 1) -> Verdict:
    """:func:`verify`, raising :class:`VerifierRefused` when the program is refused."""
    verdict = verify(program, prog_type=prog_type, maps=maps, privileged=privileged,
                     helpers=helpers, log_level=log_level)
    if not verdict.accepted:
        raise VerifierRefused(verdict, program.name)
    return verdict


def verify_bytes(code: bytes, *, name: str = "prog", license: str = "GPL",
                 func_info: bool = False, prog_type: str | ProgKind = ProgKind.KPROBE,
                 maps: Mapping[int, Any] | None = None, log_level: int = 1,
                 privileged: bool = True, helpers: HelperTable | None = None,
                 record: bool = False) -> Verdict:
    """Verify raw bytecode as BPF_PROG_LOAD receives it: a malformed instruction is
    refused with the kernel's message, at the point where the kernel notices it.
    ``func_info``: the load carries BTF function info (needed for callbacks)."""
    if len(code) % 8 or not code:
        log = Log(1)
        return _refused(log, None, Refuse(f"program length {len(code)} is not a positive "
                                          f"multiple of 8", errno=22), 0)
    insns = decode_lenient(code)
    holder = _Holder(name, license, {"func_info": func_info})
    return _verify(insns, holder, prog_type=prog_type, maps=maps,  # type: ignore[arg-type]
                   log_level=log_level, privileged=privileged, helpers=helpers,
                   record=record)


class _Holder:
    """What :func:`_verify` reads of a Program, for bytes that do not make one."""

    def __init__(self, name: str, license: str, meta: dict[str, Any]) -> None:
        self.name = name
        self.license = license
        self.meta = meta
        self.maps: list[Any] = []
