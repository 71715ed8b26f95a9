"""`conveyor drift --current FILE`: the drift of a batch of inputs from the training data.

Reads the batch (CSV or Parquet, with the model's input columns) and the training reference in
`models/signature.json`, computes each input's population stability index (`conveyor.drift`),
and writes `reports/drift.json` and `reports/drift.md`. Exit 0 when no input drifted past
`monitor.psi_threshold`, 1 when one did, 2 for input it cannot judge (a missing column, fewer
rows than `monitor.min_rows`, a file it cannot read).

Beside the PSI, each input gets a two-sample test against the training rows themselves
(`data/prepared/train.parquet`; the signature keeps only bins): Kolmogorov–Smirnov for a
numeric input, Pearson's chi-squared test of homogeneity for a categorical one (over the
categories present in either sample, missing values dropped). Their statistic and p-value are
reported, and flagged below `monitor.p_value`, but the PSI alone decides what drifted and the
exit code: a p-value measures how sure we are that the distributions differ, not by how much,
and on the thousands of rows a batch holds even a harmless shift is "significant", so an alarm
on p-values would ring on every batch. Without the training data (a team serving a released
model without the pipeline's outputs) the tests are skipped with the reason in the outputs; the
PSI needs only the signature and still runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from conveyor.atomic import staged_outputs
from conveyor.batchio import read_batch
from conveyor.config import Settings
from conveyor.contract import MISSING_CATEGORY, NUMERIC_DTYPE, predict_labels
from conveyor.drift import FeatureDrift, feature_drift, references
from conveyor.errors import DataError, StaleOutputError
from conveyor.features import categorical_strings
from conveyor.paths import ProjectPaths

Values = Sequence[Any] | pd.Series | np.ndarray
"""One input's values, as a list, a column or an array."""
KS = "Kolmogorov-Smirnov"
CHI_SQUARED = "chi-squared"


def judge(
    reference: dict[str, Any], batch: pd.DataFrame, settings: Settings, source: str
) -> tuple[list[FeatureDrift], list[str]]:
    """Each input's drift, and the inputs past the threshold."""
    found = references(reference)
    missing = [name for name in found if name not in batch.columns]
    if missing:
        raise DataError(f"{source} lacks the model's input column(s) {', '.join(missing)}")
    if len(batch) < settings.monitor.min_rows:
        raise DataError(
            f"{source} has {len(batch)} rows; drift is judged on at least "
            f"monitor.min_rows = {settings.monitor.min_rows}"
        )
    results = [feature_drift(ref, batch[name].tolist()) for name, ref in found.items()]
    drifted = [r.name for r in results if r.psi > settings.monitor.psi_threshold]
    return results, drifted


@dataclass(frozen=True)
class TwoSampleTest:
    """One input's two-sample test against the training rows; no numbers when a side has no
    non-missing value to test."""

    test: str
    statistic: float | None
    p_value: float | None

    def significant(self, level: float) -> bool:
        return self.p_value is not None and self.p_value < level

    def as_dict(self, level: float) -> dict[str, Any]:
        return {
            "test": self.test,
            "statistic": None if self.statistic is None else round(self.statistic, 6),
            # Significant figures, not decimals: 1e-40 and 0 say different things.
            "p_value": None if self.p_value is None else float(f"{self.p_value:.4g}"),
            "significant": self.significant(level),
        }


def numbers(values: Values) -> np.ndarray:
    """Non-missing values as the model sees them (float32), so a CSV's float64 reading of a
    number equals the training data's float32 copy of it."""
    cast = pd.to_numeric(pd.Series(values), errors="raise")
    found = cast.to_numpy(dtype=NUMERIC_DTYPE, na_value=np.nan).astype(np.float64)
    return found[~np.isnan(found)]


def categories(values: Values) -> pd.Series:
    """Non-missing values as the model sees them: stripped text."""
    text = categorical_strings(pd.Series(values, dtype=object))
    return text[text != MISSING_CATEGORY]


