"""The pull-request report, rendered from dictionaries and hand-built verdicts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from conveyor.errors import ConveyorError
from conveyor.gate_changes import flatten
from conveyor.paths import ProjectPaths
from conveyor.report import (
    ModelState,
    gates_section,
    metrics_table,
    params_table,
    render_report,
    verdict_line,
)
from conveyor.reportio import from_git, from_tree
from conveyor.verdict import GateResult, Verdict
from tests.conftest import ROOT, run_conveyor
from tests.unit.verdicts import gate as _gate
from tests.unit.verdicts import verdict as make_verdict
from tests.unit.verdicts import write_outputs


def _gates(*gates: GateResult, verdict: str = "pass", strict: bool = False) -> Verdict:
    result = make_verdict(*gates, fail_on_inconclusive=strict)
    assert str(result.outcome) == verdict
    return result


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


def test_metrics_table_arrows_follow_the_registry() -> None:
    before = ModelState(
        "main",
        metrics={"roc_auc": 0.9, "brier": 0.1, "false_positive_rate": 0.1, "selection_rate": 0.2,
                 "f1": 0.7, "accuracy": 0.8},
    )  # fmt: skip
    after = ModelState(
        "pr",
        metrics={"roc_auc": 0.95, "brier": 0.12, "false_positive_rate": 0.05,
                 "selection_rate": 0.3, "f1": 0.70001, "rows": 14637},
    )  # fmt: skip
    lines = metrics_table(after, before)
    assert lines[:2] == ["| metric | main | pr | change |", "|---|---:|---:|---:|"]
    assert "| roc_auc | 0.9000 | 0.9500 | +0.0500 🟢 |" in lines
    assert "| brier | 0.1000 | 0.1200 | +0.0200 🔴 |" in lines  # lower is better
    assert "| false_positive_rate | 0.1000 | 0.0500 | -0.0500 🟢 |" in lines
    assert "| selection_rate | 0.2000 | 0.3000 | +0.1000 |" in lines  # neither way is better
    assert "| f1 | 0.7000 | 0.7000 | +0.0000 |" in lines  # below the noise: no arrow
    assert "| accuracy | 0.8000 | — |  |" in lines  # gone on this side
    assert not any(line.startswith("| log_loss") for line in lines)  # on neither side
    assert lines[-1] == "\nMeasured on 14,637 held-out test rows."


def test_metrics_table_in_registry_order_without_a_base() -> None:
    lines = metrics_table(ModelState("pr", metrics={"log_loss": 0.3, "roc_auc": 0.9}), None)
    assert lines == [
        "| metric | base | pr | change |",
        "|---|---:|---:|---:|",
        "| roc_auc | — | 0.9000 |  |",
        "| log_loss | — | 0.3000 |  |",
    ]


def test_a_null_metric_is_a_dash() -> None:
    lines = metrics_table(ModelState("pr", metrics={"roc_auc": None}), BASE)
    assert "| roc_auc | 0.9300 | — |  |" in lines


def test_only_changed_parameters_are_listed() -> None:
    params = {"model": {"estimator": "hist_gradient_boosting", "hyperparameters": {"max_iter": 50}}}
    text = render_report(ModelState("feature", params=params), BASE)
    assert "| `model.hyperparameters.max_iter` | `200` | `50` |" in text
    assert "model.estimator" not in text
    assert "No parameter changed." in render_report(ModelState("x", params=BASE.params), BASE)


def test_params_table_values_as_yaml_reads_them() -> None:
    before = ModelState("main", params={"a": {"b": 1, "gone": True}, "s": "x", "e": "y"})
    after = ModelState("pr", params={"a": {"b": 1.5, "new": [1, 2]}, "s": "x|y", "e": ""})
    assert params_table(after, before) == [
        "| parameter | main | pr |",
        "|---|---|---|",
        "| `a.b` | `1` | `1.5` |",
        "| `a.gone` | `true` | — |",
        "| `a.new` | — | `[1, 2]` |",
        '| `e` | `y` | `""` |',
        "| `s` | `x` | `x\\|y` |",
    ]
    assert params_table(after, None) == ["No base to compare parameters with."]


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


def test_gates_section_folds_what_needs_no_attention() -> None:
    gates = _gates(
        _gate("overall.roc_auc", "pass", message="auc ok"),
        _gate("slice.plan=basic.f1", "inconclusive", message="basic unsure"),
        _gate("slice.plan=plus.f1", "not gated", message="plus small"),
        _gate("overall.f1", "fail", "report", message="f1 low"),
    )
    lines = gates_section(ModelState("pr", gates=gates), None)
    assert lines == [
        "| status | mode | gate |",
        "|---|---|---|",
        "| ❌ fail | report | f1 low |",
        "| ⚠️ inconclusive | block | basic unsure |",
        "",
        "<details><summary>2 passing or not gated</summary>",
        "",
        "| status | mode | gate |",
        "|---|---|---|",
        "| ✅ pass | block | auc ok |",
        "| ⚪ not gated | block | plus small |",
        "",
        "</details>",
    ]


def test_gates_section_when_everything_passes() -> None:
    lines = gates_section(ModelState("pr", gates=_gates(_gate("overall.f1", "pass"))), None)
    assert lines[0] == "Every gate passed or was not gated."
    assert "<details><summary>1 passing or not gated</summary>" in lines
    assert gates_section(ModelState("pr", gates=_gates()), None) == [
        "Every gate passed or was not gated."
    ]


def test_a_gate_that_changed_status_says_so() -> None:
    gates = _gates(_gate("overall.roc_auc", "fail"), verdict="fail")
    assert "fail (was pass)" in render_report(ModelState("feature", gates=gates), BASE)
    same = _gates(_gate("overall.roc_auc", "pass"))
    assert "(was" not in "\n".join(gates_section(ModelState("pr", gates=same), BASE))


def test_verdict_line_when_blocked() -> None:
    gates = _gates(
        _gate("overall.roc_auc", "fail"),
        _gate("overall.f1", "pass"),
        _gate("overall.accuracy", "pass"),
        _gate("slice.plan=basic.f1", "inconclusive"),
        _gate("slice.plan=plus.f1", "fail", "report"),
        _gate("slice.plan=premium.f1", "not gated"),
        verdict="fail",
    )
    assert verdict_line(ModelState("pr", gates=gates)) == (
        "❌ **Blocked**: 1 blocking gate(s) failed; 2 blocking gate(s) pass, "
        "1 blocking gate(s) inconclusive, 1 report-only gate(s) fail, "
        "1 not gated (see why below)."
    )


def test_verdict_line_counts_an_inconclusive_gate_that_blocks() -> None:
    """With `fail_on_inconclusive` an inconclusive blocking gate is one of what blocks, named
    for what it is, and not repeated as a note."""
    gates = _gates(
        _gate("overall.roc_auc", "fail"),
        _gate("slice.plan=basic.f1", "inconclusive"),
        _gate("overall.f1", "pass"),
        verdict="fail",
        strict=True,
    )
    assert verdict_line(ModelState("pr", gates=gates)) == (
        "❌ **Blocked**: 1 blocking gate(s) failed, 1 blocking gate(s) inconclusive, which "
        "`fail_on_inconclusive` counts as failed; 1 blocking gate(s) pass."
    )


def test_verdict_line_when_everything_blocking_passes() -> None:
    gates = _gates(
        _gate("overall.roc_auc", "pass"),
        _gate("slice.plan=basic.f1", "inconclusive"),
        _gate("slice.plan=plus.f1", "fail", "report"),
    )
    assert verdict_line(ModelState("pr", gates=gates)) == (
        "✅ **All blocking gates pass**: 1 blocking gate(s) pass, "
        "1 blocking gate(s) inconclusive, 1 report-only gate(s) fail."
    )


def test_verdict_line_without_gate_results() -> None:
    assert verdict_line(ModelState("pr")) == "⚠️ **No gate verdict**: the gates did not run."


@pytest.mark.parametrize(
    ("gates", "blocked"),
    [
        (_gates(), False),  # no gate configured
        (_gates(_gate("overall.f1", "pass", "report")), False),  # report-only gates alone
        (_gates(_gate("overall.f1", "fail"), verdict="fail"), True),  # nothing besides
    ],
    ids=["no-gates", "report-only", "one-failure"],
)
def test_verdict_line_has_no_dangling_punctuation(gates: Verdict, blocked: bool) -> None:
    """A verdict with nothing to note must still read as a sentence: not `...failed; .` or
    `...pass**: .`"""
    line = verdict_line(ModelState("pr", gates=gates))
    assert line.startswith("❌" if blocked else "✅")
    assert not line.endswith((": .", "; .", ", ."))
    if not gates.gates:
        assert "no gate" in line.lower()


def test_missing_gates_are_explained() -> None:
    text = render_report(ModelState("feature"), None)
    assert "No gate results" in text
    assert "No base to compare parameters with." in text


def test_table_cells_cannot_break_the_markdown() -> None:
    text = render_report(ModelState("x", params={"a": "x|y"}), ModelState("main", params={}))
    assert "`x\\|y`" in text


def test_render_report_sections_and_run_url() -> None:
    current = ModelState("feature", metrics={"roc_auc": 0.94}, gates=BASE.gates)
    text = render_report(current, BASE, run_url="https://ci.example/run/7")
    assert text.startswith("## Conveyor model report\n\n✅ **All blocking gates pass**")
    assert "Comparing `feature` against `main`." in text
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert headings == [
        "### Against the champion", "### Test metrics against the base", "### Slices",
        "### Fairness", "### Quality gates", "### Parameters",
    ]  # fmt: skip
    footer = text.rstrip("\n").splitlines()[-1]
    assert "[the CI run](https://ci.example/run/7) has the plots and the full outputs" in footer
    assert "make run champion compare report BASE=origin/main" in footer
    assert "the CI run" not in render_report(current, None)
    assert "Comparing `feature`." in render_report(current, None)


def test_flatten() -> None:
    assert flatten({"a": {"b": 1, "c": {}}, "d": [1]}) == {"a.b": 1, "a.c": {}, "d": [1]}


def _commit(root: Path, message: str) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", message], cwd=root, check=True)


def _write_side(root: Path, roc_auc: float, gates: Verdict) -> None:
    write_outputs(root, {"roc_auc": roc_auc}, gates)
    (root / "params.yaml").write_text(yaml.safe_dump({"model": {"seed": int(roc_auc * 100)}}))


def test_both_sides_are_read_from_the_tree_and_from_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    before = _gates(_gate("overall.roc_auc", "pass"))
    _write_side(tmp_path, 0.9, before)
    _commit(tmp_path, "base")
    after = _gates(_gate("overall.roc_auc", "fail"), verdict="fail")
    _write_side(tmp_path, 0.8, after)
    paths, params = ProjectPaths(tmp_path), tmp_path / "params.yaml"
    current, base = from_tree(paths, params, "pr"), from_git(paths, params, "HEAD")
    assert (current.label, current.metrics) == ("pr", {"roc_auc": 0.8})
    assert (current.params, current.gates) == ({"model": {"seed": 80}}, after)
    assert (base.label, base.metrics) == ("HEAD", {"roc_auc": 0.9})
    assert (base.params, base.gates) == ({"model": {"seed": 90}}, before)
    assert "fail (was pass)" in render_report(current, base)


def test_missing_files_give_empty_sides(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    (tmp_path / "README").write_text("x")
    _commit(tmp_path, "nothing yet")
    paths, params = ProjectPaths(tmp_path), tmp_path / "params.yaml"
    for side in (from_tree(paths, params, "pr"), from_git(paths, params, "HEAD")):
        assert (side.metrics, side.params, side.gates) == ({}, {}, None)
    with pytest.raises(ConveyorError, match="git revision 'nope' is not known here"):
        from_git(paths, params, "nope")


def test_a_gates_file_of_another_version_is_named(tmp_path: Path) -> None:
    document = {"gates": [{"id": "overall.f1", "status": "pass"}], "fail_on_inconclusive": False}
    gates = write_outputs(tmp_path, {}, document).gates
    with pytest.raises(ConveyorError, match="is not a gates file this version reads") as caught:
        from_tree(ProjectPaths(tmp_path), tmp_path / "params.yaml", "pr")
    assert str(gates) in str(caught.value)
    assert "gate 'overall.f1' lacks" in str(caught.value)


def test_the_cli_compares_with_a_git_revision(tmp_path: Path) -> None:
    """Reads only committed files (params, metrics, gates): no model, no prepared data."""
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


def test_a_base_gates_file_this_version_cannot_read_counts_as_absent(tmp_path: Path) -> None:
    """The base's gates give only the "(was ...)" notes: they must not stop this branch's report."""
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    write_outputs(tmp_path, {"roc_auc": 0.9}, {"gates": "unreadable"})
    (tmp_path / "params.yaml").write_text("model: {}\n")
    _commit(tmp_path, "old writer")
    paths = ProjectPaths(tmp_path)
    base = from_git(paths, tmp_path / "params.yaml", "HEAD")
    assert base.gates is None
    assert base.metrics == {"roc_auc": 0.9}
