"""Fairness groups, their support, and the disparities the gates bound, against fairlearn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm
from sklearn import metrics as skm

from conveyor.contract import predict_labels
from conveyor.evaluate.bootstrap import poisson_weights
from conveyor.evaluate.fairness import (
    CHART_RATES,
    evaluate_fairness,
    group_counts,
    group_labels,
    groupings,
)
from conveyor.evaluate.registry import GROUP_RATES
from conveyor.verdict import GateResult, Mode, Status
from tests.unit.verdicts import settings

FAIRLEARN_RATES: dict[str, Any] = {
    "selection_rate": flm.selection_rate,
    "true_positive_rate": flm.true_positive_rate,
    "false_positive_rate": flm.false_positive_rate,
    "accuracy": skm.accuracy_score,
}
GATES = {
    "fairness": {
        "min_support": {"rows": 30, "positives": 5},
        "intersections": [["gender", "region"]],
        "bounds": {
            "gender": {
                "equalized_odds_difference": {"max": 0.2},
                "demographic_parity_ratio": {"min": 0.8, "mode": "report"},
            },
            "region": {
                "demographic_parity_difference": {"max": 0.1},
                "equalized_odds_ratio": {"min": 0.1, "mode": "off"},
            },
            "gender&region": {"equalized_odds_difference": {"max": 0.3, "mode": "report"}},
        },
    }
}
SETTINGS = settings(GATES, sensitive_features=["gender", "region"])


def test_group_labels_of_a_feature_and_an_intersection() -> None:
    frame = pd.DataFrame({"gender": ["f", "m", "f"], "region": ["north", "east", "(missing)"]})
    assert group_labels(frame, "gender").tolist() == ["f", "m", "f"]
    assert group_labels(frame, "gender&region").tolist() == ["f&north", "m&east", "f&(missing)"]
    numbers = pd.DataFrame({"a": [1, 2], "b": [3.5, 4.0]})
    assert group_labels(numbers, "a&b").tolist() == ["1&3.5", "2&4.0"]


def test_groupings_are_the_features_then_the_intersections() -> None:
    assert groupings(SETTINGS) == ["gender", "region", "gender&region"]


def test_group_counts_by_hand() -> None:
    labels = np.array([1, 1, 0, 0, 1, 0, 1])
    predicted = np.array([1, 0, 1, 0, 1, 1, 0])
    codes = np.array([0, 0, 0, 0, 1, 1, 2])
    counts = group_counts(labels, predicted, codes, 3, None)
    assert counts.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 0]]  # tp, fp, fn, tn
    weights = np.array([[2, 0, 0, 1, 1, 1, 3]], dtype=np.float32)
    resampled = group_counts(labels, predicted, codes, 3, weights)
    assert resampled.shape == (1, 3, 4)
    assert resampled[0].tolist() == [[2, 0, 0, 1], [1, 1, 0, 0], [0, 0, 3, 0]]


def synthetic(rows: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Group m is selected more often than f at every label; region `central` has ~20 rows,
    every one predicted positive (it would dominate every disparity if it counted)."""
    rng = np.random.default_rng(seed)
    gender = rng.choice(["f", "m"], rows)
    region = rng.choice(["north", "east", "west", "central"], rows, p=[0.45, 0.3, 0.243, 0.007])
    labels = (rng.random(rows) < np.where(gender == "m", 0.4, 0.3)).astype(int)
    probabilities = 0.35 * labels + 0.5 * rng.random(rows) + np.where(gender == "m", 0.15, 0.0)
    probabilities = np.where(region == "central", 0.99, probabilities)
    frame = pd.DataFrame({"gender": gender, "region": region})
    return frame, labels, predict_labels(probabilities, 0.5)


FRAME, LABELS, PREDICTED = synthetic()
CENTRAL = (FRAME["region"] == "central").to_numpy()


