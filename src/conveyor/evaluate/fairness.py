"""Fairness: fairlearn's MetricFrame over each sensitive feature (and intersection), with
bootstrap intervals for the disparity metrics the gates bound.

Groups with too little support (rows or positives) are reported but left out of the
disparities: one group of 14 positives would otherwise decide the equalized-odds difference
by chance alone (on Adult it moved from 0.14 to 0.55 across splits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score

from conveyor.config import Settings, Support
from conveyor.evaluate.bootstrap import Array, interval
from conveyor.evaluate.gates import Gate, make_gate

GROUP_METRICS = {
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "accuracy": accuracy_score,
    "count": count,
}
DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
)


def group_labels(frame: pd.DataFrame, grouping: str) -> pd.Series:
    """One label per row: the feature's value, or values joined by `&` for intersections."""
    columns = grouping.split("&")
    labels = frame[columns[0]].astype(str)
    for column in columns[1:]:
        labels = labels + "&" + frame[column].astype(str)
    return labels


@dataclass(frozen=True)
class GroupRates:
    """Per-group rates, one row per group (and per resample when bootstrapped)."""

    selection: Array
    tpr: Array
    fpr: Array


def _rates(counts: Array) -> GroupRates:
    """counts[..., group, cell] with cells tp, fp, fn, tn -> per-group rates."""
    tp, fp, fn, tn = (counts[..., i] for i in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        return GroupRates(
            selection=(tp + fp) / (tp + fp + fn + tn),
            tpr=tp / (tp + fn),
            fpr=fp / (fp + tn),
        )


def disparities(counts: Array) -> dict[str, Array]:
    """fairlearn's four disparity metrics from group confusion counts (any leading axes)."""
    rates = _rates(counts)
    with np.errstate(divide="ignore", invalid="ignore"):

        def spread(values: Array) -> Array:
            return np.asarray(np.max(values, axis=-1) - np.min(values, axis=-1))

        def ratio(values: Array) -> Array:
            return np.asarray(np.min(values, axis=-1) / np.max(values, axis=-1))

        return {
            "demographic_parity_difference": spread(rates.selection),
            "demographic_parity_ratio": ratio(rates.selection),
            "equalized_odds_difference": np.maximum(spread(rates.tpr), spread(rates.fpr)),
            "equalized_odds_ratio": np.minimum(ratio(rates.tpr), ratio(rates.fpr)),
        }


def group_counts(
    labels: Array, predicted: Array, groups: Array, names: list[str], weights: Array | None
) -> Array:
    """Confusion counts per group: shape (groups, 4), or (resamples, groups, 4) with weights."""
    cell = (1 - labels) + 2 * (1 - predicted)  # tp 0, fp 1, fn 2, tn 3
    index = {name: i for i, name in enumerate(names)}
    column = np.array([index[g] for g in groups]) * 4 + cell
    onehot = np.zeros((labels.size, len(names) * 4), dtype=np.float32)
    onehot[np.arange(labels.size), column] = 1.0
    totals = onehot.sum(axis=0) if weights is None else weights @ onehot
    return np.asarray(totals, dtype=np.float64).reshape(*totals.shape[:-1], len(names), 4)


def _included(groups: pd.Series, labels: Array, support: Support) -> tuple[list[str], list[str]]:
    sizes = groups.value_counts()
    positives = pd.Series(labels, index=groups.index).groupby(groups).sum()
    enough = [
        g
        for g in sorted(sizes.index)
        if sizes[g] >= support.rows and positives.get(g, 0) >= support.positives
    ]
    return enough, [g for g in sorted(sizes.index) if g not in enough]


def evaluate_fairness(
    frame: pd.DataFrame,
    labels: Array,
    predicted: Array,
    weights: Array,
    settings: Settings,
) -> tuple[dict[str, Any], list[Gate], pd.DataFrame]:
    """`metrics/fairness.json` content, the fairness gates, and the per-group chart data."""
    config = settings.gates.fairness
    level = settings.gates.bootstrap.level
    groupings = list(
        dict.fromkeys(
            [
                *settings.data.sensitive_features,
                *config.groupings,
                *("&".join(c) for c in config.intersections),
            ]
        )
    )
    report: dict[str, Any] = {}
    gates: list[Gate] = []
    chart = []
    for grouping in groupings:
        groups = group_labels(frame, grouping)
        included, excluded = _included(groups, labels, config.min_support)
        frame_all = MetricFrame(
            metrics=GROUP_METRICS, y_true=labels, y_pred=predicted, sensitive_features=groups
        )
        by_group = frame_all.by_group
        group_report = {
            str(g): {
                "rows": int(by_group.loc[g, "count"]),
                "positives": int(labels[(groups == g).to_numpy()].sum()),
                "included": g in included,
                **{m: _round(by_group.loc[g, m]) for m in GROUP_METRICS if m != "count"},
            }
            for g in by_group.index
        }
        for g, values in group_report.items():
            chart.append(
                {
                    "group": f"{grouping}={g}",
                    **{
                        k: values[k]
                        for k in ("selection_rate", "true_positive_rate", "false_positive_rate")
                    },
                }
            )
        estimates: dict[str, Any] = {}
        mask = groups.isin(included).to_numpy()
        if len(included) >= 2:
            kept = groups[mask]
            point_frame = MetricFrame(
                metrics=GROUP_METRICS,
                y_true=labels[mask],
                y_pred=predicted[mask],
                sensitive_features=kept,
            )
            points = _fairlearn_disparities(point_frame)
            resampled = disparities(
                group_counts(
                    labels[mask], predicted[mask], kept.to_numpy(), included, weights[:, mask]
                )
            )
            for name in DISPARITIES:
                estimates[name] = interval(points[name], resampled[name], level)
        report[grouping] = {
            "groups": group_report,
            "excluded_groups": excluded,
            "support": {"rows": config.min_support.rows, "positives": config.min_support.positives},
            "disparities": {
                name: {"value": _round(e.value), "ci_low": _round(e.low), "ci_high": _round(e.high)}
                for name, e in estimates.items()
            },
        }
        for metric, bound in config.bounds.get(grouping, {}).items():
            if bound.mode == "off":
                continue
            estimate = estimates.get(metric)
            reason = None if estimate else "fewer than two groups with enough support"
            gates.append(
                make_gate(
                    kind="fairness",
                    metric=metric,
                    group=grouping,
                    estimate=estimate,
                    bound=bound,
                    n=int(mask.sum()),
                    positives=int(labels[mask].sum()),
                    reason=reason,
                    level=level,
                )
            )
    return report, gates, pd.DataFrame(chart)


def _fairlearn_disparities(frame: MetricFrame) -> dict[str, float]:
    """The point estimates, from fairlearn itself (between groups, worst case)."""
    difference, ratio = frame.difference(), frame.ratio()
    return {
        "demographic_parity_difference": float(difference["selection_rate"]),
        "demographic_parity_ratio": float(ratio["selection_rate"]),
        "equalized_odds_difference": float(
            max(difference["true_positive_rate"], difference["false_positive_rate"])
        ),
        "equalized_odds_ratio": float(
            min(ratio["true_positive_rate"], ratio["false_positive_rate"])
        ),
    }


def _round(value: Any) -> float | None:
    number = float(value)
    return round(number, 6) if np.isfinite(number) else None
