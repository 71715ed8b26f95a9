"""The pull-request report: this branch's model against the champion and the base branch.

Pure: it takes already-loaded metrics, params, gates and the champion comparison and returns
text, so it is tested on dictionaries. `reportio.py` reads them from the working tree and from
git. The markdown needs no image hosting (tables, and mermaid charts that GitHub draws), so
CML can post it with `--publish=false` and the job summary can show it as is. It stays under
GitHub's comment limit: the least needed sections give way first, and say so.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor import charts
from conveyor.evaluate.registry import METRICS, OVERALL
from conveyor.gate_changes import flatten, loosened
from conveyor.verdict import GateResult, Mode, Status, Verdict

TITLE = "Conveyor model report"
COMMENT_LIMIT = 65_536
"""GitHub's limit on a comment body, in characters; CML adds its watermark after the report."""
RESERVED = 1_536
"""Room kept for the watermark and the note of what was cut."""
SLICES_SHOWN = 5
"""The worst slices shown open; the others are folded."""
FULL_REPORT = "report-full.md"
"""Written beside the report when the report had to be cut: the same report, whole."""
RECOGNISED = 0.5
"""Below this share of the branch's training records found among the champion's, the ids
probably changed (they fingerprint whole raw rows) and the report says the exclusion may miss."""
MAX_GATE_ROWS = 80
"""Gates listed open, and passing gates listed folded; the rest are counted (a slice column
with hundreds of values would make a report no one reads, and one GitHub cannot post)."""
MAX_SLICE_ROWS = 100
MAX_GROUP_ROWS = 40
MAX_PARAMETER_ROWS = 60
"""Changed parameters listed; the rest are counted (a search space pasted in whole)."""
STATUS_ICONS = {
    Status.PASS: "✅", Status.FAIL: "❌", Status.INCONCLUSIVE: "⚠️", Status.NOT_GATED: "⚪"
}  # fmt: skip


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


def _number(value: Any) -> str:
    """A metric value to four decimals; a dash where there is none."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.4f}"
    return "—"


def _text(value: Any) -> str:
    """Text from the team's data or params in a table cell: no cell break, no HTML."""
    return (
        str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("|", "\\|").replace("\n", " ")
    )  # fmt: skip


