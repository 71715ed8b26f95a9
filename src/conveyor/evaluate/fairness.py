"""Fairness: per-group rates over each sensitive feature (and intersection), and the
disparities the gates bound, with bootstrap intervals.

Point estimates and resamples come from the same path (group confusion counts -> the
registry's rates -> the registry's disparities), so an interval always belongs to its
estimate; tests/unit/test_fairness.py checks that path against fairlearn's `MetricFrame` and
disparity functions. Groups with too little support (rows or positives) are reported but left
out of the disparities: one group of 14 positives would otherwise decide the equalized-odds
difference by chance alone (on Adult it moved from 0.14 to 0.55 across splits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from conveyor.config import FairnessGates, Settings, Support
from conveyor.evaluate.bootstrap import Array, Interval, interval
from conveyor.evaluate.gates import Subject, active, make_gate
from conveyor.evaluate.registry import DISPARITIES, GROUP_RATES, rates_from_counts
from conveyor.verdict import GateResult

CHART_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate")
"""The rates `plots/fairness.csv` carries per group."""


def groupings(settings: Settings) -> list[str]:
    """What is evaluated: each sensitive feature, then each configured intersection (`a&b`)."""
    intersections = ("&".join(c) for c in settings.gates.fairness.intersections)
    return list(dict.fromkeys([*settings.data.sensitive_features, *intersections]))


def group_labels(frame: pd.DataFrame, grouping: str) -> pd.Series:
    """One label per row: the feature's value, or values joined by `&` for intersections."""
    columns = grouping.split("&")
    labels = frame[columns[0]].astype(str)
    for column in columns[1:]:
        labels = labels + "&" + frame[column].astype(str)
    return labels


def group_counts(
    labels: Array, predicted: Array, codes: Array, n_groups: int, weights: Array | None
) -> Array:
    """Confusion counts per group (`codes` numbers each row's group from 0): shape
    (groups, 4), or (resamples, groups, 4) with weights.

    Cells are tp, fp, fn, tn, the order `registry.rates_from_counts` reads.
    """
    cell = (1 - labels.astype(np.int64)) + 2 * (1 - predicted.astype(np.int64))
    column = codes.astype(np.int64) * 4 + cell
    onehot = np.zeros((labels.size, n_groups * 4), dtype=np.float32)
    onehot[np.arange(labels.size), column] = 1.0
    totals = onehot.sum(axis=0, dtype=np.float64) if weights is None else weights @ onehot
    return np.asarray(totals, dtype=np.float64).reshape(*totals.shape[:-1], n_groups, 4)


def disparity_samples(
    counts: Array, resampled: Array, included: Array
) -> dict[str, tuple[float, Array]]:
    """Each disparity between the included groups: its point from `counts` (groups, 4) and
    one value per resample from `resampled` (resamples, groups, 4). The champion comparison
    subtracts two models' samples resample by resample (a paired difference)."""
    points = rates_from_counts(counts[included])
    samples = rates_from_counts(resampled[:, included])
    return {name: (float(d.values(points)), d.values(samples)) for name, d in DISPARITIES.items()}


def disparity_estimates(
    counts: Array, resampled: Array, included: Array, level: float
) -> dict[str, Interval]:
    """Each disparity with its interval; empty when fewer than two groups qualify."""
    if included.sum() < 2:
        return {}
    found = disparity_samples(counts, resampled, included)
    return {name: interval(point, samples, level) for name, (point, samples) in found.items()}


@dataclass(frozen=True)
class Grouping:
    """One sensitive feature (or intersection) on the test set: who is in which group."""

    name: str
    groups: list[str]
    counts: Array  # (groups, 4): tp, fp, fn, tn per group
    included: Array  # bool per group: enough support to enter the disparities

    @property
    def rows(self) -> Array:
        return _rows(self.counts)

    @property
    def positives(self) -> Array:
        return _positives(self.counts)


def _rows(counts: Array) -> Array:
    return np.asarray(counts.sum(axis=-1))


def _positives(counts: Array) -> Array:
    """True positives plus false negatives: the rows whose label is positive."""
    return np.asarray(counts[..., 0] + counts[..., 2])


def make_grouping(
    name: str, frame: pd.DataFrame, labels: Array, predicted: Array, support: Support
) -> tuple[Grouping, Array]:
    names, codes = np.unique(group_labels(frame, name).to_numpy(dtype=str), return_inverse=True)
    counts = group_counts(labels, predicted, codes, len(names), None)
    rows, positives = _rows(counts), _positives(counts)
    # Both classes present, whatever `min_support` allows: with no positives (or negatives) a
    # group's TPR (or FPR) is undefined, and an undefined rate would make every disparity NaN.
    included = (
        (rows >= support.rows) & (positives >= max(support.positives, 1)) & (rows - positives >= 1)
    )
    return Grouping(name, [str(n) for n in names], counts, included), codes


def _report(grouping: Grouping, estimates: dict[str, Interval], support: Support) -> dict[str, Any]:
    """The `metrics/fairness.json` entry of one grouping."""
    rates = rates_from_counts(grouping.counts)
    return {
        "groups": {
            group: {
                "rows": int(grouping.rows[i]),
                "positives": int(grouping.positives[i]),
                "included": bool(grouping.included[i]),
                **{rate: rounded(rates[rate][i]) for rate in GROUP_RATES},
            }
            for i, group in enumerate(grouping.groups)
        },
        "excluded_groups": [
            g for g, kept in zip(grouping.groups, grouping.included, strict=True) if not kept
        ],
        "support": {"rows": support.rows, "positives": support.positives},
        "disparities": {
            name: {"value": rounded(e.value), "ci_low": rounded(e.low), "ci_high": rounded(e.high)}
            for name, e in estimates.items()
        },
    }


def _gates(
    grouping: Grouping, estimates: dict[str, Interval], config: FairnessGates, level: float
) -> list[GateResult]:
    kept = grouping.counts[grouping.included]
    subject = Subject(
        "fairness", grouping.name, int(_rows(kept).sum()), int(_positives(kept).sum())
    )
    gates = []
    for metric, bound in active(config.bounds.get(grouping.name, {})):
        estimate = estimates.get(metric)
        reason = None if estimate else "fewer than two groups with enough support"
        gates.append(make_gate(subject, metric, bound, estimate, level=level, reason=reason))
    return gates


def evaluate_fairness(
    frame: pd.DataFrame, labels: Array, predicted: Array, weights: Array, settings: Settings
) -> tuple[dict[str, Any], list[GateResult], pd.DataFrame]:
    """`metrics/fairness.json` content, the fairness gates, and the per-group chart data."""
    config = settings.gates.fairness
    level = settings.gates.bootstrap.level
    report: dict[str, Any] = {}
    gates: list[GateResult] = []
    chart: list[dict[str, Any]] = []
    for name in groupings(settings):
        grouping, codes = make_grouping(name, frame, labels, predicted, config.min_support)
        resampled = group_counts(labels, predicted, codes, len(grouping.groups), weights)
        estimates = disparity_estimates(grouping.counts, resampled, grouping.included, level)
        report[name] = _report(grouping, estimates, config.min_support)
        gates += _gates(grouping, estimates, config, level)
        chart += [
            {"group": f"{name}={group}", **{rate: values[rate] for rate in CHART_RATES}}
            for group, values in report[name]["groups"].items()
        ]
    return report, gates, pd.DataFrame(chart)


def rounded(value: Any) -> float | None:
    """A number for the JSON outputs: six decimals, None (null) where it is undefined."""
    number = float(value)
    return round(number, 6) if np.isfinite(number) else None
