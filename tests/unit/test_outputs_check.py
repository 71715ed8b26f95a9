"""`conveyor check-outputs` against git, in a tiny repository made by hand (no pipeline run:
tests/pipeline/test_dvc.py checks the real one)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conveyor import cli

DVC_YAML = {
    "stages": {
        "evaluate": {
            "cmd": "conveyor evaluate",
            "params": ["evaluate"],
            "metrics": [{"metrics/metrics.json": {"cache": False}}],
            "plots": [{"plots/roc.csv": {"cache": False}}],
        }
    }
}
LOCK = {
    "schema": "2.0",
    "stages": {
        "evaluate": {
            "cmd": "conveyor evaluate",
            "outs": [
                {"path": "metrics/metrics.json", "hash": "md5", "md5": "aa", "size": 1},
                {"path": "plots/roc.csv", "hash": "md5", "md5": "bb", "size": 1},
            ],
        }
    },
}
METRICS = {"roc_auc": 0.93, "rows": 100}


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def _write(root: Path, name: str, text: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A committed project in `project/` of a git repository (a sub-folder, as in a monorepo)."""
    root = tmp_path / "project"
    _write(root, "dvc.yaml", yaml.safe_dump(DVC_YAML))
    _write(root, "dvc.lock", yaml.safe_dump(LOCK))
    _write(root, "params.yaml", "evaluate: {}\n")
    _write(root, "metrics/metrics.json", json.dumps(METRICS))
    _write(root, "plots/roc.csv", "fpr,tpr\n0,0\n1,1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "outputs")
    return root


def _check(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["check-outputs", "--params", str(root / "params.yaml")])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_unchanged_outputs_pass(repository: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = _check(repository, capsys)
    assert code == 0, output
    assert "the committed outputs are what the pipeline produced" in output


def test_a_changed_hash_of_a_value_output_passes_when_its_values_match(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = yaml.safe_load((repository / "dvc.lock").read_text())
    lock["stages"]["evaluate"]["outs"][0]["md5"] = "other"
    _write(repository, "dvc.lock", yaml.safe_dump(lock))
    _write(repository, "metrics/metrics.json", json.dumps({**METRICS, "roc_auc": 0.9300000004}))
    _write(repository, "plots/roc.csv", "fpr,tpr\n0,0.0000001\n1,1\n")
    assert _check(repository, capsys)[0] == 0


def test_edited_metrics_fail_naming_the_file_and_key(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(repository, "metrics/metrics.json", json.dumps({**METRICS, "roc_auc": 0.99}))
    _write(repository, "plots/roc.csv", "fpr,tpr\n0,0.5\n1,1\n")
    code, output = _check(repository, capsys)
    assert code == 1
    assert "metrics/metrics.json: roc_auc: committed 0.93, produced 0.99" in output
    assert "plots/roc.csv: row 1, column tpr: committed '0', produced '0.5'" in output
    assert output.rstrip().endswith("run `make run` and commit dvc.lock and metrics/")


def test_a_changed_lock_fails(repository: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = yaml.safe_load((repository / "dvc.lock").read_text())
    lock["stages"]["evaluate"]["cmd"] = "conveyor evaluate --verbose"
    _write(repository, "dvc.lock", yaml.safe_dump(lock))
    code, output = _check(repository, capsys)
    assert code == 1
    assert "dvc.lock: stages.evaluate.cmd: committed 'conveyor evaluate'" in output


def test_uncommitted_inputs_skip_the_check(
    repository: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)  # on a developer's machine
    _write(repository, "metrics/metrics.json", json.dumps({**METRICS, "roc_auc": 0.99}))
    _write(repository, "params.yaml", "evaluate: {curve_points: 50}\n")
    _write(repository, "notes.txt", "untracked files are not inputs\n")
    code, output = _check(repository, capsys)
    assert code == 0
    assert output.startswith("skipped: tracked inputs have uncommitted changes (params.yaml)")


def test_in_ci_uncommitted_inputs_are_an_error_not_a_skip(
    repository: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI checks out a commit: a check that compared nothing there would hide a broken step."""
    monkeypatch.setenv("CI", "true")
    _write(repository, "params.yaml", "evaluate: {curve_points: 50}\n")
    code, output = _check(repository, capsys)
    assert code == 1
    assert output.startswith("error: tracked inputs have uncommitted changes (params.yaml)")


def test_outside_a_git_repository_it_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, "dvc.yaml", yaml.safe_dump(DVC_YAML))
    code, output = _check(tmp_path, capsys)
    assert code == 2
    assert "is not inside a git repository" in output
