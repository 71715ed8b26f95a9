"""Overall classification metrics for a binary model at a fixed decision threshold."""

from __future__ import annotations

import numpy as np

from conveyor.contract import predict_labels
from conveyor.evaluate.registry import METRICS, OVERALL, Scored


def overall_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float
) -> dict[str, float | int | None]:
    """Every overall metric of the registry, plus the support it was measured on.

    Computed by the same functions the gates bootstrap, so a gate's point estimate is the
    number `metrics/metrics.json` shows. Undefined values (e.g. ROC AUC with one class) are
    stored as null.
    """
    if labels.shape != probabilities.shape:
        raise ValueError(f"labels {labels.shape} and probabilities {probabilities.shape} differ")
    scored = Scored(labels, probabilities, predict_labels(probabilities, threshold))
    result: dict[str, float | int | None] = {}
    for name in OVERALL:
        value = METRICS[name].point(scored)
        result[name] = round(value, 6) if np.isfinite(value) else None
    result["rows"] = int(labels.size)
    result["positives"] = int(labels.sum())
    result["threshold"] = threshold
    return result
