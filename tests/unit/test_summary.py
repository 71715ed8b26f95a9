"""`conveyor summary`: a few readable lines after `make run`, and never a failing exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conveyor import cli
from conveyor.paths import ProjectPaths
from conveyor.summary import blocking_failures, render_summary
from conveyor.verdict import GateResult, Verdict
from tests.unit.verdicts import gate, write_outputs

METRICS = {"roc_auc": 0.929775, "f1": 0.715266, "accuracy": 0.872447, "rows": 14637, "brier": 0.08}


def _gates(verdict: str, strict: bool, *gates: GateResult) -> Verdict:
    result = Verdict(gates, fail_on_inconclusive=strict)
    assert result.outcome == verdict
    return result


GATES = [
    gate("overall.roc_auc", "pass", "block", "roc_auc 0.93 >= 0.90"),
    gate("slice.gender=f.recall", "fail", "block", "gender=f recall 0.52 < 0.60"),
    gate("slice.plan=basic.f1", "fail", "report", "plan=basic f1 0.40 < 0.65"),
    gate("slice.tenure=[48, 72).roc_auc", "inconclusive", "block", "tenure=[48, 72) ~ 0.80"),
]


def test_blocking_failures_follow_the_verdict_rule() -> None:
    assert blocking_failures(_gates("fail", False, *GATES)) == ["gender=f recall 0.52 < 0.60"]
    assert blocking_failures(_gates("fail", True, *GATES)) == [
        "gender=f recall 0.52 < 0.60",
        "tenure=[48, 72) ~ 0.80",
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


def test_blocking_failures_are_listed_in_reading_order() -> None:
    document = _gates(
        "fail",
        False,
        gate("slice.plan=plus.recall", "fail", message="plus"),
        gate("overall.roc_auc", "fail", message="auc"),
        gate("overall.f1", "pass"),
    )
    assert blocking_failures(document) == ["auc", "plus"]


def test_numbers_are_shown_for_people() -> None:
    metrics = {"roc_auc": 0.5, "f1": None, "accuracy": True, "precision": "n/a", "rows": 1234567}
    lines = render_summary(metrics, _gates("pass", False), "m.json", "g.json").splitlines()
    assert lines[1:6] == [
        "  roc_auc    0.5000",
        "  f1         None",
        "  accuracy   True",
        "  precision  n/a",
        "  rows       1,234,567",
    ]


def test_no_metrics_and_no_gates() -> None:
    text = render_summary({}, _gates("pass", False), "m.json", "g.json")
    assert text.splitlines()[:2] == [
        "Model on the held-out test set (m.json):",
        "Quality gates (g.json; every gate: `conveyor gate`):",
    ]


def test_a_hand_edited_verdict_does_not_pass_a_failing_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gates = _outputs(tmp_path, "fail").gates
    document = json.loads(gates.read_text())
    gates.write_text(json.dumps({**document, "verdict": "pass"}))
    assert cli.main(["summary", "--params", str(tmp_path / "params.yaml")]) == 0
    assert (
        capsys.readouterr().out.rstrip().endswith("verdict: FAIL (2 fail, 1 inconclusive, 1 pass)")
    )


def _outputs(root: Path, verdict: str) -> ProjectPaths:
    return write_outputs(root, METRICS, _gates(verdict, False, *GATES))


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
    assert f"{ProjectPaths(tmp_path).metrics} does not exist" in error
    assert "run `make run`" in error


def test_an_unreadable_gates_file_is_named_not_an_internal_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gates.json this version cannot read (an older writer, a hand edit) is the user's to
    fix, like a missing one: exit 2 naming the file, not "internal error ... please report"."""
    gates = _outputs(tmp_path, "fail").gates
    document = json.loads(gates.read_text())
    document["gates"][0]["status"] = "passed"
    gates.write_text(json.dumps(document))
    assert cli.main(["summary", "--params", str(tmp_path / "params.yaml")]) == 2
    error = capsys.readouterr().err
    assert str(gates) in error
    assert "internal error" not in error
