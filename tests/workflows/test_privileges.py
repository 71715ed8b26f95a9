"""The least-privilege rule of DESIGN.md, read from the workflow files: a job that runs build
tools (make, dvc, pytest, or the setup action, which runs `make setup`) holds no write
permission and no cloud write key. Build tools run code from the repository and its
dependencies; a write token or key beside them is one compromised package away from the
repository, the registry or the data. The release path's shape (who publishes, who moves a
lane, who holds the DVC write key) and retrain.yml's (who may write, what the schedule races
against)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# A command word at the start of a line or after a shell separator.
BUILD_TOOL = re.compile(r"(?:^|[;&|(`]|\$\()\s*(make|dvc|pytest)(?=\s|$)", re.M)
SETUP_ACTION = "./.github/actions/setup"
# Secrets that write to the cloud: the DVC write key, or AWS keys under their generic names.
# Pull-only keys are named DVC_READ_* (README, "Configure a DVC remote").
CLOUD_WRITE_KEY = re.compile(r"secrets\.(\w*_WRITE_\w*|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)\b")


def writes(job: dict[str, Any]) -> list[str]:
    """The write permissions a job holds (`write-all` counts as one)."""
    permissions = job.get("permissions", {})
    if isinstance(permissions, str):
        return [permissions] if "write" in permissions else []
    return [scope for scope, level in permissions.items() if level == "write"]


def build_tools(job: dict[str, Any]) -> list[str]:
    """What in a job's steps runs a build tool: the tool's name, or the setup action."""
    found = []
    for step in job.get("steps", []):
        found += BUILD_TOOL.findall(step.get("run", ""))
        if step.get("uses", "") == SETUP_ACTION:
            found.append(SETUP_ACTION)
    return sorted(set(found))


def cloud_keys(job: dict[str, Any]) -> list[str]:
    """The cloud write keys a job's environment or its steps' environments receive."""
    places = [job.get("env", {}), *(step.get("env", {}) for step in job.get("steps", []))]
    return sorted({key for env in places for key in CLOUD_WRITE_KEY.findall(str(env))})


def breaches(document: dict[str, Any]) -> list[str]:
    found = []
    for name, job in document.get("jobs", {}).items():
        tools = build_tools(job)
        if tools and writes(job):
            found.append(
                f"job {name} holds {', '.join(writes(job))}: write and runs {', '.join(tools)}"
            )
        if tools and cloud_keys(job):
            found.append(
                f"job {name} holds {', '.join(cloud_keys(job))} and runs {', '.join(tools)}"
            )
    return found


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_no_job_that_runs_build_tools_can_write(workflow: Path) -> None:
    assert breaches(yaml.safe_load(workflow.read_text())) == []


BAD = """
jobs:
  build:
    permissions: {contents: write}
    steps:
      - uses: ./.github/actions/setup
      - run: |
          echo hi && make run
          x=$(dvc metrics show)
  test:
    permissions: write-all
    steps:
      - run: cd tests; pytest -q
  readonly:
    permissions: {contents: read}
    steps:
      - run: make run
  words:
    permissions: {contents: write}
    steps:
      - run: echo "make it so"; git commit -m "dvc.lock and pytest.ini"
  keyed:
    permissions: {contents: read}
    env:
      AWS_ACCESS_KEY_ID: ${{ secrets.DVC_WRITE_ACCESS_KEY_ID }}
    steps:
      - run: dvc push
  reader:
    permissions: {contents: read}
    env:
      AWS_ACCESS_KEY_ID: ${{ secrets.DVC_READ_ACCESS_KEY_ID }}
    steps:
      - run: dvc pull
