"""The live drift gauges of the real server on the pipeline's model: quiet for held-out rows,
past the threshold for a batch `conveyor simulate` shifted, and a server whose memory does not
grow with the number of requests.

Thresholds come from params.yaml's `monitor:` section and the inputs from the signature, so
the tests hold for any team's data.
"""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conveyor.config import Settings, load_settings
from conveyor.paths import ProjectPaths
from tests.conftest import BIN, ROOT
from tests.serve.client import client_records
from tests.serve.conftest import RunningServer, model_environment, start_server, stop_server


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(ROOT / "params.yaml")


def _server(paths: ProjectPaths, log: Path, **environment: str) -> Iterator[RunningServer]:
    running = start_server(BIN / "conveyor-serve", {**model_environment(paths), **environment}, log)
    yield running
    stop_server(running)


@pytest.fixture
def drift_server(pipeline_outputs: ProjectPaths, tmp_path: Path) -> Iterator[RunningServer]:
    """A server of the test's own, counting every row (CONVEYOR_DRIFT_SAMPLE=1): the window
    holds exactly what the test posted, so a team's test set of a few hundred rows is judged
    whole (the sampled tracker is held to the whole one in tests/unit/test_live_drift.py)."""
    yield from _server(pipeline_outputs, tmp_path / "server.log", CONVEYOR_DRIFT_SAMPLE="1")


@pytest.fixture
def default_server(pipeline_outputs: ProjectPaths, tmp_path: Path) -> Iterator[RunningServer]:
    """A server as the image starts it: drift tracking on, at its default sample."""
    yield from _server(pipeline_outputs, tmp_path / "server.log")


def _inputs(frame: pd.DataFrame, signature: dict[str, Any]) -> list[dict[str, Any]]:
    names = [entry["name"] for entry in signature["inputs"]]
    return client_records(frame[names])


def _post_all(server: RunningServer, records: list[dict[str, Any]]) -> None:
    for start in range(0, len(records), 1000):
        reply = server.post_json("/predict", records[start : start + 1000])
        assert reply.status == 200, reply.body[:300]


def _gauges(server: RunningServer) -> dict[tuple[str, str | None], float]:
    text = server.get("/metrics").body.decode()
    return {
        (sample.name, sample.labels.get("feature")): float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.type == "gauge"
    }


def test_held_out_rows_stay_under_the_threshold(
    drift_server: RunningServer,
    pipeline_outputs: ProjectPaths,
    signature: dict[str, Any],
    settings: Settings,
) -> None:
    test_rows = pd.read_parquet(pipeline_outputs.test_data)
    _post_all(drift_server, _inputs(test_rows, signature))
    drift = drift_server.get("/drift").json()
    threshold = settings.monitor.psi_threshold
    assert drift["rows"] >= settings.monitor.min_rows
    assert set(drift["features"]) == set(signature["reference"])
    moved = {name: f["psi"] for name, f in drift["features"].items() if f["psi"] > threshold}
    assert not moved, f"held-out rows drifted past {threshold}: {moved}"
    assert drift["prediction"]["psi"] < threshold
    gauges = _gauges(drift_server)
    for name, feature in drift["features"].items():  # the gauges and /drift are one number
        assert gauges["conveyor_feature_psi", name] == pytest.approx(feature["psi"], abs=1e-6)
    assert gauges["conveyor_prediction_psi", None] == pytest.approx(
        drift["prediction"]["psi"], abs=1e-6
    )


def test_a_simulated_shift_moves_the_gauge_of_the_shifted_input(
    drift_server: RunningServer,
    pipeline_outputs: ProjectPaths,
    signature: dict[str, Any],
    settings: Settings,
    tmp_path: Path,
) -> None:
    shifted_input = next(e["name"] for e in signature["inputs"] if e["type"] == "number")
    batch = tmp_path / "shifted.csv"
    subprocess.run(
        [BIN / "conveyor", "simulate", "--kind", "covariate", "--column", shifted_input,
         "--rows", "3000", "--seed", "7", "--output", batch],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    before = _gauges(drift_server)
    assert ("conveyor_feature_psi", shifted_input) in before  # present, empty, before traffic
    _post_all(drift_server, _inputs(pd.read_csv(batch), signature))
    after = _gauges(drift_server)
    assert after["conveyor_feature_psi", shifted_input] > settings.monitor.psi_threshold
    assert after["conveyor_drift_window_rows", None] >= settings.monitor.min_rows


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def test_memory_does_not_grow_with_the_number_of_requests(
    default_server: RunningServer, pipeline_outputs: ProjectPaths, signature: dict[str, Any]
) -> None:
    """10,000 single-record requests on one keep-alive connection, drift tracking on: the
    resident memory after 10,000 is that after 1,000 (within allocator noise)."""
    assert default_server.process is not None
    records = _inputs(pd.read_parquet(pipeline_outputs.test_data).head(500), signature)
    bodies = [json.dumps(record).encode() for record in records]
    address = urlsplit(default_server.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    headers = {"content-type": "application/json"}

    def send(count: int, offset: int) -> None:
        for index in range(offset, offset + count):
            connection.request("POST", "/predict", bodies[index % len(bodies)], headers)
            reply = connection.getresponse()
            reply.read()
            assert reply.status == 200

    try:
        send(1000, 0)
        after_1000 = _rss_kib(default_server.process.pid)
        send(9000, 1000)
        after_10000 = _rss_kib(default_server.process.pid)
    finally:
        connection.close()
    tracked = default_server.get("/drift").json()
    assert tracked["rows"] > 0.5 * tracked["sample"] * 10_000  # the tracker saw its share
    assert after_10000 - after_1000 < 2048, f"RSS grew from {after_1000} to {after_10000} KiB"
