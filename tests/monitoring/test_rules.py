"""deploy/monitoring/alerts.yml: Prometheus accepts it, its numbers are params.yaml's, and
every alert fires when it should and only then.

Prometheus cannot read params.yaml, so the rules carry `monitor.psi_threshold`,
`monitor.min_rows` and the critical value of `monitor.p_value` as numbers. The threshold tests
prove them by behaviour, with promtool evaluating the rules: a value a hair past the
threshold fires, a hair short of it does not, and a window one row short of `min_rows` judges
nothing. They fail the moment params.yaml and the rules part.

The latency and error-rate alerts are the service's own objectives (no params key); a served
batch cannot make a server slow or failing, so their series here are synthetic. The drift
alerts also fire on series scraped from a live server: tests/monitoring/test_live.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from statistics import NormalDist
from typing import Any

import pytest
import yaml

from conveyor.config import MonitorSettings
from conveyor.drift import FLOOR
from conveyor.serve.telemetry import Telemetry
from tests.conftest import ROOT
from tests.monitoring.deployed import (
    ALERTS,
    DRIFT_ALERTS,
    SCRAPE_CONFIG,
    SERVICE_ALERTS,
    alert_rules,
    relabel,
    unseen_term,
)
from tests.monitoring.promtool import (
    Series,
    check_rules,
    expected_alert,
    promtool,
    rule_test,
    run_rule_test,
)

HAIR = 1e-3  # relative: how far past (or short of) a threshold the probing values sit
TARGET = {"instance": "10.0.0.1:8080", "job": "conveyor-serve"}
SHORT = {"instance": "10.0.0.2:8080", "job": "conveyor-serve"}  # a window short of min_rows
HELD = "x20"  # a value held for 20 more minutes: past every rule's `for:`


def held(name: str, value: float, **labels: str) -> Series:
    return Series({"__name__": name, **labels}, f"{value!r}{HELD}")


def assert_passes(document: dict[str, Any]) -> None:
    done = run_rule_test(document)
    assert done.returncode == 0, f"promtool test rules failed:\n{done.stdout}{done.stderr}"


def solve(function: Callable[[float], float], target: float, low: float, high: float) -> float:
    """The x in [low, high] where the increasing `function` reaches `target` (bisection)."""
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if function(middle) < target else (low, middle)
    return (low + high) / 2


def test_promtool_accepts_the_rules(promtool_path: str) -> None:
    done = check_rules()
    assert done.returncode == 0, done.stdout + done.stderr
    rules = alert_rules()
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout
    assert set(rules) == {*DRIFT_ALERTS, *SERVICE_ALERTS}


def test_every_alert_says_how_bad_what_and_where_to_read_on() -> None:
    headings = re.findall(r"^#+ (.+)$", (ROOT / "docs" / "monitoring.md").read_text(), re.M)
    anchors = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
    for name, rule in alert_rules().items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert "{{ $value" in annotations["description"], name
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page.endswith("/docs/monitoring.md") and anchor in anchors, (name, anchor)
        assert re.fullmatch(r"\d+m", rule["for"]) and int(rule["for"][:-1]) >= 2, name
    for name in ("ConveyorFeatureDrift", "ConveyorUnseenCategories"):
        assert "{{ $labels.feature }}" in alert_rules()[name]["annotations"]["description"]


def test_the_numbers_the_descriptions_quote_are_params(monitor: MonitorSettings) -> None:
    """ "past 0.2 (monitor.psi_threshold)": what the on-call person reads is params.yaml's."""
    quoted = []
    for rule in alert_rules().values():
        text = " ".join(rule["annotations"]["description"].split())
        quoted += re.findall(r"([0-9.]+) \(monitor\.(\w+)\)", text)
        quoted += [(v, k) for k, v in re.findall(r"monitor\.(\w+) ([0-9.]+)", text)]
    assert {name for _, name in quoted} == {"psi_threshold", "p_value"}
    for value, name in quoted:
        assert float(value) == getattr(monitor, name), name


