"""The server's live drift tracker over a hand-written reference: what it measures, that it
forgets, that it stays the same size, and that it agrees with `conveyor drift`'s numbers."""

from __future__ import annotations

import copy
import gc
import json
import math
import tracemalloc
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from conveyor.drift import feature_drift, references
from conveyor.serve.app import create_app
from conveyor.serve.live_drift import HELD_FOLDS, LiveDrift
from conveyor.serve.settings import ServeSettings
from conveyor.serve.signature import SignatureError, parse_signature
from conveyor.serve.validation import Batch, RequestDecoder, to_batch
from tests.serve.tiny_model import (
    CATEGORY_INPUT,
    NUMBER_INPUT,
    signature_document,
    write_model_files,
)

EDGES = [10.0, 20.0, 30.0]
QUARTERS = [0.25, 0.25, 0.25, 0.25]


def _document() -> dict[str, Any]:
    """The tiny model's signature with a full reference: tenure uniform over four bins,
    plan 60% basic / 40% plus, scores uniform over quarters, half of them positive."""
    document = signature_document()
    document["reference"] = {
        NUMBER_INPUT: {"kind": "numeric", "missing_fraction": 0.0,
                       "bin_edges": EDGES, "bin_fractions": QUARTERS},
        CATEGORY_INPUT: {"kind": "categorical", "missing_fraction": 0.0,
                         "frequencies": {"basic": 0.6, "plus": 0.4}},
    }  # fmt: skip
    document["prediction_reference"] = {
        "kind": "numeric", "missing_fraction": 0.0, "bin_edges": [0.25, 0.5, 0.75],
        "bin_fractions": QUARTERS, "positive_rate": 0.5,
    }  # fmt: skip
    return document


SIGNATURE = parse_signature(_document())


def _tracker(document: dict[str, Any] | None = None, window: int = 5000) -> LiveDrift:
    return LiveDrift(parse_signature(document or _document()), window)


def _batch(tenure: np.ndarray, plan: list[str | None], scores: np.ndarray) -> tuple[Batch, Any]:
    """A batch as the server's decoder builds it from client records."""
    records = [
        {NUMBER_INPUT: float(t), CATEGORY_INPUT: None if p is None else str(p)}
        for t, p in zip(tenure, plan, strict=True)
    ]
    return to_batch(records, SIGNATURE, max_batch=10**6), scores.tolist()


def _from_reference(rng: np.random.Generator, rows: int, low: float = 0.0) -> tuple[Any, Any]:
    """Rows drawn from the reference (tenure from `low` up, to shift it)."""
    tenure = rng.uniform(low, 40.0, rows)
    plan = list(rng.choice(["basic", "plus"], rows, p=[0.6, 0.4]))
    return _batch(tenure, plan, rng.uniform(0.0, 1.0, rows))


