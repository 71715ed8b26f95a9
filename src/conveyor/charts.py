"""Charts for markdown that needs no image host: mermaid `xychart-beta` blocks, which GitHub
renders in comments, job summaries and release notes.

An xychart has no legend, so each chart fixes its colours (`plotColorPalette`, in the order
the series are drawn) and its title says which is which. Labels come from the team's data
(group names), so they are reduced to characters that cannot end a quoted mermaid string or
open HTML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

CHAMPION_COLOUR = "#8c959f"  # grey
CHALLENGER_COLOUR = "#0969da"  # blue
LEGEND = "grey: champion, blue: this branch"
_UNSAFE = re.compile(r"[^\w .,;:=&+\-/()]")


def label(text: str, limit: int = 40) -> str:
    """A group or axis label as a quoted mermaid string: safe characters, bounded length."""
    cleaned = _UNSAFE.sub("_", text)
    cleaned = cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
    return json.dumps(cleaned, ensure_ascii=False)


def _numbers(values: Sequence[float | None]) -> str:
    return "[" + ", ".join("0" if v is None else f"{v:.4f}" for v in values) + "]"


def _header(palette: Sequence[str]) -> str:
    theme = {"themeVariables": {"xyChart": {"plotColorPalette": ", ".join(palette)}}}
    return f"%%{{init: {json.dumps(theme)}}}%%"


def roc_chart(
    fpr: Sequence[float], champion: Sequence[float] | None, challenger: Sequence[float]
) -> list[str]:
    """Both ROC curves on one evenly spaced false-positive-rate grid (xychart lines take
    evenly spaced x values, so the curves were read at those rates)."""
    palette = [CHAMPION_COLOUR, CHALLENGER_COLOUR] if champion is not None else [CHALLENGER_COLOUR]
    title = f"ROC curve ({LEGEND})" if champion is not None else "ROC curve"
    lines = [
        "```mermaid",
        _header(palette),
        "xychart-beta",
        f"    title {label(title, 80)}",
        f'    x-axis "false positive rate" [{", ".join(f"{x:g}" for x in fpr)}]',
        '    y-axis "true positive rate" 0 --> 1',
    ]
    if champion is not None:
        lines.append(f"    line {_numbers(champion)}")
    lines += [f"    line {_numbers(challenger)}", "```"]
    return lines


def group_rate_chart(
    rate: str,
    groups: Sequence[str],
    champion: Sequence[float | None] | None,
    challenger: Sequence[float | None],
    grouping: str,
) -> list[str]:
    """One rate per group: bars for the champion, a line for this branch (two bar series
    would be drawn over each other)."""
    top = max([v for v in (*challenger, *(champion or ())) if v is not None] or [1.0])
    upper = min(1.0, round(top * 1.15 + 0.005, 2)) or 1.0
    palette = [CHAMPION_COLOUR, CHALLENGER_COLOUR] if champion is not None else [CHALLENGER_COLOUR]
    title = f"{rate} by {grouping}"
    heading = f"{title} (grey bars: champion, blue line: this branch)" if champion else title
    lines = [
        "```mermaid",
        _header(palette),
        "xychart-beta",
        f"    title {label(heading, 90)}",
        f"    x-axis [{', '.join(label(g) for g in groups)}]",
        f"    y-axis {label(rate)} 0 --> {upper:g}",
    ]
    if champion is None:
        return [*lines, f"    bar {_numbers(challenger)}", "```"]
    return [*lines, f"    bar {_numbers(champion)}", f"    line {_numbers(challenger)}", "```"]
