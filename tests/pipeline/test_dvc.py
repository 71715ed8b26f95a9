"""DVC owns order and caching: a no-op repro runs nothing, a model parameter re-runs only the
stages that use it, and `conveyor check-outputs` tells committed outputs the pipeline produced
from edited ones. (That every stage run from scratch at another commit reproduces the outputs
and the lock to the byte is release.yml's act run: `make rebuild`, then `make check-outputs`,
with CI's commit in the environment; tests/workflows/test_act.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conveyor.paths import ProjectPaths
from tests.conftest import ROOT, Project, churn_params, copy_repository, run_conveyor
from tests.pipeline.dvc import dvc, git, share_project_cache, stages_run

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The project's files in a fresh git repository, sharing the project's DVC cache."""
    target = copy_repository(tmp_path_factory.mktemp("clone"))
    share_project_cache(target)
    dvc(target, "repro")
    yield target


def test_a_second_repro_runs_nothing(clone: Path) -> None:
    output = dvc(clone, "repro")
    assert stages_run(output) == []
    assert "Data and pipelines are up to date" in dvc(clone, "status")
    assert ProjectPaths(clone).onnx_model.is_file()


def test_a_model_parameter_reruns_only_the_stages_that_use_it(clone: Path) -> None:
    """The decision threshold, which every estimator has (a hyper-parameter name would not
    exist for another team's estimator): train tracks the whole `model` section, evaluate and
    export read the threshold; prepare must not run."""
    params_path = clone / "params.yaml"
    original = params_path.read_text()
    params = yaml.safe_load(original)
    params["model"]["threshold"] = round(float(params["model"].get("threshold", 0.5)) / 2, 3)
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        # Without the run cache: an earlier run with the same value would be restored, not run.
        assert stages_run(dvc(clone, "repro", "--no-run-cache")) == ["train", "evaluate", "export"]
        assert "Data and pipelines are up to date" in dvc(clone, "status")
    finally:
        params_path.write_text(original)
        dvc(clone, "repro")


def test_check_outputs_fails_when_metrics_are_edited_by_hand(clone: Path) -> None:
    dvc(clone, "repro")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "the pipeline's outputs", "--allow-empty")
    assert run_conveyor("check-outputs", cwd=clone).code == 0
    metrics = ProjectPaths(clone).metrics
    original = metrics.read_text()
    edited = json.loads(original)
    edited["roc_auc"] = round(edited["roc_auc"] + 0.01, 6)
    metrics.write_text(json.dumps(edited, indent=2, sort_keys=True) + "\n")
    try:
        result = run_conveyor("check-outputs", cwd=clone)
    finally:
        metrics.write_text(original)
    assert result.code == 1, result.stdout
    assert "metrics/metrics.json: roc_auc: committed" in result.stderr
    assert "dvc.lock:" not in result.stderr  # the lock is as committed; only the file lies
    assert result.stderr.rstrip().endswith("run `make run` and commit dvc.lock and metrics/")


def test_dvc_accepts_what_conveyor_check_asks_to_write(project: Project) -> None:
    """One stage running `conveyor check`, tracking every params key the real stages track."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    tracked = list(dict.fromkeys(key for stage in stages.values() for key in stage["params"]))
    definition = {"stages": {"check": {"cmd": "conveyor check", "params": tracked}}}
    (project.root / "dvc.yaml").write_text(yaml.safe_dump(definition))
    params = churn_params()  # leaves out evaluate, export, gates and model.threshold
    project.write_params(params)
    dvc(project.root, "init", "--no-scm")
    assert "are missing from 'params.yaml'" in dvc(project.root, "repro", succeed=False)
    refused = run_conveyor("check", cwd=project.root)
    assert refused.code == 2
    assert "add `evaluate: {}` to use the defaults" in refused.stderr
    assert "add `threshold: 0.5` under `model`" in refused.stderr
    params["model"]["threshold"] = 0.5
    project.write_params({**params, "evaluate": {}, "export": {}, "gates": {}})
    assert stages_run(dvc(project.root, "repro")) == ["check"]
