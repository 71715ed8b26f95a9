"""The prepared data, checked before any model is judged; each check also shown to trip.

Everything asserted here comes from `params.yaml` (the roles of the columns, the data gates)
and from the prepared files, so the suite holds on whatever data a team points params at.
The trip tests break the team's own prepared data in the way each check guards against.
"""

from __future__ import annotations

import pandas as pd
import pytest

from conveyor import datachecks
from conveyor.config import DataSettings, Settings, load_settings
from conveyor.data import RECORD_ID
from conveyor.features import target_vector
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


# Each check trips on the team's data broken the way it guards against.


def test_schema_check_trips(
    prepared: tuple[pd.DataFrame, pd.DataFrame], settings: Settings
) -> None:
    """A lost target column and a feature of the wrong type are both named."""
    data = settings.data
    if data.model_numeric_features:
        column = data.model_numeric_features[0]
        retyped: pd.Series = prepared[0][column].astype("float64")
        expected = f"train: numeric feature {column} is float64, not float32"
    else:  # a model of categories only: a category column arriving as numbers
        column = data.model_categorical_features[0]
        retyped = pd.Series(range(len(prepared[0])), index=prepared[0].index, dtype="int64")
        expected = f"train: categorical feature {column} is int64"
    broken = prepared[0].drop(columns=[data.target]).assign(**{column: retyped})
    problems = datachecks.schema_problems(broken, data, "train")
    assert f"train: columns [{data.target!r}] are missing" in problems, problems
    assert expected in problems, problems


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
    """A test set of positives only: its rate is out of bounds and the split looks unstratified.

    Positives are selected by `target_vector`, the rule every stage uses, so a numeric or
    boolean target (stored as text by prepare) is handled the same as a string one.
    """
    train, test = prepared
    positives_only = test[target_vector(test, settings.data) == 1]
    assert len(positives_only) > 0
    problems = datachecks.balance_problems(
        train, positives_only, settings.data, settings.gates.data
    )
    assert any("test positive rate 1.000 is outside" in p for p in problems), problems
    assert any("the split is not stratified" in p for p in problems), problems


def test_constant_feature_check_trips(
    prepared: tuple[pd.DataFrame, pd.DataFrame], settings: Settings
) -> None:
    """The first model input set to one value everywhere, as a broken join would leave it."""
    column = settings.data.model_features[0]
    train = prepared[0]
    broken = train.assign(**{column: train[column].iloc[0]})
    assert datachecks.constant_feature_problems(broken, settings.data) == [
        f"feature {column} has a single value ({broken[column].iloc[0]!r}) in the training set"
    ]


def _sensitive(data: DataSettings) -> tuple[DataSettings, list[str]]:
    """The team's sensitive columns; without any, the first categorical input plays one.

    With no sensitive column configured the check has nothing to look at, so it is proven on
    a column the prepared data certainly holds rather than not at all.
    """
    if data.sensitive_features:
        return data, data.sensitive_features
    stand_in = (data.model_categorical_features or data.model_numeric_features)[:1]
    return data.model_copy(update={"sensitive_features": stand_in}), stand_in


def test_sensitive_check_trips(
    prepared: tuple[pd.DataFrame, pd.DataFrame], settings: Settings
) -> None:
    data, columns = _sensitive(settings.data)
    test = prepared[1]
    missing = datachecks.sensitive_problems(test.drop(columns=[columns[0]]), data, "test")
    assert f"test: sensitive column {columns[0]} is missing" in missing, missing
    one_group = test.assign(**{columns[-1]: test[columns[-1]].iloc[0]})
    single = datachecks.sensitive_problems(one_group, data, "test")
    assert f"test: sensitive column {columns[-1]} has fewer than two groups" in single, single
    with_gap = test.assign(**{columns[0]: test[columns[0]].where(test.index != test.index[0])})
    gaps = datachecks.sensitive_problems(with_gap, data, "test")
    assert f"test: sensitive column {columns[0]} has missing values" in gaps, gaps