def _param(value: Any) -> str:
    """A parameter value as code, as YAML would read it back."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value)
    text = _text(text)
    return f"`{text}`" if text else '`""`'


def metrics_table(current: ModelState, base: ModelState | None) -> list[str]:
    """Overall test metrics; the change column says whether it moved the right way."""
    side = _text(base.label) if base else "base"
    lines = [f"| metric | {side} | {_text(current.label)} | change |",
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
        lines.append(f"| {name} | {_number(before)} | {_number(now)} | {change} |")
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
    lines = [f"| parameter | {_text(base.label)} | {_text(current.label)} |", "|---|---|---|"]
    shown = changed[:MAX_PARAMETER_ROWS]
    lines += [f"| `{_text(k)}` | {_param(before.get(k))} | {_param(now.get(k))} |" for k in shown]
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
            f"{_text(gate.message)} |"
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
    return [f"`{_text(key)}` {what}" for key, what in loosened(base.params, current.params)]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def what_changed(current: ModelState, base: ModelState | None, context: Context) -> list[str]:
    """One line each: parameters, data, code."""
    if base is None:
        return ["- Nothing to compare with: no base revision was given."]
    now, before = flatten(current.params), flatten(base.params)
    changed = sorted(k for k in now.keys() | before.keys() if now.get(k) != before.get(k))
    names = ", ".join(f"`{_text(k)}`" for k in changed[:5]) + (", …" if len(changed) > 5 else "")
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
        listed = ", ".join(f"`{_text(c)}`" for c in code[:5]) + (", …" if len(code) > 5 else "")
        lines.append(f"- **Code**: {len(code)} file(s) changed under `src/` ({listed})")
    else:
        lines.append("- **Code**: unchanged under `src/`")
    return lines


def _interval(entry: Mapping[str, Any]) -> str:
    low, high = entry.get("ci_low"), entry.get("ci_high")
    if not (_is_number(low) and _is_number(high)):
        return ""
    return f" ({low:+.4f} to {high:+.4f})"


def _marker(entry: Mapping[str, Any], higher_is_better: bool | None) -> str:
    """A colour only where the interval of the difference excludes zero: a real change."""
    low, high = entry.get("ci_low"), entry.get("ci_high")
    if not (isinstance(low, int | float) and isinstance(high, int | float)) or low <= 0 <= high:
        return ""
    if higher_is_better is None:
        return " ◆"
    return " 🟢" if (low > 0) == higher_is_better else " 🔴"


def _difference(entry: Mapping[str, Any], higher_is_better: bool | None) -> str:
    value = entry.get("difference")
    if not _is_number(value):
        return "—"
    return f"{value:+.4f}{_interval(entry)}{_marker(entry, higher_is_better)}"


def champion_section(comparison: Mapping[str, Any] | None, current: ModelState) -> list[str]:
    """The paired comparison: who, on how many rows, every metric with its interval, ROC."""
    if comparison is None:
        return ["Not compared with a champion: run `make champion compare` to compare with "
                "the model in production. The fixed bounds below still apply."]  # fmt: skip
    if comparison.get("skipped"):
        return [f"Not compared with a champion: {_text(comparison['skipped'])}. "
                "The fixed bounds below still apply."]  # fmt: skip
    champion = comparison.get("champion") or {}
    rows = comparison.get("rows") or {}
    compared, left_out = rows.get("compared", 0), rows.get("left_out_champion_trained_on", 0)
    where = f"on {compared:,} held-out test rows"
    if not rows.get("champion_training_records_known"):
        where += (" (the champion's training records are unknown, so rows it was trained on may "
                  "be among them and flatter it)")  # fmt: skip
    elif left_out:
        where += f" it never trained on ({left_out:,} rows it trained on left out)"
    else:
        where += " it never trained on"
    known = rows.get("branch_training_records_the_champion_knows")
    if isinstance(known, int | float) and known < RECOGNISED:
        where += (
            f". Caution: the champion's training records hold only {known:.0%} of this "
            "branch's, so record ids may have changed (a raw column added or retyped) and rows "
            "it trained on may not be recognised"
        )
    level = (comparison.get("verdict") or {}).get("bootstrap", {}).get("level", 0.95)
    lines = [
        f"Champion: **{_text(champion.get('label', 'champion'))}**, compared {where}. Both "
        f"models scored the same rows through the server's path; differences are this branch "
        f"minus the champion, with paired {level:.0%} bootstrap intervals. Only a difference whose "
        "interval excludes zero is marked: 🟢 better, 🔴 worse, ◆ changed (a rate that is "
        "better neither way).",
        "",
        f"| metric | champion | {_text(current.label)} | difference ({level:.0%} CI) |",
        "|---|---:|---:|---|",
    ]
    for name, entry in (comparison.get("overall") or {}).items():
        better = METRICS[name].higher_is_better if name in METRICS else None
        lines.append(
            f"| {_text(name)} | {_number(entry.get('champion'))} | "
            f"{_number(entry.get('challenger'))} | {_difference(entry, better)} |"
        )
    roc = comparison.get("roc")
    if roc:
        lines += ["", *charts.roc_chart(roc["fpr"], roc["champion"], roc["challenger"])]
    return lines


def _compared(comparison: Mapping[str, Any] | None) -> bool:
    return comparison is not None and not comparison.get("skipped")


def _side(entry: Mapping[str, Any] | None, side: str, compared: bool) -> Any:
    """A number of one model: `{champion, challenger}` in a comparison, the value itself in
    this branch's own outputs (which know no champion)."""
    if isinstance(entry, Mapping):
        return entry.get(side)
    return entry if side == "challenger" and not compared else None


