"""All quality gates of one model on one test set: overall, slices, fairness.

The evaluate stage writes what this returns; the test suites gate on it and the report shows
it, so every gated number is computed here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from conveyor.config import Settings
from conveyor.contract import predict_labels
from conveyor.evaluate.bootstrap import Array, interval, poisson_weights
from conveyor.evaluate.fairness import evaluate_fairness
from conveyor.evaluate.gates import Subject, active, make_gate
from conveyor.evaluate.registry import METRICS, Scored
from conveyor.evaluate.slices import evaluate_slices
from conveyor.verdict import GateResult, Verdict


@dataclass(frozen=True)
class Assessment:
    """Everything the gates found, ready to be written."""

    slices: dict[str, Any]
    fairness: dict[str, Any]
    verdict: Verdict
    fairness_chart: pd.DataFrame


def overall_gates(scored: Scored, weights: Array, settings: Settings) -> list[GateResult]:
    level = settings.gates.bootstrap.level
    subject = Subject("overall", None, int(scored.labels.size), int(scored.labels.sum()))
    gates = []
    for metric, bound in active(settings.gates.overall):
        samples = METRICS[metric].values(scored, weights)
        estimate = interval(METRICS[metric].point(scored), samples, level)
        gates.append(make_gate(subject, metric, bound, estimate, level=level))
    return gates


def assess(
    frame: pd.DataFrame, labels: Array, probabilities: Array, settings: Settings
) -> Assessment:
    """Judge a model's test-set predictions against every configured gate."""
    bootstrap = settings.gates.bootstrap
    weights = poisson_weights(labels.size, bootstrap.resamples, bootstrap.seed)
    scored = Scored(labels, probabilities, predict_labels(probabilities, settings.model.threshold))
    overall = overall_gates(scored, weights, settings)
    slices, slice_gates = evaluate_slices(
        frame=frame, scored=scored, weights=weights, settings=settings
    )
    fairness, fairness_gates, chart = evaluate_fairness(
        frame, labels, scored.predicted, weights, settings
    )
    verdict = Verdict(
        gates=(*overall, *slice_gates, *fairness_gates),
        fail_on_inconclusive=settings.gates.fail_on_inconclusive,
        bootstrap=bootstrap.model_dump(),
    )
    return Assessment(slices, fairness, verdict, chart)
