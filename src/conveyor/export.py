"""ONNX export of the whole pipeline, its parity check, and the files that travel with it.

The serving image carries only `model.onnx` and `signature.json`, so the signature must say
everything the runtime needs: input names and types, allowed categories, classes, threshold,
provenance, and the training distribution of every feature (the reference for drift).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.pipeline import Pipeline

from conveyor.config import DataSettings, ExportSettings, ModelSettings
from conveyor.contract import (
    CATEGORICAL_BRANCH,
    CLASSIFIER_STEP,
    LABEL_OUTPUT,
    MISSING_CATEGORY,
    NUMBER,
    NUMERIC_DTYPE,
    ONNX_TYPES,
    PREPROCESS_STEP,
    PROBABILITY_OUTPUT,
    STRING,
    predict_labels,
)
from conveyor.errors import ModelError
from conveyor.evaluate.registry import HEADLINE, QUALITY
from conveyor.onnx_graph import (
    OneHotColumn,
    one_hot_columns,
    with_lookup_encoding,
    without_dead_missing_routing,
)

SIGNATURE_VERSION = 1
ML_OPSET = 3


def to_onnx(pipeline: Pipeline, data: DataSettings, export: ExportSettings) -> bytes:
    """The fitted pipeline as the bytes `model.onnx` holds: skl2onnx's graph with the
    categorical encoding by position and no dead NaN routing in its trees
    (conveyor.onnx_graph), checked and pinned."""
    model = convert_pipeline(pipeline, data, export)
    if data.model_categorical_features:
        model = with_lookup_encoding(
            model, _encoder_layout(pipeline, data), MISSING_CATEGORY, PROBABILITY_OUTPUT
        )
    model = without_dead_missing_routing(model, PROBABILITY_OUTPUT)
    model.doc_string = "Exported by Conveyor; inputs and classes are described in signature.json"
    # skl2onnx names the graph with a random UUID and lists opsets in set order: pin both so
    # the same pipeline always exports to the same bytes.
    model.graph.name = "conveyor"
    opsets = sorted((o.domain, o.version) for o in model.opset_import)
    del model.opset_import[:]
    for domain, version in opsets:
        model.opset_import.add(domain=domain, version=version)
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString(deterministic=True))


def convert_pipeline(
    pipeline: Pipeline, data: DataSettings, export: ExportSettings
) -> onnx.ModelProto:
    """skl2onnx's conversion: one [N, 1] input per feature, probabilities without ZipMap."""
    initial_types: list[tuple[str, Any]] = [
        (name, FloatTensorType([None, 1])) for name in data.model_numeric_features
    ] + [(name, StringTensorType([None, 1])) for name in data.model_categorical_features]
    classifier = pipeline.named_steps[CLASSIFIER_STEP]
    try:
        model: onnx.ModelProto = convert_sklearn(
            pipeline,
            initial_types=initial_types,
            target_opset={"": export.target_opset, "ai.onnx.ml": ML_OPSET},
            options={id(classifier): {"zipmap": False}},
            final_types=None,
        )
    except Exception as error:  # skl2onnx raises many unrelated types for unsupported models
        raise ModelError(
            f"skl2onnx cannot convert this {type(classifier).__name__} pipeline: {error}"
        ) from None
    return model


def _encoder_layout(pipeline: Pipeline, data: DataSettings) -> list[OneHotColumn]:
    """The fitted categorical branch's one-hot columns and the imputer's fill value."""
    branch = pipeline.named_steps[PREPROCESS_STEP].named_transformers_[CATEGORICAL_BRANCH]
    imputer, encoder = branch.steps[0][1], branch.steps[-1][1]
    return one_hot_columns(
        data.model_categorical_features, encoder.categories_, str(imputer.fill_value)
    )


def onnx_feeds(frame: pd.DataFrame, data: DataSettings) -> dict[str, np.ndarray]:
    """Model inputs as the ONNX graph wants them: float32 or string columns of shape [N, 1]."""
    feeds: dict[str, np.ndarray] = {}
    for name in data.model_numeric_features:
        feeds[name] = frame[name].to_numpy(dtype=NUMERIC_DTYPE).reshape(-1, 1)
    for name in data.model_categorical_features:
        feeds[name] = frame[name].to_numpy(dtype=object).astype(str).reshape(-1, 1)
    return feeds


