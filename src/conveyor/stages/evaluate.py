"""`conveyor evaluate`: fitted pipeline + test set -> metrics and DVC plot data."""

from __future__ import annotations

import logging
from typing import Any

from conveyor.atomic import staged_outputs
from conveyor.config import Settings
from conveyor.evaluate import curves
from conveyor.evaluate.assess import assess
from conveyor.evaluate.metrics import overall_metrics
from conveyor.features import model_inputs, target_vector
from conveyor.modelio import load_model
from conveyor.paths import PLOTS, ProjectPaths
from conveyor.stages.inputs import read_json, read_prepared
from conveyor.verdict import format_verdict

log = logging.getLogger("conveyor")


def run(settings: Settings, paths: ProjectPaths) -> dict[str, Any]:
    """Fitted pipeline + test set -> metrics, slices, fairness, gate verdicts, plot data."""
    pipeline = load_model(paths.model)
    frame = read_prepared(paths.test_data)
    manifest = read_json(paths.manifest)
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
    assessment = assess(frame, labels, probabilities, settings)
    plots["fairness"] = assessment.fairness_chart
    with staged_outputs() as out:
        out.write_json(paths.metrics, metrics)
        out.write_json(paths.slices, assessment.slices)
        out.write_json(paths.fairness, assessment.fairness)
        out.write_json(paths.gates, assessment.verdict.as_dict())
        for name in PLOTS:  # what dvc.yaml declares; a plot missing here is a KeyError
            out.write_text(paths.plot(name), plots[name].to_csv(index=False, lineterminator="\n"))
    log.info(
        "test ROC AUC %s, F1 %s on %s rows; gates %s",
        metrics["roc_auc"],
        metrics["f1"],
        f"{len(frame):,}",
        format_verdict(assessment.verdict).removeprefix("verdict: "),
    )
    return metrics