def slices_section(
    current: ModelState, comparison: Mapping[str, Any] | None, metric: str = "roc_auc"
) -> list[str]:
    """Slices with the support to judge, worst first on `metric`; the small ones counted."""
    compared = _compared(comparison)
    source = (comparison or {}).get("slices") if compared else current.slices
    found = [
        (f"{column}={value}", entry)
        for column, values in (source or {}).items()
        for value, entry in values.items()
    ]
    if not found:
        return ["No slices (`data.slice_columns` is empty or `metrics/slices.json` is missing)."]

    def number(entry: Mapping[str, Any], side: str) -> Any:
        return _side((entry.get("metrics") or {}).get(metric), side, compared)

    gated = [(name, entry) for name, entry in found if entry.get("gated")]
    gated.sort(key=lambda item: _sort_key(number(item[1], "challenger")))
    unlisted = max(len(gated) - MAX_SLICE_ROWS, 0)
    gated = gated[:MAX_SLICE_ROWS]
    shown = SLICES_SHOWN
    sides = ["champion", _text(current.label), "difference"] if compared else [_text(current.label)]
    lines = [
        f"Worst first on {metric}.",
        "",
        "| slice | rows | positives | " + " | ".join(sides) + " |",
        "|---|---:|---:|" + "---:|" * len(sides),
    ]
    better = METRICS[metric].higher_is_better
    for name, entry in gated:
        cells = [_text(name), f"{entry.get('rows', 0):,}", f"{entry.get('positives', 0):,}"]
        if compared:
            both = (entry.get("metrics") or {}).get(metric) or {}
            cells += [_number(number(entry, "champion")), _number(number(entry, "challenger")),
                      _difference(both, better)]  # fmt: skip
        else:
            cells.append(_number(number(entry, "challenger")))
        lines.append("| " + " | ".join(cells) + " |")
    if len(gated) > shown:
        header, rest = lines[2:4], lines[4 + shown :]
        lines[4 + shown :] = ["", *_folded(f"{len(rest)} more slice(s)", [*header, *rest])]
    if unlisted:
        lines.append(f"\n{unlisted:,} better slice(s) not listed: the report artifact has them.")
    small = len(found) - len(gated) - unlisted
    if small:
        lines.append(f"\n{small} slice(s) below the support to judge are counted, not listed.")
    return lines


def _sort_key(value: Any) -> tuple[bool, float]:
    """Worst (lowest) first, unknown values last."""
    return (not _is_number(value), float(value) if _is_number(value) else 0.0)


RATE_COLUMNS = {"selection_rate": "selection", "true_positive_rate": "TPR",
               "false_positive_rate": "FPR"}  # fmt: skip
"""The per-group rates the report shows, and their column names."""


