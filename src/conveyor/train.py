"""Build the estimator pipeline from settings and fit it, with an optional search.

Only estimators and transformers that skl2onnx converts faithfully are offered, and each is set
up the way that converts exactly (see docs/pipeline.md): numbers are imputed and, for linear
models only, scaled; categories are imputed and one-hot encoded, ignoring unknown values.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (registers the class)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    HalvingRandomSearchCV,
    RandomizedSearchCV,
    StratifiedKFold,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from conveyor.config import (
    DataSettings,
    EstimatorName,
    IntSpace,
    ModelSettings,
    SearchSettings,
    UniformSpace,
)
from conveyor.contract import (
    CATEGORICAL_BRANCH,
    CLASSIFIER_STEP,
    MISSING_CATEGORY,
    PREPROCESS_STEP,
)
from conveyor.errors import ConfigError

# Defaults that differ from scikit-learn's, chosen for a faithful and compact ONNX export.
_ESTIMATOR_DEFAULTS: dict[EstimatorName, dict[str, Any]] = {
    "logistic_regression": {"max_iter": 2000},
    # Full-depth forests export to tens of MB and hundreds of MB of memory when served.
    "random_forest": {"n_estimators": 200, "max_depth": 12, "min_samples_leaf": 2, "n_jobs": 1},
    "hist_gradient_boosting": {},
}
# Trees split on raw values; scaling before them only adds float32 rounding in ONNX.
_SCALE_NUMERICS: dict[EstimatorName, bool] = {
    "logistic_regression": True,
    "random_forest": False,
    "hist_gradient_boosting": False,
}


def make_estimator(model: ModelSettings) -> ClassifierMixin:
    """The bare estimator with validated hyper-parameters; seeded when it has randomness."""
    classes: dict[EstimatorName, type[BaseEstimator]] = {
        "logistic_regression": LogisticRegression,
        "random_forest": RandomForestClassifier,
        "hist_gradient_boosting": HistGradientBoostingClassifier,
    }
    cls = classes[model.estimator]
    estimator = cls(**_ESTIMATOR_DEFAULTS[model.estimator])
    accepted = estimator.get_params()
    unknown = sorted(set(model.hyperparameters) - set(accepted))
    if unknown:
        raise ConfigError(
            f"invalid parameters: model.hyperparameters {unknown} are not parameters of "
            f"{cls.__name__}; accepted: {', '.join(sorted(accepted))}"
        )
    if "categorical_features" in model.hyperparameters:
        raise ConfigError(
            "model.hyperparameters.categorical_features is managed by Conveyor: native "
            "categorical splits do not survive the ONNX export, so categories are one-hot encoded"
        )
    scoring = model.hyperparameters.get("scoring", "loss")
    stops_early = model.hyperparameters.get("early_stopping", "auto") is not False
    if model.estimator == "hist_gradient_boosting" and scoring != "loss" and stops_early:
        raise ConfigError(
            f"model.hyperparameters.scoring {scoring!r} with early stopping keeps a scorer "
            "object in the fitted model that skops cannot save; use `scoring: loss` (the "
            "default) or `early_stopping: false`"
        )
    estimator.set_params(**model.hyperparameters)
    if "random_state" in accepted:
        estimator.set_params(random_state=model.seed)
    if model.estimator == "hist_gradient_boosting":
        estimator.set_params(categorical_features=None)
    _check_hyperparameters(estimator)
    return estimator


class _ReachedDataError(Exception):
    """`fit` got past its parameter checks and began to read its data."""


class _UnreadableData:
    """Stands in for X and y: the first use of it raises `_ReachedDataError`."""

    def __getattr__(self, name: str) -> NoReturn:
        raise _ReachedDataError

    def __array__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise _ReachedDataError

    def __len__(self) -> NoReturn:
        raise _ReachedDataError

    def __iter__(self) -> NoReturn:
        raise _ReachedDataError

    def __getitem__(self, key: Any) -> NoReturn:
        raise _ReachedDataError


def _check_hyperparameters(estimator: BaseEstimator) -> None:
    """Refuse impossible hyper-parameters before any stage reads data, naming the key.

    scikit-learn checks an estimator's parameters when `fit` starts, before it reads the data:
    each one's type and range (its `InvalidParameterError` is both a `ValueError` and a
    `TypeError`), then, in some estimators, combinations such as a solver that cannot take a
    penalty (a `ValueError`). Fitting a clone on stand-in data that stops `fit` at its first
    read runs exactly those checks on the user's values, trains nothing and takes about a
    millisecond. Checks that need the data (`monotonic_cst` against the number of features,
    say) stay with the real fit: made-up data would refuse values right for the team's data.
    """
    unreadable = _UnreadableData()
    try:
        with config_context(skip_parameter_validation=False):
            clone(estimator).fit(unreadable, unreadable)
    except _ReachedDataError:
        return
    except (ValueError, TypeError) as error:
        raise ConfigError(f"invalid parameters: model.hyperparameters: {error}") from None


def build_pipeline(data: DataSettings, model: ModelSettings) -> Pipeline:
    """Preprocessing and estimator as one Pipeline: what is trained is what is exported."""
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if _SCALE_NUMERICS[model.estimator]:
        numeric_steps.append(("scale", StandardScaler()))
    categorical = Pipeline(
        [
            (
                "impute",
                SimpleImputer(
                    missing_values=MISSING_CATEGORY, strategy="constant", fill_value="missing"
                ),
            ),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    transformers: list[tuple[str, Any, list[str]]] = []
    if data.model_numeric_features:
        transformers.append(("numeric", Pipeline(numeric_steps), data.model_numeric_features))
    if data.model_categorical_features:
        transformers.append((CATEGORICAL_BRANCH, categorical, data.model_categorical_features))
    preprocess = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    return Pipeline([(PREPROCESS_STEP, preprocess), (CLASSIFIER_STEP, make_estimator(model))])


def search_space(space: SearchSettings) -> dict[str, Any]:
    """Params' search space as scikit-learn distributions over the classifier step."""
    distributions: dict[str, Any] = {}
    for name, entry in space.space.items():
        key = f"{CLASSIFIER_STEP}__{name}"
        if isinstance(entry, UniformSpace):
            if entry.distribution == "loguniform":
                distributions[key] = stats.loguniform(entry.low, entry.high)
            else:
                distributions[key] = stats.uniform(entry.low, entry.high - entry.low)
        elif isinstance(entry, IntSpace):
            distributions[key] = stats.randint(entry.low, entry.high + 1)
        else:
            distributions[key] = list(entry)
    return distributions


