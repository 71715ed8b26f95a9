"""`conveyor drift --current FILE`: the drift of a batch of inputs from the training data.

Reads the batch (CSV or Parquet, with the model's input columns) and the training reference in
`models/signature.json`, computes each input's population stability index (`conveyor.drift`),
and writes `reports/drift.json` and `reports/drift.md`. Exit 0 when no input drifted past
`monitor.psi_threshold`, 1 when one did, 2 for input it cannot judge (a missing column, fewer
rows than `monitor.min_rows`, a file it cannot read).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from conveyor.atomic import staged_outputs
from conveyor.config import Settings
from conveyor.drift import FeatureDrift, feature_drift, references
from conveyor.errors import DataError, StaleOutputError
from conveyor.paths import ProjectPaths


def read_batch(path: Path, categorical: list[str]) -> pd.DataFrame:
    """A CSV (header row; `.gz` allowed) or Parquet file; categories read as text."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={name: str for name in categorical})
    except Exception as error:  # pandas and pyarrow raise many types for an unreadable file
        raise DataError(f"{path} cannot be read as CSV or Parquet: {error}") from None


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


def markdown(results: list[FeatureDrift], threshold: float, source: str) -> str:
    """The section the report shows: inputs by drift, the drifted ones marked."""
    ordered = sorted(results, key=lambda r: -r.psi)
    lines = [
        f"### Data drift of `{source}`",
        "",
        f"Population stability index per input against the training data (threshold "
        f"{threshold:g}; 0.1 is a moderate shift, 0.25 a large one).",
        "",
        "| input | PSI | missing | unseen categories | |",
        "|---|---:|---:|---:|---|",
    ]
    for r in ordered:
        unseen = "—" if r.unseen_fraction is None else f"{r.unseen_fraction:.2%}"
        mark = "🔴 drifted" if r.psi > threshold else ""
        lines.append(f"| {r.name} | {r.psi:.4f} | {r.missing_fraction:.2%} | {unseen} | {mark} |")
    return "\n".join(lines) + "\n"


def run_drift(
    settings: Settings, paths: ProjectPaths, current: Path, output: Path
) -> tuple[dict[str, Any], list[str]]:
    """Judge `current`, write `output` (JSON) and its markdown beside it."""
    if not paths.signature.is_file():
        raise StaleOutputError(f"{paths.signature} does not exist: run `make run` first")
    signature = json.loads(paths.signature.read_text(encoding="utf-8"))
    reference = signature.get("reference") or {}
    categorical = [n for n, e in reference.items() if e.get("kind") == "categorical"]
    batch = read_batch(current, categorical)
    results, drifted = judge(reference, batch, settings, str(current))
    document = {
        "source": str(current),
        "rows": len(batch),
        "psi_threshold": settings.monitor.psi_threshold,
        "drifted": drifted,
        "features": {r.name: r.as_dict() for r in results},
    }
    with staged_outputs() as out:
        out.write_json(output, document)
        out.write_text(
            output.with_suffix(".md"),
            markdown(results, settings.monitor.psi_threshold, current.name),
        )
    return document, drifted
