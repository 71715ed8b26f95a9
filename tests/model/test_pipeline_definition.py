"""`dvc.yaml` tells the truth: each stage depends on exactly the code it runs and declares
every file it writes. A stale dep list is how a pipeline silently serves an old model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conveyor.paths import ProjectPaths
from conveyor.provenance import stage_code
from conveyor.stages import STAGES
from tests.conftest import ROOT

SOURCE = ROOT / "src"


def _stages() -> dict[str, Any]:
    stages: dict[str, Any] = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return stages


def _covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(ROOT)
    return any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_depends_on_exactly_the_code_it_imports(stage: str) -> None:
    deps: list[str] = _stages()[stage]["deps"]
    code = stage_code(f"conveyor.stages.{stage}", SOURCE)
    missing = sorted(str(p.relative_to(ROOT)) for p in code if not _covered(p, deps))
    assert not missing, f"dvc.yaml stage {stage!r} lacks deps {missing}"
    code_deps = [dep for dep in deps if dep.startswith("src/")]
    unused = [dep for dep in code_deps if not any(_covered(p, [dep]) for p in code)]
    assert not unused, f"dvc.yaml stage {stage!r} depends on code it never imports: {unused}"


def _declared_outputs(stage: dict[str, Any]) -> set[str]:
    """The files a dvc.yaml stage declares it writes: outs, metrics and plots."""
    entries = [entry for key in ("outs", "metrics", "plots") for entry in stage.get(key, [])]
    return {next(iter(entry)) if isinstance(entry, dict) else entry for entry in entries}


@pytest.mark.parametrize("stage", STAGES)
def test_dvc_yaml_declares_exactly_the_paths_the_stage_writes(stage: str) -> None:
    written = ProjectPaths(ROOT).stage_outputs()[stage]
    expected = {str(path.relative_to(ROOT)) for path in written}
    assert _declared_outputs(_stages()[stage]) == expected


def test_every_stage_is_a_cli_command() -> None:
    assert list(_stages()) == list(STAGES) == list(ProjectPaths(ROOT).stage_outputs())
    assert all(_stages()[name]["cmd"] == f"conveyor {name}" for name in STAGES)
