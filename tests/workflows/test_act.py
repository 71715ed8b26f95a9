"""The real workflow files, run by nektos/act in host mode against stand-ins.

What runs for real: every step's shell, the expressions and conditions, the step order, the
Makefile targets the steps call (the pipeline, the committed-outputs check, the gates, the
test suites, the report), and the image smoke test against a real server (the docker stand-in
starts `conveyor-serve` natively). What is substituted: third-party actions (by SHA) and the
tools that need GitHub or a registry (gh, npx/CML, docker), which record what they were asked.

ci.yml's pipeline job on a pull request, run once unnarrowed, is tests/workflows/test_ci_run.py;
here, the runs that change one thing each: the test step moved before the pipeline, a gate
that fails on main, the release on a params change (through staging) or on pushes that change
nothing released, the release's vulnerability gate. Promotion and rollback: test_lanes.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conveyor.paths import ProjectPaths
from conveyor.stages import STAGES
from tests.conftest import ROOT
from tests.pipeline.dvc import dvc, share_project_cache
from tests.workflows.act import (
    ACTION_DIRS,
    ActRun,
    head_sha,
    make_project,
    manifest_digest,
    pinned_actions,
    pull_request_event,
    pytest_outcomes,
    registry_digests,
    run_act,
    step_ok,
)

pytestmark = pytest.mark.workflows

# The release run's test step: the released model's gates, one test each. The CI run runs the
# same `make suites` whole.
SELECTION = {"PYTEST_ADDOPTS": "tests/model/test_gates.py"}


def test_every_third_party_action_has_a_stand_in() -> None:
    assert {name for name, _ in pinned_actions()} <= set(ACTION_DIRS)


def _step_block(workflow: str, name: str) -> str:
    """The text of the step called `name` (up to the next blank line) in a workflow file."""
    found = re.search(rf"\n      - name: {re.escape(name)}\n.*?\n\n", workflow, re.S)
    assert found, f"no step {name!r}"
    return found.group(0)[1:]


def test_tests_before_the_pipeline_fail_on_a_clean_checkout(tmp_path: Path) -> None:
    """The ordering CI had before (the test suites, then `dvc repro`) fails in the same set-up.

    A clean checkout has no models/: the suites that judge the model cannot run before the
    pipeline has made it. `-x` stops at the first such test, so the proof stays short (with
    the suites in one process: under xdist, `-x` lets each worker finish its files first).
    """
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    suites = _step_block(text, "Unit, pipeline, data, slice, fairness, parity and serving tests")
    pipeline = _step_block(text, "Run the pipeline")
    reordered = text.replace(suites, "").replace(pipeline, suites + pipeline)
    assert reordered != text
    project = make_project(tmp_path / "project", {".github/workflows/ci.yml": reordered})
    run = run_act(
        project, tmp_path / "scratch", event="pull_request", workflow="ci.yml",
        payload=pull_request_event(head_sha(project)), job="pipeline",
        # -x in one process: xdist's workers would first finish the files they were handed
        env={"PYTEST_ADDOPTS": "-x", "SUITES_WORKERS": "0"},
    )  # fmt: skip
    assert run.code != 0
    assert "❌  Failure - Main Unit, pipeline, data, slice, fairness" in run.output
    assert re.search(r"pipeline outputs \[.*\] are missing", run.output), run.output[-4000:]
    assert not step_ok(run, "Run the pipeline")


def _commit_current_outputs(project: Path) -> None:
    """Run the pipeline in `project` and commit dvc.lock and metrics/, as a team's commit does.

    The repository's DVC cache already holds the stages a gate change does not touch.
    """
    share_project_cache(project)
    dvc(project, "repro")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "commit", "-qam", "outputs"], cwd=project, check=True)


def test_a_model_that_fails_a_gate_fails_ci_on_main(tmp_path: Path) -> None:
    text = (ROOT / "params.yaml").read_text()
    tightened = text.replace("roc_auc: {min: 0.90}", "roc_auc: {min: 0.99}", 1)
    assert tightened != text
    project = make_project(tmp_path / "project", {"params.yaml": tightened})
    _commit_current_outputs(project)
    payload = {"ref": "refs/heads/main", "after": head_sha(project),
               "repository": {"default_branch": "main"}}  # fmt: skip
    # A warm DVC cache, as main's runs save it: only the stage the gate change touches runs.
    warm = {"STANDIN_RESTORE_DVC_CACHE": str(ROOT / ".dvc" / "cache")}
    run = run_act(project, tmp_path / "scratch", event="push", workflow="ci.yml",
                  payload=payload, job="pipeline", env=warm)  # fmt: skip
    assert run.code != 0
    assert "cache stand-in: restored .dvc/cache" in run.output
    assert "Running stage 'prepare'" not in run.output
    assert step_ok(run, "Check the committed dvc.lock and metrics")
    # The gate step fails the job before the suites run or an image is built.
    assert "❌  Failure - Main Enforce the quality gates" in run.output
    # The line the gate step prints is the committed gates.json's, not today's AUC.
    gates = json.loads(ProjectPaths(project).gates.read_text(encoding="utf-8"))["gates"]
    (roc_auc,) = [gate for gate in gates if gate["id"] == "overall.roc_auc"]
    assert roc_auc["status"] == "fail", roc_auc["message"]
    assert re.search(rf"FAIL\s+block\s+{re.escape(roc_auc['message'])}", run.output)
    assert not step_ok(run, "Unit, pipeline, data, slice, fairness, parity and serving tests")
    assert not run.called("docker", "build")
    # The report is still written, and says why the change is blocked.
    report = run.artifacts / "report"
    assert (report / "pr-number.txt").read_text() == ""
    assert "❌ **Blocked**" in (report / "report.md").read_text()


def _release_for_act() -> str:
    """release.yml without the `artifact-metadata` permission, which act's schema rejects.

    GitHub needs that key for actions/attest v4, and act ignores permissions anyway, so only
    the line act cannot parse goes; the test fails if the key is ever dropped upstream.
    """
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    kept = [line for line in text.splitlines(keepends=True) if "artifact-metadata:" not in line]
    assert len(kept) == len(text.splitlines()) - 1, "release.yml lost artifact-metadata: write"
    return "".join(kept)


def _commit(project: Path, name: str, text: str) -> str:
    """Append `text` to `name`, commit it, and return the new commit's SHA."""
    path = project / name
    path.write_text(path.read_text() + text)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "commit", "-qam", f"edit {name}"], cwd=project, check=True)
    return head_sha(project)


