"""What helpers, maps and the generated code may ask of the VM and of the current run.

:class:`bpf_vm.vm.Vm` and :class:`bpf_vm.vm.RunState` implement these protocols; the
modules the VM runs (helpers, maps, the engine) depend on them instead of on
:mod:`bpf_vm.vm`, so imports inside the package flow one way (vm -> engine, helpers,
maps -> context).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .effects import Effects

if TYPE_CHECKING:
    from .helper_table import HelperTable
    from .insn import Insn
    from .kernel_mem import KernelMemory
    from .memory import AddressSpace
    from .program import Program


class VmContext(Protocol):
    """What helpers, maps and code generation need of the VM."""

    #: the host (bpf_vm.host.Host), None until a helper needs one (helpers.host_of)
    host: Any
    #: emulated kernel objects (bpf_vm.kernel_mem.KernelMemory)
    kernel_mem: KernelMemory

    @property
    def helpers(self) -> HelperTable: ...

    @property
    def space(self) -> AddressSpace: ...

    @property
    def budget(self) -> int: ...

    def register_map(self, m: Any) -> int:
        """Make ``m`` known to programs; returns its fd."""
        ...

    def map_at(self, handle: int) -> Any:
        """The map a program's map pointer ``handle`` names, None if none."""
        ...

    def call_function(self, func_addr: int, args: tuple[int, ...]) -> int:
        """Run the subprogram at a BPF_PSEUDO_FUNC address as a callback."""
        ...

    def resolve_map_ref(self, program: Program, insn: Insn) -> int | None:
        """The value of an ld_imm64 that refers to a map."""
        ...


class RunContext(Protocol):
    """What a helper gets as its first argument: the current run."""

    #: the run's effects, None until the first helper with an effect (see effects_of)
    effects: Effects | None

    @property
    def vm(self) -> VmContext: ...

    @property
    def space(self) -> AddressSpace: ...

    @property
    def ctx_addr(self) -> int:
        """The context's address in the VM (0 for a run without a context)."""
        ...


def effects_of(run: RunContext) -> Effects:
    """The run's effects record, created on first use."""
    eff = run.effects
    if eff is None:
        eff = run.effects = Effects()
    return eff


__all__ = ["RunContext", "VmContext", "effects_of"]
