"""The report's champion sections, charts, warnings and size limit, on constructed inputs."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from conveyor.comparison import compare
from conveyor.report import (
    COMMENT_LIMIT,
    Context,
    ModelState,
    loosened_gates,
    release_notes,
    render_report,
)
from tests.conftest import churn_params, run_conveyor
from tests.unit.test_comparison import CHAMPION, FRAME, LABELS, WORSE
from tests.unit.verdicts import gate, settings, verdict, write_outputs

GATES = verdict(gate("overall.roc_auc", "pass"))
MARGINS = {"champion": {"overall": {"roc_auc": {"max_drop": 0.005}},
                        "slices": {"roc_auc": {"max_drop": 0.02, "mode": "report"}}}}  # fmt: skip


def _comparison(challenger: np.ndarray, frame: pd.DataFrame = FRAME) -> dict[str, Any]:
    """The document `conveyor compare` writes, from the real comparison."""
    sections, result = compare(frame, LABELS, CHAMPION, challenger, settings(MARGINS))
    return {
        "schema_version": 1,
        "champion": {"label": "release model-20261127-abc1234", "source": "release"},
        "rows": {"test": 3100, "compared": 3000, "left_out_champion_trained_on": 100,
                 "champion_training_records_known": True},
        "skipped": None,
        "verdict": result.as_dict(),
        **sections,
    }  # fmt: skip


def _report(comparison: dict[str, Any] | None, **context: Any) -> str:
    current = ModelState("feature", metrics={"roc_auc": 0.9, "rows": 3000}, gates=GATES)
    base = ModelState("main", metrics={"roc_auc": 0.93, "rows": 3000}, gates=GATES)
    return render_report(current, base, context=Context(comparison=comparison, **context))


def test_a_worse_challenger_blocks_and_the_table_marks_only_real_changes() -> None:
    text = _report(_comparison(WORSE))
    first = text.splitlines()[2]
    assert first.startswith("❌ **Blocked**: 1 blocking gate(s) failed")
    assert (
        "Champion: **release model-20261127-abc1234**, compared on 3,000 held-out test rows "
        "it never trained on (100 rows it trained on left out)" in text
    )
    roc = next(line for line in text.splitlines() if line.startswith("| roc_auc |"))
    assert roc.endswith("🔴 |"), roc
    # The selection rate is better neither way: a real change is marked without a colour.
    rate = next(line for line in text.splitlines() if line.startswith("| selection_rate |"))
    assert "🔴" not in rate and "🟢" not in rate
    assert "roc_auc vs champion" in text and "worse than the allowed drop 0.0050" in text


def test_record_ids_the_champion_does_not_know_are_a_caution() -> None:
    document = _comparison(WORSE)
    document["rows"]["branch_training_records_the_champion_knows"] = 0.02
    assert "Caution: the champion's training records hold only 2% of this branch's" in _report(
        document
    )
    document["rows"]["branch_training_records_the_champion_knows"] = 0.97
    assert "Caution" not in _report(document)


def test_an_identical_challenger_passes_and_marks_nothing() -> None:
    text = _report(_comparison(CHAMPION.copy()))
    assert text.splitlines()[2].startswith("✅ **All blocking gates pass**")
    section = text.split("### Against the champion")[1].split("```mermaid")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert len(rows) > 10
    assert not any(mark in row for row in rows for mark in ("🔴", "🟢", "◆"))


def test_charts_are_mermaid_xycharts_of_both_models() -> None:
    text = _report(_comparison(WORSE))
    blocks = text.split("```mermaid\n")[1:]
    assert len(blocks) == 2  # the ROC curves, the selection rate by gender
    roc = blocks[0].split("```")[0]
    assert "xychart-beta" in roc and roc.count("\n    line [") == 2
    assert 'x-axis "false positive rate" [0, 0.05, 0.1,' in roc
    groups = blocks[1].split("```")[0]
    assert 'x-axis ["f", "m"]' in groups and "    bar [" in groups and "    line [" in groups


def test_groups_below_the_support_are_counted_not_described() -> None:
    frame = FRAME.copy()
    frame.loc[:5, "gender"] = "tiny group"  # six rows: far below the support of 100
    text = _report(_comparison(WORSE, frame))
    assert "tiny group" not in text
    assert "1 group(s) below the support to judge are counted, not listed." in text


def test_without_a_champion_the_report_says_why_and_the_bounds_still_apply() -> None:
    skipped = {"schema_version": 1, "champion": None, "skipped": "no champion found: gh is "
               "not installed", "verdict": verdict().as_dict()}  # fmt: skip
    text = _report(skipped)
    assert (
        "Not compared with a champion: no champion found: gh is not installed. The fixed "
        "bounds below still apply." in text
    )
    assert text.splitlines()[2].startswith("✅ **All blocking gates pass**")
    assert "Not compared with a champion: run `make champion compare`" in _report(None)


def test_group_names_cannot_break_the_table_or_the_chart() -> None:
    frame = FRAME.copy()
    frame["gender"] = np.where(frame["gender"] == "f", 'f"]<script>|x', "m")
    text = _report(_comparison(WORSE, frame))
    assert "<script>" not in text
    assert "| f&quot;" not in text and '| f"]&lt;script&gt;\\|x |' in text
    assert '"f___script__x"' in text  # in the chart: only safe characters, still quoted


def _params(**gates: Any) -> dict[str, Any]:
    return {"gates": gates}


def test_a_pull_request_that_loosens_gates_is_warned_about() -> None:
    base = ModelState("main", params=_params(
        fail_on_inconclusive=True,
        overall={"roc_auc": {"min": 0.9}, "f1": {"min": 0.6}, "log_loss": {"max": 0.3}},
        slices={"min_support": {"rows": 100}},
        champion={"overall": {"roc_auc": {"max_drop": 0.005}}},
    ))  # fmt: skip
    looser = ModelState("pr", params=_params(
        fail_on_inconclusive=False,
        overall={"roc_auc": {"min": 0.85}, "f1": {"min": 0.6, "mode": "report"},
                 "log_loss": {"max": 0.35}},
        slices={"min_support": {"rows": 500}},
        champion={"overall": {"roc_auc": {"max_drop": 0.02}}},
    ))  # fmt: skip
    found = loosened_gates(looser, base)
    assert found == [
        "`gates.champion.overall.roc_auc.max_drop` `0.005` → `0.02`",
        "`gates.fail_on_inconclusive` `true` → `false`",
        "`gates.overall.f1.mode` `block` → `report`",  # no mode was block: a mode added
        "`gates.overall.log_loss.max` `0.3` → `0.35`",
        "`gates.overall.roc_auc.min` `0.9` → `0.85`",
        "`gates.slices.min_support.rows` `100` → `500`",
    ]
    # A mode lowered is found through the mode key a gate gains; a gate removed is named.
    reported = copy.deepcopy(base.params)
    reported["gates"]["overall"]["f1"]["mode"] = "report"
    lowered = ModelState("pr", params=reported)
    assert loosened_gates(lowered, ModelState("main", params=_with_mode(base.params))) == [
        "`gates.overall.f1.mode` `block` → `report`"
    ]
    removed = copy.deepcopy(base.params)
    del removed["gates"]["champion"]
    assert loosened_gates(ModelState("pr", params=removed), base) == [
        "`gates.champion.overall.roc_auc` removed"
    ]
    # Dropping `mode: report` makes a gate block: tighter, not looser.
    assert loosened_gates(ModelState("pr", params=base.params), lowered) == []
    switched_off = copy.deepcopy(base.params)
    switched_off["gates"]["champion"]["overall"]["roc_auc"]["mode"] = "off"
    assert loosened_gates(ModelState("pr", params=switched_off), base) == [
        "`gates.champion.overall.roc_auc.mode` `block` → `off`"
    ]
    data_before = ModelState("main", params=_params(data={"positive_rate_min": 0.05}))
    data_after = ModelState("pr", params=_params(data={"positive_rate_min": 0.01}))
    assert loosened_gates(data_after, data_before) == [
        "`gates.data.positive_rate_min` `0.05` → `0.01`"
    ]
    tighter = ModelState("pr", params=_params(overall={"roc_auc": {"min": 0.95}}))
    assert (
        loosened_gates(
            tighter, ModelState("main", params=_params(overall={"roc_auc": {"min": 0.9}}))
        )
        == []
    )
    text = render_report(looser, base)
    assert "> [!WARNING]\n> This pull request loosens or switches off gates: " in text


def _with_mode(params: Mapping[str, Any]) -> dict[str, Any]:
    explicit = copy.deepcopy(dict(params))
    explicit["gates"]["overall"]["f1"]["mode"] = "block"
    return explicit


def test_a_huge_params_diff_stays_under_the_comment_limit() -> None:
    space = {f"p{i}": {"low": i, "high": i + 1} for i in range(5000)}
    current = ModelState("pr", params={"model": {"search": {"space": space}}}, gates=GATES)
    base = ModelState("main", params={}, gates=GATES)
    text = render_report(current, base, context=Context(comparison=_comparison(WORSE)))
    assert len(text) <= COMMENT_LIMIT
    assert "9,940 more changed parameter(s) not listed: `dvc params diff` shows them all." in text
    assert text.count("```") % 2 == 0


def test_when_even_that_is_too_long_sections_give_way_and_say_so() -> None:
    current = ModelState("pr", metrics={"roc_auc": 0.9}, gates=GATES)
    context = Context(comparison=_comparison(WORSE), run_url="https://ci.example/run/7")
    full = render_report(current, None, context=context)
    cut = render_report(current, None, context=context, limit=len(full) // 2)
    assert len(cut) <= len(full) // 2
    note = (
        "_Cut to fit GitHub's comment limit: the whole report is `report-full.md` in [the CI "
        "run's report artifact](https://ci.example/run/7)._"
    )
    assert note in cut
    assert cut.splitlines()[2] == full.splitlines()[2]  # the verdict line is never cut
    assert "### Parameters\n\n" + note in cut  # the least needed section went first
    assert cut.count("```") % 2 == 0  # no chart cut in half


def test_release_notes_carry_the_comparison_and_the_margins() -> None:
    current = ModelState("this release", gates=GATES)
    notes = release_notes(current, Context(comparison=_comparison(WORSE), commit="abc1234def"))
    assert notes.startswith("## Compared with the model it replaces\n")
    assert "release model-20261127-abc1234" in notes
    assert "| ❌ fail | block | roc_auc vs champion" in notes
    assert notes.rstrip().endswith("Built from commit `abc1234def`.")


def test_the_cli_keeps_the_whole_report_beside_a_cut_one(tmp_path: Path) -> None:
    """`conveyor report` writes report-full.md only when the report had to be cut."""
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    write_outputs(tmp_path, {"roc_auc": 0.9}, GATES)
    (tmp_path / "params.yaml").write_text(json.dumps(churn_params()))
    comparison = tmp_path / "reports" / "comparison.json"
    comparison.parent.mkdir()
    document = _comparison(WORSE)
    # Thousands of passing gates, each listed folded: a report far past the comment limit.
    many = [{**document["verdict"]["gates"][0], "id": f"champion.g{i}.roc_auc", "status": "pass",
             "message": f"g{i} roc_auc vs champion " + "x" * 900} for i in range(79)]  # fmt: skip
    document["verdict"]["gates"] += many
    comparison.write_text(json.dumps(document))
    output = tmp_path / "report.md"
    result = run_conveyor("report", "--output", str(output), cwd=tmp_path)
    assert result.code == 0, result.stderr
    cut, whole = output.read_text(), (tmp_path / "report-full.md").read_text()
    assert len(cut) <= COMMENT_LIMIT < len(whole)
    assert "`report-full.md` in the CI run's report artifact" in cut
    document["verdict"]["gates"] = document["verdict"]["gates"][:1]
    comparison.write_text(json.dumps(document))
    assert run_conveyor("report", "--output", str(output), cwd=tmp_path).code == 0
    assert not (tmp_path / "report-full.md").exists(), "a whole report needs no second copy"


def test_drift_and_monitor_sections_follow_the_verdict_and_give_way_when_too_long() -> None:
    drift = "### Data drift of `fresh.csv`\n\n| input | PSI |\n|---|---:|\n| tenure | 0.41 |\n"
    text = _report(None, monitoring=(drift,))
    assert text.index("### Data drift of `fresh.csv`") < text.index("### Quality gates")
    assert "| tenure | 0.41 |" in text
    current = ModelState("feature", metrics={"roc_auc": 0.9, "rows": 3000}, gates=GATES)
    long_drift = drift + "".join(f"| input{i} | 0.0 |\n" for i in range(400))
    cut = render_report(current, None, context=Context(monitoring=(long_drift,)), limit=4000)
    assert "### Data drift of `fresh.csv`" in cut and "| input399 |" not in cut
    assert "_Cut to fit GitHub's comment limit" in cut