def _release(
    project: Path, scratch: Path, before: str, after: str, *, private: bool = False,
    env: dict[str, str] | None = None,
) -> ActRun:  # fmt: skip
    repository = {"default_branch": "main", "full_name": "Conveyor-ML/Conveyor",
                  "private": private}  # fmt: skip
    payload = {"ref": "refs/heads/main", "before": before, "after": after,
               "repository": repository}  # fmt: skip
    return run_act(project, scratch, event="push", workflow="release.yml", payload=payload,
                   env=env)  # fmt: skip


IMAGE = "ghcr.io/conveyor-ml/conveyor"


def _seed_lanes(remote: Path, sha: str) -> str:
    """The registry and GitHub as a rollback left them: production (and latest) on an earlier
    release's image; the staging deployment GitHub creates when this run's move job starts.
    Returns the earlier image's digest."""
    earlier = json.dumps({"schemaVersion": 2, "annotations": {"release": "earlier"}})
    tags = {
        f"{IMAGE}:{tag}": earlier for tag in ("sha-" + "e" * 40, "production", "latest", "staging")
    }
    (remote / "registry.json").write_text(json.dumps(tags))
    (remote / "deployments.json").write_text(
        json.dumps([{"id": 77, "environment": "staging", "sha": sha}])
    )
    return manifest_digest(earlier)


