"""Checks on the prepared data, run by the `data` test suite before any model is judged.

Each check returns the problems it found as sentences (empty when all is well), so the tests
can show them and can prove, on a broken frame, that each check trips.
"""

from __future__ import annotations

import pandas as pd

from conveyor.config import DataGates, DataSettings
from conveyor.data import RECORD_ID
from conveyor.features import target_vector


def schema_problems(frame: pd.DataFrame, data: DataSettings, name: str) -> list[str]:
    """Columns the model and the evaluation need, with the types prepare promises."""
    problems = []
    needed = [*data.model_features, *data.evaluation_columns, data.target, RECORD_ID]
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        problems.append(f"{name}: columns {missing} are missing")
    for column in data.model_numeric_features:
        if column in frame.columns and str(frame[column].dtype) != "float32":
            problems.append(
                f"{name}: numeric feature {column} is {frame[column].dtype}, not float32"
            )
    for column in data.model_categorical_features:
        if column in frame.columns and not pd.api.types.is_string_dtype(frame[column]):
            problems.append(f"{name}: categorical feature {column} is {frame[column].dtype}")
    return problems


def leakage_problems(train: pd.DataFrame, test: pd.DataFrame) -> list[str]:
    """No record may sit on both sides of the split, nor twice on one side."""
    problems = []
    shared = set(train[RECORD_ID]) & set(test[RECORD_ID])
    if shared:
        problems.append(f"{len(shared)} record(s) are in both train and test, e.g. {min(shared)}")
    for name, frame in (("train", train), ("test", test)):
        repeated = int(frame[RECORD_ID].duplicated().sum())
        if repeated:
            problems.append(f"{name} holds {repeated} duplicate record(s)")
    return problems


def balance_problems(
    train: pd.DataFrame, test: pd.DataFrame, data: DataSettings, gates: DataGates
) -> list[str]:
    """The positive rate is within bounds on both sides, and the two sides agree."""
    problems = []
    rates = {}
    for name, frame in (("train", train), ("test", test)):
        rate = float(target_vector(frame, data).mean())
        rates[name] = rate
        if not gates.positive_rate_min <= rate <= gates.positive_rate_max:
            problems.append(
                f"{name} positive rate {rate:.3f} is outside "
                f"[{gates.positive_rate_min}, {gates.positive_rate_max}]"
            )
    gap = abs(rates["train"] - rates["test"])
    if gap > gates.max_positive_rate_gap:
        problems.append(
            f"train and test positive rates differ by {gap:.3f} "
            f"(> {gates.max_positive_rate_gap}): the split is not stratified"
        )
    return problems


def constant_feature_problems(frame: pd.DataFrame, data: DataSettings) -> list[str]:
    """A feature with one value teaches the model nothing and usually means a broken join."""
    return [
        f"feature {column} has a single value ({frame[column].iloc[0]!r}) in the training set"
        for column in data.model_features
        if frame[column].nunique(dropna=False) <= 1
    ]


def sensitive_problems(frame: pd.DataFrame, data: DataSettings, name: str) -> list[str]:
    """Fairness evaluation needs every sensitive column, complete, with two or more groups."""
    problems = []
    for column in data.sensitive_features:
        if column not in frame.columns:
            problems.append(f"{name}: sensitive column {column} is missing")
            continue
        if frame[column].isna().any():
            problems.append(f"{name}: sensitive column {column} has missing values")
        if frame[column].nunique() < 2:
            problems.append(f"{name}: sensitive column {column} has fewer than two groups")
    return problems
