"""Score a table with an exported model exactly as the server would.

Each row becomes the JSON record a client would send and goes through the server's own
validation (`to_batch`) and ONNX session (`OnnxModel`): a champion scored here gives the
numbers it gives in production, whatever changed in the pipeline since it was released.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from conveyor.contract import NUMBER
from conveyor.errors import ConveyorError
from conveyor.serve.model import OnnxModel
from conveyor.serve.signature import SignatureError, load_signature
from conveyor.serve.validation import RequestError, to_batch


class ScoringError(ConveyorError):
    """The model cannot score this table: a column it needs is missing or of another type."""


def records_of(
    frame: pd.DataFrame, names: tuple[str, ...], numeric: set[str]
) -> list[dict[str, Any]]:
    """Rows as JSON records: numbers as Python floats, missing values as None."""
    columns = {}
    for name in names:
        series = frame[name]
        if name in numeric and pd.api.types.is_numeric_dtype(series):
            series = series.astype("float64")
        columns[name] = series.astype(object).where(series.notna(), None).tolist()
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def score(model: Path, signature_file: Path, frame: pd.DataFrame) -> np.ndarray:
    """Positive-class probability per row of `frame`, as the server computes it."""
    try:
        signature = load_signature(signature_file)
        session = OnnxModel(model, signature)
    except SignatureError as error:
        raise ScoringError(str(error)) from None
    missing = [name for name in signature.names if name not in frame.columns]
    if missing:
        raise ScoringError(
            f"the model {model} needs input column(s) {', '.join(missing)}, which this data "
            "does not have"
        )
    numeric = {f.name for f in signature.fields if f.kind == NUMBER}
    records = records_of(frame, signature.names, numeric)
    try:
        batch = to_batch(records, signature, max_batch=max(len(records), 1))
    except RequestError as error:
        raise ScoringError(f"the model {model} cannot take this data: {error.message}") from None
    return np.asarray(session.probabilities(batch.columns), dtype=np.float64)
