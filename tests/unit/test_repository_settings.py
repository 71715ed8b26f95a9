"""`make protect` (scripts/protect-main.sh) and the README's "Repository settings".

The script talks to GitHub only through `gh api`; here the recording stand-in of the workflow
tests plays gh (tests/workflows/standins/bin/gh), so each test reads the exact requests, and
their JSON bodies, that GitHub would receive. The required checks are compared with the job
names of the CI workflow as it is when the test runs, since that file changes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "protect-main.sh"
STANDINS = ROOT / "tests" / "workflows" / "standins"
CI = ROOT / ".github" / "workflows" / "ci.yml"
GITHUB_ACTIONS_APP_ID = 15368
RULESET_NAME = "Conveyor: default branch"


def protect(
    tmp_path: Path, *args: str, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the script with the gh stand-in first on PATH, recording into tmp_path."""
    env = {
        **os.environ,
        "PATH": path if path is not None else f"{STANDINS / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "STANDIN_LOG": str(tmp_path / "calls.jsonl"),
        "STANDIN_STATE": str(tmp_path),
    }
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def gh_calls(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "calls.jsonl"
    if not log.exists():
        return []
    return [c for c in map(json.loads, log.read_text().splitlines()) if c["tool"] == "gh"]


def job_names(workflow: Path) -> list[str]:
    """The check each job reports: its `name:`, else its id (GitHub's rule)."""
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    return [str(job.get("name", job_id)) for job_id, job in jobs.items()]


def rule(ruleset: dict[str, Any], kind: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in ruleset["rules"] if r["type"] == kind]
    assert len(found) == 1, f"one {kind} rule expected in {ruleset['rules']}"
    return found[0]


def test_creates_the_ruleset_ci_and_code_owners_require(tmp_path: Path) -> None:
    result = protect(tmp_path, "acme/churn-model")
    assert result.returncode == 0, result.stderr
    calls = gh_calls(tmp_path)
    posts = [c for c in calls if c["args"][:4] == ["api", "repos/acme/churn-model/rulesets",
                                                  "--method", "POST"]]  # fmt: skip
    assert len(posts) == 1, calls
    ruleset = json.loads(posts[0]["body"])
    assert ruleset["name"] == RULESET_NAME
    assert ruleset["target"] == "branch"
    assert ruleset["enforcement"] == "active"
    assert ruleset["conditions"]["ref_name"] == {"include": ["~DEFAULT_BRANCH"], "exclude": []}
    assert ruleset["bypass_actors"] == []
    rule(ruleset, "deletion")
    rule(ruleset, "non_fast_forward")
    review = rule(ruleset, "pull_request")["parameters"]
    assert review["require_code_owner_review"] is True
    assert review["required_approving_review_count"] == 1
    assert review["dismiss_stale_reviews_on_push"] is True
    checks = rule(ruleset, "required_status_checks")["parameters"]["required_status_checks"]
    assert [c["context"] for c in checks] == job_names(CI)
    assert {c["integration_id"] for c in checks} == {GITHUB_ACTIONS_APP_ID}
    for name in job_names(CI):
        assert json.dumps(name) in result.stdout, "the summary names each required check"


def test_the_workflow_token_is_made_read_only_by_default(tmp_path: Path) -> None:
    assert protect(tmp_path, "acme/churn-model").returncode == 0
    [permissions] = [
        c for c in gh_calls(tmp_path)
        if c["args"][1] == "repos/acme/churn-model/actions/permissions/workflow"
    ]  # fmt: skip
    assert permissions["args"][2:4] == ["--method", "PUT"]
    assert "default_workflow_permissions=read" in permissions["args"]
    assert "can_approve_pull_request_reviews=false" in permissions["args"]


def test_running_again_updates_the_ruleset_instead_of_adding_one(tmp_path: Path) -> None:
    (tmp_path / "rulesets.json").write_text(json.dumps([
        {"id": 3, "name": RULESET_NAME, "source_type": "Organization"},  # not this repository's
        {"id": 7, "name": "something else", "source_type": "Repository"},
        {"id": 42, "name": RULESET_NAME, "source_type": "Repository"},
    ]))  # fmt: skip
    result = protect(tmp_path, "acme/churn-model", "--approvals", "2")
    assert result.returncode == 0, result.stderr
    calls = gh_calls(tmp_path)
    writes = [c for c in calls if "rulesets" in c["args"][1] and "--method" in c["args"]]
    assert [c["args"][1:4] for c in writes] == [
        ["repos/acme/churn-model/rulesets/42", "--method", "PUT"]
    ]
    ruleset = json.loads(writes[0]["body"])
    assert rule(ruleset, "pull_request")["parameters"]["required_approving_review_count"] == 2
    assert "updated ruleset" in result.stdout


def test_the_checks_are_read_from_the_workflow_given(tmp_path: Path) -> None:
    """A job without `name:` reports its id; any rename shows up on the next run."""
    workflow = tmp_path / "ci.yml"
    workflow.write_text(
        "on: [push, pull_request]\n"
        "jobs:\n"
        "  lint: {name: 'Lint \"everything\"', runs-on: ubuntu-latest, steps: [{run: 'true'}]}\n"
        "  test: {runs-on: ubuntu-latest, steps: [{run: 'true'}]}\n"
    )
    result = protect(tmp_path, "acme/x", "--workflow", str(workflow), "--dry-run")
    assert result.returncode == 0, result.stderr
    ruleset = json.loads(result.stdout)
    checks = rule(ruleset, "required_status_checks")["parameters"]["required_status_checks"]
    assert [c["context"] for c in checks] == ['Lint "everything"', "test"]
    assert gh_calls(tmp_path) == [], "a dry run calls nothing"


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ("  a: {name: 'Test ${{ matrix.os }}', runs-on: x}\n", "job 'a' has a computed name"),
        ("  a: {strategy: {matrix: {py: [1, 2]}}, runs-on: x}\n", "job 'a' is a matrix"),
        ("  a: {uses: ./.github/workflows/other.yml}\n", "job 'a' calls a reusable workflow"),
    ],
)
def test_checks_github_names_at_run_time_are_refused(
    tmp_path: Path, jobs: str, message: str
) -> None:
    workflow = tmp_path / "ci.yml"
    workflow.write_text("on: pull_request\njobs:\n" + jobs)
    result = protect(tmp_path, "acme/x", "--workflow", str(workflow))
    assert result.returncode == 1
    assert message in result.stderr
    assert "give each job a fixed `name:`" in result.stderr
    assert gh_calls(tmp_path) == []


