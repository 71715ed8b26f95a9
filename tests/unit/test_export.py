"""The parity rule and the drift reference, on numbers chosen by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conveyor.config import parse_settings
from conveyor.export import (
    check_parity,
    describe_parity_failure,
    prediction_reference,
    reference_statistics,
)
from tests.conftest import churn_params


def test_identical_probabilities_pass() -> None:
    p = np.array([0.1, 0.5, 0.9])
    report = check_parity(p, p.copy(), threshold=0.5, tolerance=1e-4)
    assert report.passed
    assert report.max_abs_difference == 0.0


def test_a_difference_beyond_tolerance_fails() -> None:
    report = check_parity(np.array([0.2, 0.7]), np.array([0.2, 0.7003]), 0.5, 1e-4)
    assert not report.passed
    assert "max |p_sklearn - p_onnx| = 0.0003" in describe_parity_failure(report)


def test_a_label_flip_at_the_threshold_is_tolerated() -> None:
    reference = np.array([0.49999, 0.3])
    at_threshold = check_parity(reference, np.array([0.50001, 0.3]), 0.5, 1e-4)
    assert at_threshold.label_differences == 1
    assert at_threshold.label_differences_near_threshold == 1
    assert at_threshold.passed


def test_reference_statistics_describe_the_training_distribution() -> None:
    data = parse_settings(churn_params()).data
    frame = pd.DataFrame(
        {
            "tenure_months": np.arange(100, dtype=np.float32),
            "monthly_spend": np.r_[np.full(90, 10.0), np.full(10, np.nan)].astype(np.float32),
            "plan": ["basic"] * 75 + ["plus"] * 20 + [""] * 5,
            "region": ["north"] * 100,
        }
    )
    stats = reference_statistics(frame, data, bins=4)
    tenure = stats["tenure_months"]
    assert tenure["bin_edges"] == [24.75, 49.5, 74.25]
    assert tenure["bin_fractions"] == [0.25, 0.25, 0.25, 0.25]
    assert stats["monthly_spend"]["missing_fraction"] == 0.1
    assert stats["monthly_spend"]["bin_fractions"] == [1.0]
    assert stats["plan"]["frequencies"] == {"basic": 0.789474, "plus": 0.210526}
    assert stats["plan"]["missing_fraction"] == 0.05


def test_the_score_reference_bins_the_training_scores_and_counts_positives() -> None:
    scores = np.linspace(0.0, 1.0, 101)  # 0.00, 0.01, ... 1.00
    reference = prediction_reference(scores, threshold=0.7, bins=4)
    assert reference["bin_edges"] == [0.25, 0.5, 0.75]
    assert sum(reference["bin_fractions"]) == pytest.approx(1.0, abs=1e-5)
    assert reference["positive_rate"] == round(31 / 101, 6)  # 0.70 to 1.00 reach the threshold
    assert reference["missing_fraction"] == 0.0
