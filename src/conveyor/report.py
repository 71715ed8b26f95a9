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

TITLE = "Conveyor model report"
METRICS = (
    ("roc_auc", True), ("average_precision", True), ("accuracy", True),
    ("balanced_accuracy", True), ("precision", True), ("recall", True), ("f1", True),
    ("log_loss", False), ("brier", False), ("positive_rate", None),
)  # fmt: skip
STATUS_ICONS = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️", "not gated": "⚪"}
_STATUS_ORDER = {"fail": 0, "inconclusive": 1, "pass": 2, "not gated": 3}


@dataclass(frozen=True)
class ModelState:
    """One side of the comparison: what the pipeline produced on one commit."""

    label: str
    metrics: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    gates: Mapping[str, Any] | None = None


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
    for name, higher_is_better in METRICS:
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
    if not current.gates:
        return ["No gate results (`metrics/gates.json` is missing): run `dvc repro`."]
    gates = sorted(current.gates["gates"], key=lambda g: (_STATUS_ORDER[g["status"]], g["id"]))
    before = {g["id"]: g["status"] for g in (base.gates or {}).get("gates", [])} if base else {}

    def row(gate: Mapping[str, Any]) -> str:
        was = before.get(gate["id"])
        moved = f" (was {was})" if was and was != gate["status"] else ""
        icon = STATUS_ICONS[gate["status"]]
        return f"| {icon} {gate['status']}{moved} | {gate['mode']} | {gate['message']} |"

    header = ["| status | mode | gate |", "|---|---|---|"]
    open_rows = [row(g) for g in gates if g["status"] in {"fail", "inconclusive"}]
    folded = [row(g) for g in gates if g["status"] not in {"fail", "inconclusive"}]
    lines = [*header, *open_rows] if open_rows else ["Every gate passed or was not gated."]
    if folded:
        lines += ["", f"<details><summary>{len(folded)} passing or not gated</summary>", "",
                  *header, *folded, "", "</details>"]  # fmt: skip
    return lines


def verdict_line(current: ModelState) -> str:
    """One sentence a reviewer reads first: may this merge, and what deserves a look."""
    if not current.gates:
        return "⚠️ **No gate verdict**: the gates did not run."
    gates = current.gates["gates"]

    def count(mode: str, status: str) -> int:
        return sum(g["mode"] == mode and g["status"] == status for g in gates)

    notes = [
        f"{n} {what}"
        for n, what in (
            (count("block", "pass"), "blocking gate(s) pass"),
            (count("block", "inconclusive"), "blocking gate(s) inconclusive"),
            (count("report", "fail"), "report-only gate(s) fail"),
            (sum(g["status"] == "not gated" for g in gates), "not gated (too little support)"),
        )
        if n
    ]
    if current.gates["verdict"] == "fail":
        failed = count("block", "fail") + (
            count("block", "inconclusive") if current.gates.get("fail_on_inconclusive") else 0
        )
        return f"❌ **Blocked**: {failed} blocking gate(s) failed; " + ", ".join(notes) + "."
    return "✅ **All blocking gates pass**: " + ", ".join(notes) + "."


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
