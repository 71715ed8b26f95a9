"""The model's view of a data frame: one conversion shared by train, evaluate and export.

The exported ONNX graph sees float32 numbers and strings, with "" for a missing category
(skl2onnx cannot convert a string imputer keyed on NaN). scikit-learn is trained on exactly the
same values, so the two can agree to the last bit of their inputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from conveyor.config import DataSettings
from conveyor.contract import MISSING_CATEGORY, NUMERIC_DTYPE
from conveyor.errors import DataError


def model_inputs(frame: pd.DataFrame, data: DataSettings) -> pd.DataFrame:
    """Select and type the model's input columns, in the order the model expects them."""
    missing = [c for c in data.model_features if c not in frame.columns]
    if missing:
        raise DataError(
            f"model input columns {missing} are not in the prepared data; "
            "run `dvc repro` (or `conveyor prepare`) with the current params"
        )
    inputs = pd.DataFrame(index=frame.index)
    for column in data.model_numeric_features:
        inputs[column] = frame[column].astype(NUMERIC_DTYPE)
    for column in data.model_categorical_features:
        inputs[column] = categorical_strings(frame[column])
    return inputs


def categorical_strings(values: pd.Series) -> pd.Series:
    """Categories as plain Python strings, "" where missing (the ONNX-compatible marker)."""
    as_text = values.astype("string").fillna(MISSING_CATEGORY).str.strip()
    return as_text.astype(object)


def target_vector(frame: pd.DataFrame, data: DataSettings) -> np.ndarray:
    """1 for the positive label, 0 otherwise; the target is stored as text by `prepare`."""
    if data.target not in frame.columns:
        raise DataError(f"target column '{data.target}' is not in the prepared data")
    return (frame[data.target].astype(str) == str(data.positive_label)).to_numpy(dtype=np.int8)
