"""The "your model" suites hold on a team's own data, switched in through params.yaml only.

A copy of this repository, as a team has it after "Use this template": the embedded data
removed, a different data set in `data/raw/` (other column names, a 0/1 number as the target,
a random forest), and a short params.yaml that leaves to their defaults what DVC and the
validator allow. There `make run` runs for real, `conveyor gate` must pass, and the copy's own
data, model and serving suites must pass without a skip: they read what they assert from the
copy's params and outputs, so nothing in them may know the embedded data.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, copy_repository

pytestmark = pytest.mark.pipeline

SUITES = ("tests/data", "tests/model", "tests/serve")
SOURCE = "data/raw/card_accounts.csv"


def card_frame(rows: int = 1200, seed: int = 11) -> pd.DataFrame:
    """Card accounts and whether they defaulted (1) or not (0): no column shared with the
    embedded data or the churn fixture.

    Default risk rises with utilisation and late payments and falls with time on book and a
    better card tier, so a model learns it (test AUC about 0.8); `residency` is the sensitive
    feature, two groups with a small effect of their own, large enough to be gated.
    """
    rng = np.random.default_rng(seed)
    months = rng.integers(3, 120, rows)
    utilisation = rng.beta(2, 3, rows).round(3)
    late = rng.poisson(0.6, rows)
    tier = rng.choice(["bronze", "silver", "gold"], rows, p=[0.5, 0.3, 0.2])
    residency = rng.choice(["resident", "non_resident"], rows, p=[0.6, 0.4])
    risk = (
        3.0 * utilisation
        + 0.8 * late
        - 0.015 * months
        + np.select([tier == "bronze", tier == "silver"], [0.6, 0.0], -0.6)
        + 0.2 * (residency == "non_resident")
    )
    defaulted = (risk + rng.logistic(0, 0.6, rows) > np.quantile(risk, 0.62)).astype(int)
    return pd.DataFrame(
        {
            "months_on_book": months,
            "credit_limit": rng.lognormal(8.5, 0.5, rows).round(0),
            "utilisation": utilisation,
            "late_payments": late,
            "card_tier": tier,
            "channel": rng.choice(["branch", "online", "partner"], rows),
            "residency": residency,
            "defaulted": defaulted,
        }
    )


def card_params() -> dict[str, Any]:
    """A team's short params.yaml: defaults wherever DVC and the validator allow them.

    DVC tracks `evaluate`, `export` and `model.threshold` by name, so they are written, empty
    or at their default; gates are modest, sized for a 360-row test set.
    """
    support = {"rows": 60, "positives": 15}
    return {
        "data": {
            "sources": [{"path": SOURCE}],
            "target": "defaulted",
            "positive_label": 1,
            "numeric_features": ["months_on_book", "credit_limit", "utilisation", "late_payments"],
            "categorical_features": ["card_tier", "channel"],
            "sensitive_features": ["residency"],
            "slice_columns": ["residency", "card_tier"],
        },
        "split": {"test_fraction": 0.3, "seed": 5},
        "model": {
            "estimator": "random_forest",
            "seed": 5,
            "threshold": 0.5,
            "hyperparameters": {"n_estimators": 60, "max_depth": 8, "min_samples_leaf": 3},
        },
        "evaluate": {},
        "export": {},
        "gates": {
            "overall": {"roc_auc": {"min": 0.7}},
            "slices": {"min_support": support, "metrics": {"roc_auc": {"min": 0.6}}},
            "fairness": {
                "min_support": support,
                "bounds": {"residency": {"equalized_odds_difference": {"max": 0.35}}},
            },
        },
    }


def _run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
    )


def _output(completed: subprocess.CompletedProcess[str]) -> str:
    return f"exit {completed.returncode}\n{completed.stdout[-6000:]}\n{completed.stderr[-3000:]}"


@pytest.fixture
def team_repository(tmp_path: Path) -> Path:
    """The copy, sharing this checkout's environment: `.venv` and `.tools` are symlinks, so
    nothing is installed; `make` must then find the environment up to date."""
    repository = copy_repository(
        tmp_path / "team",
        edit={
            "params.yaml": yaml.safe_dump(card_params(), sort_keys=False),
            SOURCE: card_frame().to_csv(index=False),
        },
        leave_out=["data/raw"],
    )
    for name in (".venv", ".tools"):
        (repository / name).symlink_to(ROOT / name, target_is_directory=True)
    return repository


def test_the_your_model_suites_pass_on_another_data_set(
    team_repository: Path, tmp_path: Path
) -> None:
    repository = team_repository
    assert [p.name for p in (repository / "data" / "raw").iterdir()] == [Path(SOURCE).name]
    # A stale .venv/.synced would make `make run` re-sync the environment both checkouts share.
    synced = _run(["make", "--question", ".venv/.synced"], repository, 60)
    assert synced.returncode == 0, (
        "make would re-install .venv (pyproject.toml or uv.lock is newer than .venv/.synced): "
        f"run `make setup` in {ROOT} first\n{_output(synced)}"
    )
    run = _run(["make", "run"], repository, 900)
    assert run.returncode == 0, _output(run)
    assert "Running stage 'export'" in run.stdout + run.stderr, _output(run)  # nothing cached
    assert re.search(r"^verdict: PASS", run.stdout, re.M), _output(run)
    bin_dir = repository / ".venv" / "bin"
    gate = _run([str(bin_dir / "conveyor"), "gate"], repository, 120)
    assert gate.returncode == 0, _output(gate)

    suites = _run(
        [str(bin_dir / "pytest"), *SUITES, "-m", "not container", "-p", "no:cacheprovider",
         "-v", "--color=no", "--basetemp", str(tmp_path / "suites")],
        repository,
        900,
    )  # fmt: skip
    assert suites.returncode == 0, _output(suites)
    summary = suites.stdout.strip().splitlines()[-1]
    counts = dict((kind, int(n)) for n, kind in re.findall(r"(\d+) (\w+)", summary))
    assert counts.get("passed", 0) >= 50, summary
    assert set(counts) <= {"passed", "warning", "warnings", "deselected"}, summary  # no skip
    ran = set(re.findall(r"^(tests/\S+::\S+) PASSED", suites.stdout, re.M))
    for expected in (  # each suite ran on the copy's data, not on this checkout's
        "tests/model/test_gates.py::test_gate[slice.residency=resident.roc_auc]",
        "tests/model/test_gates_trip.py::test_a_group_with_inverted_labels_fails_its_slice_gates",
        "tests/data/test_prepared_data.py::test_balance_check_trips",
        "tests/model/test_fairness.py::test_disparities_are_fairlearns_over_the_supported_groups[residency]",
        "tests/serve/test_endpoints.py::test_http_predictions_equal_the_pipeline_on_the_whole_test_set",
    ):
        assert expected in ran, (expected, summary)