def ks_test(training: Values, current: Values) -> TwoSampleTest:
    """Kolmogorov–Smirnov: the largest gap between the two empirical distribution functions."""
    left, right = numbers(training), numbers(current)
    if not len(left) or not len(right):
        return TwoSampleTest(KS, None, None)
    from scipy import stats  # seconds to import: only when a test runs, not for a refusal

    result = stats.ks_2samp(left, right)
    return TwoSampleTest(KS, float(result.statistic), float(result.pvalue))


def chi_squared_test(training: Values, current: Values) -> TwoSampleTest:
    """Chi-squared test of homogeneity on the 2 × categories table of counts.

    Categories come from both samples, so one that training never saw (or the batch lacks)
    is a column with a zero on one side, which is exactly the evidence the test weighs.
    """
    left, right = categories(training), categories(current)
    if not len(left) or not len(right):
        return TwoSampleTest(CHI_SQUARED, None, None)
    table = pd.DataFrame({"training": left.value_counts(), "current": right.value_counts()})
    counts = table.fillna(0).to_numpy(dtype=np.float64).T
    if counts.shape[1] < 2:  # one category on both sides: nothing can differ
        return TwoSampleTest(CHI_SQUARED, 0.0, 1.0)
    from scipy import stats

    result = stats.chi2_contingency(counts, correction=False)
    return TwoSampleTest(CHI_SQUARED, float(result.statistic), float(result.pvalue))


def two_sample_tests(
    kinds: dict[str, str], training: pd.DataFrame, batch: pd.DataFrame
) -> dict[str, TwoSampleTest]:
    """Each input's test, by its kind in the signature ("numeric" or "categorical")."""
    return {
        name: (ks_test if kind == "numeric" else chi_squared_test)(training[name], batch[name])
        for name, kind in kinds.items()
    }


def training_sample(
    paths: ProjectPaths, kinds: dict[str, str]
) -> tuple[pd.DataFrame | None, str | None]:
    """The training rows' inputs, or why there are none to test against."""
    where = paths.train_data
    if not where.is_file():
        return None, f"{_shown(where, paths)} does not exist (the signature's bins hold no rows)"
    categorical = [name for name, kind in kinds.items() if kind == "categorical"]
    training = read_batch(where, categorical)
    missing = [name for name in kinds if name not in training.columns]
    if missing:
        return None, f"{_shown(where, paths)} lacks the model's input column(s) " + ", ".join(
            missing
        )
    return training, None


def _shown(path: Path, paths: ProjectPaths) -> str:
    return str(path.relative_to(paths.root)) if path.is_relative_to(paths.root) else str(path)


