"""The released model's fairness numbers are fairlearn's: `metrics/fairness.json` recomputed
with fairlearn's `MetricFrame` and disparity functions from the model's own test predictions.

Conveyor computes per-group rates and disparities through one vectorised counts path (so the
bootstrap resamples and the point estimate cannot drift apart); this suite proves, on whatever
data `params.yaml` points at, that the path agrees with the field's reference implementation.
Everything asserted comes from `params.yaml` and the pipeline's outputs.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score

from conveyor.config import Settings, load_settings
from conveyor.contract import predict_labels
from conveyor.evaluate.fairness import group_labels, groupings
from conveyor.features import model_inputs, target_vector
from conveyor.modelio import load_model
from conveyor.paths import ProjectPaths
from tests.conftest import ROOT

pytestmark = pytest.mark.fairness

FAIRLEARN_RATES = {
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "accuracy": accuracy_score,
}
FAIRLEARN_DISPARITIES = {
    "demographic_parity_difference": demographic_parity_difference,
    "demographic_parity_ratio": demographic_parity_ratio,
    "equalized_odds_difference": equalized_odds_difference,
    "equalized_odds_ratio": equalized_odds_ratio,
}
SETTINGS = load_settings(ROOT / "params.yaml")
Predictions = tuple[pd.DataFrame, np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def predictions(pipeline_outputs: ProjectPaths) -> Predictions:
    """The test set, its labels, and the released model's labels at the configured threshold."""
    test = pd.read_parquet(pipeline_outputs.test_data)
    model = load_model(pipeline_outputs.model)
    probabilities = model.predict_proba(model_inputs(test, SETTINGS.data))[:, 1]
    predicted = predict_labels(probabilities, SETTINGS.model.threshold)
    return test, target_vector(test, SETTINGS.data), predicted


@pytest.fixture(scope="module")
def fairness(pipeline_outputs: ProjectPaths) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(pipeline_outputs.fairness.read_text())
    return document


def _groupings(settings: Settings) -> list[str]:
    return groupings(settings) or ["(none configured)"]


def _recorded(
    grouping: str, predictions: Predictions, fairness: dict[str, Any]
) -> tuple[pd.Series, np.ndarray, np.ndarray, dict[str, Any]]:
    """Each row's group, the labels, the predictions, and what fairness.json says of it."""
    if grouping not in fairness:
        pytest.fail(f"{grouping!r} is configured but not in metrics/fairness.json: re-run")
    test, labels, predicted = predictions
    return group_labels(test, grouping), labels, predicted, fairness[grouping]


@pytest.mark.parametrize("grouping", _groupings(SETTINGS))
def test_per_group_rates_are_fairlearns(
    grouping: str, predictions: Predictions, fairness: dict[str, Any]
) -> None:
    groups, labels, predicted, entry = _recorded(grouping, predictions, fairness)
    frame = MetricFrame(
        metrics=FAIRLEARN_RATES, y_true=labels, y_pred=predicted, sensitive_features=groups
    )
    recorded = entry["groups"]
    assert set(recorded) == {str(g) for g in frame.by_group.index}
    for group, row in frame.by_group.iterrows():
        ours = recorded[str(group)]
        assert ours["rows"] == int((groups == group).sum())
        for rate, expected in row.items():
            if ours[rate] is None:  # undefined (no positives, or no negatives): fairlearn says 0
                undefined = {
                    "true_positive_rate": ours["positives"] == 0,
                    "false_positive_rate": ours["positives"] == ours["rows"],
                }
                assert undefined.get(rate, False), (group, rate, "recorded as undefined")
                continue
            assert ours[rate] == pytest.approx(float(expected), abs=1e-6), (group, rate)


@pytest.mark.parametrize("grouping", _groupings(SETTINGS))
def test_disparities_are_fairlearns_over_the_supported_groups(
    grouping: str, predictions: Predictions, fairness: dict[str, Any]
) -> None:
    groups, labels, predicted, entry = _recorded(grouping, predictions, fairness)
    kept = ~groups.isin(set(entry["excluded_groups"])).to_numpy()
    recorded = entry["disparities"]
    if groups[kept].nunique() < 2:
        assert recorded == {}, "fewer than two supported groups must give no disparity"
        return
    for name, function in FAIRLEARN_DISPARITIES.items():
        expected = function(labels[kept], predicted[kept], sensitive_features=groups[kept])
        ours = recorded[name]
        assert ours["value"] == pytest.approx(float(expected), abs=1e-6), name
        assert ours["ci_low"] <= ours["value"] <= ours["ci_high"], (name, ours)
