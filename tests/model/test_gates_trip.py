"""Each kind of gate can trip on the team's own data: degraded models must fail the gates.

Everything is derived from `params.yaml` and the pipeline's outputs, never from a known data
set. The degraded models pick on one group of the team's data: the first sensitive feature
(preferably one that is also sliced), its largest group with the support the gates need.
They are judged by `assess`, the function the evaluate stage uses, on the real test set, with
the team's configured gates. Where the team configured no gate of a kind that the degraded
model must trip, a representative bound is added here, so the machinery is still proven on the
team's data; a gate that exists but cannot catch even a model that scores backwards fails its
test, since such a gate guards nothing.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from threadpoolctl import threadpool_limits

from conveyor import cli
from conveyor.config import DataSettings, Settings, load_settings, parse_settings, read_params
from conveyor.evaluate.assess import Assessment, assess
from conveyor.evaluate.slices import slice_labels
from conveyor.features import model_inputs, target_vector
from conveyor.modelio import load_model
from conveyor.paths import ProjectPaths
from conveyor.train import build_pipeline
from conveyor.verdict import GateResult, Mode, Status
from tests.conftest import ROOT, section

# `where metric value sign bound (95% CI low–high, n=1,234)`: the format, never today's numbers.
MESSAGE = re.compile(
    r"^(?:.+ )?\w+ \d+\.\d\d [<>] \d+\.\d\d \(\d+% CI \d+\.\d\d–\d+\.\d\d, n=[\d,]+\)$"
)
# Metrics a model scoring backwards necessarily gets wrong (ranking, hit rate, calibration).
# Recall and the false positive rate are mirrored around 0.5 by a reversal, so a loose bound on
# them can stay met; the selection rate is a constraint, not a quality.
REVERSAL_TRIPS = (
    "roc_auc",
    "balanced_accuracy",
    "accuracy",
    "precision",
    "f1",
    "log_loss",
    "brier",
)
EQUALIZED_ODDS = ("equalized_odds_difference", "equalized_odds_ratio")
DEMOGRAPHIC_PARITY = ("demographic_parity_difference", "demographic_parity_ratio")
# Used only where the team configured no gate of the kind: bounds every useful model meets.
REPRESENTATIVE_QUALITY = ("roc_auc", {"min": 0.6, "mode": "block"})
REPRESENTATIVE_EQUALIZED_ODDS = ("equalized_odds_difference", {"max": 0.2, "mode": "block"})
REPRESENTATIVE_PARITY = ("demographic_parity_difference", {"max": 0.25, "mode": "block"})
DERIVED_GROUP = "trip_test_group"
"""A column added to the frames only when the data has nothing categorical to group by."""


def _raw_params() -> dict[str, Any]:
    return copy.deepcopy(dict(read_params(ROOT / "params.yaml")))


def _bounds_to_trip(
    raw: dict[str, Any],
    path: tuple[str, ...],
    candidates: Iterable[str],
    representative: tuple[str, dict[str, Any]],
) -> list[str]:
    """The team's active bounds among `candidates` at `path`; else the representative, added."""
    bounds = section(raw, *path)
    wanted = set(candidates)
    configured = [
        metric
        for metric, bound in bounds.items()
        if metric in wanted and (bound or {}).get("mode", "block") != "off"
    ]
    if configured:
        return configured
    metric, bound = representative
    bounds[metric] = dict(bound)
    return [metric]


def _gate(assessment: Assessment, gate_id: str) -> GateResult:
    found = [g for g in assessment.verdict.gates if g.id == gate_id]
    assert found, f"no gate {gate_id}; judged: {[g.id for g in assessment.verdict.gates]}"
    return found[0]


def _assert_tripped(assessment: Assessment, gate_ids: list[str]) -> None:
    """Each gate failed with a well-formed message; a failed blocking gate fails the verdict."""
    gates = [_gate(assessment, gate_id) for gate_id in gate_ids]
    for gate in gates:
        assert gate.status is Status.FAIL, gate.message
        assert MESSAGE.match(gate.message), gate.message
    if any(g.mode is Mode.BLOCK for g in gates):
        assert assessment.verdict.blocked


def _worse(metric_direction: str, degraded: float | None, reference: float | None) -> bool:
    assert degraded is not None and reference is not None, "a judged gate has a value"
    return degraded < reference if metric_direction == "min" else degraded > reference


