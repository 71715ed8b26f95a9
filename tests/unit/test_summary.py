"""`conveyor summary`: a few readable lines after `make run`, and never a failing exit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conveyor import cli
from conveyor.summary import blocking_failures, render_summary

METRICS = {"roc_auc": 0.929775, "f1": 0.715266, "accuracy": 0.872447, "rows": 14637, "brier": 0.08}


def _gate(status: str, mode: str, message: str) -> dict[str, Any]:
    return {"status": status, "mode": mode, "message": message}


def _gates(verdict: str, strict: bool, *gates: dict[str, Any]) -> dict[str, Any]:
    counts = {s: sum(g["status"] == s for g in gates) for s in ("pass", "fail", "inconclusive")}
    return {"verdict": verdict, "fail_on_inconclusive": strict, "counts": counts, "gates": gates}


GATES = [
    _gate("pass", "block", "roc_auc 0.93 >= 0.90"),
    _gate("fail", "block", "gender=f recall 0.52 < 0.60"),
    _gate("fail", "report", "plan=basic f1 0.40 < 0.65"),
    _gate("inconclusive", "block", "tenure_months=[48, 72) roc_auc 0.80 ~ 0.80"),
]


def test_blocking_failures_follow_the_verdict_rule() -> None:
    assert blocking_failures(_gates("fail", False, *GATES)) == ["gender=f recall 0.52 < 0.60"]
    assert blocking_failures(_gates("fail", True, *GATES)) == [
        "gender=f recall 0.52 < 0.60",
        "tenure_months=[48, 72) roc_auc 0.80 ~ 0.80",
    ]


def test_the_summary_shows_the_headline_metrics_failures_and_verdict() -> None:
    text = render_summary(METRICS, _gates("fail", False, *GATES), "m.json", "g.json")
    lines = text.splitlines()
    assert "  roc_auc   0.9298" in lines
    assert "  rows      14,637" in lines
    assert "brier" not in text  # headline numbers only
    assert "  - gender=f recall 0.52 < 0.60" in lines
    assert "plan=basic" not in text  # a report-only gate does not block
    assert lines[-1] == "verdict: FAIL (2 fail, 1 inconclusive, 1 pass)"
    assert len(lines) < 15


def test_a_passing_verdict_says_nothing_blocks() -> None:
    text = render_summary(METRICS, _gates("pass", False, GATES[0]), "m.json", "g.json")
    assert "  no blocking failures" in text.splitlines()
    assert text.endswith("verdict: PASS (1 pass)")


def _outputs(root: Path, verdict: str) -> None:
    (root / "metrics").mkdir()
    (root / "metrics" / "metrics.json").write_text(json.dumps(METRICS))
    (root / "metrics" / "gates.json").write_text(json.dumps(_gates(verdict, False, *GATES)))


def test_the_command_exits_0_even_when_the_verdict_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _outputs(tmp_path, "fail")
    assert cli.main(["summary", "--params", str(tmp_path / "params.yaml")]) == 0
    assert "verdict: FAIL" in capsys.readouterr().out


def test_missing_outputs_name_the_file_and_the_command_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["summary", "--params", str(tmp_path / "params.yaml")]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path / 'metrics' / 'metrics.json'} does not exist" in error
    assert "run `make run`" in error
