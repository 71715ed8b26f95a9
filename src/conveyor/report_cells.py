"""Cells and small blocks of the report's markdown: numbers, escaped text, differences with
their intervals and markers, folded blocks. Shared by every section (`report`,
`report_sections`), so a value is written the same way wherever it appears."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from conveyor.verdict import Status

STATUS_ICONS = {
    Status.PASS: "✅", Status.FAIL: "❌", Status.INCONCLUSIVE: "⚠️", Status.NOT_GATED: "⚪"
}  # fmt: skip


def number(value: Any) -> str:
    """A metric value to four decimals; a dash where there is none."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.4f}"
    return "—"


def cell(value: Any) -> str:
    """Text from the team's data or params in a table cell: no cell break, no HTML."""
    return (
        str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("|", "\\|").replace("\n", " ")
    )  # fmt: skip


def param(value: Any) -> str:
    """A parameter value as code, as YAML would read it back."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value)
    text = cell(text)
    return f"`{text}`" if text else '`""`'


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def interval_text(entry: Mapping[str, Any]) -> str:
    low, high = entry.get("ci_low"), entry.get("ci_high")
    if not (is_number(low) and is_number(high)):
        return ""
    return f" ({low:+.4f} to {high:+.4f})"


def marker(entry: Mapping[str, Any], higher_is_better: bool | None) -> str:
    """A colour only where the interval of the difference excludes zero: a real change."""
    low, high = entry.get("ci_low"), entry.get("ci_high")
    if not (isinstance(low, int | float) and isinstance(high, int | float)) or low <= 0 <= high:
        return ""
    if higher_is_better is None:
        return " ◆"
    return " 🟢" if (low > 0) == higher_is_better else " 🔴"


def difference(entry: Mapping[str, Any], higher_is_better: bool | None) -> str:
    value = entry.get("difference")
    if not is_number(value):
        return "—"
    return f"{value:+.4f}{interval_text(entry)}{marker(entry, higher_is_better)}"


def folded(summary: str, lines: list[str]) -> list[str]:
    """Lines inside a `<details>` block (blank lines around, as GFM needs to render the
    markdown inside)."""
    return [f"<details><summary>{summary}</summary>", "", *lines, "", "</details>", ""]
