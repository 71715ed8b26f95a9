"""Metrics and curves on a handful of hand-checked predictions."""

from __future__ import annotations

import numpy as np
import pytest

from conveyor.evaluate import curves
from conveyor.evaluate.metrics import overall_metrics, predict_labels

LABELS = np.array([0, 0, 1, 1, 1, 0])
PROBABILITIES = np.array([0.1, 0.6, 0.8, 0.4, 0.9, 0.2])


def test_threshold_is_inclusive() -> None:
    assert predict_labels(np.array([0.49, 0.5, 0.51]), 0.5).tolist() == [0, 1, 1]


def test_overall_metrics_match_a_hand_count() -> None:
    metrics = overall_metrics(LABELS, PROBABILITIES, 0.5)
    # predicted 0,1,1,0,1,0 -> TP 2, FP 1, FN 1, TN 2
    assert metrics["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert metrics["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["roc_auc"] == pytest.approx(8 / 9, abs=1e-6)
    assert metrics["rows"] == 6
    assert metrics["positives"] == 3


def test_curves_are_thinned_and_ordered() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 5000)
    probabilities = np.clip(labels * 0.3 + rng.random(5000) * 0.7, 0, 1)
    roc = curves.roc_curve(labels, probabilities, points=50)
    assert len(roc) <= 50
    assert roc["fpr"].is_monotonic_increasing
    pr = curves.precision_recall_curve(labels, probabilities, points=50)
    assert pr["recall"].is_monotonic_increasing
    calibration = curves.calibration(labels, probabilities, bins=5)
    assert len(calibration) == 5


def test_confusion_rows_use_class_names() -> None:
    rows = curves.confusion_rows(LABELS, PROBABILITIES, 0.5, ["stay", "churn"])
    assert rows.value_counts().to_dict()[("churn", "churn")] == 2
