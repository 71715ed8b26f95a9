"""The report's sections about the model itself: against the champion, slices, fairness.

Each takes this branch's outputs and, when there is one, the champion comparison
(`reports/comparison.json`), and returns markdown lines; `report` assembles them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from conveyor import charts
from conveyor.evaluate.registry import METRICS
from conveyor.report_cells import (
    STATUS_ICONS,
    cell,
    difference,
    folded,
    is_number,
    number,
)
from conveyor.verdict import GateResult, Verdict

if TYPE_CHECKING:
    from conveyor.report import ModelState

SLICES_SHOWN = 5
"""The worst slices shown open; the others are folded."""


RECOGNISED = 0.5
"""Below this share of the branch's training records found among the champion's, the ids
probably changed (they fingerprint whole raw rows) and the report says the exclusion may miss."""


MAX_SLICE_ROWS = 100


MAX_GROUP_ROWS = 40


def champion_section(comparison: Mapping[str, Any] | None, current: ModelState) -> list[str]:
    """The paired comparison: who, on how many rows, every metric with its interval, ROC."""
    if comparison is None:
        return ["Not compared with a champion: run `make champion compare` to compare with "
                "the model in production. The fixed bounds below still apply."]  # fmt: skip
    if comparison.get("skipped"):
        return [f"Not compared with a champion: {cell(comparison['skipped'])}. "
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
        f"Champion: **{cell(champion.get('label', 'champion'))}**, compared {where}. Both "
        f"models scored the same rows through the server's path; differences are this branch "
        f"minus the champion, with paired {level:.0%} bootstrap intervals. Only a difference whose "
        "interval excludes zero is marked: 🟢 better, 🔴 worse, ◆ changed (a rate that is "
        "better neither way).",
        "",
        f"| metric | champion | {cell(current.label)} | difference ({level:.0%} CI) |",
        "|---|---:|---:|---|",
    ]
    for name, entry in (comparison.get("overall") or {}).items():
        better = METRICS[name].higher_is_better if name in METRICS else None
        lines.append(
            f"| {cell(name)} | {number(entry.get('champion'))} | "
            f"{number(entry.get('challenger'))} | {difference(entry, better)} |"
        )
    roc = comparison.get("roc")
    if roc:
        lines += ["", *charts.roc_chart(roc["fpr"], roc["champion"], roc["challenger"])]
    return lines


def compared_with_champion(comparison: Mapping[str, Any] | None) -> bool:
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
    compared = compared_with_champion(comparison)
    source = (comparison or {}).get("slices") if compared else current.slices
    found = [
        (f"{column}={value}", entry)
        for column, values in (source or {}).items()
        for value, entry in values.items()
    ]
    if not found:
        return ["No slices (`data.slice_columns` is empty or `metrics/slices.json` is missing)."]

    def value_of(entry: Mapping[str, Any], side: str) -> Any:
        return _side((entry.get("metrics") or {}).get(metric), side, compared)

    gated = [(name, entry) for name, entry in found if entry.get("gated")]
    gated.sort(key=lambda item: _sort_key(value_of(item[1], "challenger")))
    unlisted = max(len(gated) - MAX_SLICE_ROWS, 0)
    gated = gated[:MAX_SLICE_ROWS]
    shown = SLICES_SHOWN
    sides = ["champion", cell(current.label), "difference"] if compared else [cell(current.label)]
    lines = [
        f"Worst first on {metric}.",
        "",
        "| slice | rows | positives | " + " | ".join(sides) + " |",
        "|---|---:|---:|" + "---:|" * len(sides),
    ]
    better = METRICS[metric].higher_is_better
    for name, entry in gated:
        cells = [cell(name), f"{entry.get('rows', 0):,}", f"{entry.get('positives', 0):,}"]
        if compared:
            both = (entry.get("metrics") or {}).get(metric) or {}
            cells += [number(value_of(entry, "champion")), number(value_of(entry, "challenger")),
                      difference(both, better)]  # fmt: skip
        else:
            cells.append(number(value_of(entry, "challenger")))
        lines.append("| " + " | ".join(cells) + " |")
    if len(gated) > shown:
        header, rest = lines[2:4], lines[4 + shown :]
        lines[4 + shown :] = ["", *folded(f"{len(rest)} more slice(s)", [*header, *rest])]
    if unlisted:
        lines.append(f"\n{unlisted:,} better slice(s) not listed: the report artifact has them.")
    small = len(found) - len(gated) - unlisted
    if small:
        lines.append(f"\n{small} slice(s) below the support to judge are counted, not listed.")
    return lines


def _sort_key(value: Any) -> tuple[bool, float]:
    """Worst (lowest) first, unknown values last."""
    return (not is_number(value), float(value) if is_number(value) else 0.0)


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
            number((group.get(side) or {}).get(rate) if compared else group.get(rate))
            for rate in RATE_COLUMNS
            for side in sides
        ]
        lines.append(f"| {cell(name)} | {group.get('rows', 0):,} | " + " | ".join(cells) + " |")
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
            change = difference(entry, better) + (
                f" {STATUS_ICONS[margin.status]}" if margin else ""
            )
            cells = [number(entry.get("champion")), number(entry.get("challenger")),
                     bound_text, change]  # fmt: skip
        else:
            cells = [number(entry.get("value")), bound_text]
        lines.append(f"| {cell(metric)} | " + " | ".join(cells) + " |")
    return lines


def fairness_section(
    current: ModelState, comparison: Mapping[str, Any] | None, extra: Verdict | None
) -> list[str]:
    """Per sensitive feature: rates per group for both models, then the disparities against
    their bounds. Groups below the support are counted, never itemised: a public comment
    must not describe a handful of people."""
    compared = compared_with_champion(comparison)
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
        lines += [f"**{cell(grouping)}**", "", *_group_table(groups, compared)]
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
            start = lines.index(f"**{cell(grouping)}**")
            lines[start:] = folded(f"{cell(grouping)} (intersection)", lines[start + 2 :])
    return lines