@dataclass(frozen=True)
class Trip:
    """The group the degraded models pick on, and the data and params to judge them with.

    `raw` is the team's params with `column` sliced and treated as sensitive if it was not
    already (for judging only; the released model is untouched), so both gate kinds see it.
    """

    column: str
    group: str
    edges: list[float] | None
    train: pd.DataFrame
    test: pd.DataFrame
    raw: dict[str, Any]

    def in_group(self, frame: pd.DataFrame) -> np.ndarray:
        return (slice_labels(frame[self.column], self.edges) == self.group).to_numpy()

    def copy_raw(self) -> dict[str, Any]:
        return copy.deepcopy(self.raw)

    def judging(self, kind: str) -> dict[str, Any]:
        """The team's gates of one kind, on `column` only: each trip test computes just what
        it judges (every gate kind costs bootstrap resamples over the whole test set)."""
        raw = self.copy_raw()
        data, gates = section(raw, "data"), section(raw, "gates")
        section(raw, "model", "reweighting")["enabled"] = False  # names a sensitive column
        slices = section(raw, "gates", "slices")
        fairness = section(raw, "gates", "fairness")
        if kind != "overall":
            gates["overall"] = {}
        data["slice_columns"] = [self.column] if kind == "slice" else []
        slices["bins"] = {self.column: self.edges} if kind == "slice" and self.edges else {}
        if kind != "slice":
            slices["metrics"] = {}
        data["sensitive_features"] = [self.column] if kind == "fairness" else []
        fairness["intersections"] = []
        fairness["bounds"] = (
            {self.column: section(fairness, "bounds", self.column)} if kind == "fairness" else {}
        )
        gates.pop(
            "champion", None
        )  # margins against a champion: tests/pipeline/test_experiments.py
        return raw


def _group_column(data: DataSettings) -> str | None:
    """The first sensitive feature (sliced ones first), else a slice column, else a category.

    Numeric columns are passed over: their fairness groups would be single values.
    """
    sliced = [c for c in data.sensitive_features if c in data.slice_columns]
    for column in [*sliced, *data.sensitive_features, *data.slice_columns,
                   *data.categorical_features]:  # fmt: skip
        if column not in data.numeric_features:
            return column
    return None


def _derive_group(data: DataSettings, train: pd.DataFrame, test: pd.DataFrame) -> None:
    """Numbers only: two groups from the first numeric column, split at its training median."""
    source = [*data.sensitive_features, *data.slice_columns, *data.numeric_features][0]
    median = float(train[source].median())
    for frame in (train, test):
        frame[DERIVED_GROUP] = np.where(frame[source] < median, "below", "at or above")


def _support(settings: Settings) -> tuple[int, int]:
    """Rows and positives a group needs to be gated both as a slice and as a fairness group."""
    slices, fairness = settings.gates.slices.min_support, settings.gates.fairness.min_support
    return max(slices.rows, fairness.rows), max(slices.positives, fairness.positives)


@pytest.fixture(scope="module")
def trip(pipeline_outputs: ProjectPaths) -> Trip:
    settings = load_settings(ROOT / "params.yaml")
    train = pd.read_parquet(pipeline_outputs.train_data)
    test = pd.read_parquet(pipeline_outputs.test_data)
    raw = _raw_params()
    data = section(raw, "data")
    column = _group_column(settings.data)
    if column is None:
        _derive_group(settings.data, train, test)
        column = DERIVED_GROUP
        data.pop("csv", None)  # a header-less file's column list would not name it
    for role in ("slice_columns", "sensitive_features"):
        if column not in data.setdefault(role, []):
            data[role].append(column)
    data["use_sensitive_features"] = False  # judging reads no model inputs
    judged = parse_settings(raw)
    edges = judged.gates.slices.bins.get(column)
    labels = slice_labels(test[column], edges)
    positives = pd.Series(target_vector(test, judged.data), index=test.index)
    rows, needed = _support(judged)
    sizes = labels.value_counts()
    eligible = [
        g
        for g in sizes.index
        if sizes[g] >= rows and needed <= positives[labels == g].sum() < sizes[g]
    ]
    assert len(eligible) >= 2, (
        f"fewer than two groups of {column} have {rows} rows and {needed} positives in the "
        f"test set (groups: {sizes.to_dict()}): slice and fairness gates on it cannot trip; "
        "lower gates.slices.min_support and gates.fairness.min_support, or add test data"
    )
    group = str(max(eligible, key=lambda g: sizes[g]))
    return Trip(column, group, edges, train, test, raw)


@pytest.fixture(scope="module")
def released_probabilities(trip: Trip, pipeline_outputs: ProjectPaths) -> np.ndarray:
    settings = load_settings(ROOT / "params.yaml")
    model = load_model(pipeline_outputs.model)
    probabilities: np.ndarray = model.predict_proba(model_inputs(trip.test, settings.data))[:, 1]
    return probabilities


