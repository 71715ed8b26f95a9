"""Live drift: how far the inputs and predictions the server sees have moved from training.

Each row is kept with probability `sample` (a tenth in the server by default), and the hot
path does no numpy work: the rows to keep are drawn as the gaps between kept rows, so a request
with no row drawn costs one comparison, and one with some costs a draw per kept row and a list
append (`observe` keeps a reference to the request's already-built numeric and text matrices
and which of their rows were drawn). Right after onnxruntime's run the CPU's caches hold the
trees, not numpy: a numpy draw and two fancy-index copies per request cost a 100-record
request about 60 µs there (a tenth of its time outside onnxruntime), against the 30 µs they
take in a loop of their own. Every `fold_rows` kept rows (1,024, or an eighth of the window
when that is less; sooner when the requests they came from hold `HELD_FOLDS` times as many
rows, so memory stays bounded however small the sample) and before every read, the kept rows
are gathered with one numpy call per matrix, counted into their buckets, with numpy for numbers
and `Counter` for categories, and added to running histograms in which older rows fade by
`exp(-1/window)` per newer row, so the numbers describe roughly the last `window` kept rows
whatever the traffic. A random share of the rows has the distribution of all of them, so the
index is the same up to sampling noise, and the work per served row is a tenth. Memory is the
histograms plus the requests waiting to be folded (at most `HELD_FOLDS * fold_rows` rows and
one request): it does not grow with the number of requests.

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
from typing import Any, NamedTuple

import numpy as np

from conveyor.contract import predict_labels
from conveyor.drift import FeatureReference, psi, references
from conveyor.serve.signature import Signature, SignatureError
from conveyor.serve.validation import Batch

PREDICTION = "probability"
"""The name the predicted-probability distribution goes by among the references."""
HELD_FOLDS = 16
"""Requests waiting to be folded may hold this many times `fold_rows` rows, kept or not."""


class _Held(NamedTuple):
    """A request some of whose rows were drawn, waiting for the next fold (a named tuple:
    built on the hot path, where a frozen dataclass costs several times as much)."""

    numbers: np.ndarray | None  # the request's numeric matrix (inputs × rows, signature order)
    texts: np.ndarray | None  # its text matrix, likewise
    scores: list[float]  # the drawn rows' probabilities
    drawn: list[int] | None  # which rows were drawn; None: all of them
    rows: int  # how many rows the matrices hold


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
        self._draw = random.Random(seed).random
        self._log_passed = math.log1p(-sample) if sample < 1.0 else -math.inf
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
        self._pending: list[_Held] = []
        self._pending_rows = 0
        self._held_rows = 0
        self._most_held = HELD_FOLDS * self._fold_rows
        self._skip = self._gap()  # rows to pass over before the next drawn one

    def observe(self, batch: Batch, probabilities: Sequence[float]) -> None:
        """One served batch: the drawn share of its rows waits for the next fold (see the
        module's docstring). A one-record batch lives in buffers the decoder refills for the
        next request, so it is copied; a larger one is kept as it is."""
        rows = len(probabilities)
        if self._skip >= rows:  # the usual request: none of its rows is drawn
            self._skip -= rows
            return
        drawn = self._drawn(rows)
        numbers, texts = batch.numbers, batch.texts
        if rows == 1:
            numbers, texts = _copy(numbers), _copy(texts)
        scores = list(probabilities) if drawn is None else [probabilities[i] for i in drawn]
        self._pending.append(_Held(numbers, texts, scores, drawn, rows))
        self._pending_rows += len(scores)
        self._held_rows += rows
        if self._pending_rows >= self._fold_rows or self._held_rows >= self._most_held:
            self._fold()

    def _drawn(self, rows: int) -> list[int] | None:
        """The rows of this batch the sample keeps, each with probability `sample` (None: all
        of them), found by skipping a geometric number of rows from one kept row to the next:
        a draw per kept row instead of one per row. Called when `_skip` < `rows`."""
        if self.sample >= 1.0:
            return None
        drawn = []
        position = self._skip
        while position < rows:
            drawn.append(position)
            position += 1 + self._gap()
        self._skip = position - rows
        return drawn

    def _gap(self) -> int:
        """How many rows pass before the next kept one: k with probability
        (1 - sample)^k * sample, each row kept independently of the others."""
        if self.sample >= 1.0:
            return 0
        return int(math.log(1.0 - self._draw()) / self._log_passed)

    @property
    def pending_rows(self) -> int:
        """Drawn rows waiting to be bucketed: below `fold_rows` after every request, so a
        fold (the only work that grows with rows) never buckets more than one fold and one
        batch, and never gathers from more than `HELD_FOLDS` folds' worth of held rows and one
        batch."""
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
        """Bucket the drawn rows and add them to the decayed histograms."""
        if not self._pending:
            return
        pending, self._pending, new_rows = self._pending, [], self._pending_rows
        self._pending_rows = self._held_rows = 0
        # Older rows fade by one factor per new row. Within a fold the new rows share one
        # weight, the mean of the weights they would have one by one (the newest 1, the one
        # before exp(-1/window), ...), so the total weight is exact and no row costs a
        # Python step of its own.
        fade = self._decay**new_rows
        weight = (1.0 - fade) / (new_rows * (1.0 - self._decay))
        columns = _drawn_columns(pending)
        if self._numeric:
            numbers = _gathered([held.numbers for held in pending], columns)
            for row, name in self._numeric:
                self._add(name, self._features[name].counts(numbers[row]), fade, weight)
        if self._text:
            texts = _gathered([held.texts for held in pending], columns)
            for row, name in self._text:
                self._add(name, self._features[name].counts(texts[row].tolist()), fade, weight)
        scores = np.fromiter(
            chain.from_iterable(held.scores for held in pending), dtype=np.float64, count=new_rows
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


def _drawn_columns(pending: list[_Held]) -> np.ndarray | None:
    """Where the drawn rows sit among the held requests' rows laid side by side (None when
    every row was drawn)."""
    if all(held.drawn is None for held in pending):
        return None
    positions: list[int] = []
    offset = 0
    for held in pending:
        drawn = range(held.rows) if held.drawn is None else held.drawn
        positions.extend(offset + row for row in drawn)
        offset += held.rows
    return np.array(positions, dtype=np.intp)


def _gathered(matrices: list[np.ndarray | None], columns: np.ndarray | None) -> np.ndarray:
    """The held matrices side by side, only the drawn columns (rows of the batch). Every
    request of a signature with inputs of a kind holds that kind's matrix."""
    joined: np.ndarray = np.concatenate([m for m in matrices if m is not None], axis=1)
    return joined if columns is None else joined[:, columns]


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
