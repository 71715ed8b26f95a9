"""The metric registry against scikit-learn and fairlearn: point values, resamples, disparities.

A row weighted k times must give what scikit-learn gives on the data with that row repeated k
times: that is what makes a bootstrap resample (a weight vector) the same metric as the point
estimate (no weights).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fairlearn import metrics as flm
from sklearn import metrics as skm

from conveyor.contract import predict_labels
from conveyor.evaluate.fairness import group_counts
from conveyor.evaluate.registry import (
    DISPARITIES,
    GROUP_RATES,
    METRICS,
    OVERALL,
    Scored,
    known_disparities,
    known_metrics,
    rates_from_counts,
)

Reference = Callable[[np.ndarray, np.ndarray, np.ndarray], float]
"""scikit-learn's metric as a function of (labels, probabilities, predicted labels)."""

SKLEARN: dict[str, Reference] = {
    "roc_auc": lambda y, p, _: skm.roc_auc_score(y, p),
    "average_precision": lambda y, p, _: skm.average_precision_score(y, p),
    "accuracy": lambda y, _, yhat: skm.accuracy_score(y, yhat),
    "balanced_accuracy": lambda y, _, yhat: skm.balanced_accuracy_score(y, yhat),
    "precision": lambda y, _, yhat: skm.precision_score(y, yhat, zero_division=0),
    "recall": lambda y, _, yhat: skm.recall_score(y, yhat, zero_division=0),
    "f1": lambda y, _, yhat: skm.f1_score(y, yhat, zero_division=0),
    "log_loss": lambda y, p, _: skm.log_loss(y, p, labels=[0, 1]),
    "brier": lambda y, p, _: skm.brier_score_loss(y, p),
    "selection_rate": lambda y, _, yhat: flm.selection_rate(y, yhat),
    "true_positive_rate": lambda y, _, yhat: flm.true_positive_rate(y, yhat),
    "false_positive_rate": lambda y, _, yhat: flm.false_positive_rate(y, yhat),
}
FAIRLEARN_RATES: dict[str, Callable[..., Any]] = {
    "selection_rate": flm.selection_rate,
    "true_positive_rate": flm.true_positive_rate,
    "false_positive_rate": flm.false_positive_rate,
    "accuracy": skm.accuracy_score,
}
FAIRLEARN_DISPARITIES: dict[str, Callable[..., float]] = {
    "demographic_parity_difference": flm.demographic_parity_difference,
    "demographic_parity_ratio": flm.demographic_parity_ratio,
    "equalized_odds_difference": flm.equalized_odds_difference,
    "equalized_odds_ratio": flm.equalized_odds_ratio,
}
THRESHOLD = 0.5


def scored(labels: Any, probabilities: Any) -> Scored:
    labels, probabilities = np.asarray(labels), np.asarray(probabilities, dtype=np.float64)
    return Scored(labels, probabilities, predict_labels(probabilities, THRESHOLD))