def test_input_drift_fires_past_psi_threshold_on_a_window_of_min_rows(
    promtool_path: str, monitor: MonitorSettings
) -> None:
    threshold, rows = monitor.psi_threshold, monitor.min_rows
    above, below = threshold * (1 + HAIR), threshold * (1 - HAIR)
    series = [
        held("conveyor_feature_psi", above, feature="tenure", **TARGET),
        held("conveyor_feature_psi", below, feature="plan", **TARGET),
        held("conveyor_drift_window_rows", rows, **TARGET),
        held("conveyor_feature_psi", 10 * threshold, feature="tenure", **SHORT),
        held("conveyor_drift_window_rows", rows - 1, **SHORT),
    ]
    rule = alert_rules()["ConveyorFeatureDrift"]
    firing = [expected_alert(rule, {"feature": "tenure", **TARGET}, above)]
    assert_passes(rule_test(series, {"ConveyorFeatureDrift": firing}))


def test_prediction_drift_fires_past_psi_threshold_on_a_window_of_min_rows(
    promtool_path: str, monitor: MonitorSettings
) -> None:
    threshold, rows = monitor.psi_threshold, monitor.min_rows
    above = threshold * (1 + HAIR)
    quiet = {"instance": "10.0.0.3:8080", "job": "conveyor-serve"}
    series = [
        held("conveyor_prediction_psi", above, **TARGET),
        held("conveyor_drift_window_rows", rows, **TARGET),
        held("conveyor_prediction_psi", threshold * (1 - HAIR), **quiet),
        held("conveyor_drift_window_rows", 10 * rows, **quiet),
        held("conveyor_prediction_psi", 10 * threshold, **SHORT),
        held("conveyor_drift_window_rows", rows - 1, **SHORT),
    ]
    rule = alert_rules()["ConveyorPredictionDrift"]
    firing = [expected_alert(rule, TARGET, above)]
    assert_passes(rule_test(series, {"ConveyorPredictionDrift": firing}))


def test_unseen_categories_fire_when_they_alone_push_the_psi_past_the_threshold(
    promtool_path: str, monitor: MonitorSettings
) -> None:
    """The rate whose unseen bucket alone adds psi_threshold to the index, with the floor
    conveyor.drift gives an empty bucket: a hair more fires, a hair less does not."""
    threshold, rows = monitor.psi_threshold, monitor.min_rows
    critical = solve(unseen_term, threshold, FLOOR, 1.0)
    above, below = critical * (1 + HAIR), critical * (1 - HAIR)
    series = [
        held("conveyor_feature_unseen_rate", above, feature="plan", **TARGET),
        held("conveyor_feature_unseen_rate", below, feature="region", **TARGET),
        held("conveyor_feature_unseen_rate", 0.0, feature="channel", **TARGET),
        held("conveyor_drift_window_rows", rows, **TARGET),
        held("conveyor_feature_unseen_rate", 0.9, feature="plan", **SHORT),
        held("conveyor_drift_window_rows", rows - 1, **SHORT),
    ]
    rule = alert_rules()["ConveyorUnseenCategories"]
    firing = [expected_alert(rule, {"feature": "plan", **TARGET}, unseen_term(above))]
    assert_passes(rule_test(series, {"ConveyorUnseenCategories": firing}))


@pytest.mark.parametrize("direction", [1, -1], ids=["up", "down"])
def test_positive_rate_shift_fires_past_the_critical_value_of_p_value(
    promtool_path: str, monitor: MonitorSettings, direction: int
) -> None:
    """Two-sided at monitor.p_value: a move a hair more than the critical number of
    standard errors fires, either way; a hair less does not."""
    critical = NormalDist().inv_cdf(1 - monitor.p_value / 2)
    reference, rows = 0.25, 4 * monitor.min_rows
    error = math.sqrt(reference * (1 - reference) / rows)
    quiet = {"instance": "10.0.0.3:8080", "job": "conveyor-serve"}
    series = []
    for target, rate, window in (
        (TARGET, reference + direction * critical * (1 + HAIR) * error, rows),
        (quiet, reference + direction * critical * (1 - HAIR) * error, rows),
        (SHORT, reference + direction * 0.2, monitor.min_rows - 1),
    ):
        series += [
            held("conveyor_predicted_positive_rate", rate, **target),
            held("conveyor_reference_positive_rate", reference, **target),
            held("conveyor_drift_window_rows", window, **target),
        ]
    rule = alert_rules()["ConveyorPositiveRateShift"]
    firing = [expected_alert(rule, TARGET, critical * (1 + HAIR))]
    assert_passes(rule_test(series, {"ConveyorPositiveRateShift": firing}))


