"""What `make run` ends with: the model's headline numbers and the gates' verdict, readably.

`dvc metrics show` prints every number of every metrics file on one line hundreds of columns
wide; a person after a run wants six numbers and whether the model may ship. The verdict is
the one `conveyor evaluate` stored in `metrics/gates.json`, and the blocking failures are
picked with the same rule that made it (`blocks_release`), so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conveyor.evaluate.gates import blocks_release, format_verdict

HEADLINE = ("roc_auc", "f1", "accuracy", "precision", "recall", "rows")


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4f}"


def blocking_failures(gates: Mapping[str, Any]) -> list[str]:
    """The messages of the gates that make the verdict fail."""
    strict = bool(gates.get("fail_on_inconclusive", False))
    return [
        g["message"]
        for g in gates.get("gates", [])
        if blocks_release(g["mode"], g["status"], strict)
    ]


def render_summary(
    metrics: Mapping[str, Any], gates: Mapping[str, Any], metrics_name: str, gates_name: str
) -> str:
    """A short block for a terminal: headline metrics, blocking failures, the verdict."""
    shown = [name for name in HEADLINE if name in metrics]
    width = max((len(name) for name in shown), default=0)
    lines = [f"Model on the held-out test set ({metrics_name}):"]
    lines += [f"  {name:<{width}}  {_number(metrics[name])}" for name in shown]
    failures = blocking_failures(gates)
    lines.append(f"Quality gates ({gates_name}; every gate: `conveyor gate`):")
    if failures:
        lines.append(f"  {len(failures)} blocking failure(s):")
        lines += [f"  - {message}" for message in failures]
    else:
        lines.append("  no blocking failures")
    lines.append(format_verdict(dict(gates)))
    return "\n".join(lines)
