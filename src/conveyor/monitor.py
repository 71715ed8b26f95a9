"""`conveyor monitor --labelled FILE`: has the released model got worse since its release?

Drift (`conveyor drift`) warns early, from the inputs alone; once labels arrive, the question
can be asked directly. The released model (the champion folder `conveyor champion fetch`
writes) scores the newly labelled rows through the server's own path (`conveyor.scoring`),
labels them at its own threshold, and each metric its release recorded (`metrics.json`) is
computed again with a bootstrap interval. A metric *fails* when its whole interval lies more
than `monitor.max_drop` on the worse side of the recorded value, is *inconclusive* when the
interval straddles that bound, and *passes* otherwise: the words and the judging of every other
gate (`conveyor.evaluate.gates`), so a few hundred rows never raise a false alarm by chance.

The core (`labels_of`, `recorded_metrics`, `check_metrics`, `markdown`) is pure; `run_monitor`
reads the files and writes `reports/monitor.json` and `reports/monitor.md`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from conveyor import champion as champions
from conveyor.atomic import staged_outputs
from conveyor.batchio import read_batch
from conveyor.config import BootstrapSettings, Bound, Settings
from conveyor.contract import predict_labels
from conveyor.errors import DataError
from conveyor.evaluate.bootstrap import Array, Interval, interval, poisson_weights
from conveyor.evaluate.fairness import rounded
from conveyor.evaluate.gates import Subject, make_gate
from conveyor.evaluate.registry import METRICS, Scored
from conveyor.scoring import score
from conveyor.serve.signature import Signature, SignatureError, load_signature
from conveyor.verdict import GateResult, Mode, Status

SCHEMA_VERSION = 1
NEITHER_WAY = "better neither way: reported, not judged"
"""Why a rate such as the selection rate is shown without a verdict."""


@dataclass(frozen=True)
class MetricCheck:
    """One metric: its value at release, its value now with an interval, and the verdict."""

    metric: str
    recorded: float | None
    now: Interval
    gate: GateResult | None
    note: str | None = None  # why there is no gate

    @property
    def status(self) -> Status:
        return self.gate.status if self.gate else Status.NOT_GATED

    @property
    def message(self) -> str:
        return self.gate.message if self.gate else f"{self.metric}: {self.note}"

    @property
    def change(self) -> float:
        return math.nan if self.recorded is None else self.now.value - self.recorded

    def as_dict(self) -> dict[str, Any]:
        higher = METRICS[self.metric].higher_is_better
        return {
            "at_release": self.recorded,
            "value": rounded(self.now.value),
            "ci_low": rounded(self.now.low),
            "ci_high": rounded(self.now.high),
            "change": rounded(self.change),
            "worse_when": None if higher is None else ("lower" if higher else "higher"),
            "bound": self.gate.bound if self.gate else None,
            "status": str(self.status),
            "message": self.message,
        }


def labels_of(
    values: pd.Series, classes: Sequence[str], positive: str, column: str, source: str
) -> Array:
    """0/1 per row (1 for the model's positive class), or an error naming the values that
    are not one of the model's classes. Values compare as text, as `prepare` stores them."""
    missing = int(values.isna().sum())
    if missing:
        raise DataError(
            f"{source}: {missing} row(s) have no label in column {column!r}; score only rows "
            "whose label has arrived"
        )
    text = values.astype(str).str.strip()
    unknown = sorted(set(text) - set(classes))
    if unknown:
        shown = ", ".join(repr(v) for v in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise DataError(
            f"{source}: column {column!r} holds {shown}, which is not one of the model's "
            f"classes ({', '.join(repr(c) for c in classes)})"
        )
    return (text == positive).to_numpy(dtype=np.int8)


def recorded_metrics(document: Any, where: str) -> dict[str, float | None]:
    """The metrics a release recorded that Conveyor computes, in the registry's order (the
    other keys, such as `rows` or `threshold`, describe the test set, not the model)."""
    if not isinstance(document, Mapping):
        raise DataError(f"{where} must hold a JSON object of metrics")
    found: dict[str, float | None] = {}
    for name in METRICS:
        if name not in document:
            continue
        value = document[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise DataError(f"{where}: {name} must be a number or null, got {value!r}")
        found[name] = None if value is None else float(value)
    if not found:
        raise DataError(f"{where} records none of the metrics Conveyor computes")
    return found


def allowed_bound(metric: str, recorded: float, max_drop: float) -> Bound | None:
    """How bad the metric may get before it counts as dropped: `recorded - max_drop` where
    higher is better, `recorded + max_drop` where lower is; None for a rate that is better
    neither way."""
    higher = METRICS[metric].higher_is_better
    if higher is None:
        return None
    if higher:
        return Bound(min=recorded - max_drop, mode=Mode.BLOCK)
    return Bound(max=recorded + max_drop, mode=Mode.BLOCK)


def _describer(recorded: float, max_drop: float) -> Any:
    """The gate's message in the monitor's words: the value now against the release's."""

    def message(
        *, metric: str, estimate: Interval | None, n: int, status: Status,
        reason: str | None = None, **_: Any,
    ) -> str:  # fmt: skip
        if estimate is None or reason:
            return f"{metric}: not gated ({reason or 'no estimate'}, n={n:,})"
        said = {Status.FAIL: "worse by more than", Status.PASS: "within"}.get(
            status, "undecided at"
        )
        return (
            f"{metric} {estimate.value:.4f} ({estimate.level:.0%} CI {estimate.low:.4f} to "
            f"{estimate.high:.4f}, n={n:,}) vs {recorded:.4f} at release: {said} the allowed "
            f"drop {max_drop:g}"
        )

    return message


def check_metrics(
    scored: Scored,
    recorded: Mapping[str, float | None],
    *,
    max_drop: float,
    bootstrap: BootstrapSettings,
) -> list[MetricCheck]:
    """Each recorded metric on these rows, with its interval, judged against its release
    value. One set of Poisson weights serves every metric, as in the evaluate stage."""
    weights = poisson_weights(scored.labels.size, bootstrap.resamples, bootstrap.seed)
    subject = Subject("overall", None, int(scored.labels.size), int(scored.labels.sum()))
    checks = []
    for metric, at_release in recorded.items():
        compute = METRICS[metric]
        now = interval(compute.point(scored), compute.values(scored, weights), bootstrap.level)
        bound = None if at_release is None else allowed_bound(metric, at_release, max_drop)
        if at_release is None or bound is None:
            note = "not recorded at release" if at_release is None else NEITHER_WAY
            checks.append(MetricCheck(metric, at_release, now, None, note))
            continue
        gate = make_gate(
            subject, metric, bound, now, level=bootstrap.level,
            describe_as=_describer(at_release, max_drop),
        )  # fmt: skip
        checks.append(MetricCheck(metric, at_release, now, gate))
    return checks


def _number(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4f}"


_MARKS = {Status.FAIL: "🔴 fail (dropped)", Status.INCONCLUSIVE: "🟡 inconclusive"}


def markdown(
    checks: Sequence[MetricCheck], *, model: str, source: str, rows: int, max_drop: float,
    level: float,
) -> str:  # fmt: skip
    """The table a job summary or an issue shows: one row per metric."""
    lines = [
        f"### Performance of {model} on `{source}`",
        "",
        f"Each metric the release recorded, now on {rows:,} newly labelled rows "
        f"({level:.0%} bootstrap interval). A metric fails when its whole interval lies more "
        f"than `monitor.max_drop` ({max_drop:g}) on the worse side of its value at release.",
        "",
        "| metric | at release | now (CI) | change | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for check in checks:
        now = check.now
        shown = f"{_number(now.value)} ({_number(now.low)}–{_number(now.high)})"
        change = "—" if not math.isfinite(check.change) else f"{round(check.change, 4) + 0:+.4f}"
        verdict = _MARKS.get(check.status, str(check.status)) if check.gate else check.note
        lines.append(
            f"| {check.metric} | {_number(check.recorded)} | {shown} | {change} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def _released_model(directory: Path) -> tuple[champions.Champion, Signature, Any]:
    """The released model's files, or an error naming the folder and how to fill it."""
    found = champions.load_champion(directory)
    if isinstance(found, str):
        where = "" if str(directory) in found else f" in {directory}"
        raise champions.ChampionError(f"no released model to monitor{where}: {found}")
    try:
        signature = load_signature(found.signature)
    except SignatureError as error:
        raise champions.ChampionError(str(error)) from None
    metrics_file = directory / champions.METRICS
    if not metrics_file.is_file():
        raise champions.ChampionError(
            f"{metrics_file} does not exist: the release recorded no metrics to compare with "
            "(fetch a release made with its metrics: `conveyor champion fetch`)"
        )
    try:
        recorded = json.loads(metrics_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise champions.ChampionError(f"{metrics_file} is not readable JSON ({error})") from None
    return found, signature, recorded


def _check_columns(
    frame: pd.DataFrame, signature: Signature, label: str, source: str, min_rows: int
) -> None:
    """Every column named at once (the label and the inputs), then the row count."""
    missing_label = [] if label in frame.columns else [f"{label} (the label, data.target)"]
    missing = [name for name in signature.names if name not in frame.columns]
    if missing_label or missing:
        inputs = [f"{', '.join(missing)} (the model's inputs)"] if missing else []
        raise DataError(f"{source} lacks column(s) {'; '.join([*missing_label, *inputs])}")
    if len(frame) < min_rows:
        raise DataError(
            f"{source} has {len(frame)} labelled rows; performance is judged on at least "
            f"monitor.min_rows = {min_rows}"
        )


def run_monitor(
    settings: Settings, labelled: Path, model_dir: Path, output: Path
) -> tuple[dict[str, Any], list[MetricCheck]]:
    """Score `labelled` with the released model in `model_dir`, judge every recorded metric,
    write `output` (JSON) and its markdown beside it. Bad input raises before anything is
    written."""
    released, signature, document = _released_model(model_dir)
    recorded = recorded_metrics(document, str(model_dir / champions.METRICS))
    label = settings.data.target
    frame = read_batch(labelled, [*signature.text_names, label])
    _check_columns(frame, signature, label, str(labelled), settings.monitor.min_rows)
    positive = signature.classes[signature.positive_index]
    labels = labels_of(frame[label], signature.classes, positive, label, str(labelled))
    probabilities = score(released.model, released.signature, frame)
    scored = Scored(labels, probabilities, predict_labels(probabilities, signature.threshold))
    bootstrap = settings.gates.bootstrap
    max_drop = settings.monitor.max_drop
    checks = check_metrics(scored, recorded, max_drop=max_drop, bootstrap=bootstrap)
    result = {
        "schema_version": SCHEMA_VERSION,
        "source": str(labelled),
        "model": {"label": released.label, "directory": str(model_dir), **released.about},
        "rows": int(labels.size),
        "positives": int(labels.sum()),
        "positive_class": positive,
        "threshold": signature.threshold,
        "max_drop": max_drop,
        "bootstrap": bootstrap.model_dump(),
        "metrics": {check.metric: check.as_dict() for check in checks},
        "dropped": [c.metric for c in checks if c.status is Status.FAIL],
        "inconclusive": [c.metric for c in checks if c.status is Status.INCONCLUSIVE],
    }
    text = markdown(
        checks, model=released.label, source=labelled.name, rows=int(labels.size),
        max_drop=max_drop, level=bootstrap.level,
    )  # fmt: skip
    with staged_outputs() as out:
        out.write_json(output, result)
        out.write_text(output.with_suffix(".md"), text)
    return result, checks