def histogram_series(job: str, endpoint: str, per_minute: dict[float, int]) -> list[Series]:
    """A latency histogram's buckets growing by `per_minute` requests (upper bound: count)."""
    bounds = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
    labels = {"endpoint": endpoint, "status": "200", "instance": "10.0.0.1:8080", "job": job}
    series, cumulative = [], 0
    for bound in (*bounds, math.inf):
        cumulative += sum(count for upper, count in per_minute.items() if upper == bound)
        le = "+Inf" if bound == math.inf else f"{bound:g}"
        name = "conveyor_http_request_duration_seconds_bucket"
        series.append(Series({"__name__": name, **labels, "le": le}, f"0+{cumulative}x30"))
    return series


def test_predict_latency_fires_when_p99_passes_its_bound(promtool_path: str) -> None:
    """Synthetic traffic (a served batch cannot make the server slow). Job "slow": 3% of
    /predict requests take 0.25-0.5 s, so p99 interpolates to 0.25 + 0.25 × 2/3; job "fast":
    all within 50 ms, while its /health (not /predict) is slow and must not count."""
    series = [
        *histogram_series("slow", "/predict", {0.05: 97, 0.5: 3}),
        *histogram_series("fast", "/predict", {0.05: 100}),
        *histogram_series("fast", "/health", {2.5: 100}),
    ]
    rule = alert_rules()["ConveyorPredictLatencyHigh"]
    firing = [expected_alert(rule, {"job": "slow"}, 0.25 + 0.25 * 2 / 3)]
    assert_passes(rule_test(series, {"ConveyorPredictLatencyHigh": firing}, eval_time="25m"))


def test_error_rate_fires_past_one_percent_of_server_errors(promtool_path: str) -> None:
    """Synthetic: job "failing" answers 20 of 1,020 requests a minute with 500; job "fine"
    5 of 1,005 (0.5%), and its many 422s (bad input) are no server errors."""
    series = []
    jobs = {"failing": {"200": 1000, "500": 20}, "fine": {"200": 1000, "500": 5, "422": 300}}
    for job, counts in jobs.items():
        for status, per_minute in counts.items():
            labels = {"endpoint": "/predict", "method": "POST", "status": status}
            series.append(
                Series(
                    {"__name__": "conveyor_http_requests_total", **labels, **TARGET, "job": job},
                    f"0+{per_minute}x30",
                )
            )
    rule = alert_rules()["ConveyorErrorRateHigh"]
    firing = [expected_alert(rule, {"job": "failing"}, 20 / 1020)]
    assert_passes(rule_test(series, {"ConveyorErrorRateHigh": firing}, eval_time="25m"))


def test_no_alert_fires_on_quiet_series(promtool_path: str, monitor: MonitorSettings) -> None:
    """A healthy server: nothing drifted, fast, no errors. Each alert's `exp_alerts: []`
    fails if it fires."""
    series = [
        held("conveyor_feature_psi", 0.01, feature="tenure", **TARGET),
        held("conveyor_feature_unseen_rate", 0.0, feature="plan", **TARGET),
        held("conveyor_prediction_psi", 0.01, **TARGET),
        held("conveyor_predicted_positive_rate", 0.25, **TARGET),
        held("conveyor_reference_positive_rate", 0.25, **TARGET),
        held("conveyor_drift_window_rows", 10 * monitor.min_rows, **TARGET),
        *histogram_series("conveyor-serve", "/predict", {0.01: 100}),
    ]
    quiet = rule_test(series, {name: [] for name in (*DRIFT_ALERTS, *SERVICE_ALERTS)}, "25m")
    assert_passes(quiet)


