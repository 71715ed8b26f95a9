"""The paired comparison with the champion on constructed models: the non-inferiority gates
decide as their intervals say, and pairing is what makes the intervals narrow."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conveyor.comparison import compare, difference, roc_on_grid, rows_to_compare
from conveyor.errors import ConfigError
from conveyor.evaluate.bootstrap import poisson_weights
from conveyor.evaluate.registry import Scored
from conveyor.verdict import Status
from tests.unit.verdicts import settings

ROWS = 3000
RNG = np.random.default_rng(3)
LABELS = RNG.integers(0, 2, ROWS)
FRAME = pd.DataFrame(
    {"gender": RNG.choice(["f", "m"], ROWS), "plan": RNG.choice(["basic", "plus"], ROWS)}
)
SIGNAL = LABELS + RNG.normal(0, 0.9, ROWS)
"""What both models see; each adds its own small noise, so they are strongly correlated."""


def _model(noise: float, seed: int) -> np.ndarray:
    own = np.random.default_rng(seed).normal(0, noise, ROWS)
    return np.asarray(1 / (1 + np.exp(-(SIGNAL + own - 0.5))))


CHAMPION = _model(0.2, 1)
WORSE = _model(1.2, 2)
"""The champion's signal drowned in more noise: a lower ROC AUC, by a margin far past noise."""


def _margins(overall: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"champion": {"overall": overall, **more}}


def _gate(result: tuple[dict[str, Any], Any], gate_id: str) -> Any:
    return next(g for g in result[1].gates if g.id == gate_id)


def test_identical_models_differ_by_exactly_zero_and_pass() -> None:
    result = compare(FRAME, LABELS, CHAMPION, CHAMPION.copy(),
                     settings(_margins({"roc_auc": {"max_drop": 0.0}})))  # fmt: skip
    gate = _gate(result, "champion.roc_auc")
    assert (gate.value, gate.ci_low, gate.ci_high) == (0.0, 0.0, 0.0)
    assert gate.status is Status.PASS
    overall = result[0]["overall"]
    assert all(
        entry["difference"] == 0.0 for entry in overall.values() if entry["difference"] is not None
    )


def test_a_worse_model_fails_and_the_message_names_metric_difference_and_interval() -> None:
    sections, verdict = compare(FRAME, LABELS, CHAMPION, WORSE,
                                settings(_margins({"roc_auc": {"max_drop": 0.005}})))  # fmt: skip
    entry = sections["overall"]["roc_auc"]
    drop = entry["challenger"] - entry["champion"]
    assert drop < -0.03
    gate = _gate((sections, verdict), "champion.roc_auc")
    assert gate.status is Status.FAIL and verdict.blocked
    assert gate.value is not None and gate.ci_low is not None and gate.ci_high is not None
    assert gate.ci_high < -0.005 and gate.ci_low <= gate.value <= gate.ci_high
    assert gate.bound == -0.005 and gate.direction == "min"
    assert gate.message.startswith(f"roc_auc vs champion {gate.value:+.4f} (95% CI ")
    assert f"{gate.ci_low:+.4f} to {gate.ci_high:+.4f}, n=3,000" in gate.message
    assert gate.message.endswith("worse than the allowed drop 0.0050")


def test_a_report_only_margin_fails_without_blocking() -> None:
    config = settings(_margins({"roc_auc": {"max_drop": 0.005, "mode": "report"}}))
    _, verdict = compare(FRAME, LABELS, CHAMPION, WORSE, config)
    assert verdict.gates[0].status is Status.FAIL and not verdict.blocked


def test_a_tiny_test_set_is_inconclusive() -> None:
    """Thirty rows cannot tell a drop of a few hundredths from chance, either way."""
    rows = slice(0, 30)
    _, verdict = compare(FRAME[rows], LABELS[rows], CHAMPION[rows], WORSE[rows],
                         settings(_margins({"roc_auc": {"max_drop": 0.01}})))  # fmt: skip
    (gate,) = verdict.gates
    assert gate.ci_low is not None and gate.ci_high is not None
    assert gate.ci_low < -0.01 < gate.ci_high
    assert gate.status is Status.INCONCLUSIVE and not verdict.blocked


def test_the_paired_interval_is_narrower_than_the_unpaired_one() -> None:
    """Both models are right and wrong on much the same rows: resampling them together
    cancels that shared luck, resampling them apart does not."""
    threshold = 0.5
    champion = Scored(LABELS, CHAMPION, (threshold <= CHAMPION).astype(int))
    challenger = Scored(LABELS, _model(0.3, 4), (_model(0.3, 4) >= threshold).astype(int))
    weights = poisson_weights(ROWS, 400, seed=0)
    other = poisson_weights(ROWS, 400, seed=1)
    for metric in ("roc_auc", "accuracy", "log_loss"):
        paired = difference(metric, champion, challenger, weights, level=0.95).difference
        unpaired = difference(
            metric, champion, challenger, weights, level=0.95, challenger_weights=other
        ).difference
        assert paired.value == unpaired.value
        assert (paired.high - paired.low) < 0.5 * (unpaired.high - unpaired.low), metric


