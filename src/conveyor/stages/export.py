"""`conveyor export`: fitted pipeline -> ONNX, parity-checked, with signature and model card."""

from __future__ import annotations

import logging
from typing import Any

from conveyor import export as export_ops
from conveyor.atomic import staged_outputs
from conveyor.config import Settings
from conveyor.errors import ModelError
from conveyor.features import model_inputs
from conveyor.modelio import load_model
from conveyor.paths import ProjectPaths
from conveyor.provenance import code_sha256, params_sha256, stage_code, tracked_values
from conveyor.stages.inputs import read_json, read_prepared

log = logging.getLogger("conveyor")

TRACKED_PARAMS = ("data", "model.threshold", "model.estimator", "model.hyperparameters", "export")
"""The params dvc.yaml tracks for this stage (a test keeps the two equal): what the params
hash covers, so it changes exactly when DVC would re-run the export."""


def provenance(settings: Settings, data_sha256: str) -> dict[str, str]:
    """What the exported model is a function of: data, params and code, each as a hash."""
    params = tracked_values(settings.model_dump(mode="json"), TRACKED_PARAMS)
    return {
        "data_sha256": data_sha256,
        "params_sha256": params_sha256(params),
        "code_sha256": code_sha256(stage_code(__name__)),
    }


def run(settings: Settings, paths: ProjectPaths) -> dict[str, Any]:
    """Fitted pipeline -> ONNX, parity-checked on the whole test set, with signature and card."""
    pipeline = load_model(paths.model)
    test = read_prepared(paths.test_data)
    train_frame = read_prepared(paths.train_data)
    manifest = read_json(paths.manifest)
    metrics = read_json(paths.metrics)
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
        provenance=provenance(settings, manifest["data_sha256"]),
        metrics=metrics,
        parity=parity,
        train_scores=export_ops.onnx_probabilities(
            model_bytes, export_ops.onnx_feeds(model_inputs(train_frame, data), data)
        ),
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
