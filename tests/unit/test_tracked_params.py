"""A params.yaml that DVC would refuse is refused first, by `conveyor check` and every stage,
with what to write. (tests/pipeline/test_dvc.py shows the real dvc accepts the fixes.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conveyor import cli
from conveyor.config import parse_settings
from conveyor.errors import ConfigError
from conveyor.stages import STAGES as PIPELINE_STAGES
from conveyor.tracked_params import check_tracked_params, fix_for, missing_keys, tracked_keys
from tests.conftest import ROOT, Project, churn_params

STAGES: dict[str, Any] = {
    "prepare": {"params": ["data", "split"]},
    "evaluate": {"params": ["data.slice_columns", "model.threshold", "evaluate"]},
    "export": {"params": ["model.threshold", {"params.yaml": ["export"]}, {"other.yaml": ["x"]}]},
    "report": {"params": [{"params.yaml": None}]},  # the whole file: no particular key
}


def _defaults() -> dict[str, Any]:
    return parse_settings(churn_params()).model_dump(mode="json")


def test_tracked_keys_name_their_stages_and_skip_other_files() -> None:
    assert tracked_keys(STAGES, Path("params.yaml")) == {
        "data": ("prepare",),
        "split": ("prepare",),
        "data.slice_columns": ("evaluate",),
        "model.threshold": ("evaluate", "export"),
        "evaluate": ("evaluate",),
        "export": ("export",),
    }
    assert tracked_keys(STAGES, Path("other.yaml")) == {"x": ("export",)}


@pytest.mark.parametrize(
    ("key", "sections", "fix"),
    [
        ("evaluate", {}, "add `evaluate: {}` to use the defaults"),
        ("model.threshold", {}, "add `threshold: 0.5` under `model` (the default)"),
        ("export.target_opset", {}, "add `export: {target_opset: 17}` (the default)"),
        ("gates.bootstrap", {"gates": {}}, "add `bootstrap: {}` under `gates` to use the defaults"),
        (
            "model.hyperparameters.max_iter",
            {},
            "add `max_iter: <value>` under `model.hyperparameters`; Conveyor has no default",
        ),
    ],
)
def test_each_fix_says_what_to_write_and_where(
    key: str, sections: dict[str, Any], fix: str
) -> None:
    raw = {**churn_params(), **sections}
    assert fix_for(key, raw, parse_settings(raw).model_dump(mode="json")).startswith(fix)


def test_a_list_leaf_gets_its_default_list() -> None:
    raw = churn_params()
    del raw["data"]["slice_columns"]
    defaults = parse_settings(raw).model_dump(mode="json")
    assert fix_for("data.slice_columns", raw, defaults) == (
        "add `slice_columns: []` under `data` (the default)"
    )


def test_only_absent_keys_are_missing() -> None:
    raw = churn_params()  # has data and data.slice_columns; lacks the rest
    missing = missing_keys(raw, _defaults(), tracked_keys(STAGES, Path("params.yaml")))
    assert [item.key for item in missing] == ["model.threshold", "evaluate", "export"]
    assert missing[0].describe() == (
        "model.threshold (tracked by stages evaluate, export): "
        "add `threshold: 0.5` under `model` (the default)"
    )


def test_the_error_names_both_files_and_every_missing_key() -> None:
    with pytest.raises(ConfigError) as caught:
        check_tracked_params(
            churn_params(), _defaults(), STAGES, Path("p/params.yaml"), Path("p/dvc.yaml")
        )
    message = str(caught.value)
    assert message.startswith("p/params.yaml lacks keys that the stages in p/dvc.yaml track")
    assert "  evaluate (tracked by stage evaluate): add `evaluate: {}`" in message
    assert "  export (tracked by stage export): add `export: {}`" in message


def _project_with_dvc_yaml(project: Project, params: dict[str, Any]) -> Project:
    (project.root / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    project.write_params(params)
    return project


def test_check_refuses_what_dvc_would_refuse(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _project_with_dvc_yaml(project, churn_params())
    assert cli.main(["check", "--params", str(project.params)]) == 2
    error = capsys.readouterr().err
    for line in (
        "model.threshold (tracked by stages evaluate, export): add `threshold: 0.5` under `model`",
        "evaluate (tracked by stage evaluate): add `evaluate: {}` to use the defaults",
        "gates (tracked by stage evaluate): add `gates: {}` to use the defaults",
        "export (tracked by stage export): add `export: {}` to use the defaults",
    ):
        assert f"  {line}" in error


@pytest.mark.parametrize("stage", [*PIPELINE_STAGES, "gate", "report"])
def test_every_command_that_loads_params_refuses_it(
    project: Project, stage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _project_with_dvc_yaml(project, churn_params())
    assert cli.main([stage, "--params", str(project.params)]) == 2
    assert "add `evaluate: {}`" in capsys.readouterr().err


def test_check_accepts_the_fixes_and_ignores_params_without_a_dvc_yaml(project: Project) -> None:
    params = churn_params(threshold=0.5)
    project.write_params(params)
    assert cli.main(["check", "--params", str(project.params)]) == 0  # no dvc.yaml beside it
    _project_with_dvc_yaml(project, {**params, "evaluate": {}, "export": {}, "gates": {}})
    assert cli.main(["check", "--params", str(project.params)]) == 0


def test_an_unreadable_dvc_yaml_is_named(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_params(churn_params())
    (project.root / "dvc.yaml").write_text("stages: [unclosed\n")
    assert cli.main(["check", "--params", str(project.params)]) == 2
    assert f"cannot read {project.root / 'dvc.yaml'}" in capsys.readouterr().err


def test_the_repository_params_write_out_every_tracked_key() -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert missing_keys(raw, _defaults(), tracked_keys(stages, Path("params.yaml"))) == []
