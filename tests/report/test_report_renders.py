"""The pull-request report renders as GitHub renders it: the report of the team's own model
against its own outputs packed as a champion, a report with a huge parameter diff, and the
example in the docs. GFM keeps every table, `<details>` block and mermaid fence, and mermaid
draws every chart in Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.paths import ProjectPaths
from conveyor.report import COMMENT_LIMIT, Context, ModelState, render_report
from tests.conftest import ROOT, run_conveyor
from tests.report.render import gfm_html, mermaid_blocks, render_mermaid
from tests.unit.test_comparison import WORSE
from tests.unit.test_report_champion import GATES, _comparison

pytestmark = pytest.mark.render


@pytest.fixture(scope="module")
def their_report(
    pipeline_outputs: ProjectPaths, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`conveyor report` on this checkout, against this checkout's model as the champion."""
    scratch = tmp_path_factory.mktemp("their-report")
    packed = run_conveyor("champion", "pack", "--output", str(scratch / "champion"), cwd=ROOT)
    assert packed.code == 0, packed.stderr
    comparison = scratch / "comparison.json"
    compared = run_conveyor("compare", "--champion", str(scratch / "champion"),
                            "--output", str(comparison), cwd=ROOT)  # fmt: skip
    # The unchanged model passes against itself: every difference exactly zero.
    assert compared.code == 0, compared.stdout + compared.stderr
    assert "vs champion +0.0000 (95% CI +0.0000 to +0.0000" in compared.stdout
    assert "verdict: PASS" in compared.stdout
    reported = run_conveyor("report", "--base", "HEAD", "--comparison", str(comparison),
                            "--output", str(scratch / "report.md"), cwd=ROOT)  # fmt: skip
    assert reported.code == 0, reported.stderr
    yield (scratch / "report.md").read_text(encoding="utf-8")


def _elements(html: str, tag: str) -> int:
    return len(re.findall(rf"<{tag}[ >]", html))


def test_their_report_survives_gfm_and_every_chart_draws(their_report: str, tmp_path: Path) -> None:
    html = gfm_html(their_report)
    fences = their_report.count("```mermaid\n")
    assert fences >= 2  # the ROC curves and at least one group chart
    assert len(mermaid_blocks(html)) == fences
    # Tables: the champion's metrics, the slices, a group table and a disparity table each.
    assert _elements(html, "table") >= 4
    assert _elements(html, "details") == their_report.count("<details>") >= 1
    assert "<summary>" in html and "```" not in html  # no fence left as text
    svgs = render_mermaid(html, tmp_path)
    assert len(svgs) == fences
    roc = svgs[0].read_text()
    assert "ROC curve" in roc and "false positive rate" in roc


def test_a_huge_params_diff_renders_under_the_limit(tmp_path: Path) -> None:
    space = {f"p{i}": {"low": i, "high": i + 1} for i in range(5000)}
    current = ModelState("pr", params={"model": {"search": {"space": space}}}, gates=GATES)
    text = render_report(current, ModelState("main", gates=GATES),
                         context=Context(comparison=_comparison(WORSE)))  # fmt: skip
    assert len(text) <= COMMENT_LIMIT
    html = gfm_html(text)
    assert _elements(html, "table") >= 4
    assert len(render_mermaid(html, tmp_path)) == text.count("```mermaid\n")


def test_the_example_in_the_docs_renders(tmp_path: Path) -> None:
    example = (ROOT / "docs" / "report-example.md").read_text(encoding="utf-8")
    assert example.startswith("## Conveyor model report")
    assert render_mermaid(example, tmp_path)
    assert (ROOT / "docs" / "report-example.png").stat().st_size > 50_000
