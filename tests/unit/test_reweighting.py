"""Reweighing makes group and label independent in the weighted training set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conveyor import cli
from conveyor.paths import ProjectPaths
from conveyor.stages import STAGES
from conveyor.train import reweighing_weights
from tests.conftest import Project, churn_frame, churn_params


def test_weighted_positive_rate_is_equal_across_groups() -> None:
    groups = np.array(["a"] * 80 + ["b"] * 20)
    labels = np.array([1] * 40 + [0] * 40 + [1] * 2 + [0] * 18)
    weights = reweighing_weights(groups, labels)
    rates = {
        g: weights[(groups == g) & (labels == 1)].sum() / weights[groups == g].sum()
        for g in ("a", "b")
    }
    assert rates["a"] == pytest.approx(rates["b"])
    assert rates["a"] == pytest.approx(labels.mean())
    assert weights.sum() == pytest.approx(len(labels))


@pytest.mark.pipeline
def test_training_with_reweighting_still_exports_with_parity(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_PSEUDONYM_KEY", "k")  # the churn data pseudonymises e-mails
    project.write_csv(churn_frame(500))
    params = churn_params()
    params["model"]["reweighting"] = {"enabled": True, "sensitive_feature": "gender"}
    project.write_params(params)
    for stage in STAGES:
        assert cli.main([stage, "--params", str(project.params)]) == 0, stage
    paths = ProjectPaths(project.root)
    summary = json.loads(paths.train_metrics.read_text())
    assert summary["reweighting"] == "gender"
    export = json.loads(paths.export_metrics.read_text())
    assert export["parity"]["passed"]
