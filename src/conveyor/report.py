"""The pull-request report: this branch's model against the champion and the base branch.

Pure: it takes already-loaded metrics, params, gates and the champion comparison and returns
text, so it is tested on dictionaries. `reportio.py` reads them from the working tree and from
git. The markdown needs no image hosting (tables, and mermaid charts that GitHub draws), so
CML can post it with `--publish=false` and the job summary can show it as is. It stays under
GitHub's comment limit: the least needed sections give way first, and say so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor.evaluate.registry import METRICS, OVERALL
from conveyor.gate_changes import flatten, loosened
from conveyor.report_cells import STATUS_ICONS, cell, folded, number, param
from conveyor.report_sections import (
    champion_section,
    compared_with_champion,
    fairness_section,
    slices_section,
)
from conveyor.verdict import GateResult, Mode, Status, Verdict

TITLE = "Conveyor model report"
COMMENT_LIMIT = 65_536
"""GitHub's limit on a comment body, in characters; CML adds its watermark after the report."""
RESERVED = 1_536
"""Room kept for the watermark and the note of what was cut."""
FULL_REPORT = "report-full.md"
"""Written beside the report when the report had to be cut: the same report, whole."""
MAX_GATE_ROWS = 80
"""Gates listed open, and passing gates listed folded; the rest are counted (a slice column
with hundreds of values would make a report no one reads, and one GitHub cannot post)."""
MAX_PARAMETER_ROWS = 60
"""Changed parameters listed; the rest are counted (a search space pasted in whole)."""


@dataclass(frozen=True)
class ModelState:
    """One side of the comparison: what the pipeline produced on one commit."""

    label: str
    metrics: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    gates: Verdict | None = None
    slices: Mapping[str, Any] = field(default_factory=dict)
    fairness: Mapping[str, Any] = field(default_factory=dict)
    data_hash: str | None = None
    """The hash of the pipeline's raw data as dvc.lock records it."""


@dataclass(frozen=True)
class Context:
    """What the report says besides the two models: the comparison with the champion, what
    changed in code, and where it ran."""

    comparison: Mapping[str, Any] | None = None
    code_changes: tuple[str, ...] | None = None
    commit: str | None = None
    run_url: str | None = None
    model_sha256: str | None = None
    """This checkout's `models/model.onnx`, to tell a stale comparison from a current one."""
    monitoring: tuple[str, ...] = ()
    """Markdown sections of `conveyor drift` / `conveyor monitor` (each opens with its own
    `###` heading), shown after the verdict when present."""


def metrics_table(current: ModelState, base: ModelState | None) -> list[str]:
    """Overall test metrics; the change column says whether it moved the right way."""
    side = cell(base.label) if base else "base"
    lines = [f"| metric | {side} | {cell(current.label)} | change |",
             "|---|---:|---:|---:|"]  # fmt: skip
    for name in OVERALL:
        higher_is_better = METRICS[name].higher_is_better
        now = current.metrics.get(name)
        before = base.metrics.get(name) if base else None
        if now is None and before is None:
            continue
        change = ""
        if isinstance(now, int | float) and isinstance(before, int | float):
            delta = float(now) - float(before)
            arrow = ""
            if abs(delta) >= 5e-5 and higher_is_better is not None:
                arrow = " 🟢" if (delta > 0) == higher_is_better else " 🔴"
            change = f"{delta:+.4f}{arrow}"
        lines.append(f"| {name} | {number(before)} | {number(now)} | {change} |")
    rows = current.metrics.get("rows")
    if rows is not None:
        lines.append(f"\nMeasured on {int(rows):,} held-out test rows.")
    return lines


def params_table(current: ModelState, base: ModelState | None) -> list[str]:
    """Every parameter whose value differs between the two commits."""
    if base is None:
        return ["No base to compare parameters with."]
    now, before = flatten(current.params), flatten(base.params)
    changed = sorted(k for k in now.keys() | before.keys() if now.get(k) != before.get(k))
    if not changed:
        return ["No parameter changed."]
    lines = [f"| parameter | {cell(base.label)} | {cell(current.label)} |", "|---|---|---|"]
    shown = changed[:MAX_PARAMETER_ROWS]
    lines += [f"| `{cell(k)}` | {param(before.get(k))} | {param(now.get(k))} |" for k in shown]
    if len(changed) > len(shown):
        lines.append(
            f"\n{len(changed) - len(shown):,} more changed parameter(s) not listed: "
            "`dvc params diff` shows them all."
        )
    return lines


