"""Bad input (issue 13): the verifier on random and mutated bytecode.

A CI-sized run of scripts/fuzz_verifier.py: its first 2,000 programs of seed 1 (the full
run, 20,000 programs with ``--kernel``, is the script's).  No program may make the verifier
raise; an accepted program that faults in the VM must call a helper the VM does not
implement, or be one the host kernel accepts too, for a reason the script lists
(``EXPLAINED``): anything else is a program we accept that the kernel refuses, or a fault
nobody has explained yet.
"""

from __future__ import annotations

from collections import Counter

import pytest

from scripts import fuzz_verifier as F

pytestmark = pytest.mark.slow

COUNT, SEED, HANG = 2000, 1, 5.0


@pytest.fixture(scope="module")
def results() -> list[F.Result]:
    return F.fuzz(COUNT, SEED, hang=HANG)


def test_no_traceback(results: list[F.Result]) -> None:
    bad = [r for r in results if r.verdict == "traceback"]
    assert not bad, F.report(bad, 0.0, SEED, HANG)


def test_the_programs_reach_every_verdict(results: list[F.Result]) -> None:
    """The generator still makes programs the verifier accepts and runs, not only ones it
    refuses at the first instruction."""
    verdicts = Counter(r.verdict for r in results)
    assert verdicts["accepted"] >= COUNT // 20, verdicts
    assert verdicts["refused"] >= COUNT // 2, verdicts
    assert sum(r.run == "ok" for r in results) >= COUNT // 25


@pytest.mark.kernel
def test_accepted_programs_fault_only_as_the_kernel_allows(results: list[F.Result]) -> None:
    faulted = [F.evaluate(r.case, kernel=True, hang=HANG) for r in results
               if r.run == "fault" and r.cls != "helper"]
    bad = [r for r in faulted if r.cls != "helper" and (r.cls != "exception"
                                                         or r.reason == "UNEXPLAINED")]
    assert not bad, "\n".join(f"{F.describe(r)}\n  VM: {r.fault}\n  {r.cls}: {r.reason}"
                              for r in bad)
