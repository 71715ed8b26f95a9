"""The prepared data, checked before any model is judged; each check also shown to trip."""

from __future__ import annotations

import pandas as pd
import pytest

from conveyor import datachecks
from conveyor.config import Settings, load_settings
from conveyor.data import RECORD_ID
from conveyor.paths import ProjectPaths
from tests.conftest import ROOT

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def prepared(pipeline_outputs: ProjectPaths) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(pipeline_outputs.train_data), pd.read_parquet(pipeline_outputs.test_data)


def test_schema(prepared: tuple[pd.DataFrame, pd.DataFrame], settings: Settings) -> None:
    train, test = prepared
    problems = datachecks.schema_problems(train, settings.data, "train")
    problems += datachecks.schema_problems(test, settings.data, "test")
    assert not problems, problems


def test_no_record_leaks_between_train_and_test(
    prepared: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    assert not datachecks.leakage_problems(*prepared)


def test_label_balance(prepared: tuple[pd.DataFrame, pd.DataFrame], settings: Settings) -> None:
    problems = datachecks.balance_problems(*prepared, settings.data, settings.gates.data)
    assert not problems, problems


def test_no_single_valued_feature(
    prepared: tuple[pd.DataFrame, pd.DataFrame], settings: Settings
) -> None:
    problems = datachecks.constant_feature_problems(prepared[0], settings.data)
    assert not problems, problems


@pytest.mark.parametrize("side", ["train", "test"])
def test_sensitive_columns_are_present(
    prepared: tuple[pd.DataFrame, pd.DataFrame], settings: Settings, side: str
) -> None:
    frame = prepared[0] if side == "train" else prepared[1]
    problems = datachecks.sensitive_problems(frame, settings.data, side)
    assert not problems, problems


# Each check trips on data broken the way it guards against.


def test_schema_check_trips(
    prepared: tuple[pd.DataFrame, pd.DataFrame], settings: Settings
) -> None:
    broken = (
        prepared[0]
        .drop(columns=["age"])
        .assign(hours_per_week=lambda f: f.hours_per_week.astype(float))
    )
    problems = datachecks.schema_problems(broken, settings.data, "train")
    assert any("['age'] are missing" in p for p in problems)
    assert any("hours_per_week is float64" in p for p in problems)


def test_leakage_check_trips(prepared: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = prepared
    leaked = pd.concat([test, train.head(3)], ignore_index=True)
    problems = datachecks.leakage_problems(train, leaked)
    assert problems == [
        f"3 record(s) are in both train and test, e.g. {min(train.head(3)[RECORD_ID])}"
    ]


def test_balance_check_trips(
    prepared: tuple[pd.DataFrame, pd.DataFrame], settings: Settings
) -> None:
    train, test = prepared
    positives_only = test[test[settings.data.target] == settings.data.positive_label]
    problems = datachecks.balance_problems(
        train, positives_only, settings.data, settings.gates.data
    )
    assert any("test positive rate 1.000 is outside" in p for p in problems)
    assert any("the split is not stratified" in p for p in problems)


def test_constant_feature_check_trips(
    prepared: tuple[pd.DataFrame, pd.DataFrame], settings: Settings
) -> None:
    broken = prepared[0].assign(workclass="Private")
    assert datachecks.constant_feature_problems(broken, settings.data) == [
        "feature workclass has a single value ('Private') in the training set"
    ]


def test_sensitive_check_trips(
    prepared: tuple[pd.DataFrame, pd.DataFrame], settings: Settings
) -> None:
    broken = prepared[1].drop(columns=["race"]).assign(sex="Female")
    problems = datachecks.sensitive_problems(broken, settings.data, "test")
    assert "test: sensitive column race is missing" in problems
    assert "test: sensitive column sex has fewer than two groups" in problems
