"""Data drift: how far a current sample of inputs has moved from the training data.

The reference is what export writes into `signature.json` (`reference`): per numeric input
its quantile bin edges and the training fraction in each bin, per categorical input the
training frequency of each category, and for both the fraction of missing values. A current
sample is put into the same buckets (missing values in a bucket of their own, categories
never seen in training in an "unseen" bucket) and compared with the population stability
index, PSI = sum((current - reference) * ln(current / reference)): 0 for the same
distribution, about 0.1 for a moderate shift, 0.25 and above for a large one.

Numpy only, and no I/O: the serving runtime imports it for live drift gauges, the CLI for
`conveyor drift`, and both compute the same number for the same rows.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MISSING = "(missing)"
UNSEEN = "(unseen)"
FLOOR = 1e-4
"""Smallest proportion a bucket counts with: an empty bucket on one side (an unseen category,
a bin no current row falls in) would otherwise make the index infinite."""


@dataclass(frozen=True)
class FeatureReference:
    """One input's training distribution over its buckets, in a fixed order."""

    name: str
    kind: str  # "numeric" or "categorical"
    buckets: tuple[str, ...]
    expected: tuple[float, ...]
    edges: tuple[float, ...] = ()  # numeric: the inner bin edges
    categories: tuple[str, ...] = ()  # categorical: the categories seen in training
    _index: dict[Any, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Category -> bucket position, missing markers included: the usual value (a known
        # category, as the server passes it) is one dict lookup.
        index: dict[Any, int] = {category: 1 + i for i, category in enumerate(self.categories)}
        index.update({None: 0, "": 0})
        object.__setattr__(self, "_index", index)

    def counts(self, values: Iterable[Any] | np.ndarray) -> np.ndarray:
        """How many of `values` fall in each bucket (missing: None, NaN or "")."""
        if self.kind == "numeric":
            numbers = np.asarray(values, dtype=np.float64).reshape(-1)  # None -> NaN
            missing = np.isnan(numbers)
            bins = np.bincount(
                np.searchsorted(np.asarray(self.edges), numbers[~missing], side="right"),
                minlength=len(self.edges) + 1,
            )
            return np.concatenate([[missing.sum()], bins]).astype(np.float64)
        counts = np.zeros(len(self.buckets), dtype=np.float64)
        # Counted by distinct value first (Counter counts in C), so each row costs no Python
        # step of its own: the server's batches hold a handful of distinct categories.
        tally = Counter(values.reshape(-1).tolist() if isinstance(values, np.ndarray) else values)
        for value, count in tally.items():
            counts[self._bucket(value)] += count
        return counts

    def _bucket(self, value: Any) -> int:
        position = self._index.get(value) if isinstance(value, str) or value is None else None
        return self._slow_code(value) if position is None else position

    def _slow_code(self, value: Any) -> int:
        text = str(value).strip()
        if not text or text == "nan":
            return 0
        return self._index.get(text, len(self.buckets) - 1)


def references(reference: Mapping[str, Any]) -> dict[str, FeatureReference]:
    """`signature.json`'s `reference` section as bucketed distributions, by input name."""
    found = {}
    for name, entry in reference.items():
        missing = float(entry.get("missing_fraction") or 0.0)
        if entry.get("kind") == "numeric":
            fractions = [float(f) for f in entry.get("bin_fractions") or [1.0]]
            edges = tuple(float(e) for e in entry.get("bin_edges") or ())
            labels = _bin_labels(edges)
            expected = (missing, *((1 - missing) * f for f in fractions))
            found[name] = FeatureReference(name, "numeric", (MISSING, *labels), expected, edges)
        else:
            frequencies = {str(k): float(v) for k, v in (entry.get("frequencies") or {}).items()}
            categories = tuple(sorted(frequencies))
            expected = (missing, *((1 - missing) * frequencies[c] for c in categories), 0.0)
            buckets = (MISSING, *categories, UNSEEN)
            found[name] = FeatureReference(
                name, "categorical", buckets, expected, categories=categories
            )
    return found


def _bin_labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    bounds = (-math.inf, *edges, math.inf)
    return tuple(f"[{low:g}, {high:g})" for low, high in itertools.pairwise(bounds))


def psi(expected: Sequence[float] | np.ndarray, counts: Sequence[float] | np.ndarray) -> float:
    """Population stability index of `counts` (any scale) against `expected` proportions."""
    total = float(np.sum(counts))
    if total <= 0:
        return math.nan
    current = np.maximum(np.asarray(counts, dtype=np.float64) / total, FLOOR)
    reference = np.maximum(np.asarray(expected, dtype=np.float64), FLOOR)
    return float(np.sum((current - reference) * np.log(current / reference)))


@dataclass(frozen=True)
class FeatureDrift:
    """One input's drift on a sample."""

    name: str
    rows: int
    psi: float
    missing_fraction: float
    unseen_fraction: float | None  # categorical inputs only

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "psi": _round(self.psi),
            "missing_fraction": _round(self.missing_fraction),
            "unseen_fraction": None
            if self.unseen_fraction is None
            else _round(self.unseen_fraction),
        }


def feature_drift(reference: FeatureReference, values: Sequence[Any] | np.ndarray) -> FeatureDrift:
    """The drift of one input's current values from its training distribution."""
    counts = reference.counts(values)
    rows = int(counts.sum())
    unseen = counts[-1] / rows if reference.kind == "categorical" and rows else None
    return FeatureDrift(
        name=reference.name,
        rows=rows,
        psi=psi(reference.expected, counts),
        missing_fraction=float(counts[0] / rows) if rows else math.nan,
        unseen_fraction=None if unseen is None else float(unseen),
    )


def _round(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None