def test_a_rule_test_can_fail(promtool_path: str, monitor: MonitorSettings) -> None:
    """The harness itself: expecting silence from a firing alert must fail, or every test
    above would pass whatever the rules said."""
    series = [
        held("conveyor_feature_psi", 10 * monitor.psi_threshold, feature="tenure", **TARGET),
        held("conveyor_drift_window_rows", 10 * monitor.min_rows, **TARGET),
    ]
    done = run_rule_test(rule_test(series, {"ConveyorFeatureDrift": []}))
    assert done.returncode != 0 and "ConveyorFeatureDrift" in done.stdout + done.stderr


def test_scrape_config_is_valid_for_prometheus(promtool_path: str, tmp_path: Path) -> None:
    """promtool checks the configuration and the rule file it loads. Debian's Prometheus is
    built without Kubernetes discovery, so the pod job is checked here by running its
    relabelling (test below) and the rest by promtool."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"conveyor-serve", "conveyor-serve-pods"}
    config["scrape_configs"] = [jobs["conveyor-serve"]]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (tmp_path / ALERTS.name).write_text(ALERTS.read_text(encoding="utf-8"), encoding="utf-8")
    done = promtool("check", "config", tmp_path / "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout + done.stderr
    assert jobs["conveyor-serve-pods"]["kubernetes_sd_configs"] == [{"role": "pod"}]


def exported_label_names() -> set[str]:
    """Every label name the server's metrics carry, read from a registry that has counted a
    request, a prediction and an unseen category."""
    telemetry = Telemetry({"version": "v", "estimator": "e", "onnx_sha256": "h"})
    telemetry.count_request("/predict", "POST", 200, 0.001)
    telemetry.count_predictions(["yes"], {"plan": 1})
    return {
        name
        for family in telemetry.registry.collect()
        for sample in family.samples
        for name in sample.labels
    }


def test_pod_job_scrapes_annotated_pods_on_their_annotated_port_and_path() -> None:
    config = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    pods = next(job for job in config["scrape_configs"] if "kubernetes_sd_configs" in job)
    rules = pods["relabel_configs"]
    meta = "__meta_kubernetes_pod_"
    pod = {
        "__address__": "10.1.2.3:9999",
        "__metrics_path__": "/metrics",
        f"{meta}annotation_prometheus_io_scrape": "true",
        f"{meta}annotation_prometheus_io_port": "8080",
        "__meta_kubernetes_namespace": "models",
        f"{meta}name": "conveyor-serve-7d9f",
        f"{meta}label_app_kubernetes_io_version": "sha-abc1234",
    }
    target = relabel(rules, pod)
    assert target is not None
    assert target["__address__"] == "10.1.2.3:8080"
    assert target["__metrics_path__"] == "/metrics"
    assert (target["namespace"], target["pod"], target["pod_version"]) == (
        "models", "conveyor-serve-7d9f", "sha-abc1234",
    )  # fmt: skip
    # No target label shadows one the server exports (Prometheus would rename the server's).
    assert not {rule["target_label"] for rule in rules if "target_label" in rule} & (
        exported_label_names()
    )
    moved = relabel(rules, {**pod, f"{meta}annotation_prometheus_io_path": "/custom"})
    assert moved is not None and moved["__metrics_path__"] == "/custom"
    bare = relabel(rules, {**pod, "__address__": "10.1.2.3"})
    assert bare is not None and bare["__address__"] == "10.1.2.3:8080"
    assert relabel(rules, {**pod, f"{meta}annotation_prometheus_io_scrape": "false"}) is None
    unannotated = {k: v for k, v in pod.items() if "annotation" not in k}
    assert relabel(rules, unannotated) is None
