"""Prometheus metrics in the text exposition format, without a client library.

A few counters and one histogram are all the server needs; writing them here keeps the
runtime's dependencies to numpy, onnxruntime and the web stack. Each worker process keeps its
own numbers (run one worker per container and scale with replicas).
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    escaped = (
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in labels
    )
    return "{" + ",".join(escaped) + "}"


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self._values: dict[Labels, float] = defaultdict(float)
        self._lock = threading.Lock()

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        """`labels` as (name, value) pairs sorted by name: built by the caller, not sorted
        per call, as the hot path calls this for every request."""
        with self._lock:
            self._values[labels] += amount

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in sorted(self._values.items()):
            yield f"{self.name}{_labels(labels)} {value:g}"


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...]) -> None:
        self.name, self.help, self.buckets = name, help_text, buckets
        self._counts: dict[Labels, list[int]] = {}
        self._sums: dict[Labels, float] = defaultdict(float)
        self._lock = threading.Lock()

    def observe(self, value: float, key: Labels) -> None:
        """`key` as (name, value) pairs sorted by name, as for `Counter.inc`."""
        bucket = bisect.bisect_left(self.buckets, value)
        with self._lock:
            counts = self._counts.get(key)
            if counts is None:  # first of its labels: not a new list on every call
                counts = self._counts[key] = [0] * (len(self.buckets) + 1)
            counts[bucket] += 1
            self._sums[key] += value

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for key, counts in sorted(self._counts.items()):
            cumulative = 0
            for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                yield f"{self.name}_bucket{_labels((*key, ('le', le)))} {cumulative}"
            yield f"{self.name}_sum{_labels(key)} {self._sums[key]:.6f}"
            yield f"{self.name}_count{_labels(key)} {cumulative}"


class Telemetry:
    """The server's metrics, rendered for `GET /metrics`."""

    def __init__(self, model_labels: dict[str, str]) -> None:
        self.requests = Counter(
            "conveyor_http_requests_total", "HTTP requests by endpoint, method and status."
        )
        self.latency = Histogram(
            "conveyor_http_request_duration_seconds",
            "Time from request to response, by endpoint and status.",
            LATENCY_BUCKETS,
        )
        self.predictions = Counter(
            "conveyor_predictions_total", "Predicted records by predicted class."
        )
        self.unknown_categories = Counter(
            "conveyor_unknown_categories_total",
            "Categorical values not seen in training (accepted, encoded as all-zero).",
        )
        self._info = model_labels
        self._request_keys: dict[tuple[str, str, int], tuple[Labels, Labels]] = {}

    def count_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """One answered request: its latency and its count."""
        keys = self._request_keys.get((endpoint, method, status))
        if keys is None:  # built once per route, method and status, not per request
            code = str(status)
            keys = self._request_keys[endpoint, method, status] = (
                (("endpoint", endpoint), ("status", code)),
                (("endpoint", endpoint), ("method", method), ("status", code)),
            )
        self.latency.observe(seconds, keys[0])
        self.requests.inc(keys[1])

    def count_predictions(self, labels: list[str], unknown: Mapping[str, int]) -> None:
        """One batch's predicted classes and its unseen categories per input."""
        if len(labels) == 1:  # the usual request: no set to build, nothing to count
            self.predictions.inc((("class", labels[0]),))
        else:
            for label in set(labels):
                self.predictions.inc((("class", label),), labels.count(label))
        for feature, count in unknown.items():
            self.unknown_categories.inc((("feature", feature),), count)

    def render(self) -> str:
        lines = [
            "# HELP conveyor_model_info The served model (value is always 1).",
            "# TYPE conveyor_model_info gauge",
            f"conveyor_model_info{_labels(tuple(sorted(self._info.items())))} 1",
        ]
        for metric in (self.requests, self.latency, self.predictions, self.unknown_categories):
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"
