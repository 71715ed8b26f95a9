"""What `make run` ends with: the model's headline numbers and the gates' verdict, readably.

`dvc metrics show` prints every number of every metrics file on one line hundreds of columns
wide; a person after a run wants six numbers and whether the model may ship. The verdict is
read back from `metrics/gates.json` into `conveyor.verdict.Verdict`, whose one rule picks the
blocking failures and the verdict, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conveyor.evaluate.registry import HEADLINE
from conveyor.verdict import Verdict, format_verdict

SHOWN = (*HEADLINE, "rows")


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4f}"


def blocking_failures(verdict: Verdict) -> list[str]:
    """The messages of the gates that make the verdict fail, in reading order."""
    return [g.message for g in verdict.blocking]


def render_summary(
    metrics: Mapping[str, Any], verdict: Verdict, metrics_name: str, gates_name: str
) -> str:
    """A short block for a terminal: headline metrics, blocking failures, the verdict."""
    shown = [name for name in SHOWN if name in metrics]
    width = max((len(name) for name in shown), default=0)
    lines = [f"Model on the held-out test set ({metrics_name}):"]
    lines += [f"  {name:<{width}}  {_number(metrics[name])}" for name in shown]
    failures = blocking_failures(verdict)
    lines.append(f"Quality gates ({gates_name}; every gate: `conveyor gate`):")
    if failures:
        lines.append(f"  {len(failures)} blocking failure(s):")
        lines += [f"  - {message}" for message in failures]
    else:
        lines.append("  no blocking failures")
    lines.append(format_verdict(verdict))
    return "\n".join(lines)