def gates_section(
    current: ModelState, base: ModelState | None, extra: Verdict | None = None
) -> list[str]:
    """Every gate verdict (the champion's margins too): problems in the open, passing gates
    folded away."""
    if current.gates is None:
        return ["No gate results (`metrics/gates.json` is missing): run `dvc repro`."]
    gates = _combined(current.gates, extra).ordered()
    before = {g.id: g.status for g in base.gates.gates} if base and base.gates else {}

    def row(gate: GateResult) -> str:
        was = before.get(gate.id)
        moved = f" (was {was})" if was and was != gate.status else ""
        return (
            f"| {STATUS_ICONS[gate.status]} {gate.status}{moved} | {gate.mode} | "
            f"{cell(gate.message)} |"
        )

    header = ["| status | mode | gate |", "|---|---|---|"]
    needing = [g for g in gates if g.needs_attention]
    passing = [g for g in gates if not g.needs_attention and not g.too_small]
    open_rows = [row(g) for g in needing[:MAX_GATE_ROWS]]
    folded = [row(g) for g in passing[:MAX_GATE_ROWS]]
    unlisted = len(needing) - len(open_rows) + len(passing) - len(folded)
    lines = [*header, *open_rows] if open_rows else ["Every gate passed or was not gated."]
    if folded:
        lines += ["", f"<details><summary>{len(folded)} passing or not gated</summary>", "",
                  *header, *folded, "", "</details>"]  # fmt: skip
    if unlisted:
        lines.append(f"\n{unlisted:,} more gate(s) not listed: `metrics/gates.json` has them all.")
    small = sum(g.too_small for g in gates)
    if small:
        lines.append(
            f"\n{small} gate(s) of groups below the support to judge are not gated, and "
            "counted here rather than listed (`metrics/gates.json` has them)."
        )
    return lines


def _combined(gates: Verdict, extra: Verdict | None) -> Verdict:
    """The evaluate stage's gates and the champion's margins, judged as one verdict."""
    if extra is None:
        return gates
    return Verdict((*gates.gates, *extra.gates), gates.fail_on_inconclusive, gates.bootstrap)


def verdict_line(current: ModelState, extra: Verdict | None = None) -> str:
    """One sentence a reviewer reads first: may this merge, and what deserves a look."""
    if current.gates is None:
        return "⚠️ **No gate verdict**: the gates did not run."
    verdict = _combined(current.gates, extra)
    strict = verdict.fail_on_inconclusive

    def count(mode: Mode, status: Status, blocking: bool) -> int:
        return sum(
            g.mode is mode and g.status is status and g.blocks(strict) is blocking
            for g in verdict.gates
        )

    stops = [
        f"{n} {what}"
        for n, what in (
            (count(Mode.BLOCK, Status.FAIL, True), "blocking gate(s) failed"),
            (count(Mode.BLOCK, Status.INCONCLUSIVE, True), "blocking gate(s) inconclusive, "
             "which `fail_on_inconclusive` counts as failed"),
        )
        if n
    ]  # fmt: skip
    notes = [
        f"{n} {what}"
        for n, what in (
            (count(Mode.BLOCK, Status.PASS, False), "blocking gate(s) pass"),
            (count(Mode.BLOCK, Status.INCONCLUSIVE, False), "blocking gate(s) inconclusive"),
            (count(Mode.REPORT, Status.FAIL, False), "report-only gate(s) fail"),
            (verdict.counts()[Status.NOT_GATED], "not gated (see why below)"),
        )
        if n
    ]
    listed = ", ".join(notes)
    if verdict.blocked:
        head = "❌ **Blocked**: " + ", ".join(stops)
        return head + (f"; {listed}." if notes else ".")
    if not verdict.gates:
        return "✅ **No gates are configured**: nothing blocks this merge."
    return "✅ **All blocking gates pass**" + (f": {listed}." if notes else ".")


