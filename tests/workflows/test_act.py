"""The real workflow files, run by nektos/act in host mode against stand-ins.

What runs for real: every step's shell, the expressions and conditions, the step order, the
pipeline (`dvc repro`), the gates, the report, and the image smoke test against a real server
(the docker stand-in starts `conveyor-serve` natively). What is substituted: third-party
actions (by SHA) and the tools that need GitHub or a registry (gh, npx/CML, docker), which
record what they were asked to do.

Under act the test steps run a small selection of the suite (PYTEST_ADDOPTS), never the
workflow tests themselves, so nothing recurses and the whole test command stays short.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.workflows.act import (
    ACTION_DIRS,
    ActRun,
    hash_files,
    head_sha,
    make_project,
    pinned_actions,
    run_act,
)

pytestmark = pytest.mark.workflows

SELECTION = {"PYTEST_ADDOPTS": "-k 'test_repository_params_are_valid or test_gate'"}
MARKER = "/tmp/conveyor-act-injected"
TITLE = f'"; touch {MARKER}; echo "$(touch {MARKER})`touch {MARKER}`'


def _pull_request(sha: str, number: int = 7) -> dict[str, Any]:
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "title": TITLE,
            "head": {"sha": sha, "ref": f"feature/$(touch {MARKER})"},
            "base": {"ref": "main"},
        },
        "repository": {"default_branch": "main", "full_name": "conveyor-ml/conveyor"},
    }


def _workflow_run(sha: str, run_id: int = 4242) -> dict[str, Any]:
    return {
        "action": "completed",
        "workflow_run": {
            "id": run_id,
            "event": "pull_request",
            "conclusion": "success",
            "head_sha": sha,
            "pull_requests": [],
        },
        "repository": {"full_name": "conveyor-ml/conveyor"},
    }


def _step_ok(run: ActRun, step: str) -> bool:
    return f"✅  Success - Main {step}" in run.output


@pytest.fixture(scope="module")
def pr_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, ActRun]:
    """ci.yml, both jobs, on a pull request whose title and branch carry shell metacharacters."""
    Path(MARKER).unlink(missing_ok=True)
    base = tmp_path_factory.mktemp("act-pr")
    project = make_project(base / "project")
    sha = head_sha(project)
    run = run_act(
        project, base / "scratch", event="pull_request", workflow="ci.yml",
        payload=_pull_request(sha), env=SELECTION,
    )  # fmt: skip
    return project, sha, run


def test_every_third_party_action_has_a_stand_in() -> None:
    assert {name for name, _ in pinned_actions()} <= set(ACTION_DIRS)


def test_ci_on_a_pull_request_runs_every_step_of_both_jobs(
    pr_run: tuple[Path, str, ActRun],
) -> None:
    project, _, run = pr_run
    assert run.code == 0, run.output[-5000:]
    for step in (
        "Ruff and mypy", "Workflow and Dockerfile checks",
        "Set up", "Unit and pipeline tests", "Run the pipeline",
        "Data, slice, fairness, parity and serving tests", "Compare with the base branch",
        "Upload the report", "Enforce the quality gates", "Build the serving image",
        "Smoke-test the image",
    ):  # fmt: skip
        assert _step_ok(run, step), step
    assert "Running stage 'evaluate'" in run.output
    assert "verdict: PASS" in run.output
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


def test_a_pull_request_title_with_shell_metacharacters_changes_nothing(
    pr_run: tuple[Path, str, ActRun],
) -> None:
    assert pr_run[2].code == 0
    assert not Path(MARKER).exists()


def _report_run(
    pr_run: tuple[Path, str, ActRun], tmp_path: Path, *, number: str, pulls: dict[str, str],
    env: dict[str, str] | None = None,
) -> ActRun:  # fmt: skip
    project, sha, first = pr_run
    artifacts = tmp_path / "scratch" / "artifacts"
    shutil.copytree(first.artifacts, artifacts)
    (artifacts / "report" / "pr-number.txt").write_text(number)
    return run_act(
        project, tmp_path / "scratch", event="workflow_run", workflow="pr-report.yml",
        payload=_workflow_run(sha), pulls=pulls, env=env,
    )  # fmt: skip


def test_the_report_is_posted_to_its_pull_request(
    pr_run: tuple[Path, str, ActRun], tmp_path: Path
) -> None:
    sha = pr_run[1]
    run = _report_run(pr_run, tmp_path, number="7", pulls={"7": sha})
    assert run.code == 0, run.output[-4000:]
    (cml,) = run.called("npx")
    assert cml["args"][:4] == ["--yes", "@dvcorg/cml@0.20.6", "comment", "update"]
    assert "--target=pr/7" in cml["args"]
    assert "--watermark-title=Conveyor model report" in cml["args"]
    assert "--publish=false" in cml["args"]
    assert cml["telemetry"] == "1"
    assert cml["body"].startswith("## Conveyor model report")
    assert run.called("download-artifact")[0]["args"][2] == "4242"
    assert not run.called("gh", "pr", "comment")


def test_without_cml_the_report_is_posted_with_gh(
    pr_run: tuple[Path, str, ActRun], tmp_path: Path
) -> None:
    sha = pr_run[1]
    run = _report_run(pr_run, tmp_path, number="7", pulls={"7": sha}, env={"STANDIN_CML_FAIL": "1"})
    assert run.code == 0, run.output[-4000:]
    (comment,) = run.called("gh", "pr", "comment")
    assert comment["args"][2] == "7"
    assert "--edit-last" in comment["args"] and "--create-if-none" in comment["args"]
    assert comment["body"].startswith("## Conveyor model report")


@pytest.mark.parametrize(
    ("number", "pulls"),
    [
        ("8", {"8": "0" * 40}),  # another pull request, at another commit
        ("7; touch /tmp/conveyor-act-injected", {}),  # not a number
        ("99", {}),  # no such pull request
    ],
    ids=["forged-number", "shell-in-number", "unknown-number"],
)
def test_a_forged_pr_number_is_refused(
    pr_run: tuple[Path, str, ActRun], tmp_path: Path, number: str, pulls: dict[str, str]
) -> None:
    run = _report_run(pr_run, tmp_path, number=number, pulls=pulls)
    assert run.code != 0
    assert not run.called("npx")
    assert not run.called("gh", "pr", "comment")
    assert not Path(MARKER).exists()


def test_a_model_that_fails_a_gate_fails_ci_on_push(tmp_path: Path) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["gates"]["overall"]["roc_auc"] = {"min": 0.99}
    project = make_project(tmp_path / "project", {"params.yaml": yaml.safe_dump(params)})
    payload = {"ref": "refs/heads/feature", "after": head_sha(project),
               "repository": {"default_branch": "main"}}  # fmt: skip
    run = run_act(project, tmp_path / "scratch", event="push", workflow="ci.yml",
                  payload=payload, job="pipeline", env=SELECTION)  # fmt: skip
    assert run.code != 0
    # The gate tests catch it first; the gate step itself never runs, nor does the image build.
    assert "❌  Failure - Main Data, slice, fairness, parity and serving tests" in run.output
    assert "roc_auc 0.93 < 0.99" in run.output
    assert not _step_ok(run, "Enforce the quality gates")
    report = run.artifacts / "report"
    assert (report / "pr-number.txt").read_text() == ""
    assert "❌ **Blocked**" in (report / "report.md").read_text()
    assert not run.called("docker", "build")


def _release_for_act() -> str:
    """release.yml without the `artifact-metadata` permission, which act's schema rejects.

    GitHub needs that key for actions/attest v4, and act ignores permissions anyway, so only
    the line act cannot parse goes; the test fails if the key is ever dropped upstream.
    """
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    kept = [line for line in text.splitlines(keepends=True) if "artifact-metadata:" not in line]
    assert len(kept) == len(text.splitlines()) - 1, "release.yml lost artifact-metadata: write"
    return "".join(kept)


def test_release_builds_tags_pushes_attests_and_publishes(tmp_path: Path) -> None:
    edit = {".github/workflows/release.yml": _release_for_act()}
    project = make_project(tmp_path / "project", edit)
    sha = head_sha(project)
    repository = {"default_branch": "main", "full_name": "Conveyor-ML/Conveyor"}
    payload = {"ref": "refs/heads/main", "after": sha, "repository": repository}
    run = run_act(project, tmp_path / "scratch", event="push", workflow="release.yml",
                  payload=payload, env=SELECTION)  # fmt: skip
    assert run.code == 0, run.output[-5000:]
    assert "Running stage 'prepare'" in run.output  # --force: nothing reused
    assert not run.called("cache"), "a publishing job restores no cache"
    image = "ghcr.io/conveyor-ml/conveyor"
    builds = run.called("build-push")
    assert [b["args"][0] for b in builds] == ["push=false", "push=true"]
    pushed = builds[1]["args"]
    assert f"{image}:sha-{sha}" in pushed and f"{image}:latest" in pushed
    assert "sbom=true" in pushed and "provenance=mode=max" in pushed
    assert "smoke test passed" in run.output
    assert run.called("login")[0]["args"] == ["ghcr.io"]
    attested = [c["args"] for c in run.called("attest")]
    assert attested[0][0] == image and attested[0][1].startswith("sha256:")
    assert attested[1][2] == "models/model.onnx"
    assert run.called("trivy")[0]["args"][0] == f"{image}@{attested[0][1]}"
    (release,) = run.called("gh", "release", "create")
    for asset in ("models/model.onnx", "models/signature.json", "models/MODEL_CARD.md",
                  "metrics/metrics.json"):  # fmt: skip
        assert asset in release["args"]
    assert release["args"][2].startswith("model-") and release["args"][2].endswith(sha[:7])


def test_rollback_repoints_latest_without_building(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    tag = "sha-" + "a" * 40
    payload = {"inputs": {"tag": tag}, "repository": {"full_name": "conveyor-ml/conveyor"}}
    run = run_act(project, tmp_path / "scratch", event="workflow_dispatch",
                  workflow="rollback.yml", payload=payload)  # fmt: skip
    assert run.code == 0, run.output[-4000:]
    (create,) = run.called("docker", "buildx", "imagetools", "create")
    image = "ghcr.io/conveyor-ml/conveyor"
    assert create["args"][3:] == ["--tag", f"{image}:latest", f"{image}:{tag}"]
    assert not run.called("build-push")
    bad = run_act(project, tmp_path / "bad", event="workflow_dispatch", workflow="rollback.yml",
                  payload={"inputs": {"tag": "latest; rm -rf /"}})  # fmt: skip
    assert bad.code != 0
    assert not bad.called("docker", "buildx")