@dataclass(frozen=True)
class Merged:
    """One act run of release.yml on a merge, and the registry and GitHub it left."""

    run: ActRun
    remote: Path
    before: str
    sha: str
    earlier: str  # the digest production and latest held before (a rollback's)

    def registry(self) -> dict[str, str]:
        return registry_digests(self.remote)

    @property
    def digest(self) -> str:
        return self.registry()[f"{IMAGE}:sha-{self.sha}"]


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Merged:
    """A push that touches params.yaml, on a registry a rollback left with production on an
    earlier image. The repository is private on a plan without attestations (the attest
    stand-in fails as GitHub does): the release goes on and says so, and staging's verification
    falls back to the digest the release recorded. The test step is narrowed here; the CI run
    runs the same `make suites` unnarrowed (tests/workflows/test_static.py)."""
    base = tmp_path_factory.mktemp("merge")
    project = make_project(base / "project", {".github/workflows/release.yml": _release_for_act()})
    before = head_sha(project)
    sha = _commit(project, "params.yaml", "# reviewed in pull request #7\n")
    remote = base / "remote"
    remote.mkdir()
    earlier = _seed_lanes(remote, sha)
    env = {**SELECTION, "STANDIN_ATTEST_FAIL": "1", "STANDIN_REMOTE": str(remote)}
    run = _release(project, base / "scratch", before, sha, private=True, env=env)
    return Merged(run, remote, before, sha, earlier)


def test_the_build_job_gates_tests_and_builds_one_archive_it_smoke_tests_and_scans(
    merged: Merged,
) -> None:
    run, sha = merged.run, merged.sha
    assert run.code == 0, run.output[-5000:]
    assert "release=true" in run.output and "params.yaml" in run.output
    # A rebuild, nothing reused, at a new commit with CI's commit in the environment: every
    # stage's bytes and the lock must still be the committed ones (check-outputs below).
    for stage in STAGES:
        assert f"Running stage '{stage}'" in run.output, stage
    assert step_ok(run, "Check the rebuilt model is the one the pull request reviewed")
    assert "the committed outputs are what the pipeline produced (dvc.lock" in run.output
    assert pytest_outcomes(run.output).get("passed", 0) > 0, "the test step ran no test"
    assert not run.called("cache"), "a release restores no cache"
    (build,) = run.called("build-push")  # built once, as an archive, never pushed by the build
    assert "push=false" in build["args"] and "sbom=true" in build["args"]
    assert "provenance=mode=max" in build["args"] and f"{IMAGE}:sha-{sha}" in build["args"]
    assert any(a.startswith("outputs=type=oci,dest=") for a in build["args"])
    loaded = run.called("skopeo", "copy")[0]
    assert loaded["args"][-1] == "docker-daemon:conveyor-serve:smoke"
    assert "smoke test passed" in run.output
    (scan,) = run.called("trivy")
    archive = loaded["args"][-2].removeprefix("oci-archive:")
    assert scan["args"] == ["ref=", f"input={archive}", "severity=CRITICAL",
                            "ignore-unfixed=true", "exit-code=1", "cache=false"]  # fmt: skip


def test_publish_pushes_the_tested_archive_at_its_digest_and_releases(merged: Merged) -> None:
    run, sha, digest = merged.run, merged.sha, merged.digest
    pushed = run.called("skopeo", "copy")[1]
    # (each job has its own runner temp: the archive the build uploaded, downloaded again)
    assert pushed["args"][-2].endswith("/image/image.tar")
    assert pushed["args"][-1] == f"docker://{IMAGE}:sha-{sha}"
    assert "--preserve-digests" in pushed["args"] and "--all" in pushed["args"]
    assert f"pushed {IMAGE}:sha-{sha} at the tested digest {digest}" in run.output
    assert run.called("login")[0]["args"] == ["ghcr.io"]
    attested = [c["args"] for c in run.called("attest")]
    assert attested[0][:2] == [IMAGE, digest] and attested[1][2].endswith("/model.onnx")
    assert "::notice title=No attestations::" in run.output
    (release,) = run.called("gh", "release", "create")
    tag = release["args"][2]
    for asset in ("model.onnx", "signature.json", "MODEL_CARD.md", "metrics.json",
                  "training-records.txt.gz", "image.json", "kubernetes.tar.gz"):  # fmt: skip
        assert asset in release["args"]
    assets = merged.remote / "releases" / tag
    recorded = json.loads((assets / "image.json").read_text())
    assert recorded == {"image": IMAGE, "digest": digest, "commit": sha, "tag": tag}
    with tarfile.open(assets / "kubernetes.tar.gz") as tar:
        for lane in ("staging", "production"):
            overlay = tar.extractfile(f"deploy/kubernetes/overlays/{lane}/kustomization.yaml")
            assert f"digest: {digest}" in overlay.read().decode()  # type: ignore[union-attr]
    # No earlier release: the model it replaces is the previous commit's, from the DVC cache.
    notes, before = release["body"], merged.before
    assert "## Compared with the model it replaces" in notes and digest in notes
    assert f"Champion: **{before} ({before[:7]})**" in notes
    assert "| ✅ pass | block | roc_auc vs champion +0.0000" in notes
    assert tag.startswith("model-") and tag.endswith(sha[:7])


