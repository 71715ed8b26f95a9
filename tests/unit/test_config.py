"""params.yaml validation: every mistake is caught up front and named by its key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from conveyor.config import load_settings, parse_settings
from conveyor.errors import ConfigError
from conveyor.train import build_pipeline, check_search_space, make_estimator
from tests.conftest import ROOT, churn_params


def _with(params: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of params with one dotted key set (creating sections as needed)."""
    result = copy.deepcopy(params)
    *parents, last = dotted.split(".")
    node = result
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return result


def test_repository_params_are_valid() -> None:
    """params.yaml validates, whatever data it points at (the embedded data's own values are
    checked in test_embedded_data.py); sensitive columns stay out of the model's inputs unless
    params allow them, and every sensitive or slice column is kept for the evaluation."""
    data = load_settings(ROOT / "params.yaml").data
    assert data.use_sensitive_features or not set(data.sensitive_features) & set(
        data.model_features
    )
    kept = set(data.evaluation_columns) | set(data.model_features)
    assert set(data.sensitive_features) | set(data.slice_columns) <= kept


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("split.test_fraction", 1.5, "split.test_fraction"),
        ("split.test_fraction", 0, "split.test_fraction"),
        ("split.seed", "abc", "split.seed"),
        ("split.shuffle", True, "split.shuffle: unknown key"),
        ("colour", "blue", "colour: unknown key"),
        ("data.sources", [], "data.sources"),
        ("data.sources", [{"path": "x.csv", "sha256": "nothex"}], "data.sources[0].sha256"),
        ("data.format", "excel", "data.format"),
        ("model.estimator", "xgboost", "model.estimator"),
        ("model.threshold", 1.0, "model.threshold"),
        ("model.search.cv_folds", 1, "model.search.cv_folds"),
        ("evaluate.calibration_bins", 1, "evaluate.calibration_bins"),
        ("export.parity_tolerance", -1, "export.parity_tolerance"),
    ],
)
def test_bad_values_are_named(dotted: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(_with(churn_params(), dotted, value))
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("data.numeric_features", ["plan"], "both `numeric_features` and `categorical_features`"),
        ("data.categorical_features", ["churned"], "the target `churned` cannot also be"),
        ("data.drop_columns", ["plan"], "in `drop_columns` but also used"),
        ("data.use_sensitive_features", True, "['gender'] are not listed"),
    ],
)
def test_inconsistent_roles_are_rejected(dotted: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError, match="data") as caught:
        parse_settings(_with(churn_params(), dotted, value))
    assert expected in str(caught.value)


def test_categorical_features_alone_are_enough() -> None:
    settings = parse_settings(_with(churn_params(), "data.numeric_features", []))
    assert settings.data.model_features == ["plan", "region"]


def test_no_features_at_all_is_rejected() -> None:
    params = _with(churn_params(), "data.numeric_features", [])
    with pytest.raises(ConfigError, match="no features"):
        parse_settings(_with(params, "data.categorical_features", []))


def test_feature_missing_from_named_columns_is_rejected() -> None:
    params = _with(churn_params(), "data.csv", {"header": False, "columns": ["a", "b"]})
    with pytest.raises(ConfigError) as caught:
        parse_settings(params)
    assert "are not among `csv.columns`" in str(caught.value)
    assert "tenure_months" in str(caught.value)


def test_headerless_csv_needs_column_names() -> None:
    with pytest.raises(ConfigError, match="`columns` must list the column names"):
        parse_settings(_with(churn_params(), "data.csv", {"header": False}))


def test_unknown_hyperparameter_is_named() -> None:
    settings = parse_settings(_with(churn_params(), "model.hyperparameters", {"depth": 3}))
    with pytest.raises(ConfigError, match=r"\['depth'\] are not parameters of LogisticRegression"):
        make_estimator(settings.model)


def test_impossible_hyperparameter_value_is_named() -> None:
    params = _with(churn_params(), "model.estimator", "hist_gradient_boosting")
    params = _with(params, "model.hyperparameters", {"learning_rate": -1})
    settings = parse_settings(params)
    with pytest.raises(ConfigError, match="'learning_rate' parameter"):
        make_estimator(settings.model)


def test_search_space_must_name_hyperparameters() -> None:
    params = _with(churn_params(), "model.search", {"enabled": True, "space": {"gamma": [1, 2]}})
    settings = parse_settings(params)
    with pytest.raises(ConfigError, match=r"model.search.space \['gamma'\]"):
        check_search_space(build_pipeline(settings.data, settings.model), settings.model.search)


def test_search_distribution_bounds_are_checked() -> None:
    space = {"C": {"distribution": "loguniform", "low": 0, "high": 1}}
    params = _with(churn_params(), "model.search", {"enabled": True, "space": space})
    with pytest.raises(ConfigError, match=r"model.search.space.C.*must be > 0"):
        parse_settings(params)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data: [unclosed", "is not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
    ],
)
def test_unreadable_params_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_settings(path)


def test_missing_params_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_every_error_is_listed_at_once() -> None:
    params = _with(churn_params(), "split.test_fraction", 2)
    params = _with(params, "model.seed", -1)
    with pytest.raises(ConfigError) as caught:
        parse_settings(params)
    message = str(caught.value)
    assert "split.test_fraction" in message
    assert "model.seed" in message


def test_params_round_trip_through_yaml(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(churn_params()))
    assert load_settings(path).data.pseudonymise_columns == ["customer_email"]


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("gates.overall", {"roc_auc": {"min": 0.8, "max": 0.9}}, "exactly one of `min` or `max`"),
        ("gates.overall", {"auc": {"min": 0.8}}, "gates.overall.auc"),
        ("gates.overall", {"f1": {"min": 0.8, "mode": "warn"}}, "gates.overall.f1.mode"),
        ("gates.slices.bins", {"plan": [3, 1]}, "strictly increasing"),
        ("gates.slices.bins", {"tenure_months": [0, 12]}, "not in data.slice_columns"),
        ("data.slice_columns", ["tenure_months"], "need bin edges in gates.slices.bins"),
        ("gates.fairness.bounds", {"plan": {}}, "gates.fairness.bounds names ['plan']"),
        ("gates.fairness.intersections", [["gender", "plan"]], "must combine two or more"),
        ("gates.bootstrap.resamples", 10, "gates.bootstrap.resamples"),
        ("model.reweighting", {"enabled": True, "sensitive_feature": "plan"}, "reweighting"),
    ],
)
def test_bad_gates_are_named(dotted: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(_with(churn_params(), dotted, value))
    assert expected in str(caught.value)


def test_the_repository_gates_are_valid() -> None:
    """Every gate in params.yaml names something its data defines: a fairness bound names a
    sensitive feature or a configured intersection, and numeric slice columns have bins."""
    settings = load_settings(ROOT / "params.yaml")
    data, gates = settings.data, settings.gates
    intersections = {"&".join(columns) for columns in gates.fairness.intersections}
    assert set(gates.fairness.bounds) <= set(data.sensitive_features) | intersections
    assert set(gates.slices.bins) <= set(data.slice_columns)
    assert set(data.slice_columns) & set(data.numeric_features) <= set(gates.slices.bins)
