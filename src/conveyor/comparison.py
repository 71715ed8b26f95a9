"""Champion against challenger on the same rows: paired bootstrap differences and the
non-inferiority gates of `gates.champion`.

Both models' predictions on the same test rows are resampled with the *same* Poisson weights,
so each resample's difference cancels what the two models share (the rows that are easy or
hard for both): the interval of a paired difference is much narrower than the two intervals
side by side, and a real drop of a few thousandths is told apart from noise. Pure: the
probabilities come in, the comparison (a JSON-ready document and the gates) comes out;
`conveyor.champion` fetches the champion and `conveyor.challenge` scores both models and
writes the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from conveyor.config import Margin, Settings
from conveyor.contract import predict_labels
from conveyor.evaluate.bootstrap import Array, Interval, interval, poisson_weights
from conveyor.evaluate.fairness import (
    CHART_RATES,
    disparity_samples,
    group_counts,
    groupings,
    make_grouping,
    rounded,
)
from conveyor.evaluate.gates import Subject, make_gate
from conveyor.evaluate.registry import METRICS, OVERALL, Scored, rates_from_counts
from conveyor.evaluate.slices import REPORTED, find_slices
from conveyor.verdict import GateResult, Mode, Status, Verdict, too_small_reason

ROC_GRID = tuple(round(i / 20, 2) for i in range(21))
"""False-positive rates at which both ROC curves are read: evenly spaced, as a mermaid
xychart line needs, and few enough to read as a table."""


@dataclass(frozen=True)
class Difference:
    """One number for both models, and the interval of challenger - champion."""

    champion: float
    challenger: float
    difference: Interval

    def as_dict(self) -> dict[str, float | None]:
        return {
            "champion": rounded(self.champion),
            "challenger": rounded(self.challenger),
            "difference": rounded(self.difference.value),
            "ci_low": rounded(self.difference.low),
            "ci_high": rounded(self.difference.high),
        }


def difference(
    metric: str,
    champion: Scored,
    challenger: Scored,
    weights: Array,
    *,
    level: float,
    challenger_weights: Array | None = None,
) -> Difference:
    """A metric for both models with the bootstrap interval of their difference.

    Paired (the default): both models are resampled with `weights`, the same rows each time.
    `challenger_weights` resamples the challenger independently instead: the unpaired
    interval, which tests compare with the paired one.
    """
    compute = METRICS[metric]
    before, after = compute.point(champion), compute.point(challenger)
    samples_before = compute.values(champion, weights)
    samples_after = compute.values(
        challenger, weights if challenger_weights is None else challenger_weights
    )
    estimate = interval(after - before, samples_after - samples_before, level)
    return Difference(before, after, estimate)


@dataclass(frozen=True)
class Rows:
    """Which test rows were compared, and why the others were not."""

    test: int
    compared: Array  # indices into the test set
    trained_on: int  # test rows the champion was trained on (left out)
    training_known: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "compared": int(self.compared.size),
            "left_out_champion_trained_on": self.trained_on,
            "champion_training_records_known": self.training_known,
        }


def rows_to_compare(record_ids: Sequence[str], champion_training: frozenset[str] | None) -> Rows:
    """Every test row the champion never trained on. New data or another split can put the
    champion's training rows in this test set, where it would look better than it is."""
    if champion_training is None:
        return Rows(len(record_ids), np.arange(len(record_ids)), 0, False)
    seen = np.fromiter((r in champion_training for r in record_ids), bool, len(record_ids))
    return Rows(len(record_ids), np.flatnonzero(~seen), int(seen.sum()), True)


