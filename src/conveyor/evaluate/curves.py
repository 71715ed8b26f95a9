"""Curve data for DVC plots: ROC, precision-recall, calibration and the confusion matrix.

Each function returns rows ready for a CSV that `dvc plots` renders, thinned to a fixed number
of points so the files stay small and diffable in pull requests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from conveyor.contract import predict_labels


def _thin(frame: pd.DataFrame, points: int) -> pd.DataFrame:
    if len(frame) <= points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


def roc_curve(labels: np.ndarray, probabilities: np.ndarray, points: int) -> pd.DataFrame:
    fpr, tpr, thresholds = skm.roc_curve(labels, probabilities)
    frame = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thresholds, 1.0)})
    return _thin(frame, points).round(6)


def precision_recall_curve(
    labels: np.ndarray, probabilities: np.ndarray, points: int
) -> pd.DataFrame:
    precision, recall, thresholds = skm.precision_recall_curve(labels, probabilities)
    frame = pd.DataFrame(
        {"recall": recall[:-1], "precision": precision[:-1], "threshold": thresholds}
    )
    return _thin(frame.iloc[::-1], points).round(6)


def calibration(labels: np.ndarray, probabilities: np.ndarray, bins: int) -> pd.DataFrame:
    observed, predicted = calibration_curve(labels, probabilities, n_bins=bins, strategy="quantile")
    return pd.DataFrame({"predicted": predicted, "observed": observed}).round(6)


def confusion_rows(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float, classes: list[str]
) -> pd.DataFrame:
    """One row per test record, as DVC's confusion template expects (actual, predicted)."""
    predicted = predict_labels(probabilities, threshold)
    names = np.asarray(classes, dtype=object)
    return pd.DataFrame({"actual": names[labels], "predicted": names[predicted]})
