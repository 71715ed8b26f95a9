"""`scripts/container.sh swap-base`: the Dockerfile a build without a registry uses.

The Dockerfile pins its base by digest in each FROM (Dependabot updates only a base written
out there). A machine that cannot pull it builds from a copy whose FROM lines name a local base
instead; these tests hold the copy to "the FROM images change, nothing else does".
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import BIN, ROOT
from tests.container.bases import Stage, stages
from tests.serve.image_layout import instructions

SCRIPT = ROOT / "scripts" / "container.sh"
LOCAL_BASE = "localhost/conveyor-base:bookworm"


def swap_base(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), "swap-base", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_the_swap_rewrites_the_from_lines_of_both_stages_and_nothing_else(tmp_path: Path) -> None:
    original = (ROOT / "Dockerfile").read_text()
    result = swap_base(LOCAL_BASE)
    assert result.returncode == 0, result.stderr
    swapped = result.stdout
    before, after = original.splitlines(), swapped.splitlines()
    assert len(after) == len(before)
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert [old for old, _ in changed] == [line for line in before if line.startswith("FROM ")]
    assert len(changed) == 2, "the build stage and the final stage"
    assert [stage.name for stage in stages(original)] == ["build", None]
    assert stages(swapped) == [Stage(LOCAL_BASE, "build"), Stage(LOCAL_BASE, None)]
    assert changed[0][1] == f"FROM {LOCAL_BASE} AS build", "spelled as before"
    # Every other instruction is the same, and the copy still parses as a Dockerfile.
    assert [i for i in instructions(swapped) if i[0] != "FROM"] == [
        i for i in instructions(original) if i[0] != "FROM"
    ]
    (tmp_path / "Dockerfile").write_text(swapped)
    linted = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "style", str(tmp_path / "Dockerfile")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_flags_stage_names_spacing_and_stage_references_are_kept(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "# FROM a comment is not an instruction\n"
        "from  --platform=$BUILDPLATFORM python:3.12@sha256:abc as Build\n"
        "RUN echo FROM inside a command\n"
        "FROM build AS test\n"
        "FROM\tdebian:12\n"
    )
    result = swap_base("localhost/base:1", str(dockerfile))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "# FROM a comment is not an instruction\n"
        "from  --platform=$BUILDPLATFORM localhost/base:1 as Build\n"
        "RUN echo FROM inside a command\n"
        "FROM build AS test\n"  # an earlier stage (names are case-insensitive), not a base
        "FROM\tlocalhost/base:1\n"
    )


def test_a_dockerfile_without_a_base_to_swap_is_refused(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("RUN true\n")
    result = swap_base(LOCAL_BASE, str(dockerfile))
    assert result.returncode == 1
    assert f"{dockerfile} has no FROM line with an image to swap" in result.stderr
    missing = swap_base(LOCAL_BASE, str(tmp_path / "Containerfile"))
    assert missing.returncode == 1
    assert f"{tmp_path / 'Containerfile'} not found" in missing.stderr
