"""What verification leaves on a program for the engines: the verifier's facts.

The contract between the verifier and the engines.  A program the verifier accepted
carries the facts of its verdict (:attr:`bpf_vm.verifier.Verdict.facts`: for each load,
store and atomic, what memory it touches on every path) in
``program.meta["verifier_facts"]``, and the translating engine drops the run-time checks
they make unnecessary (:mod:`bpf_vm.engine.facts`).  A program without facts (loaded
with ``--no-verify``, or never verified) keeps every check.

Whoever verifies a program before it runs calls :func:`mark_verified` with the verdict:
:func:`bpf_vm.load.prog_load` does (``bpf-vm run``, trace-run's probes, policies and
injections load through it).  Mark before the program is compiled into a VM, or compile
it again afterwards (:meth:`bpf_vm.vm.Vm.compile` compiles anew a program whose facts
changed since its last compilation; a run of a program compiled earlier keeps the code
it has, every check included).

The facts hold for the program as verified: its instructions, its program type's
context and the maps its references resolved to.  Change the instructions and the
facts go (:func:`clear_verified`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .program import Program
    from .verifier import Verdict
    from .verifier.core import Facts

#: the key of ``Program.meta`` under which a verified program carries its facts
FACTS_KEY = "verifier_facts"


def mark_verified(program: Program, verdict: Verdict) -> None:
    """Attach ``verdict``'s facts to ``program``: the engines may drop the checks they
    prove unnecessary.  ``verdict`` must be the verifier's acceptance of this program."""
    if not verdict.accepted:
        raise ValueError(f"{program.name}: a refused program has no facts to run with")
    program.meta[FACTS_KEY] = verdict.facts


def clear_verified(program: Program) -> None:
    """Forget ``program``'s facts: it runs with every check (once compiled again)."""
    program.meta.pop(FACTS_KEY, None)


def verifier_facts(program: Program) -> Facts | None:
    """The facts ``program`` carries, or None when it is not marked verified."""
    facts: Facts | None = program.meta.get(FACTS_KEY)
    return facts


__all__ = ["FACTS_KEY", "clear_verified", "mark_verified", "verifier_facts"]
