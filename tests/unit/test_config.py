"""params.yaml validation: every mistake is caught up front and named by its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from conveyor.config import (
    EstimatorName,
    IntSpace,
    UniformSpace,
    load_settings,
    parse_settings,
)
from conveyor.errors import ConfigError
from conveyor.train import build_pipeline, check_search_space, make_estimator
from tests.conftest import ROOT, churn_params, with_param


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
        ("data.csv", {"columns": ["a", "a"]}, "data.csv.columns: `columns` has duplicate names"),
        ("model.estimator", "xgboost", "model.estimator"),
        ("model.threshold", 1.0, "model.threshold"),
        ("model.search.cv_folds", 1, "model.search.cv_folds"),
        ("evaluate.calibration_bins", 1, "evaluate.calibration_bins"),
        ("export.parity_tolerance", -1, "export.parity_tolerance"),
        ("monitor.p_value", 0, "monitor.p_value"),
        ("monitor.p_value", 1.0, "monitor.p_value"),
        (
            "gates.overall",
            {"roc_aux": {"min": 0.5}},
            "gates.overall: unknown metric(s) ['roc_aux']",
        ),
        ("gates.slices.metrics", {"auc": {"min": 0.5}}, "gates.slices.metrics: unknown metric(s)"),
        ("gates.overall", {"f1": {"min": 0.5, "mode": "warn"}}, "gates.overall.f1.mode"),
        (
            "gates.fairness.bounds",
            {"gender": {"parity": {"max": 0.1}}},
            "gates.fairness.bounds.gender: unknown fairness metric(s) ['parity']; known: "
            "demographic_parity_difference",
        ),
    ],
)
def test_bad_values_are_named(dotted: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(with_param(churn_params(), dotted, value))
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
        parse_settings(with_param(churn_params(), dotted, value))
    assert expected in str(caught.value)


def test_categorical_features_alone_are_enough() -> None:
    settings = parse_settings(with_param(churn_params(), "data.numeric_features", []))
    assert settings.data.model_features == ["plan", "region"]


def test_no_features_at_all_is_rejected() -> None:
    params = with_param(churn_params(), "data.numeric_features", [])
    with pytest.raises(ConfigError, match="no features"):
        parse_settings(with_param(params, "data.categorical_features", []))


def test_feature_missing_from_named_columns_is_rejected() -> None:
    params = with_param(churn_params(), "data.csv", {"header": False, "columns": ["a", "b"]})
    with pytest.raises(ConfigError) as caught:
        parse_settings(params)
    assert "are not among `csv.columns`" in str(caught.value)
    assert "tenure_months" in str(caught.value)


def test_headerless_csv_needs_column_names() -> None:
    with pytest.raises(ConfigError, match="`columns` must list the column names"):
        parse_settings(with_param(churn_params(), "data.csv", {"header": False}))


def test_unknown_hyperparameter_is_named() -> None:
    settings = parse_settings(with_param(churn_params(), "model.hyperparameters", {"depth": 3}))
    with pytest.raises(ConfigError, match=r"\['depth'\] are not parameters of LogisticRegression"):
        make_estimator(settings.model)


@pytest.mark.parametrize(
    ("estimator", "hyperparameters", "expected"),
    [
        ("logistic_regression", {"C": -1}, "'C' parameter of LogisticRegression"),
        ("logistic_regression", {"solver": "newton"}, "'solver' parameter of LogisticRegression"),
        ("random_forest", {"n_estimators": 0}, "'n_estimators' parameter of RandomForest"),
        ("random_forest", {"criterion": "purity"}, "'criterion' parameter of RandomForest"),
        ("hist_gradient_boosting", {"learning_rate": -1}, "'learning_rate' parameter"),
        ("hist_gradient_boosting", {"max_iter": "many"}, "'max_iter' parameter"),
        # A combination scikit-learn checks in `fit` itself, not in its parameter table.
        (
            "logistic_regression",
            {"l1_ratio": 1.0, "solver": "lbfgs"},
            "Solver lbfgs supports only 'l2' or None penalties",
        ),
        # Trains, then cannot be saved: skops cannot serialise the scorer early stopping keeps.
        ("hist_gradient_boosting", {"scoring": "roc_auc"}, "use `scoring: loss`"),
        (
            "hist_gradient_boosting",
            {"scoring": "accuracy", "early_stopping": True},
            "'accuracy' with early stopping",
        ),
    ],
)
def test_impossible_hyperparameter_value_is_named(
    estimator: str, hyperparameters: dict[str, Any], expected: str
) -> None:
    params = churn_params(estimator=estimator, hyperparameters=hyperparameters)
    settings = parse_settings(params)
    with pytest.raises(ConfigError, match=r"model\.hyperparameters") as caught:
        make_estimator(settings.model)
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("estimator", "hyperparameters"),
    [
        (name, {}) for name in get_args(EstimatorName)
    ] + [
        # Right or wrong only for the team's data: the real fit judges them, not the check.
        ("hist_gradient_boosting", {"monotonic_cst": [1, 0, -1, 0, 0, 0, 0, 0, 0]}),
        ("hist_gradient_boosting", {"early_stopping": True, "validation_fraction": 0.05}),
        ("hist_gradient_boosting", {"early_stopping": False, "scoring": "roc_auc"}),
        ("random_forest", {"max_features": 9, "max_samples": 5000}),
    ],
)  # fmt: skip
def test_valid_hyperparameters_are_accepted_and_nothing_is_trained(
    estimator: str, hyperparameters: dict[str, Any]
) -> None:
    settings = parse_settings(churn_params(estimator=estimator, hyperparameters=hyperparameters))
    built = make_estimator(settings.model)
    assert built.get_params() | hyperparameters == built.get_params()
    with pytest.raises(NotFittedError):
        check_is_fitted(built)


def test_search_space_must_name_hyperparameters() -> None:
    params = with_param(
        churn_params(), "model.search", {"enabled": True, "space": {"gamma": [1, 2]}}
    )
    settings = parse_settings(params)
    with pytest.raises(ConfigError, match=r"model.search.space \['gamma'\]"):
        check_search_space(build_pipeline(settings.data, settings.model), settings.model.search)


def _space(entry: Any) -> dict[str, Any]:
    return with_param(churn_params(), "model.search", {"enabled": True, "space": {"C": entry}})


def test_each_kind_of_search_space_entry_is_read() -> None:
    space = {
        "C": {"distribution": "loguniform", "low": 0.01, "high": 10},
        "tol": {"distribution": "uniform", "low": 0.0, "high": 0.1},
        "max_iter": {"distribution": "int", "low": 100, "high": 500},
        "solver": ["lbfgs", "newton-cg"],
    }
    params = with_param(churn_params(), "model.search", {"enabled": True, "space": space})
    read = parse_settings(params).model.search.space
    assert read["C"] == UniformSpace(distribution="loguniform", low=0.01, high=10)
    assert read["tol"] == UniformSpace(distribution="uniform", low=0.0, high=0.1)
    assert read["max_iter"] == IntSpace(distribution="int", low=100, high=500)
    assert read["solver"] == ["lbfgs", "newton-cg"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        # uniform and loguniform ranges
        ({"distribution": "loguniform", "low": 0, "high": 1},
         "model.search.space.C.low: must be > 0 for a loguniform distribution (got 0)"),
        ({"distribution": "uniform", "low": 2, "high": 1},
         "model.search.space.C.high: must be above `low` (2.0) (got 1)"),
        ({"distribution": "uniform", "low": "a", "high": 1},
         "model.search.space.C.low: Input should be a valid number"),
        ({"distribution": "uniform", "low": 0, "high": 1, "step": 0.1},
         "model.search.space.C.step: unknown key"),
        # whole-number ranges
        ({"distribution": "int", "low": 5, "high": 3},
         "model.search.space.C.high: must not be below `low` (5) (got 3)"),
        ({"distribution": "int", "low": 1.5, "high": 3},
         "model.search.space.C.low: Input should be a valid integer"),
        ({"distribution": "int", "low": 1},
         "model.search.space.C.high: Field required"),
        # a list of choices
        ([], "model.search.space.C: List should have at least 1 item"),
        # an entry of no known shape
        (3, "model.search.space.C: expected a list of choices, or a mapping of `distribution`"),
        ({"distribution": "normal", "low": 0, "high": 1},
         "model.search.space.C: expected a list of choices"),
        ({"low": 0, "high": 1}, "model.search.space.C: expected a list of choices"),
    ],
)  # fmt: skip
def test_bad_search_space_entries_are_named_by_their_key(entry: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(_space(entry))
    (line,) = str(caught.value).splitlines()[1:]
    assert line.strip().startswith(expected), line


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
    params = with_param(churn_params(), "split.test_fraction", 2)
    params = with_param(params, "model.seed", -1)
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
        ("gates.overall", {"auc": {"min": 0.8}}, "gates.overall: unknown metric(s) ['auc']"),
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
        parse_settings(with_param(churn_params(), dotted, value))
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
