"""The pipeline stages: the edges where files are read and written.

Each stage reads its inputs, calls the pure functions of its module, and publishes all of its
outputs at once (`staged_outputs`), so a failure leaves the previous outputs or none, never a
half-written file. DVC calls these through `conveyor <stage>`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from conveyor import data as data_ops
from conveyor import export as export_ops
from conveyor import train as train_ops
from conveyor.atomic import staged_outputs
from conveyor.config import Settings
from conveyor.errors import ModelError, StaleOutputError
from conveyor.evaluate import curves
from conveyor.evaluate.metrics import overall_metrics
from conveyor.features import model_inputs, target_vector
from conveyor.modelio import dump_model, load_model
from conveyor.paths import ProjectPaths
from conveyor.provenance import git_commit

log = logging.getLogger("conveyor")


def check_settings(settings: Settings) -> None:
    """Checks that need scikit-learn; run by the CLI before any stage does work."""
    pipeline = train_ops.build_pipeline(settings.data, settings.model)
    if settings.model.search.enabled:
        train_ops.check_search_space(pipeline, settings.model.search)


def prepare(settings: Settings, paths: ProjectPaths) -> dict[str, Any]:
    """Raw files -> validated, anonymised, de-duplicated, split Parquet files."""
    data = settings.data
    loaded = [
        data_ops.read_source(source, paths.resolve(source.path), data) for source in data.sources
    ]
    data_ops.check_same_layout(loaded)
    validated = [
        data_ops.validate(data_ops.normalise(s.frame, data), data, str(s.path)) for s in loaded
    ]
    combined = pd.concat(validated, ignore_index=True)
    classes = data_ops.check_classes(combined, data)
    rows_raw = len(combined)
    if data.deduplicate:
        combined = data_ops.deduplicate(combined)
    key = _pseudonym_key(data.pseudonymise_key_env, data.pseudonymise_columns)
    combined = data_ops.pseudonymise(combined, data.pseudonymise_columns, key)
    combined = data_ops.select_columns(combined, data)
    train, test = data_ops.split(combined, data, settings.split)
    manifest = {
        "sources": [{"path": str(s.path), "sha256": s.sha256} for s in loaded],
        "data_sha256": data_ops.data_fingerprint(loaded),
        "classes": classes,
        "rows_raw": rows_raw,
        "duplicates_dropped": rows_raw - len(combined),
        "rows_train": len(train),
        "rows_test": len(test),
        "positive_rate_train": round(float(target_vector(train, data).mean()), 6),
        "positive_rate_test": round(float(target_vector(test, data).mean()), 6),
        "columns": list(combined.columns),
        "pseudonymisation": "hmac-sha256"
        if key
        else ("sha256" if data.pseudonymise_columns else None),
    }
    with staged_outputs() as out:
        out.write(paths.train_data, lambda p: train.to_parquet(p, index=False))
        out.write(paths.test_data, lambda p: test.to_parquet(p, index=False))
        out.write_json(paths.manifest, manifest)
    log.info(
        "prepared %s train and %s test rows from %s record(s) (%s duplicates dropped)",
        f"{len(train):,}",
        f"{len(test):,}",
        f"{rows_raw:,}",
        f"{manifest['duplicates_dropped']:,}",
    )
    return manifest


def _pseudonym_key(variable: str, columns: list[str]) -> bytes | None:
    key = os.environ.get(variable)
    if columns and not key:
        log.warning(
            "%s is not set: pseudonymised columns %s use an unkeyed SHA-256, which a "
            "dictionary attack can reverse for guessable values",
            variable,
            columns,
        )
    return key.encode() if key else None


def train(settings: Settings, paths: ProjectPaths) -> dict[str, Any]:
    """Prepared train set -> fitted pipeline (skops) and a small training summary."""
    frame = _read_prepared(paths.train_data)
    features = model_inputs(frame, settings.data)
    labels = target_vector(frame, settings.data)
    pipeline = train_ops.build_pipeline(settings.data, settings.model)
    fitted, search = train_ops.fit(pipeline, features, labels, settings.model)
    summary = {
        "estimator": settings.model.estimator,
        "rows": len(frame),
        "inputs": len(settings.data.model_features),
        "search": search,
    }
    with staged_outputs() as out:
        out.write_bytes(paths.model, dump_model(fitted))
        out.write_json(paths.train_metrics, summary)
    log.info("trained %s on %s rows", settings.model.estimator, f"{len(frame):,}")
    return summary


def evaluate(settings: Settings, paths: ProjectPaths) -> dict[str, Any]:
    """Fitted pipeline + test set -> metrics and DVC plot data."""
    pipeline = load_model(paths.model)
    frame = _read_prepared(paths.test_data)
    manifest = _read_json(paths.manifest)
    labels = target_vector(frame, settings.data)
    probabilities = pipeline.predict_proba(model_inputs(frame, settings.data))[:, 1]
    threshold = settings.model.threshold
    metrics = overall_metrics(labels, probabilities, threshold)
    points = settings.evaluate.curve_points
    plots = {
        "roc": curves.roc_curve(labels, probabilities, points),
        "precision_recall": curves.precision_recall_curve(labels, probabilities, points),
        "calibration": curves.calibration(
            labels, probabilities, settings.evaluate.calibration_bins
        ),
        "confusion": curves.confusion_rows(labels, probabilities, threshold, manifest["classes"]),
    }
    with staged_outputs() as out:
        out.write_json(paths.metrics, metrics)
        for name, table in plots.items():
            out.write_text(paths.plot(name), table.to_csv(index=False, lineterminator="\n"))
    log.info(
        "test ROC AUC %.4f, F1 %.4f on %s rows",
        metrics["roc_auc"],
        metrics["f1"],
        f"{len(frame):,}",
    )
    return metrics


def export(settings: Settings, paths: ProjectPaths) -> dict[str, Any]:
    """Fitted pipeline -> ONNX, parity-checked on the whole test set, with signature and card."""
    pipeline = load_model(paths.model)
    test = _read_prepared(paths.test_data)
    train_frame = _read_prepared(paths.train_data)
    manifest = _read_json(paths.manifest)
    metrics = _read_json(paths.metrics)
    data = settings.data
    model_bytes = export_ops.to_onnx(pipeline, data, settings.export)
    test_inputs = model_inputs(test, data)
    reference = pipeline.predict_proba(test_inputs)[:, 1]
    candidate = export_ops.onnx_probabilities(model_bytes, export_ops.onnx_feeds(test_inputs, data))
    parity = export_ops.check_parity(
        reference, candidate, settings.model.threshold, settings.export.parity_tolerance
    )
    if not parity.passed:
        raise ModelError(export_ops.describe_parity_failure(parity))
    signature = export_ops.build_signature(
        data=data,
        model=settings.model,
        classes=manifest["classes"],
        train_frame=model_inputs(train_frame, data),
        export=settings.export,
        model_bytes=model_bytes,
        provenance={"git_sha": git_commit(paths.root), "data_sha256": manifest["data_sha256"]},
        metrics=metrics,
        parity=parity,
    )
    card = export_ops.model_card(
        data=data, model=settings.model, signature=signature, metrics=metrics, manifest=manifest
    )
    with staged_outputs() as out:
        out.write_bytes(paths.onnx_model, model_bytes)
        out.write_json(paths.signature, signature)
        out.write_text(paths.model_card, card)
        out.write_json(
            paths.export_metrics, {"parity": parity.as_dict(), "onnx_bytes": len(model_bytes)}
        )
    log.info(
        "exported %s (%s KB), parity max |dp| %.2e on %s rows",
        paths.onnx_model.name,
        f"{len(model_bytes) / 1024:,.0f}",
        parity.max_abs_difference,
        f"{parity.rows:,}",
    )
    return signature


def _read_prepared(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise StaleOutputError(f"{path} does not exist; run `dvc repro` (or `conveyor prepare`)")
    return pd.read_parquet(path)


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise StaleOutputError(f"{path} does not exist; run `dvc repro` to produce it")
    return json.loads(path.read_text(encoding="utf-8"))
