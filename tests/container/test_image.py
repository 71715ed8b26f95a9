"""The real image: built from the Dockerfile, started, called, inspected and stopped.

Uses Docker when its engine answers, else podman (`scripts/container.sh` installs it on a
Debian machine and builds an offline base image when no registry is reachable).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from conveyor.paths import ProjectPaths
from tests.conftest import ROOT
from tests.serve.conftest import Server, example_record, free_port

pytestmark = pytest.mark.container

IMAGE = "localhost/conveyor-serve:test"
ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / ".tools" / "containers.conf")}


def _script(*args: str) -> str:
    completed = subprocess.run(
        ["bash", str(ROOT / "scripts" / "container.sh"), *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed.stdout


def _engine(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run docker or podman, whichever `scripts/container.sh engine` chose."""
    completed = subprocess.run(
        [_engine_name(), *args], env=ENV, capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


@functools.cache
def _engine_name() -> str:
    _script("setup")
    return _script("engine").strip()


@pytest.fixture(scope="module")
def image(pipeline_outputs: ProjectPaths) -> str:
    _script("build", IMAGE)
    return IMAGE


@pytest.fixture
def container(image: str) -> Iterator[tuple[str, Server]]:
    name = f"conveyor-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    try:
        _engine("run", "--detach", "--name", name, "--publish", f"127.0.0.1:{port}:8080", image)
        server = Server(url=f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while True:
            try:
                if server.get("/health").status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                logs = _engine("logs", name, check=False)
                pytest.fail(f"container never answered /health:\n{logs.stdout}{logs.stderr}")
            time.sleep(0.25)
        yield name, server
    finally:
        _engine("rm", "--force", name, check=False)


def test_the_image_serves_predictions(
    container: tuple[str, Server], pipeline_outputs: ProjectPaths
) -> None:
    _, server = container
    signature: dict[str, Any] = json.loads(pipeline_outputs.signature.read_text())
    reply = server.post_json("/predict", [example_record(signature)] * 5)
    assert reply.status == 200
    assert len(reply.json()["predictions"]) == 5
    assert (
        server.get("/metadata").json()["model"]["onnx_sha256"] == signature["model"]["onnx_sha256"]
    )


def test_the_image_runs_as_a_non_root_user(container: tuple[str, Server]) -> None:
    name, _ = container
    uid = _engine("exec", name, "python", "-c", "import os; print(os.getuid())").stdout.strip()
    assert uid != "0"
    assert int(uid) == 10001


def test_the_healthcheck_passes(container: tuple[str, Server]) -> None:
    name, _ = container
    if _engine_name() == "podman":
        _engine("healthcheck", "run", name)
    else:
        command = _engine("inspect", "--format", "{{json .Config.Healthcheck}}", name).stdout
        assert "conveyor.serve.healthcheck" in command
    assert _engine("exec", name, "python", "-m", "conveyor.serve.healthcheck").returncode == 0


def test_sigterm_stops_the_container_within_two_seconds(container: tuple[str, Server]) -> None:
    name, _ = container
    started = time.monotonic()
    _engine("stop", "--time", "10", name)
    assert time.monotonic() - started < 2.0
    state = json.loads(_engine("inspect", name).stdout)[0]["State"]
    assert state["Running"] is False
    logs = _engine("logs", name).stdout + _engine("logs", name).stderr
    assert "Application shutdown complete." in logs


def test_the_image_carries_labels_and_only_the_runtime(image: str) -> None:
    config = json.loads(_engine("inspect", image).stdout)[0]["Config"]
    labels = config["Labels"]
    for key in ("source", "revision", "version", "title", "description", "licenses"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert config["User"] == "10001:10001"
    assert "8080/tcp" in config["ExposedPorts"]
    probe = (
        "import importlib.util as u;"
        "print([m for m in ('sklearn', 'pandas', 'skl2onnx') if u.find_spec(m)])"
    )
    found = _engine("run", "--rm", "--entrypoint", "python", image, "-c", probe).stdout.strip()
    assert found == "[]"