def _margin_gate(
    *,
    subject: tuple[str | None, str],
    diff: Difference,
    margin: Margin,
    n: int,
    positives: int | None,
    reason: str | None = None,
) -> GateResult:
    """A non-inferiority gate: the interval of the difference against the margin, judged by
    `make_gate` like every gate, in words of its own."""
    where, metric = subject
    allowed = (
        f"allowed drop {margin.max_drop:.4f}"
        if margin.max_drop is not None
        else f"allowed increase {margin.max_increase:.4f}"
    )

    def message(
        *, where: str | None, metric: str, estimate: Interval | None, n: int, status: Status,
        reason: str | None = None, **_: Any,
    ) -> str:  # fmt: skip
        subject_text = f"{where} {metric}" if where else metric
        if estimate is None or reason:
            return f"{subject_text} vs champion: not gated ({reason or 'no estimate'}, n={n:,})"
        verdict = {Status.FAIL: "worse than", Status.PASS: "within"}.get(status, "undecided at")
        return (
            f"{subject_text} vs champion {estimate.value:+.4f} ({estimate.level:.0%} CI "
            f"{estimate.low:+.4f} to {estimate.high:+.4f}, n={n:,}): {verdict} the {allowed}"
        )

    return make_gate(
        Subject("champion", where, n, positives), metric, margin.as_bound(), diff.difference,
        level=diff.difference.level, reason=reason, describe_as=message,
    )  # fmt: skip


def _active(margins: Mapping[str, Margin]) -> dict[str, Margin]:
    return {name: margin for name, margin in margins.items() if margin.mode is not Mode.OFF}


def _overall(
    champion: Scored, challenger: Scored, weights: Array, settings: Settings
) -> tuple[dict[str, Any], list[GateResult]]:
    level = settings.gates.bootstrap.level
    margins = _active(settings.gates.champion.overall)
    report, gates = {}, []
    n, positives = int(challenger.labels.size), int(challenger.labels.sum())
    for metric in OVERALL:
        diff = difference(metric, champion, challenger, weights, level=level)
        report[metric] = diff.as_dict()
        if metric in margins:
            gates.append(
                _margin_gate(
                    subject=(None, metric), diff=diff, margin=margins[metric], n=n,
                    positives=positives,
                )
            )  # fmt: skip
    return report, gates


def _slices(
    frame: pd.DataFrame, champion: Scored, challenger: Scored, weights: Array, settings: Settings
) -> tuple[dict[str, Any], list[GateResult]]:
    """Every slice: both models' reported metrics; the margins' metrics with intervals."""
    support = settings.gates.slices.min_support
    level = settings.gates.bootstrap.level
    margins = _active(settings.gates.champion.slices)
    report: dict[str, Any] = {}
    gates: list[GateResult] = []
    for piece in find_slices(frame, settings):
        before, after = champion.rows(piece.rows), challenger.rows(piece.rows)
        positives = int(after.labels.sum())
        small = len(piece.rows) < support.rows or positives < support.positives
        metrics: dict[str, Any] = {
            m: {"champion": rounded(METRICS[m].point(before)),
                "challenger": rounded(METRICS[m].point(after))}
            for m in REPORTED
        }  # fmt: skip
        resamples = None if small else weights[:, piece.rows]
        too_small = too_small_reason(support.rows, support.positives)
        for metric, margin in margins.items():
            diff = _undefined(level)
            if resamples is not None:
                diff = difference(metric, before, after, resamples, level=level)
                metrics[metric] = diff.as_dict()
            gates.append(
                _margin_gate(
                    subject=(piece.name, metric), diff=diff, margin=margin, n=len(piece.rows),
                    positives=positives, reason=too_small if small else None,
                )
            )  # fmt: skip
        report.setdefault(piece.column, {})[piece.value] = {
            "rows": len(piece.rows),
            "positives": positives,
            "gated": not small,
            "metrics": metrics,
        }
    return report, gates


