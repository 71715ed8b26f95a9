"""`conveyor monitor` on hand-made cases: labels read against the model's classes, each
recorded metric judged on its interval (pass, fail, inconclusive, in both directions), and
the files written through the server's path with the hand-written two-input ONNX model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conveyor.champion import ChampionError
from conveyor.config import BootstrapSettings, MonitorSettings, Settings, parse_settings
from conveyor.contract import predict_labels
from conveyor.errors import ConfigError, ConveyorError, DataError
from conveyor.evaluate.metrics import overall_metrics
from conveyor.evaluate.registry import METRICS, Scored
from conveyor.monitor import (
    NEITHER_WAY,
    allowed_bound,
    check_metrics,
    labels_of,
    recorded_metrics,
    run_monitor,
)
from conveyor.scoring import score
from conveyor.verdict import Status
from tests.conftest import churn_params, with_param
from tests.serve.tiny_model import CLASSES, positive_probability, write_model_files
from tests.unit.verdicts import settings

BOOTSTRAP = BootstrapSettings(resamples=300, seed=2)
ROWS = 2000
RNG = np.random.default_rng(11)
LABELS = RNG.integers(0, 2, ROWS).astype(np.int8)
PROBABILITIES = 1 / (1 + np.exp(-(2.0 * LABELS - 1 + RNG.normal(0, 1.2, ROWS))))
SCORED = Scored(LABELS, PROBABILITIES, predict_labels(PROBABILITIES, 0.5))
RELEASE = overall_metrics(LABELS, PROBABILITIES, 0.5)
"""What a release recorded about these very rows: `metrics.json`, as the evaluate stage writes."""


def _checks(recorded: dict[str, float | None], max_drop: float = 0.02) -> dict[str, Any]:
    found = check_metrics(SCORED, recorded, max_drop=max_drop, bootstrap=BOOTSTRAP)
    return {check.metric: check for check in found}


def test_labels_are_the_models_classes_with_the_positive_one_as_1() -> None:
    values = pd.Series(["yes", "no", " yes", "no"])
    labels = labels_of(values, ("no", "yes"), "yes", "churned", "new.csv")
    assert labels.tolist() == [1, 0, 1, 0]
    numbers = pd.Series([1, 0, 0])  # a label read as numbers compares as the text it was
    assert labels_of(numbers, ("0", "1"), "1", "flag", "new.csv").tolist() == [1, 0, 0]


def test_labels_that_are_not_the_models_classes_are_named() -> None:
    values = pd.Series(["yes", "maybe", "Yes", "no"])
    expected = (
        r"new.csv: column 'churned' holds 'Yes', 'maybe', which is not one of the model's "
        r"classes \('no', 'yes'\)"
    )
    with pytest.raises(DataError, match=expected):
        labels_of(values, ("no", "yes"), "yes", "churned", "new.csv")
    with pytest.raises(DataError, match=r"new.csv: 1 row\(s\) have no label in column 'churned'"):
        labels_of(pd.Series(["yes", None, "no"]), ("no", "yes"), "yes", "churned", "new.csv")


def test_recorded_metrics_are_the_registrys_in_its_order() -> None:
    recorded = recorded_metrics({"rows": 10, "f1": 0.5, "roc_auc": None, "threshold": 0.5}, "m")
    assert list(recorded) == ["roc_auc", "f1"] and recorded == {"roc_auc": None, "f1": 0.5}
    assert list(recorded_metrics(RELEASE, "m")) == [m for m in METRICS if m in RELEASE]
    with pytest.raises(DataError, match=r"m: f1 must be a number or null, got '0\.5'"):
        recorded_metrics({"f1": "0.5"}, "m")
    with pytest.raises(DataError, match="m records none of the metrics Conveyor computes"):
        recorded_metrics({"rows": 10}, "m")
    with pytest.raises(DataError, match="m must hold a JSON object"):
        recorded_metrics([0.5], "m")


def test_the_allowed_bound_points_the_worse_way() -> None:
    roc_auc = allowed_bound("roc_auc", 0.8, 0.02)
    assert roc_auc is not None and roc_auc.direction == "min"
    assert roc_auc.value == pytest.approx(0.78)
    log_loss = allowed_bound("log_loss", 0.3, 0.02)
    assert log_loss is not None and log_loss.direction == "max"
    assert log_loss.value == pytest.approx(0.32)
    assert allowed_bound("selection_rate", 0.2, 0.02) is None


def test_the_same_performance_passes_and_the_recorded_value_is_inside_each_interval() -> None:
    # An allowance wider than every interval's half-width: nothing left undecided.
    checks = _checks(recorded_metrics(RELEASE, "metrics.json"), max_drop=0.05)
    for name, check in checks.items():
        assert check.now.low <= check.recorded <= check.now.high, name
        assert check.now.value == pytest.approx(check.recorded, abs=1e-6), name
        if METRICS[name].higher_is_better is None:
            assert check.gate is None and check.note == NEITHER_WAY
        else:
            assert check.status is Status.PASS, check.message


def test_a_metric_far_below_its_release_value_fails_and_says_so() -> None:
    point = METRICS["roc_auc"].point(SCORED)
    check = _checks({"roc_auc": point + 0.1})["roc_auc"]
    assert check.status is Status.FAIL
    assert check.gate is not None and check.gate.bound == pytest.approx(point + 0.08)
    assert check.now.high < point + 0.08
    assert check.message.startswith(f"roc_auc {point:.4f} (95% CI ")
    assert f"vs {point + 0.1:.4f} at release: worse by more than the allowed drop 0.02" in (
        check.message
    )
    assert check.as_dict()["change"] == pytest.approx(-0.1, abs=1e-6)
    # The same fall within a wider allowance is no drop: the threshold is what decides.
    assert _checks({"roc_auc": point + 0.1}, max_drop=0.2)["roc_auc"].status is Status.PASS


def test_a_loss_that_rose_fails_where_lower_is_better() -> None:
    point = METRICS["log_loss"].point(SCORED)
    assert _checks({"log_loss": point - 0.1})["log_loss"].status is Status.FAIL
    # Lower than at release is better, never a drop, however far.
    assert _checks({"log_loss": point + 0.5})["log_loss"].status is Status.PASS


def test_an_interval_straddling_the_allowed_bound_is_inconclusive() -> None:
    point = METRICS["accuracy"].point(SCORED)
    check = _checks({"accuracy": point + 0.02})["accuracy"]  # the bound sits on the value now
    assert check.now.low < point < check.now.high
    assert check.status is Status.INCONCLUSIVE
    assert "undecided at the allowed drop" in check.message


def test_a_metric_not_recorded_at_release_is_shown_not_judged() -> None:
    check = _checks({"f1": None})["f1"]
    assert check.gate is None and check.status is Status.NOT_GATED
    assert check.note == "not recorded at release" and check.as_dict()["change"] is None


def test_max_drop_is_validated() -> None:
    assert MonitorSettings().max_drop == 0.02
    assert (
        parse_settings(with_param(churn_params(), "monitor.max_drop", 0.05)).monitor.max_drop
        == 0.05
    )
    for bad in (-0.01, 1.5, "a lot"):
        with pytest.raises(ConfigError, match=r"monitor\.max_drop"):
            parse_settings(with_param(churn_params(), "monitor.max_drop", bad))


# The I/O edge, with the hand-written ONNX model as the released one: `tenure` and `plan` in,
# the label column is the churn parameters' target, its classes the tiny model's.


def _release(directory: Path, frame: pd.DataFrame) -> Path:
    """A champion folder whose metrics.json is what the model scored on `frame`."""
    files = write_model_files(directory)
    probabilities = score(files.model, files.signature, frame)
    labels = (frame["churned"] == CLASSES[1]).to_numpy(dtype=np.int8)
    metrics = overall_metrics(labels, probabilities, 0.5)
    (directory / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return directory


def _frame(rows: int = 400, seed: int = 5) -> pd.DataFrame:
    """Rows whose labels follow the model's own probabilities, so it is right as often as it
    says; `note` is a column the model does not read."""
    rng = np.random.default_rng(seed)
    tenure = rng.uniform(-60, 40, rows).round(1)
    plan = rng.choice(["basic", "plus", "other"], rows)
    chance = np.array([positive_probability(t, p) for t, p in zip(tenure, plan, strict=True)])
    churned = np.where(rng.uniform(size=rows) < chance, CLASSES[1], CLASSES[0])
    return pd.DataFrame({"tenure": tenure, "plan": plan, "note": "x", "churned": churned})


def _settings(**monitor: Any) -> Settings:
    return settings().model_copy(update={"monitor": MonitorSettings(**monitor)})


def test_the_model_on_its_own_rows_drops_nothing_and_writes_both_files(tmp_path: Path) -> None:
    frame = _frame()
    champion = _release(tmp_path / "champion", frame)
    frame.to_csv(tmp_path / "new.csv", index=False)
    output = tmp_path / "reports" / "monitor.json"
    document, checks = run_monitor(_settings(), tmp_path / "new.csv", champion, output)
    assert document["dropped"] == [] and document["rows"] == len(frame)
    assert document["positive_class"] == CLASSES[1] and document["threshold"] == 0.5
    assert json.loads(output.read_text()) == document
    assert {c.metric for c in checks} == set(recorded_metrics(json.loads(
        (champion / "metrics.json").read_text()), "m"))  # fmt: skip
    table = output.with_suffix(".md").read_text()
    assert table.startswith("### Performance of champion on `new.csv`")  # no champion.json
    assert "| roc_auc |" in table and "dropped" not in table


def test_flipped_labels_drop_and_are_named(tmp_path: Path) -> None:
    frame = _frame()
    champion = _release(tmp_path / "champion", frame)
    flipped = frame.copy()
    flip = np.random.default_rng(1).uniform(size=len(frame)) < 0.4
    other = {CLASSES[0]: CLASSES[1], CLASSES[1]: CLASSES[0]}
    flipped.loc[flip, "churned"] = flipped.loc[flip, "churned"].map(other)
    flipped.to_parquet(tmp_path / "new.parquet")
    document, _ = run_monitor(_settings(), tmp_path / "new.parquet", champion, tmp_path / "m.json")
    assert {"roc_auc", "accuracy"} <= set(document["dropped"])
    assert document["metrics"]["roc_auc"]["status"] == "fail"
    assert "🔴 fail (dropped)" in (tmp_path / "m.md").read_text()


def test_input_it_cannot_judge_is_refused_by_name_and_nothing_is_written(tmp_path: Path) -> None:
    frame = _frame()
    champion = _release(tmp_path / "champion", frame)
    output = tmp_path / "out.json"
    cases = {
        "no_label.csv": (frame.drop(columns=["churned"]),
                         "lacks column(s) churned (the label, data.target)"),
        "no_input.csv": (frame.drop(columns=["plan", "churned"]),
                         "lacks column(s) churned (the label, data.target); plan (the model's "
                         "inputs)"),
        "few.csv": (frame.head(99), "has 99 labelled rows; performance is judged on at least "
                                    "monitor.min_rows = 100"),
        "odd.csv": (frame.assign(churned="perhaps"), "column 'churned' holds 'perhaps'"),
        "typed.csv": (frame.assign(tenure="long"), "field tenure must be a number or null"),
    }  # fmt: skip
    for name, (batch, message) in cases.items():
        batch.to_csv(tmp_path / name, index=False)
        with pytest.raises(ConveyorError) as raised:  # DataError, or ScoringError for a type
            run_monitor(_settings(), tmp_path / name, champion, output)
        assert message in str(raised.value), name
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot be read as CSV or Parquet"):
        run_monitor(_settings(), tmp_path / "bad.parquet", champion, output)
    assert not output.exists() and not output.with_suffix(".md").exists()


def test_a_missing_model_folder_names_it_and_the_command_that_fills_it(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "new.csv", index=False)
    absent = tmp_path / ".champion"
    with pytest.raises(ChampionError) as raised:
        run_monitor(_settings(), tmp_path / "new.csv", absent, tmp_path / "out.json")
    assert str(absent) in str(raised.value)
    assert "`conveyor champion fetch` (or `make champion`)" in str(raised.value)
    write_model_files(absent)  # the model without the metrics recorded at its release
    with pytest.raises(ChampionError, match=r"metrics\.json does not exist: the release recorded"):
        run_monitor(_settings(), tmp_path / "new.csv", absent, tmp_path / "out.json")
