"""Vectorised bootstrap kernels: every gated number with a confidence interval in milliseconds.

Resampling uses Poisson(1) weights per row and resample (the Poisson bootstrap): each
resample is a weight vector, so any metric built from weighted sums (confusion counts, mean
losses, a weighted AUC) is computed for all resamples at once with one matrix product, for the
whole test set or any subset of its rows. Row `i` of the weight matrix is resample `i`.
With no weights, the same kernels give the point estimate: one code path for both, so an
interval always belongs to its estimate. The metrics built on them are in `registry.py`.
"""

from __future__ import annotations

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


def ratio(numerator: Array, denominator: Array) -> Array:
    """numerator / denominator, NaN where the denominator is zero (an undefined rate)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def _per_score(labels: Array, scores: Array, weights: Array | None) -> tuple[Array, Array]:
    """Positive and negative weight per distinct score, scores ascending: (resamples, scores).

    Rows are sorted by score once and each run of equal scores is summed in place
    (`reduceat`, accumulating in float64), which needs no float64 copy of the (resamples, rows)
    weights; the negatives' weight is the total's minus the positives'.
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    positive = (labels[order] == 1).astype(np.float32)
    matrix = np.ones((1, labels.size), dtype=np.float32) if weights is None else weights[:, order]
    total = np.add.reduceat(matrix, starts, axis=1, dtype=np.float64)
    pos = np.add.reduceat(matrix * positive, starts, axis=1, dtype=np.float64)
    return pos, total - pos


def _one_or_many(result: Array, weights: Array | None) -> Array:
    return np.asarray(result if weights is not None else result[0])


def weighted_auc(labels: Array, scores: Array, weights: Array | None) -> Array:
    """ROC AUC with row weights (ties count half): one value, or one per resample."""
    pos, neg = _per_score(labels, scores, weights)
    below = np.cumsum(neg, axis=1) - neg
    numerator = (pos * (below + 0.5 * neg)).sum(axis=1)
    denominator = pos.sum(axis=1) * neg.sum(axis=1)
    return _one_or_many(ratio(numerator, denominator), weights)


def weighted_average_precision(labels: Array, scores: Array, weights: Array | None) -> Array:
    """Average precision with row weights, as scikit-learn defines it (no interpolation):
    the precision at each distinct score, weighted by the recall gained there."""
    pos, neg = _per_score(labels, scores, weights)
    # Rows at or above each score: everything minus what lies strictly below it.
    tp = pos.sum(axis=1, keepdims=True) - (np.cumsum(pos, axis=1) - pos)
    fp = neg.sum(axis=1, keepdims=True) - (np.cumsum(neg, axis=1) - neg)
    precision = ratio(tp, tp + fp)
    gained = np.where(pos > 0, pos * np.nan_to_num(precision), 0.0).sum(axis=1)
    return _one_or_many(ratio(gained, pos.sum(axis=1)), weights)


def weighted_mean(values: Array, weights: Array | None) -> Array:
    """Mean of per-row values (log loss, Brier) for the data or every resample."""
    if weights is None:
        return np.asarray(values.mean())
    return ratio(weights @ values.astype(np.float32), weights.sum(axis=1, dtype=np.float64))


def row_losses(metric: str, labels: Array, probabilities: Array) -> Array:
    """Per-row log loss or squared error: their weighted mean is the metric."""
    if metric == "brier":
        return np.asarray((probabilities - labels) ** 2)
    # Clipped at the machine epsilon of the probabilities' type, as scikit-learn does: a
    # fixed 1e-15 is 1.0 in float32 (log(0) = NaN) and differs from sklearn in float64.
    dtype = probabilities.dtype if np.issubdtype(probabilities.dtype, np.floating) else np.float64
    eps = float(np.finfo(dtype).eps)
    clipped = np.clip(probabilities, eps, 1 - eps).astype(np.float64)
    return np.asarray(-(labels * np.log(clipped) + (1 - labels) * np.log1p(-clipped)))
