"""pr-report.yml, run by act, posting with the real CML 0.20.6 to a fake GitHub API over HTTPS.

The workflow file runs as written: act presents the fake server as a GitHub Enterprise
instance (`--github-instance 127.0.0.1:PORT`, so `github.server_url` is its address), and the
npx stand-in, after checking that it was asked for exactly `--yes @dvcorg/cml@0.20.6`, runs
the real CML installed from npm with the workflow's own arguments, in the job's empty working
directory (no checkout), with the runner's `GITHUB_SHA` and `GITHUB_REPOSITORY`. So what the
fake server records is what CML would send to GitHub. `gh` and the artifact download are the
stand-ins of `standins/`; the artifact is written here, so these tests need no CI run.

CML comes from `CONVEYOR_CML_PACKAGE` (an npm spec or a tarball; default: the release GitHub's
runners fetch), installed once per spec under `~/.cache/conveyor/cml/`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.workflows.act import REPOSITORY, ActRun, head_sha, make_project, run_act
from tests.workflows.fake_github import FakeGitHub

pytestmark = pytest.mark.workflows

CML_PACKAGE = "@dvcorg/cml@0.20.6"
TOKEN = "standin-token"  # what run_act gives act as GITHUB_TOKEN, so `github.token`
RUN_ID = 4242
NUMBER = 7
# The pull request comes from a fork, as the ones this workflow exists for do.
HEAD_REPOSITORY, HEAD_BRANCH = "contributor/conveyor", "more-leaves"
LIMIT = 10 * 1024 * 1024  # the workflow's MAX_BYTES
WATERMARK = "Conveyor model report"
REPORT = "## Conveyor model report\n\n✅ **All blocking gates pass**\n"
POSTED_WITH_CML = "::notice::report posted with CML to pull request #7"
POSTED_WITH_GH = "::notice::report posted with gh to pull request #7"
CML_FAILED = "::warning::CML failed; posting the report with gh instead"


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def install_cml(spec: str, cache: Path) -> Path:
    """`cml` installed by npm from `spec` in a directory of its own under `cache`, once.

    The directory is named by the spec's hash (a tarball's, by its content), so another spec
    or a changed tarball gets a fresh install. npm works in a staging directory that is
    renamed into place only when complete, so an interrupted install is never reused.
    """
    key = spec
    if Path(spec).is_file():  # a tarball: the same content is the same CML wherever it lies
        spec = str(Path(spec).resolve())
        key = f"tarball:{hashlib.sha256(Path(spec).read_bytes()).hexdigest()}"
    target = cache / hashlib.sha256(key.encode()).hexdigest()[:16]
    cml = target / "node_modules" / ".bin" / "cml"
    if cml.exists():
        return cml
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to install CML for the pr-report tests")
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=cache))
    try:
        (staging / "package.json").write_text('{"name": "conveyor-cml", "private": true}\n')
        installed = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", spec],
            cwd=staging, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if installed.returncode != 0:
            pytest.fail(
                f"npm could not install {spec}: {installed.stderr[-2000:]}\n"
                "Set CONVEYOR_CML_PACKAGE to an npm spec or a tarball of @dvcorg/cml 0.20.6."
            )
        try:
            staging.rename(target)
        except OSError:
            if not cml.exists():  # not merely another run that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cml


@pytest.fixture(scope="session")
def cml() -> Path:
    """The real CML, from CONVEYOR_CML_PACKAGE; the version the workflow pins, or a failure."""
    spec = os.environ.get("CONVEYOR_CML_PACKAGE") or CML_PACKAGE
    path = install_cml(spec, _cache_home() / "conveyor" / "cml")
    version = subprocess.run(
        [str(path), "--version"], capture_output=True, text=True, timeout=120, check=False
    ).stdout.strip()
    assert version == "0.20.6", f"{spec} installs CML {version!r}, the workflow pins 0.20.6"
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project as committed; pr-report.yml checks nothing out, so one copy serves all."""
    return make_project(tmp_path_factory.mktemp("pr-report") / "project")


