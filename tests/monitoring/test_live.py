"""The alerts and the dashboard against the real server: what it exports, and what fires.

One `conveyor-serve` for the module, on this checkout's models/, with live drift on and a
window of WINDOW rows. Batches are posted in order, /metrics scraped after each:
1. `unshifted`: the test set's first rows, as they are;
2. `covariate`: `conveyor simulate --kind covariate` on the signature's first numeric input
   (resampled towards its highest values): input and prediction drift;
3. `label`: `conveyor simulate --kind label` (positives resampled so the labels' positive
   rate moves by LABEL): the predicted-positive rate moves;
4. `noise`: `conveyor simulate --kind noise` on the signature's first categorical input (a
   share of its values replaced by categories training never saw).
Each shifted batch is three windows long, so the rows before it weigh about 5% by its end.

Each scrape becomes a promtool rule test: every sample a series (with the `instance` and
`job` labels Prometheus adds) held for 20 minutes, as if Prometheus scraped a server whose
window stood still, and promtool evaluates alerts.yml on it. The drift alerts expected to
fire are worked out here from the scraped numbers and params.yaml, and promtool must report
exactly those, annotations included; each scenario also names what must (not) fire.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conveyor.config import MonitorSettings, load_settings
from conveyor.features import model_inputs
from conveyor.paths import ProjectPaths
from tests.conftest import BIN, ROOT, run_conveyor
from tests.monitoring.deployed import (
    DRIFT_ALERTS,
    alert_rules,
    dashboard,
    dashboard_queries,
    metric_names,
    unseen_term,
)
from tests.monitoring.promtool import Series, expected_alert, rule_test, run_rule_test
from tests.serve.client import client_records
from tests.serve.conftest import RunningServer, model_environment, start_server, stop_server

WINDOW = 400  # CONVEYOR_DRIFT_WINDOW: the smallest the server takes is 100
UNSHIFTED_ROWS = 2 * WINDOW
SHIFTED_ROWS = 3 * WINDOW
BATCH = 1000  # rows per POST (the server's CONVEYOR_MAX_BATCH in these tests)
JOB = "conveyor-serve"
COVARIATE = 1000  # covariate: the top row drawn 1,000 times as often as the bottom one
LABEL = 0.2  # label: how far the positive rate of the labels moves
UNSEEN = 0.25  # noise: the share of the categorical input's values replaced by unseen ones

Labels = dict[str, str]
pytestmark = pytest.mark.usefixtures("promtool_path")  # installed first, or fail saying why


@dataclass(frozen=True)
class Scrape:
    """One /metrics answer: every sample, its labels with Prometheus's target labels."""

    samples: list[tuple[str, Labels, float]]

    def values(self, name: str) -> list[tuple[Labels, float]]:
        return [(labels, value) for sample, labels, value in self.samples if sample == name]

    def value(self, name: str) -> float:
        (found,) = self.values(name)
        return found[1]

    def by_feature(self, name: str) -> dict[str, float]:
        return {labels["feature"]: value for labels, value in self.values(name)}

    def target(self) -> Labels:
        (labels, _), *_ = self.values("conveyor_model_info")
        return {"instance": labels["instance"], "job": labels["job"]}


def scrape(server: RunningServer) -> Scrape:
    reply = server.get("/metrics")
    assert reply.status == 200, reply.body[:300]
    target = {"instance": server.url.removeprefix("http://"), "job": JOB}
    samples = [
        (sample.name, {**sample.labels, **target}, float(sample.value))
        for family in text_string_to_metric_families(reply.body.decode())
        for sample in family.samples
    ]
    return Scrape(samples)


def post(server: RunningServer, frame: pd.DataFrame) -> None:
    records = client_records(frame)
    for start in range(0, len(records), BATCH):
        reply = server.post_json("/predict", records[start : start + BATCH])
        assert reply.status == 200, reply.body[:300]


