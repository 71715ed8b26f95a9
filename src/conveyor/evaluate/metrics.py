"""Overall classification metrics for a binary model at a fixed decision threshold."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def predict_labels(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """Positive where the probability reaches the threshold: the one rule used everywhere.

    The ONNX `label` output breaks ties differently from scikit-learn, so labels are always
    derived from the probability with this function (and its twin in the serving runtime).
    """
    return (probabilities >= threshold).astype(np.int8)


def overall_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float
) -> dict[str, float | int]:
    """Threshold-dependent and ranking metrics, plus the support they were measured on."""
    if labels.shape != probabilities.shape:
        raise ValueError(f"labels {labels.shape} and probabilities {probabilities.shape} differ")
    predicted = predict_labels(probabilities, threshold)
    both_classes = len(np.unique(labels)) == 2
    result: dict[str, float | int] = {
        "accuracy": skm.accuracy_score(labels, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(labels, predicted),
        "precision": skm.precision_score(labels, predicted, zero_division=0),
        "recall": skm.recall_score(labels, predicted, zero_division=0),
        "f1": skm.f1_score(labels, predicted, zero_division=0),
        "roc_auc": skm.roc_auc_score(labels, probabilities) if both_classes else float("nan"),
        "average_precision": skm.average_precision_score(labels, probabilities),
        "log_loss": skm.log_loss(labels, probabilities, labels=[0, 1]),
        "brier": skm.brier_score_loss(labels, probabilities),
        "positive_rate": float(predicted.mean()),
    }
    rounded: dict[str, float | int] = {k: round(float(v), 6) for k, v in result.items()}
    rounded["rows"] = int(labels.size)
    rounded["positives"] = int(labels.sum())
    rounded["threshold"] = threshold
    return rounded
