"""The two-sample tests of `conveyor drift` on known distributions, and how they reach its
outputs: reported beside the PSI, skipped with a reason when there are no training rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conveyor.config import parse_settings
from conveyor.drift_check import (
    CHI_SQUARED,
    KS,
    chi_squared_test,
    ks_test,
    run_drift,
    two_sample_tests,
)
from conveyor.paths import ProjectPaths
from tests.conftest import churn_params

RNG = np.random.default_rng(42)


def test_identical_numeric_samples_have_a_high_p_value() -> None:
    sample = RNG.normal(0, 1, 2000)
    same = ks_test(sample, sample)
    assert same.test == KS and same.statistic == 0.0 and same.p_value == pytest.approx(1.0)
    drawn_alike = ks_test(RNG.normal(0, 1, 3000), RNG.normal(0, 1, 3000))
    assert drawn_alike.p_value is not None and drawn_alike.p_value > 0.001


def test_a_shifted_numeric_sample_has_a_tiny_p_value() -> None:
    result = ks_test(RNG.normal(0, 1, 2000), RNG.normal(0.5, 1, 2000))
    assert result.p_value is not None and result.p_value < 1e-6
    assert (
        result.statistic is not None and 0.1 < result.statistic < 0.3
    )  # about Φ(0.25) - Φ(-0.25) = 0.197
    assert result.significant(0.01) and not ks_test([1.0, 2.0], [1.0, 2.0]).significant(0.01)


def test_missing_numbers_are_dropped_and_a_float32_copy_equals_its_source() -> None:
    values = [0.1, 0.2, 0.3, 0.7, 1.1] * 40
    as_float32 = np.asarray(values, dtype=np.float32)
    assert ks_test(as_float32, [*values, None, float("nan")]).statistic == 0.0
    assert ks_test([None, float("nan")], values).p_value is None


def test_identical_category_mixes_have_a_high_p_value() -> None:
    mix = ["basic"] * 600 + ["plus"] * 300 + ["premium"] * 100
    result = chi_squared_test(mix, list(reversed(mix)))
    assert result.test == CHI_SQUARED and result.statistic == pytest.approx(0.0)
    assert result.p_value == pytest.approx(1.0)


def test_a_shifted_category_mix_has_a_tiny_p_value() -> None:
    before = ["basic"] * 600 + ["plus"] * 300 + ["premium"] * 100
    after = ["basic"] * 300 + ["plus"] * 300 + ["premium"] * 400
    result = chi_squared_test(before, after)
    assert result.p_value is not None and result.p_value < 1e-6


def test_a_category_unseen_in_training_counts_against_it() -> None:
    training = ["basic"] * 500 + ["plus"] * 500
    # "gold" is absent in training: a zero cell on one side, a finite statistic, tiny p.
    current = ["basic"] * 400 + ["plus"] * 400 + ["gold"] * 200
    result = chi_squared_test(training, current)
    assert result.statistic is not None and np.isfinite(result.statistic)
    assert result.p_value is not None and result.p_value < 1e-6
    # The other way round: a training category the batch lacks.
    lacking = chi_squared_test(training, ["basic"] * 1000)
    assert lacking.p_value is not None and lacking.p_value < 1e-6


def test_missing_categories_are_dropped_and_text_is_stripped() -> None:
    training = ["basic", "plus"] * 200
    current = [" basic", "plus ", None, "", float("nan")] * 80
    result = chi_squared_test(training, current)
    assert result.statistic == pytest.approx(0.0) and result.p_value == pytest.approx(1.0)
    assert chi_squared_test(["basic"] * 10, ["basic"] * 20).p_value == 1.0  # nothing can differ
    assert chi_squared_test(training, [None, ""]).p_value is None


def test_each_input_gets_the_test_of_its_kind() -> None:
    training = pd.DataFrame({"tenure": RNG.normal(30, 5, 500), "plan": ["basic", "plus"] * 250})
    batch = pd.DataFrame({"tenure": RNG.normal(40, 5, 500), "plan": ["basic", "plus"] * 250})
    tests = two_sample_tests({"tenure": "numeric", "plan": "categorical"}, training, batch)
    assert tests["tenure"].test == KS and tests["tenure"].significant(0.01)
    assert tests["plan"].test == CHI_SQUARED and not tests["plan"].significant(0.01)


SIGNATURE = {
    "reference": {
        "tenure": {
            "kind": "numeric", "missing_fraction": 0.0,
            "bin_edges": [25.0, 30.0, 35.0], "bin_fractions": [0.16, 0.34, 0.34, 0.16],
        },
        "plan": {
            "kind": "categorical", "missing_fraction": 0.0,
            "frequencies": {"basic": 0.5, "plus": 0.5},
        },
    }
}  # fmt: skip


def _project(root: Path, training: bool) -> ProjectPaths:
    paths = ProjectPaths(root)
    paths.signature.parent.mkdir(parents=True)
    paths.signature.write_text(json.dumps(SIGNATURE))
    if training:
        paths.train_data.parent.mkdir(parents=True)
        pd.DataFrame({
            "tenure": RNG.normal(30, 5, 20_000).astype(np.float32),
            "plan": pd.Series(["basic", "plus"] * 10_000, dtype="string"),
        }).to_parquet(paths.train_data)  # fmt: skip
    return paths


def _batch(tmp_path: Path) -> Path:
    batch = tmp_path / "batch.csv"
    pd.DataFrame({"tenure": RNG.normal(30.5, 5, 10_000), "plan": ["basic", "plus"] * 5000}).to_csv(
        batch, index=False
    )
    return batch


def test_outputs_report_the_tests_beside_the_psi(tmp_path: Path) -> None:
    """A tenth of a standard deviation on 10,000 rows: significant by KS, yet no drift by the
    PSI, which alone decides (why: docs/monitoring.md)."""
    settings = parse_settings(churn_params())
    paths = _project(tmp_path / "project", training=True)
    output = tmp_path / "drift.json"
    document, drifted = run_drift(settings, paths, _batch(tmp_path), output)
    assert document["p_value"] == settings.monitor.p_value
    assert document["two_sample"] == {
        "reference": "data/prepared/train.parquet", "rows": 20_000, "skipped": None
    }  # fmt: skip
    tenure, plan = document["features"]["tenure"], document["features"]["plan"]
    assert tenure["test"] == KS and plan["test"] == CHI_SQUARED
    assert plan["p_value"] > 0.5 and not plan["significant"]
    assert tenure["p_value"] < settings.monitor.p_value and tenure["significant"]
    assert drifted == [] and tenure["psi"] < settings.monitor.psi_threshold
    table = output.with_suffix(".md").read_text()
    assert "Kolmogorov-Smirnov" in table and "skipped" not in table
    assert f"p < {settings.monitor.p_value:g} |" in table and "🔴" not in table


def test_without_training_rows_the_tests_are_skipped_with_a_reason(tmp_path: Path) -> None:
    settings = parse_settings(churn_params())
    paths = _project(tmp_path / "project", training=False)
    output = tmp_path / "drift.json"
    document, _ = run_drift(settings, paths, _batch(tmp_path), output)
    reason = document["two_sample"]["skipped"]
    assert reason and "data/prepared/train.parquet does not exist" in reason
    assert all(entry["p_value"] is None for entry in document["features"].values())
    assert all(entry["psi"] is not None for entry in document["features"].values())
    assert f"Two-sample tests skipped: {reason}" in output.with_suffix(".md").read_text()
