"""Static checks of the workflows; each security check is also shown to catch the mistakes it
exists for (`test_the_checkers_would_catch_a_dangerous_workflow`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import BIN, ROOT

SCHEMAS = ROOT / "tests" / "workflows" / "schemas"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300, check=False
    )


def test_actionlint_with_shellcheck_is_clean() -> None:
    assert shutil.which("shellcheck", path=ENV["PATH"]), "actionlint checks run: with shellcheck"
    result = _run(str(BIN / "actionlint"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_at_the_auditor_persona_finds_nothing_unjustified() -> None:
    """Every audit at every confidence: each finding is fixed, or ignored on its line with the
    reason beside it (an ignore without one fails below)."""
    result = _run(
        str(BIN / "zizmor"), "--offline", "--strict-collection", "--persona", "auditor",
        "--no-progress", ".",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr
    assert unjustified_ignores(ROOT / ".github") == []


IGNORE = re.compile(r"#\s*zizmor:\s*ignore\[[\w,\s-]+\](.*)$")


def unjustified_ignores(folder: Path) -> list[str]:
    """`# zizmor: ignore[...]` comments with no reason after them (or on the line above)."""
    found = []
    for path in sorted(folder.rglob("*.yml")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            match = IGNORE.search(line)
            above = lines[number - 1].strip() if number else ""
            if match and len(match.group(1).strip()) < 10 and not above.startswith("#"):
                found.append(f"{path.name}:{number + 1}")
    return found


def test_an_ignore_without_a_reason_is_caught(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(
        "on: push # zizmor: ignore[concurrency-limits]\n"
        "  x: 1 # zizmor: ignore[secrets-outside-env] a pull-only key, read by every branch\n"
        "  # the token is scoped to this repository\n"
        "  y: 2 # zizmor: ignore[secrets-outside-env]\n"
    )
    assert unjustified_ignores(tmp_path) == ["a.yml:1"]


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("github-workflows.json", WORKFLOWS),
        ("github-actions.json", sorted((ROOT / ".github" / "actions").glob("*/action.yml"))),
        ("dependabot.json", [ROOT / ".github" / "dependabot.yml"]),
    ],
)
def test_files_match_their_schema(schema: str, files: list[Path]) -> None:
    assert files
    result = _run(
        str(BIN / "check-jsonschema"), "--schemafile", str(SCHEMAS / schema), *map(str, files)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _house_rule_breaches(document: dict[Any, Any]) -> list[str]:
    """How a workflow breaks DESIGN.md's workflow rules, one line per breach.

    zizmor, as run above, enforces some of these rules itself: actions pinned to a commit,
    `persist-credentials: false`, no `pull_request_target`, and no `github.event` value an
    attacker controls inside `run:`. It does not ask for `permissions: {}` at the top, for
    permissions and a timeout on every job, nor keep every `github.event` value out of `run:`.
    This checks all of the rules, so none depends on what a zizmor version audits.
    """
    breaches = []
    if document.get("permissions") != {}:
        breaches.append("no `permissions: {}` at the top")
    for name, job in document.get("jobs", {}).items():
        # A job that calls a reusable workflow takes no timeout; the called jobs carry theirs.
        if "timeout-minutes" not in job and "uses" not in job:
            breaches.append(f"job {name} has no timeout-minutes")
        if "permissions" not in job:
            breaches.append(f"job {name} has no permissions of its own")
        for step in job.get("steps", []):
            uses = step.get("uses", "")
            third_party = uses and not uses.startswith("./")
            if third_party and len(uses.partition("@")[2]) != 40:
                breaches.append(f"job {name}: {uses} is not pinned to a commit")
            credentials = step.get("with", {}).get("persist-credentials")
            if uses.startswith("actions/checkout") and credentials is not False:
                breaches.append(f"job {name}: checkout without persist-credentials: false")
            if "github.event." in step.get("run", ""):
                breaches.append(f"job {name}: event data in run:")
    triggers = document[True] if True in document else document.get("on")  # YAML 1.1 "on"
    if "pull_request_target" in (triggers or []):
        breaches.append("triggered by pull_request_target")
    return breaches


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_house_rules(workflow: Path) -> None:
    assert _house_rule_breaches(yaml.safe_load(workflow.read_text())) == []


BAD_WORKFLOW = """\
name: bad
on: pull_request_target
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}" && echo ${{ matrix.nope }}
"""


def _bad_repository(tmp_path: Path) -> Path:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(BAD_WORKFLOW)
    return tmp_path


def test_the_checkers_would_catch_a_dangerous_workflow(tmp_path: Path) -> None:
    assert _house_rule_breaches(yaml.safe_load(BAD_WORKFLOW)) == [
        "no `permissions: {}` at the top",
        "job build has no timeout-minutes",
        "job build has no permissions of its own",
        "job build: actions/checkout@v4 is not pinned to a commit",
        "job build: checkout without persist-credentials: false",
        "job build: event data in run:",
        "triggered by pull_request_target",
    ]
    repository = _bad_repository(tmp_path)
    actionlint = _run(str(BIN / "actionlint"), ".github/workflows/bad.yml", cwd=repository)
    assert actionlint.returncode != 0
    assert "matrix" in actionlint.stdout
    zizmor = _run(str(BIN / "zizmor"), "--offline", "--no-progress", ".", cwd=repository)
    assert zizmor.returncode != 0
    report = zizmor.stdout + zizmor.stderr
    for audit in ("template-injection", "unpinned-uses", "dangerous-triggers", "artipacked"):
        assert audit in report, audit
    schema = _run(
        str(BIN / "check-jsonschema"), "--schemafile", str(SCHEMAS / "github-workflows.json"),
        str(repository / ".github" / "workflows" / "bad.yml"),
    )  # fmt: skip
    assert schema.returncode == 0  # valid YAML structure: the schema is not a security check
    broken = repository / ".github" / "workflows" / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    schema = _run(
        str(BIN / "check-jsonschema"), "--schemafile", str(SCHEMAS / "github-workflows.json"),
        str(broken),
    )  # fmt: skip
    assert schema.returncode != 0


def _job_steps(workflow: str, job: str) -> list[dict[str, Any]]:
    document = yaml.safe_load((ROOT / ".github" / "workflows" / workflow).read_text())
    steps: list[dict[str, Any]] = document["jobs"][job]["steps"]
    return steps


def _make_targets(steps: list[dict[str, Any]]) -> list[str]:
    """The Makefile targets the steps' one-line `run:` commands call, in order."""
    targets = []
    for step in steps:
        command = step.get("run", "")
        for line in command.splitlines():
            words = line.split()
            if words[:1] == ["make"]:
                targets += [w for w in words[1:] if "=" not in w]
    return targets


