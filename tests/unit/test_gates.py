"""Judging an interval against a bound, and the gate a judged number becomes."""

from __future__ import annotations

import math

import pytest

from conveyor.config import Bound
from conveyor.evaluate.bootstrap import Interval
from conveyor.evaluate.gates import Subject, active, describe, judge, make_gate
from conveyor.verdict import Mode, Status

NAN = float("nan")
MIN = Bound(min=0.8)
MAX = Bound(max=0.2)


def estimate(low: float, high: float, value: float | None = None) -> Interval:
    return Interval((low + high) / 2 if value is None else value, low, high, 0.95)


MINIMUM_CASES = [
    (0.6, 0.7, Status.FAIL),  # wholly below the minimum
    (0.7, 0.8, Status.INCONCLUSIVE),  # touching it from below: not wholly below
    (0.7, 0.9, Status.INCONCLUSIVE),  # straddling
    (0.8, 0.9, Status.PASS),  # touching it from above: the minimum is allowed
    (0.85, 0.95, Status.PASS),  # wholly above
    (0.8, 0.8, Status.PASS),  # a point at the bound
]
"""Judged against MIN (0.8). A maximum is the mirror image: MAX is 0.2 = 1 - 0.8, and each
interval [low, high] becomes [1 - high, 1 - low] with the same verdict."""


@pytest.mark.parametrize(
    ("bound", "low", "high", "expected"),
    [
        *((MIN, low, high, status) for low, high, status in MINIMUM_CASES),
        *((MAX, round(1 - high, 2), round(1 - low, 2), s) for low, high, s in MINIMUM_CASES),
    ],
)
def test_judge_at_each_boundary(bound: Bound, low: float, high: float, expected: Status) -> None:
    assert judge(estimate(low, high), bound) is expected


def test_the_interval_decides_not_the_point() -> None:
    assert judge(estimate(0.7, 0.9, value=0.75), MIN) is Status.INCONCLUSIVE
    assert judge(estimate(0.81, 0.9, value=0.79), MIN) is Status.PASS


@pytest.mark.parametrize(
    "numbers",
    [(NAN, 0.1, 0.9), (0.5, NAN, 0.9), (0.5, 0.1, NAN), (0.5, -math.inf, 0.9), (math.inf, 1, 2)],
)
@pytest.mark.parametrize("bound", [MIN, MAX])
def test_nothing_to_judge_is_not_gated(numbers: tuple[float, float, float], bound: Bound) -> None:
    value, low, high = numbers
    assert judge(Interval(value, low, high, 0.95), bound) is Status.NOT_GATED


@pytest.mark.parametrize(
    ("bound", "status", "sign"),
    [
        (MIN, Status.FAIL, "<"),
        (MIN, Status.PASS, ">="),
        (MIN, Status.INCONCLUSIVE, "~"),
        (MAX, Status.FAIL, ">"),
        (MAX, Status.PASS, "<="),
        (MAX, Status.INCONCLUSIVE, "~"),
    ],
)
def test_describe_a_judged_number(bound: Bound, status: Status, sign: str) -> None:
    message = describe(
        where="plan=basic",
        metric="recall",
        estimate=Interval(0.5234, 0.4901, 0.5549, 0.95),
        bound=bound,
        n=1573,
        status=status,
    )
    assert message == f"plan=basic recall 0.52 {sign} {bound.value:.2f} (95% CI 0.49–0.55, n=1,573)"


def test_describe_without_a_place_and_with_another_level() -> None:
    message = describe(
        where=None,
        metric="roc_auc",
        estimate=Interval(0.93, 0.925, 0.934, 0.9),
        bound=Bound(min=0.9),
        n=14637,
        status=Status.PASS,
    )
    assert message == "roc_auc 0.93 >= 0.90 (90% CI 0.93–0.93, n=14,637)"


def _not_gated(estimate: Interval | None, reason: str | None) -> str:
    return describe(
        where="plan=premium", metric="f1", estimate=estimate, bound=MIN, n=12,
        status=Status.NOT_GATED, reason=reason,
    )  # fmt: skip


