"""Every metric Conveyor knows, once: its name, which way is better, and how it is computed.

`params.yaml` is validated against these names, and the overall metrics, the slices, the
fairness groups and the bootstrap all compute through these functions, with weights for the
resamples and without for the point estimate. A metric is either a function of weighted
confusion counts (so it works per group and per resample from one matrix product) or of
labels and scores. tests/unit/test_registry.py checks each against scikit-learn and fairlearn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from conveyor.evaluate.bootstrap import (
    Array,
    Counts,
    confusion_counts,
    ratio,
    row_losses,
    weighted_auc,
    weighted_average_precision,
    weighted_mean,
)

_Bounds = TypeVar("_Bounds", bound=Mapping[str, Any])


@dataclass(frozen=True)
class Scored:
    """A model's output on some rows: true labels (0/1), probabilities, thresholded labels."""

    labels: Array
    probabilities: Array
    predicted: Array

    def rows(self, index: Array) -> Scored:
        return Scored(self.labels[index], self.probabilities[index], self.predicted[index])


@dataclass(frozen=True)
class Metric:
    """One metric; exactly one of `from_counts` and `from_scores` is set."""

    name: str
    higher_is_better: bool | None
    """None for a rate that describes the model without being better either way."""
    from_counts: Callable[[Counts], Array] | None = None
    from_scores: Callable[[Array, Array, Array | None], Array] | None = None

    def values(self, scored: Scored, weights: Array | None = None) -> Array:
        """The metric on the rows as they are (weights None) or for every resample at once."""
        if self.from_counts is not None:
            return self.from_counts(confusion_counts(scored.labels, scored.predicted, weights))
        assert self.from_scores is not None
        return self.from_scores(scored.labels, scored.probabilities, weights)

    def point(self, scored: Scored) -> float:
        return float(self.values(scored))


def _tpr(c: Counts) -> Array:
    return ratio(c.tp, c.tp + c.fn)


def _fpr(c: Counts) -> Array:
    return ratio(c.fp, c.fp + c.tn)


def _total(c: Counts) -> Array:
    return np.asarray(c.tp + c.fp + c.fn + c.tn)


def _log_loss(labels: Array, probabilities: Array, weights: Array | None) -> Array:
    return weighted_mean(row_losses("log_loss", labels, probabilities), weights)


def _brier(labels: Array, probabilities: Array, weights: Array | None) -> Array:
    return weighted_mean(row_losses("brier", labels, probabilities), weights)


_ALL = (
    Metric("roc_auc", True, from_scores=weighted_auc),
    Metric("average_precision", True, from_scores=weighted_average_precision),
    Metric("accuracy", True, from_counts=lambda c: ratio(c.tp + c.tn, _total(c))),
    Metric(
        "balanced_accuracy", True, from_counts=lambda c: (_tpr(c) + ratio(c.tn, c.tn + c.fp)) / 2
    ),
    Metric("precision", True, from_counts=lambda c: ratio(c.tp, c.tp + c.fp)),
    Metric("recall", True, from_counts=_tpr),
    Metric("f1", True, from_counts=lambda c: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn)),
    Metric("log_loss", False, from_scores=_log_loss),
    Metric("brier", False, from_scores=_brier),
    Metric("selection_rate", None, from_counts=lambda c: ratio(c.tp + c.fp, _total(c))),
    Metric("true_positive_rate", True, from_counts=_tpr),
    Metric("false_positive_rate", False, from_counts=_fpr),
)
METRICS: Mapping[str, Metric] = {m.name: m for m in _ALL}
"""Every metric by name, in the order reports list them."""

OVERALL = tuple(name for name in METRICS if name != "true_positive_rate")
"""What `metrics/metrics.json` holds (recall is the overall name of the true positive rate)."""
HEADLINE = ("roc_auc", "f1", "accuracy", "precision", "recall")
"""The few numbers shown where space is short: `make run`'s summary, `/metadata` (via
signature.json)."""
QUALITY = tuple(name for name in OVERALL if METRICS[name].higher_is_better is not None)
"""The overall metrics that judge the model (not the selection rate, which describes it)."""
GROUP_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")
"""The per-group rates of the fairness report, from which the disparities are computed."""