def markdown(
    results: list[FeatureDrift],
    tests: dict[str, TwoSampleTest],
    settings: Settings,
    source: str,
    skipped: str | None = None,
) -> str:
    """The section the report shows: inputs by drift, the drifted ones marked."""
    threshold, level = settings.monitor.psi_threshold, settings.monitor.p_value
    ordered = sorted(results, key=lambda r: -r.psi)
    lines = [
        f"### Data drift of `{source}`",
        "",
        f"Population stability index per input against the training data (threshold "
        f"{threshold:g}; 0.1 is a moderate shift, 0.25 a large one). Two-sample tests against "
        f"the training rows (Kolmogorov–Smirnov for numbers, chi-squared for categories) are "
        f"reported, flagged when p < {level:g}; the PSI alone decides what drifted.",
        "",
    ]
    if skipped:
        lines += [f"Two-sample tests skipped: {skipped}.", ""]
    lines += [
        "| input | PSI | test | statistic | p-value | missing | unseen categories | |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in ordered:
        unseen = "—" if r.unseen_fraction is None else f"{r.unseen_fraction:.2%}"
        test = tests.get(r.name)
        statistic = "—" if test is None or test.statistic is None else f"{test.statistic:.4f}"
        p_value = "—" if test is None or test.p_value is None else f"{test.p_value:.2g}"
        marks = ["🔴 drifted"] if r.psi > threshold else []
        if test is not None and test.significant(level):
            marks.append(f"p < {level:g}")
        lines.append(
            f"| {r.name} | {r.psi:.4f} | {test.test if test else '—'} | {statistic} | {p_value} "
            f"| {r.missing_fraction:.2%} | {unseen} | {', '.join(marks)} |"
        )
    return "\n".join(lines) + "\n"


def prediction_drift(
    signature: dict[str, Any], paths: ProjectPaths, batch: pd.DataFrame
) -> dict[str, Any]:
    """The batch's predicted probabilities (scored as the server scores them) against the
    training scores export binned into the signature, and its predicted-positive rate
    against training's. Reported beside the inputs, never deciding the exit code: the inputs
    are the cause, the scores the consequence (the server's `conveyor_prediction_psi`)."""
    entry = signature.get("prediction_reference")
    if not entry:
        return {"skipped": "the signature has no prediction_reference (exported before it)"}
    if not paths.onnx_model.is_file():
        return {"skipped": f"{_shown(paths.onnx_model, paths)} does not exist"}
    from conveyor.scoring import ScoringError, score  # onnxruntime: only when scoring

    try:
        scores = score(paths.onnx_model, paths.signature, batch)
    except ScoringError as error:
        return {"skipped": str(error)}
    reference = references({"probability": entry})["probability"]
    threshold = float(signature["output"]["threshold"])
    return {
        "skipped": None,
        "psi": feature_drift(reference, scores).as_dict()["psi"],
        "positive_rate": round(float(predict_labels(scores, threshold).mean()), 6),
        "reference_positive_rate": entry.get("positive_rate"),
    }


def prediction_line(prediction: dict[str, Any], threshold: float) -> str:
    """One sentence under the table about the scores."""
    if prediction.get("skipped"):
        return f"Predicted probabilities not judged: {prediction['skipped']}."
    psi = prediction["psi"]
    mark = " 🔴 past the threshold" if psi is not None and psi > threshold else ""
    reference = prediction["reference_positive_rate"]
    versus = "" if reference is None else f" (training: {reference:.2%})"
    return (
        f"Predicted probabilities: PSI {psi:.4f} against the training scores{mark}; "
        f"predicted positive {prediction['positive_rate']:.2%}{versus}."
    )


def run_drift(
    settings: Settings, paths: ProjectPaths, current: Path, output: Path
) -> tuple[dict[str, Any], list[str]]:
    """Judge `current`, write `output` (JSON) and its markdown beside it."""
    if not paths.signature.is_file():
        raise StaleOutputError(f"{paths.signature} does not exist: run `make run` first")
    signature = json.loads(paths.signature.read_text(encoding="utf-8"))
    reference = signature.get("reference") or {}
    kinds = {name: str(entry.get("kind")) for name, entry in reference.items()}
    categorical = [name for name, kind in kinds.items() if kind == "categorical"]
    batch = read_batch(current, categorical)
    results, drifted = judge(reference, batch, settings, str(current))
    training, skipped = training_sample(paths, kinds)
    tests = {} if training is None else two_sample_tests(kinds, training, batch)
    prediction = prediction_drift(signature, paths, batch)
    level = settings.monitor.p_value
    document = {
        "source": str(current),
        "rows": len(batch),
        "psi_threshold": settings.monitor.psi_threshold,
        "p_value": level,
        "drifted": drifted,
        "prediction": prediction,
        "two_sample": {
            "reference": _shown(paths.train_data, paths),
            "rows": None if training is None else len(training),
            "skipped": skipped,
        },
        "features": {
            r.name: {
                **r.as_dict(),
                **(tests[r.name].as_dict(level) if r.name in tests else _untested(kinds[r.name])),
            }
            for r in results
        },
    }
    with staged_outputs() as out:
        out.write_json(output, document)
        table = markdown(results, tests, settings, current.name, skipped)
        line = prediction_line(prediction, settings.monitor.psi_threshold)
        out.write_text(output.with_suffix(".md"), f"{table}\n{line}\n")
    return document, drifted


def _untested(kind: str) -> dict[str, Any]:
    name = KS if kind == "numeric" else CHI_SQUARED
    return TwoSampleTest(name, None, None).as_dict(level=0.0)