def test_a_disparity_margin_judges_the_increase() -> None:
    """A challenger that selects one group far more often widens the parity gap."""
    unfair = np.where(FRAME["gender"] == "m", np.minimum(CHAMPION + 0.3, 1.0), CHAMPION)
    config = _margins(
        {}, fairness={"gender": {"demographic_parity_difference": {"max_increase": 0.02}}}
    )
    sections, verdict = compare(FRAME, LABELS, CHAMPION, unfair, settings(config))
    (gate,) = verdict.gates
    assert gate.id == "champion.gender.demographic_parity_difference"
    assert gate.ci_low is not None and gate.ci_low > 0.02
    assert gate.status is Status.FAIL
    groups = sections["fairness"]["gender"]["groups"]
    assert groups["m"]["challenger"]["selection_rate"] > groups["m"]["champion"]["selection_rate"]
    assert groups["f"]["challenger"] == groups["f"]["champion"]


def test_slices_below_support_are_not_gated() -> None:
    config = _margins({}, slices={"roc_auc": {"max_drop": 0.01}})
    raw = settings(config).model_dump()
    raw["gates"]["slices"]["min_support"] = {"rows": 2000, "positives": 30}
    from conveyor.config import parse_settings

    _, verdict = compare(FRAME, LABELS, CHAMPION, CHAMPION, parse_settings(raw))
    statuses = {g.group: g.status for g in verdict.gates}
    assert set(statuses.values()) == {Status.NOT_GATED}
    assert all("support below 2000 rows" in g.message for g in verdict.gates)


def test_rows_the_champion_trained_on_are_left_out() -> None:
    rows = rows_to_compare(["a", "b", "c", "d"], frozenset({"b", "d", "z"}))
    assert rows.compared.tolist() == [0, 2]
    assert rows.as_dict() == {"test": 4, "compared": 2, "left_out_champion_trained_on": 2,
                              "champion_training_records_known": True}  # fmt: skip
    unknown = rows_to_compare(["a", "b"], None)
    assert unknown.compared.tolist() == [0, 1] and not unknown.training_known


def test_roc_on_the_grid_starts_and_ends_at_the_corners() -> None:
    found = roc_on_grid(LABELS, CHAMPION)
    tpr = [value for value in found if value is not None]
    assert len(tpr) == 21 and tpr[-1] == 1.0
    assert all(a <= b for a, b in itertools.pairwise(tpr))


def _overall(metric: str, **margin: float) -> dict[str, Any]:
    return {"overall": {metric: margin}}


def _fairness(grouping: str, metric: str, **margin: float) -> dict[str, Any]:
    return {"fairness": {grouping: {metric: margin}}}


@pytest.mark.parametrize(
    ("margins", "message"),
    [
        (_overall("roc_auc", max_increase=0.01), "roc_auc: higher is better, so its margin is "
         "`max_drop`"),
        (_overall("log_loss", max_drop=0.01), "log_loss: lower is better, so its margin is "
         "`max_increase`"),
        (_overall("roc_auc", max_drop=0.01, max_increase=0.01), "exactly one of `max_drop` or "
         "`max_increase`"),
        (_overall("auc", max_drop=0.01), "unknown metric(s) ['auc']"),
        (_overall("roc_auc", max_drop=-0.01), "greater than or equal to 0"),
        (_fairness("region", "equalized_odds_difference", max_increase=0.1),
         "gates.champion.fairness names ['region']"),
        (_fairness("gender", "equalized_odds_ratio", max_increase=0.1),
         "equalized_odds_ratio: higher is better"),
    ],
)  # fmt: skip
def test_margins_are_validated(margins: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings({"champion": margins})
    assert message in str(caught.value)


def test_rows_of_one_class_give_no_curve_and_no_crash() -> None:
    """Left with one class (every positive was a training row of the champion): the ROC is
    undefined, written as nulls, and the margins on it are not gated."""
    only_negatives = LABELS == 0
    sections, verdict = compare(
        FRAME[only_negatives], LABELS[only_negatives], CHAMPION[only_negatives],
        WORSE[only_negatives], settings(_margins({"roc_auc": {"max_drop": 0.01}})),
    )  # fmt: skip
    assert sections["roc"]["champion"] == [None] * 21
    assert verdict.gates[0].status is Status.NOT_GATED


def test_the_champion_labels_rows_at_its_own_threshold() -> None:
    """A branch that only lowers the threshold: the champion keeps its own, so the selection
    rate rises for the branch alone."""
    raw = settings(_margins({})).model_dump()
    raw["model"]["threshold"] = 0.3
    from conveyor.config import parse_settings

    lowered = parse_settings(raw)
    sections, _ = compare(FRAME, LABELS, CHAMPION, CHAMPION.copy(), lowered, champion_threshold=0.5)
    rate = sections["overall"]["selection_rate"]
    assert rate["challenger"] > rate["champion"]
    assert rate["champion"] == round(float((CHAMPION >= 0.5).mean()), 6)
