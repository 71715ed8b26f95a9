"""`conveyor check-outputs`: the edge that reads git and the working tree for `outputs_diff`.

Run after `dvc repro`: the working tree then holds what the pipeline produces from the
committed inputs, and any difference from HEAD means a commit carries a `dvc.lock` or
metrics that its own code, params and data do not produce. When tracked inputs have
uncommitted changes the comparison would mean nothing (the outputs come from inputs no commit
holds), so the check says it skipped and why, and passes.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from conveyor.errors import ConveyorError
from conveyor.outputs_diff import LOCK_FILE, diff_lock, diff_output, failure_message, value_outputs
from conveyor.tracked_params import read_dvc_stages

DVC_FILE = "dvc.yaml"


@dataclass(frozen=True)
class Outcome:
    """The check's exit code and what to print."""

    code: int
    message: str


class _Git:
    """The few git reads the check needs, relative to the project folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        located = self._git("rev-parse", "--show-prefix")
        if located.returncode:
            raise ConveyorError(
                f"{root.resolve()} is not inside a git repository: check-outputs compares the "
                "working tree's dvc.lock and metrics with the last commit"
            )
        self.prefix = located.stdout.strip()
        if self._git("rev-parse", "--verify", "--quiet", "HEAD").returncode:
            raise ConveyorError(f"the git repository at {root.resolve()} has no commit yet")

    def _git(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["git", *args], cwd=self.root, capture_output=True, text=True, check=False
            )
        except OSError as error:
            raise ConveyorError(f"cannot run git: {error}") from None

    def committed(self, path: str) -> str | None:
        """The file's text at HEAD, or None when HEAD does not hold it."""
        shown = self._git("show", f"HEAD:./{path}")
        return shown.stdout if shown.returncode == 0 else None

    def changed(self) -> list[str]:
        """Tracked files that differ from HEAD (staged or not), relative to the project."""
        listed = self._git("status", "--porcelain=v1", "-z", "--untracked-files=no", "--", ".")
        if listed.returncode:
            raise ConveyorError(f"git status failed: {listed.stderr.strip()}")
        fields = iter(listed.stdout.split("\0"))
        paths = []
        for field in fields:
            if not field:
                continue
            state, path = field[:2], field[3:]
            if "R" in state or "C" in state:
                paths.append(next(fields, ""))  # the origin of a rename or copy changed too
            paths.append(path)
        return [p.removeprefix(self.prefix) for p in paths if p]


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def check_outputs(root: Path, *, strict: bool = False) -> Outcome:
    """Compare the working tree's dvc.lock and git-kept outputs with HEAD's.

    `strict` (in CI) makes uncommitted inputs an error instead of a reason to skip: a CI
    checkout is a commit, so a check that compared nothing there would hide a broken step.
    """
    git = _Git(root)
    stages = read_dvc_stages(root / DVC_FILE)
    produced = value_outputs(stages)
    inputs = sorted({p for p in git.changed() if p != LOCK_FILE and p not in produced})
    if inputs:
        shown = ", ".join(inputs[:5]) + (f" and {len(inputs) - 5} more" if len(inputs) > 5 else "")
        return Outcome(
            1 if strict else 0,
            f"{'error' if strict else 'skipped'}: tracked inputs have uncommitted changes "
            f"({shown}), so the outputs "
            "come from inputs no commit holds and cannot be compared with HEAD. Commit them, "
            "run `make run`, then check again",
        )
    differences = diff_lock(git.committed(LOCK_FILE), _read(root / LOCK_FILE), produced)
    for path in sorted(produced):
        differences += diff_output(path, git.committed(path), _read(root / path))
    if differences:
        return Outcome(1, failure_message(differences))
    checked = ", ".join([LOCK_FILE, *sorted(produced)])
    return Outcome(0, f"the committed outputs are what the pipeline produced ({checked})")
