"""skops files load only when every type in them is one we trust."""

from __future__ import annotations

import operator
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from conveyor.errors import ModelError, StaleOutputError
from conveyor.modelio import dump_model, load_model


def _fitted(first_step: object) -> Pipeline:
    pipeline = Pipeline([("step", first_step), ("classifier", LogisticRegression())])
    return pipeline.fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(dump_model(_fitted(FunctionTransformer())))
    loaded = load_model(path)
    assert loaded.predict(np.array([[3.0]])).tolist() == [1]


def test_untrusted_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(dump_model(_fitted(FunctionTransformer(func=operator.neg))))
    with pytest.raises(ModelError, match=r"types Conveyor does not trust: \[.*operator.neg"):
        load_model(path)


def test_damaged_and_missing_files_are_explained(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable skops file"):
        load_model(path)
    with pytest.raises(StaleOutputError, match="run `dvc repro`"):
        load_model(tmp_path / "absent.skops")


def test_the_same_model_always_gives_the_same_bytes(tmp_path: Path) -> None:
    first = dump_model(_fitted(FunctionTransformer()))
    second = dump_model(_fitted(FunctionTransformer()))
    assert first == second
    path = tmp_path / "model.skops"
    path.write_bytes(first)
    assert load_model(path).predict(np.array([[0.0], [3.0]])).tolist() == [0, 1]


def test_canonical_files_keep_shared_references(tmp_path: Path) -> None:
    pipeline = _fitted(FunctionTransformer())
    classifier = pipeline.named_steps["classifier"]
    classifier.first_copy_ = classifier.second_copy_ = np.arange(4.0)
    path = tmp_path / "model.skops"
    path.write_bytes(dump_model(pipeline))
    loaded = load_model(path).named_steps["classifier"]
    assert loaded.first_copy_ is loaded.second_copy_
    assert loaded.first_copy_.tolist() == [0.0, 1.0, 2.0, 3.0]
