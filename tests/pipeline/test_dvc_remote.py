"""The DVC remote of the workflows (`scripts/dvc-remote.sh`), against a real S3 API.

moto's S3 server on 127.0.0.1 plays the bucket: dvc-s3 speaks to it over HTTP exactly as to
AWS or MinIO, through the same `endpointurl` a user sets for an S3-compatible store. What a
release uploads (the build job's `dvc push` to a local hand-over remote, then the AWS CLI alone
in the job holding the write key), a fresh clone in CI pulls, and `dvc repro` then has nothing
left to do.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from conveyor.paths import ProjectPaths
from tests.conftest import BIN, ROOT, copy_repository
from tests.pipeline.dvc import dvc, share_project_cache, stages_run
from tests.tools import install_tool

pytestmark = pytest.mark.pipeline

SCRIPT = ROOT / "scripts" / "dvc-remote.sh"
BUCKET = "conveyor-remote"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """An S3 API on a free port of 127.0.0.1 with one empty bucket."""
    server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    _s3(url).create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


def _s3(endpoint: str) -> Any:
    """A client of the local S3 API, with the credentials the script is given."""
    keys = {name.lower(): value for name, value in CREDENTIALS.items()}
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)


def _remote(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the script as a workflow step would: only the given variables describe the remote."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DVC_REMOTE"))}
    aws = Path(install_tool(ROOT / "scripts" / "aws-tools.sh", "aws")).parent
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=project, capture_output=True, text=True, timeout=600, check=False,
        env={**base, "PATH": os.pathsep.join([str(BIN), os.environ["PATH"], str(aws)]),
             "AWS_DEFAULT_REGION": "us-east-1", "DVC_NO_ANALYTICS": "1", **env},
    )  # fmt: skip


def test_what_a_release_uploads_a_fresh_clone_pulls(
    endpoint: str, tmp_path: Path, pipeline_outputs: ProjectPaths
) -> None:
    remote = {
        "DVC_REMOTE_URL": f"s3://{BUCKET}/conveyor",
        "DVC_REMOTE_ENDPOINT_URL": endpoint,
        **CREDENTIALS,
    }
    released = copy_repository(tmp_path / "released")
    share_project_cache(released)  # the release job's cache: what `make run` produced
    # The build job: new objects into a local hand-over remote (no credentials there).
    handoff = tmp_path / "handoff"
    dvc(released, "remote", "add", "--local", "handoff", str(handoff))
    dvc(released, "push", "--remote", "handoff")
    # The push-data job: the AWS CLI alone, with the write key.
    uploaded = _remote(tmp_path, "upload", str(handoff), env=remote)
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    assert _s3(endpoint).list_objects_v2(Bucket=BUCKET)["KeyCount"] > 0

    fresh = copy_repository(tmp_path / "fresh")  # its own, empty cache
    pulled = _remote(fresh, "pull", env=remote)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert ProjectPaths(fresh).onnx_model.read_bytes() == pipeline_outputs.onnx_model.read_bytes()
    after_pull = dvc(fresh, "repro")
    assert stages_run(after_pull) == [], "after a pull, dvc repro must have nothing to recompute"
    # The remote is configured for this checkout only, never committed.
    assert BUCKET in (fresh / ".dvc" / "config.local").read_text()
    assert BUCKET not in (fresh / ".dvc" / "config").read_text()


@pytest.mark.parametrize(
    "env",
    [{}, {"DVC_REMOTE_URL": f"s3://{BUCKET}/conveyor"}],
    ids=["no-remote", "no-credentials"],
)
def test_without_a_remote_or_credentials_nothing_is_configured(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A fork's pull request has no secrets: the step must pass and leave the clone alone."""
    (tmp_path / ".dvc").mkdir()
    completed = _remote(tmp_path, "pull", env=env)
    assert completed.returncode == 0, completed.stderr
    assert "nothing to pull" in completed.stdout or "no remote to pull" in completed.stdout
    assert not (tmp_path / ".dvc" / "config.local").exists()


def test_an_unknown_action_is_refused(tmp_path: Path) -> None:
    completed = _remote(tmp_path, "sync", env=CREDENTIALS)
    assert completed.returncode == 2
    assert "expected 'pull', 'push' or 'upload'" in completed.stderr


@pytest.mark.parametrize(
    ("url", "folder", "why"),
    [
        (f"s3://{BUCKET}/conveyor", "missing", "needs a local DVC remote folder"),
        ("gs://bucket/conveyor", "handoff", "supports s3:// remotes"),
    ],
    ids=["no-objects", "not-s3"],
)
def test_an_upload_it_cannot_make_is_refused(
    tmp_path: Path, url: str, folder: str, why: str
) -> None:
    (tmp_path / "handoff" / "files").mkdir(parents=True)
    completed = _remote(
        tmp_path, "upload", str(tmp_path / folder), env={"DVC_REMOTE_URL": url, **CREDENTIALS}
    )
    assert completed.returncode == 2
    assert why in completed.stderr


def _repository_with_data_in_the_remote(root: Path) -> Path:
    """A DVC repository whose data was `dvc add`-ed elsewhere: the `.dvc` file, not the data."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    root.mkdir(parents=True)
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=root, check=True)
    dvc(root, "init", "--quiet")
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "loans.csv.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 10\n  hash: md5\n"
        "  path: loans.csv\n"
    )
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "data in the remote"], cwd=root, check=True)
    return root


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({}, "No DVC remote is configured"),
        ({"DVC_REMOTE_URL": f"s3://{BUCKET}/conveyor"}, "pull requests from forks get no secrets"),
        ({"DVC_REMOTE_URL": f"s3://{BUCKET}/empty", **CREDENTIALS}, "did not provide it"),
    ],
    ids=["no-remote", "fork-without-secrets", "remote-without-the-data"],
)
def test_data_that_only_the_remote_holds_is_named_when_it_cannot_be_pulled(
    tmp_path: Path, endpoint: str, env: dict[str, str], why: str
) -> None:
    """One clear message (log and job summary) instead of a failure somewhere in prepare."""
    project = _repository_with_data_in_the_remote(tmp_path / "project")
    summary = tmp_path / "summary.md"
    completed = _remote(
        project, "pull",
        env={**env, "DVC_REMOTE_ENDPOINT_URL": endpoint, "GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert completed.returncode == 1, completed.stdout + completed.stderr
    (line,) = [x for x in completed.stdout.splitlines() if x.startswith("::error")]
    assert "data/raw/loans.csv (data/raw/loans.csv.dvc)" in line
    assert why in line
    assert summary.read_text().startswith("### Data not available")
