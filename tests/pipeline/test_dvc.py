"""DVC owns order and caching: a no-op repro runs nothing, a model parameter re-runs only the
stages that use it, and a forced re-run reproduces the metrics to the byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_repository
from tests.pipeline.dvc import dvc, share_project_cache, stages_run

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
    assert (clone / "models" / "model.onnx").is_file()


def test_a_model_parameter_reruns_only_the_stages_that_use_it(clone: Path) -> None:
    params_path = clone / "params.yaml"
    original = params_path.read_text()
    params = yaml.safe_load(original)
    params["model"]["hyperparameters"]["max_iter"] = 50
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        # Without the run cache: an earlier run with the same value would be restored, not run.
        assert stages_run(dvc(clone, "repro", "--no-run-cache")) == ["train", "evaluate", "export"]
        assert "Data and pipelines are up to date" in dvc(clone, "status")
    finally:
        params_path.write_text(original)
        dvc(clone, "repro")


def test_forced_reruns_reproduce_every_output_byte_for_byte(clone: Path) -> None:
    outputs = [
        "metrics/metrics.json",
        "data/prepared/train.parquet",
        "models/model.skops",
        "models/model.onnx",
        "models/signature.json",
    ]
    first = dvc(clone, "repro", "--force")
    assert stages_run(first) == ["prepare", "train", "evaluate", "export"]
    before = {name: (clone / name).read_bytes() for name in outputs}
    lock = (clone / "dvc.lock").read_text()
    dvc(clone, "repro", "--force")
    assert {name: (clone / name).read_bytes() for name in outputs} == before
    assert (clone / "dvc.lock").read_text() == lock
