"""Each gate can trip: deliberately degraded models, and a tightened bound, must fail it.

The degraded models are real pipelines trained here on the real training set; they are judged
by `assess`, the function the evaluate stage uses, on the real test set.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from conveyor.config import Settings, load_settings, parse_settings
from conveyor.evaluate.assess import Assessment, assess
from conveyor.features import model_inputs, target_vector
from conveyor.modelio import load_model
from conveyor.paths import ProjectPaths
from conveyor.train import build_pipeline
from tests.conftest import ROOT, run_conveyor

MESSAGE = re.compile(
    r"^(?:\S+ )?\w+ \d\.\d\d [<>] \d\.\d\d \(95% CI \d\.\d\d–\d\.\d\d, n=[\d,]+\)$"
)


def _settings(**changes: Any) -> Settings:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[last] = value
    return parse_settings(raw)


def _gate(assessment: Assessment, gate_id: str) -> dict[str, Any]:
    gate: dict[str, Any] = next(g for g in assessment.gates["gates"] if g["id"] == gate_id)
    return gate


@pytest.fixture(scope="module")
def data(pipeline_outputs: ProjectPaths) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(pipeline_outputs.train_data), pd.read_parquet(pipeline_outputs.test_data)


@pytest.fixture(scope="module")
def flipped_for_women(data: tuple[pd.DataFrame, pd.DataFrame]) -> Assessment:
    """A model that sees `sex` and was trained with the labels of women inverted."""
    train, test = data
    settings = _settings(
        **{
            "data.use_sensitive_features": True,
            "data.categorical_features": [
                "workclass", "education", "marital_status", "occupation", "relationship",
                "native_country", "sex", "race",
            ],
            "model.hyperparameters": {"max_iter": 60},
        }
    )  # fmt: skip
    labels = target_vector(train, settings.data)
    women = (train["sex"] == "Female").to_numpy()
    labels = np.where(women, 1 - labels, labels)
    pipeline = build_pipeline(settings.data, settings.model)
    pipeline.fit(model_inputs(train, settings.data), labels)
    probabilities = pipeline.predict_proba(model_inputs(test, settings.data))[:, 1]
    return assess(test, target_vector(test, settings.data), probabilities, _settings())


@pytest.mark.slice
def test_a_group_with_inverted_labels_fails_its_slice_gate(flipped_for_women: Assessment) -> None:
    gate = _gate(flipped_for_women, "slice.sex=Female.roc_auc")
    assert gate["status"] == "fail"
    assert gate["message"].startswith("sex=Female roc_auc ")
    assert MESSAGE.match(gate["message"]), gate["message"]
    assert _gate(flipped_for_women, "slice.sex=Male.roc_auc")["status"] == "pass"
    assert flipped_for_women.failed


@pytest.mark.fairness
def test_a_group_with_inverted_labels_fails_the_fairness_gate(
    flipped_for_women: Assessment,
) -> None:
    gate = _gate(flipped_for_women, "fairness.sex.equalized_odds_difference")
    assert gate["status"] == "fail"
    assert gate["message"].startswith("sex equalized_odds_difference ")
    assert MESSAGE.match(gate["message"]), gate["message"]


def test_a_model_that_guesses_fails_the_overall_gates(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, test = data
    settings = _settings()
    guesses = np.random.default_rng(1).random(len(test))
    assessment = assess(test, target_vector(test, settings.data), guesses, settings)
    for metric in ("roc_auc", "f1", "accuracy"):
        gate = _gate(assessment, f"overall.{metric}")
        assert gate["status"] == "fail", gate["message"]
        assert MESSAGE.match(gate["message"]), gate["message"]


@pytest.mark.fairness
def test_a_model_that_favours_one_group_fails_demographic_parity(
    data: tuple[pd.DataFrame, pd.DataFrame], pipeline_outputs: ProjectPaths
) -> None:
    """The released model with a bonus for men: a tightened, blocking parity bound trips."""
    _, test = data
    settings = _settings(
        **{"gates.fairness.bounds.sex.demographic_parity_difference": {"max": 0.25}}
    )
    probabilities = load_model(pipeline_outputs.model).predict_proba(
        model_inputs(test, settings.data)
    )[:, 1]
    fair = assess(test, target_vector(test, settings.data), probabilities, settings)
    assert _gate(fair, "fairness.sex.demographic_parity_difference")["status"] == "pass"
    biased = np.clip(probabilities + 0.2 * (test["sex"] == "Male").to_numpy(), 0, 1)
    unfair = assess(test, target_vector(test, settings.data), biased, settings)
    assert _gate(unfair, "fairness.sex.demographic_parity_difference")["status"] == "fail"
    assert unfair.failed


def test_a_small_slice_is_reported_but_never_gated(flipped_for_women: Assessment) -> None:
    gate = _gate(flipped_for_women, "slice.race=Other.roc_auc")
    assert gate["status"] == "not gated"
    assert "support below" in gate["message"]


def test_a_tightened_bound_in_params_fails_the_cli(
    tmp_path: Path, pipeline_outputs: ProjectPaths
) -> None:
    """`conveyor evaluate` then `conveyor gate` in a copy whose params demand AUC >= 0.99."""
    for source in (pipeline_outputs.train_data, pipeline_outputs.test_data,
                   pipeline_outputs.manifest, pipeline_outputs.model):  # fmt: skip
        target = tmp_path / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["gates"]["overall"]["roc_auc"] = {"min": 0.99}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    evaluate = run_conveyor("evaluate", "--params", str(tmp_path / "params.yaml"), cwd=tmp_path)
    assert evaluate.code == 0, evaluate.stderr
    gate = run_conveyor("gate", "--params", str(tmp_path / "params.yaml"), cwd=tmp_path)
    assert gate.code == 1
    assert re.search(r"^FAIL\s+block\s+roc_auc 0\.9\d < 0\.99 \(95% CI", gate.stdout, re.M)
    assert "verdict: FAIL" in gate.stdout


def test_verdicts_do_not_depend_on_the_bootstrap_seed(
    data: tuple[pd.DataFrame, pd.DataFrame], pipeline_outputs: ProjectPaths
) -> None:
    """20 seeds: every gate that is not inconclusive gets the same verdict every time."""
    _, test = data
    settings = load_settings(ROOT / "params.yaml")
    labels = target_vector(test, settings.data)
    probabilities = load_model(pipeline_outputs.model).predict_proba(
        model_inputs(test, settings.data)
    )[:, 1]
    verdicts: dict[str, set[str]] = {}
    for seed in range(20):
        seeded = _settings(**{"gates.bootstrap.seed": seed})
        for gate in assess(test, labels, probabilities, seeded).gates["gates"]:
            verdicts.setdefault(gate["id"], set()).add(gate["status"])
    unstable = {k: v for k, v in verdicts.items() if len(v - {"inconclusive"}) > 1}
    assert not unstable, unstable
