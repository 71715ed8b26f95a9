"""Start-up checks, graceful shutdown, fuzzing, and the runtime-only environment."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conveyor.paths import ProjectPaths
from conveyor.serve.settings import ServeSettings, SettingsError
from tests.conftest import BIN, ROOT, UV
from tests.serve.conftest import (
    Server,
    example_record,
    model_environment,
    start_server,
    stop_server,
)


def _refusal(environment: dict[str, str]) -> str:
    completed = subprocess.run(
        [str(BIN / "conveyor-serve")],
        env={**os.environ, "CONVEYOR_PORT": "1", **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    return completed.stderr


def test_refuses_to_start_without_a_model(tmp_path: Path, pipeline_outputs: ProjectPaths) -> None:
    message = _refusal(
        {**model_environment(pipeline_outputs), "CONVEYOR_MODEL_PATH": str(tmp_path / "no.onnx")}
    )
    assert f"model file {tmp_path / 'no.onnx'} does not exist" in message


def test_refuses_a_signature_from_another_model(
    tmp_path: Path, pipeline_outputs: ProjectPaths
) -> None:
    document = json.loads(pipeline_outputs.signature.read_text())
    document["inputs"] = document["inputs"][1:]
    forged = tmp_path / "signature.json"
    forged.write_text(json.dumps(document))
    message = _refusal(
        {**model_environment(pipeline_outputs), "CONVEYOR_SIGNATURE_PATH": str(forged)}
    )
    assert "model.onnx and signature.json describe different models" in message


def test_refuses_a_broken_signature(tmp_path: Path, pipeline_outputs: ProjectPaths) -> None:
    broken = tmp_path / "signature.json"
    broken.write_text("{")
    message = _refusal(
        {**model_environment(pipeline_outputs), "CONVEYOR_SIGNATURE_PATH": str(broken)}
    )
    assert "is not readable JSON" in message


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("CONVEYOR_PORT", "eighty", "CONVEYOR_PORT must be a whole number"),
        ("CONVEYOR_MAX_BATCH", "0", "CONVEYOR_MAX_BATCH must be between 1"),
        ("CONVEYOR_LOG_LEVEL", "loud", "CONVEYOR_LOG_LEVEL must be one of"),
    ],
)
def test_bad_settings_are_named(variable: str, value: str, needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        ServeSettings.from_environment({variable: value})


def test_sigterm_stops_the_server_promptly(tmp_path: Path, pipeline_outputs: ProjectPaths) -> None:
    server = start_server(
        BIN / "conveyor-serve", model_environment(pipeline_outputs), tmp_path / "log"
    )
    started = time.monotonic()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why.
    assert stop_server(server) in {0, -signal.SIGTERM}
    assert time.monotonic() - started < 2.0
    assert server.log is not None
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line]
    messages = [line["message"] for line in lines]
    assert "shutting down" in messages
    assert "Application shutdown complete." in messages
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_fuzzing_finds_no_server_error(server: Server, tmp_path: Path) -> None:
    """schemathesis generates valid and invalid requests from our OpenAPI document."""
    completed = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--max-examples",
            "60",
            "--seed",
            "20261123",
            "--workers",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-4000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", completed.stdout)
    assert generated, completed.stdout[-2000:]
    assert int(generated.group(1)) >= 100
    metrics = server.get("/metrics").body.decode()
    assert 'status="500"' not in metrics


def test_the_runtime_requirements_file_matches_the_lock(tmp_path: Path) -> None:
    """requirements/serve.txt is what the image installs: it must be the lock's runtime set."""
    exported = tmp_path / "serve.txt"
    subprocess.run(
        ["make", "--no-print-directory", "requirements", f"REQUIREMENTS={exported}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    committed = (ROOT / "requirements" / "serve.txt").read_text()
    assert _pins(exported.read_text()) == _pins(committed), "run `make requirements`"
    assert "scikit-learn" not in committed


def _pins(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_serving_needs_only_the_runtime_requirements(
    tmp_path: Path, pipeline_outputs: ProjectPaths, signature: dict[str, Any]
) -> None:
    uv = UV
    venv = tmp_path / "runtime"
    subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    requirements = ROOT / "requirements" / "serve.txt"
    install = [uv, "pip", "install", "--python", str(python), "--quiet"]
    subprocess.run([*install, "--require-hashes", "-r", str(requirements)], check=True)
    subprocess.run([*install, "--no-deps", str(ROOT)], check=True)
    # Pruned as in the image, so this proves the image's environment serves.
    subprocess.run(["bash", str(ROOT / "scripts" / "prune-runtime.sh"), str(venv)], check=True)
    assert not list(venv.glob("lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*"))
    absent = subprocess.run([str(python), "-c", "import sklearn"], capture_output=True, check=False)
    assert absent.returncode != 0, "the runtime environment must not contain scikit-learn"
    for training_library in ("pandas", "skl2onnx", "fairlearn", "dvc", "skops"):
        found = subprocess.run(
            [str(python), "-c", f"import {training_library}"], capture_output=True, check=False
        )
        assert found.returncode != 0, f"{training_library} is in the runtime environment"
    server = start_server(
        venv / "bin" / "conveyor-serve", model_environment(pipeline_outputs), tmp_path / "log"
    )
    try:
        reply = server.post_json("/predict", [example_record(signature)] * 2)
        assert reply.status == 200
        assert len(reply.json()["predictions"]) == 2
    finally:
        stop_server(server)
