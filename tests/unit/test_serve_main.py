"""The process's edges in this process: start-up refusals, how uvicorn is called, the image's
healthcheck and the JSON log lines. tests/serve starts real processes only where the process
itself is the point (exit status, SIGTERM)."""

from __future__ import annotations

import importlib
import json
import logging
import logging.config
import os
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from conveyor.serve import __main__ as serve_main
from conveyor.serve import healthcheck
from conveyor.serve.app import create_app_from_environment
from conveyor.serve.logs import JsonFormatter, log_config
from conveyor.serve.settings import ServeSettings
from tests.serve.client import free_port
from tests.serve.tiny_model import ModelFiles, signature_document, write_model_files


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> ModelFiles:
    return write_model_files(tmp_path_factory.mktemp("model"))


@pytest.fixture
def environment(files: ModelFiles, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The process environment pointing at the tiny model, and nothing else of ours."""
    for name in [name for name in os.environ if name.startswith("CONVEYOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CONVEYOR_MODEL_PATH", str(files.model))
    monkeypatch.setenv("CONVEYOR_SIGNATURE_PATH", str(files.signature))
    return monkeypatch


def _refusal(capsys: pytest.CaptureFixture[str]) -> str:
    assert serve_main.main() == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("conveyor-serve: refusing to start: ")
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1  # one line for the deployment's log
    return stderr


def test_bad_settings_refuse_to_start(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("CONVEYOR_PORT", "eighty")
    assert "CONVEYOR_PORT must be a whole number" in _refusal(capsys)


def test_a_missing_model_refuses_to_start(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    environment.setenv("CONVEYOR_MODEL_PATH", str(tmp_path / "no.onnx"))
    assert f"model file {tmp_path / 'no.onnx'} does not exist" in _refusal(capsys)


def test_a_broken_signature_refuses_to_start(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "signature.json"
    broken.write_text("{")
    environment.setenv("CONVEYOR_SIGNATURE_PATH", str(broken))
    assert "is not readable JSON" in _refusal(capsys)


def test_a_signature_from_another_model_refuses_to_start(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = signature_document()
    document["inputs"] = document["inputs"][1:]
    forged = tmp_path / "signature.json"
    forged.write_text(json.dumps(document))
    environment.setenv("CONVEYOR_SIGNATURE_PATH", str(forged))
    assert "model.onnx and signature.json describe different models" in _refusal(capsys)


@pytest.fixture
def uvicorn_calls(environment: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    """uvicorn.run and the logging set-up recorded instead of done (no socket, no global
    logging change for the rest of the session)."""
    calls: list[tuple[Any, dict[str, Any]]] = []
    environment.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    environment.setattr(logging.config, "dictConfig", lambda config: None)
    return calls


def test_one_worker_serves_the_checked_app(
    environment: pytest.MonkeyPatch, uvicorn_calls: list[tuple[Any, dict[str, Any]]]
) -> None:
    environment.setenv("CONVEYOR_PORT", "9123")
    assert serve_main.main() == 0
    ((target, options),) = uvicorn_calls
    assert target.state.conveyor.ready is False  # uvicorn's lifespan makes it ready
    assert options["factory"] is False
    assert (options["host"], options["port"], options["workers"]) == ("0.0.0.0", 9123, 1)
    assert options["log_level"] == "info"
    assert options["access_log"] is False
    assert options["log_config"] == log_config("info")
    assert options["timeout_graceful_shutdown"] > 0
    assert options["server_header"] is False


def test_several_workers_each_build_the_app_from_the_environment(
    environment: pytest.MonkeyPatch, uvicorn_calls: list[tuple[Any, dict[str, Any]]]
) -> None:
    environment.setenv("CONVEYOR_WORKERS", "3")
    environment.setenv("CONVEYOR_LOG_LEVEL", "debug")
    assert serve_main.main() == 0
    ((target, options),) = uvicorn_calls
    module, name = target.split(":")
    assert getattr(importlib.import_module(module), name) is create_app_from_environment
    assert (options["factory"], options["workers"], options["access_log"]) == (True, 3, True)


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is no place for access logs."""


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    _Health.status = 200


def test_the_healthcheck_passes_when_health_answers_200(
    health_server: ThreadingHTTPServer,
) -> None:
    assert healthcheck.main({"CONVEYOR_PORT": str(health_server.server_address[1])}) == 0


def test_the_healthcheck_fails_when_health_answers_otherwise(
    health_server: ThreadingHTTPServer,
) -> None:
    _Health.status = 503
    assert healthcheck.main({"CONVEYOR_PORT": str(health_server.server_address[1])}) == 1


def test_the_healthcheck_fails_when_nothing_listens() -> None:
    assert healthcheck.main({"CONVEYOR_PORT": str(free_port())}) == 1


def test_the_healthcheck_asks_the_port_the_server_would_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def urlopen(url: str, timeout: float) -> Any:
        asked.append(url)
        raise OSError("nothing listens")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    assert healthcheck.main({}) == 1
    assert asked == [f"http://127.0.0.1:{ServeSettings().port}/health"]


def test_the_healthcheck_names_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert healthcheck.main({"CONVEYOR_PORT": "http"}) == 1
    assert "CONVEYOR_PORT must be a whole number" in capsys.readouterr().err


def test_log_lines_are_json_objects_with_the_extras() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("conveyor.serve").makeRecord(
            "conveyor.serve",
            logging.ERROR,
            __file__,
            1,
            "served %d inputs",
            (2,),
            sys.exc_info(),
            extra={"max_batch": 5, "path": Path("/m")},
        )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "error"
    assert entry["logger"] == "conveyor.serve"
    assert entry["message"] == "served 2 inputs"
    assert entry["time"].endswith("+00:00")
    assert (entry["max_batch"], entry["path"]) == (5, "/m")
    assert "ValueError: boom" in entry["exception"]
    assert {"args", "msg", "exc_info", "levelno"}.isdisjoint(entry)


def test_our_and_uvicorns_loggers_all_write_json() -> None:
    config = log_config("warning")
    for name in ("conveyor", "uvicorn", "uvicorn.error", "uvicorn.access"):
        assert config["loggers"][name] == {
            "handlers": ["json"],
            "level": "WARNING",
            "propagate": False,
        }
    assert config["handlers"]["json"]["formatter"] == "json"
    assert config["formatters"]["json"]["()"] is JsonFormatter
    assert config["disable_existing_loggers"] is False
