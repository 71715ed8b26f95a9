"""Live drift: how far the inputs and predictions the server sees have moved from training.

The hot path pays for a random draw and, for the rows it keeps (`sample`, a tenth in the
server by default), one list append: `observe` keeps a reference to the request's already-built
numeric and text matrices and probabilities. Every `fold_rows` kept rows (1,024, or an eighth
of the window when that is less) and before every read, the pending rows are counted into
their buckets, with numpy for numbers and `Counter` for categories, and added to running
histograms in which older rows fade by `exp(-1/window)` per newer row, so the numbers describe
roughly the last `window` kept rows whatever the traffic. A random share of the rows has the
distribution of all of them, so the index is the same up to sampling noise, and the work per
served row is a tenth. Memory is the histograms plus at most `fold_rows` pending rows and one
batch: it does not grow with the number of requests.

The buckets and the index are `conveyor.drift`'s, the same that `conveyor drift` computes on a
file, so a batch posted here and the same rows judged offline give the same PSI (up to the
decay's weighting). One event loop per process calls `observe` and the readers, so no lock is
taken; each worker process keeps its own numbers (run one worker per container).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from conveyor.contract import predict_labels
from conveyor.drift import FeatureReference, psi, references
from conveyor.serve.signature import Signature, SignatureError
from conveyor.serve.validation import Batch

PREDICTION = "probability"

Pending = tuple[np.ndarray | None, np.ndarray | None, Sequence[float] | np.ndarray]
"""A tracked batch's numeric matrix, text matrix (inputs × rows, signature order) and scores."""
"""The name the predicted-probability distribution goes by among the references."""


@dataclass(frozen=True)
class FeatureState:
    """One input's (or the predictions') drift over the recent window."""

    psi: float
    missing_rate: float
    unseen_rate: float | None  # categorical inputs only


@dataclass(frozen=True)
class DriftSnapshot:
    """Everything the gauges and `GET /drift` show, read at one moment."""

    window: int
    sample: float  # the share of served rows tracked
    rows: float  # the decayed count of tracked rows the numbers stand on (approaches `window`)
    features: dict[str, FeatureState]
    prediction: FeatureState | None  # None when the signature has no score reference
    positive_rate: float
    reference_positive_rate: float | None

    def as_dict(self) -> dict[str, Any]:
        """The `GET /drift` body (no NaN: JSON has none, so an unknown number is null)."""
        prediction = None
        if self.prediction is not None:
            prediction = {
                "psi": _number(self.prediction.psi),
                "positive_rate": _number(self.positive_rate),
                "reference_positive_rate": _number(self.reference_positive_rate),
            }
        return {
            "enabled": True,
            "window": self.window,
            "sample": self.sample,
            "rows": round(self.rows, 3),
            "features": {
                name: {
                    "psi": _number(state.psi),
                    "missing_rate": _number(state.missing_rate),
                    "unseen_rate": _number(state.unseen_rate),
                }
                for name, state in self.features.items()
            },
            "prediction": prediction,
        }


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 6)


