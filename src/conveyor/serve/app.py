"""The ASGI application: routes, limits, error handling and telemetry.

Bad input never reaches onnxruntime: it is refused with a 4xx naming the record and field.
Anything else that goes wrong is our bug; it is logged and answered with a JSON 500 while the
server keeps serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor import __version__
from conveyor.serve.model import OnnxModel
from conveyor.serve.openapi import build_openapi
from conveyor.serve.settings import ServeSettings
from conveyor.serve.signature import load_signature
from conveyor.serve.telemetry import Telemetry
from conveyor.serve.validation import RequestError, parse_strict_json, to_batch

log = logging.getLogger("conveyor.serve")
ROUTES = ("/predict", "/health", "/ready", "/metadata", "/metrics", "/openapi.json")
METHODS = ("GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS")


class _State:
    """What the handlers share: the model, the limits, the metrics."""

    def __init__(self, model: OnnxModel, settings: ServeSettings) -> None:
        self.model = model
        self.settings = settings
        info = model.signature.model_info
        self.model_id = model_id(str(info.get("onnx_sha256", "unknown")))
        self.git_sha = settings.git_sha
        self.version = settings.git_sha or self.model_id
        self.telemetry = Telemetry(
            {
                "version": self.version,
                "estimator": str(info.get("estimator", "unknown")),
                "onnx_sha256": str(info.get("onnx_sha256", "unknown"))[:12],
            }
        )
        self.openapi = build_openapi(model.signature, settings.max_batch, __version__)
        self.ready = False


def model_id(onnx_sha256: str) -> str:
    """A stable name for the model itself, the version when the image carries no commit."""
    return f"onnx-{onnx_sha256[:12]}"


def _error(status: int, message: str) -> JSONResponse:
    """Every non-2xx has the same JSON shape, the OpenAPI `Error`, so clients parse one."""
    return JSONResponse({"error": message}, status_code=status)


async def _body_within_limit(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as its declared or streamed size passes the limit, so
    a huge or endless upload never sits in memory whole."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {declared} bytes exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def predict(request: Request) -> Response:
    """Validate the whole batch, then one model call: onnxruntime never sees bad input."""
    state: _State = request.app.state.conveyor
    content_type = request.headers.get("content-type", "application/json")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        return _error(415, f"content-type must be application/json, got {content_type!r}")
    try:
        body = await _body_within_limit(request, state.settings.max_body_bytes)
        batch = to_batch(parse_strict_json(body), state.model.signature, state.settings.max_batch)
    except RequestError as refused:
        return _error(refused.status, refused.message)
    probabilities = state.model.probabilities(batch.columns)
    labels = state.model.labels(probabilities)
    telemetry = state.telemetry
    for feature, count in batch.unknown_categories.items():
        telemetry.unknown_categories.inc({"feature": feature}, count)
    for label in set(labels):
        telemetry.predictions.inc({"class": label}, labels.count(label))
    predictions = [
        {"label": label, "probability": float(p)}
        for label, p in zip(labels, probabilities, strict=True)
    ]
    return JSONResponse({"model_version": state.version, "predictions": predictions})


async def health(request: Request) -> Response:
    """Liveness only: answers while the process runs, so a slow start is not a restart."""
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """503 outside the lifespan, so a load balancer sends nothing before start-up or during
    shutdown."""
    state: _State = request.app.state.conveyor
    if not state.ready:
        return _error(503, "model not ready")
    return JSONResponse({"status": "ready", "model_version": state.version})


async def metadata(request: Request) -> Response:
    state: _State = request.app.state.conveyor
    document = state.model.signature.document
    return JSONResponse(
        {
            "model_version": state.version,
            "git_sha": state.git_sha,
            "model_id": state.model_id,
            "model": document.get("model", {}),
            "metrics": document.get("metrics", {}),
            "parity": document.get("parity", {}),
            "signature": {"inputs": document["inputs"], "output": document["output"]},
            "server": {
                "version": __version__,
                "max_batch": state.settings.max_batch,
                "max_body_bytes": state.settings.max_body_bytes,
            },
        }
    )


async def metrics(request: Request) -> Response:
    state: _State = request.app.state.conveyor
    return PlainTextResponse(
        state.telemetry.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


async def openapi(request: Request) -> Response:
    state: _State = request.app.state.conveyor
    return JSONResponse(state.openapi)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405, in our JSON error shape instead of plain text."""
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    """Our bug: the details go to the log, never to the client."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error(500, "internal error; the server logged the details")


class TelemetryMiddleware:
    """Counts and times every request by route (unknown paths share one label)."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            path = scope["path"] if scope["path"] in ROUTES else "other"
            labels = {"endpoint": path, "status": str(status)}
            self.telemetry.latency.observe(time.perf_counter() - start, labels)
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.telemetry.requests.inc({**labels, "method": method})


def create_app(settings: ServeSettings) -> Starlette:
    """Load and check the model, then build the app; raises SignatureError if they disagree."""
    signature = load_signature(settings.signature_path)
    model = OnnxModel(settings.model_path, signature, settings.threads_per_worker)
    state = _State(model, settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.ready = True
        log.info(
            "serving model %s with %d inputs",
            state.version,
            len(signature.fields),
            extra={"max_batch": settings.max_batch},
        )
        yield
        state.ready = False
        log.info("shutting down")

    app = Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metadata", metadata, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.conveyor = state
    app.add_middleware(TelemetryMiddleware, telemetry=state.telemetry)
    return app


def create_app_from_environment() -> Starlette:
    """Factory for uvicorn workers: each reads the same environment."""
    return create_app(ServeSettings.from_environment())
