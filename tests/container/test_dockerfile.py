"""Static checks of the Dockerfile: hadolint clean, and the promises the image makes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import BIN, ROOT


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