def simulated(kind: str, options: list[str], rows: int, folder: Path) -> pd.DataFrame:
    """A batch `conveyor simulate` drew from the test set, as the model's inputs."""
    output = folder / f"{kind}.parquet"
    done = run_conveyor(
        "simulate", "--kind", kind, *options, "--rows", str(rows), "--seed", "0",
        "--output", str(output), cwd=ROOT,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    settings = load_settings(ROOT / "params.yaml")
    return model_inputs(pd.read_parquet(output), settings.data)


@pytest.fixture(scope="module")
def signature(pipeline_outputs: ProjectPaths) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(pipeline_outputs.signature.read_text())
    return document


def first_input(signature: Mapping[str, Any], kind: str) -> str:
    return next(str(field["name"]) for field in signature["inputs"] if field["type"] == kind)


@pytest.fixture(scope="module")
def scrapes(
    pipeline_outputs: ProjectPaths,
    signature: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Scrape]]:
    folder = tmp_path_factory.mktemp("monitoring-live")
    environment = {
        **model_environment(pipeline_outputs),
        "CONVEYOR_DRIFT": "on",
        "CONVEYOR_DRIFT_WINDOW": str(WINDOW),
        # Every row counted: the windows these tests reason about are exact row counts.
        "CONVEYOR_DRIFT_SAMPLE": "1",
        "CONVEYOR_MAX_BATCH": str(BATCH),
    }
    server = start_server(BIN / "conveyor-serve", environment, folder / "server.log")
    try:
        settings = load_settings(ROOT / "params.yaml")
        test_rows = model_inputs(pd.read_parquet(pipeline_outputs.test_data), settings.data)
        found = {}
        post(server, test_rows.iloc[:UNSHIFTED_ROWS])
        found["unshifted"] = scrape(server)
        numeric, categorical = first_input(signature, "number"), first_input(signature, "string")
        shifts = {
            "covariate": ["--column", numeric, "--strength", str(COVARIATE)],
            "label": ["--strength", str(LABEL)],
            "noise": ["--column", categorical, "--strength", str(UNSEEN)],
        }
        for kind, options in shifts.items():
            post(server, simulated(kind, options, SHIFTED_ROWS, folder))
            found[kind] = scrape(server)
        yield found
    finally:
        stop_server(server)


def as_series(found: Scrape) -> list[Series]:
    """Each sample held for 20 minutes, in promtool's notation (no exponent, which its
    series notation would read as a range)."""
    series = []
    for name, labels, value in found.samples:
        if math.isnan(value):
            text = "NaN"
        elif math.isinf(value):
            text = "Inf" if value > 0 else "-Inf"
        else:
            text = np.format_float_positional(value, trim="-")
        series.append(Series({"__name__": name, **labels}, f"{text}x20"))
    return series


def expected_drift_alerts(found: Scrape, monitor: MonitorSettings) -> dict[str, list[Any]]:
    """The drift alerts the rules must raise on `found`, worked out from params.yaml."""
    rules, target = alert_rules(), found.target()
    if found.value("conveyor_drift_window_rows") < monitor.min_rows:
        return {name: [] for name in DRIFT_ALERTS}
    threshold = monitor.psi_threshold
    features = [
        expected_alert(rules["ConveyorFeatureDrift"], {"feature": name, **target}, psi)
        for name, psi in sorted(found.by_feature("conveyor_feature_psi").items())
        if psi > threshold
    ]
    unseen = [
        expected_alert(rules["ConveyorUnseenCategories"], {"feature": name, **target}, term)
        for name, rate in sorted(found.by_feature("conveyor_feature_unseen_rate").items())
        if (term := unseen_term(rate)) > threshold
    ]
    psi = found.value("conveyor_prediction_psi")
    prediction = [expected_alert(rules["ConveyorPredictionDrift"], target, psi)]
    rate = found.value("conveyor_predicted_positive_rate")
    reference = found.value("conveyor_reference_positive_rate")
    rows = found.value("conveyor_drift_window_rows")
    z = abs(rate - reference) / math.sqrt(reference * (1 - reference) / rows)
    critical = NormalDist().inv_cdf(1 - monitor.p_value / 2)
    positive = [expected_alert(rules["ConveyorPositiveRateShift"], target, z)]
    return {
        "ConveyorFeatureDrift": features,
        "ConveyorUnseenCategories": unseen,
        "ConveyorPredictionDrift": prediction if psi > threshold else [],
        "ConveyorPositiveRateShift": positive if z > critical else [],
    }