def _feed(tracker: LiveDrift, rng: np.random.Generator, rows: int, **shift: Any) -> None:
    for _ in range(rows // 10):
        tracker.observe(*_from_reference(rng, 10, **shift))


def test_rows_like_training_show_no_drift_and_a_shift_shows_at_once() -> None:
    rng = np.random.default_rng(1)
    tracker = _tracker()
    _feed(tracker, rng, 4000)
    calm = tracker.snapshot()
    assert calm.features[NUMBER_INPUT].psi < 0.02
    assert calm.features[CATEGORY_INPUT].psi < 0.02
    assert calm.features[CATEGORY_INPUT].unseen_rate == 0.0
    assert calm.prediction is not None and calm.prediction.psi < 0.02
    assert calm.positive_rate == pytest.approx(0.5, abs=0.05)
    assert calm.reference_positive_rate == 0.5

    _feed(tracker, rng, 4000, low=30.0)  # every tenure now in the top bin
    shifted = tracker.snapshot()
    assert shifted.features[NUMBER_INPUT].psi > 0.5
    assert shifted.features[CATEGORY_INPUT].psi < 0.02  # the other input did not move


def test_unseen_and_missing_categories_have_their_own_rates() -> None:
    tracker = _tracker()
    plan = ["basic"] * 60 + ["gold"] * 30 + [None] * 10
    tracker.observe(*_batch(np.full(100, 15.0), plan, np.full(100, 0.3)))
    state = tracker.snapshot().features[CATEGORY_INPUT]
    assert state.unseen_rate == pytest.approx(0.3, rel=0.02)  # the newest rows weigh a little more
    assert state.missing_rate == pytest.approx(0.1, rel=0.02)
    assert state.psi > 0.2
    assert tracker.snapshot().features[NUMBER_INPUT].unseen_rate is None


def test_the_window_forgets_old_rows() -> None:
    rng = np.random.default_rng(2)
    tracker = _tracker(window=1000)
    _feed(tracker, rng, 2000, low=30.0)
    assert tracker.snapshot().features[NUMBER_INPUT].psi > 0.5
    _feed(tracker, rng, 8000)  # eight windows of rows like training
    after = tracker.snapshot()
    assert after.features[NUMBER_INPUT].psi < 0.05
    assert after.rows == pytest.approx(1000, rel=0.01)  # the decayed count settles at the window


def test_the_same_rows_give_the_index_conveyor_drift_gives() -> None:
    """With a window far longer than the sample the decay weighs nothing, so the live number is
    the offline one: one definition of drift for the server and the CLI."""
    rng = np.random.default_rng(3)
    tracker = _tracker(window=10**9)
    tenure = rng.uniform(12.0, 40.0, 3000)
    plan = list(rng.choice(["basic", "plus", "gold"], 3000, p=[0.5, 0.4, 0.1]))
    for start in range(0, 3000, 7):  # uneven batches across fold boundaries
        part = slice(start, start + 7)
        tracker.observe(*_batch(tenure[part], plan[part], rng.uniform(0, 1, len(plan[part]))))
    live = tracker.snapshot()
    offline = references(_document()["reference"])
    for name, values in ((NUMBER_INPUT, tenure.astype(np.float32)), (CATEGORY_INPUT, plan)):
        expected = feature_drift(offline[name], list(values)).psi
        assert live.features[name].psi == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("sample", [1.0, 0.5])
def test_one_record_requests_are_kept_as_they_were_though_the_decoder_reuses_its_buffers(
    sample: float,
) -> None:
    """The server's decoder refills one set of arrays for every one-record request: what the
    tracker saw of each must be that request's values, not the last request's."""
    rng = np.random.default_rng(4)
    tenure, plan = rng.uniform(0.0, 40.0, 300), list(rng.choice(["basic", "plus", "gold"], 300))
    scores = rng.uniform(0.0, 1.0, 300).tolist()
    decoder = RequestDecoder(SIGNATURE, max_batch=10)
    reused, independent = (LiveDrift(SIGNATURE, 5000, sample, seed=7) for _ in range(2))
    for t, p, score in zip(tenure, plan, scores, strict=True):
        record = {NUMBER_INPUT: float(t), CATEGORY_INPUT: str(p)}
        reused.observe(decoder.decode(json.dumps(record).encode()), [score])
        independent.observe(to_batch(record, SIGNATURE, max_batch=10), [score])
    assert reused.snapshot() == independent.snapshot()


def test_memory_does_not_grow_with_the_number_of_requests() -> None:
    rng = np.random.default_rng(4)
    tracker = _tracker()
    batches = [_from_reference(rng, 1) for _ in range(500)]
    gc.collect()
    tracemalloc.start()
    try:
        for columns, scores in batches * 2:  # 1,000 requests
            tracker.observe(columns, scores)
        after_1000 = tracemalloc.get_traced_memory()[0]
        most, folds = 0, 0
        for columns, scores in batches * 18:  # 9,000 more
            tracker.observe(columns, scores)
            most, folds = max(most, tracker.pending_rows), folds + (tracker.pending_rows == 0)
        after_10000 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after_10000 - after_1000 < 64 * 1024, (after_1000, after_10000)
    # The work per request is bounded too: rows are folded in before 1,024 wait.
    assert 0 < most < 1024 and folds >= 8


def test_an_empty_window_has_no_numbers_yet() -> None:
    snapshot = _tracker().snapshot()
    assert snapshot.rows == 0
    assert math.isnan(snapshot.features[NUMBER_INPUT].psi)
    body = snapshot.as_dict()
    assert body["features"][NUMBER_INPUT]["psi"] is None  # JSON has no NaN
    assert body["prediction"]["positive_rate"] is None


def test_a_signature_from_before_score_references_still_tracks_its_inputs() -> None:
    document = _document()
    del document["prediction_reference"]
    tracker = _tracker(document)
    tracker.observe(*_batch(np.full(4, 35.0), ["plus"] * 4, np.full(4, 0.9)))
    snapshot = tracker.snapshot()
    assert snapshot.prediction is None
    assert snapshot.positive_rate == 1.0
    assert snapshot.features[NUMBER_INPUT].psi > 1


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d["reference"][NUMBER_INPUT].update(bin_fractions=[0.5, 0.5]),
         f"reference.{NUMBER_INPUT}: 2 bin fractions for 4 bins"),
        (lambda d: d["reference"][NUMBER_INPUT].update(bin_edges=[30.0, 20.0, 10.0]),
         "increasing order"),
        (lambda d: d["prediction_reference"].update(bin_fractions=[0.5, -0.5, 0.5, 0.5]),
         "prediction_reference: fractions must be finite and non-negative"),
        (lambda d: d.update(prediction_reference={"kind": "categorical"}),
         "'prediction_reference' must be a numeric reference"),
    ],
)  # fmt: skip
def test_a_malformed_reference_is_refused_at_start_naming_it(edit: Any, needle: str) -> None:
    document = copy.deepcopy(_document())
    edit(document)
    with pytest.raises(SignatureError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        _tracker(document)


def test_switched_off_the_server_has_no_drift_gauges(tmp_path: Any) -> None:
    files = write_model_files(tmp_path, _document())
    settings = ServeSettings(model_path=files.model, signature_path=files.signature)
    record = {NUMBER_INPUT: 35, CATEGORY_INPUT: "plus"}
    for drift, gauges in ((True, True), (False, False)):
        changes = {**vars(settings), "drift": drift, "drift_sample": 1.0}
        with TestClient(create_app(ServeSettings(**changes))) as client:
            assert client.post("/predict", json=[record] * 3).status_code == 200
            metrics = client.get("/metrics").text
            body = client.get("/drift").json()
        assert ("conveyor_feature_psi{" in metrics) is gauges
        assert body["enabled"] is gauges
        if gauges:
            assert body["rows"] == pytest.approx(3, abs=0.01)
            assert body["features"][NUMBER_INPUT]["psi"] > 1
            assert body["prediction"]["reference_positive_rate"] == 0.5


def test_a_sampled_tracker_sees_the_same_drift_on_a_quarter_of_the_rows() -> None:
    rng = np.random.default_rng(5)
    full, sampled = _tracker(window=10**9), LiveDrift(SIGNATURE, 10**9, 0.25, seed=1)
    for _ in range(400):  # 4,000 single rows and 40 batches of 100, shifted in tenure
        for batch in (_from_reference(rng, 1, low=25.0), _from_reference(rng, 100, low=25.0)):
            full.observe(*batch)
            sampled.observe(*batch)
    whole, part = full.snapshot(), sampled.snapshot()
    assert part.rows == pytest.approx(whole.rows / 4, rel=0.1)
    for name in (NUMBER_INPUT, CATEGORY_INPUT):
        assert part.features[name].psi == pytest.approx(whole.features[name].psi, abs=0.05)
    assert whole.features[NUMBER_INPUT].psi > 0.5  # the shift the sample must also show
    assert part.positive_rate == pytest.approx(whole.positive_rate, abs=0.03)


@pytest.mark.parametrize("share", [0.0, 1.5, -0.25])
def test_a_sample_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match=r"sample must be in \(0, 1\]"):
        LiveDrift(SIGNATURE, 1000, share)


