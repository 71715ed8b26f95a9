"""The ASGI app in this process (Starlette's TestClient) over the tiny two-input ONNX model.

Routes, status codes, error bodies and metrics need no socket, so they are tested here without
the pipeline's model; tests/serve keeps what needs a real process (SIGTERM, the 413 race on a
socket, fuzzing, the runtime-only environment).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from starlette.types import Message

from conveyor import __version__
from conveyor.serve.app import create_app, create_app_from_environment
from conveyor.serve.openapi import build_openapi
from conveyor.serve.settings import ServeSettings
from conveyor.serve.signature import SignatureError
from tests.serve.client import example_record
from tests.serve.tiny_model import (
    CLASSES,
    MAX_BATCH,
    REFUSED,
    ModelFiles,
    Refused,
    positive_probability,
    signature_document,
    tiny_signature,
    write_model_files,
)

MAX_BODY_BYTES = 4096


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> ModelFiles:
    return write_model_files(tmp_path_factory.mktemp("model"))


def _settings(files: ModelFiles, **changes: Any) -> ServeSettings:
    settings = ServeSettings(
        model_path=files.model,
        signature_path=files.signature,
        max_batch=MAX_BATCH,
        max_body_bytes=MAX_BODY_BYTES,
    )
    return dataclasses.replace(settings, **changes)


@pytest.fixture
def client(files: ModelFiles) -> Iterator[TestClient]:
    """A started app (its lifespan ran), answering 500s instead of raising them."""
    with TestClient(create_app(_settings(files)), raise_server_exceptions=False) as started:
        yield started


def _metric(client: TestClient, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def _model_id(files: ModelFiles) -> str:
    return "onnx-" + str(files.document["model"]["onnx_sha256"])[:12]


def test_health_and_ready(client: TestClient, files: ModelFiles) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "model_version": _model_id(files)}


def test_not_ready_before_start_up_nor_after_shutdown(files: ModelFiles) -> None:
    app = create_app(_settings(files))
    unstarted = TestClient(app)  # no `with`: the lifespan has not run
    reply = unstarted.get("/ready")
    assert (reply.status_code, reply.json()) == (503, {"error": "model not ready"})
    assert unstarted.get("/health").status_code == 200  # alive, only not ready
    with TestClient(app) as started:
        assert started.get("/ready").status_code == 200
    assert app.state.conveyor.ready is False


def test_metadata_describes_the_model(client: TestClient, files: ModelFiles) -> None:
    metadata = client.get("/metadata").json()
    document = files.document
    assert metadata["model_version"] == client.get("/ready").json()["model_version"]
    assert (metadata["model_id"], metadata["git_sha"]) == (_model_id(files), None)
    assert metadata["model"] == document["model"]
    assert metadata["metrics"] == document["metrics"]
    assert metadata["parity"] == document["parity"]
    assert metadata["signature"] == {"inputs": document["inputs"], "output": document["output"]}
    assert metadata["server"] == {
        "version": __version__,
        "max_batch": MAX_BATCH,
        "max_body_bytes": MAX_BODY_BYTES,
    }


def test_the_image_commit_is_the_version_everywhere(files: ModelFiles) -> None:
    with TestClient(create_app(_settings(files, git_sha="4fa42f0c"))) as client:
        metadata = client.get("/metadata").json()
        assert (metadata["model_version"], metadata["git_sha"]) == ("4fa42f0c", "4fa42f0c")
        assert metadata["model_id"] == _model_id(files)
        assert client.get("/ready").json()["model_version"] == "4fa42f0c"
        assert client.post("/predict", json=example_record(files.document)).json()[
            "model_version"
        ] == ("4fa42f0c")


def test_openapi_is_the_document_built_from_the_signature(
    client: TestClient, files: ModelFiles
) -> None:
    served = client.get("/openapi.json").json()
    assert served == json.loads(json.dumps(build_openapi(tiny_signature(), MAX_BATCH, __version__)))
    assert served["components"]["schemas"]["Record"]["required"] == ["tenure", "plan"]
    assert served["components"]["schemas"]["PredictRequest"]["oneOf"][1]["maxItems"] == MAX_BATCH


def test_one_record_and_a_batch(client: TestClient, files: ModelFiles) -> None:
    record = example_record(files.document)
    single = client.post("/predict", json=record).json()
    assert single["model_version"] == _model_id(files)
    (prediction,) = single["predictions"]
    expected = positive_probability(record["tenure"], record["plan"])
    assert prediction == {"label": "yes", "probability": pytest.approx(expected, abs=1e-6)}
    batch = client.post("/predict", json=[record] * 3).json()["predictions"]
    assert batch == [prediction] * 3


def test_predictions_keep_order_and_the_threshold_is_inclusive(client: TestClient) -> None:
    records = [
        {"tenure": 0, "plan": None},  # exactly 0.5: the positive class, as the pipeline decides
        {"tenure": -100, "plan": "unheard-of"},
        {"tenure": None, "plan": " plus "},
    ]
    predictions = client.post("/predict", json=records).json()["predictions"]
    assert [p["label"] for p in predictions] == ["yes", "no", "yes"]
    assert predictions[0]["probability"] == 0.5
    expected = [positive_probability(None, None), positive_probability(-100, None)]
    assert [p["probability"] for p in predictions[:2]] == pytest.approx(expected, abs=1e-6)
    assert predictions[2]["probability"] == pytest.approx(positive_probability(None, "plus"))
    assert {p["label"] for p in predictions} <= set(CLASSES)


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/x+json"]
)
def test_json_media_types_are_accepted(client: TestClient, content_type: str) -> None:
    body = json.dumps({"tenure": 1, "plan": "basic"})
    reply = client.post("/predict", content=body, headers={"content-type": content_type})
    assert reply.status_code == 200


def test_a_request_without_content_type_is_taken_as_json(client: TestClient) -> None:
    reply = client.post("/predict", content=b'{"tenure": 1, "plan": "basic"}')
    assert reply.status_code == 200


@pytest.mark.parametrize("case", REFUSED, ids=[case.case for case in REFUSED])
def test_bad_bodies_are_refused_by_name(client: TestClient, case: Refused) -> None:
    reply = client.post("/predict", content=case.body, headers={"content-type": "application/json"})
    assert reply.status_code == case.status
    assert reply.headers["content-type"] == "application/json"
    assert case.needle in reply.json()["error"]


def test_a_declared_body_over_the_limit_is_refused_unread(client: TestClient) -> None:
    body = json.dumps([{"padding": "x" * 100}] * 50).encode()
    reply = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 413
    assert reply.json()["error"] == (
        f"request body of {len(body)} bytes exceeds {MAX_BODY_BYTES} bytes"
    )


def test_a_streamed_body_over_the_limit_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"[" + b'{"padding": "xxxxxxxxxx"},' * 200
        yield b"{}]"

    reply = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert reply.status_code == 413
    assert reply.json()["error"] == f"request body exceeds {MAX_BODY_BYTES} bytes"


def test_wrong_content_type(client: TestClient, files: ModelFiles) -> None:
    body = json.dumps(example_record(files.document))
    reply = client.post("/predict", content=body, headers={"content-type": "text/csv"})
    assert reply.status_code == 415
    assert reply.json()["error"] == "content-type must be application/json, got 'text/csv'"


def test_wrong_method_and_unknown_path_answer_json(client: TestClient) -> None:
    wrong_method = client.get("/predict")
    assert wrong_method.status_code == 405
    assert "error" in wrong_method.json()
    unknown = client.get("/nowhere")
    assert unknown.status_code == 404
    assert "error" in unknown.json()


def test_metrics_count_requests_predictions_and_latency(
    client: TestClient, files: ModelFiles
) -> None:
    record = example_record(files.document)
    before_ok = _metric(client, "conveyor_http_requests_total", endpoint="/predict", status="200")
    reply = client.post("/predict", json=[record, {"tenure": -100, "plan": None}])
    assert reply.status_code == 200
    assert (
        _metric(
            client, "conveyor_http_requests_total", endpoint="/predict", status="200", method="POST"
        )
        == before_ok + 1
    )
    assert _metric(client, "conveyor_predictions_total", **{"class": "yes"}) == 1
    assert _metric(client, "conveyor_predictions_total", **{"class": "no"}) == 1
    count = _metric(
        client, "conveyor_http_request_duration_seconds_count", endpoint="/predict", status="200"
    )
    assert count == 1
    info = {"version": _model_id(files), "estimator": "tiny"}
    assert _metric(client, "conveyor_model_info", **info) == 1


def test_metrics_count_unknown_categories(client: TestClient, files: ModelFiles) -> None:
    record = example_record(files.document)
    records = [record, {**record, "plan": "Atlantis"}, {**record, "plan": "Atlantis "}]
    assert client.post("/predict", json=records).status_code == 200
    assert _metric(client, "conveyor_unknown_categories_total", feature="plan") == 2


def test_unknown_paths_and_methods_share_one_label(client: TestClient) -> None:
    client.get("/nowhere/1")
    client.get("/nowhere/2")
    client.request("BREW", "/health")
    assert _metric(client, "conveyor_http_requests_total", endpoint="other", status="404") == 2
    assert _metric(client, "conveyor_http_requests_total", method="other", status="405") == 1


def test_no_bad_request_ever_answers_500(files: ModelFiles) -> None:
    with TestClient(create_app(_settings(files)), raise_server_exceptions=False) as client:
        for case in REFUSED:
            client.post("/predict", content=case.body, headers={"content-type": "application/json"})
        client.post("/predict", content=b"{}", headers={"content-type": "text/csv"})
        client.put("/predict")
        metrics = client.get("/metrics").text
        assert 'status="500"' not in metrics
        assert client.get("/health").status_code == 200


_JSONISH = st.one_of(
    st.binary(max_size=80),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=5)),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode()),
)


@pytest.fixture(scope="module")
def fuzzed(files: ModelFiles) -> Iterator[TestClient]:
    """One started app for every fuzzed body (hypothesis runs a test many times per call)."""
    with TestClient(create_app(_settings(files)), raise_server_exceptions=False) as started:
        yield started


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_JSONISH, content_type=st.sampled_from(["application/json", "text/plain", ""]))
def test_no_body_whatever_its_bytes_answers_5xx(
    fuzzed: TestClient, body: bytes, content_type: str
) -> None:
    """Raw bytes and arbitrary JSON, not only schema-shaped requests (schemathesis does those
    against the live server): every answer is a 2xx or a 4xx in the `Error` shape."""
    headers = {"content-type": content_type} if content_type else {}
    reply = fuzzed.post("/predict", content=body, headers=headers)
    assert reply.status_code < 500, reply.text
    if reply.status_code >= 400:
        assert set(reply.json()) == {"error"}


def test_the_router_serves_predict_as_the_shortcut_does(files: ModelFiles) -> None:
    """Mounted under a prefix, POST /predict goes through Starlette's router instead of the
    shortcut in front of it: the same endpoint, the same answers."""
    inner = create_app(_settings(files))
    record = example_record(files.document)
    mounted = TestClient(Starlette(routes=[Mount("/model", app=inner)]))
    with mounted, TestClient(create_app(_settings(files))) as direct:
        for body in ([record, {**record, "plan": None}], {"tenure": "x", "plan": None}):
            through_router = mounted.post("/model/predict", json=body)
            shortcut = direct.post("/predict", json=body)
            assert through_router.status_code == shortcut.status_code
            assert through_router.json() == shortcut.json()


@pytest.mark.parametrize("mounted", [False, True], ids=["shortcut", "router"])
def test_a_client_gone_before_its_body_gets_no_answer_and_counts_499(
    files: ModelFiles, mounted: bool
) -> None:
    """Neither an error of ours (500) nor an answer: counted as nginx's 499, on both paths."""
    app = create_app(_settings(files))
    outer: Any = Starlette(routes=[Mount("/model", app=app)]) if mounted else app
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    path = "/model/predict" if mounted else "/predict"
    scope = {
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
        "headers": [], "query_string": b"", "root_path": "",
    }  # fmt: skip
    asyncio.run(outer(scope, receive, send))
    assert sent == []
    assert 'status="499"' in app.state.conveyor.telemetry.render()