def _makefile_prerequisites(target: str) -> list[str]:
    found = re.search(rf"^{target}:([^#\n]*)", (ROOT / "Makefile").read_text(), re.M)
    assert found, f"no target {target} in the Makefile"
    return found.group(1).split()


def test_ci_runs_the_makefile_targets_in_the_order_make_test_proves() -> None:
    """.ci/run runs `make test` on a clean clone: CI's jobs must call the same targets in the
    same order, or a green .ci/run proves nothing about GitHub."""
    pipeline = _make_targets(_job_steps("ci.yml", "pipeline"))
    lint = _make_targets(_job_steps("ci.yml", "lint"))
    proven = [*_makefile_prerequisites("test"), "suites"]
    assert pipeline[:6] == ["run", "check-outputs", "gate", "champion", "compare", "suites"], (
        pipeline
    )
    assert [t for t in proven if t in pipeline] == [t for t in pipeline if t in proven]
    assert lint == [t for t in proven if t in lint] and set(lint) == {"lint", "check-static"}
    # Every other step of the pipeline job is a Makefile target or one of the scripts.
    for step in _job_steps("ci.yml", "pipeline"):
        command = step.get("run")
        if command and "\n" not in command.strip():
            assert command.startswith(("make ", "scripts/")), command


def test_the_release_tests_what_ci_tests() -> None:
    """release.yml's test step is CI's `make suites`, which the act run of ci.yml runs whole."""
    release = _make_targets(_job_steps("release.yml", "build"))
    assert release[:7] == [
        "rebuild",
        "check-outputs",
        "gate",
        "champion",
        "compare",
        "release-notes",
        "suites",
    ], release
    makefile = (ROOT / "Makefile").read_text()
    assert "SUITES := not workflows and not container" in makefile
    from tests.workflows.act import SUITES

    assert f"SUITES := {SUITES}" in makefile