def check_search_space(pipeline: Pipeline, search: SearchSettings) -> None:
    """Every searched name must be a hyper-parameter of the estimator."""
    accepted = pipeline.named_steps[CLASSIFIER_STEP].get_params()
    unknown = sorted(set(search.space) - set(accepted))
    if unknown:
        raise ConfigError(
            f"invalid parameters: model.search.space {unknown} are not hyper-parameters of "
            f"{type(pipeline.named_steps[CLASSIFIER_STEP]).__name__}"
        )


def reweighing_weights(groups: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """w(g, y) = P(g) P(y) / P(g, y): every (group, label) cell carries the weight it would
    have if group and label were independent (Kamiran & Calders, 2012)."""
    frame = pd.DataFrame({"group": groups, "label": labels})
    p_group = frame["group"].map(frame["group"].value_counts(normalize=True))
    p_label = frame["label"].map(frame["label"].value_counts(normalize=True))
    p_cell = frame.groupby(["group", "label"])["label"].transform("size") / len(frame)
    return (p_group * p_label / p_cell).to_numpy(dtype=np.float64)


def fit(
    pipeline: Pipeline,
    features: pd.DataFrame,
    labels: np.ndarray,
    model: ModelSettings,
    sample_weight: np.ndarray | None = None,
) -> tuple[Pipeline, dict[str, Any] | None]:
    """Fit the pipeline, or search and refit the best candidate; returns the search summary."""
    search = model.search
    fit_params = (
        {} if sample_weight is None else {f"{CLASSIFIER_STEP}__sample_weight": sample_weight}
    )
    if not search.enabled:
        return pipeline.fit(features, labels, **fit_params), None
    check_search_space(pipeline, search)
    folds = StratifiedKFold(n_splits=search.cv_folds, shuffle=True, random_state=model.seed)
    common: dict[str, Any] = {
        "scoring": search.scoring,
        "cv": folds,
        "random_state": model.seed,
        "refit": True,
        "verbose": 2 if sys.stderr.isatty() else 1,
        "error_score": "raise",
    }
    searcher: RandomizedSearchCV | HalvingRandomSearchCV
    if search.strategy == "randomized":
        searcher = RandomizedSearchCV(
            pipeline, search_space(search), n_iter=search.n_candidates, **common
        )
    else:
        # The first rounds must hold both classes in every fold, or their scores are NaN.
        smallest_round = min(len(labels), 50 * search.cv_folds)
        searcher = HalvingRandomSearchCV(
            pipeline,
            search_space(search),
            n_candidates=search.n_candidates,
            min_resources=smallest_round,
            **common,
        )
    try:
        searcher.fit(features, labels, **fit_params)
    except ValueError as error:
        if "scoring" in str(error):
            raise ConfigError(f"invalid parameters: model.search.scoring: {error}") from None
        raise
    best = {
        name.removeprefix(f"{CLASSIFIER_STEP}__"): _plain(value)
        for name, value in searcher.best_params_.items()
    }
    summary = {
        "strategy": search.strategy,
        "scoring": search.scoring,
        "cv_folds": search.cv_folds,
        "candidates": len(searcher.cv_results_["params"]),
        "best_params": best,
        "best_score": float(searcher.best_score_),
    }
    return searcher.best_estimator_, summary


def _plain(value: Any) -> Any:
    """numpy scalars -> Python values, so search results serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def check_model_settings(data: DataSettings, model: ModelSettings) -> None:
    """Checks of params that need scikit-learn, run by the CLI before any stage does work."""
    pipeline = build_pipeline(data, model)
    if model.search.enabled:
        check_search_space(pipeline, model.search)
