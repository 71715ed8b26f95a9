"""The pull-request report, rendered from dictionaries."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from conveyor.report import ModelState, flatten, render_report
from tests.conftest import ROOT, run_conveyor


def _gate(id_: str, status: str, mode: str = "block") -> dict[str, Any]:
    return {"id": id_, "status": status, "mode": mode, "message": f"{id_} message"}


def _gates(*gates: dict[str, Any], verdict: str = "pass") -> dict[str, Any]:
    counts = {s: sum(g["status"] == s for g in gates) for s in ("pass", "fail")}
    return {"verdict": verdict, "counts": counts, "gates": list(gates)}


BASE = ModelState(
    "main",
    metrics={"roc_auc": 0.93, "log_loss": 0.27, "rows": 100},
    params={"model": {"estimator": "hist_gradient_boosting", "hyperparameters": {"max_iter": 200}}},
    gates=_gates(_gate("overall.roc_auc", "pass")),
)


def test_metrics_and_their_direction() -> None:
    current = ModelState("feature", metrics={"roc_auc": 0.91, "log_loss": 0.25, "rows": 100})
    text = render_report(current, BASE)
    assert "| roc_auc | 0.9300 | 0.9100 | -0.0200 🔴 |" in text
    assert "| log_loss | 0.2700 | 0.2500 | -0.0200 🟢 |" in text


def test_only_changed_parameters_are_listed() -> None:
    params = {"model": {"estimator": "hist_gradient_boosting", "hyperparameters": {"max_iter": 50}}}
    text = render_report(ModelState("feature", params=params), BASE)
    assert "| `model.hyperparameters.max_iter` | `200` | `50` |" in text
    assert "model.estimator" not in text
    assert "No parameter changed." in render_report(ModelState("x", params=BASE.params), BASE)


def test_a_failing_blocking_gate_blocks_and_is_shown_first() -> None:
    gates = _gates(
        _gate("overall.roc_auc", "pass"),
        _gate("slice.gender=f.recall", "fail"),
        _gate("fairness.gender.demographic_parity_ratio", "fail", mode="report"),
        verdict="fail",
    )
    text = render_report(ModelState("feature", gates=gates), BASE)
    assert "❌ **Blocked**: 1 blocking gate(s) failed" in text
    failing = text.index("slice.gender=f.recall message")
    assert failing < text.index("<details>") < text.index("overall.roc_auc message")
    assert "| ❌ fail | block |" in text


def test_a_gate_that_changed_status_says_so() -> None:
    gates = _gates(_gate("overall.roc_auc", "fail"), verdict="fail")
    assert "fail (was pass)" in render_report(ModelState("feature", gates=gates), BASE)


def test_missing_gates_are_explained() -> None:
    text = render_report(ModelState("feature"), None)
    assert "No gate results" in text
    assert "No base to compare parameters with." in text


def test_table_cells_cannot_break_the_markdown() -> None:
    text = render_report(ModelState("x", params={"a": "x|y"}), ModelState("main", params={}))
    assert "`x\\|y`" in text


def test_flatten() -> None:
    assert flatten({"a": {"b": 1, "c": {}}, "d": [1]}) == {"a.b": 1, "a.c": {}, "d": [1]}


def test_the_cli_compares_with_a_git_revision(tmp_path: Path) -> None:
    output = tmp_path / "report.md"
    result = run_conveyor("report", "--base", "HEAD", "--output", str(output), cwd=ROOT)
    assert result.code == 0, result.stderr
    text = output.read_text()
    assert text.startswith("## Conveyor model report")
    assert "against `HEAD`" in text


def test_an_unknown_revision_is_explained(tmp_path: Path) -> None:
    result = run_conveyor(
        "report", "--base", "no-such-branch", "--output", str(tmp_path / "r.md"), cwd=ROOT
    )
    assert result.code == 2
    assert "git revision 'no-such-branch' is not known here" in result.stderr
    assert not (tmp_path / "r.md").exists()
    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=False).returncode == 0