def test_a_probability_that_is_not_a_number_is_a_500_never_a_null(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = client.app.state.conveyor.model  # type: ignore[attr-defined]

    class NotANumber:
        def run(self, outputs: object, feeds: dict[str, Any]) -> list[Any]:
            rows = len(next(iter(feeds.values())))
            return [np.full((rows, 2), np.nan, dtype=np.float32)]

    monkeypatch.setattr(model, "_session", NotANumber())
    reply = client.post("/predict", json={"tenure": 1, "plan": "basic"})
    assert reply.status_code == 500
    assert reply.json() == {"error": "internal error; the server logged the details"}


def test_our_own_bug_is_a_logged_json_500_and_serving_goes_on(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = client.app.state.conveyor.model  # type: ignore[attr-defined]

    def broken(columns: object) -> object:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(model, "probabilities", broken)
    with caplog.at_level(logging.ERROR, logger="conveyor.serve"):
        reply = client.post("/predict", json={"tenure": 1, "plan": "basic"})
    assert reply.status_code == 500
    assert reply.json() == {"error": "internal error; the server logged the details"}
    assert "unhandled error on POST /predict" in caplog.text
    assert "a bug of ours" in caplog.text
    assert _metric(client, "conveyor_http_requests_total", endpoint="/predict", status="500") == 1
    assert client.get("/health").status_code == 200


def _forged(files: ModelFiles, tmp_path: Path, **output: object) -> ServeSettings:
    document = signature_document()
    document["output"].update(output)
    if not output:
        document["inputs"] = document["inputs"][1:]
    forged = tmp_path / "signature.json"
    forged.write_text(json.dumps(document), encoding="utf-8")
    return _settings(files, signature_path=forged)


def test_a_signature_from_another_model_is_refused(files: ModelFiles, tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="describe different models"):
        create_app(_forged(files, tmp_path))
    with pytest.raises(SignatureError, match=r"model\.onnx has no output 'scores'"):
        create_app(_forged(files, tmp_path, probability_output="scores"))


def test_a_missing_or_broken_model_file_is_refused(files: ModelFiles, tmp_path: Path) -> None:
    missing = tmp_path / "no.onnx"
    with pytest.raises(
        SignatureError, match=f"model file {re.escape(str(missing))} does not exist"
    ):
        create_app(_settings(files, model_path=missing))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a graph")
    with pytest.raises(
        SignatureError, match=f"model file {re.escape(str(broken))} cannot be loaded"
    ):
        create_app(_settings(files, model_path=broken))


def test_workers_build_the_app_from_the_environment(
    files: ModelFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_MODEL_PATH", str(files.model))
    monkeypatch.setenv("CONVEYOR_SIGNATURE_PATH", str(files.signature))
    monkeypatch.setenv("CONVEYOR_MAX_BATCH", "2")
    app = create_app_from_environment()
    assert isinstance(app, Starlette)
    assert app.state.conveyor.settings.max_batch == 2
