"""scripts/refresh-data.sh (`make refresh-data`), the template's default data hook, outside
act: what it does with no data configured, with a file it cannot use, and with a name that is
not a source. The act run of retrain.yml (test_retrain.py) shows a good file replacing the
source and its checksum pin, and identical content changing nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conveyor.config import load_settings
from tests.conftest import BIN, copy_repository

SCRIPT = "scripts/refresh-data.sh"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repository(tmp_path_factory.mktemp("refresh") / "project")


def refresh(
    project: Path, tmp_path: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the hook; return the process and what it wrote to $GITHUB_OUTPUT."""
    output = tmp_path / "github-output"
    output.touch()
    completed = subprocess.run(
        ["bash", SCRIPT], cwd=project, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
             "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
             **env},
    )  # fmt: skip
    return completed, output.read_text()


def _unchanged(project: Path) -> bool:
    return subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True,
                          text=True, check=True).stdout == ""  # fmt: skip


def test_no_fresh_data_configured_is_a_notice_not_an_error(project: Path, tmp_path: Path) -> None:
    completed, output = refresh(project, tmp_path, CONVEYOR_FRESH_DATA="")
    assert completed.returncode == 0, completed.stderr
    assert "::notice title=No fresh data::CONVEYOR_FRESH_DATA is not set" in completed.stderr
    assert output == "changed=false\n"
    assert "No fresh data configured" in (tmp_path / "summary").read_text()
    assert _unchanged(project)


def test_a_file_in_another_layout_is_refused_and_nothing_replaced(
    project: Path, tmp_path: Path
) -> None:
    settings = load_settings(project / "params.yaml")
    source = settings.data.sources[0].path
    bad = tmp_path / f"fresh{''.join(source.suffixes)}"
    bad.write_bytes(b"not, a, gzip, file\n")
    completed, output = refresh(project, tmp_path, CONVEYOR_FRESH_DATA=str(bad))
    assert completed.returncode != 0
    assert f"the fresh data ({bad}) is not in the layout params.yaml describes for {source}" in (
        completed.stderr
    )
    assert "not a valid gzip file" in completed.stderr
    assert output == "" and _unchanged(project)


def test_a_target_that_is_not_a_source_is_refused(project: Path, tmp_path: Path) -> None:
    settings = load_settings(project / "params.yaml")
    fresh = project / settings.data.sources[0].path
    completed, _ = refresh(project, tmp_path, CONVEYOR_FRESH_DATA=str(fresh),
                           CONVEYOR_FRESH_DATA_TARGET="data/raw/elsewhere.csv")  # fmt: skip
    assert completed.returncode != 0
    listed = ", ".join(str(s.path) for s in settings.data.sources)
    assert f"expected one of params.yaml's data.sources: {listed}" in completed.stderr
    assert _unchanged(project)


def test_a_missing_file_is_named(project: Path, tmp_path: Path) -> None:
    completed, _ = refresh(project, tmp_path, CONVEYOR_FRESH_DATA=str(tmp_path / "nope.csv"))
    assert completed.returncode == 2
    assert f"CONVEYOR_FRESH_DATA names {tmp_path / 'nope.csv'}, which is not a file" in (
        completed.stderr
    )
