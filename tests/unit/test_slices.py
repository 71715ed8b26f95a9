"""Slices on a hand-made frame: labels, order, the support rule, and values from the registry."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from conveyor.contract import predict_labels
from conveyor.evaluate.bootstrap import poisson_weights
from conveyor.evaluate.registry import METRICS, Scored
from conveyor.evaluate.slices import REPORTED, evaluate_slices, find_slices, slice_labels
from conveyor.verdict import GateResult, Mode, Status
from tests.unit.verdicts import settings

EDGES = [0.0, 25.0, 35.0, 65.0, 120.0]


def test_numbers_fall_into_half_open_bins() -> None:
    values = pd.Series([0, 24.9, 25, 34, 35, 64.5, 119, 120, 130, -1, None])
    assert slice_labels(values, EDGES).tolist() == [
        "[0, 25)", "[0, 25)", "[25, 35)", "[25, 35)", "[35, 65)", "[35, 65)", "[65, 120)",
        "(outside bins)", "(outside bins)", "(outside bins)", "(outside bins)",
    ]  # fmt: skip


def test_fractional_edges_are_printed_as_written() -> None:
    assert slice_labels(pd.Series([0.25, 0.75]), [0.0, 0.5, 1.0]).tolist() == [
        "[0, 0.5)",
        "[0.5, 1)",
    ]


def test_without_bins_the_value_is_the_label() -> None:
    values = pd.Series(["basic", "plus", 3, "(missing)"], index=[10, 11, 12, 13])
    labels = slice_labels(values, None)
    assert labels.tolist() == ["basic", "plus", "3", "(missing)"]
    assert labels.index.tolist() == [10, 11, 12, 13]


# Twelve rows: plan basic (6 rows, 3 positives), plus (4, 1), premium (2, 1); gender
# alternates f (4 positives) and m (1 positive).
FRAME = pd.DataFrame(
    {
        "plan": ["basic"] * 6 + ["plus"] * 4 + ["premium"] * 2,
        "gender": ["f", "m"] * 6,
        "tenure_months": [3, 20, 12, 50, 30, 5, 26, 33, 64, 60, 2, 40],
    },
    index=range(100, 112),  # not 0..n: rows are found by position
)
LABELS = np.array([1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0])
PROBABILITIES = np.array([0.9, 0.7, 0.3, 0.6, 0.2, 0.1, 0.8, 0.4, 0.3, 0.6, 0.4, 0.7])
SCORED = Scored(LABELS, PROBABILITIES, predict_labels(PROBABILITIES, 0.5))
GATES = {
    "slices": {
        "min_support": {"rows": 4, "positives": 2},
        "bins": {"tenure_months": [0, 25, 35, 65]},
        "metrics": {
            "recall": {"min": 0.5},
            "roc_auc": {"min": 0.5, "mode": "report"},
            "f1": {"min": 0.1, "mode": "off"},
        },
    }
}
SETTINGS = settings(GATES, slice_columns=["plan", "gender", "tenure_months"])


def test_find_slices_lists_every_column_in_order_and_values_sorted() -> None:
    found = find_slices(FRAME, SETTINGS)
    assert [s.name for s in found] == [
        "plan=basic", "plan=plus", "plan=premium", "gender=f", "gender=m",
        "tenure_months=[0, 25)", "tenure_months=[25, 35)", "tenure_months=[35, 65)",
    ]  # fmt: skip
    rows = {s.name: s.rows.tolist() for s in found}
    assert rows["plan=plus"] == [6, 7, 8, 9]
    assert rows["gender=m"] == [1, 3, 5, 7, 9, 11]
    assert rows["tenure_months=[35, 65)"] == [3, 8, 9, 11]
    assert rows["tenure_months=[25, 35)"] == [4, 6, 7]
    assert sorted(np.concatenate([r for n, r in rows.items() if n.startswith("plan")])) == list(
        range(12)
    )


def test_values_outside_the_bins_or_missing_form_one_slice() -> None:
    """A numeric slice column may hold a value past the last edge, or none (numeric features
    are imputed by the model, so prepare keeps their missing values)."""
    frame = FRAME.assign(tenure_months=[3, 20, 12, 70, 30, 5, 26, np.nan, 64, 65, 2, 200])
    rows = {s.name: s.rows.tolist() for s in find_slices(frame, SETTINGS)}
    assert rows["tenure_months=(outside bins)"] == [3, 7, 9, 11]
    assert rows["tenure_months=[35, 65)"] == [8]


def _evaluate() -> tuple[dict[str, Any], dict[str, GateResult]]:
    weights = poisson_weights(len(LABELS), 200, seed=0)
    report, gates = evaluate_slices(frame=FRAME, scored=SCORED, weights=weights, settings=SETTINGS)
    return report, {g.id: g for g in gates}


def test_the_report_holds_support_and_registry_values_for_every_slice() -> None:
    report, _ = _evaluate()
    basic = report["plan"]["basic"]
    assert basic["rows"] == 6 and basic["positives"] == 3 and basic["gated"] is True
    # predicted 1,1,0,1,0,0 -> TP 2, FN 1, FP 1, TN 2; positives .9 .7 .3 beat 8 of 9 negatives
    assert basic["metrics"]["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert basic["metrics"]["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert basic["metrics"]["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert basic["metrics"]["roc_auc"] == pytest.approx(8 / 9, abs=1e-6)
    assert basic["metrics"]["selection_rate"] == pytest.approx(0.5, abs=1e-6)
    assert set(basic["metrics"]) == set(REPORTED)
    plus, premium = report["plan"]["plus"], report["plan"]["premium"]
    assert (plus["rows"], plus["positives"], plus["gated"]) == (4, 1, False)
    assert (premium["rows"], premium["positives"], premium["gated"]) == (2, 1, False)
    assert report["gender"]["m"]["gated"] is False
    assert report["gender"]["f"]["gated"] is True


def test_undefined_slice_metrics_are_null() -> None:
    report, _ = _evaluate()
    outside = report["tenure_months"]["[35, 65)"]
    assert outside["positives"] == 0
    assert outside["metrics"]["recall"] is None
    assert outside["metrics"]["roc_auc"] is None


def test_small_slices_are_not_gated_and_say_why() -> None:
    _, gates = _evaluate()
    plus = gates["slice.plan=plus.recall"]
    assert plus.status is Status.NOT_GATED  # 4 rows but 1 positive
    assert plus.message == "plan=plus recall: not gated (support below 4 rows / 2 positives, n=4)"
    assert (plus.n, plus.positives, plus.value) == (4, 1, None)
    premium = gates["slice.plan=premium.roc_auc"]  # 2 rows
    assert premium.status is Status.NOT_GATED
    assert premium.mode is Mode.REPORT
    assert gates["slice.gender=m.recall"].status is Status.NOT_GATED


def test_gated_slices_carry_the_registry_point_value_and_an_interval() -> None:
    _, gates = _evaluate()
    for name, rows in (("plan=basic", slice(0, 6)), ("gender=f", slice(0, 12, 2))):
        for metric in ("recall", "roc_auc"):
            found = gates[f"slice.{name}.{metric}"]
            expected = METRICS[metric].point(SCORED.rows(np.arange(12)[rows]))
            assert found.value == pytest.approx(expected)
            assert found.status is not Status.NOT_GATED
            assert found.ci_low is not None and found.ci_high is not None
            assert found.ci_low <= found.ci_high
            assert found.n == len(range(12)[rows])


def test_only_active_metrics_are_gated_for_every_slice() -> None:
    _, gates = _evaluate()
    assert not [g for g in gates if g.endswith(".f1")]  # mode off: not computed
    slices = len(find_slices(FRAME, SETTINGS))
    assert len(gates) == 2 * slices
    assert {g.rsplit(".", 1)[1] for g in gates} == {"recall", "roc_auc"}


def test_no_slice_columns_no_slices() -> None:
    bare = settings(None, slice_columns=[])
    weights = poisson_weights(len(LABELS), 200, seed=0)
    assert evaluate_slices(frame=FRAME, scored=SCORED, weights=weights, settings=bare) == ({}, [])
