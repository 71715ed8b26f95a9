"""The ceiling for this stack: Starlette + onnxruntime with nothing else.

No validation, no metrics, no error handling: the body is decoded with msgspec, the values
are handed to onnxruntime as they come, and the probabilities are encoded back. A malformed
request crashes the handler (500). It exists only as the bar `bench/serve.py` holds
conveyor-serve to; nothing ships it.

    CONVEYOR_MODEL_PATH=models/model.onnx CONVEYOR_SIGNATURE_PATH=models/signature.json \\
        uvicorn bench.peers.bare:app --port 8001
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import onnxruntime as ort
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.peers import Peer


def peer(scratch: Path, root: Path) -> Peer:
    """Runs in the project's environment: the same Starlette, uvicorn and onnxruntime."""
    return Peer(
        name="bare Starlette + onnxruntime (no validation, no metrics)",
        command=[sys.executable, "-m", "uvicorn", "bench.peers.bare:app", "--host", "127.0.0.1",
                 "--port", "{port}", "--log-level", "warning", "--no-access-log"],
        encode=lambda records: json.dumps(records).encode(),
        probabilities=lambda body: [p["probability"] for p in json.loads(body)["predictions"]],
    )  # fmt: skip


def _app(signature: dict[str, Any], model_path: str) -> Starlette:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    numeric = [i["name"] for i in signature["inputs"] if i["type"] == "number"]
    # null -> the missing value the model was trained with: not validation, but without it a
    # null category would reach the graph as Python's None and give another answer.
    text = [
        (i["name"], i.get("missing_value", ""))
        for i in signature["inputs"]
        if i["type"] != "number"
    ]
    output = signature["output"]
    positive_index, threshold = output["positive_index"], output["threshold"]
    positive = output["classes"][positive_index]
    negative = output["classes"][1 - positive_index]
    decode = msgspec.json.Decoder().decode
    encode = msgspec.json.Encoder().encode

    async def predict(request: Request) -> Response:
        payload: Any = decode(await request.body())
        records = [payload] if isinstance(payload, dict) else payload
        feeds = {
            name: np.array([r[name] for r in records], dtype=np.float32).reshape(-1, 1)
            for name in numeric
        }
        for name, missing in text:
            values = [missing if r[name] is None else r[name] for r in records]
            feeds[name] = np.array(values, dtype=object).reshape(-1, 1)
        (table,) = session.run([output["probability_output"]], feeds)
        scores = table[:, positive_index].astype(np.float64).tolist()
        body = encode(
            {
                "predictions": [
                    {"label": positive if p >= threshold else negative, "probability": p}
                    for p in scores
                ]
            }
        )
        return Response(body, media_type="application/json")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/predict", predict, methods=["POST"]), Route("/health", health)]
    )


def _from_environment() -> Starlette:
    """The app for the model the benchmark names; an empty app when imported bare."""
    path = os.environ.get("CONVEYOR_SIGNATURE_PATH")
    if not path:
        return Starlette()
    signature = json.loads(Path(path).read_text(encoding="utf-8"))
    return _app(signature, os.environ["CONVEYOR_MODEL_PATH"])


app = _from_environment()