"""


def test_the_check_catches_a_build_job_with_a_write_token() -> None:
    assert breaches(yaml.safe_load(BAD)) == [
        f"job build holds contents: write and runs {SETUP_ACTION}, dvc, make",
        "job test holds write-all: write and runs pytest",
        "job keyed holds DVC_WRITE_ACCESS_KEY_ID and runs dvc",
    ]


def _retrain() -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load((ROOT / ".github/workflows/retrain.yml").read_text())
    return document


def test_retrain_runs_weekly_and_by_hand_one_at_a_time() -> None:
    document = _retrain()
    triggers = document[True]  # YAML 1.1 reads `on` as true
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    (schedule,) = triggers["schedule"]
    assert len(schedule["cron"].split()) == 5 and schedule["cron"].split()[4] != "*"
    assert document["concurrency"] == {"group": "retrain", "cancel-in-progress": False}


def test_only_the_job_that_runs_no_build_tool_writes_to_the_repository() -> None:
    jobs = _retrain()["jobs"]
    writing = {name: sorted(writes(job)) for name, job in jobs.items() if writes(job)}
    assert writing == {"propose": ["contents", "pull-requests"]}
    assert jobs["retrain"]["permissions"] == {"contents": "read"}
    assert build_tools(jobs["propose"]) == []
    steps = "\n".join(step.get("run", "") for step in jobs["propose"]["steps"])
    assert 'git push --force origin "HEAD:refs/heads/$BRANCH"' in steps
    assert _retrain()["env"]["BRANCH"] == "conveyor/retrain"


@pytest.mark.parametrize(
    ("workflow", "environment"), [("retrain.yml", "retrain"), ("release.yml", "release")]
)
def test_the_dvc_write_key_reaches_one_step_that_runs_the_aws_cli_alone(
    workflow: str, environment: str
) -> None:
    text = (ROOT / ".github/workflows" / workflow).read_text()
    assert text.count("secrets.DVC_WRITE_") == 2
    jobs = yaml.safe_load(text)["jobs"]
    holders = [
        (name, step)
        for name, job in jobs.items()
        for step in job.get("steps", [])
        if "DVC_WRITE_" in str(step.get("env", {}))
    ]
    ((name, step),) = holders
    assert (
        name == "push-data"
        and step["run"] == 'scripts/dvc-remote.sh upload "$RUNNER_TEMP/dvc-objects"'
    )
    assert jobs["push-data"]["environment"] == environment
    assert writes(jobs["push-data"]) == [] and build_tools(jobs["push-data"]) == []
    assert "DVC_WRITE_" not in str(jobs["push-data"].get("env", {}))


def _jobs(workflow: str) -> dict[str, Any]:
    jobs: dict[str, Any] = yaml.safe_load((ROOT / ".github/workflows" / workflow).read_text())[
        "jobs"
    ]
    return jobs


def test_in_the_release_only_publish_writes_and_lanes_move_by_one_workflow() -> None:
    jobs = _jobs("release.yml")
    writing = {name: sorted(writes(job)) for name, job in jobs.items() if writes(job)}
    assert writing == {
        "publish": ["artifact-metadata", "attestations", "contents", "id-token", "packages"],
        # A lane move (lane.yml): re-point a tag and record the deployment, nothing else.
        "staging": ["deployments", "packages"],
    }
    assert build_tools(jobs["publish"]) == [] and jobs["build"]["permissions"] == {
        "contents": "read"
    }
    # Promotion and rollback are lane.yml too, with the same two write scopes and no more.
    for workflow in ("staging", "promote.yml", "rollback.yml"):
        job = jobs["staging"] if workflow == "staging" else next(iter(_jobs(workflow).values()))
        assert job["uses"] == "./.github/workflows/lane.yml", workflow
        assert sorted(writes(job)) == ["deployments", "packages"], workflow
    lane = _jobs("lane.yml")
    assert writes(lane["verify"]) == [] and sorted(writes(lane["move"])) == [
        "deployments",
        "packages",
    ]
    assert lane["move"]["environment"] == "${{ inputs.lane }}"
    # Nothing cancels a release, and a lane moves one run at a time.
    assert "concurrency" not in yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    assert lane["move"]["concurrency"] == {
        "group": "lane-${{ inputs.lane }}",
        "cancel-in-progress": False,
    }
