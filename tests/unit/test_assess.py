"""`assess`, end to end on synthetic predictions: what each configured gate does to the build."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from conveyor.evaluate.assess import assess
from conveyor.evaluate.registry import METRICS, Scored
from conveyor.verdict import Status
from tests.unit.verdicts import settings

ROWS = 400
RNG = np.random.default_rng(0)
FRAME = pd.DataFrame(
    {"gender": RNG.choice(["f", "m"], ROWS), "plan": RNG.choice(["basic", "plus"], ROWS)}
)
LABELS = RNG.integers(0, 2, ROWS)
PERFECT = np.where(LABELS == 1, 0.8, 0.2) + RNG.uniform(-0.1, 0.1, ROWS)
NOISY = np.clip(0.25 * LABELS + 0.75 * RNG.random(ROWS), 0, 1)


def _gates(bound: dict[str, Any], strict: bool = False) -> dict[str, Any]:
    return {"fail_on_inconclusive": strict, "overall": {"roc_auc": bound}}


def test_a_perfect_model_passes() -> None:
    result = assess(FRAME, LABELS, PERFECT, settings(_gates({"min": 0.9})))
    (only,) = result.verdict.gates
    assert only.id == "overall.roc_auc"
    assert only.status is Status.PASS
    assert (only.value, only.ci_low, only.ci_high) == (1.0, 1.0, 1.0)
    assert (only.n, only.positives) == (ROWS, LABELS.sum())
    assert not result.verdict.blocked


def test_a_reversed_model_fails_and_blocks() -> None:
    result = assess(FRAME, LABELS, 1 - PERFECT, settings(_gates({"min": 0.9})))
    (only,) = result.verdict.gates
    assert only.status is Status.FAIL
    assert only.value == 0.0
    assert result.verdict.blocked
    assert result.verdict.outcome is Status.FAIL


def test_a_failing_report_only_gate_does_not_block() -> None:
    result = assess(FRAME, LABELS, 1 - PERFECT, settings(_gates({"min": 0.9, "mode": "report"})))
    assert result.verdict.gates[0].status is Status.FAIL
    assert not result.verdict.blocked


def _on_the_point() -> float:
    """A bound at the noisy model's own AUC: its interval is bound to straddle it."""
    scored = Scored(LABELS, NOISY, (NOISY >= 0.5).astype(int))
    return round(METRICS["roc_auc"].point(scored), 4)


@pytest.mark.parametrize("strict", [False, True])
def test_an_inconclusive_gate_blocks_only_when_asked_to(strict: bool) -> None:
    result = assess(FRAME, LABELS, NOISY, settings(_gates({"min": _on_the_point()}, strict)))
    assert result.verdict.gates[0].status is Status.INCONCLUSIVE
    assert result.verdict.fail_on_inconclusive is strict
    assert result.verdict.blocked is strict


def test_the_assessment_carries_slices_fairness_and_the_bootstrap() -> None:
    gates = {
        **_gates({"min": 0.5}),
        "bootstrap": {"resamples": 150, "seed": 4, "level": 0.9},
        "slices": {
            "min_support": {"rows": 10, "positives": 5},
            "metrics": {"recall": {"min": 0.5}},
        },
        "fairness": {
            "min_support": {"rows": 10, "positives": 5},
            "bounds": {"gender": {"demographic_parity_difference": {"max": 0.5}}},
        },
    }
    result = assess(FRAME, LABELS, NOISY, settings(gates))
    assert set(result.slices) == {"gender", "plan"}
    assert set(result.fairness) == {"gender"}
    assert list(result.fairness_chart["group"]) == ["gender=f", "gender=m"]
    assert result.verdict.bootstrap == {"resamples": 150, "seed": 4, "level": 0.9}
    kinds = [g.kind for g in result.verdict.gates]
    assert kinds == ["overall"] + ["slice"] * 4 + ["fairness"]
    assert all(g.ci_level == 0.9 for g in result.verdict.gates)
    again = assess(FRAME, LABELS, NOISY, settings(gates))
    assert again.verdict == result.verdict  # seeded: the same intervals every run


def test_the_decision_threshold_comes_from_the_settings() -> None:
    gates = {"overall": {"selection_rate": {"max": 1.0}}}
    low = assess(FRAME, LABELS, NOISY, settings(gates))
    raw = settings(gates)
    high = raw.model_copy(update={"model": raw.model.model_copy(update={"threshold": 0.9})})
    high_rate = assess(FRAME, LABELS, NOISY, high).verdict.gates[0].value
    assert high_rate == pytest.approx((NOISY >= 0.9).mean())
    assert low.verdict.gates[0].value == pytest.approx((NOISY >= 0.5).mean())
