"""Predictions over HTTP equal the pipeline's, on every row of the test set, whether the rows
are sent as records or as columns.

This needs the pipeline's own model, so it runs against the real server; what the endpoints
answer for any model (health, readiness, metadata, OpenAPI, metrics, batches) is a unit test
of the app with a tiny stand-in model: tests/unit/test_serve_app.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from conveyor.config import load_settings
from conveyor.contract import predict_labels
from conveyor.features import model_inputs
from conveyor.modelio import load_model
from conveyor.paths import ProjectPaths
from tests.conftest import ROOT
from tests.serve.client import client_records
from tests.serve.conftest import RunningServer


def _test_inputs(pipeline_outputs: ProjectPaths) -> pd.DataFrame:
    """The test set's model inputs, as the pipeline evaluated the model on them."""
    settings = load_settings(ROOT / "params.yaml")
    return model_inputs(pd.read_parquet(pipeline_outputs.test_data), settings.data)


@pytest.mark.parity
def test_http_predictions_equal_the_pipeline_on_the_whole_test_set(
    server: RunningServer, pipeline_outputs: ProjectPaths, signature: dict[str, Any]
) -> None:
    """Every test row over HTTP: the probabilities of scikit-learn, and the same labels.

    Labels are the target's values as text, whatever the target's type: prepare stores the
    target as text, so a 0/1 target with `positive_label: 1` is served as "1" (the signature's
    classes and the OpenAPI `enum` say so). The label is compared with the signature's
    positive class, never with the YAML value, which may be a number.
    """
    settings = load_settings(ROOT / "params.yaml")
    inputs = _test_inputs(pipeline_outputs)
    expected = load_model(pipeline_outputs.model).predict_proba(inputs)[:, 1]
    records = client_records(inputs)
    received: list[dict[str, Any]] = []
    for start in range(0, len(records), 1000):
        reply = server.post_json("/predict", records[start : start + 1000])
        assert reply.status == 200, reply.body[:300]
        received.extend(reply.json()["predictions"])
    probabilities = np.array([p["probability"] for p in received])
    tolerance = settings.export.parity_tolerance
    assert np.abs(probabilities - expected).max() <= tolerance
    classes = np.array(load_model(pipeline_outputs.model).classes_)
    assert classes.tolist() == [0, 1]
    positive = signature["output"]["positive_class"]
    assert positive == str(settings.data.positive_label)
    assert {p["label"] for p in received} <= set(signature["output"]["classes"])
    http_positive = np.array([p["label"] == positive for p in received])
    sklearn_positive = predict_labels(expected, settings.model.threshold).astype(bool)
    differ = http_positive != sklearn_positive
    assert not (differ & (np.abs(expected - settings.model.threshold) > tolerance)).any()


def test_columns_and_records_get_the_same_predictions(
    server: RunningServer, pipeline_outputs: ProjectPaths, signature: dict[str, Any]
) -> None:
    """The columnar body is a second spelling of the same rows: every test row sent both
    ways, in batches of the server's limit, gets the same answer to the last bit. Column
    names are the signature's, in reverse order, as a client's dictionary need not keep it;
    each input is missing in one row at least."""
    max_batch = server.get("/metadata").json()["server"]["max_batch"]
    names = [field["name"] for field in signature["inputs"]]
    records = client_records(_test_inputs(pipeline_outputs))
    for position, name in enumerate(names):
        records[position][name] = None
    for start in range(0, len(records), max_batch):
        chunk = records[start : start + max_batch]
        columns = {name: [record[name] for record in chunk] for name in reversed(names)}
        by_records = server.post_json("/predict", chunk)
        by_columns = server.post_json("/predict", {"columns": columns})
        assert by_records.status == by_columns.status == 200, by_columns.body[:300]
        assert len(by_columns.json()["predictions"]) == len(chunk)
        assert by_columns.json() == by_records.json()