def _fairness(
    frame: pd.DataFrame, champion: Scored, challenger: Scored, weights: Array, settings: Settings
) -> tuple[dict[str, Any], list[GateResult]]:
    """Per grouping: both models' rates per group, and each disparity for both with the
    paired interval of its difference. A group enters the disparities with the support of
    `gates.fairness.min_support` (on these rows, the same groups for both models)."""
    config = settings.gates.fairness
    support = config.min_support
    level = settings.gates.bootstrap.level
    report: dict[str, Any] = {}
    gates: list[GateResult] = []
    labels = challenger.labels
    for name in groupings(settings):
        grouping, codes = make_grouping(name, frame, labels, challenger.predicted, support)
        sides = {
            side: (
                group_counts(labels, scored.predicted, codes, len(grouping.groups), None),
                group_counts(labels, scored.predicted, codes, len(grouping.groups), weights),
            )
            for side, scored in (("champion", champion), ("challenger", challenger))
        }
        rows, positives, included = grouping.rows, grouping.positives, grouping.included
        rates = {side: rates_from_counts(c) for side, (c, _) in sides.items()}
        groups = {
            str(group): {
                "rows": int(rows[i]),
                "positives": int(positives[i]),
                "included": bool(included[i]),
                **{side: {r: rounded(rates[side][r][i]) for r in CHART_RATES} for side in sides},
            }
            for i, group in enumerate(grouping.groups)
        }
        diffs: dict[str, Difference] = {}
        if included.sum() >= 2:
            before = disparity_samples(*sides["champion"], included)
            after = disparity_samples(*sides["challenger"], included)
            for metric, (was, was_samples) in before.items():
                now, now_samples = after[metric]
                change = interval(now - was, now_samples - was_samples, level)
                diffs[metric] = Difference(was, now, change)
        subject_rows, subject_positives = int(rows[included].sum()), int(positives[included].sum())
        for metric, margin in _active(settings.gates.champion.fairness.get(name, {})).items():
            found = diffs.get(metric)
            gates.append(
                _margin_gate(
                    subject=(name, metric), diff=found or _undefined(level), margin=margin,
                    n=subject_rows, positives=subject_positives,
                    reason=None if found else "fewer than two groups with enough support",
                )
            )  # fmt: skip
        report[name] = {
            "groups": groups,
            "support": {"rows": support.rows, "positives": support.positives},
            "disparities": {metric: diff.as_dict() for metric, diff in diffs.items()},
        }
    return report, gates


def roc_on_grid(labels: Array, probabilities: Array) -> list[float | None]:
    """The true-positive rate at each false-positive rate of `ROC_GRID` (linear between the
    curve's points, as the ROC's own segments are)."""
    if np.unique(labels).size < 2:  # one class only: no curve (None, as JSON's null)
        return [None] * len(ROC_GRID)
    fpr, tpr, _ = skm.roc_curve(labels, probabilities)
    return [round(float(v), 4) for v in np.interp(ROC_GRID, fpr, tpr)]


def compare(
    frame: pd.DataFrame,
    labels: Array,
    champion_probabilities: Array,
    challenger_probabilities: Array,
    settings: Settings,
    *,
    champion_threshold: float | None = None,
) -> tuple[dict[str, Any], Verdict]:
    """Both models on the same rows (already narrowed to the rows to compare): the
    comparison's sections and the verdict of the champion gates.

    Each model labels rows at its own threshold (the champion's from its signature, as it
    serves): a pull request that moves the threshold is judged on what it changes."""
    threshold = settings.model.threshold
    own = threshold if champion_threshold is None else champion_threshold
    champion = Scored(labels, champion_probabilities, predict_labels(champion_probabilities, own))
    challenger = Scored(
        labels, challenger_probabilities, predict_labels(challenger_probabilities, threshold)
    )
    bootstrap = settings.gates.bootstrap
    weights = poisson_weights(labels.size, bootstrap.resamples, bootstrap.seed)
    overall, overall_gates = _overall(champion, challenger, weights, settings)
    slices, slice_gates = _slices(frame, champion, challenger, weights, settings)
    fairness, fairness_gates = _fairness(frame, champion, challenger, weights, settings)
    sections = {
        "overall": overall,
        "slices": slices,
        "fairness": fairness,
        "roc": {
            "fpr": list(ROC_GRID),
            "champion": roc_on_grid(labels, champion_probabilities),
            "challenger": roc_on_grid(labels, challenger_probabilities),
        },
    }
    verdict = Verdict(
        gates=(*overall_gates, *slice_gates, *fairness_gates),
        fail_on_inconclusive=settings.gates.fail_on_inconclusive,
        bootstrap=bootstrap.model_dump(),
    )
    return sections, verdict


def _undefined(level: float) -> Difference:
    """No estimate (too little support): a gate on it is `not gated`."""
    return Difference(math.nan, math.nan, Interval(math.nan, math.nan, math.nan, level))
