"""Slices: the model's metrics for every value (or bin) of each slice column, with support.

A slice large enough (rows and positives) is gated on the configured minimums with bootstrap
intervals; a smaller one is reported and marked `not gated`, so a handful of rows can never
decide a build.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from conveyor.config import Settings
from conveyor.evaluate.bootstrap import Array, interval
from conveyor.evaluate.gates import Subject, active, make_gate
from conveyor.evaluate.registry import METRICS, Scored
from conveyor.verdict import GateResult, too_small_reason

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


OUTSIDE_BINS = "(outside bins)"
"""The slice of numbers past the configured edges, and of missing numbers."""


def _bin_label(left: float, right: float) -> str:
    return f"[{left:g}, {right:g})"


def slice_labels(values: pd.Series, edges: list[float] | None) -> pd.Series:
    """Group label per row: the value itself, or its bin `[25, 35)` for numbers."""
    if edges is None:
        return values.astype(str)
    bins = pd.cut(values.astype(float), bins=edges, right=False)
    labels = bins.map(lambda b: _bin_label(b.left, b.right), na_action="ignore").astype(object)
    return labels.where(bins.notna(), OUTSIDE_BINS).astype(str)


def slice_order(values: Iterable[str], edges: list[float] | None) -> list[str]:
    """Values sorted as a reader expects: bins by their edges (`[5, 10)` before `[10, 100)`),
    the numbers outside them last; categories alphabetically."""
    if edges is None:
        return sorted(values)
    rank = {_bin_label(a, b): i for i, (a, b) in enumerate(itertools.pairwise(edges))}
    return sorted(values, key=lambda value: rank.get(value, len(rank)))


def find_slices(frame: pd.DataFrame, settings: Settings) -> list[Slice]:
    """Every slice of every configured column, in a stable order."""
    slices = []
    for column in settings.data.slice_columns:
        edges = settings.gates.slices.bins.get(column)
        labels = slice_labels(frame[column], edges)
        for value in slice_order(labels.unique(), edges):
            rows = np.flatnonzero((labels == value).to_numpy())
            slices.append(Slice(column, value, rows))
    return slices


def evaluate_slices(
    *,
    frame: pd.DataFrame,
    scored: Scored,
    weights: Array,
    settings: Settings,
) -> tuple[dict[str, Any], list[GateResult]]:
    """Per-slice metrics (for `metrics/slices.json`) and the slice gates."""
    gates_config = settings.gates.slices
    support = gates_config.min_support
    level = settings.gates.bootstrap.level
    report: dict[str, Any] = {}
    gates: list[GateResult] = []
    for piece in find_slices(frame, settings):
        rows = scored.rows(piece.rows)
        positives = int(rows.labels.sum())
        small = len(piece.rows) < support.rows or positives < support.positives
        metrics = {m: _finite(METRICS[m].point(rows)) for m in REPORTED}
        report.setdefault(piece.column, {})[piece.value] = {
            "rows": len(piece.rows),
            "positives": positives,
            "gated": not small,
            "metrics": metrics,
        }
        subject = Subject("slice", piece.name, len(piece.rows), positives)
        reason = too_small_reason(support.rows, support.positives)
        resamples = None if small else weights[:, piece.rows]  # one copy per slice, not per metric
        for metric, bound in active(gates_config.metrics):
            estimate = None
            if resamples is not None:
                samples = METRICS[metric].values(rows, resamples)
                estimate = interval(METRICS[metric].point(rows), samples, level)
            gate = make_gate(
                subject, metric, bound, estimate, level=level, reason=reason if small else None
            )
            gates.append(gate)
    return report, gates


def _finite(value: float) -> float | None:
    return round(value, 6) if np.isfinite(value) else None
