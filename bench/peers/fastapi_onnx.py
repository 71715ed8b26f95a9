"""The common hand-rolled server: FastAPI, a pydantic record model, onnxruntime.

What a team writes when it exports to ONNX but builds its own server: the record model is
generated from `signature.json` (a number or null, a string or null, per input), FastAPI
validates the body against it, and the columns go to onnxruntime. It exists only as a peer in
`bench/serve.py`; nothing ships it.

    CONVEYOR_MODEL_PATH=models/model.onnx CONVEYOR_SIGNATURE_PATH=models/signature.json \\
        uvicorn bench.peers.fastapi_onnx:app --port 8001
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint's annotation at
# import, and the record model it names is built at run time from the signature.
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, create_model

from bench.peers import Peer, uvicorn_command


def peer(scratch: Path, root: Path) -> Peer:
    """Runs in the project's environment (FastAPI and pydantic are dev dependencies)."""
    return Peer("FastAPI + pydantic + onnxruntime", uvicorn_command("bench.peers.fastapi_onnx:app"))


def _app(signature: dict[str, Any]) -> FastAPI:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        os.environ["CONVEYOR_MODEL_PATH"], options, providers=["CPUExecutionProvider"]
    )
    inputs = signature["inputs"]
    fields: dict[str, Any] = {
        i["name"]: ((float | None) if i["type"] == "number" else (str | None), ...) for i in inputs
    }
    record_model = create_model("Record", __config__=ConfigDict(extra="forbid"), **fields)
    output = signature["output"]
    positive, threshold = output["positive_index"], output["threshold"]
    classes = output["classes"]
    app = FastAPI()

    @app.post("/predict")  # async, as conveyor-serve: no thread hand-off per request
    async def predict(payload: record_model | list[record_model]) -> dict[str, Any]:  # type: ignore[valid-type]
        records: list[BaseModel] = payload if isinstance(payload, list) else [payload]
        feeds = {}
        for spec in inputs:
            values = [getattr(r, spec["name"]) for r in records]
            if spec["type"] == "number":
                feeds[spec["name"]] = np.array(values, dtype=np.float32).reshape(-1, 1)
            else:
                missing = spec.get("missing_value", "")
                texts = [missing if v is None else v.strip() for v in values]
                feeds[spec["name"]] = np.array(texts, dtype=object).reshape(-1, 1)
        (table,) = session.run([output["probability_output"]], feeds)
        scores = table[:, positive].astype(float).tolist()
        return {
            "predictions": [
                {"label": classes[positive] if p >= threshold else classes[1 - positive],
                 "probability": p}
                for p in scores
            ]
        }  # fmt: skip

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _from_environment() -> FastAPI:
    """The app for the signature the benchmark names; an empty app when imported bare."""
    path = os.environ.get("CONVEYOR_SIGNATURE_PATH")
    return _app(json.loads(Path(path).read_text(encoding="utf-8"))) if path else FastAPI()


app = _from_environment()