def loosened_gates(current: ModelState, base: ModelState | None) -> list[str]:
    """Every way this branch's `gates:` judge less than the base's (`gate_changes`)."""
    if base is None:
        return []
    return [f"`{cell(key)}` {what}" for key, what in loosened(base.params, current.params)]


def what_changed(current: ModelState, base: ModelState | None, context: Context) -> list[str]:
    """One line each: parameters, data, code."""
    if base is None:
        return ["- Nothing to compare with: no base revision was given."]
    now, before = flatten(current.params), flatten(base.params)
    changed = sorted(k for k in now.keys() | before.keys() if now.get(k) != before.get(k))
    names = ", ".join(f"`{cell(k)}`" for k in changed[:5]) + (", …" if len(changed) > 5 else "")
    lines = [f"- **Parameters**: {len(changed)} changed ({names})" if changed
             else "- **Parameters**: unchanged"]  # fmt: skip
    rows_now, rows_before = current.metrics.get("rows"), base.metrics.get("rows")
    rows = (
        f"{rows_before:,} → {rows_now:,} test rows" if isinstance(rows_now, int)
        and isinstance(rows_before, int) and rows_now != rows_before
        else f"{rows_now:,} test rows" if isinstance(rows_now, int) else "test rows unknown"
    )  # fmt: skip
    if current.data_hash is None or base.data_hash is None:
        lines.append(f"- **Data**: {rows} (no data hash to compare in dvc.lock)")
    elif current.data_hash == base.data_hash:
        lines.append(f"- **Data**: unchanged (`{current.data_hash[:12]}`), {rows}")
    else:
        lines.append(
            f"- **Data**: changed (`{base.data_hash[:12]}` → `{current.data_hash[:12]}`), {rows}"
        )
    code = context.code_changes
    if code is None:
        lines.append("- **Code**: not compared (the base revision's history is not here)")
    elif code:
        listed = ", ".join(f"`{cell(c)}`" for c in code[:5]) + (", …" if len(code) > 5 else "")
        lines.append(f"- **Code**: {len(code)} file(s) changed under `src/` ({listed})")
    else:
        lines.append("- **Code**: unchanged under `src/`")
    return lines


def _footer(context: Context) -> list[str]:
    parts = []
    if context.commit:
        parts.append(f"Commit `{cell(context.commit[:12])}`")
    if context.run_url:
        parts.append(f"[the CI run]({context.run_url}) has the plots and the full outputs")
    parts.append("reproduce locally: `make run champion compare report BASE=origin/main`")
    return ["---", " · ".join(parts) + "."]


@dataclass(frozen=True)
class Section:
    """A part of the report; `keep` sections are never cut, the others give way in order of
    `priority` (lowest first) when the report is over the comment limit."""

    heading: str | None
    lines: list[str]
    priority: int = 0
    keep: bool = False


def fit(sections: list[Section], limit: int, where: str) -> str:
    """The sections joined, cutting the least needed first until the report fits `limit`."""
    current = list(sections)

    def text() -> str:
        parts = []
        for section in current:
            if section.heading:
                parts += [section.heading, ""]
            parts += [*section.lines, ""]
        return "\n".join(parts).rstrip("\n") + "\n"

    for victim in sorted((s for s in sections if not s.keep), key=lambda s: s.priority):
        if len(text()) <= limit:
            break
        note = f"_Cut to fit GitHub's comment limit: the whole report is {where}._"
        current[current.index(victim)] = Section(victim.heading, [note], victim.priority)
    rendered = text()
    if len(rendered) > limit:  # what is kept is still too long: cut it at a line
        note = f"\n\n_Cut here to fit GitHub's comment limit: the whole report is {where}._\n"
        rendered = rendered[: limit - len(note)].rsplit("\n", 1)[0] + note
    return rendered


