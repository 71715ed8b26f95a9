"""skops files load only when every type in them is one we trust."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from threadpoolctl import threadpool_limits

from conveyor.config import EstimatorName, parse_settings
from conveyor.contract import CLASSIFIER_STEP
from conveyor.errors import ModelError, StaleOutputError
from conveyor.features import model_inputs, target_vector
from conveyor.modelio import TRUSTED_TYPES, dump_model, load_model
from conveyor.train import build_pipeline
from tests.conftest import churn_frame, churn_params


def _fitted(first_step: object) -> Pipeline:
    pipeline = Pipeline([("step", first_step), ("classifier", LogisticRegression())])
    return pipeline.fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(dump_model(_fitted(FunctionTransformer())))
    loaded = load_model(path)
    assert loaded.predict(np.array([[3.0]])).tolist() == [1]


@pytest.mark.parametrize("function", [operator.neg, abs], ids=["operator", "builtins"])
def test_untrusted_code_is_refused(tmp_path: Path, function: object) -> None:
    """A function a tampered file would have the model call, from any module."""
    path = tmp_path / "model.skops"
    path.write_bytes(dump_model(_fitted(FunctionTransformer(func=function))))
    name = f"{function.__module__}.{function.__name__}"  # type: ignore[attr-defined]
    with pytest.raises(ModelError, match=rf"types Conveyor does not trust: \['{name}'\]"):
        load_model(path)


@pytest.mark.parametrize("estimator", get_args(EstimatorName))
def test_the_pipelines_conveyor_builds_hold_only_trusted_types(
    tmp_path: Path, estimator: str
) -> None:
    """Every type a fitted pipeline of each offered estimator holds beyond skops' defaults is
    in TRUSTED_TYPES, and the model loads: a new library version that adds one fails here."""
    small = {"random_forest": {"n_estimators": 3}, "hist_gradient_boosting": {"max_iter": 3}}
    settings = parse_settings(
        churn_params(estimator=estimator, hyperparameters=small.get(estimator, {}))
    )
    frame = churn_frame(200)
    pipeline = build_pipeline(settings.data, settings.model).fit(
        model_inputs(frame, settings.data), target_vector(frame, settings.data)
    )
    content = dump_model(pipeline)
    assert set(sio.get_untrusted_types(data=content)) <= TRUSTED_TYPES
    path = tmp_path / "model.skops"
    path.write_bytes(content)
    assert isinstance(load_model(path), Pipeline)


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


def test_the_file_does_not_depend_on_the_thread_count() -> None:
    """The same boosted model fitted with one OpenMP thread and with two gives one file, so a
    runner's core count (or `OMP_NUM_THREADS`) never changes a DVC hash; the fitted pipeline
    itself keeps its thread count (the copy is what is saved)."""
    settings = parse_settings(
        churn_params(estimator="hist_gradient_boosting", hyperparameters={"max_iter": 5})
    )
    frame = churn_frame(300)
    fitted = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="openmp"):
            pipeline = build_pipeline(settings.data, settings.model).fit(
                model_inputs(frame, settings.data), target_vector(frame, settings.data)
            )
        fitted.append(pipeline)

    def recorded() -> list[int]:
        return [pipeline.named_steps[CLASSIFIER_STEP]._bin_mapper.n_threads for pipeline in fitted]

    assert recorded() == [1, 2]
    assert dump_model(fitted[0]) == dump_model(fitted[1])
    assert recorded() == [1, 2]
