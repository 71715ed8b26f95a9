"""A team's own CSV with its own column names, through the CLI, by editing params only."""

from __future__ import annotations

import json

import onnx
import pandas as pd
import pytest

from conveyor import cli
from conveyor.config import EstimatorName
from conveyor.paths import ProjectPaths
from conveyor.stages import STAGES
from tests.conftest import Project, churn_frame, churn_params

pytestmark = pytest.mark.pipeline


@pytest.fixture(autouse=True)
def _pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The churn data pseudonymises e-mails, which needs a key."""
    monkeypatch.setenv("CONVEYOR_PSEUDONYM_KEY", "k")


def test_the_whole_pipeline_runs_on_a_different_data_set(churn_project: Project) -> None:
    for stage in STAGES:
        result = churn_project.run(stage)
        assert result.code == 0, f"{stage}: {result.stderr}"
    paths = ProjectPaths(churn_project.root)
    train = pd.read_parquet(paths.train_data)
    assert "internal_note" not in train.columns
    assert not train["customer_email"].str.contains("@").any()
    assert "gender" in train.columns
    metrics = json.loads(paths.metrics.read_text())
    assert metrics["roc_auc"] > 0.75
    signature = json.loads(paths.signature.read_text())
    names = [field["name"] for field in signature["inputs"]]
    assert names == ["tenure_months", "monthly_spend", "plan", "region"]
    assert signature["output"]["classes"] == ["no", "yes"]
    assert signature["parity"]["passed"]
    graph = onnx.load(paths.onnx_model).graph
    assert [i.name for i in graph.input] == names
    manifest = json.loads(paths.manifest.read_text())
    assert manifest["pseudonymisation"] == "hmac-sha256"
    assert paths.model_card.read_text().count("churned") >= 1


@pytest.mark.parametrize(
    "estimator", ["logistic_regression", "random_forest", "hist_gradient_boosting"]
)
def test_every_estimator_exports_with_parity(project: Project, estimator: EstimatorName) -> None:
    frame = churn_frame(800)
    frame.loc[::17, "monthly_spend"] = None  # numeric imputation must convert too
    frame.loc[::13, "plan"] = None  # and the categorical "" marker
    project.write_csv(frame)
    hyperparameters = {"random_forest": {"n_estimators": 20}}.get(estimator, {})
    project.write_params(churn_params(estimator=estimator, hyperparameters=hyperparameters))
    for stage in STAGES:
        assert cli.main([stage, "--params", str(project.params)]) == 0, stage
    export = json.loads(ProjectPaths(project.root).export_metrics.read_text())
    assert export["parity"]["passed"]
    assert export["parity"]["max_abs_difference"] < 1e-4


@pytest.mark.parametrize("strategy", ["randomized", "halving"])
def test_hyperparameter_search(project: Project, strategy: str) -> None:
    project.write_csv(churn_frame(400))
    search = {
        "enabled": True,
        "strategy": strategy,
        "n_candidates": 4,
        "cv_folds": 3,
        "space": {"C": {"distribution": "loguniform", "low": 0.01, "high": 10}},
    }
    project.write_params(churn_params(search=search))
    assert cli.main(["prepare", "--params", str(project.params)]) == 0
    assert cli.main(["train", "--params", str(project.params)]) == 0
    summary = json.loads(ProjectPaths(project.root).train_metrics.read_text())
    assert summary["search"]["strategy"] == strategy
    assert 0.01 <= summary["search"]["best_params"]["C"] <= 10
    assert summary["search"]["candidates"] >= 4
