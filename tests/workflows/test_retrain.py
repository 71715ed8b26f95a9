"""retrain.yml, run by act: fresh data in, the model retrained, the pull request proposed.

Three runs of the workflow, in order, on one copy of the project whose `origin` is a local
bare repository (so `git push --force` really happens and the branch is read back from it),
with one pull-request state for the gh stand-in (so the second drifted run finds the pull
request the first one opened) and one fake GitHub API for the real CML 0.20.6 to post to:

- (a) a batch drawn from the data's upper end of one numeric input, replacing the first data
  source: the inputs drift, the model is retrained, the branch is pushed with the new data,
  checksum pin, dvc.lock and metrics, one pull request is opened, CML posts the report;
- (b) the data the repository already holds: nothing changed, so nothing runs, nothing is
  pushed, no pull request is touched;
- (c) the next week, the pull request not merged yet, the fresh data still drifted (the same
  batch): the same branch is force-pushed (its new commit sits on `main`, not on the first
  one) and the same pull request and comment edited, not a second one.

The runs share one DVC cache outside act's work folders (the copy's `.dvc/config` points at
it), seeded with main's outputs as CI on main leaves them: so (c) finds the outputs (a)
computed in DVC's run cache and stays cheap, as a retrain whose cache an earlier run saved
would on GitHub.

What the tests assert they read from params.yaml, the drift report and the pushed branch.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conveyor.config import Source, load_settings
from conveyor.data import read_source
from tests.conftest import ROOT
from tests.workflows.act import REPOSITORY, ActRun, head_sha, make_project, run_act
from tests.workflows.fake_github import FakeGitHub
from tests.workflows.test_pr_report import cml  # noqa: F401  (the session fixture)

pytestmark = pytest.mark.workflows

TOKEN = "standin-token"  # what run_act gives act as GITHUB_TOKEN
BRANCH = "conveyor/retrain"
WATERMARK = "Conveyor retrain report"
TITLE = "Retrain on fresh data: data drifted"


def _git(repository: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repository, capture_output=True, text=True, check=True
    ).stdout.strip()


def drifted_batch(project: Path, destination: Path, feature: int, seed: int) -> Path:
    """The first data source's rows from the upper third of one numeric input, shuffled,
    written in the layout params.yaml describes: a covariate shift the drift check must see.
    """
    settings = load_settings(project / "params.yaml")
    data = settings.data
    source = data.sources[0]
    frame = read_source(Source(path=source.path), project / source.path, data).frame
    column = data.numeric_features[feature]
    order = frame[column].astype(float).sort_values(kind="stable").index
    shifted = frame.loc[order[-len(order) // 3 :]].sample(frac=1.0, random_state=seed)
    assert data.csv.columns is not None and not data.csv.header
    text = shifted[data.csv.columns].to_csv(
        sep=data.csv.separator, header=False, index=False, na_rep=data.csv.na_values[0]
    )
    destination.write_bytes(gzip.compress(text.encode(), mtime=0))
    return destination


@dataclass(frozen=True)
class Retrain:
    """One run: what act did, and the branch and pull requests as they were after it."""

    run: ActRun
    branch: str | None  # the pushed branch's commit in the bare origin, if any
    pulls: list[dict[str, Any]]


@dataclass(frozen=True)
class Loop:
    project: Path
    origin: Path
    github: FakeGitHub
    main: str
    batches: dict[str, Path]
    runs: dict[str, Retrain]


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory, cml: Path) -> Iterator[Loop]:  # noqa: F811
    base = tmp_path_factory.mktemp("retrain")
    cache = base / "dvc-cache"
    shutil.copytree(ROOT / ".dvc" / "cache", cache)
    config = (ROOT / ".dvc" / "config").read_text()
    project = make_project(
        base / "project", {".dvc/config": f"{config}[cache]\n    dir = {cache}\n"}
    )
    origin = base / "origin.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(project), str(origin)], check=True)
    main = head_sha(project)
    drifted = drifted_batch(project, base / "fresh.csv.gz", feature=0, seed=1)
    batches = {
        "a": drifted,
        "b": project / load_settings(project / "params.yaml").data.sources[0].path,
        "c": drifted,
    }
    pr_state = base / "pull-requests.json"
    runs: dict[str, Retrain] = {}
    with FakeGitHub(base, repository=REPOSITORY, token=TOKEN, pulls=[1]) as github:
        for name, batch in batches.items():
            scratch = base / name
            scratch.mkdir()
            gitconfig = scratch / "gitconfig"
            # `git push origin` from the job goes to the bare repository, as it would to GitHub.
            gitconfig.write_text(
                f'[url "{origin}"]\n\tinsteadOf = https://github.com/{REPOSITORY}.git\n'
            )
            env = {
                "STANDIN_PR_STATE": str(pr_state),
                "STANDIN_CML_BIN": str(cml),
                "NODE_EXTRA_CA_CERTS": str(github.ca_file),
                "GIT_CONFIG_GLOBAL": str(gitconfig),
            }
            payload = {
                "inputs": {"fresh-data": str(batch)},
                "ref": "refs/heads/main",
                "repository": {"full_name": REPOSITORY, "default_branch": "main"},
            }
            run = run_act(
                project, scratch, event="workflow_dispatch", workflow="retrain.yml",
                payload=payload, env=env, github_instance=github.host, timeout=900,
            )  # fmt: skip
            branches = _git(origin, "branch", "--list", BRANCH, "--format=%(objectname)")
            pulls = json.loads(pr_state.read_text()) if pr_state.exists() else []
            runs[name] = Retrain(run, branches or None, pulls)
        yield Loop(project, origin, github, main, batches, runs)


def _comments(loop: Loop) -> list[dict[str, Any]]:
    return loop.github.comments(1)


def test_a_drifted_batch_is_retrained_and_pushed_on_the_fixed_branch(loop: Loop) -> None:
    first = loop.runs["a"]
    assert first.run.code == 0, first.run.output[-6000:]
    assert first.branch is not None, "nothing was pushed"
    origin, branch = loop.origin, first.branch
    assert _git(origin, "rev-parse", f"{branch}^") == loop.main, "the branch is main plus one"
    changed = set(_git(origin, "diff", "--name-only", loop.main, branch).splitlines())
    settings = load_settings(loop.project / "params.yaml")
    source = str(settings.data.sources[0].path)
    assert {source, "params.yaml", "dvc.lock", "metrics/metrics.json"} <= changed
    assert all(
        name.startswith(("data/", "metrics/", "plots/")) or name in ("params.yaml", "dvc.lock")
        for name in changed
    ), changed
    pushed = subprocess.run(
        ["git", "show", f"{branch}:{source}"], cwd=origin, capture_output=True, check=True
    ).stdout
    assert pushed == loop.batches["a"].read_bytes()
    # The pin is the new content's checksum, and dvc.lock records the retrained model.
    params = _git(origin, "show", f"{branch}:params.yaml")
    digest = hashlib.sha256(gzip.decompress(pushed)).hexdigest()
    assert f"sha256: {digest}" in params
    assert _git(origin, "show", f"{branch}:dvc.lock") != (loop.project / "dvc.lock").read_text()
    assert "Running stage 'train'" in first.run.output


def test_the_drift_is_what_opens_one_pull_request(loop: Loop) -> None:
    first = loop.runs["a"]
    decision = json.loads((first.run.artifacts / "retrain" / "decision.json").read_text())
    assert decision["drifted"] is True and decision["drift_exit"] == "1"
    settings = load_settings(loop.project / "params.yaml")
    shifted = settings.data.numeric_features[0]
    assert shifted in decision["drifted_inputs"]
    (pull,) = first.pulls
    assert pull["number"] == 1 and pull["state"] == "OPEN"
    assert pull["headRefName"] == BRANCH and pull["baseRefName"] == "main"
    assert pull["title"].startswith(TITLE)
    assert all(name in pull["body"] for name in decision["drifted_inputs"])
    (created,) = first.run.called("gh", "pr", "create")
    assert created["args"][created["args"].index("--repo") + 1] == REPOSITORY
    assert not first.run.called("gh", "pr", "edit")
    assert "::notice::opened pull request #1" in first.run.output
    author = _git(loop.origin, "log", "-1", "--format=%an %s", str(first.branch))
    assert author == f"github-actions[bot] {pull['title']}"


def test_cml_posts_the_report_as_the_sticky_comment(loop: Loop) -> None:
    first = loop.runs["a"]
    report = (first.run.artifacts / "retrain" / "report.md").read_text()
    assert report.startswith("## Conveyor model report")
    assert "### Data drift of `fresh-batch.csv`" in report
    (npx,) = first.run.called("npx")
    assert npx["ran"] and npx["code"] == 0
    assert "--target=pr/1" in npx["args"] and f"--watermark-title={WATERMARK}" in npx["args"]
    writes = [w for w in loop.github.writes() if w.status == 201]
    assert len(writes) == 1 and writes[0].body["body"].startswith(report.rstrip("\n")[:200])


def test_unchanged_data_runs_nothing_and_proposes_nothing(loop: Loop) -> None:
    first, second = loop.runs["a"], loop.runs["b"]
    assert second.run.code == 0, second.run.output[-6000:]
    assert "::notice title=Data unchanged::" in second.run.output
    assert "Running stage" not in second.run.output
    assert second.branch == first.branch, "the branch moved"
    assert second.pulls == first.pulls
    assert not second.run.called("gh", "pr") and not second.run.called("npx")
    assert not (second.run.artifacts / "retrain").exists()


def test_a_second_drifted_run_force_pushes_and_edits_the_same_pull_request(loop: Loop) -> None:
    first, third = loop.runs["a"], loop.runs["c"]
    assert third.run.code == 0, third.run.output[-6000:]
    assert third.branch is not None and third.branch != first.branch
    # Force-pushed: the new commit sits on main, not on the first retrain's commit, which
    # the branch no longer holds; the files are the same retrain's.
    assert _git(loop.origin, "rev-parse", f"{third.branch}^") == loop.main
    ancestry = subprocess.run(
        ["git", "merge-base", "--is-ancestor", str(first.branch), str(third.branch)],
        cwd=loop.origin, check=False,
    )  # fmt: skip
    assert ancestry.returncode == 1
    tree = [_git(loop.origin, "rev-parse", f"{c}^{{tree}}") for c in (first.branch, third.branch)]
    assert tree[0] == tree[1]
    (pull,) = third.pulls
    assert pull["number"] == 1 and pull["title"] == first.pulls[0]["title"]
    assert not third.run.called("gh", "pr", "create")
    (edit,) = third.run.called("gh", "pr", "edit")
    assert edit["args"][2] == "1" and pull["body"] == edit["body"]
    assert "::notice::updated pull request #1" in third.run.output
    # CML found its comment and edited it: still one report comment on the pull request.
    (comment,) = _comments(loop)
    report = (third.run.artifacts / "retrain" / "report.md").read_text()
    assert comment["body"].startswith(report.rstrip("\n")[:200])
    assert [w.method for w in loop.github.writes()] == ["POST", "PATCH"]
