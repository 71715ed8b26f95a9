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
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor import __version__
from conveyor.serve.live_drift import LiveDrift
from conveyor.serve.model import OnnxModel
from conveyor.serve.openapi import build_openapi
from conveyor.serve.predict import PredictEndpoint, encode_error, send_json
from conveyor.serve.settings import ServeSettings
from conveyor.serve.signature import load_signature
from conveyor.serve.telemetry import CONTENT_TYPE, Telemetry

log = logging.getLogger("conveyor.serve")
ROUTES = frozenset(
    ("/predict", "/health", "/ready", "/metadata", "/metrics", "/drift", "/openapi.json")
)
METHODS = frozenset(("GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"))


class _State:
    """What the handlers share: the model, the limits, the metrics."""

    def __init__(self, model: OnnxModel, settings: ServeSettings) -> None:
        self.model = model
        self.settings = settings
        info = model.signature.model_info
        self.model_id = model_id(str(info.get("onnx_sha256", "unknown")))
        self.git_sha = settings.git_sha
        self.version = settings.git_sha or self.model_id
        self.drift = (
            LiveDrift(model.signature, settings.drift_window, settings.drift_sample)
            if settings.drift
            else None
        )
        self.telemetry = Telemetry(
            {
                "version": self.version,
                "estimator": str(info.get("estimator", "unknown")),
                "onnx_sha256": str(info.get("onnx_sha256", "unknown"))[:12],
            },
            self.drift,
        )
        self.openapi = build_openapi(model.signature, settings.max_batch, __version__)
        self.predict = PredictEndpoint(
            model,
            self.telemetry,
            self.version,
            settings.max_batch,
            settings.max_body_bytes,
            drift=self.drift,
        )
        self.ready = False


def model_id(onnx_sha256: str) -> str:
    """A stable name for the model itself, the version when the image carries no commit."""
    return f"onnx-{onnx_sha256[:12]}"


def _error(status: int, message: str) -> Response:
    """Every non-2xx has the same JSON shape, the OpenAPI `Error`, so clients parse one."""
    return Response(encode_error(message), status_code=status, media_type="application/json")


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
    return Response(state.telemetry.render(), media_type=CONTENT_TYPE)


async def drift(request: Request) -> Response:
    """The live drift numbers as JSON: per input, the predictions, the window they cover."""
    state: _State = request.app.state.conveyor
    if state.drift is None:
        return JSONResponse({"enabled": False, "reason": "CONVEYOR_DRIFT is off"})
    return JSONResponse(state.drift.snapshot().as_dict())


async def openapi(request: Request) -> Response:
    state: _State = request.app.state.conveyor
    return JSONResponse(state.openapi)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405, in our JSON error shape instead of plain text."""
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail))


SERVER_ERROR = "internal error; the server logged the details"
CLIENT_GONE = 499
"""The status counted (never sent) for a request whose client left before it was answered,
nginx's "client closed request": neither the server's fault (500) nor an answer."""


async def _server_error(request: Request, exc: Exception) -> Response:
    """Our bug: the details go to the log, never to the client."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error(500, SERVER_ERROR)


def _record(telemetry: Telemetry, scope: Scope, status: int, seconds: float) -> None:
    """One request in the metrics, by route (unknown paths and methods share one label, so
    a scanner cannot grow the metrics without bound)."""
    path = scope["path"] if scope["path"] in ROUTES else "other"
    method = scope["method"] if scope["method"] in METHODS else "other"
    telemetry.count_request(path, method, status, seconds)


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
        status = CLIENT_GONE  # an app that returns without answering: the client left

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except Exception:
            status = 500 if status == CLIENT_GONE else status
            raise
        finally:
            _record(self.telemetry, scope, status, time.perf_counter() - start)


class ServingApp(Starlette):
    """Starlette for every route, with one shortcut: `POST /predict`, the call that carries
    the load, goes straight to its endpoint instead of through the middleware and the
    router, and is timed, counted and guarded against our own bugs here, as the middleware
    and the 500 handler do for the rest. (The router keeps its /predict route, so the app
    mounted under a prefix still serves it, and other methods still get a 405.)"""

    def __init__(self, state: _State, **options: Any) -> None:
        super().__init__(**options)
        self.state.conveyor = state
        self._predict = state.predict
        self._telemetry = state.telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/predict" or scope["method"] != "POST":
            await super().__call__(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        try:
            try:
                answer = await self._predict.answer(scope, receive)
            except Exception:
                log.exception("unhandled error on POST /predict")
                answer = (500, encode_error(SERVER_ERROR))
            if answer is None:
                status = CLIENT_GONE
                return
            status = answer[0]
            await send_json(send, *answer)
        finally:  # the route and method are known: no need for _record's normalising
            self._telemetry.count_request("/predict", "POST", status, time.perf_counter() - start)


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

    app = ServingApp(
        state,
        routes=[
            Route("/predict", state.predict, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metadata", metadata, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/drift", drift, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.add_middleware(TelemetryMiddleware, telemetry=state.telemetry)
    return app


def create_app_from_environment() -> Starlette:
    """Factory for uvicorn workers: each reads the same environment."""
    return create_app(ServeSettings.from_environment())
