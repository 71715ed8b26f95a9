"""`conveyor train`: prepared train set -> fitted pipeline (skops) and a training summary."""

from __future__ import annotations

import logging
from typing import Any

from conveyor import train as train_ops
from conveyor.atomic import staged_outputs
from conveyor.config import Settings
from conveyor.features import model_inputs, target_vector
from conveyor.modelio import dump_model
from conveyor.paths import ProjectPaths
from conveyor.stages.inputs import read_prepared

log = logging.getLogger("conveyor")


def run(settings: Settings, paths: ProjectPaths) -> dict[str, Any]:
    """Prepared train set -> fitted pipeline (skops) and a small training summary."""
    frame = read_prepared(paths.train_data)
    features = model_inputs(frame, settings.data)
    labels = target_vector(frame, settings.data)
    pipeline = train_ops.build_pipeline(settings.data, settings.model)
    reweighting = settings.model.reweighting
    weights = None
    if reweighting.enabled and reweighting.sensitive_feature:
        groups = frame[reweighting.sensitive_feature].astype(str).to_numpy()
        weights = train_ops.reweighing_weights(groups, labels)
    fitted, search = train_ops.fit(pipeline, features, labels, settings.model, weights)
    summary = {
        "estimator": settings.model.estimator,
        "rows": len(frame),
        "inputs": len(settings.data.model_features),
        "search": search,
        "reweighting": reweighting.sensitive_feature if weights is not None else None,
    }
    with staged_outputs() as out:
        out.write_bytes(paths.model, dump_model(fitted))
        out.write_json(paths.train_metrics, summary)
    log.info("trained %s on %s rows", settings.model.estimator, f"{len(frame):,}")
    return summary