@pytest.fixture(scope="module")
def inverted_group(trip: Trip) -> np.ndarray:
    """Test-set probabilities of a real pipeline that sees the group column and was trained
    with that group's labels inverted: it has learnt the target backwards for them only."""
    raw = trip.copy_raw()
    data = raw["data"]
    numeric = data.setdefault("numeric_features", [])
    categorical = data.setdefault("categorical_features", [])
    for column in [*data["sensitive_features"], trip.column]:
        if column not in numeric and column not in categorical:
            categorical.append(column)
    data["use_sensitive_features"] = True
    raw["model"] = {
        "estimator": "hist_gradient_boosting",  # learns the group interaction, and quickly
        "seed": 0,
        "hyperparameters": {"max_iter": 60, "early_stopping": False},
    }
    settings = parse_settings(raw)
    labels = target_vector(trip.train, settings.data)
    labels = np.where(trip.in_group(trip.train), 1 - labels, labels)
    pipeline = build_pipeline(settings.data, settings.model)
    # One OpenMP thread: on a busy machine a thread per core makes the fit ten times slower.
    with threadpool_limits(limits=1):
        pipeline.fit(model_inputs(trip.train, settings.data), labels)
        scores = pipeline.predict_proba(model_inputs(trip.test, settings.data))
    probabilities: np.ndarray = scores[:, 1]
    return probabilities


@pytest.mark.slice
def test_a_group_with_inverted_labels_fails_its_slice_gates(
    trip: Trip, inverted_group: np.ndarray
) -> None:
    raw = trip.judging("slice")
    metrics = _bounds_to_trip(
        raw, ("gates", "slices", "metrics"), REVERSAL_TRIPS, REPRESENTATIVE_QUALITY
    )
    settings = parse_settings(raw)
    assessment = assess(
        trip.test, target_vector(trip.test, settings.data), inverted_group, settings
    )
    where = f"{trip.column}={trip.group}"
    _assert_tripped(assessment, [f"slice.{where}.{metric}" for metric in metrics])
    for metric in metrics:  # the damage is the group's own: every other group does better
        gate = _gate(assessment, f"slice.{where}.{metric}")
        assert gate.message.startswith(f"{where} {metric} ")
        others = [
            g
            for g in assessment.verdict.gates
            if g.kind == "slice"
            and g.metric == metric
            and (g.group or "").startswith(f"{trip.column}=")
            and g.group != where
            and g.value is not None
        ]
        assert others, f"no other group of {trip.column} was judged on {metric}"
        assert all(_worse(gate.direction, gate.value, g.value) for g in others), (
            gate.message,
            [g.message for g in others],
        )


def _judge_fairness(
    trip: Trip,
    kind: Iterable[str],
    representative: tuple[str, dict[str, Any]],
    probabilities: np.ndarray,
) -> tuple[list[str], Assessment]:
    """Judge `probabilities` with the team's fairness bounds of one kind on the trip column
    (a representative bound where the team set none); the metrics judged and the verdicts."""
    raw = trip.judging("fairness")
    metrics = _bounds_to_trip(
        raw, ("gates", "fairness", "bounds", trip.column), kind, representative
    )
    settings = parse_settings(raw)
    labels = target_vector(trip.test, settings.data)
    return metrics, assess(trip.test, labels, probabilities, settings)


@pytest.mark.fairness
def test_a_group_with_inverted_labels_fails_the_equalized_odds_gates(
    trip: Trip, inverted_group: np.ndarray
) -> None:
    metrics, assessment = _judge_fairness(
        trip, EQUALIZED_ODDS, REPRESENTATIVE_EQUALIZED_ODDS, inverted_group
    )
    _assert_tripped(assessment, [f"fairness.{trip.column}.{metric}" for metric in metrics])
    for metric in metrics:
        gate = _gate(assessment, f"fairness.{trip.column}.{metric}")
        assert gate.message.startswith(f"{trip.column} {metric} ")


@pytest.mark.fairness
def test_a_model_that_decides_by_group_alone_fails_demographic_parity(trip: Trip) -> None:
    """Everyone in the group is accepted, nobody else: the largest possible disparity."""
    by_group = trip.in_group(trip.test).astype(np.float64)
    metrics, assessment = _judge_fairness(trip, DEMOGRAPHIC_PARITY, REPRESENTATIVE_PARITY, by_group)
    ids = [f"fairness.{trip.column}.{metric}" for metric in metrics]
    _assert_tripped(assessment, ids)
    expected = {"demographic_parity_difference": 1.0, "demographic_parity_ratio": 0.0}
    for gate_id, metric in zip(ids, metrics, strict=True):
        assert _gate(assessment, gate_id).value == pytest.approx(expected[metric])


def test_a_model_that_scores_backwards_fails_the_overall_gates(
    trip: Trip, released_probabilities: np.ndarray
) -> None:
    """The released model with its scores reversed: every quality gate must reject it."""
    raw = trip.judging("overall")
    metrics = _bounds_to_trip(raw, ("gates", "overall"), REVERSAL_TRIPS, REPRESENTATIVE_QUALITY)
    settings = parse_settings(raw)
    labels = target_vector(trip.test, settings.data)
    backwards = assess(trip.test, labels, 1.0 - released_probabilities, settings)
    released = assess(trip.test, labels, released_probabilities, settings)
    _assert_tripped(backwards, [f"overall.{metric}" for metric in metrics])
    for metric in metrics:
        bad, good = _gate(backwards, f"overall.{metric}"), _gate(released, f"overall.{metric}")
        assert bad.message.startswith(f"{metric} ")
        assert _worse(bad.direction, bad.value, good.value), (
            bad.message,
            good.message,
        )


