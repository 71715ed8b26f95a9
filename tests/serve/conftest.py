"""A real server on 127.0.0.1: `conveyor-serve` in its own process, on a free port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conveyor.paths import ProjectPaths
from tests.conftest import BIN
from tests.serve.client import Server, example_record, free_port

__all__ = ["RunningServer", "Server", "example_record", "free_port", "start_server", "stop_server"]


@dataclass
class RunningServer(Server):
    """A server in a process of its own, with the file its output goes to."""

    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None


def start_server(
    command: Path | Sequence[str | Path],
    environment: Mapping[str, str],
    log: Path,
    timeout: float = 60,
    cwd: Path | None = None,
) -> RunningServer:
    """Start `command` (the conveyor-serve script, or python -m conveyor.serve) and wait
    for /health."""
    port = free_port()
    env = {
        **os.environ,
        "CONVEYOR_HOST": "127.0.0.1",
        "CONVEYOR_PORT": str(port),
        **environment,
    }
    with log.open("wb") as sink:
        argv = [str(part) for part in ([command] if isinstance(command, Path) else command)]
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=sink, stderr=sink)
    server = RunningServer(f"http://127.0.0.1:{port}", process, log)
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


def stop_server(server: RunningServer) -> int:
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
) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    running = start_server(BIN / "conveyor-serve", model_environment(pipeline_outputs), log)
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def signature(pipeline_outputs: ProjectPaths) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(pipeline_outputs.signature.read_text())
    return document
