"""The model's contract: what training, export, evaluation and serving must agree on.

Kept to numpy and the standard library because the serving image carries it (the Dockerfile
copies this file beside `serve/`): a rule written here is the same rule in the pipeline and in
the server, so a label evaluated at training time is the label served.
"""

from __future__ import annotations

import operator

import numpy as np

PREPROCESS_STEP = "preprocess"
"""Name of the preprocessing step (imputation, encoding) in the fitted scikit-learn Pipeline."""
CATEGORICAL_BRANCH = "categorical"
"""Name of the categorical branch (impute, one-hot encode) inside the preprocessing step:
export reads its fitted layout to write the encoding as a lookup."""
CLASSIFIER_STEP = "classifier"
"""Name of the estimator step; skl2onnx options and search parameters are keyed on it."""

MISSING_CATEGORY = ""
"""How a missing category reaches the model: skl2onnx cannot convert a string imputer keyed
on NaN, so both scikit-learn and the ONNX graph see "" and impute it."""

NUMERIC_DTYPE = np.float32
"""The ONNX graph's numeric input type; training casts to it too so both see the same bits."""
FLOAT32_MAX = float(np.finfo(NUMERIC_DTYPE).max)
"""Largest magnitude a numeric input may have: beyond it the cast to float32 gives infinity."""

NUMBER = "number"
"""signature.json's type of a numeric input: a JSON number (or null), fed as float32."""
STRING = "string"
"""signature.json's type of a categorical input: a JSON string (or null), fed as a string."""
ONNX_TYPES = {NUMBER: "tensor(float)", STRING: "tensor(string)"}
"""The ONNX graph's input type for each signature type: export declares it, serve checks it."""

PROBABILITY_OUTPUT = "probabilities"
"""The ONNX output holding one probability per class (no ZipMap)."""
LABEL_OUTPUT = "label"
"""The ONNX label output. Never used for decisions: it breaks ties unlike scikit-learn."""


REACHES_THRESHOLD = operator.ge
"""The threshold rule: a row is positive when its positive-class probability reaches the
threshold (a tie is positive). Every label (evaluation, parity check, server) comes from this
rule rather than from the ONNX `label` output, whose tie-breaking at the threshold differs
from scikit-learn's; `predict_labels` applies it to arrays, the server to single floats."""


def predict_labels(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """1 where the positive-class probability reaches the threshold, else 0."""
    reached: np.ndarray = REACHES_THRESHOLD(np.asarray(probabilities), threshold)
    return reached.astype(np.int8)
