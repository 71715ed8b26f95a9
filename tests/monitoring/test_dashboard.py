"""deploy/monitoring/grafana-dashboard.json: a dashboard Grafana imports as it is.

Its structure is checked here (what Grafana needs to import it and draw every panel on the
`${datasource}` Prometheus variable) and its lines are params.yaml's and the alerts' numbers.
That every metric it queries is one the server exports, and that every metric the server
exports has a panel, is checked against a live server: tests/monitoring/test_live.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from conveyor.config import MonitorSettings
from tests.monitoring.deployed import (
    alert_rules,
    dashboard,
    dashboard_queries,
    metric_names,
    panels,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PANEL_TYPES = {"row", "timeseries", "stat", "table", "gauge", "bargauge", "text"}


def threshold_lines(panel: dict[str, Any]) -> list[float]:
    thresholds = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {})
    steps = thresholds.get("steps", [])
    return [step["value"] for step in steps if step["value"] is not None]


def alert_bound(name: str) -> float:
    """The number an alert's expression compares its result with, last in the expression."""
    found = re.search(r">\s*([0-9.]+)\s*$", alert_rules()[name]["expr"].strip())
    assert found, f"{name}: no trailing '> NUMBER' in its expression"
    return float(found[1])


def test_dashboard_has_what_grafana_needs_to_import_it() -> None:
    document = dashboard()
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", document["uid"])
    assert document["title"] and isinstance(document["schemaVersion"], int)
    assert document["schemaVersion"] >= 36  # datasource variables by uid, timeseries panels
    variables = {v["name"]: v for v in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, variable["name"]
    ids = [p["id"] for p in panels(document)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    titles = [p["title"] for p in panels(document)]
    assert len(titles) == len(set(titles)), "panel titles must be unique"
    for panel in panels(document):
        assert panel["type"] in PANEL_TYPES, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE and target["expr"].strip(), panel["title"]
            # every query follows the job and replica pickers
            assert "$job" in target["expr"] and "$instance" in target["expr"], panel["title"]


def test_panels_sit_on_the_grid_without_overlapping() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["w"] >= 1 and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_drift_panels_draw_params_thresholds(monitor: MonitorSettings) -> None:
    """The PSI panels' line is monitor.psi_threshold, the window panel's monitor.min_rows:
    the dashboard carries the numbers as the rules do, and fails here when they part."""
    lines: dict[str, list[list[float]]] = {}
    for panel in panels(dashboard()):
        for target in panel.get("targets", []):
            for name in metric_names(target["expr"]):
                lines.setdefault(name, []).append(threshold_lines(panel))
    assert lines["conveyor_feature_psi"] == [[monitor.psi_threshold]]
    assert lines["conveyor_prediction_psi"] == [[monitor.psi_threshold]]
    assert lines["conveyor_drift_window_rows"] == [[monitor.min_rows]]


def test_service_panels_draw_the_alerts_bounds() -> None:
    by_title = {p["title"]: p for p in panels(dashboard())}
    latency = by_title["/predict latency"]
    assert threshold_lines(latency) == [alert_bound("ConveyorPredictLatencyHigh")]
    assert any("histogram_quantile(0.99," in t["expr"] for t in latency["targets"])
    assert any("histogram_quantile(0.5," in t["expr"] for t in latency["targets"])
    errors = by_title["Error rate (5xx share)"]
    assert threshold_lines(errors) == [alert_bound("ConveyorErrorRateHigh")]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'histogram_quantile(0.99, sum by (job, le) (rate(x_bucket{endpoint="/p"}[5m])))',
            {"x_bucket"},
        ),
        (
            'sum(rate(a_total{status=~"5.."}[$__rate_interval])) / sum(rate(a_total[1m]))',
            {"a_total"},
        ),
        ("a > 0.2 and ignoring(feature) b >= 100", {"a", "b"}),
        ("abs(a - b) / sqrt(b * (1 - b) / c) > 2.576 and c >= 1e2", {"a", "b", "c"}),
        ('count by (version) (info{job=~"$job"})', {"info"}),
        ("clamp_min(u, 0.0001) * ln(clamp_min(u, 0.0001) / 0.0001) > 0.2", {"u"}),
    ],
)
def test_metric_names_finds_the_metrics_a_query_reads(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_every_query_reads_a_metric() -> None:
    for query in dashboard_queries(dashboard()):
        assert metric_names(query), query
    for name, rule in alert_rules().items():
        assert metric_names(rule["expr"]), name