def _sha(seed: str) -> str:
    """A commit-like id, distinct per seed."""
    return hashlib.sha1(seed.encode()).hexdigest()


def _pull(sha: str, repository: str = HEAD_REPOSITORY, branch: str = HEAD_BRANCH) -> dict[str, Any]:
    """A pull request as `GET /repos/R/pulls/N` shows it, for the gh stand-in."""
    return {"head": {"sha": sha, "ref": branch, "repo": {"full_name": repository}}}


def _watermark(sha: str) -> str:
    """CML 0.20.6's watermark: how `comment update` finds its comment again."""
    return f'![](https://cml.dev/watermark.png#{sha} "CML watermark {WATERMARK}")'


def _write_artifact(scratch: Path, number: str, report: str = REPORT) -> Path:
    """The `report` artifact as CI uploads it, where the download-artifact stand-in reads it."""
    folder = scratch / "artifacts" / "report"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.md").write_text(report)
    (folder / "pr-number.txt").write_text(number)
    return folder


@dataclass(frozen=True)
class Job:
    """pr-report.yml's job as GitHub would run it here: the project, the API, the real CML."""

    project: Path
    github: FakeGitHub
    cml: Path

    def run(
        self, scratch: Path, *, ci_sha: str, pulls: Mapping[str, dict[str, Any]],
        env: Mapping[str, str] | None = None, project: Path | None = None,
    ) -> ActRun:  # fmt: skip
        """The workflow after a CI run of `ci_sha` on the fork's HEAD_BRANCH; the artifact
        must already be in `scratch`."""
        payload = {
            "action": "completed",
            "workflow_run": {
                "id": RUN_ID,
                "event": "pull_request",
                "conclusion": "success",
                "head_sha": ci_sha,
                "head_branch": HEAD_BRANCH,
                "head_repository": {"full_name": HEAD_REPOSITORY},
                "pull_requests": [],  # always empty for a pull request from a fork
            },
            "repository": {"full_name": REPOSITORY},
        }
        real_cml = {
            "STANDIN_CML_BIN": str(self.cml),
            "NODE_EXTRA_CA_CERTS": str(self.github.ca_file),
            # CML adds safe.directory entries to the global git config each time it starts.
            "GIT_CONFIG_GLOBAL": str(scratch / "gitconfig"),
        }
        return run_act(
            project or self.project, scratch, event="workflow_run", workflow="pr-report.yml",
            payload=payload, pull_requests=pulls, github_instance=self.github.host,
            env={**real_cml, **(env or {})}, timeout=300,
        )  # fmt: skip


@pytest.fixture
def job(project: Path, cml: Path, tmp_path: Path) -> Iterator[Job]:
    """A fresh API whose pull request #7 has a reviewer's comment, which CML must leave alone."""
    with FakeGitHub(tmp_path, repository=REPOSITORY, token=TOKEN, pulls=[NUMBER, 8]) as github:
        github.add_comment(NUMBER, "Looks good, but what about the age slices?")
        yield Job(project, github, cml)


def _comments_path(number: int = NUMBER) -> str:
    return f"/api/v3/repos/{REPOSITORY}/issues/{number}/comments"


