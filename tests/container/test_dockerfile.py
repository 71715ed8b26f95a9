"""Static checks of the Dockerfile: hadolint clean, and the promises the image makes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, ROOT
from tests.container.bases import base_images


def test_hadolint_finds_nothing() -> None:
    completed = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "style", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_hadolint_would_catch_a_bad_dockerfile() -> None:
    bad = "FROM python\nRUN apt-get install -y curl\nUSER root\n"
    completed = subprocess.run(
        [str(BIN / "hadolint"), "-"], input=bad, capture_output=True, text=True, check=False
    )
    assert completed.returncode != 0
    assert "DL3006" in completed.stdout  # untagged base image


def test_the_image_runs_as_non_root_with_a_healthcheck() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    instructions = [line.split()[0] for line in final_stage if line and line[0].isupper()]
    assert "USER" in instructions
    assert "HEALTHCHECK" in instructions
    assert "EXPOSE" in instructions
    user = next(line for line in final_stage if line.startswith("USER "))
    assert user.split()[1].split(":")[0] not in {"0", "root"}
    assert not any(line.startswith("# syntax") for line in lines)  # BuildKit would pull a frontend


def test_pruning_refuses_a_directory_that_is_not_the_serving_runtime(tmp_path: Path) -> None:
    """The Dockerfile prunes the venv it built; pointed anywhere else, the script must stop."""
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    (site / "numpy" / "_core").mkdir(parents=True)
    (site / "numpy" / "f2py").mkdir()
    completed = subprocess.run(
        ["bash", str(ROOT / "scripts" / "prune-runtime.sh"), str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 2
    assert "onnxruntime/capi is missing" in completed.stderr
    assert (site / "numpy" / "f2py").is_dir(), "nothing is removed when the check fails"


@pytest.mark.container
@pytest.mark.usefixtures("pipeline_outputs")
def test_a_build_from_another_base_swaps_it_into_a_copy_and_removes_the_copy(
    tmp_path: Path,
) -> None:
    """BASE_IMAGE (like the local base of a machine without a registry) reaches the engine
    through a swapped copy of the Dockerfile, announced on stderr and removed afterwards. The
    base does not exist, so the engine stops at its FROM: quick, and proof of what it read."""
    base = "localhost/conveyor-no-such-base:0"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    completed = subprocess.run(
        ["bash", str(ROOT / "scripts" / "container.sh"), "build", "localhost/conveyor-swap:0"],
        cwd=ROOT,
        env={**os.environ, "BASE_IMAGE": base, "TMPDIR": str(scratch),
             "CONTAINERS_CONF": str(ROOT / ".tools" / "containers.conf")},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, "a base that does not exist cannot be built from"
    pinned = base_images((ROOT / "Dockerfile").read_text())[0]
    announced = f"building from {base} instead of the Dockerfile's {pinned} (BASE_IMAGE is set)"
    assert announced in completed.stderr
    engine_lines = [line for line in output.splitlines() if "building from" not in line]
    assert any(base in line for line in engine_lines), "the engine read the swapped FROM"
    assert not any(path.name.startswith("conveyor-build.") for path in scratch.iterdir())
