"""bpf_vm.verifier against the host kernel's verifier, on the differential corpus.

Every program of tests/verifier/corpus/*.jsonl (scripts/build_verifier_corpus.py) is
loaded now into the host kernel (its program type, real maps, root's privileges) and into
our verifier, in one batch (scripts/verifier_agreement.evaluate); the tests below assert
the issue's targets on that batch:

* the kernel still decides as recorded (else the corpus is stale: rebuild it);
* verdict agreement >= 97% overall and 100% in every hand-written class;
* no hand-written program accepted by us and refused by the kernel;
* the same error line on >= 90% of the programs both refuse;
* r0 and the context equal after running, in the kernel and in the VM, the
  deterministic syscall programs both accept.

``python3 scripts/verifier_agreement.py`` prints the same figures and every disagreement.
Skipped only when bpf(2) itself is refused here.
"""

from __future__ import annotations

import pytest

from scripts import verifier_agreement as A
from tests.verifier import kernel_load as KL

pytestmark = [pytest.mark.kernel, pytest.mark.slow]   # two programs walk a million insns

RECORDS = A.load_corpus()
HAND_CLASSES = sorted({r["cls"] for r in RECORDS if r["name"].startswith("hand/")})


@pytest.fixture(scope="module")
def ev() -> A.Evaluation:
    reason = KL.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    try:
        return A.evaluate(RECORDS)
    except KL.BpfRefused as exc:
        pytest.skip(str(exc))


def _show(xs: list[A.Outcome]) -> str:
    return "\n".join(f"{o.name}: kernel {A.verdict_text(o.k_accepted, o.k_error)}; ours "
                     f"{A.verdict_text(o.ours_accepted, o.ours_error)}" for o in xs[:40])


def test_the_corpus_is_large_enough() -> None:
    assert len(RECORDS) >= 2000
    assert len({r["name"] for r in RECORDS}) == len(RECORDS)


def test_the_kernel_decides_as_recorded(ev: A.Evaluation) -> None:
    stale = ev.stale()
    assert not stale, "rebuild the corpus (scripts/build_verifier_corpus.py):\n" + "\n".join(
        f"{o.name}: recorded {o.rec['kernel']}, now {o.k_accepted} {o.k_error!r}"
        for o in stale[:40])


def test_verdict_agreement_overall(ev: A.Evaluation) -> None:
    agree, n = ev.agreement()
    assert agree / n >= A.TARGET_VERDICT, _show([o for o in ev.outcomes if not o.agree])


@pytest.mark.parametrize("cls", HAND_CLASSES)
def test_every_hand_written_class_agrees(ev: A.Evaluation, cls: str) -> None:
    xs = [o for o in ev.outcomes if o.cls == cls]
    assert xs
    assert all(o.agree for o in xs), _show([o for o in xs if not o.agree])


def test_nothing_hand_written_that_the_kernel_refuses_is_accepted(ev: A.Evaluation) -> None:
    assert not ev.unsound_hand(), _show(ev.unsound_hand())


def test_same_error_line_when_both_refuse(ev: A.Evaluation) -> None:
    same, n = ev.same_message()
    assert same / n >= A.TARGET_MESSAGE, _show(
        [o for o in ev.both_refuse() if o.ours_error != o.k_error])


def test_runs_agree_with_the_kernel(ev: A.Evaluation) -> None:
    runs = ev.runs()
    assert runs, "no program was run in both"
    differ = [o for o in runs if o.run != "same"]
    assert not differ, "\n".join(f"{o.name}: {o.run}" for o in differ)
