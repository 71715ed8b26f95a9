"""The pull-request report: this branch's model against the base branch's, as markdown.

Pure: it takes already-loaded metrics, params and gates and returns text, so it is tested on
dictionaries. `reportio.py` reads them from the working tree and from git. The markdown needs
no image hosting (tables only), so CML can post it with `--publish=false` and the job summary
can show it as is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor.evaluate.registry import METRICS, OVERALL
from conveyor.verdict import GateResult, Mode, Status, Verdict

TITLE = "Conveyor model report"
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


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params -> dotted keys, so a diff names exactly what changed."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _number(value: Any) -> str:
    """A metric value to four decimals; a dash where there is none."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.4f}"
    return "—"


def _param(value: Any) -> str:
    """A parameter value as code, as YAML would read it back."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value)
    text = text.replace("|", "\\|")
    return f"`{text}`" if text else '`""`'


def metrics_table(current: ModelState, base: ModelState | None) -> list[str]:
    """Overall test metrics; the change column says whether it moved the right way."""
    lines = [f"| metric | {base.label if base else 'base'} | {current.label} | change |",
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
    lines = [f"| parameter | {base.label} | {current.label} |", "|---|---|---|"]
    lines += [f"| `{k}` | {_param(before.get(k))} | {_param(now.get(k))} |" for k in changed]
    return lines


def gates_section(current: ModelState, base: ModelState | None) -> list[str]:
    """Every gate verdict: problems in the open, passing gates folded away."""
    if current.gates is None:
        return ["No gate results (`metrics/gates.json` is missing): run `dvc repro`."]
    gates = current.gates.ordered()
    before = {g.id: g.status for g in base.gates.gates} if base and base.gates else {}

    def row(gate: GateResult) -> str:
        was = before.get(gate.id)
        moved = f" (was {was})" if was and was != gate.status else ""
        return (
            f"| {STATUS_ICONS[gate.status]} {gate.status}{moved} | {gate.mode} | {gate.message} |"
        )

    header = ["| status | mode | gate |", "|---|---|---|"]
    open_rows = [row(g) for g in gates if g.needs_attention]
    folded = [row(g) for g in gates if not g.needs_attention]
    lines = [*header, *open_rows] if open_rows else ["Every gate passed or was not gated."]
    if folded:
        lines += ["", f"<details><summary>{len(folded)} passing or not gated</summary>", "",
                  *header, *folded, "", "</details>"]  # fmt: skip
    return lines


def verdict_line(current: ModelState) -> str:
    """One sentence a reviewer reads first: may this merge, and what deserves a look."""
    if current.gates is None:
        return "⚠️ **No gate verdict**: the gates did not run."
    verdict = current.gates
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


def render_report(current: ModelState, base: ModelState | None, run_url: str | None = None) -> str:
    """The whole report, ready for CML, `gh pr comment` or `$GITHUB_STEP_SUMMARY`."""
    compared = f"`{current.label}` against `{base.label}`" if base else f"`{current.label}`"
    lines = [
        f"## {TITLE}",
        "",
        verdict_line(current),
        "",
        f"Comparing {compared}.",
        "",
        "### Test metrics",
        "",
        *metrics_table(current, base),
        "",
        "### Parameters",
        "",
        *params_table(current, base),
        "",
        "### Quality gates",
        "",
        *gates_section(current, base),
    ]
    if run_url:
        lines += ["", f"Plots and the full outputs are attached to [the CI run]({run_url})."]
    return "\n".join(lines) + "\n"
