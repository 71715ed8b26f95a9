"""Shared fixtures: the project root, a CLI runner, and small self-contained projects.

Tests that exercise the pipeline build their own tiny project in a temporary folder (a CSV
and a params file), so they never touch the repository's data or outputs.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from conveyor.paths import ProjectPaths

LONGEST_FILE = "tests/workflows/test_ci_run.py"
"""The act run of ci.yml's pipeline job, which runs every other suite inside it and takes most
of `make test`'s time. `make test` runs the workflow and container tests in two lanes, one
file at a time (pytest-xdist `--dist loadfile`): this file first, alone in one lane, and every
other file in the other lane beside it."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the longest files first, so the lanes start them at once and finish
    together (with `--no-loadscope-reorder`, xdist hands out files in this order): the act run
    of CI, then the tests that run the real pipeline (`make suites` runs in two workers too).
    In one process the order stays as written, so `-x` stops at the first failure early."""
    if not getattr(config.option, "numprocesses", None):
        return
    items.sort(
        key=lambda item: (
            not item.nodeid.startswith(LONGEST_FILE),
            item.get_closest_marker("pipeline") is None,
        )
    )


ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# `make setup` installs a pinned uv here; fall back to one on PATH for other set-ups.
UV = str(ROOT / ".tools" / "bin" / "uv") if (ROOT / ".tools" / "bin" / "uv").exists() else "uv"


def copy_repository(
    destination: Path, edit: dict[str, str] | None = None, leave_out: Collection[str] = ()
) -> Path:
    """The project's files (tracked and unignored, outputs excluded) in a new git repository.

    Tests that run DVC or the workflows need a repository of their own, as a fresh clone
    would be, so they never touch this one. `edit` replaces (or adds) files' text before the
    commit; `leave_out` names files or folders not to copy, as a team removes what it replaces
    (e.g. `data/raw`, the embedded data). Copies keep their modification times, so `make`
    in the copy judges `.venv/.synced` against the same `uv.lock` as here.
    """
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    for name in listed:
        source = ROOT / name
        if any(name == part or name.startswith(f"{part.rstrip('/')}/") for part in leave_out):
            continue
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    for name, text in (edit or {}).items():
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        (destination / name).write_text(text)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=destination, check=True)
    subprocess.run([*git, "add", "-A"], cwd=destination, check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=destination, check=True)
    return destination


@dataclass(frozen=True)
class CliResult:
    """What a `conveyor` process did: its exit code and both streams."""

    code: int
    stdout: str
    stderr: str


def run_conveyor(*args: str, cwd: Path, env: dict[str, str] | None = None) -> CliResult:
    """Run the installed `conveyor` console script in a real process."""
    completed = subprocess.run(
        [str(BIN / "conveyor"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def churn_frame(rows: int = 600, seed: int = 7) -> pd.DataFrame:
    """A small synthetic churn table whose columns share no name with Adult.

    The label depends on tenure, spend and plan, so a model can learn it; a column of e-mail
    addresses exercises pseudonymisation and `gender` plays the sensitive feature.
    """
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    spend = rng.normal(60, 20, rows).round(2)
    plan = rng.choice(["basic", "plus", "premium"], rows)
    region = rng.choice(["north", "south", "east", "west"], rows)
    gender = rng.choice(["f", "m"], rows)
    score = -0.05 * tenure + 0.03 * spend + np.where(plan == "basic", 1.0, -0.5)
    churned = np.where(score + rng.normal(0, 0.7, rows) > np.median(score), "yes", "no")
    return pd.DataFrame(
        {
            "customer_email": [f"user{i}@example.com" for i in range(rows)],
            "tenure_months": tenure,
            "monthly_spend": spend,
            "plan": plan,
            "region": region,
            "gender": gender,
            "internal_note": ["n/a"] * rows,
            "churned": churned,
        }
    )


def churn_params(source: str = "data/churn.csv", **model: Any) -> dict[str, Any]:
    """Parameters for `churn_frame` data: every key a real team would set."""
    return {
        "data": {
            "sources": [{"path": source}],
            "format": "csv",
            "csv": {"header": True},
            "target": "churned",
            "positive_label": "yes",
            "numeric_features": ["tenure_months", "monthly_spend"],
            "categorical_features": ["plan", "region"],
            "sensitive_features": ["gender"],
            "slice_columns": ["gender", "plan"],
            "drop_columns": ["internal_note"],
            "pseudonymise_columns": ["customer_email"],
        },
        "split": {"test_fraction": 0.25, "seed": 3, "stratify": True},
        "model": {
            "estimator": "logistic_regression",
            "seed": 3,
            "hyperparameters": {"C": 1.0},
            **model,
        },
    }


def section(params: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The mapping at `keys` inside `params`, created (or replacing an empty `key:`) as needed.

    Tests edit parameters through this, whether a dictionary of their own or `params.yaml`'s.
    """
    node = params
    for key in keys:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    return node


def with_param(params: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of `params` with one dotted key (`model.search.cv_folds`) set to `value`."""
    result = copy.deepcopy(params)
    *parents, last = dotted.split(".")
    section(result, *parents)[last] = value
    return result


@dataclass
class Project:
    """A throw-away project folder with its own params file and data."""

    root: Path

    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    def write_params(self, params: dict[str, Any]) -> None:
        self.params.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    def write_csv(self, frame: pd.DataFrame, name: str = "data/churn.csv") -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        return path

    def run(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        return run_conveyor(*args, "--params", str(self.params), cwd=self.root, env=env)

    def files(self) -> set[str]:
        """Every file below the root, relative, to prove what a failed stage left behind."""
        return {str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.fixture
def churn_project(project: Project) -> Project:
    """A project holding the churn CSV and valid params for it."""
    project.write_csv(churn_frame())
    project.write_params(churn_params())
    return project


@pytest.fixture(scope="session")
def pipeline_outputs() -> ProjectPaths:
    """The repository's own pipeline outputs, refusing to test missing or stale ones."""
    paths = ProjectPaths(ROOT)
    needed = [paths.model, paths.onnx_model, paths.signature, paths.test_data, paths.metrics]
    missing = [str(p.relative_to(ROOT)) for p in needed if not p.exists()]
    if missing:
        pytest.fail(f"pipeline outputs {missing} are missing: run `make run` (or `dvc repro`)")
    status = subprocess.run(
        [str(BIN / "dvc"), "status"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )
    if status.returncode != 0 or "up to date" not in status.stdout:
        pytest.fail(
            "pipeline outputs are stale (`dvc status` is not clean): run `make run` "
            f"(or `dvc repro`) first\n{status.stdout}"
        )
    return paths
