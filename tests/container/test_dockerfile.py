"""Static checks of the Dockerfile: hadolint clean, and the promises the image makes."""

from __future__ import annotations

import subprocess

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