def _evaluate(
    frame: pd.DataFrame = FRAME, labels: np.ndarray = LABELS, predicted: np.ndarray = PREDICTED
) -> tuple[dict[str, Any], dict[str, GateResult], pd.DataFrame]:
    weights = poisson_weights(len(labels), 300, seed=0)
    report, gates, chart = evaluate_fairness(frame, labels, predicted, weights, SETTINGS)
    return report, {g.id: g for g in gates}, chart


REPORT, FAIRNESS_GATES, CHART = _evaluate()


def test_the_synthetic_data_is_as_described() -> None:
    assert 5 <= CENTRAL.sum() < 30
    assert PREDICTED[CENTRAL].all()


def test_groups_below_support_are_reported_and_excluded() -> None:
    region = REPORT["region"]
    assert region["excluded_groups"] == ["central"]
    assert region["groups"]["central"]["included"] is False
    assert all(region["groups"][g]["included"] for g in ("north", "east", "west"))
    assert region["support"] == {"rows": 30, "positives": 5}
    assert REPORT["gender"]["excluded_groups"] == []
    intersection = REPORT["gender&region"]
    assert set(intersection["excluded_groups"]) == {"f&central", "m&central"}
    assert len(intersection["groups"]) == 8


def test_rows_and_positives_per_group() -> None:
    for grouping, column in (("gender", FRAME["gender"]), ("region", FRAME["region"])):
        for group, entry in REPORT[grouping]["groups"].items():
            rows = (column == group).to_numpy()
            assert entry["rows"] == rows.sum()
            assert entry["positives"] == LABELS[rows].sum()


@pytest.mark.parametrize("grouping", ["gender", "region", "gender&region"])
def test_group_rates_equal_fairlearn_metric_frame(grouping: str) -> None:
    frame = flm.MetricFrame(
        metrics=FAIRLEARN_RATES,
        y_true=LABELS,
        y_pred=PREDICTED,
        sensitive_features=group_labels(FRAME, grouping),
    )
    groups = REPORT[grouping]["groups"]
    assert sorted(groups) == sorted(frame.by_group.index)
    for group, entry in groups.items():
        for rate in GROUP_RATES:
            assert entry[rate] == pytest.approx(frame.by_group.loc[group, rate], abs=1e-6)


@pytest.mark.parametrize(
    ("grouping", "disparity"),
    [
        ("gender", flm.equalized_odds_difference),
        ("gender", flm.demographic_parity_ratio),
        ("region", flm.demographic_parity_difference),
        ("region", flm.demographic_parity_ratio),
        ("region", flm.equalized_odds_difference),
        ("region", flm.equalized_odds_ratio),
        ("gender&region", flm.equalized_odds_difference),
        ("gender&region", flm.demographic_parity_difference),
    ],
)
def test_disparities_are_fairlearns_over_the_included_groups_only(
    grouping: str, disparity: Any
) -> None:
    labels = group_labels(FRAME, grouping)
    excluded = REPORT[grouping]["excluded_groups"]
    kept = ~labels.isin(excluded).to_numpy()
    assert (grouping == "gender") == (not excluded)
    expected = disparity(LABELS[kept], PREDICTED[kept], sensitive_features=labels[kept])
    found = REPORT[grouping]["disparities"][disparity.__name__]
    assert found["value"] == pytest.approx(expected, abs=1e-6)
    with_everyone = disparity(LABELS, PREDICTED, sensitive_features=labels)
    if grouping != "gender":  # the small group would have changed the number
        assert abs(with_everyone - expected) > 0.05


def test_a_gate_judges_the_reported_disparity_with_the_included_support() -> None:
    found = FAIRNESS_GATES["fairness.region.demographic_parity_difference"]
    reported = REPORT["region"]["disparities"]["demographic_parity_difference"]
    assert found.value == pytest.approx(reported["value"], abs=1e-6)
    assert found.ci_low == pytest.approx(reported["ci_low"], abs=1e-6)
    assert found.n == (~CENTRAL).sum()
    assert found.positives == LABELS[~CENTRAL].sum()
    assert (found.kind, found.group, found.direction, found.bound) == (
        "fairness",
        "region",
        "max",
        0.1,
    )


