"""The ceilings for this stack: onnxruntime behind Starlette, or behind plain ASGI, with
nothing else.

No validation, no metrics, no error handling: the body is decoded with msgspec, the values go
to onnxruntime as they come (a null category becomes the missing value the model was trained
with, or it would give another answer), and the probabilities are encoded back. A malformed
request crashes the handler (500). Two forms:

- `app`: a Starlette app with a `/predict` route, what an engineer would write first;
- `asgi_app`: `POST /predict` answered in plain ASGI, the same shortcut conveyor-serve takes,
  so conveyor-serve against it is the price of validation and metrics alone.

They exist only as the bars `bench/serve.py` holds conveyor-serve to; nothing ships them.

    CONVEYOR_MODEL_PATH=models/model.onnx CONVEYOR_SIGNATURE_PATH=models/signature.json \\
        uvicorn bench.peers.bare:app --port 8001
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import onnxruntime as ort
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bench.peers import Peer, uvicorn_command


def peer(scratch: Path, root: Path) -> Peer:
    """Runs in the project's environment: the same Starlette, uvicorn and onnxruntime."""
    return Peer(
        "bare Starlette + onnxruntime (no validation, no metrics)",
        uvicorn_command("bench.peers.bare:app"),
    )


def asgi_peer(scratch: Path, root: Path) -> Peer:
    """The same work in plain ASGI, as conveyor-serve answers POST /predict."""
    return Peer(
        "bare ASGI + onnxruntime (no validation, no metrics)",
        uvicorn_command("bench.peers.bare:asgi_app"),
    )


def _predictor(signature: dict[str, Any], model_path: str) -> Callable[[bytes], bytes]:
    """Request body -> response body, with nothing checked."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    inputs = signature["inputs"]
    numeric = [i["name"] for i in inputs if i["type"] == "number"]
    text = [(i["name"], i.get("missing_value", "")) for i in inputs if i["type"] != "number"]
    output = signature["output"]
    positive_index, threshold = output["positive_index"], output["threshold"]
    positive = output["classes"][positive_index]
    negative = output["classes"][1 - positive_index]
    decode = msgspec.json.Decoder().decode
    encode = msgspec.json.Encoder().encode

    def predict(body: bytes) -> bytes:
        payload: Any = decode(body)
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
        predictions = [
            {"label": positive if p >= threshold else negative, "probability": p} for p in scores
        ]
        return encode({"predictions": predictions})

    return predict


def _starlette(predict: Callable[[bytes], bytes]) -> Starlette:
    async def endpoint(request: Request) -> Response:
        return Response(predict(await request.body()), media_type="application/json")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/predict", endpoint, methods=["POST"]), Route("/health", health)]
    )


def _plain_asgi(predict: Callable[[bytes], bytes], fallback: Starlette) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/predict":
            await fallback(scope, receive, send)  # /health and the lifespan
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = predict(b"".join(chunks))
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _from_environment() -> tuple[Starlette, Any]:
    """The two apps for the model the benchmark names; empty ones when imported bare."""
    path = os.environ.get("CONVEYOR_SIGNATURE_PATH")
    if not path:
        return Starlette(), Starlette()
    signature = json.loads(Path(path).read_text(encoding="utf-8"))
    predict = _predictor(signature, os.environ["CONVEYOR_MODEL_PATH"])
    starlette_app = _starlette(predict)
    return starlette_app, _plain_asgi(predict, starlette_app)


app, asgi_app = _from_environment()
