"""Slices: the model's metrics for every value (or bin) of each slice column, with support.

A slice large enough (rows and positives) is gated on the configured minimums with bootstrap
intervals; a smaller one is reported and marked `not gated`, so a handful of rows can never
decide a build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from conveyor.config import Settings
from conveyor.evaluate.bootstrap import Array, interval, metric_values
from conveyor.evaluate.gates import Gate, make_gate

REPORTED = ("accuracy", "precision", "recall", "f1", "roc_auc", "selection_rate")


@dataclass(frozen=True)
class Slice:
    """Rows of the test set sharing one value (or bin) of a slice column."""

    column: str
    value: str
    rows: Array  # indices into the test set

    @property
    def name(self) -> str:
        return f"{self.column}={self.value}"


def slice_labels(values: pd.Series, edges: list[float] | None) -> pd.Series:
    """Group label per row: the value itself, or its bin `[25, 35)` for numbers."""
    if edges is None:
        return values.astype(str)
    bins = pd.cut(values.astype(float), bins=edges, right=False)
    labels = bins.map(lambda b: f"[{b.left:g}, {b.right:g})").astype(object)
    return labels.where(bins.notna(), "(outside bins)").astype(str)


def find_slices(frame: pd.DataFrame, settings: Settings) -> list[Slice]:
    """Every slice of every configured column, in a stable order."""
    slices = []
    for column in settings.data.slice_columns:
        labels = slice_labels(frame[column], settings.gates.slices.bins.get(column))
        for value in sorted(labels.unique()):
            rows = np.flatnonzero((labels == value).to_numpy())
            slices.append(Slice(column, value, rows))
    return slices


def evaluate_slices(
    *,
    frame: pd.DataFrame,
    labels: Array,
    probabilities: Array,
    predicted: Array,
    weights: Array,
    settings: Settings,
) -> tuple[dict[str, Any], list[Gate]]:
    """Per-slice metrics (for `metrics/slices.json`) and the slice gates."""
    gates_config = settings.gates.slices
    support = gates_config.min_support
    level = settings.gates.bootstrap.level
    report: dict[str, Any] = {}
    gates: list[Gate] = []
    for piece in find_slices(frame, settings):
        y, p, yhat = labels[piece.rows], probabilities[piece.rows], predicted[piece.rows]
        positives = int(y.sum())
        small = len(piece.rows) < support.rows or positives < support.positives
        metrics = {m: _finite(metric_values(m, y, p, yhat, None)) for m in REPORTED}
        report.setdefault(piece.column, {})[piece.value] = {
            "rows": len(piece.rows),
            "positives": positives,
            "gated": not small,
            "metrics": metrics,
        }
        for metric, bound in gates_config.metrics.items():
            if bound.mode == "off":
                continue
            estimate = None
            reason = (
                f"support below {support.rows} rows / {support.positives} positives"
                if small
                else None
            )
            if not small:
                point = float(metric_values(metric, y, p, yhat, None))
                samples = metric_values(metric, y, p, yhat, weights[:, piece.rows])
                estimate = interval(point, samples, level)
            gates.append(
                make_gate(
                    kind="slice",
                    metric=metric,
                    group=piece.name,
                    estimate=estimate,
                    bound=bound,
                    n=len(piece.rows),
                    positives=positives,
                    reason=reason,
                    level=level,
                )
            )
    return report, gates


def _finite(value: Array) -> float | None:
    number = float(value)
    return round(number, 6) if np.isfinite(number) else None
