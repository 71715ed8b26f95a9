"""`POST /predict` as a plain ASGI callable: the server's one hot path.

Every request to the server pays for what runs here, so it builds no framework objects
(Starlette's Request, Headers, Response) and goes from the ASGI messages to the model and
back with the fewest Python calls: the body is read from `receive`, decoded and validated by
one `RequestDecoder` pass, scored by one onnxruntime call, and the answer is encoded by
msgspec. Bad input is answered here with the same JSON `Error` shape as every other 4xx;
anything else that fails propagates to the app's 500 handler, which logs it.
"""

from __future__ import annotations

import msgspec
from starlette.types import Receive, Scope, Send

from conveyor.serve.live_drift import LiveDrift
from conveyor.serve.model import OnnxModel
from conveyor.serve.telemetry import Telemetry
from conveyor.serve.validation import RequestDecoder, RequestError

_encode = msgspec.json.Encoder().encode
_JSON = (b"content-type", b"application/json")


class _Prediction(msgspec.Struct, gc=False):
    """One row's answer, `{"label": ..., "probability": ...}` in JSON: msgspec builds and
    encodes a hundred of these in half the time it takes for dicts."""

    label: str
    probability: float


class ClientGoneError(Exception):
    """The client disconnected before its body arrived: there is no one to answer."""


class PredictEndpoint:
    """The ASGI app behind `POST /predict`; built once per model."""

    def __init__(
        self,
        model: OnnxModel,
        telemetry: Telemetry,
        version: str,
        max_batch: int,
        max_body: int,
        *,
        drift: LiveDrift | None = None,
    ) -> None:
        self._model = model
        self._drift = drift
        self._telemetry = telemetry
        self._version = version
        self._max_body = max_body
        self._decoder = RequestDecoder(model.signature, max_batch)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self.answer(scope, receive)
        if answer is not None:
            await send_json(send, *answer)

    async def answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes] | None:
        """(status, JSON body): the predictions, or the refusal naming what is wrong; None
        when the client left before sending its body."""
        try:
            content_type, declared = _content_headers(scope["headers"])
            _check_media_type(content_type)
            raw = await _body_within_limit(receive, declared, self._max_body)
            batch = self._decoder.decode(raw)
        except RequestError as refused:
            return refused.status, encode_error(refused.message)
        except ClientGoneError:
            return None
        probabilities = self._model.probabilities(batch.columns)
        labels = self._model.labels(probabilities)
        self._telemetry.count_predictions(labels, batch.unknown_categories)
        if self._drift is not None:
            self._drift.observe(batch, probabilities)
        predictions = list(map(_Prediction, labels, probabilities))
        return 200, _encode({"model_version": self._version, "predictions": predictions})


def encode_error(message: str) -> bytes:
    """The OpenAPI `Error` body every non-2xx carries."""
    return _encode({"error": message})


async def send_json(send: Send, status: int, body: bytes) -> None:
    """A complete JSON response in the two ASGI messages."""
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [_JSON, length]})
    await send({"type": "http.response.body", "body": body})


def _content_headers(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """The first Content-Type and Content-Length, as Starlette's `Headers.get` reads them."""
    content_type = declared = None
    for name, value in headers:
        if name == b"content-type" and content_type is None:
            content_type = value.decode("latin-1")
        elif name == b"content-length" and declared is None:
            declared = value.decode("latin-1")
    return content_type, declared


def _check_media_type(content_type: str | None) -> None:
    """JSON or a `+json` type; no Content-Type at all is taken as JSON."""
    if content_type is None or content_type == "application/json":
        return
    media_type = content_type.split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise RequestError(415, f"content-type must be application/json, got {content_type!r}")


async def _body_within_limit(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The body, refused (413) as soon as its declared or streamed size passes the limit, so
    a huge or endless upload never sits in memory whole."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {declared} bytes exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
