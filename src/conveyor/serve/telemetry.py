"""The server's Prometheus metrics, through prometheus-client.

Counters and a latency histogram for every request, the prediction mix, unseen categories,
and, when live drift tracking is on, gauges read from `LiveDrift` at scrape time (a custom
collector: nothing is computed per request for them). Each app has its own registry, so two
apps in one process (tests, a mounted app) never share or clash.

Each worker process keeps its own numbers, and prometheus-client's multiprocess mode does not
combine custom collectors such as the drift gauges: run one worker per container and scale
with replicas, which Prometheus scrapes one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from conveyor.serve.live_drift import LiveDrift

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = CONTENT_TYPE_LATEST

# The `_created` series double every counter's output and no dashboard here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Telemetry:
    """The server's metrics, rendered for `GET /metrics`."""

    def __init__(self, model_labels: Mapping[str, str], drift: LiveDrift | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "conveyor_http_requests",
            "HTTP requests by endpoint, method and status.",
            ("endpoint", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "conveyor_http_request_duration_seconds",
            "Time from request to response, by endpoint and status.",
            ("endpoint", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "conveyor_predictions", "Predicted records by predicted class.", ("class",),
            registry=self.registry,
        )  # fmt: skip
        self.unknown_categories = Counter(
            "conveyor_unknown_categories",
            "Categorical values not seen in training (accepted, encoded as all-zero).",
            ("feature",),
            registry=self.registry,
        )
        info = Gauge(
            "conveyor_model_info",
            "The served model (value is always 1).",
            tuple(sorted(model_labels)),
            registry=self.registry,
        )
        info.labels(**model_labels).set(1)
        if drift is not None:
            self.registry.register(DriftCollector(drift))
        # Label lookups take a lock and hash the labels: done once per route, status and
        # class, not per request.
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._class_children: dict[str, Any] = {}

    def count_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """One answered request: its latency and its count."""
        children = self._request_children.get((endpoint, method, status))
        if children is None:
            code = str(status)
            children = self._request_children[endpoint, method, status] = (
                self.latency.labels(endpoint, code),
                self.requests.labels(endpoint, method, code),
            )
        children[0].observe(seconds)
        children[1].inc()

    def count_predictions(self, labels: list[str], unknown: Mapping[str, int]) -> None:
        """One batch's predicted classes and its unseen categories per input."""
        if len(labels) == 1:  # the usual request: no set to build, nothing to count
            self._class(labels[0]).inc()
        else:
            for label in set(labels):
                self._class(label).inc(labels.count(label))
        for feature, count in unknown.items():
            self.unknown_categories.labels(feature).inc(count)

    def _class(self, label: str) -> Any:
        child = self._class_children.get(label)
        if child is None:
            child = self._class_children[label] = self.predictions.labels(label)
        return child

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")


class DriftCollector(Collector):
    """The drift gauges, read from the tracker when Prometheus scrapes."""

    def __init__(self, drift: LiveDrift) -> None:
        self._drift = drift

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = self._drift.snapshot()
        psi = GaugeMetricFamily(
            "conveyor_feature_psi",
            "Population stability index of each input's recent values against training.",
            labels=("feature",),
        )
        missing = GaugeMetricFamily(
            "conveyor_feature_missing_rate",
            "Share of each input's recent values that were missing.",
            labels=("feature",),
        )
        unseen = GaugeMetricFamily(
            "conveyor_feature_unseen_rate",
            "Share of a categorical input's recent values never seen in training.",
            labels=("feature",),
        )
        for name, state in snapshot.features.items():
            psi.add_metric((name,), state.psi)
            missing.add_metric((name,), state.missing_rate)
            if state.unseen_rate is not None:
                unseen.add_metric((name,), state.unseen_rate)
        yield from (psi, missing, unseen)
        yield GaugeMetricFamily(
            "conveyor_drift_window_rows",
            "Recent tracked rows the drift gauges stand on (decayed; approaches the window).",
            value=snapshot.rows,
        )
        yield GaugeMetricFamily(
            "conveyor_predicted_positive_rate",
            "Share of recent rows predicted positive.",
            value=snapshot.positive_rate,
        )
        if snapshot.prediction is not None:
            yield GaugeMetricFamily(
                "conveyor_prediction_psi",
                "Population stability index of recent predicted probabilities against training.",
                value=snapshot.prediction.psi,
            )
        if snapshot.reference_positive_rate is not None:
            yield GaugeMetricFamily(
                "conveyor_reference_positive_rate",
                "Share of the training rows the model predicts positive.",
                value=snapshot.reference_positive_rate,
            )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Nothing to describe ahead: the registry then never calls `collect` at
        registration, when there is nothing to read yet."""
        return iter(())
