"""All quality gates of one model on one test set: overall, slices, fairness.

The evaluate stage writes what this returns; the test suites gate on it and the report shows
it, so every gated number is computed here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from conveyor.config import Settings
from conveyor.evaluate.bootstrap import Array, interval, metric_values, poisson_weights
from conveyor.evaluate.fairness import evaluate_fairness
from conveyor.evaluate.gates import Gate, make_gate, verdict
from conveyor.evaluate.metrics import predict_labels
from conveyor.evaluate.slices import evaluate_slices


@dataclass(frozen=True)
class Assessment:
    """Everything the gates found, ready to be written."""

    slices: dict[str, Any]
    fairness: dict[str, Any]
    gates: dict[str, Any]
    fairness_chart: pd.DataFrame

    @property
    def failed(self) -> bool:
        return bool(self.gates["verdict"] == "fail")


def overall_gates(
    labels: Array, probabilities: Array, predicted: Array, weights: Array, settings: Settings
) -> list[Gate]:
    level = settings.gates.bootstrap.level
    gates = []
    for metric, bound in settings.gates.overall.items():
        if bound.mode == "off":
            continue
        point = float(metric_values(metric, labels, probabilities, predicted, None))
        samples = metric_values(metric, labels, probabilities, predicted, weights)
        gates.append(
            make_gate(
                kind="overall",
                metric=metric,
                group=None,
                estimate=interval(point, samples, level),
                bound=bound,
                n=int(labels.size),
                positives=int(labels.sum()),
                level=level,
            )
        )
    return gates


def assess(
    frame: pd.DataFrame, labels: Array, probabilities: Array, settings: Settings
) -> Assessment:
    """Judge a model's test-set predictions against every configured gate."""
    bootstrap = settings.gates.bootstrap
    weights = poisson_weights(labels.size, bootstrap.resamples, bootstrap.seed)
    predicted = predict_labels(probabilities, settings.model.threshold)
    overall = overall_gates(labels, probabilities, predicted, weights, settings)
    slices, slice_gates = evaluate_slices(
        frame=frame,
        labels=labels,
        probabilities=probabilities,
        predicted=predicted,
        weights=weights,
        settings=settings,
    )
    fairness, fairness_gates, chart = evaluate_fairness(frame, labels, predicted, weights, settings)
    summary = verdict(
        [*overall, *slice_gates, *fairness_gates], settings.gates.fail_on_inconclusive
    )
    summary["bootstrap"] = {
        "resamples": bootstrap.resamples,
        "level": bootstrap.level,
        "seed": bootstrap.seed,
    }
    return Assessment(slices, fairness, summary, chart)