@pytest.mark.slice
def test_a_slice_below_min_support_is_reported_but_never_gated(
    trip: Trip, released_probabilities: np.ndarray
) -> None:
    """With the support set just above the smallest group, that group is shown, not judged."""
    counts = slice_labels(trip.test[trip.column], trip.edges).value_counts()
    sizes = {str(group): int(rows) for group, rows in counts.items()}
    smallest, largest = min(sizes, key=sizes.__getitem__), max(sizes, key=sizes.__getitem__)
    assert sizes[largest] > sizes[smallest], f"all groups of {trip.column} have the same size"
    raw = trip.judging("slice")
    metrics = _bounds_to_trip(
        raw, ("gates", "slices", "metrics"), REVERSAL_TRIPS, REPRESENTATIVE_QUALITY
    )
    support = sizes[smallest] + 1
    section(raw, "gates", "slices")["min_support"] = {"rows": support, "positives": 0}
    settings = parse_settings(raw)
    assessment = assess(
        trip.test, target_vector(trip.test, settings.data), released_probabilities, settings
    )
    for metric in metrics:
        small = _gate(assessment, f"slice.{trip.column}={smallest}.{metric}")
        assert small.status is Status.NOT_GATED
        assert f"support below {support} rows / 0 positives" in small.message
        assert small.n == sizes[smallest]
        large = _gate(assessment, f"slice.{trip.column}={largest}.{metric}")
        assert large.status is not Status.NOT_GATED, large.message


def test_a_tightened_bound_in_params_fails_the_cli(
    tmp_path: Path, pipeline_outputs: ProjectPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    """`conveyor evaluate` then `conveyor gate` in a copy whose params demand a perfect AUC.

    Run in this process (the CLI's own `main`, as the console script calls it): a second
    Python process would spend most of the test importing the training stack again.
    """
    for source in (pipeline_outputs.train_data, pipeline_outputs.test_data,
                   pipeline_outputs.manifest, pipeline_outputs.model):  # fmt: skip
        target = tmp_path / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    raw = _raw_params()
    section(raw, "gates", "overall")["roc_auc"] = {"min": 1.0, "mode": "block"}
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert cli.main(["evaluate", "--params", str(params)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert cli.main(["gate", "--params", str(params)]) == 1
    printed = capsys.readouterr().out
    # What the table must say comes from the evaluate stage's own output, not from today's AUC.
    written = json.loads(ProjectPaths(tmp_path).gates.read_text(encoding="utf-8"))
    (roc_auc,) = [gate for gate in written["gates"] if gate["id"] == "overall.roc_auc"]
    assert (roc_auc["status"], roc_auc["bound"]) == ("fail", 1.0), roc_auc["message"]
    assert re.search(rf"^FAIL\s+block\s+{re.escape(roc_auc['message'])}$", printed, re.M), printed
    assert "verdict: FAIL" in printed


def test_verdicts_do_not_depend_on_the_bootstrap_seed(
    trip: Trip, released_probabilities: np.ndarray
) -> None:
    """5 seeds: every gate that is not inconclusive gets the same verdict every time.

    Judged with the team's gates plus, for a kind the team left empty, a representative one,
    so there is always something to be stable.
    """
    raw = trip.copy_raw()
    _bounds_to_trip(raw, ("gates", "overall"), REVERSAL_TRIPS, REPRESENTATIVE_QUALITY)
    _bounds_to_trip(raw, ("gates", "slices", "metrics"), REVERSAL_TRIPS, REPRESENTATIVE_QUALITY)
    _bounds_to_trip(
        raw,
        ("gates", "fairness", "bounds", trip.column),
        EQUALIZED_ODDS,
        REPRESENTATIVE_EQUALIZED_ODDS,
    )
    labels = target_vector(trip.test, parse_settings(raw).data)
    verdicts: dict[str, set[Status]] = {}
    for seed in range(5):  # each is a whole assessment; 5 catch a verdict that follows the seed
        section(raw, "gates", "bootstrap")["seed"] = seed
        assessment = assess(trip.test, labels, released_probabilities, parse_settings(raw))
        for gate in assessment.verdict.gates:
            verdicts.setdefault(gate.id, set()).add(gate.status)
    unstable = {k: v for k, v in verdicts.items() if len(v - {Status.INCONCLUSIVE}) > 1}
    assert not unstable, unstable