class LiveDrift:
    """Running, decaying histograms of recent inputs and predictions against the training
    reference that export wrote into the signature."""

    def __init__(
        self,
        signature: Signature,
        window: int,
        sample: float = 1.0,
        *,
        fold_rows: int = 1024,
        seed: int | None = None,
    ) -> None:
        if not 0.0 < sample <= 1.0:
            raise ValueError(f"sample must be in (0, 1], got {sample}")
        self.window = window
        self.sample = sample
        self._rng = np.random.default_rng(seed)
        self._draw = random.Random(seed).random
        # A fold's rows share one weight, so a fold stays a small part of the window.
        self._fold_rows = max(1, min(fold_rows, window // 8))
        self._decay = math.exp(-1.0 / window)
        self._threshold = signature.threshold
        self._features = _checked_references(signature)
        # Where each tracked input sits in a batch's numeric matrix or text table.
        self._numeric = [
            (row, name) for row, name in enumerate(signature.numeric_names)
            if name in self._features
        ]  # fmt: skip
        self._text = [
            (row, name) for row, name in enumerate(signature.text_names) if name in self._features
        ]
        self._prediction, self._reference_positive_rate = _prediction_reference(signature)
        self._counts = {name: np.zeros(len(ref.buckets)) for name, ref in self._features.items()}
        self._scores = None if self._prediction is None else np.zeros(len(self._prediction.buckets))
        self._positives = 0.0
        self._rows = 0.0
        self._pending: list[Pending] = []
        self._pending_rows = 0

    def observe(self, batch: Batch, probabilities: Sequence[float]) -> None:
        """One served batch, or the sampled share of its rows; bucketed later, in bulk (see
        the module's docstring). What it keeps it copies: a one-record batch lives in buffers
        the decoder refills for the next request."""
        rows = len(probabilities)
        if self.sample >= 1.0:
            self._pending.append((_copy(batch.numbers), _copy(batch.texts), probabilities))
        elif rows == 1:  # the usual request: one draw, nothing to slice
            if self._draw() >= self.sample:
                return
            self._pending.append((_copy(batch.numbers), _copy(batch.texts), probabilities))
        else:
            keep = np.flatnonzero(self._rng.random(rows) < self.sample)
            if not keep.size:
                return
            rows = int(keep.size)
            numbers = None if batch.numbers is None else batch.numbers[:, keep]
            texts = None if batch.texts is None else batch.texts[:, keep]
            self._pending.append((numbers, texts, np.asarray(probabilities)[keep]))
        self._pending_rows += rows
        if self._pending_rows >= self._fold_rows:
            self._fold()

    @property
    def pending_rows(self) -> int:
        """Rows waiting to be bucketed: below `fold_rows` after every request, so a fold (the
        only work that grows with rows) never covers more than one fold and one batch."""
        return self._pending_rows

    def snapshot(self) -> DriftSnapshot:
        """The current numbers, after folding in whatever is pending."""
        self._fold()
        features = {name: _state(ref, self._counts[name]) for name, ref in self._features.items()}
        prediction = None
        if self._prediction is not None and self._scores is not None:
            prediction = _state(self._prediction, self._scores)
        rows = self._rows
        return DriftSnapshot(
            window=self.window,
            sample=self.sample,
            rows=rows,
            features=features,
            prediction=prediction,
            positive_rate=self._positives / rows if rows else math.nan,
            reference_positive_rate=self._reference_positive_rate,
        )

    def _fold(self) -> None:
        """Bucket the pending rows and add them to the decayed histograms."""
        if not self._pending:
            return
        pending, self._pending, new_rows = self._pending, [], self._pending_rows
        self._pending_rows = 0
        # Older rows fade by one factor per new row. Within a fold the new rows share one
        # weight, the mean of the weights they would have one by one (the newest 1, the one
        # before exp(-1/window), ...), so the total weight is exact and no row costs a
        # Python step of its own.
        fade = self._decay**new_rows
        weight = (1.0 - fade) / (new_rows * (1.0 - self._decay))
        if self._numeric:
            numbers = np.concatenate([numbers for numbers, _, _ in pending], axis=1)
            for row, name in self._numeric:
                self._add(name, self._features[name].counts(numbers[row]), fade, weight)
        if self._text:
            texts = np.concatenate([texts for _, texts, _ in pending], axis=1)
            for row, name in self._text:
                self._add(name, self._features[name].counts(texts[row].tolist()), fade, weight)
        scores = np.fromiter(
            chain.from_iterable(probabilities for _, _, probabilities in pending),
            dtype=np.float64,
            count=new_rows,
        )
        if self._prediction is not None and self._scores is not None:
            self._scores = self._scores * fade + self._prediction.counts(scores) * weight
        positives = float(predict_labels(scores, self._threshold).sum())
        self._positives = self._positives * fade + positives * weight
        self._rows = self._rows * fade + new_rows * weight

    def _add(self, name: str, counts: np.ndarray, fade: float, weight: float) -> None:
        self._counts[name] = self._counts[name] * fade + counts * weight


def _copy(matrix: np.ndarray | None) -> np.ndarray | None:
    return None if matrix is None else matrix.copy()


def _state(reference: FeatureReference, counts: np.ndarray) -> FeatureState:
    total = float(counts.sum())
    if total <= 0:
        return FeatureState(math.nan, math.nan, None if reference.kind == "numeric" else math.nan)
    unseen = float(counts[-1] / total) if reference.kind == "categorical" else None
    return FeatureState(psi(reference.expected, counts), float(counts[0] / total), unseen)


def _checked_references(signature: Signature) -> dict[str, FeatureReference]:
    """The signature's per-input references, refused at start-up when malformed: a bad
    reference would otherwise fail inside a request."""
    raw = signature.document.get("reference") or {}
    if not isinstance(raw, dict):
        raise SignatureError("signature 'reference' must be an object of inputs")
    known = set(signature.names)
    found = references({name: entry for name, entry in raw.items() if name in known})
    for name, ref in found.items():
        _check(ref, f"reference.{name}")
    return found


def _prediction_reference(signature: Signature) -> tuple[FeatureReference | None, float | None]:
    """The training scores' reference and positive rate; (None, None) for an older signature
    exported before it existed (its input gauges still work)."""
    entry = signature.document.get("prediction_reference")
    if entry is None:
        return None, None
    if not isinstance(entry, dict) or entry.get("kind") != "numeric":
        raise SignatureError("signature 'prediction_reference' must be a numeric reference")
    reference = references({PREDICTION: entry})[PREDICTION]
    _check(reference, "prediction_reference")
    rate = entry.get("positive_rate")
    return reference, None if rate is None else float(rate)


def _check(reference: FeatureReference, where: str) -> None:
    expected = np.asarray(reference.expected, dtype=np.float64)
    if len(reference.expected) != len(reference.buckets):
        raise SignatureError(
            f"signature {where}: {len(reference.expected) - 1} bin fractions for "
            f"{len(reference.buckets) - 1} bins"
        )
    if not np.all(np.isfinite(expected)) or np.any(expected < 0):
        raise SignatureError(f"signature {where}: fractions must be finite and non-negative")
    if list(reference.edges) != sorted(reference.edges):
        raise SignatureError(f"signature {where}: bin edges must be in increasing order")
