"""Population stability index and the buckets it is computed over, on known distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conveyor.drift import FLOOR, MISSING, UNSEEN, feature_drift, psi, references

REFERENCE = {
    "tenure": {
        "kind": "numeric", "missing_fraction": 0.1,
        "bin_edges": [30.0, 50.0], "bin_fractions": [0.25, 0.5, 0.25],
    },
    "plan": {
        "kind": "categorical", "missing_fraction": 0.0,
        "frequencies": {"basic": 0.75, "plus": 0.25},
    },
}  # fmt: skip


def test_psi_is_zero_on_the_same_distribution_at_any_scale() -> None:
    assert psi([0.2, 0.3, 0.5], [20, 30, 50]) == 0.0
    assert psi([0.2, 0.3, 0.5], [2000, 3000, 5000]) == 0.0


def test_psi_matches_its_formula_on_a_known_shift() -> None:
    expected = 0.3 * math.log(0.8 / 0.5) + (-0.3) * math.log(0.2 / 0.5)
    assert psi([0.5, 0.5], [80, 20]) == pytest.approx(expected)
    assert psi([0.5, 0.5], [80, 20]) > 0.25  # a large shift by the usual reading


def test_an_empty_bucket_counts_with_the_floor_not_infinity() -> None:
    value = psi([0.5, 0.5, 0.0], [50, 50, 0])
    assert math.isfinite(value) and value == pytest.approx(0.0, abs=1e-6)
    moved = psi([0.5, 0.5, 0.0], [0, 0, 10])  # everything in a bucket training never had
    assert moved > 10 and math.isfinite(moved)
    assert FLOOR > 0


def test_no_rows_is_undefined() -> None:
    assert math.isnan(psi([0.5, 0.5], [0, 0]))


def test_numeric_buckets_hold_missing_values_and_the_bins() -> None:
    tenure = references(REFERENCE)["tenure"]
    assert tenure.buckets == (MISSING, "[-inf, 30)", "[30, 50)", "[50, inf)")
    assert tenure.expected == pytest.approx((0.1, 0.225, 0.45, 0.225))
    counts = tenure.counts([None, float("nan"), 10, 30, 49.9, 50, 80])
    assert counts.tolist() == [2, 1, 2, 2]


def test_a_sample_like_training_does_not_drift_and_a_shifted_one_does() -> None:
    tenure = references(REFERENCE)["tenure"]
    rng = np.random.default_rng(0)
    like = np.concatenate([
        [None] * 100, rng.uniform(0, 30, 225), rng.uniform(30, 50, 450), rng.uniform(50, 90, 225)
    ])  # fmt: skip
    assert feature_drift(tenure, like).psi == pytest.approx(0.0, abs=1e-9)
    longer = rng.uniform(50, 90, 1000)
    shifted = feature_drift(tenure, longer)
    assert shifted.psi > 1 and shifted.missing_fraction == 0.0 and shifted.rows == 1000


def test_categories_never_seen_in_training_go_to_the_unseen_bucket() -> None:
    plan = references(REFERENCE)["plan"]
    assert plan.buckets == (MISSING, "basic", "plus", UNSEEN)
    assert plan.counts(["basic", " plus ", "gold", None, "", "basic"]).tolist() == [2, 2, 1, 1]
    found = feature_drift(plan, ["basic"] * 60 + ["plus"] * 20 + ["gold"] * 20)
    assert found.unseen_fraction == pytest.approx(0.2)
    assert found.psi > 0.25
    assert found.as_dict()["unseen_fraction"] == 0.2
    same = feature_drift(plan, ["basic"] * 75 + ["plus"] * 25)
    assert same.psi == pytest.approx(0.0, abs=1e-6) and same.unseen_fraction == 0.0


def test_the_prediction_line_marks_scores_past_the_threshold_and_says_why_none() -> None:
    from conveyor.drift_check import prediction_line

    calm = {"skipped": None, "psi": 0.05, "positive_rate": 0.2, "reference_positive_rate": 0.21}
    moved = {**calm, "psi": 0.31}
    assert "🔴" not in prediction_line(calm, 0.2)
    assert "PSI 0.3100 against the training scores 🔴 past the threshold" in prediction_line(
        moved, 0.2
    )
    assert "(training: 21.00%)" in prediction_line(calm, 0.2)
    assert prediction_line({"skipped": "no model"}, 0.2) == (
        "Predicted probabilities not judged: no model."
    )