def onnx_probabilities(model_bytes: bytes, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """Positive-class probabilities from onnxruntime, as the serving image will compute them."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    (probabilities,) = session.run([PROBABILITY_OUTPUT], feeds)
    return np.asarray(probabilities, dtype=np.float64)[:, 1]


@dataclass(frozen=True)
class ParityReport:
    """How closely onnxruntime reproduces scikit-learn on the whole test set."""

    rows: int
    max_abs_difference: float
    mean_abs_difference: float
    label_differences: int
    label_differences_near_threshold: int
    tolerance: float

    @property
    def passed(self) -> bool:
        unexplained = self.label_differences - self.label_differences_near_threshold
        return self.max_abs_difference <= self.tolerance and unexplained == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def check_parity(
    reference: np.ndarray, candidate: np.ndarray, threshold: float, tolerance: float
) -> ParityReport:
    """Compare probabilities; a label may differ only where p is within tolerance of threshold."""
    difference = np.abs(reference - candidate)
    labels_differ = predict_labels(reference, threshold) != predict_labels(candidate, threshold)
    near = np.abs(reference - threshold) <= tolerance
    return ParityReport(
        rows=int(reference.size),
        max_abs_difference=float(difference.max(initial=0.0)),
        mean_abs_difference=float(difference.mean()) if difference.size else 0.0,
        label_differences=int(labels_differ.sum()),
        label_differences_near_threshold=int((labels_differ & near).sum()),
        tolerance=tolerance,
    )


def describe_parity_failure(report: ParityReport) -> str:
    return (
        f"ONNX parity check failed on {report.rows} test rows: max |p_sklearn - p_onnx| = "
        f"{report.max_abs_difference:.3g} (tolerance {report.tolerance:g}), "
        f"{report.label_differences} label(s) differ, "
        f"{report.label_differences - report.label_differences_near_threshold} of them away "
        "from the threshold. The exported model would not predict what was evaluated; "
        "see docs/pipeline.md for estimator settings that convert exactly"
    )


def numeric_reference(values: np.ndarray, bins: int) -> dict[str, Any]:
    """One number's training distribution: quantile bins (the inner edges) and the share of
    the present values in each, plus its moments. Shared by the inputs and the scores."""
    present = values[~np.isnan(values)]
    edges = (
        np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
        if present.size
        else np.array([])
    )
    inner = edges[1:-1]
    counts = np.bincount(np.searchsorted(inner, present, side="right"), minlength=inner.size + 1)
    return {
        "kind": "numeric",
        "missing_fraction": _round(1 - present.size / max(values.size, 1)),
        "mean": _round(present.mean()) if present.size else None,
        "std": _round(present.std()) if present.size else None,
        "min": _round(present.min()) if present.size else None,
        "max": _round(present.max()) if present.size else None,
        "bin_edges": [_round(x) for x in inner],
        "bin_fractions": [_round(c / max(present.size, 1)) for c in counts],
    }


def reference_statistics(frame: pd.DataFrame, data: DataSettings, bins: int) -> dict[str, Any]:
    """Training distribution of each input: quantile bins for numbers, category frequencies."""
    statistics: dict[str, Any] = {
        name: numeric_reference(frame[name].to_numpy(dtype=np.float64), bins)
        for name in data.model_numeric_features
    }
    for name in data.model_categorical_features:
        text = frame[name].astype(str)
        present = text[text != MISSING_CATEGORY]
        frequencies = present.value_counts(normalize=True).sort_index()
        statistics[name] = {
            "kind": "categorical",
            "missing_fraction": _round(1 - len(present) / max(len(text), 1)),
            "frequencies": {str(k): _round(v) for k, v in frequencies.items()},
        }
    return statistics


def prediction_reference(scores: np.ndarray, threshold: float, bins: int) -> dict[str, Any]:
    """The served model's positive-class probabilities on the training rows, binned as an
    input is, with the share it labels positive: the baseline the server's prediction-drift
    gauges compare recent predictions with. (On the default data the held-out rows' scores sit
    within PSI 0.001 of these, so training scores are a fair baseline for served traffic.)"""
    scores = np.asarray(scores, dtype=np.float64)
    return {
        **numeric_reference(scores, bins),
        "positive_rate": _round(float(predict_labels(scores, threshold).mean()))
        if scores.size
        else None,
    }


def _round(value: float) -> float:
    return round(float(value), 6)


def build_signature(
    *,
    data: DataSettings,
    model: ModelSettings,
    classes: list[str],
    train_frame: pd.DataFrame,
    export: ExportSettings,
    model_bytes: bytes,
    provenance: dict[str, Any],
    metrics: dict[str, Any],
    parity: ParityReport,
    train_scores: np.ndarray,
) -> dict[str, Any]:
    """Everything the serving runtime needs to validate requests and explain itself."""
    reference = reference_statistics(train_frame, data, export.reference_bins)
    inputs: list[dict[str, Any]] = [
        {"name": name, "type": NUMBER, "onnx_type": ONNX_TYPES[NUMBER], "nullable": True}
        for name in data.model_numeric_features
    ]
    for name in data.model_categorical_features:
        categories = sorted(set(train_frame[name].astype(str)) - {MISSING_CATEGORY})
        inputs.append(
            {
                "name": name,
                "type": STRING,
                "onnx_type": ONNX_TYPES[STRING],
                "nullable": True,
                "missing_value": MISSING_CATEGORY,
                "categories": categories,
            }
        )
    return {
        "schema_version": SIGNATURE_VERSION,
        "inputs": inputs,
        "output": {
            "probability_output": PROBABILITY_OUTPUT,
            "label_output": LABEL_OUTPUT,
            "classes": classes,
            "positive_class": classes[1],
            "positive_index": 1,
            "threshold": model.threshold,
        },
        "model": {
            "estimator": model.estimator,
            "onnx_sha256": hashlib.sha256(model_bytes).hexdigest(),
            **provenance,
        },
        "metrics": {key: metrics[key] for key in (*HEADLINE, "rows") if key in metrics},
        "parity": parity.as_dict(),
        "reference": reference,
        "prediction_reference": prediction_reference(
            train_scores, model.threshold, export.reference_bins
        ),
    }


def model_card(
    *,
    data: DataSettings,
    model: ModelSettings,
    signature: dict[str, Any],
    metrics: dict[str, Any],
    manifest: dict[str, Any],
) -> str:
    """A short, factual model card: what the model is, what it was trained on, how it scores."""
    parity = signature["parity"]
    provenance = signature["model"]
    sensitive = ", ".join(f"`{c}`" for c in data.sensitive_features) or "none configured"
    usage = "used as model inputs" if data.use_sensitive_features else "excluded from the inputs"
    hyperparameters = [f"  - `{k}`: `{v}`" for k, v in sorted(model.hyperparameters.items())]
    lines = [
        "# Model card",
        "",
        "## Model",
        f"- Estimator: `{model.estimator}` in a scikit-learn `Pipeline` "
        "(impute, one-hot encode), exported to ONNX.",
        f"- Predicts `{data.target}` = `{signature['output']['positive_class']}` when the "
        f"probability is at least {model.threshold}.",
        f"- Data fingerprint (sha256): `{provenance.get('data_sha256', 'unknown')}`.",
        f"- Parameters fingerprint (sha256): `{provenance.get('params_sha256', 'unknown')}`.",
        f"- Code fingerprint (sha256): `{provenance.get('code_sha256', 'unknown')}`.",
        "- The git commit is stamped on the serving image (`CONVEYOR_GIT_SHA`), not here: "
        "this card depends only on the pipeline's inputs.",
        "- Hyper-parameters:" + ("" if hyperparameters else " scikit-learn defaults"),
        *hyperparameters,
        "",
        "## Training data",
        *(f"- `{s['path']}` (sha256 `{s['sha256'][:12]}…`)" for s in manifest["sources"]),
        f"- {manifest['rows_train']:,} training rows, {manifest['rows_test']:,} held-out test "
        f"rows ({manifest['duplicates_dropped']:,} duplicate records dropped).",
        f"- Positive rate: {manifest['positive_rate_train']:.3f} (train), "
        f"{manifest['positive_rate_test']:.3f} (test).",
        f"- Inputs ({len(data.model_features)}): "
        + ", ".join(f"`{c}`" for c in data.model_features)
        + ".",
        f"- Sensitive features {sensitive} are {usage} and kept for fairness evaluation.",
        "",
        "## Evaluation on the held-out test set",
        "| metric | value |",
        "|---|---|",
        *(
            f"| {name} | {metrics[name]:.4f} |"
            for name in QUALITY
            if isinstance(metrics.get(name), float | int)
        ),
        "",
        "## Export",
        f"- ONNX parity with scikit-learn over {parity['rows']:,} test rows: max |Δp| = "
        f"{parity['max_abs_difference']:.2e} (tolerance {parity['tolerance']:g}), "
        f"{parity['label_differences']} label difference(s).",
        "",
        "## Limitations",
        "- Scores describe a held-out split of the training data; they say nothing about data",
        "  from another population or time. Watch the serving image's drift gauges",
        "  (`conveyor_feature_psi`, `conveyor_prediction_psi`, `GET /drift`) and check late",
        "  labels with `conveyor monitor --labelled`.",
        "- Excluding sensitive features does not make a model fair: other columns can carry the",
        "  same information. Read the fairness results before relying on a prediction about a",
        "  person.",
    ]
    return "\n".join(lines) + "\n"