def test_a_workflow_that_never_runs_on_pull_requests_is_refused(tmp_path: Path) -> None:
    workflow = tmp_path / "ci.yml"
    workflow.write_text("on: {push: {}}\njobs:\n  a: {name: A, runs-on: x}\n")
    result = protect(tmp_path, "acme/x", "--workflow", str(workflow))
    assert result.returncode == 1
    assert "does not run on pull_request" in result.stderr
    assert gh_calls(tmp_path) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "which repository?"),
        (["acme"], "'acme' is not a GitHub OWNER/REPO"),
        (["acme/x;rm"], "'acme/x;rm' is not a GitHub OWNER/REPO"),
        (["acme/x.git"], "'acme/x.git' is not a GitHub OWNER/REPO"),
        (["acme/x", "--approvals", "many"], "--approvals must be a number from 0 to 10"),
        (["acme/x", "--workflow", "/nonexistent.yml"], "workflow file /nonexistent.yml not found"),
        (["acme/x", "--force"], "unknown option '--force'"),
    ],
)
def test_bad_arguments_are_refused_before_any_call(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = protect(tmp_path, *arguments)
    assert result.returncode == 1
    assert message in result.stderr
    assert gh_calls(tmp_path) == []


def test_without_gh_it_says_where_to_get_it(tmp_path: Path) -> None:
    system = os.pathsep.join(p for p in ("/usr/bin", "/bin") if not (Path(p) / "gh").exists())
    result = protect(tmp_path, "acme/x", path=system)
    assert result.returncode == 1
    assert "the GitHub CLI (gh) is not installed: https://cli.github.com" in result.stderr


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.DOTALL | re.MULTILINE)
    assert found is not None, f"README has no section '## {title}'"
    return found.group(1)


def test_the_readme_lists_every_secret_and_variable_the_workflows_read() -> None:
    """A secret the README does not mention is one an adopter cannot know to set."""
    read: set[str] = set()
    reference = re.compile(r"\b(?:secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)")
    for workflow in (ROOT / ".github").rglob("*.yml"):
        read |= set(reference.findall(workflow.read_text()))
    read.discard("GITHUB_TOKEN")  # built in
    assert read, "the workflows read no secret or variable, or this pattern is wrong"
    section = readme_section("Repository settings")
    assert sorted(name for name in read if f"`{name}`" not in section) == []


def test_the_readme_documents_the_commands() -> None:
    settings = readme_section("Repository settings")
    assert "make protect REPOSITORY=OWNER/REPO" in settings
    first_steps = readme_section('First steps after "Use this template"')
    assert "make init" in first_steps
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^init:.*## ", makefile, re.MULTILINE)
    assert re.search(r"^protect:.*## ", makefile, re.MULTILINE)
