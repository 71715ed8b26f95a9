"""A real server on 127.0.0.1: `conveyor-serve` in its own process, on a free port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conveyor.paths import ProjectPaths
from tests.conftest import BIN, ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    """A running server and the means to talk to it."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        request = urllib.request.Request(
            self.url + path, data=body, method=method, headers=dict(headers or {})
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Reply(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.read(), dict(error.headers))

    def post_json(self, path: str, payload: Any) -> Reply:
        return self.request(
            "POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )

    def get(self, path: str) -> Reply:
        return self.request("GET", path)


def start_server(
    executable: Path, environment: Mapping[str, str], log: Path, timeout: float = 60
) -> Server:
    """Start `executable` (conveyor-serve or a python -m) and wait for /health."""
    port = free_port()
    env = {
        **os.environ,
        "CONVEYOR_HOST": "127.0.0.1",
        "CONVEYOR_PORT": str(port),
        **environment,
    }
    with log.open("wb") as sink:
        process = subprocess.Popen([str(executable)], env=env, stdout=sink, stderr=sink)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if server.get("/health").status == 200:
                return server
        except OSError:
            time.sleep(0.1)
    stop_server(server)
    raise AssertionError(f"server did not answer /health in {timeout} s:\n{log.read_text()}")


def stop_server(server: Server) -> int:
    """SIGTERM, as a container runtime would; returns the exit code."""
    assert server.process is not None
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


def model_environment(paths: ProjectPaths) -> dict[str, str]:
    return {
        "CONVEYOR_MODEL_PATH": str(paths.onnx_model),
        "CONVEYOR_SIGNATURE_PATH": str(paths.signature),
        "CONVEYOR_MAX_BATCH": "1000",
        "CONVEYOR_MAX_BODY_BYTES": "2000000",
    }


@pytest.fixture(scope="session")
def server(
    pipeline_outputs: ProjectPaths, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    running = start_server(BIN / "conveyor-serve", model_environment(pipeline_outputs), log)
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def signature(pipeline_outputs: ProjectPaths) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(pipeline_outputs.signature.read_text())
    return document


def example_record(signature: Mapping[str, Any]) -> dict[str, Any]:
    """A valid record built from the signature: median-ish numbers, a known category."""
    record: dict[str, Any] = {}
    for field in signature["inputs"]:
        if field["type"] == "number":
            reference = signature["reference"][field["name"]]
            record[field["name"]] = reference["mean"]
        else:
            record[field["name"]] = field["categories"][0]
    return record


def released_inputs() -> list[dict[str, Any]]:
    """The released model's inputs, read when tests are collected.

    Tests that need an input of one type (a number to send as text, a category to misspell)
    are generated only for the types the team's model has: a model of numbers only has no
    category to misspell. Before the pipeline has run there is no signature; then every case
    is generated and the `pipeline_outputs` fixture fails each one, naming the missing files.
    """
    path = ProjectPaths(ROOT).signature
    stand_in = [{"name": "number", "type": "number"}, {"name": "category", "type": "string"}]
    if not path.exists():
        return stand_in
    try:
        inputs: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["inputs"]
    except (ValueError, KeyError):
        return stand_in  # the server's own checks report the broken file
    return inputs


def input_types() -> set[str]:
    """JSON types among the released model's inputs ("number", "string")."""
    return {field["type"] for field in released_inputs()}
