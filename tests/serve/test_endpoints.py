"""Predictions over HTTP equal the pipeline's, on every row of the test set.

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
    inputs = model_inputs(pd.read_parquet(pipeline_outputs.test_data), settings.data)
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
