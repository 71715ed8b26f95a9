"""The data rules, each on a frame small enough to read."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conveyor import data as data_ops
from conveyor.config import DataSettings, Source, parse_settings
from conveyor.errors import DataError
from conveyor.features import model_inputs, target_vector
from tests.conftest import churn_frame, churn_params


@pytest.fixture
def settings() -> DataSettings:
    return parse_settings(churn_params()).data


def _load(path: Path, settings: DataSettings, sha256: str | None = None) -> pd.DataFrame:
    return data_ops.read_source(Source(path=path, sha256=sha256), path, settings).frame


def test_reads_gzip_and_checks_the_uncompressed_checksum(
    tmp_path: Path, settings: DataSettings
) -> None:
    text = churn_frame(20).to_csv(index=False).encode()
    path = tmp_path / "churn.csv.gz"
    path.write_bytes(gzip.compress(text))
    digest = hashlib.sha256(text).hexdigest()
    assert len(_load(path, settings, digest)) == 20
    with pytest.raises(DataError, match=r"checksum mismatch for .*churn\.csv\.gz") as caught:
        _load(path, settings, "0" * 64)
    assert digest in str(caught.value)


def test_corrupt_gzip_is_named(tmp_path: Path, settings: DataSettings) -> None:
    path = tmp_path / "churn.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n" * 100)[:-20])
    with pytest.raises(DataError, match=r"churn.csv.gz is not a valid gzip file"):
        _load(path, settings)


@pytest.mark.parametrize(("content", "expected"), [(b"", "is empty"), (b"\n\n", "is empty")])
def test_empty_file_is_named(
    tmp_path: Path, settings: DataSettings, content: bytes, expected: str
) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"empty.csv {expected}"):
        _load(path, settings)


def test_header_without_rows_is_named(tmp_path: Path, settings: DataSettings) -> None:
    path = tmp_path / "header.csv"
    path.write_text(",".join(churn_frame(1).columns) + "\n")
    with pytest.raises(DataError, match=r"header\.csv has a header but no data rows"):
        _load(path, settings)


def test_missing_column_names_its_role(tmp_path: Path, settings: DataSettings) -> None:
    path = tmp_path / "churn.csv"
    churn_frame(10).drop(columns=["plan"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"lacks column\(s\) 'plan' \(data.categorical_features\)"):
        _load(path, settings)


def test_non_numeric_values_are_named_with_their_record(settings: DataSettings) -> None:
    frame = churn_frame(10).astype(str)
    frame.loc[3, "tenure_months"] = "three"
    with pytest.raises(DataError) as caught:
        data_ops.validate(data_ops.normalise(frame, settings), settings, "churn.csv")
    message = str(caught.value)
    assert "column 'tenure_months' (data.numeric_features) must hold numbers" in message
    assert "three (record 4)" in message


def test_infinite_numbers_are_rejected(settings: DataSettings) -> None:
    frame = churn_frame(10).astype(str)
    frame.loc[0, "monthly_spend"] = "inf"
    with pytest.raises(DataError, match="'monthly_spend' holds 1 infinite value"):
        data_ops.validate(frame, settings, "churn.csv")


def test_missing_target_is_rejected(settings: DataSettings) -> None:
    frame = churn_frame(10).astype(str)
    frame["churned"] = frame["churned"].astype(object)
    frame.loc[2, "churned"] = None
    with pytest.raises(DataError, match="target column 'churned' has 1 missing value"):
        data_ops.validate(frame, settings, "churn.csv")


def test_positive_label_must_occur(settings: DataSettings) -> None:
    frame = churn_frame(10).astype(str).assign(churned="no")
    with pytest.raises(DataError, match="never takes the positive label 'yes'"):
        data_ops.validate(frame, settings, "churn.csv")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [(["yes"] * 4, "has only one class"), (["yes", "no", "maybe", "no"], "has 3 classes")],
)
def test_binary_target_is_required(
    settings: DataSettings, labels: list[str], expected: str
) -> None:
    with pytest.raises(DataError, match=expected):
        data_ops.check_classes(pd.DataFrame({"churned": labels}), settings)


def test_target_values_are_rewritten_before_validation() -> None:
    params = churn_params()
    params["data"]["target_value_map"] = {"yes.": "yes"}
    settings = parse_settings(params).data
    frame = pd.DataFrame(
        {"churned": [" yes.", "no "], "gender": ["f", None], "plan": ["basic", "plus"]}
    ).astype("string")
    normal = data_ops.normalise(frame, settings)
    assert list(normal["churned"]) == ["yes", "no"]
    assert list(normal["gender"]) == ["f", data_ops.MISSING_GROUP]


def test_pseudonymisation_is_keyed_stable_and_keeps_missing_values() -> None:
    frame = pd.DataFrame({"email": ["a@x.org", None, "a@x.org"]}).astype("string")
    keyed = data_ops.pseudonymise(frame, ["email"], b"secret")["email"].tolist()
    other_key = data_ops.pseudonymise(frame, ["email"], b"other")["email"].tolist()
    unkeyed = data_ops.pseudonymise(frame, ["email"], None)["email"].tolist()
    assert keyed[0] == keyed[2]
    assert keyed[1] is pd.NA
    assert all(value != "a@x.org" for value in keyed if isinstance(value, str))
    assert keyed[0] != other_key[0]
    assert unkeyed[0] == hashlib.sha256(b"a@x.org").hexdigest()


def test_split_is_stratified_and_seeded(settings: DataSettings) -> None:
    frame = churn_frame(400)
    split = parse_settings(churn_params()).split
    train, test = data_ops.split(frame, settings, split)
    again, _ = data_ops.split(frame, settings, split)
    assert len(test) == 100
    assert abs(target_vector(train, settings).mean() - target_vector(test, settings).mean()) < 0.02
    pd.testing.assert_frame_equal(train, again)


def test_stratifying_a_class_of_one_row_is_explained(settings: DataSettings) -> None:
    frame = churn_frame(20).assign(churned=["yes"] + ["no"] * 19)
    with pytest.raises(DataError, match="one class has only 1 row"):
        data_ops.split(frame, settings, parse_settings(churn_params()).split)


def test_duplicates_are_dropped_by_record_fingerprint() -> None:
    frame = data_ops.with_record_ids(pd.DataFrame({"a": [1, 1, 2], "b": ["x", "x", "x"]}))
    assert frame[data_ops.RECORD_ID].nunique() == 2
    assert len(data_ops.deduplicate(frame)) == 2
    again = data_ops.with_record_ids(pd.DataFrame({"a": [1, 1, 2], "b": ["x", "x", "x"]}))
    assert again[data_ops.RECORD_ID].tolist() == frame[data_ops.RECORD_ID].tolist()


def test_model_inputs_are_float32_and_strings_with_empty_for_missing(
    settings: DataSettings,
) -> None:
    frame = churn_frame(3).astype({"plan": object})
    frame.loc[1, "plan"] = None
    inputs = model_inputs(frame, settings)
    assert list(inputs.columns) == settings.model_features
    assert inputs["tenure_months"].dtype == np.float32
    assert inputs.loc[1, "plan"] == ""
    assert "gender" not in inputs.columns


def test_files_with_different_layouts_are_not_concatenated(
    tmp_path: Path, settings: DataSettings
) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    churn_frame(5).to_csv(first, index=False)
    churn_frame(5)[list(reversed(churn_frame(1).columns))].to_csv(second, index=False)
    loaded = [data_ops.read_source(Source(path=p), p, settings) for p in (first, second)]
    with pytest.raises(DataError, match="have different columns"):
        data_ops.check_same_layout(loaded)


def test_reads_parquet_with_the_same_rules(tmp_path: Path) -> None:
    params = churn_params(source="churn.parquet")
    params["data"]["format"] = "parquet"
    settings = parse_settings(params).data
    path = tmp_path / "churn.parquet"
    churn_frame(30).to_parquet(path, index=False)
    frame = _load(path, settings)
    validated = data_ops.validate(data_ops.normalise(frame, settings), settings, "churn.parquet")
    assert len(validated) == 30
    assert validated["tenure_months"].dtype == np.float64
    path.write_bytes(b"PAR1 but not really")
    with pytest.raises(DataError, match=r"churn\.parquet is not a readable Parquet file"):
        _load(path, settings)