def test_staging_moves_to_the_release_and_production_stays_rolled_back(merged: Merged) -> None:
    run, sha, digest = merged.run, merged.sha, merged.digest
    (release,) = run.called("gh", "release", "create")
    assert f"digest recorded by release {release['args'][2]}" in run.output
    registry = merged.registry()
    assert registry[f"{IMAGE}:staging"] == digest
    assert registry[f"{IMAGE}:production"] == registry[f"{IMAGE}:latest"] == merged.earlier
    statuses = [c for c in run.called("gh", "api") if "statuses" in " ".join(c["args"])]
    (status,) = statuses
    assert "repos/conveyor-ml/conveyor/deployments/77/statuses" in status["args"]
    description = f"release {sha[:12]} {digest}: merge of {sha}"[:140]
    assert f"description={description}" in status["args"]
    # No DVC remote configured: push-data did not run.
    assert not step_ok(run, "Upload them to the DVC remote")


def test_a_fixable_critical_vulnerability_stops_the_release_before_anything_moves(
    tmp_path: Path,
) -> None:
    """The scan's settings, tripped: the build job fails at the scan and nothing is published.

    This run proves the gate alone, so the build job keeps the steps up to the scan that make
    and check the archive (the pipeline, tests and smoke test run in the test above)."""
    text = _release_for_act()
    for step in ("Set up (no caches in a release)", "Pull data from the DVC remote",
                 "Run the pipeline from scratch",
                 "Check the rebuilt model is the one the pull request reviewed (dvc.lock, metrics)",
                 "Enforce the quality gates", "Fetch the model this release replaces",
                 "Enforce the margins against it, and write the comparison for the release notes",
                 "Unit, pipeline, data, slice, fairness, parity and serving tests",
                 "Smoke-test the image from the archive"):  # fmt: skip
        text = text.replace(_step_block(text, step), "")
    project = make_project(tmp_path / "project", {".github/workflows/release.yml": text})
    before = head_sha(project)
    sha = _commit(project, "params.yaml", "# a change\n")
    run = _release(project, tmp_path / "scratch", before, sha,
                   env={"STANDIN_TRIVY_CRITICAL": "1",
                        "STANDIN_REMOTE": str(tmp_path)})  # fmt: skip
    assert run.code != 0
    assert (
        "❌  Failure - Main Scan the image (a fixable CRITICAL vulnerability stops the release)"
        in run.output
    )
    assert run.called("build-push") and run.called("trivy")
    assert not run.called("skopeo") and not run.called("gh", "release", "create")
    assert not run.called("docker", "buildx", "imagetools", "create") and not run.called("attest")


@pytest.mark.parametrize("push", ["docs-only", "init", "first-commit"])
def test_a_push_that_changes_nothing_released_publishes_nothing(tmp_path: Path, push: str) -> None:
    """A README edit, or the commit GitHub makes when a repository is created from the
    template, skips the release job: no pipeline, no image, no GitHub release."""
    project = make_project(
        tmp_path / "project", {".github/workflows/release.yml": _release_for_act()}
    )
    before = head_sha(project)
    if push == "docs-only":
        after = _commit(project, "README.md", "\nA typo fixed.\n")
        why = "nothing a model or an image is built from changed"
    elif push == "init":  # the README's first step after "Use this template"
        subprocess.run(["bash", "scripts/init-repository.sh", "acme/churn-model"], cwd=project,
                       check=True, capture_output=True)  # fmt: skip
        after = _commit(project, "README.md", "")
        why = "nothing a model or an image is built from changed"
    else:
        before, after = "0" * 40, before
        why = "the first commit of a repository"
    assert before != after
    run = _release(project, tmp_path / "scratch", before, after)
    assert run.code == 0, run.output[-4000:]
    assert "release=false" in run.output and why in run.output
    assert not step_ok(run, "Run the pipeline from scratch")
    assert not run.called("build-push") and not run.called("gh", "release", "create")