def rates_from_counts(counts: Array, names: tuple[str, ...] = GROUP_RATES) -> dict[str, Array]:
    """counts[..., group, cell] (cells tp, fp, fn, tn) -> each named rate per group."""
    cells = Counts(*(np.asarray(counts[..., i]) for i in range(4)))
    rates = {}
    for name in names:
        from_counts = METRICS[name].from_counts
        if from_counts is None:
            raise ValueError(f"{name} is not computed from confusion counts")
        rates[name] = np.asarray(from_counts(cells))
    return rates


@dataclass(frozen=True)
class Disparity:
    """A fairlearn disparity: the worst between-group difference (or ratio) of some rates."""

    name: str
    rates: tuple[str, ...]
    aggregate: str  # "difference": max - min, worst rate counts; "ratio": min / max
    higher_is_better: bool

    def values(self, rates: Mapping[str, Array]) -> Array:
        """From per-group rates (groups on the last axis), as fairlearn computes it."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.aggregate == "difference":
                spreads = [
                    np.max(rates[r], axis=-1) - np.min(rates[r], axis=-1) for r in self.rates
                ]
                return np.asarray(np.maximum.reduce(spreads))
            ratios = [np.min(rates[r], axis=-1) / np.max(rates[r], axis=-1) for r in self.rates]
            return np.asarray(np.minimum.reduce(ratios))


_DISPARITIES = (
    Disparity("demographic_parity_difference", ("selection_rate",), "difference", False),
    Disparity("demographic_parity_ratio", ("selection_rate",), "ratio", True),
    Disparity(
        "equalized_odds_difference",
        ("true_positive_rate", "false_positive_rate"),
        "difference",
        False,
    ),
    Disparity("equalized_odds_ratio", ("true_positive_rate", "false_positive_rate"), "ratio", True),
)
DISPARITIES: Mapping[str, Disparity] = {d.name: d for d in _DISPARITIES}
"""Every fairness metric a gate may bound, by name."""


def known_metrics(bounds: _Bounds) -> _Bounds:
    """For params validation: every gated metric must be one Conveyor computes."""
    unknown = [name for name in bounds if name not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
    return bounds


def known_disparities(bounds: _Bounds) -> _Bounds:
    """For params validation: a fairness bound must name a disparity Conveyor computes."""
    unknown = [name for name in bounds if name not in DISPARITIES]
    if unknown:
        raise ValueError(f"unknown fairness metric(s) {unknown}; known: {', '.join(DISPARITIES)}")
    return bounds


def _margins_point_the_worse_way(
    margins: _Bounds, better: Mapping[str, bool | None], kind: str
) -> _Bounds:
    """A margin bounds how much worse a number may get, so it must name the way it gets
    worse: `max_drop` for a number where higher is better, `max_increase` for the others
    (either for a rate that is better neither way)."""
    unknown = [name for name in margins if name not in better]
    if unknown:
        raise ValueError(f"unknown {kind}(s) {unknown}; known: {', '.join(better)}")
    for name, margin in margins.items():
        higher_is_better = better[name]
        if higher_is_better is None:
            continue
        expected = "max_drop" if higher_is_better else "max_increase"
        if getattr(margin, expected, None) is None:
            way = "higher" if higher_is_better else "lower"
            raise ValueError(
                f"{name}: {way} is better, so its margin is `{expected}` (how much worse than "
                "the champion it may get)"
            )
    return margins


def known_metric_margins(margins: _Bounds) -> _Bounds:
    """For params validation: champion margins name known metrics, the way they get worse."""
    better = {name: metric.higher_is_better for name, metric in METRICS.items()}
    return _margins_point_the_worse_way(margins, better, "metric")


def known_disparity_margins(margins: _Bounds) -> _Bounds:
    """For params validation: champion margins name known disparities, the way they worsen."""
    better = {name: d.higher_is_better for name, d in DISPARITIES.items()}
    return _margins_point_the_worse_way(margins, better, "fairness metric")
