"""scripts/pin-image.sh: the release workflow pins a lane's overlay to the digest it pushed.

Each test runs the script on a copy of deploy/kubernetes (never this repository's), and the
pinned overlay is rendered by kubectl, so what is checked is the image Kubernetes would run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.kubernetes import (
    LANES,
    MANIFESTS,
    OVERLAYS,
    PIN_IMAGE,
    container,
    copy_manifests,
    render,
)

NAME = "ghcr.io/acme/churn-model"
DIGEST = "sha256:" + hashlib.sha256(b"the image the release pushed").hexdigest()
LATER = "sha256:" + hashlib.sha256(b"the next release").hexdigest()
CORE_TOOLS = ("dirname", "cp", "mv", "rm")
"""What the script may run besides bash: coreutils, on every runner and laptop."""


def pin(root: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = os.environ if path is None else {"PATH": path}
    return subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(root / PIN_IMAGE), *args],
        cwd=root, env=environment, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the copied manifests, to prove a refusal changed nothing."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted((root / MANIFESTS).rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    return copy_manifests(tmp_path)


def test_a_pinned_lane_renders_the_image_by_digest_and_the_other_lane_is_untouched(
    copy: Path,
) -> None:
    lane, other = LANES
    other_before = container(render(copy / OVERLAYS / other))["image"]
    done = pin(copy, lane, f"{NAME}@{DIGEST}")
    assert done.returncode == 0, done.stderr
    assert f"{lane} now runs {NAME}@{DIGEST}" in done.stdout
    assert container(render(copy / OVERLAYS / lane))["image"] == f"{NAME}@{DIGEST}"
    assert container(render(copy / OVERLAYS / other))["image"] == other_before
    # The next release moves it on.
    assert pin(copy, lane, f"{NAME}@{LATER}").returncode == 0
    assert container(render(copy / OVERLAYS / lane))["image"] == f"{NAME}@{LATER}"


def test_pinning_again_changes_nothing(copy: Path) -> None:
    lane = LANES[0]
    assert pin(copy, lane, f"{NAME}@{DIGEST}").returncode == 0
    before = snapshot(copy)
    again = pin(copy, lane, f"{NAME}@{DIGEST}")
    assert again.returncode == 0, again.stderr
    assert f"{lane} already runs {NAME}@{DIGEST}" in again.stdout
    assert snapshot(copy) == before


def test_it_needs_bash_and_coreutils_only(copy: Path, tmp_path: Path) -> None:
    """No sed, grep, yq or Python: a PATH holding only coreutils' programs is enough."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in CORE_TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (tools / tool).symlink_to(found)
    done = pin(copy, LANES[0], f"{NAME}@{DIGEST}", path=str(tools))
    assert done.returncode == 0, done.stderr
    assert container(render(copy / OVERLAYS / LANES[0]))["image"] == f"{NAME}@{DIGEST}"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(["prod", f"{NAME}@{DIGEST}"],
                     "no overlay for lane 'prod' (deploy/kubernetes/overlays/prod/kustomization"
                     f".yaml); lanes: {' '.join(sorted(LANES))}", id="unknown-lane"),
        pytest.param(["../base", f"{NAME}@{DIGEST}"], "no overlay for lane '../base'",
                     id="a-path-for-a-lane"),
        pytest.param([LANES[0], NAME], f"'{NAME}' has no digest", id="no-digest"),
        pytest.param([LANES[0], f"{NAME}:v1@{DIGEST}"], f"'{NAME}:v1@{DIGEST}' has a tag (:v1)",
                     id="tag-and-digest"),
        pytest.param([LANES[0], f"ghcr.io/Acme/churn-model@{DIGEST}"],
                     "'ghcr.io/Acme/churn-model' is not an image name", id="upper-case-name"),
        pytest.param([LANES[0], f"ghcr.io/acme//churn@{DIGEST}"],
                     "'ghcr.io/acme//churn' is not an image name", id="empty-component"),
        pytest.param([LANES[0], f"{NAME}@sha256:abc"], "'sha256:abc' is not a sha256 digest",
                     id="short-digest"),
        pytest.param([LANES[0], f"{NAME}@{DIGEST.upper()}"], "is not a sha256 digest",
                     id="upper-case-digest"),
        pytest.param([LANES[0], f"{NAME}@sha512:{'ab' * 64}"], "is not a sha256 digest",
                     id="another-algorithm"),
        pytest.param([LANES[0]], "expected two arguments, got 1", id="one-argument"),
        pytest.param([LANES[0], f"{NAME}@{DIGEST}", "extra"], "expected two arguments, got 3",
                     id="three-arguments"),
    ],
)  # fmt: skip
def test_malformed_input_is_refused_before_any_change(
    copy: Path, arguments: list[str], message: str
) -> None:
    before = snapshot(copy)
    done = pin(copy, *arguments)
    assert done.returncode == 1
    assert message in done.stderr
    assert "NAME@sha256:" in done.stderr, "the refusal says what is expected"
    assert done.stdout == ""
    assert snapshot(copy) == before


def test_an_overlay_in_a_shape_it_does_not_know_is_left_as_it_was(copy: Path) -> None:
    """Two images: entries (a team added a sidecar) would make "the" digest ambiguous."""
    kustomization = copy / OVERLAYS / LANES[0] / "kustomization.yaml"
    text = kustomization.read_text(encoding="utf-8")
    second = "  - name: sidecar\n    newName: example.com/sidecar\n    digest: sha256:" + "0" * 64
    kustomization.write_text(text.replace("images:\n", f"images:\n{second}\n"), encoding="utf-8")
    before = snapshot(copy)
    done = pin(copy, LANES[0], f"{NAME}@{DIGEST}")
    assert done.returncode == 1
    assert "expected one images: entry with one newName: and one digest: line, found 2" in (
        done.stderr
    )
    assert snapshot(copy) == before
    assert not list(kustomization.parent.glob("*.pin.*")), "no scratch file is left behind"
