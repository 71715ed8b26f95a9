"""The bootstrap kernels on hand-checked numbers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from conveyor.evaluate.bootstrap import (
    confusion_counts,
    interval,
    poisson_weights,
    ratio,
    row_losses,
    weighted_auc,
    weighted_average_precision,
    weighted_mean,
)


def test_poisson_weights_shape_dtype_and_values() -> None:
    weights = poisson_weights(rows=50, resamples=300, seed=0)
    assert weights.shape == (300, 50)
    assert weights.dtype == np.float32
    assert (weights >= 0).all()
    assert (weights == weights.round()).all()  # whole counts: row j drawn that many times
    assert weights.mean() == pytest.approx(1.0, abs=0.05)  # Poisson(1)
    assert weights.var() == pytest.approx(1.0, abs=0.1)


def test_poisson_weights_are_determined_by_the_seed() -> None:
    first = poisson_weights(rows=20, resamples=10, seed=3)
    assert np.array_equal(first, poisson_weights(rows=20, resamples=10, seed=3))
    assert not np.array_equal(first, poisson_weights(rows=20, resamples=10, seed=4))


def test_interval_is_the_percentile_interval() -> None:
    samples = np.arange(101, dtype=float)  # percentiles are the values themselves
    for level, low, high in ((0.9, 5.0, 95.0), (0.95, 2.5, 97.5), (0.5, 25.0, 75.0)):
        result = interval(42.0, samples, level)
        assert (result.low, result.high) == pytest.approx((low, high))
        assert (result.value, result.level) == (42.0, level)


def test_interval_of_a_few_hand_samples() -> None:
    """Linear interpolation between order statistics, as numpy's default percentile."""
    result = interval(0.7, np.array([0.4, 0.8, 0.6, 0.5, 0.7]), 0.5)  # 25th and 75th
    assert (result.low, result.high) == pytest.approx((0.5, 0.7))
    assert result.value == 0.7  # the point is kept as given, never recomputed


def test_interval_of_no_finite_sample_is_nan() -> None:
    result = interval(0.5, np.full(10, np.nan), 0.95)
    assert result.value == 0.5
    assert math.isnan(result.low) and math.isnan(result.high)
    assert result.level == 0.95
    assert math.isnan(interval(0.5, np.array([np.inf, -np.inf]), 0.95).low)


def test_non_finite_samples_are_dropped() -> None:
    finite = np.arange(101, dtype=float)
    mixed = np.concatenate([finite, [np.nan, np.inf, -np.inf, np.nan]])
    assert interval(1.0, mixed, 0.9) == interval(1.0, finite, 0.9)


LABELS = np.array([1, 0, 1, 0, 1, 0])
PREDICTED = np.array([1, 1, 0, 0, 1, 0])


def test_confusion_counts_without_weights_are_plain_counts() -> None:
    counts = confusion_counts(LABELS, PREDICTED, None)
    assert [float(c) for c in (counts.tp, counts.fp, counts.fn, counts.tn)] == [2, 1, 1, 2]
    assert np.ndim(counts.tp) == 0


def test_confusion_counts_per_resample() -> None:
    weights = np.array([[1, 1, 1, 1, 1, 1], [2, 0, 0, 3, 0, 1]], dtype=np.float32)
    counts = confusion_counts(LABELS, PREDICTED, weights)
    assert counts.tp.tolist() == [2, 2]
    assert counts.fp.tolist() == [1, 0]
    assert counts.fn.tolist() == [1, 0]
    assert counts.tn.tolist() == [2, 4]
    assert counts.tp.dtype == np.float64


def test_ratio_is_nan_where_the_denominator_is_zero_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = ratio(np.array([1.0, 0.0, 3.0]), np.array([2.0, 0.0, 0.0]))
    assert result[0] == 0.5
    assert np.isnan(result[1:]).all()


def test_auc_ties_count_half() -> None:
    """Pairs (positive, negative): 0.5 vs 0.5 ties (1/2), the other three are ordered."""
    labels, scores = np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.8, 0.2])
    assert float(weighted_auc(labels, scores, None)) == pytest.approx(3.5 / 4)
    assert float(weighted_auc(labels, np.full(4, 0.3), None)) == pytest.approx(0.5)


def test_weighted_auc_counts_a_weighted_row_as_repeated() -> None:
    labels, scores = np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.8, 0.2])
    weights = np.array([[2, 1, 1, 1], [1, 1, 1, 1], [0, 1, 1, 1]], dtype=np.float32)
    values = weighted_auc(labels, scores, weights)
    # The tied positive twice: 2 x (1/2 + 1) + (1 + 1) over 3 x 2 pairs.
    assert values.tolist() == pytest.approx([5 / 6, 3.5 / 4, 1.0])


def test_auc_in_reversed_order_and_undefined() -> None:
    labels = np.array([0, 0, 1, 1])
    assert float(weighted_auc(labels, np.array([0.9, 0.8, 0.2, 0.1]), None)) == 0.0
    assert np.isnan(weighted_auc(np.ones(3), np.array([0.1, 0.2, 0.3]), None))


def test_average_precision_by_hand() -> None:
    """At 0.9: precision 1 for half the recall; at 0.7: precision 2/3 for the other half."""
    labels, scores = np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])
    assert float(weighted_average_precision(labels, scores, None)) == pytest.approx(5 / 6)


def test_average_precision_with_ties_is_scikit_learns() -> None:
    """Tied scores form one threshold: no interpolation inside the tie."""
    labels, scores = np.array([1, 0, 1, 1, 0]), np.array([0.5, 0.5, 0.9, 0.5, 0.1])
    expected = 1 / 3 * 1 + 2 / 3 * 3 / 4
    assert float(weighted_average_precision(labels, scores, None)) == pytest.approx(expected)
    assert expected == pytest.approx(skm.average_precision_score(labels, scores))


def test_weighted_mean() -> None:
    values = np.array([1.0, 2.0, 6.0])
    assert float(weighted_mean(values, None)) == 3.0
    weights = np.array([[1, 1, 1], [0, 0, 2], [0, 0, 0]], dtype=np.float32)
    result = weighted_mean(values, weights)
    assert result[:2].tolist() == [3.0, 6.0]
    assert np.isnan(result[2])  # an empty resample has no mean


def test_row_losses_by_hand() -> None:
    labels, probabilities = np.array([1, 0, 1]), np.array([0.8, 0.25, 0.5])
    assert row_losses("brier", labels, probabilities) == pytest.approx([0.04, 0.0625, 0.25])
    expected = [-math.log(0.8), -math.log(0.75), -math.log(0.5)]
    assert row_losses("log_loss", labels, probabilities) == pytest.approx(expected)