def _group_table(groups: Mapping[str, Any], compared: bool) -> list[str]:
    """One row per group: its rates, for both models when there is a champion."""
    sides = ("champion", "challenger") if compared else ("challenger",)
    names = [f"{short} {'branch' if side == 'challenger' and compared else side}"
             if compared else short
             for short in RATE_COLUMNS.values() for side in sides]  # fmt: skip
    lines = ["| group | rows | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for name, group in groups.items():
        cells = [
            _number((group.get(side) or {}).get(rate) if compared else group.get(rate))
            for rate in RATE_COLUMNS
            for side in sides
        ]
        lines.append(f"| {_text(name)} | {group.get('rows', 0):,} | " + " | ".join(cells) + " |")
    return lines


def _disparity_table(
    grouping: str, disparities: Mapping[str, Any], compared: bool,
    bounds: Mapping[tuple[str | None, str], GateResult],
    margins: Mapping[tuple[str | None, str], GateResult],
) -> list[str]:  # fmt: skip
    """Each disparity of one grouping: its value, its bound and, with a champion, the change."""
    from conveyor.evaluate.registry import DISPARITIES

    # The bound is judged by the evaluate stage on the whole test set; a champion comparison
    # may leave rows out, so its values sit beside that verdict, not under it.
    bound_column = "bound (whole test set)" if compared else "bound"
    columns = (
        ["champion", "this branch", bound_column, "difference"] if compared else ["value", "bound"]
    )
    lines = ["| disparity | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for metric, entry in disparities.items():
        bound = bounds.get((grouping, metric))
        bound_text = "—"
        if bound:
            sign = "≥" if bound.direction == "min" else "≤"
            bound_text = f"{sign} {bound.bound:g} {STATUS_ICONS[bound.status]}"
        if compared:
            better = DISPARITIES[metric].higher_is_better if metric in DISPARITIES else None
            margin = margins.get((grouping, metric))
            change = _difference(entry, better) + (
                f" {STATUS_ICONS[margin.status]}" if margin else ""
            )
            cells = [_number(entry.get("champion")), _number(entry.get("challenger")),
                     bound_text, change]  # fmt: skip
        else:
            cells = [_number(entry.get("value")), bound_text]
        lines.append(f"| {_text(metric)} | " + " | ".join(cells) + " |")
    return lines


def fairness_section(
    current: ModelState, comparison: Mapping[str, Any] | None, extra: Verdict | None
) -> list[str]:
    """Per sensitive feature: rates per group for both models, then the disparities against
    their bounds. Groups below the support are counted, never itemised: a public comment
    must not describe a handful of people."""
    compared = _compared(comparison)
    source = (comparison or {}).get("fairness") if compared else current.fairness
    if not source:
        return ["No fairness results (`data.sensitive_features` is empty)."]
    gates = current.gates.gates if current.gates else ()
    bounds = {(g.group, g.metric): g for g in gates if g.kind == "fairness"}
    margins = {(g.group, g.metric): g for g in (extra.gates if extra else ())}
    lines: list[str] = []
    for grouping, entry in source.items():
        every = entry.get("groups") or {}
        included = [(name, group) for name, group in every.items() if group.get("included")]
        groups = dict(included[:MAX_GROUP_ROWS])
        lines += [f"**{_text(grouping)}**", "", *_group_table(groups, compared)]
        if len(included) > len(groups):
            lines.append(f"\n{len(included) - len(groups):,} more group(s) not listed.")
        hidden = len(every) - len(included)
        if hidden:
            lines.append(f"\n{hidden} group(s) below the support to judge are counted, not listed.")
        if entry.get("disparities"):
            lines += ["", *_disparity_table(grouping, entry["disparities"], compared, bounds,
                                            margins)]  # fmt: skip
        if groups:
            rate = "selection_rate"
            before = [(g.get("champion") or {}).get(rate) for g in groups.values()]
            after = [(g.get("challenger") or {}).get(rate) if compared else g.get(rate)
                     for g in groups.values()]  # fmt: skip
            chart = charts.group_rate_chart(
                "selection rate", list(groups), before if compared else None, after, grouping
            )
            lines += ["", *chart]
        lines.append("")
        if "&" in grouping:  # intersections: many small groups, read on demand
            start = lines.index(f"**{_text(grouping)}**")
            lines[start:] = _folded(f"{_text(grouping)} (intersection)", lines[start + 2 :])
    return lines


def _folded(summary: str, lines: list[str]) -> list[str]:
    """Lines inside a `<details>` block (blank lines around, as GFM needs to render the
    markdown inside)."""
    return [f"<details><summary>{summary}</summary>", "", *lines, "", "</details>", ""]


def _footer(context: Context) -> list[str]:
    parts = []
    if context.commit:
        parts.append(f"Commit `{_text(context.commit[:12])}`")
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
        f"`{_text(current.label)}` against `{_text(base.label)}`" if base
        else f"`{_text(current.label)}`"
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
        Section("### Against the champion", champion_section(comparison, current), 5),
        Section("### Test metrics against the base", _base_metrics(current, base, comparison), 4),
        Section("### Slices", slices_section(current, comparison), 2),
        Section("### Fairness", fairness_section(current, comparison, extra), 3),
        Section("### Quality gates", gates_section(current, base, extra), 6),
        Section("### Parameters", params_table(current, base), 1),
        Section(None, _footer(context), keep=True),
    ]
    return fit(sections, limit, where)


def _base_metrics(
    current: ModelState, base: ModelState | None, comparison: Mapping[str, Any] | None
) -> list[str]:
    """The committed metrics of both commits; folded when the champion table says more."""
    table = metrics_table(current, base)
    return (
        _folded("the committed metrics of both commits", table) if _compared(comparison) else table
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
        rows = [f"| {STATUS_ICONS[g.status]} {g.status} | {g.mode} | {_text(g.message)} |"
                for g in extra.ordered()]  # fmt: skip
        lines += ["", "| status | mode | margin |", "|---|---|---|", *rows]
    if context.commit:
        lines += ["", f"Built from commit `{_text(context.commit)}`."]
    return "\n".join(lines) + "\n"
