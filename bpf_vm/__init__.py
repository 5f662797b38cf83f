"""bpf_vm: an eBPF virtual machine in Python.

The public API, importable from the package itself (``from bpf_vm import Vm``):

* the VM: :class:`Vm`, :class:`RunResult`, :class:`Effects` (what a run did outside the
  VM), :data:`ENGINES`, :class:`TailCallCounting`, :class:`Step` (traced runs);
* programs and objects: :class:`Program`, :class:`BpfObject`, :func:`load_object` (ELF),
  :func:`load_asm` (assembly text or file), :func:`load_any` (either, by suffix),
  :func:`assemble`, :func:`disassemble` / :func:`disassemble_text` / :func:`format_insn`;
* the host interface: :class:`Host`, :class:`BaseHost`, :class:`ProcessHost`,
  :class:`FakeHost`, :class:`UserMemory`, :class:`TaskFacts` (what the emulated
  task_struct holds); :func:`set_exit_code` and :func:`forget_task` (a front end's
  news of a task's exit and of its id's reuse, for that task_struct);
* helpers: :class:`HelperTable`, :func:`default_helpers`, :class:`HelperFault`;
* maps: :class:`Map`, :class:`MapSpec`, :class:`MapType`, :func:`create_map`;
* the verifier: :func:`verify` (the kernel's verdict on a program, with its log in the
  kernel's format; ``record=True``: the state before each instruction on every path,
  :attr:`Verdict.states`), :class:`Verdict`, :class:`VerifierRefused`; loading as
  BPF_PROG_LOAD does: :func:`prog_load` (verify once per program, then compile),
  :func:`load_programs`, :func:`prog_kind` (a section's program type),
  :func:`refusal_lines` (what a front end prints under a refusal); :func:`mark_verified`
  (a verified program carries its verdict's facts, which let the translating engine drop
  the checks they prove unnecessary; :func:`prog_load` marks);
* errors: :class:`BpfError` and its kinds, :class:`InternalError`;
* effects' output kinds: :class:`PrintkLine`, :class:`RingbufRecord`, :class:`PerfRecord`;
* objects' details: :func:`section_info` (what a section name means to libbpf),
  :func:`dump_maps`, :func:`set_prog_slot`, :data:`SyscallResolver` (the ``ksyscall``
  numbering a loader takes from its caller), :class:`Extension` (what a front end lends
  the ``bpf-vm`` CLI), :class:`DemoChapter` and :class:`Demo` (a front end's chapters of
  ``bpf-vm demo``, and the printer they are given);
* globals and output through BTF: :func:`parse_set_args` and :func:`apply_settings`
  (``--set NAME=VALUE``, read by the variable's BTF type; ``load_any``/``load_object``
  take the parsed settings as ``variables``), :class:`GlobalSetError`;
  :class:`RecordDecoder` (ring-buffer and perf records as JSON and readable lines,
  :class:`RecordLines`), :func:`parse_record_types` (``--record-type MAP=TYPE``),
  :class:`RecordTypeError`;
* the explorer page: :class:`Explorer` (record runs step by step with its ``record``
  hook and write one self-contained HTML page to step through them, as
  ``bpf-vm explain`` and ``trace-run --explain`` do);
* modules: :mod:`pt_regs` (the x86_64 kprobe context layout), :mod:`attach_ctx` (the
  contexts of the kernel's syscall attach points), :mod:`toolchain` (the C -> BPF
  compiler driver);
* ``__version__``.

Importing the package loads none of them: each is imported on first access (module
``__getattr__``), so a tool that needs one part (``bpf-vm-conformance``) starts fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import attach_ctx, pt_regs, toolchain
    from ._version import __version__
    from .asm import assemble
    from .btf_output import RecordDecoder, RecordLines, RecordTypeError, parse_record_types
    from .context import effects_of
    from .demo import Demo, DemoChapter
    from .disasm import disassemble, disassemble_text, format_insn
    from .effects import Effects, PerfRecord, PrintkLine, RingbufRecord
    from .elf import load_object
    from .engine.loops import Step
    from .errors import (
        AsmSyntaxError,
        BpfError,
        BudgetExceeded,
        ElfLoadError,
        InternalError,
        InvalidInstruction,
        MapError,
        VerifierReject,
        VmFault,
    )
    from .explain import Explorer
    from .extension import Extension
    from .globals_set import GlobalSetError, apply_settings, parse_set_args
    from .helper_table import ArgType, HelperFault, HelperProto, HelperTable, RetType
    from .helpers import default_helpers
    from .host import BaseHost, FakeHost, Host, ProcessHost, TaskFacts, UserMemory
    from .kernel_task import forget_task, set_exit_code
    from .load import load_programs, prog_kind, prog_load, refusal_lines
    from .maps import Map, MapSpec, MapType, create_map
    from .objfile import BpfObject, SyscallResolver, load_asm, set_prog_slot
    from .objrun import dump_maps, load_any
    from .program import Program
    from .sections import section_info
    from .verified import mark_verified
    from .verifier import Verdict, VerifierRefused, verify
    from .vm import DEFAULT_BUDGET, ENGINES, RunResult, TailCallCounting, Vm

#: the public submodules
_MODULES = frozenset({"attach_ctx", "pt_regs", "toolchain"})
#: name -> the module (relative to this package) that defines it
_WHERE = {
    "Vm": ".vm", "RunResult": ".vm", "ENGINES": ".vm", "TailCallCounting": ".vm",
    "DEFAULT_BUDGET": ".vm",
    "Effects": ".effects", "PrintkLine": ".effects", "RingbufRecord": ".effects",
    "PerfRecord": ".effects",
    "Extension": ".extension", "Demo": ".demo", "DemoChapter": ".demo",
    "Explorer": ".explain",
    "SyscallResolver": ".objfile", "set_prog_slot": ".objfile",
    "dump_maps": ".objrun",
    "RecordDecoder": ".btf_output", "RecordLines": ".btf_output",
    "RecordTypeError": ".btf_output", "parse_record_types": ".btf_output",
    "GlobalSetError": ".globals_set", "apply_settings": ".globals_set",
    "parse_set_args": ".globals_set",
    "section_info": ".sections",
    "__version__": "._version",
    "Step": ".engine.loops",
    "Program": ".program",
    "verify": ".verifier", "Verdict": ".verifier", "VerifierRefused": ".verifier",
    "prog_load": ".load", "load_programs": ".load", "prog_kind": ".load",
    "refusal_lines": ".load", "mark_verified": ".verified",
    "BpfObject": ".objfile", "load_asm": ".objfile",
    "load_object": ".elf",
    "load_any": ".objrun",
    "assemble": ".asm",
    "disassemble": ".disasm", "disassemble_text": ".disasm", "format_insn": ".disasm",
    "Host": ".host", "BaseHost": ".host", "ProcessHost": ".host", "FakeHost": ".host",
    "UserMemory": ".host", "TaskFacts": ".host",
    "set_exit_code": ".kernel_task", "forget_task": ".kernel_task",
    "HelperTable": ".helper_table", "HelperFault": ".helper_table",
    "HelperProto": ".helper_table", "ArgType": ".helper_table", "RetType": ".helper_table",
    "effects_of": ".context",
    "default_helpers": ".helpers",
    "Map": ".maps", "MapSpec": ".maps", "MapType": ".maps", "create_map": ".maps",
    **dict.fromkeys(("BpfError", "AsmSyntaxError", "BudgetExceeded", "ElfLoadError",
                     "InternalError", "InvalidInstruction", "MapError", "VerifierReject",
                     "VmFault"), ".errors"),
}

__all__ = [
    "DEFAULT_BUDGET",
    "ENGINES",
    "ArgType",
    "AsmSyntaxError",
    "BaseHost",
    "BpfError",
    "BpfObject",
    "BudgetExceeded",
    "Demo",
    "DemoChapter",
    "Effects",
    "ElfLoadError",
    "Explorer",
    "Extension",
    "FakeHost",
    "GlobalSetError",
    "HelperFault",
    "HelperProto",
    "HelperTable",
    "Host",
    "InternalError",
    "InvalidInstruction",
    "Map",
    "MapError",
    "MapSpec",
    "MapType",
    "PerfRecord",
    "PrintkLine",
    "ProcessHost",
    "Program",
    "RecordDecoder",
    "RecordLines",
    "RecordTypeError",
    "RetType",
    "RingbufRecord",
    "RunResult",
    "Step",
    "SyscallResolver",
    "TailCallCounting",
    "TaskFacts",
    "UserMemory",
    "Verdict",
    "VerifierRefused",
    "VerifierReject",
    "Vm",
    "VmFault",
    "__version__",
    "apply_settings",
    "assemble",
    "attach_ctx",
    "create_map",
    "default_helpers",
    "disassemble",
    "disassemble_text",
    "dump_maps",
    "effects_of",
    "forget_task",
    "format_insn",
    "load_any",
    "load_asm",
    "load_object",
    "load_programs",
    "mark_verified",
    "parse_record_types",
    "parse_set_args",
    "prog_kind",
    "prog_load",
    "pt_regs",
    "refusal_lines",
    "section_info",
    "set_exit_code",
    "set_prog_slot",
    "toolchain",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return import_module(f".{name}", __name__)
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'bpf_vm' has no attribute {name!r}")
    value = getattr(import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
