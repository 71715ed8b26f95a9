"""Every endpoint of the real server, and predictions equal to the pipeline's."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conveyor.config import load_settings
from conveyor.features import MISSING_CATEGORY, model_inputs
from conveyor.modelio import load_model
from conveyor.paths import ProjectPaths
from tests.conftest import ROOT
from tests.serve.conftest import Server, example_record, released_inputs


def _metric(server: Server, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(server.get("/metrics").body.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_health_and_ready(server: Server) -> None:
    assert server.get("/health").json() == {"status": "ok"}
    assert server.get("/ready").json()["status"] == "ready"


def test_metadata_describes_the_model(server: Server, signature: dict[str, Any]) -> None:
    metadata = server.get("/metadata").json()
    # How the version is made (commit or model id) is the serving settings' business; here:
    # one version, the same on every endpoint.
    assert metadata["model_version"]
    assert metadata["model_version"] == server.get("/ready").json()["model_version"]
    assert metadata["model"]["data_sha256"] == signature["model"]["data_sha256"]
    assert metadata["metrics"]["roc_auc"] == signature["metrics"]["roc_auc"]
    assert [f["name"] for f in metadata["signature"]["inputs"]] == [
        f["name"] for f in signature["inputs"]
    ]
    assert metadata["server"]["max_batch"] == 1000


def test_openapi_states_the_real_input_schema(server: Server, signature: dict[str, Any]) -> None:
    document = server.get("/openapi.json").json()
    record = document["components"]["schemas"]["Record"]
    assert record["required"] == [f["name"] for f in signature["inputs"]]
    assert record["additionalProperties"] is False
    kinds = {name: spec["type"] for name, spec in record["properties"].items()}
    assert kinds == {f["name"]: f["type"] for f in signature["inputs"]}
    batch = document["components"]["schemas"]["PredictRequest"]["oneOf"][1]
    assert batch["maxItems"] == 1000


def test_one_record_and_a_batch(server: Server, signature: dict[str, Any]) -> None:
    record = example_record(signature)
    single = server.post_json("/predict", record).json()
    assert single["model_version"] == server.get("/metadata").json()["model_version"]
    (prediction,) = single["predictions"]
    assert prediction["label"] in signature["output"]["classes"]
    assert 0.0 <= prediction["probability"] <= 1.0
    batch = server.post_json("/predict", [record] * 3).json()["predictions"]
    assert batch == [prediction] * 3


def test_metrics_count_requests_and_predictions(server: Server, signature: dict[str, Any]) -> None:
    record = example_record(signature)
    before_ok = _metric(server, "conveyor_http_requests_total", endpoint="/predict", status="200")
    reply = server.post_json("/predict", [record, record])
    assert reply.status == 200
    assert (
        _metric(server, "conveyor_http_requests_total", endpoint="/predict", status="200")
        == before_ok + 1
    )
    labels = {p["label"] for p in reply.json()["predictions"]}
    assert all(_metric(server, "conveyor_predictions_total", **{"class": c}) >= 1 for c in labels)
    count = _metric(
        server, "conveyor_http_request_duration_seconds_count", endpoint="/predict", status="200"
    )
    assert count >= 1


@pytest.mark.parametrize(
    "categorical", [f["name"] for f in released_inputs() if f["type"] == "string"]
)
def test_metrics_count_unknown_categories(
    server: Server, signature: dict[str, Any], categorical: str
) -> None:
    """Each categorical input of the team's model counts values it never saw in training."""
    record = example_record(signature)
    before = _metric(server, "conveyor_unknown_categories_total", feature=categorical)
    reply = server.post_json("/predict", [record, {**record, categorical: "Atlantis"}])
    assert reply.status == 200
    assert _metric(server, "conveyor_unknown_categories_total", feature=categorical) == before + 1


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a client would send them: missing numbers and categories as null."""
    records: list[dict[str, Any]] = [
        {str(key): value for key, value in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]
    for record in records:
        for key, value in record.items():
            if (isinstance(value, float) and math.isnan(value)) or value == MISSING_CATEGORY:
                record[key] = None
            elif isinstance(value, np.floating):
                record[key] = float(value)
    return records


@pytest.mark.parity
def test_http_predictions_equal_the_pipeline_on_the_whole_test_set(
    server: Server, pipeline_outputs: ProjectPaths, signature: dict[str, Any]
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
    records = _records(inputs)
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
    sklearn_positive = expected >= settings.model.threshold
    differ = http_positive != sklearn_positive
    assert not (differ & (np.abs(expected - settings.model.threshold) > tolerance)).any()