def numbers(found: Scrape) -> str:
    """The drift gauges in one line, for an assertion's message."""
    names = (
        "conveyor_prediction_psi",
        "conveyor_predicted_positive_rate",
        "conveyor_reference_positive_rate",
        "conveyor_drift_window_rows",
    )
    psi = {k: round(v, 3) for k, v in found.by_feature("conveyor_feature_psi").items()}
    return f"{ {n: round(found.value(n), 4) for n in names} } psi {psi}"


def firing(expected: dict[str, list[Any]]) -> dict[str, set[str]]:
    """Per alert, what its expected alerts are about (the input, or "model")."""
    return {
        name: {alert["exp_labels"].get("feature", "model") for alert in alerts}
        for name, alerts in expected.items()
    }


def raised(found: Scrape, monitor: MonitorSettings) -> dict[str, set[str]]:
    """Per drift alert, what it fires about on `found` ("model" for the model-wide ones):
    worked out from params.yaml, and exactly what promtool raises from alerts.yml."""
    expected = expected_drift_alerts(found, monitor)
    done = run_rule_test(rule_test(as_series(found), expected))
    assert done.returncode == 0, f"promtool test rules failed:\n{done.stdout}{done.stderr}"
    return firing(expected)


def test_every_metric_the_alerts_and_the_dashboard_read_is_one_the_server_exports(
    scrapes: dict[str, Scrape],
) -> None:
    exported = {name for found in scrapes.values() for name, _, _ in found.samples}
    assert {"conveyor_feature_psi", "conveyor_drift_window_rows"} <= exported
    for name, rule in alert_rules().items():
        assert metric_names(rule["expr"]) <= exported, (name, metric_names(rule["expr"]) - exported)
    queries = dashboard_queries(dashboard())
    for query in queries:
        assert metric_names(query) <= exported, (query, metric_names(query) - exported)
    shown = set().union(*(metric_names(query) for query in queries))
    families = {
        name.removesuffix("_total")
        .removesuffix("_bucket")
        .removesuffix("_sum")
        .removesuffix("_count")
        for name in exported
    }
    unshown = {f for f in families if not any(n.startswith(f) for n in shown)}
    assert not unshown, f"metrics the server exports and the dashboard does not show: {unshown}"


def test_no_drift_alert_fires_on_the_test_set_as_it_is(
    scrapes: dict[str, Scrape], monitor: MonitorSettings
) -> None:
    found = scrapes["unshifted"]
    assert found.value("conveyor_drift_window_rows") >= monitor.min_rows
    assert raised(found, monitor) == {name: set() for name in DRIFT_ALERTS}, numbers(found)


def test_a_covariate_shift_fires_input_and_prediction_drift(
    scrapes: dict[str, Scrape], monitor: MonitorSettings, signature: dict[str, Any]
) -> None:
    found = scrapes["covariate"]
    alerts = raised(found, monitor)
    assert first_input(signature, "number") in alerts["ConveyorFeatureDrift"], numbers(found)
    assert alerts["ConveyorPredictionDrift"] == {"model"}, numbers(found)
    assert alerts["ConveyorUnseenCategories"] == set()


def test_a_shift_of_the_positive_rate_fires_its_alert(
    scrapes: dict[str, Scrape], monitor: MonitorSettings
) -> None:
    found = scrapes["label"]
    alerts = raised(found, monitor)
    assert alerts["ConveyorPositiveRateShift"] == {"model"}, numbers(found)
    assert alerts["ConveyorUnseenCategories"] == set()


def test_unseen_categories_fire_on_the_input_that_receives_them(
    scrapes: dict[str, Scrape], monitor: MonitorSettings, signature: dict[str, Any]
) -> None:
    found = scrapes["noise"]
    categorical = first_input(signature, "string")
    alerts = raised(found, monitor)
    assert alerts["ConveyorUnseenCategories"] == {categorical}
    assert categorical in alerts["ConveyorFeatureDrift"]
    counted = found.values("conveyor_unknown_categories_total")
    assert categorical in {labels["feature"] for labels, _ in counted}