def random_scored(rows: int, seed: int) -> Scored:
    """Informative scores rounded to two decimals, so many rows tie (and some sit exactly on
    the threshold), strictly inside (0, 1)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    scores = np.clip(0.35 * labels + 0.65 * rng.random(rows), 0.01, 0.99).round(2)
    return scored(labels, scores)


HAND = scored([0, 0, 1, 1, 1, 0, 1, 0], [0.1, 0.6, 0.8, 0.4, 0.9, 0.2, 0.5, 0.5])


def reference(name: str, data: Scored) -> float:
    return float(SKLEARN[name](data.labels, data.probabilities, data.predicted))


def test_every_metric_has_a_reference() -> None:
    assert set(SKLEARN) == set(METRICS)
    assert set(OVERALL) == set(METRICS) - {"true_positive_rate"}
    assert set(GROUP_RATES) <= set(METRICS)


@pytest.mark.parametrize("name", list(METRICS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_values_equal_scikit_learn_on_random_data_with_ties(name: str, seed: int) -> None:
    data = random_scored(500, seed)
    assert len(np.unique(data.probabilities)) < 100  # ties, many of them
    assert METRICS[name].point(data) == pytest.approx(reference(name, data), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", list(METRICS))
def test_point_values_equal_scikit_learn_on_hand_data(name: str) -> None:
    assert METRICS[name].point(HAND) == pytest.approx(reference(name, HAND), rel=1e-9)


def test_hand_data_by_hand() -> None:
    """predicted 0,1,1,0,1,0,1,1 -> TP 3, FP 2, FN 1, TN 2; AUC: 12.5 of 16 pairs (a tie)."""
    point = {name: METRICS[name].point(HAND) for name in METRICS}
    assert point["accuracy"] == pytest.approx(5 / 8)
    assert point["precision"] == pytest.approx(3 / 5)
    assert point["recall"] == point["true_positive_rate"] == pytest.approx(3 / 4)
    assert point["false_positive_rate"] == pytest.approx(2 / 4)
    assert point["f1"] == pytest.approx(6 / 9)
    assert point["balanced_accuracy"] == pytest.approx((3 / 4 + 2 / 4) / 2)
    assert point["selection_rate"] == pytest.approx(5 / 8)
    assert point["roc_auc"] == pytest.approx(12.5 / 16)


@pytest.mark.parametrize("name", list(METRICS))
def test_a_row_weighted_k_times_is_the_row_repeated_k_times(name: str) -> None:
    data = random_scored(120, seed=5)
    rng = np.random.default_rng(6)
    weights = rng.integers(0, 4, size=(4, 120)).astype(np.float32)
    values = METRICS[name].values(data, weights)
    assert values.shape == (4,)
    for resample, row_weights in enumerate(weights.astype(int)):
        repeated = np.repeat(np.arange(120), row_weights)
        expected = reference(name, data.rows(repeated))
        assert values[resample] == pytest.approx(expected, rel=1e-5), resample


@pytest.mark.parametrize("name", list(METRICS))
def test_unit_weights_give_the_point_value(name: str) -> None:
    data = random_scored(200, seed=3)
    values = METRICS[name].values(data, np.ones((2, 200), dtype=np.float32))
    assert values == pytest.approx([METRICS[name].point(data)] * 2, rel=1e-6)


@pytest.mark.parametrize(
    ("name", "labels", "probabilities"),
    [
        ("roc_auc", [1, 1, 1], [0.2, 0.6, 0.9]),  # one class: no pairs to rank
        ("roc_auc", [0, 0, 0], [0.2, 0.6, 0.9]),
        ("average_precision", [0, 0, 0], [0.2, 0.6, 0.9]),  # no positives
        ("recall", [0, 0, 0], [0.2, 0.6, 0.9]),
        ("true_positive_rate", [0, 0, 0], [0.2, 0.6, 0.9]),
        ("false_positive_rate", [1, 1, 1], [0.2, 0.6, 0.9]),  # no negatives
        ("precision", [0, 1, 1], [0.2, 0.3, 0.4]),  # nothing predicted positive
        ("f1", [0, 0, 0], [0.2, 0.3, 0.4]),  # no positive, none predicted
        ("balanced_accuracy", [1, 1, 1], [0.2, 0.6, 0.9]),  # one class's rate is undefined
    ],
)
def test_undefined_values_are_nan(name: str, labels: list[int], probabilities: list[float]) -> None:
    assert np.isnan(METRICS[name].point(scored(labels, probabilities)))


@pytest.mark.parametrize("name", ["precision", "recall", "f1"])
def test_where_scikit_learn_divides_by_zero_we_say_nan(name: str) -> None:
    """scikit-learn's `zero_division=0` reports 0 where the metric is undefined; the registry
    reports NaN (stored as null), as scikit-learn does with `zero_division=np.nan`."""
    data = scored([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4])
    function = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}
    assert function[name](data.labels, data.predicted, zero_division=0) == 0
    assert np.isnan(function[name](data.labels, data.predicted, zero_division=np.nan))
    assert np.isnan(METRICS[name].point(data))


def test_an_undefined_resample_is_nan_not_an_error() -> None:
    data = scored([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.3])
    weights = np.array([[1, 0, 1, 0], [1, 1, 1, 1]], dtype=np.float32)  # first: positives only
    auc = METRICS["roc_auc"].values(data, weights)
    assert np.isnan(auc[0])
    assert auc[1] == 1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_loss_clips_certain_probabilities_as_scikit_learn_does(dtype: type[Any]) -> None:
    """A probability of exactly 0 or 1 (a float32 model output rounds to them) is clipped to
    [eps, 1 - eps] of its dtype by scikit-learn; the loss stays finite and the same."""
    labels = np.array([1, 0, 1, 0, 1])
    probabilities: np.ndarray = np.array([1.0, 0.0, 0.0, 0.3, 0.7], dtype=dtype)
    data = Scored(labels, probabilities, predict_labels(probabilities, THRESHOLD))
    ours = METRICS["log_loss"].point(data)
    assert np.isfinite(ours)
    assert ours == pytest.approx(skm.log_loss(labels, probabilities), rel=1e-4)


def test_higher_is_better_directions() -> None:
    assert {n for n, m in METRICS.items() if m.higher_is_better is False} == {
        "log_loss",
        "brier",
        "false_positive_rate",
    }
    assert METRICS["selection_rate"].higher_is_better is None


def test_exactly_one_way_to_compute_each_metric() -> None:
    for metric in METRICS.values():
        assert (metric.from_counts is None) != (metric.from_scores is None), metric.name


def grouped_data(rows: int, seed: int) -> tuple[Scored, np.ndarray, np.ndarray]:
    """Labels, scores and one of four unequally sized groups per row, the groups treated
    differently (so every disparity is far from its ideal)."""
    rng = np.random.default_rng(seed)
    group = rng.choice(4, size=rows, p=[0.4, 0.3, 0.2, 0.1])
    labels = (rng.random(rows) < np.array([0.3, 0.4, 0.5, 0.6])[group]).astype(int)
    shift = np.array([0.0, 0.05, 0.1, -0.05])[group]
    scores = np.clip(0.3 * labels + 0.6 * rng.random(rows) + shift, 0.01, 0.99).round(2)
    names = np.array(["g0", "g1", "g2", "g3"])[group]
    codes = np.unique(names, return_inverse=True)[1]
    return scored(labels, scores), names, codes


def per_group_rates(data: Scored, codes: np.ndarray, weights: np.ndarray | None = None) -> Any:
    return rates_from_counts(group_counts(data.labels, data.predicted, codes, 4, weights))


@pytest.mark.parametrize("seed", [0, 1])
def test_group_rates_equal_fairlearn_metric_frame(seed: int) -> None:
    data, names, codes = grouped_data(800, seed)
    rates = per_group_rates(data, codes)
    frame = flm.MetricFrame(
        metrics=FAIRLEARN_RATES, y_true=data.labels, y_pred=data.predicted, sensitive_features=names
    )
    for rate in GROUP_RATES:
        expected = frame.by_group[rate].to_numpy(dtype=float)  # groups sorted, as np.unique
        assert rates[rate] == pytest.approx(expected, rel=1e-9), rate


@pytest.mark.parametrize("name", list(DISPARITIES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_disparities_equal_fairlearn(name: str, seed: int) -> None:
    data, names, codes = grouped_data(800, seed)
    ours = float(DISPARITIES[name].values(per_group_rates(data, codes)))
    expected = FAIRLEARN_DISPARITIES[name](data.labels, data.predicted, sensitive_features=names)
    assert ours == pytest.approx(expected, rel=1e-9)
    assert 0 < ours < 1


@pytest.mark.parametrize("name", list(DISPARITIES))
def test_weighted_disparities_are_disparities_of_repeated_rows(name: str) -> None:
    data, names, codes = grouped_data(300, seed=4)
    weights = np.random.default_rng(8).integers(0, 3, size=(3, 300)).astype(np.float32)
    values = DISPARITIES[name].values(per_group_rates(data, codes, weights))
    assert values.shape == (3,)
    for resample, row_weights in enumerate(weights.astype(int)):
        rows = np.repeat(np.arange(300), row_weights)
        again = data.rows(rows)
        expected = FAIRLEARN_DISPARITIES[name](
            again.labels, again.predicted, sensitive_features=names[rows]
        )
        assert values[resample] == pytest.approx(expected, rel=1e-6), resample


def test_weighted_group_rates_are_rates_of_repeated_rows() -> None:
    data, names, codes = grouped_data(300, seed=9)
    weights = np.random.default_rng(10).integers(0, 3, size=(2, 300)).astype(np.float32)
    rates = per_group_rates(data, codes, weights)
    for resample, row_weights in enumerate(weights.astype(int)):
        rows = np.repeat(np.arange(300), row_weights)
        again = data.rows(rows)
        frame = flm.MetricFrame(
            metrics=FAIRLEARN_RATES,
            y_true=again.labels,
            y_pred=again.predicted,
            sensitive_features=names[rows],
        )
        for rate in GROUP_RATES:
            expected = frame.by_group[rate].to_numpy(dtype=float)
            assert rates[rate][resample] == pytest.approx(expected, rel=1e-6), rate


def test_rates_from_counts_by_hand() -> None:
    counts = np.array([[3.0, 1.0, 1.0, 5.0], [0.0, 0.0, 2.0, 2.0]])  # tp, fp, fn, tn per group
    rates = rates_from_counts(counts)
    assert rates["selection_rate"] == pytest.approx([0.4, 0.0])
    assert rates["true_positive_rate"] == pytest.approx([0.75, 0.0])
    assert rates["false_positive_rate"] == pytest.approx([1 / 6, 0.0])
    assert rates["accuracy"] == pytest.approx([0.8, 0.5])
    assert DISPARITIES["demographic_parity_difference"].values(rates) == pytest.approx(0.4)
    assert DISPARITIES["equalized_odds_difference"].values(rates) == pytest.approx(0.75)
    assert DISPARITIES["demographic_parity_ratio"].values(rates) == pytest.approx(0.0)


def test_rates_from_counts_refuses_a_score_metric() -> None:
    with pytest.raises(ValueError, match="roc_auc is not computed from confusion counts"):
        rates_from_counts(np.ones((2, 4)), ("roc_auc",))


def test_known_names_pass_through() -> None:
    bounds = {"roc_auc": 1, "brier": 2}
    assert known_metrics(bounds) is bounds
    assert known_disparities({"equalized_odds_ratio": 1}) == {"equalized_odds_ratio": 1}


def test_an_unknown_metric_is_rejected_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown metric\(s\) \['auc'\]") as caught:
        known_metrics({"roc_auc": 1, "auc": 2})
    assert all(name in str(caught.value) for name in METRICS)


def test_an_unknown_disparity_is_rejected_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown fairness metric\(s\) \['roc_auc'\]") as caught:
        known_disparities({"roc_auc": 1})
    assert all(name in str(caught.value) for name in DISPARITIES)
