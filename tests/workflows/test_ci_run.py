"""ci.yml's pipeline job on a pull request, run once by act, unnarrowed, as GitHub runs it.

On a copy holding only git-tracked files (no `models/`), so an ordering or missing-output bug
fails the suite: its test step runs every suite but the workflow tests themselves (no
recursion) and the container tests (no engine under act). The title and branch carry shell
metacharacters, so the same run proves nothing from the event reaches a shell. The DVC cache
is warm, as a pull request's runs find the one an earlier run saved for the same dvc.lock:
`make run` checks the outputs out of it. The cold path, every stage from scratch and checked
against the committed lock at a new commit, is release.yml's run (tests/workflows/test_act.py).

A module of its own: this run takes most of `make test`'s time, and `make test` runs the
workflow and container tests in two lanes by file (pytest-xdist `--dist loadfile`), this file
alone in the first.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conveyor.stages import STAGES
from tests.conftest import BIN, ROOT
from tests.workflows.act import (
    ANSI,
    INJECTION_MARKER,
    SUITES,
    ActRun,
    hash_files,
    head_sha,
    make_project,
    pull_request_event,
    pytest_outcomes,
    run_act,
    step_ok,
)

pytestmark = pytest.mark.workflows


@pytest.fixture(scope="module")
def pr_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, ActRun]:
    Path(INJECTION_MARKER).unlink(missing_ok=True)
    base = tmp_path_factory.mktemp("act-pr")
    project = make_project(base / "project")
    sha = head_sha(project)
    run = run_act(
        project, base / "scratch", event="pull_request", workflow="ci.yml",
        payload=pull_request_event(sha), job="pipeline", timeout=2400,
        env={"STANDIN_RESTORE_DVC_CACHE": str(ROOT / ".dvc" / "cache")},
    )  # fmt: skip
    return project, sha, run


def _failures(output: str) -> str:
    """The short summary lines of the tests that failed inside the act run, if any."""
    return "\n".join(
        line.split("| ", 1)[-1]
        for line in ANSI.sub("", output).splitlines()
        if "| FAILED " in line or "| ERROR " in line
    )


def _suites_collected() -> int:
    """How many tests `make suites` selects: what CI's test step must run, all of them."""
    completed = subprocess.run(
        [str(BIN / "pytest"), "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", SUITES],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTEST_ADDOPTS": ""},
    )  # fmt: skip
    found = re.search(r"(\d+)(?:/\d+)? tests? collected", completed.stdout)
    assert found, completed.stdout[-2000:] + completed.stderr[-2000:]
    return int(found.group(1))


def test_ci_on_a_pull_request_runs_every_step_unnarrowed(
    pr_run: tuple[Path, str, ActRun],
) -> None:
    project, _, run = pr_run
    assert run.code == 0, _failures(run.output) or run.output[-8000:]
    for step in (
        "Set up", "Pull data and cached outputs from the DVC remote", "Run the pipeline",
        "Check the committed dvc.lock and metrics", "Enforce the quality gates",
        "Fetch the champion", "Enforce the margins against the champion",
        "Unit, pipeline, data, slice, fairness, parity and serving tests",
        "Compare with the base branch", "Upload the report",
        "Build and smoke-test the serving image",
    ):  # fmt: skip
        assert step_ok(run, step), step
    # The container tests need an engine that act's docker stand-in is not.
    assert not step_ok(run, "Container tests")
    assert "the committed outputs are what the pipeline produced (dvc.lock" in run.output
    # A clean checkout has no outputs: `make run` checked every stage's out of the cache.
    assert "cache stand-in: restored .dvc/cache" in run.output
    for stage in STAGES:
        restored = f"Stage '{stage}' is cached - skipping run, checking out outputs"
        assert restored in run.output, stage
    assert "verdict: PASS" in run.output
    # The test step ran every test `make suites` selects, none deselected by the test harness.
    outcomes = pytest_outcomes(run.output)
    assert outcomes.get("passed") == _suites_collected(), outcomes
    assert not outcomes.keys() & {"failed", "error", "errors"}, outcomes
    assert "smoke test passed" in run.output
    builds = run.called("docker", "build")
    assert builds and "localhost/conveyor-serve:ci" in builds[0]["args"]
    # The caches are keyed on the lock files, so a changed dvc.lock restores no stale outputs.
    assert {c["args"][0] for c in run.called("cache")} == {
        f"uv-Linux-3.11-{hash_files(project / 'uv.lock')}",
        f"dvc-Linux-{hash_files(project / 'dvc.lock')}",
    }


def test_the_report_artifact_holds_the_report_and_the_pr_number(
    pr_run: tuple[Path, str, ActRun],
) -> None:
    _, _, run = pr_run
    report = run.artifacts / "report"
    assert (report / "pr-number.txt").read_text() == "7"
    text = (report / "report.md").read_text()
    assert text.startswith("## Conveyor model report")
    assert "All blocking gates pass" in text
    assert (report / "metrics" / "gates.json").exists()
    # No release here (gh answers "release not found"): the champion is the base branch's
    # model, from the DVC cache, judged on the same rows and shown in the report.
    comparison = json.loads((report / "reports" / "comparison.json").read_text())
    assert comparison["champion"]["source"] == "git" and comparison["skipped"] is None
    assert comparison["verdict"]["verdict"] == "pass"
    assert "### Against the champion" in text and "```mermaid" in text


def test_a_pull_request_title_with_shell_metacharacters_changes_nothing(
    pr_run: tuple[Path, str, ActRun],
) -> None:
    assert pr_run[2].code == 0
    assert not Path(INJECTION_MARKER).exists()
