"""Judging numbers against bounds: pass, fail, inconclusive, not gated.

A gate fails only when its whole confidence interval is on the wrong side of the bound, and
passes only when the whole interval is on the right side; an interval that straddles the
bound is inconclusive. Small slices never flip a build, real regressions always do. What a
result means for the build is decided by `conveyor.verdict`, the type this module produces.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from conveyor.config import Bound
from conveyor.evaluate.bootstrap import Interval
from conveyor.verdict import GateResult, Kind, Mode, Status


def active(bounds: Mapping[str, Bound]) -> list[tuple[str, Bound]]:
    """The bounds to judge: a gate switched `off` is not computed at all."""
    return [(metric, bound) for metric, bound in bounds.items() if bound.mode is not Mode.OFF]


def judge(estimate: Interval, bound: Bound) -> Status:
    """Compare the whole interval with the bound; NaN means there is nothing to judge."""
    if not all(math.isfinite(x) for x in (estimate.value, estimate.low, estimate.high)):
        return Status.NOT_GATED
    if bound.direction == "min":
        if estimate.high < bound.value:
            return Status.FAIL
        return Status.PASS if estimate.low >= bound.value else Status.INCONCLUSIVE
    if estimate.low > bound.value:
        return Status.FAIL
    return Status.PASS if estimate.high <= bound.value else Status.INCONCLUSIVE


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
    signs = {"min": ("<", ">="), "max": (">", "<=")}[bound.direction]
    sign = {Status.FAIL: signs[0], Status.PASS: signs[1]}.get(status, "~")
    level = f"{estimate.level:.0%}"
    return (
        f"{subject} {_number(estimate.value)} {sign} {bound.value:.2f} "
        f"({level} CI {_number(estimate.low)}–{_number(estimate.high)}, n={n:,})"
    )


@dataclass(frozen=True)
class Subject:
    """What a gate judges: the whole test set, a slice or a fairness grouping, and its support."""

    kind: Kind
    group: str | None
    n: int
    positives: int | None


Describer = Callable[..., str]
"""Writes a gate's message from the keywords of `describe`; the champion's margins have
their own wording (`conveyor.comparison`)."""


def make_gate(
    subject: Subject,
    metric: str,
    bound: Bound,
    estimate: Interval | None,
    *,
    level: float,
    reason: str | None = None,
    describe_as: Describer = describe,
) -> GateResult:
    """A gate from an estimate; `reason` (e.g. too little support) makes it `not gated`."""
    if reason is None and estimate is not None and not math.isfinite(estimate.value):
        reason = "undefined on these rows, e.g. one class only"
    status = Status.NOT_GATED if estimate is None or reason else judge(estimate, bound)
    where, n = subject.group, subject.n
    message = describe_as(
        where=where,
        metric=metric,
        estimate=estimate,
        bound=bound,
        n=n,
        status=status,
        reason=reason,
    )
    return GateResult(
        id=".".join(part for part in (subject.kind, where, metric) if part),
        kind=subject.kind,
        metric=metric,
        group=where,
        value=_finite(estimate.value) if estimate else None,
        ci_low=_finite(estimate.low) if estimate else None,
        ci_high=_finite(estimate.high) if estimate else None,
        ci_level=estimate.level if estimate else level,
        bound=bound.value,
        direction=bound.direction,
        n=n,
        positives=subject.positives,
        status=status,
        mode=Mode(bound.mode),
        message=message,
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