def test_cml_creates_the_sticky_comment_then_updates_it(job: Job, tmp_path: Path) -> None:
    github = job.github
    runner_sha = head_sha(job.project)  # act's GITHUB_SHA: the base repository's commit
    first_sha, first_report = _sha("first push"), REPORT + "\nfirst push\n"
    _write_artifact(tmp_path / "first", str(NUMBER), first_report)
    first = job.run(tmp_path / "first", ci_sha=first_sha, pulls={"7": _pull(first_sha)})
    assert first.code == 0, first.output[-4000:]
    assert POSTED_WITH_CML in first.output and CML_FAILED not in first.output
    assert not first.called("gh", "pr", "comment")
    (npx,) = first.called("npx")
    assert npx["ran"] == str(job.cml) and npx["code"] == 0
    assert npx["args"] == [
        "--yes", "@dvcorg/cml@0.20.6", "comment", "update", "--driver", "github",
        "--repo", f"{github.url}/{REPOSITORY}", "--target=pr/7",
        f"--watermark-title={WATERMARK}", "--publish=false", npx["args"][-1],
    ]  # fmt: skip
    assert npx["cwd_entries"] == [], "the job checks nothing out"
    assert npx["telemetry"] == "1"
    assert "directory = *" in (tmp_path / "first" / "gitconfig").read_text()
    # The artifact's size was checked before the download, and the number after it.
    assert [c["tool"] for c in first.calls[:3]] == ["gh", "download-artifact", "gh"]
    assert (
        first.calls[0]["args"][1]
        == f"repos/{REPOSITORY}/actions/runs/{RUN_ID}/artifacts?name=report"
    )
    (created,) = github.writes()
    assert (created.method, created.path, created.status) == ("POST", _comments_path(), 201)
    assert created.body == {"body": f"{first_report}\n\n{_watermark(runner_sha)}"}

    second_sha, second_report = _sha("second push"), REPORT + "\nsecond push\n"
    _write_artifact(tmp_path / "second", str(NUMBER), second_report)
    second = job.run(tmp_path / "second", ci_sha=second_sha, pulls={"7": _pull(second_sha)})
    assert second.code == 0, second.output[-4000:]
    assert POSTED_WITH_CML in second.output
    review, report = github.comments(NUMBER)
    assert review["body"] == "Looks good, but what about the age slices?"
    assert report["body"] == f"{second_report}\n\n{_watermark(runner_sha)}"
    assert len(github.writes()) == 2
    edit = github.writes()[1]
    assert (edit.method, edit.status) == ("PATCH", 200)
    assert edit.path == f"/api/v3/repos/{REPOSITORY}/issues/comments/{report['id']}"
    # Every request carried the job's token and hit an endpoint GitHub has.
    assert {(r.token, r.status) for r in github.requests} <= {(TOKEN, 200), (TOKEN, 201)}


def test_the_old_command_line_without_repo_fails_with_no_checkout(job: Job, tmp_path: Path) -> None:
    """The command line before `--repo`: CML reads the repository from git, which a job with
    no checkout has not got, so every report went through the gh fallback unnoticed."""
    workflow = (ROOT / ".github" / "workflows" / "pr-report.yml").read_text()
    added = ' --driver github --repo "$REPO_URL"'
    assert workflow.count(added) == 1
    edit = {".github/workflows/pr-report.yml": workflow.replace(added, "")}
    sha = _sha("a push")
    _write_artifact(tmp_path / "scratch", str(NUMBER))
    run = job.run(tmp_path / "scratch", ci_sha=sha, pulls={"7": _pull(sha)},
                  project=make_project(tmp_path / "old", edit))  # fmt: skip
    (npx,) = run.called("npx")
    assert "--repo" not in npx["args"]
    assert npx["ran"] == str(job.cml) and npx["code"] == 1
    assert "git config --get remote.origin.url" in run.output
    assert job.github.writes() == []
    assert CML_FAILED in run.output and POSTED_WITH_CML not in run.output
    assert len(run.called("gh", "pr", "comment", "7")) == 1
    assert run.code == 0  # the fallback hid it


def test_without_cml_the_report_is_posted_with_gh(job: Job, tmp_path: Path) -> None:
    sha = _sha("a push")
    _write_artifact(tmp_path, str(NUMBER))
    run = job.run(tmp_path, ci_sha=sha, pulls={"7": _pull(sha)}, env={"STANDIN_CML_FAIL": "1"})
    assert run.code == 0, run.output[-4000:]
    assert CML_FAILED in run.output and POSTED_WITH_GH in run.output
    assert POSTED_WITH_CML not in run.output
    assert job.github.writes() == []
    (comment,) = run.called("gh", "pr", "comment")
    args = comment["args"]
    assert args[:5] == ["pr", "comment", "7", "--repo", REPOSITORY]
    assert args[5] == "--body-file" and args[7:] == ["--edit-last", "--create-if-none"]
    # The body CML posts, watermark and all (the first test checks it against the real CML),
    # so CML's next `comment update` finds and edits this comment instead of adding one.
    assert comment["body"] == f"{REPORT}\n\n{_watermark(head_sha(job.project))}"


