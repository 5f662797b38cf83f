"""BPF_PROG_LOAD for the VM: a program is verified before it is compiled, once.

The kernel runs its verifier inside BPF_PROG_LOAD: a program that gets an fd (and can
then be attached, or put in a prog array) has been verified, and a refused one never
runs.  :func:`prog_load` is that step for the VM's front ends (``bpf-vm run``,
trace-run's probes, policies and injections): verify, raise
:class:`~bpf_vm.verifier.VerifierRefused` when refused, then compile into the VM.
``verify=False`` skips the verifier and leaves the program to the VM's run-time checks
alone (``--no-verify``: what the verifier prevents, shown by what then happens).

A verdict is cached per :class:`~bpf_vm.program.Program` object (and program type, log
level and helper table): a program loaded again (a policy's program shared by hundreds
of prog-array slots is one object) is verified once.

The program type comes from the section name (:func:`prog_kind`) unless the caller
names one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from .sections import ProgType, section_info

if TYPE_CHECKING:
    from .helper_table import HelperTable
    from .program import Program
    from .verifier import ProgKind, Verdict, VerifierRefused
    from .vm import Vm

#: how many lines of a refused program's log an error shows
TAIL_LINES = 6

_KIND_BY_TYPE = {
    ProgType.KPROBE: "kprobe",
    ProgType.TRACEPOINT: "tracepoint",
    ProgType.RAW_TRACEPOINT: "raw_tracepoint",
    ProgType.RAW_TRACEPOINT_WRITABLE: "raw_tracepoint",
    ProgType.SYSCALL: "syscall",
    ProgType.SOCKET_FILTER: "socket_filter",
}

_CacheKey = tuple[str, int, bool, int]
_cache: WeakKeyDictionary[Program, dict[_CacheKey, Verdict]] = WeakKeyDictionary()


def prog_kind(section: str) -> ProgKind:
    """The verifier's program type for a section name, as libbpf reads the name
    (:func:`bpf_vm.sections.section_info`): ``kprobe``, ``kretprobe``, ``ksyscall``,
    ``kretsyscall``, ``uprobe``, ``uretprobe``, ``usdt`` (every BPF_PROG_TYPE_KPROBE
    section) -> kprobe; ``tracepoint``, ``tp`` -> tracepoint; ``raw_tracepoint``,
    ``raw_tp`` (and their ``.w`` forms), ``tp_btf`` -> raw_tracepoint; ``syscall`` ->
    syscall; ``socket`` -> socket_filter.

    Any other section, and no section at all, is verified as a **kprobe** program: the
    verifier models those five types, and a kprobe's read-only pt_regs context is how
    the VM runs an object's programs (``bpf-vm run OBJ.o``, trace-run's probes).  A
    caller that knows better passes ``prog_type`` to :func:`verify_program`."""
    from .verifier import ProgKind
    info = section_info(section)
    if info.kind == "tp_btf":
        return ProgKind.RAW_TRACEPOINT
    name = _KIND_BY_TYPE.get(info.prog_type) if info.prog_type is not None else None
    return ProgKind(name or "kprobe")


def verify_program(program: Program, *, vm: Vm | None = None,
                   prog_type: str | None = None, log_level: int = 1,
                   helpers: HelperTable | None = None, privileged: bool = True) -> Verdict:
    """The verifier's verdict on ``program`` as loaded into ``vm`` (its helper table,
    and its maps for ld_imm64 BPF_PSEUDO_MAP_FD references), computed once per program
    object and setting.  ``prog_type`` overrides the section's type (:func:`prog_kind`)."""
    from .verifier import ProgKind, verify
    kind = ProgKind(prog_type) if prog_type is not None else prog_kind(program.section)
    if helpers is None and vm is not None:
        helpers = vm.helpers
    key = (str(kind), log_level, privileged, id(helpers))
    verdicts = _cache.get(program)
    if verdicts is None:
        verdicts = _cache[program] = {}
    verdict = verdicts.get(key)
    if verdict is None:
        maps: dict[int, Any] | None = vm._maps_by_fd if vm is not None else None
        verdict = verify(program, prog_type=kind, maps=maps, log_level=log_level,
                         privileged=privileged, helpers=helpers)
        verdicts[key] = verdict
    return verdict


def prog_load(vm: Vm, program: Program, *, verify: bool = True,
              prog_type: str | None = None) -> Verdict | None:
    """Load ``program`` into ``vm`` as BPF_PROG_LOAD does: verify it (once; see
    :func:`verify_program`), raise :class:`~bpf_vm.verifier.VerifierRefused` if it is
    refused, then compile it with the verdict's facts (:func:`bpf_vm.verified.mark_verified`:
    the translating engine drops the checks they prove unnecessary).  ``verify=False``:
    compile only, every run-time check kept (facts from an earlier load are dropped);
    returns the verdict, or None when not verified."""
    from .verified import clear_verified, mark_verified
    verdict = None
    if verify:
        verdict = verify_program(program, vm=vm, prog_type=prog_type)
        if not verdict.accepted:
            from .verifier import VerifierRefused
            raise VerifierRefused(verdict, program.name)
        mark_verified(program, verdict)
    else:
        clear_verified(program)
    vm.compile(program)
    return verdict


def load_programs(vm: Vm, programs: Iterable[Program], *, verify: bool = True) -> None:
    """:func:`prog_load` for each program, in order (what libbpf's bpf_object__load
    does for an object's programs): the first refused one raises."""
    for program in programs:
        prog_load(vm, program, verify=verify)


def refusal_lines(exc: VerifierRefused, *, whole_log: bool = False,
                  hint: str = "--verifier-log prints the whole log",
                  tail: int = TAIL_LINES) -> list[str]:
    """What a front end prints after the one error line (``str(exc)``, which names the
    program and the kernel's message): the log's last ``tail`` lines, preceded by a
    line saying how many were left out and ``hint``; with ``whole_log``, the whole log
    as the kernel writes it (statistics included)."""
    log = exc.verdict.log
    if whole_log:
        return log.rstrip("\n").splitlines()
    lines = [ln for ln in log.splitlines() if ln.strip()]
    if lines and lines[-1].startswith("processed "):
        lines.pop()     # the statistics: the error is the line before them
    shown = lines[-tail:] if tail > 0 else []
    before = len(lines) - len(shown)
    head = [f"... ({before} earlier line{'s' if before != 1 else ''} of the verifier log;"
            f" {hint})"] if before else []
    return head + shown


__all__ = [
    "TAIL_LINES",
    "load_programs",
    "prog_kind",
    "prog_load",
    "refusal_lines",
    "verify_program",
]
