"""Vectorised bootstrap: every gated number with a confidence interval in milliseconds.

Resampling uses Poisson(1) weights per row and resample (the Poisson bootstrap): each
resample is a weight vector, so any metric built from weighted sums (confusion counts, mean
losses, a weighted AUC) is computed for all resamples at once with one matrix product, for the
whole test set or any subset of its rows. Row `i` of the weight matrix is resample `i`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval."""

    value: float
    low: float
    high: float
    level: float


def poisson_weights(rows: int, resamples: int, seed: int) -> Array:
    """(resamples, rows) float32 weights; resample `i` counts row `j` weights[i, j] times."""
    generator = np.random.default_rng(seed)
    return generator.poisson(1.0, size=(resamples, rows)).astype(np.float32)


def interval(point: float, samples: Array, level: float) -> Interval:
    """Percentile interval of the finite samples; NaN bounds when none is finite."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return Interval(point, float("nan"), float("nan"), level)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(point, float(low), float(high), level)


@dataclass(frozen=True)
class Counts:
    """Weighted confusion counts; each field is a scalar or one value per resample."""

    tp: Array
    fp: Array
    fn: Array
    tn: Array


def confusion_counts(labels: Array, predicted: Array, weights: Array | None) -> Counts:
    """Confusion counts for the plain data (weights None) or for every resample at once."""
    cells = np.stack(
        [
            (labels == 1) & (predicted == 1),
            (labels == 0) & (predicted == 1),
            (labels == 1) & (predicted == 0),
            (labels == 0) & (predicted == 0),
        ],
        axis=1,
    ).astype(np.float32)
    totals = cells.sum(axis=0, dtype=np.float64) if weights is None else weights @ cells
    totals = np.asarray(totals, dtype=np.float64)
    return Counts(totals[..., 0], totals[..., 1], totals[..., 2], totals[..., 3])


def _ratio(numerator: Array, denominator: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def from_counts(metric: str, counts: Counts) -> Array:
    """Confusion-based metrics; NaN where undefined (e.g. recall of a group with no positives)."""
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    total = tp + fp + fn + tn
    recall = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    values: dict[str, Callable[[], Array]] = {
        "accuracy": lambda: _ratio(tp + tn, total),
        "precision": lambda: _ratio(tp, tp + fp),
        "recall": lambda: recall,
        "false_positive_rate": lambda: _ratio(fp, fp + tn),
        "selection_rate": lambda: _ratio(tp + fp, total),
        "f1": lambda: _ratio(2 * tp, 2 * tp + fp + fn),
        "balanced_accuracy": lambda: (recall + specificity) / 2,
    }
    if metric not in values:
        raise KeyError(metric)
    return np.asarray(values[metric]())


COUNT_METRICS = frozenset(
    {
        "accuracy",
        "precision",
        "recall",
        "false_positive_rate",
        "selection_rate",
        "f1",
        "balanced_accuracy",
    }
)


def weighted_auc(labels: Array, scores: Array, weights: Array | None) -> Array:
    """ROC AUC with row weights (ties count half): one value, or one per resample.

    Rows are sorted by score once; per distinct score, positive and negative weights come from
    differences of running sums (cheaper than a grouped sum over thousands of score values).
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    ends = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    positive = (labels[order] == 1).astype(np.float32)
    matrix = np.ones((1, labels.size), dtype=np.float32) if weights is None else weights[:, order]

    def per_score(values: Array) -> Array:
        running = np.cumsum(values, axis=1, dtype=np.float64)[:, ends]
        return np.diff(running, axis=1, prepend=0.0)

    pos = per_score(matrix * positive)
    neg = per_score(matrix * (1 - positive))
    below = np.cumsum(neg, axis=1) - neg
    numerator = (pos * (below + 0.5 * neg)).sum(axis=1)
    denominator = pos.sum(axis=1) * neg.sum(axis=1)
    result = _ratio(numerator, denominator)
    return np.asarray(result if weights is not None else result[0])


def weighted_mean(values: Array, weights: Array | None) -> Array:
    """Mean of per-row values (log loss, Brier) for the data or every resample."""
    if weights is None:
        return np.asarray(values.mean())
    return _ratio(weights @ values.astype(np.float32), weights.sum(axis=1, dtype=np.float64))


def row_losses(metric: str, labels: Array, probabilities: Array) -> Array:
    """Per-row log loss or squared error: their weighted mean is the metric."""
    if metric == "brier":
        return np.asarray((probabilities - labels) ** 2)
    clipped = np.clip(probabilities, 1e-15, 1 - 1e-15)
    return np.asarray(-(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped)))


def metric_values(
    metric: str, labels: Array, probabilities: Array, predicted: Array, weights: Array | None
) -> Array:
    """Any gated metric, for the plain data (weights None) or every resample."""
    if metric in COUNT_METRICS:
        return from_counts(metric, confusion_counts(labels, predicted, weights))
    if metric == "roc_auc":
        return weighted_auc(labels, probabilities, weights)
    if metric in {"log_loss", "brier"}:
        return weighted_mean(row_losses(metric, labels, probabilities), weights)
    raise KeyError(f"unknown metric {metric!r}")
