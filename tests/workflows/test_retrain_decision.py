"""scripts/retrain-decision.sh, the rule retrain.yml proposes a model by: drift, or a blocking
margin against the champion whose whole interval lies on the better side of zero. Each way
to open a pull request is shown to open one, and each near miss to open none."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "retrain-decision.sh"


def margin(
    metric: str, direction: str, low: float, high: float, *, mode: str = "block",
    status: str = "pass", group: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A champion margin as reports/comparison.json records it."""
    return {"id": f"champion.{metric}", "kind": "champion", "metric": metric, "mode": mode,
            "group": group, "direction": direction, "status": status, "ci_level": 0.95,
            "ci_low": low, "ci_high": high, "value": (low + high) / 2}  # fmt: skip


def decide(
    tmp_path: Path, *, changed: bool = True, drift: str = "0",
    margins: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    if margins is not None:
        (tmp_path / "reports").mkdir(exist_ok=True)
        comparison = {"verdict": {"gates": margins}}
        (tmp_path / "reports" / "comparison.json").write_text(json.dumps(comparison))
    output = tmp_path / "github-output"
    completed = subprocess.run(
        [str(SCRIPT), "out"], cwd=tmp_path, capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", "CHANGED": str(changed).lower(), "DRIFT": drift,
             "GITHUB_OUTPUT": str(output)},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    decision: dict[str, Any] = json.loads((tmp_path / "out" / "decision.json").read_text())
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert lines["open"] == str(decision["open"]).lower() and lines["reason"] == decision["reason"]
    decision["body"] = (tmp_path / "out" / "pr-body.md").read_text()
    return decision


def test_drift_opens_a_pull_request(tmp_path: Path) -> None:
    decision = decide(tmp_path, drift="1", margins=[margin("auc", "min", -0.01, 0.01)])
    assert decision["open"] and decision["reason"] == "data drifted"
    assert "**Data drift**" in decision["body"]


@pytest.mark.parametrize(
    ("margins", "improved"),
    [
        ([margin("auc", "min", 0.001, 0.02)], True),  # higher is better, wholly above zero
        ([margin("loss", "max", -0.03, -0.002)], True),  # lower is better, wholly below zero
        ([margin("auc", "min", -0.001, 0.02)], False),  # straddles zero: noise
        ([margin("loss", "max", -0.03, 0.0)], False),  # touches zero: not wholly better
        ([margin("auc", "min", 0.001, 0.02, mode="report")], False),  # not a blocking margin
        ([margin("auc", "min", 0.001, 0.02, group="plan=basic")], False),  # a slice
        # A blocking margin failed: no improvement, whatever else improved.
        (
            [margin("auc", "min", 0.001, 0.02), margin("rate", "max", 0.01, 0.05, status="fail")],
            False,
        ),
    ],
    ids=["raised", "lowered", "straddles", "touches", "report-only", "slice", "one-fails"],
)
def test_an_improvement_is_a_blocking_margin_wholly_on_the_better_side(
    tmp_path: Path, margins: list[dict[str, Any]], improved: bool
) -> None:
    decision = decide(tmp_path, margins=margins)
    assert decision["improved"] is improved and decision["open"] is improved
    assert decision["reason"] == ("model improved" if improved else "nothing moved")
    if improved:
        assert decision["improvements"][0].startswith(margins[0]["metric"] + " ")
        assert "**Improved**" in decision["body"]


def test_both_reasons_are_named(tmp_path: Path) -> None:
    decision = decide(tmp_path, drift="1", margins=[margin("auc", "min", 0.01, 0.03)])
    assert decision["reason"] == "data drifted, model improved"


def test_nothing_changed_proposes_nothing(tmp_path: Path) -> None:
    decision = decide(tmp_path, changed=False, drift="skipped",
                      margins=[margin("auc", "min", 0.01, 0.03)])  # fmt: skip
    assert not decision["open"] and decision["reason"] == "nothing moved"


def test_the_output_folder_is_required(tmp_path: Path) -> None:
    completed = subprocess.run([str(SCRIPT)], cwd=tmp_path, capture_output=True, text=True,
                               check=False)  # fmt: skip
    assert completed.returncode == 2 and "output folder" in completed.stderr
