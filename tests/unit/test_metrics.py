"""Metrics and curves on a handful of hand-checked predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from conveyor.contract import predict_labels
from conveyor.evaluate import curves
from conveyor.evaluate.metrics import overall_metrics
from conveyor.evaluate.registry import OVERALL

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


def test_overall_metrics_hold_every_registry_metric_and_the_support() -> None:
    metrics = overall_metrics(LABELS, PROBABILITIES, 0.5)
    assert list(metrics) == [*OVERALL, "rows", "positives", "threshold"]
    assert metrics["threshold"] == 0.5
    assert metrics["selection_rate"] == pytest.approx(3 / 6, abs=1e-6)
    assert metrics["false_positive_rate"] == pytest.approx(1 / 3, abs=1e-6)


def test_overall_metrics_equal_scikit_learn_rounded() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    probabilities = np.clip(0.3 * labels + 0.7 * rng.random(300), 0.01, 0.99).round(2)
    predicted = predict_labels(probabilities, 0.4)
    metrics = overall_metrics(labels, probabilities, 0.4)
    expected = {
        "roc_auc": skm.roc_auc_score(labels, probabilities),
        "average_precision": skm.average_precision_score(labels, probabilities),
        "accuracy": skm.accuracy_score(labels, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(labels, predicted),
        "precision": skm.precision_score(labels, predicted),
        "recall": skm.recall_score(labels, predicted),
        "f1": skm.f1_score(labels, predicted),
        "log_loss": skm.log_loss(labels, probabilities),
        "brier": skm.brier_score_loss(labels, probabilities),
    }
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=5e-7), name
        assert metrics[name] == round(metrics[name], 6)  # type: ignore[arg-type]


def test_undefined_metrics_are_null() -> None:
    metrics = overall_metrics(np.zeros(4, dtype=int), np.array([0.1, 0.2, 0.3, 0.4]), 0.5)
    assert metrics["roc_auc"] is None  # one class
    assert metrics["recall"] is None  # no positives
    assert metrics["precision"] is None  # nothing predicted positive
    assert metrics["accuracy"] == 1.0
    assert metrics["positives"] == 0


def test_labels_and_probabilities_must_match() -> None:
    with pytest.raises(ValueError, match=r"labels \(3,\) and probabilities \(2,\) differ"):
        overall_metrics(np.array([0, 1, 0]), np.array([0.2, 0.8]), 0.5)


def test_curves_are_thinned_and_ordered() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 5000)
    probabilities = np.clip(labels * 0.3 + rng.random(5000) * 0.7, 0, 1)
    roc = curves.roc_curve(labels, probabilities, points=50)
    assert len(roc) <= 50
    assert roc["fpr"].is_monotonic_increasing
    assert roc["threshold"].max() <= 1.0  # scikit-learn's first threshold is infinite
    pr = curves.precision_recall_curve(labels, probabilities, points=50)
    assert pr["recall"].is_monotonic_increasing
    assert len(curves.roc_curve(LABELS, PROBABILITIES, points=50)) < 50  # short: not thinned
    calibration = curves.calibration(labels, probabilities, bins=5)
    assert len(calibration) == 5


def test_confusion_rows_use_class_names() -> None:
    rows = curves.confusion_rows(LABELS, PROBABILITIES, 0.5, ["stay", "churn"])
    assert rows.value_counts().to_dict()[("churn", "churn")] == 2