def test_every_row_has_the_same_chance_to_be_kept_wherever_it_sits_in_a_batch() -> None:
    """The kept rows are drawn as gaps from one kept row to the next, across requests: a row
    first in its batch must be kept no more often than the others (a draw that restarted at
    each request would favour it), and the share kept must be the sample's."""
    sampled = LiveDrift(SIGNATURE, 10**9, 0.25, seed=3)
    tenure = np.array([5.0] + [35.0] * 6)  # the first row of each batch alone in the lowest bin
    batch = _batch(tenure, ["basic"] * 7, np.full(7, 0.5))
    for _ in range(6000):  # 42,000 rows
        sampled.observe(*batch)
    snapshot = sampled.snapshot()
    # 10,500 expected kept rows; the binomial's standard deviation is about 89.
    assert snapshot.rows == pytest.approx(10_500, abs=450)
    lowest_share = sampled._counts[NUMBER_INPUT][1] / sampled._counts[NUMBER_INPUT].sum()
    assert lowest_share == pytest.approx(1 / 7, abs=0.015)


def test_requests_held_for_the_next_fold_stay_bounded_however_small_the_sample() -> None:
    """A request with a drawn row is held whole until the fold; with a sample of one row in
    five hundred the fold's 1,024 kept rows would wait for half a million rows. The tracker
    folds early instead, so what it holds stays near `HELD_FOLDS` folds' worth of rows."""
    rng = np.random.default_rng(6)
    tracker = LiveDrift(SIGNATURE, 5000, 0.002, seed=2)
    template, scores = _from_reference(rng, 500)
    tracemalloc.start()
    try:
        for _ in range(400):  # 200,000 rows, each request in arrays of its own as the server's
            fresh = Batch(template.columns, {}, template.numbers.copy(), template.texts.copy())
            tracker.observe(fresh, scores)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    held_rows = HELD_FOLDS * 1024 + 500
    per_row = template.numbers[:, :1].nbytes + template.texts[:, :1].nbytes
    assert peak < 2 * held_rows * per_row, (peak, held_rows * per_row)
    assert tracker.snapshot().rows > 0  # and the rows it drew were counted
