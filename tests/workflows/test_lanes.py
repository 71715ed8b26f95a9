"""promote.yml and rollback.yml (both lane.yml), run by act against the registry and GitHub
stand-ins, on the state a release leaves behind.

What runs for real: the workflow files, lane.yml's two jobs and their conditions, and the
scripts that verify a release (scripts/verify-release.sh) and move a lane
(scripts/move-lane.sh). What is substituted: the registry (the docker and skopeo stand-ins keep
tags -> manifests, so digests are real SHA-256s of what a tag serves) and GitHub (the gh
stand-in keeps releases, deployments and attestations, and verifies an attestation's signer
workflow, repository and ref as `gh attestation verify` does).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.workflows.act import (
    REPOSITORY,
    ActRun,
    head_sha,
    make_project,
    manifest_digest,
    registry_digests,
    run_act,
)

pytestmark = pytest.mark.workflows

IMAGE = f"ghcr.io/{REPOSITORY}"
RELEASE_WORKFLOW = f"{REPOSITORY}/.github/workflows/release.yml"
MAIN = "refs/heads/main"


def _manifest(name: str) -> str:
    return json.dumps({"schemaVersion": 2, "annotations": {"release": name}})


@dataclass(frozen=True)
class Released:
    """Three releases: `current` (in staging), `earlier` (a good one from before) and
    `foreign` (pushed under a sha- tag, but attested by another workflow or ref)."""

    project: Path
    remote: Path
    commits: dict[str, str]

    def tag(self, name: str) -> str:
        return f"sha-{self.commits[name]}"

    def digest(self, name: str) -> str:
        return manifest_digest(_manifest(name))

    def registry(self) -> dict[str, str]:
        digests = registry_digests(self.remote)
        return {tag.removeprefix(f"{IMAGE}:"): digest for tag, digest in digests.items()}


def _released(
    tmp_path: Path, attestations: dict[str, list[dict[str, str]]] | None = None
) -> Released:
    project = make_project(tmp_path / "project")
    remote = tmp_path / "remote"
    remote.mkdir()
    commits = {
        name: hashlib.sha1(name.encode()).hexdigest() for name in ("current", "earlier", "foreign")
    }
    registry = {f"{IMAGE}:sha-{commit}": _manifest(name) for name, commit in commits.items()}
    registry[f"{IMAGE}:staging"] = _manifest("current")
    registry[f"{IMAGE}:production"] = registry[f"{IMAGE}:latest"] = _manifest("earlier")
    (remote / "registry.json").write_text(json.dumps(registry))
    signed = {"repo": REPOSITORY, "workflow": RELEASE_WORKFLOW, "ref": MAIN}
    made = (
        attestations
        if attestations is not None
        else {
            manifest_digest(_manifest("current")): [signed],
            manifest_digest(_manifest("earlier")): [signed],
            manifest_digest(_manifest("foreign")): [
                {**signed, "workflow": f"{REPOSITORY}/.github/workflows/ci.yml"}
            ],
        }
    )
    (remote / "attestations.json").write_text(json.dumps(made))
    # The deployment GitHub creates when lane.yml's `move` job starts (environment production).
    deployment = {"id": 4242, "environment": "production", "sha": head_sha(project)}
    (remote / "deployments.json").write_text(json.dumps([deployment]))
    return Released(project, remote, commits)


def _dispatch(
    released: Released, scratch: Path, workflow: str, release: str, reason: str
) -> ActRun:
    payload = {"inputs": {"release": release, "reason": reason},
               "repository": {"full_name": REPOSITORY}}  # fmt: skip
    return run_act(released.project, scratch, event="workflow_dispatch", workflow=workflow,
                   payload=payload, env={"STANDIN_REMOTE": str(released.remote)})  # fmt: skip


def _status(run: ActRun) -> dict[str, str]:
    """The deployment status the move job posted: its fields (`-f key=value`)."""
    (posted,) = [c for c in run.called("gh", "api") if "statuses" in " ".join(c["args"])]
    assert f"repos/{REPOSITORY}/deployments/4242/statuses" in posted["args"]
    fields = [posted["args"][i + 1] for i, a in enumerate(posted["args"][:-1]) if a == "-f"]
    return dict(field.split("=", 1) for field in fields)


def test_a_promotion_points_production_at_the_staging_digest_without_a_rebuild(
    tmp_path: Path,
) -> None:
    released = _released(tmp_path)
    run = _dispatch(released, tmp_path / "scratch", "promote.yml", released.tag("current"),
                    "passed a week in staging")  # fmt: skip
    assert run.code == 0, run.output[-5000:]
    after = released.registry()
    assert after["production"] == after["latest"] == after["staging"] == released.digest("current")
    assert not run.called("build-push") and not run.called("skopeo", "copy")
    (create, _) = run.called("docker", "buildx", "imagetools", "create")
    assert create["args"][3:] == [
        "--tag",
        f"{IMAGE}:production",
        f"{IMAGE}@{released.digest('current')}",
    ]
    assert f"attestation signed by {RELEASE_WORKFLOW} on {MAIN}" in run.output
    status = _status(run)
    assert status["state"] == "success"
    commit = released.commits["current"][:12]
    assert (
        status["description"]
        == f"promote {commit} {released.digest('current')}: passed a week in staging"
    )


@pytest.mark.parametrize("made_by", ["another-workflow", "another-ref"])
def test_a_rollback_to_an_image_not_released_from_main_is_refused(
    tmp_path: Path, made_by: str
) -> None:
    signed = {"repo": REPOSITORY, "workflow": RELEASE_WORKFLOW, "ref": MAIN}
    forged = (
        {**signed, "workflow": f"{REPOSITORY}/.github/workflows/ci.yml"}
        if made_by == "another-workflow"
        else {**signed, "ref": "refs/heads/feature"}
    )
    released = _released(tmp_path, {manifest_digest(_manifest("foreign")): [forged]})
    before = released.registry()
    run = _dispatch(released, tmp_path / "scratch", "rollback.yml", released.tag("foreign"),
                    "bad release")  # fmt: skip
    assert run.code != 0
    assert "was not published by this repository's release workflow from main" in run.output
    assert released.registry() == before
    assert not run.called("docker", "buildx", "imagetools", "create")
    assert not [c for c in run.called("gh", "api") if "statuses" in " ".join(c["args"])]


def test_a_rollback_moves_production_back_and_records_why(tmp_path: Path) -> None:
    released = _released(tmp_path)
    # Production runs the current release; roll it back to the earlier one.
    tags = json.loads((released.remote / "registry.json").read_text())
    tags[f"{IMAGE}:production"] = tags[f"{IMAGE}:latest"] = _manifest("current")
    (released.remote / "registry.json").write_text(json.dumps(tags))
    reason = "p99 latency doubled after the release; " + "details in the incident report " * 5
    run = _dispatch(released, tmp_path / "scratch", "rollback.yml", released.tag("earlier"), reason)
    assert run.code == 0, run.output[-5000:]
    after = released.registry()
    assert after["production"] == after["latest"] == released.digest("earlier")
    assert after["staging"] == released.digest("current"), "a rollback leaves staging alone"
    # GitHub keeps 140 characters: the digest whole, the reason cut.
    description = _status(run)["description"]
    commit = released.commits["earlier"][:12]
    assert description == f"rollback {commit} {released.digest('earlier')}: {reason}"[:140]


@pytest.mark.parametrize("recorded", ["same-digest", "other-digest", "no-release"])
def test_without_attestations_the_digest_the_release_recorded_decides(
    tmp_path: Path, recorded: str
) -> None:
    """A private repository on a plan without attestations: the release's image.json asset."""
    released = _released(tmp_path, attestations={})
    if recorded != "no-release":
        folder = released.remote / "releases" / "model-20261101-earlier"
        folder.mkdir(parents=True)
        (folder / ".target").write_text(released.commits["earlier"])
        digest = released.digest("earlier" if recorded == "same-digest" else "foreign")
        (folder / "image.json").write_text(json.dumps({"image": IMAGE, "digest": digest}))
    run = _dispatch(released, tmp_path / "scratch", "rollback.yml", released.tag("earlier"),
                    "revert")  # fmt: skip
    if recorded == "same-digest":
        assert run.code == 0, run.output[-5000:]
        assert "digest recorded by release model-20261101-earlier" in run.output
        assert released.registry()["production"] == released.digest("earlier")
    else:
        assert run.code != 0
        why = (
            "but release model-20261101-earlier recorded"
            if recorded == "other-digest"
            else ("no release of commit")
        )
        assert why in run.output, run.output[-4000:]
        assert not run.called("docker", "buildx", "imagetools", "create")


@pytest.mark.parametrize("release", ["latest", "sha-123; touch /tmp/x", ""])
def test_a_release_that_is_not_an_immutable_tag_is_refused(tmp_path: Path, release: str) -> None:
    released = _released(tmp_path)
    before = released.registry()
    run = _dispatch(released, tmp_path / "scratch", "promote.yml", release, "why not")
    assert run.code != 0
    assert "release must be an image tag sha-<40 hex characters>" in run.output
    assert released.registry() == before
    shutil.rmtree(tmp_path / "scratch")
