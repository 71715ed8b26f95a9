"""The server a team would write first: FastAPI around the scikit-learn pipeline.

It loads `models/model.skops` and answers the same `POST /predict` contract through pandas and
scikit-learn. It exists only as the baseline of `bench/serve.py`; nothing ships it.

    CONVEYOR_PARAMS=params.yaml uvicorn bench.naive_server:app --port 8001
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import FastAPI

from conveyor.config import load_settings
from conveyor.features import model_inputs
from conveyor.modelio import load_model
from conveyor.paths import ProjectPaths

_params = Path(os.environ.get("CONVEYOR_PARAMS", "params.yaml"))
_settings = load_settings(_params)
_model = load_model(ProjectPaths(_params.resolve().parent).model)
_threshold = _settings.model.threshold
_positive = str(_settings.data.positive_label)

app = FastAPI()


@app.post("/predict")
async def predict(payload: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    records = [payload] if isinstance(payload, dict) else payload
    frame = model_inputs(pd.DataFrame.from_records(records), _settings.data)
    probabilities = _model.predict_proba(frame)[:, 1]
    return {
        "predictions": [
            {"label": _positive if p >= _threshold else "other", "probability": float(p)}
            for p in probabilities
        ]
    }


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