def test_describe_not_gated() -> None:
    assert (
        _not_gated(None, "support below 100 rows")
        == "plan=premium f1: not gated (support below 100 rows, n=12)"
    )
    assert _not_gated(None, None) == "plan=premium f1: not gated (no estimate, n=12)"
    # A reason wins over an estimate: the number is not judged.
    assert (
        _not_gated(estimate(0.1, 0.2), "too small")
        == "plan=premium f1: not gated (too small, n=12)"
    )


def test_describe_an_undefined_estimate() -> None:
    message = describe(
        where=None, metric="roc_auc", estimate=Interval(NAN, NAN, NAN, 0.95), bound=MIN, n=3,
        status=Status.NOT_GATED,
    )  # fmt: skip
    assert message == "roc_auc n/a ~ 0.80 (95% CI n/a–n/a, n=3)"


@pytest.mark.parametrize(
    ("kind", "group", "expected"),
    [
        ("overall", None, "overall.recall"),
        ("slice", "plan=basic", "slice.plan=basic.recall"),
        ("slice", "tenure=[12, 24)", "slice.tenure=[12, 24).recall"),
        ("fairness", "gender&region", "fairness.gender&region.recall"),
    ],
)
def test_make_gate_composes_the_id(kind: str, group: str | None, expected: str) -> None:
    subject = Subject(kind, group, 200, 60)  # type: ignore[arg-type]
    made = make_gate(subject, "recall", MIN, estimate(0.85, 0.95), level=0.95)
    assert made.id == expected
    assert (made.kind, made.metric, made.group) == (kind, "recall", group)


def test_make_gate_carries_the_estimate_bound_and_mode() -> None:
    subject = Subject("slice", "plan=basic", 200, 60)
    bound = Bound(min=0.8, mode=Mode.REPORT)
    interval = Interval(0.65, 0.6, 0.7, 0.9)
    made = make_gate(subject, "recall", bound, interval, level=0.5)  # the estimate's level wins
    assert made.status is Status.FAIL
    assert made.mode is Mode.REPORT
    assert (made.value, made.ci_low, made.ci_high) == (0.65, 0.6, 0.7)
    assert (made.bound, made.direction, made.ci_level) == (0.8, "min", 0.9)
    assert (made.n, made.positives) == (200, 60)
    assert made.message == "plan=basic recall 0.65 < 0.80 (90% CI 0.60–0.70, n=200)"
    assert not made.blocks(fail_on_inconclusive=True)
    assert make_gate(subject, "recall", bound, None, level=0.5).ci_level == 0.5


def test_an_undefined_estimate_is_not_gated_and_says_why() -> None:
    subject = Subject("slice", "plan=basic", 200, 0)
    made = make_gate(subject, "roc_auc", MIN, Interval(NAN, NAN, NAN, 0.95), level=0.95)
    assert made.status is Status.NOT_GATED
    assert (
        made.message
        == "plan=basic roc_auc: not gated (undefined on these rows, e.g. one class only, n=200)"
    )


def test_make_gate_turns_non_finite_numbers_into_none() -> None:
    subject = Subject("overall", None, 10, 0)
    made = make_gate(subject, "roc_auc", MIN, Interval(NAN, NAN, math.inf, 0.95), level=0.95)
    assert made.status is Status.NOT_GATED
    assert (made.value, made.ci_low, made.ci_high) == (None, None, None)


def test_make_gate_with_a_reason_or_no_estimate_is_not_gated() -> None:
    subject = Subject("slice", "plan=plus", 9, 2)
    with_reason = make_gate(subject, "f1", MAX, estimate(0.9, 1.0), level=0.95, reason="tiny")
    assert with_reason.status is Status.NOT_GATED
    assert with_reason.value == pytest.approx(0.95)  # reported, just not judged
    assert with_reason.message == "plan=plus f1: not gated (tiny, n=9)"
    without = make_gate(subject, "f1", MAX, None, level=0.95)
    assert without.status is Status.NOT_GATED
    assert (without.value, without.ci_low, without.ci_high) == (None, None, None)


def test_active_skips_the_gates_switched_off() -> None:
    bounds = {
        "roc_auc": Bound(min=0.9),
        "f1": Bound(min=0.6, mode=Mode.OFF),
        "recall": Bound(min=0.4, mode=Mode.REPORT),
        "log_loss": Bound(max=0.3, mode=Mode.BLOCK),
    }
    assert [name for name, _ in active(bounds)] == ["roc_auc", "recall", "log_loss"]
    assert active({}) == []