def render_report(
    current: ModelState,
    base: ModelState | None,
    run_url: str | None = None,
    *,
    context: Context | None = None,
    limit: int = COMMENT_LIMIT - RESERVED,
) -> str:
    """The whole report, ready for CML, `gh pr comment` or `$GITHUB_STEP_SUMMARY`."""
    context = context or Context(run_url=run_url)
    if run_url and not context.run_url:
        context = dataclasses.replace(context, run_url=run_url)
    comparison = context.comparison
    extra = _comparison_verdict(comparison)
    compared = (
        f"`{cell(current.label)}` against `{cell(base.label)}`" if base
        else f"`{cell(current.label)}`"
    )  # fmt: skip
    head = [verdict_line(current, extra), ""]
    loosened = loosened_gates(current, base)
    if loosened:
        head += ["> [!WARNING]", "> This pull request loosens or switches off gates: "
                 + "; ".join(loosened) + ".", ""]  # fmt: skip
    stale = _stale(comparison, context)
    if stale:
        head += ["> [!CAUTION]", f"> {stale}", ""]
    head += [f"Comparing {compared}.", "", *what_changed(current, base, context)]
    where = f"`{FULL_REPORT}` in the CI run's report artifact"
    if context.run_url:
        where = f"`{FULL_REPORT}` in [the CI run's report artifact]({context.run_url})"
    sections = [
        Section(f"## {TITLE}", head, keep=True),
        *(_markdown_section(text, priority=4) for text in context.monitoring),
        Section("### Against the champion", champion_section(comparison, current), 5),
        Section("### Test metrics against the base", _base_metrics(current, base, comparison), 4),
        Section("### Slices", slices_section(current, comparison), 2),
        Section("### Fairness", fairness_section(current, comparison, extra), 3),
        Section("### Quality gates", gates_section(current, base, extra), 6),
        Section("### Parameters", params_table(current, base), 1),
        Section(None, _footer(context), keep=True),
    ]
    return fit(sections, limit, where)


def _markdown_section(text: str, priority: int) -> Section:
    """A section written elsewhere, its first `###` line as its heading (so a cut keeps it)."""
    lines = text.strip("\n").splitlines()
    if lines and lines[0].startswith("### "):
        return Section(lines[0], lines[1:], priority)
    return Section(None, lines, priority)


def _base_metrics(
    current: ModelState, base: ModelState | None, comparison: Mapping[str, Any] | None
) -> list[str]:
    """The committed metrics of both commits; folded when the champion table says more."""
    table = metrics_table(current, base)
    return (
        folded("the committed metrics of both commits", table)
        if compared_with_champion(comparison)
        else table
    )


def _stale(comparison: Mapping[str, Any] | None, context: Context) -> str | None:
    """A comparison made of another model than this checkout's (`make compare` not run
    again after the model changed) must not pass for this one's."""
    compared = (comparison or {}).get("challenger_onnx_sha256")
    if compared and context.model_sha256 and compared != context.model_sha256:
        return ("The champion comparison is of another model than this checkout's "
                "(`models/model.onnx` changed since): run `make compare` again.")  # fmt: skip
    return None


def _comparison_verdict(comparison: Mapping[str, Any] | None) -> Verdict | None:
    """The champion margins' verdict, when a comparison was made."""
    if not comparison or comparison.get("skipped") or not comparison.get("verdict"):
        return None
    return Verdict.from_dict(comparison["verdict"])


def release_notes(current: ModelState, context: Context) -> str:
    """The release's own record of what it replaced: the champion, and by how much this model
    beat it (or fell short within the margins), with the margins' verdicts. Kept out of
    `MODEL_CARD.md`, which must stay a function of the pipeline's inputs."""
    comparison = context.comparison
    extra = _comparison_verdict(comparison)
    lines = ["## Compared with the model it replaces", "", *champion_section(comparison, current)]
    if extra is not None and extra.gates:
        rows = [f"| {STATUS_ICONS[g.status]} {g.status} | {g.mode} | {cell(g.message)} |"
                for g in extra.ordered()]  # fmt: skip
        lines += ["", "| status | mode | margin |", "|---|---|---|", *rows]
    if context.commit:
        lines += ["", f"Built from commit `{cell(context.commit)}`."]
    return "\n".join(lines) + "\n"