def test_a_newer_head_on_the_same_branch_posts_nothing_and_passes(job: Job, tmp_path: Path) -> None:
    ci_sha, newer = _sha("older push"), _sha("newer push")
    _write_artifact(tmp_path, str(NUMBER))
    run = job.run(tmp_path, ci_sha=ci_sha, pulls={"7": _pull(newer)})
    assert run.code == 0, run.output[-4000:]
    assert f"::notice::pull request #7 has a newer head, {newer} (CI ran on {ci_sha})" in run.output
    assert "::error::" not in run.output
    assert not run.called("npx") and not run.called("gh", "pr", "comment")
    assert job.github.requests == []


@pytest.mark.parametrize("size", [LIMIT, LIMIT + 1], ids=["at-limit", "over-limit"])
def test_an_oversized_artifact_is_refused_before_download(
    job: Job, tmp_path: Path, size: int
) -> None:
    sha = _sha("a push")
    folder = _write_artifact(tmp_path, str(NUMBER))
    padding = size - sum(f.stat().st_size for f in folder.iterdir())
    with (folder / "plots.csv").open("wb") as plots:
        plots.truncate(padding)  # sparse: the size without the disk
    run = job.run(tmp_path, ci_sha=sha, pulls={"7": _pull(sha)})
    if size <= LIMIT:
        assert run.code == 0, run.output[-4000:]
        assert run.called("download-artifact") and POSTED_WITH_CML in run.output
        assert len(job.github.writes()) == 1
    else:
        assert run.code != 0
        refusal = f"::error::the report artifact is {size} bytes, over the limit of {LIMIT}"
        assert refusal in run.output
        assert not run.called("download-artifact")
        assert not run.called("gh", "api", f"repos/{REPOSITORY}/pulls/7")
        assert not run.called("npx") and job.github.requests == []


EXPIRED = [{"id": 1, "name": "report", "size_in_bytes": 900, "expired": True}]


@pytest.mark.parametrize("listed", [None, EXPIRED], ids=["missing", "expired"])
def test_a_missing_or_expired_artifact_is_refused(
    job: Job, tmp_path: Path, listed: list[dict[str, Any]] | None
) -> None:
    sha = _sha("a push")
    (tmp_path / "artifacts" / "other").mkdir(parents=True)  # the run's other artifact
    if listed is not None:
        (tmp_path / "artifacts.json").write_text(json.dumps(listed))
    run = job.run(tmp_path, ci_sha=sha, pulls={"7": _pull(sha)})
    assert run.code != 0
    assert f"::error::CI run {RUN_ID} has no report artifact" in run.output
    assert not run.called("download-artifact")
    assert not run.called("npx") and job.github.requests == []


@pytest.mark.parametrize(
    ("number", "error"),
    [
        ("8", "::error::pull request #8 is at"),  # somebody else's pull request
        ("7; touch {marker}", "::error::the artifact's pull request number is not a number"),
        ("99", "gh: Not Found (HTTP 404)"),  # no such pull request
        ("7", "::error::the artifact's report.md is missing or not a regular file"),
    ],
    ids=["forged-number", "shell-in-number", "unknown-number", "symlinked-report"],
)
def test_a_forged_pr_number_or_report_is_refused(
    job: Job, tmp_path: Path, number: str, error: str
) -> None:
    marker = tmp_path / "injected"
    sha = _sha("a push")
    folder = _write_artifact(tmp_path, number.format(marker=marker))
    if error.endswith("regular file"):
        (folder / "report.md").unlink()
        (folder / "report.md").symlink_to("/etc/hostname")
    pulls = {"7": _pull(sha), "8": _pull(_sha("theirs"), "someone/conveyor", "main")}
    run = job.run(tmp_path, ci_sha=sha, pulls=pulls)
    assert run.code != 0
    assert error in run.output
    assert not run.called("npx") and not run.called("gh", "pr", "comment")
    assert job.github.requests == []
    assert not marker.exists()
