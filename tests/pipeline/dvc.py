"""DVC as the tests drive it in a repository of their own (see `copy_repository`)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import BIN, ROOT


def dvc(project: Path, *args: str, succeed: bool = True) -> str:
    """Run `dvc args` in `project`; its combined output, or a failed assertion showing it
    when it did not succeed (or, with `succeed=False`, when it did)."""
    completed = subprocess.run(
        [str(BIN / "dvc"), *args], cwd=project, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        check=False,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert (completed.returncode == 0) == succeed, output
    return output


def git(project: Path, *args: str) -> str:
    """Run `git args` in `project` as a throw-away identity; its standard output."""
    completed = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=project, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return completed.stdout.strip()


def stages_run(output: str) -> list[str]:
    """The stages a `dvc repro` output says it ran, in order."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def share_project_cache(project: Path) -> None:
    """Point `project` at this repository's DVC cache: the outputs `make run` made are there,
    so nothing is recomputed that this dvc.lock already describes."""
    dvc(project, "cache", "dir", "--local", str(ROOT / ".dvc" / "cache"))