def test_the_point_estimate_lies_within_its_interval() -> None:
    for grouping in ("gender", "region"):
        for name, found in REPORT[grouping]["disparities"].items():
            assert found["ci_low"] <= found["value"] <= found["ci_high"], (grouping, name)
            assert found["ci_low"] < found["ci_high"], (grouping, name)


def test_a_real_disparity_fails_its_gate() -> None:
    """m's scores are shifted up by 0.15 (of a 0.5-wide spread) at every label: true and false
    positive rates differ by about 0.3, wholly above the 0.2 bound."""
    odds = FAIRNESS_GATES["fairness.gender.equalized_odds_difference"]
    assert odds.value is not None and 0.25 < odds.value < 0.35
    assert odds.status is Status.FAIL
    assert odds.blocks(fail_on_inconclusive=False)
    ratio = FAIRNESS_GATES["fairness.gender.demographic_parity_ratio"]
    assert ratio.status is Status.FAIL  # m selected far more often: the ratio is well below 0.8
    assert ratio.mode is Mode.REPORT
    assert not ratio.blocks(fail_on_inconclusive=True)


def test_only_active_bounds_become_gates() -> None:
    assert sorted(FAIRNESS_GATES) == [
        "fairness.gender&region.equalized_odds_difference",
        "fairness.gender.demographic_parity_ratio",
        "fairness.gender.equalized_odds_difference",
        "fairness.region.demographic_parity_difference",
    ]


def test_fewer_than_two_groups_with_support_leave_the_gate_not_gated() -> None:
    frame = FRAME.assign(gender=np.where(np.arange(len(FRAME)) < 20, "m", "f"))
    report, gates, _ = _evaluate(frame)
    assert report["gender"]["excluded_groups"] == ["m"]
    assert report["gender"]["disparities"] == {}
    found = gates["fairness.gender.equalized_odds_difference"]
    assert found.status is Status.NOT_GATED
    assert (found.value, found.ci_low, found.ci_high) == (None, None, None)
    assert found.n == len(FRAME) - 20
    assert found.message == (
        "gender equalized_odds_difference: not gated "
        f"(fewer than two groups with enough support, n={len(FRAME) - 20:,})"
    )
    assert not found.blocks(fail_on_inconclusive=True)


def test_the_chart_has_one_row_per_group() -> None:
    assert list(CHART.columns) == ["group", *CHART_RATES]
    assert len(CHART) == 2 + 4 + 8
    row = CHART.set_index("group").loc["gender=f"]
    assert row["selection_rate"] == REPORT["gender"]["groups"]["f"]["selection_rate"]
    assert "gender&region=m&north" in set(CHART["group"])


@pytest.mark.parametrize("missing_class", [0, 1])
def test_a_group_with_one_class_only_is_excluded_even_without_a_positives_minimum(
    missing_class: int,
) -> None:
    """With no positives (or no negatives) a group's TPR (or FPR) is undefined; let in, it
    would turn every disparity into NaN and silently stop a blocking gate from gating."""
    lenient = settings(
        {"fairness": {**GATES["fairness"], "min_support": {"rows": 30, "positives": 0}}},
        sensitive_features=["gender", "region"],
    )
    labels = LABELS.copy()
    one_class = (FRAME["gender"] == "m").to_numpy()
    labels[one_class] = 1 - missing_class
    weights = poisson_weights(len(labels), 300, seed=0)
    report, gates, _ = evaluate_fairness(FRAME, labels, PREDICTED, weights, lenient)
    assert "m" in report["gender"]["excluded_groups"]
    undefined = "true_positive_rate" if missing_class == 1 else "false_positive_rate"
    assert report["gender"]["groups"]["m"][undefined] is None
    odds = next(g for g in gates if g.id == "fairness.gender.equalized_odds_difference")
    assert odds.status is Status.NOT_GATED  # one group left: nothing to compare, and it says so
    assert "fewer than two groups with enough support" in odds.message
    kept = report["region"]["disparities"]["demographic_parity_difference"]
    assert kept["value"] is not None
