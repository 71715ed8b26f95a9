"""Judging numbers against bounds: pass, fail, inconclusive, not gated.

A gate fails only when its whole confidence interval is on the wrong side of the bound, and
passes only when the whole interval is on the right side; an interval that straddles the
bound is inconclusive. Small slices never flip a build, real regressions always do.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from conveyor.config import Bound
from conveyor.evaluate.bootstrap import Interval

Status = Literal["pass", "fail", "inconclusive", "not gated"]
Kind = Literal["overall", "slice", "fairness"]


@dataclass(frozen=True)
class Gate:
    """One judged number: what, where, how sure, against what, and the verdict."""

    id: str
    kind: Kind
    metric: str
    group: str | None
    value: float | None
    ci_low: float | None
    ci_high: float | None
    ci_level: float
    bound: float
    direction: Literal["min", "max"]
    n: int
    positives: int | None
    status: Status
    mode: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(estimate: Interval, bound: Bound) -> Status:
    """Compare the whole interval with the bound; NaN means there is nothing to judge."""
    if not all(math.isfinite(x) for x in (estimate.value, estimate.low, estimate.high)):
        return "not gated"
    if bound.direction == "min":
        if estimate.high < bound.value:
            return "fail"
        return "pass" if estimate.low >= bound.value else "inconclusive"
    if estimate.low > bound.value:
        return "fail"
    return "pass" if estimate.high <= bound.value else "inconclusive"


def _number(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}"


def describe(
    *,
    where: str | None, metric: str, estimate: Interval | None, bound: Bound, n: int, status: Status,
    reason: str | None = None,
) -> str:  # fmt: skip
    """`sex=Female recall 0.52 < 0.60 (95% CI 0.49–0.55, n=1,573)`."""
    subject = f"{where} {metric}" if where else metric
    if estimate is None or reason:
        return f"{subject}: not gated ({reason or 'no estimate'}, n={n:,})"
    if bound.direction == "min":
        sign = "<" if status == "fail" else (">=" if status == "pass" else "~")
    else:
        sign = ">" if status == "fail" else ("<=" if status == "pass" else "~")
    level = f"{estimate.level:.0%}"
    return (
        f"{subject} {_number(estimate.value)} {sign} {bound.value:.2f} "
        f"({level} CI {_number(estimate.low)}–{_number(estimate.high)}, n={n:,})"
    )


def make_gate(
    *,
    kind: Kind,
    metric: str,
    group: str | None,
    estimate: Interval | None,
    bound: Bound,
    n: int,
    positives: int | None,
    reason: str | None = None,
    level: float,
) -> Gate:
    """A gate from an estimate; `reason` (e.g. too little support) makes it `not gated`."""
    status: Status = "not gated" if estimate is None or reason else judge(estimate, bound)
    identifier = ".".join(part for part in (kind, group, metric) if part)
    return Gate(
        id=identifier,
        kind=kind,
        metric=metric,
        group=group,
        value=_finite(estimate.value) if estimate else None,
        ci_low=_finite(estimate.low) if estimate else None,
        ci_high=_finite(estimate.high) if estimate else None,
        ci_level=level,
        bound=bound.value,
        direction=bound.direction,
        n=n,
        positives=positives,
        status=status,
        mode=bound.mode,
        message=describe(
            where=group,
            metric=metric,
            estimate=estimate,
            bound=bound,
            n=n,
            status=status,
            reason=reason,
        ),
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def blocks_release(mode: str, status: str, fail_on_inconclusive: bool) -> bool:
    """The verdict rule, for one gate: a blocking gate that failed (or, when configured, could
    not decide). Takes plain values so readers of `metrics/gates.json` apply the same rule."""
    failing = {"fail", "inconclusive"} if fail_on_inconclusive else {"fail"}
    return mode == "block" and status in failing


def verdict(gates: list[Gate], fail_on_inconclusive: bool) -> dict[str, Any]:
    """The summary `metrics/gates.json` holds: overall verdict, counts, and every gate."""
    blocked = any(blocks_release(g.mode, g.status, fail_on_inconclusive) for g in gates)
    counts = {
        status: sum(g.status == status for g in gates)
        for status in ("pass", "fail", "inconclusive", "not gated")
    }
    return {
        "verdict": "fail" if blocked else "pass",
        "fail_on_inconclusive": fail_on_inconclusive,
        "counts": counts,
        "gates": [g.as_dict() for g in gates],
    }


_ORDER = {"fail": 0, "inconclusive": 1, "pass": 2, "not gated": 3}
"""Failures first: the order of `conveyor gate`'s lines and of the verdict's counts."""


def format_table(summary: dict[str, Any]) -> str:
    """The gates for a terminal: failures first, then one line per gate and the verdict."""
    gates = sorted(summary["gates"], key=lambda g: (_ORDER[g["status"]], g["id"]))
    width = max((len(g["status"]) for g in gates), default=4)
    lines = [f"{g['status'].upper():<{width}}  {g['mode']:<6}  {g['message']}" for g in gates]
    lines.append(format_verdict(summary))
    return "\n".join(lines)


def format_verdict(summary: dict[str, Any]) -> str:
    """`verdict: PASS (2 fail, 27 pass)`: the last line of `conveyor gate` and of the summary."""
    counts = summary["counts"]
    ordered = [*(s for s in _ORDER if s in counts), *(s for s in counts if s not in _ORDER)]
    listed = ", ".join(f"{counts[status]} {status}" for status in ordered if counts[status])
    return f"verdict: {summary['verdict'].upper()} ({listed})"
