"""Where a model came from: the commit it was built at."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

UNKNOWN = "unknown"


def git_commit(root: Path) -> str:
    """The commit SHA, from CI's environment first, else git; "-dirty" marks local edits.

    GitHub sets GITHUB_SHA; inside a container build there is no .git, so the value can also
    be passed as CONVEYOR_GIT_SHA.
    """
    for variable in ("CONVEYOR_GIT_SHA", "GITHUB_SHA"):
        value = os.environ.get(variable)
        if value:
            return value
    try:
        sha = _git(root, "rev-parse", "HEAD")
        dirty = _git(
            root, "status", "--porcelain", "--untracked-files=no", "--", "src", "params.yaml"
        )
    except (OSError, subprocess.CalledProcessError):
        return UNKNOWN
    return f"{sha}-dirty" if dirty else sha


def _git(root: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True, timeout=10
    )
    return completed.stdout.strip()
