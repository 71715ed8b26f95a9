"""What only a real process shows: the exit status of a refused start, graceful shutdown on
SIGTERM, fuzzing over HTTP, and serving from exactly the image's files and environment.

Why a start is refused (each settings and model-file problem) is a unit test in-process:
tests/unit/test_serve_main.py, test_serve_settings.py and test_serve_signature.py.
"""

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

from conveyor.paths import ProjectPaths
from tests.conftest import BIN, ROOT, UV
from tests.serve.client import example_record
from tests.serve.conftest import RunningServer, model_environment, start_server, stop_server
from tests.serve.image_layout import exec_form, lay_out_image
from tests.serve.tiny_model import write_model_files


def test_a_refused_start_exits_2_with_one_line(tmp_path: Path) -> None:
    """The console script's exit status and stream, which only a process shows: a container
    runtime restarts on it and the deployment log shows the one line."""
    files = write_model_files(tmp_path / "model")
    missing = tmp_path / "no.onnx"
    completed = subprocess.run(
        [str(BIN / "conveyor-serve")],
        env={
            **os.environ,
            "CONVEYOR_PORT": "1",
            "CONVEYOR_SIGNATURE_PATH": str(files.signature),
            "CONVEYOR_MODEL_PATH": str(missing),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stderr == (
        f"conveyor-serve: refusing to start: model file {missing} does not exist (set "
        "CONVEYOR_MODEL_PATH, or run `dvc repro` to produce models/model.onnx)\n"
    )


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


def test_fuzzing_finds_no_server_error(server: RunningServer, tmp_path: Path) -> None:
    """schemathesis generates valid and invalid requests from our OpenAPI document."""
    completed = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            # /predict's body is a record, a list or columns: 100 leaves records the share
            # 60 gave them before the columnar form
            "--max-examples",
            "100",
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
    """The image's environment serves: the locked runtime requirements, pruned as the image
    prunes them, and only the files the Dockerfile copies (honouring .dockerignore), started
    as its ENTRYPOINT starts them. Installing the conveyor package instead would hide a
    module `serve` imports but the image lacks."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    app = lay_out_image(ROOT, tmp_path / "image")
    image_env = {"PYTHONPATH": str(app), "PYTHONDONTWRITEBYTECODE": "1"}
    uv = UV
    venv = tmp_path / "runtime"
    subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    requirements = ROOT / "requirements" / "serve.txt"
    install = [uv, "pip", "install", "--python", str(python), "--quiet"]
    subprocess.run([*install, "--require-hashes", "-r", str(requirements)], check=True)
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
    located = subprocess.run(
        [str(python), "-c", "import conveyor.serve.app, conveyor; print(conveyor.__file__)"],
        env={**os.environ, **image_env},
        cwd=app,
        capture_output=True,
        text=True,
        check=False,
    )
    assert located.returncode == 0, located.stderr
    assert Path(located.stdout.strip()).is_relative_to(app), "conveyor came from elsewhere"
    entrypoint = exec_form(dockerfile, "ENTRYPOINT")
    assert entrypoint[0] == "python", entrypoint
    server = start_server(
        [python, *entrypoint[1:]],
        {**model_environment(pipeline_outputs), **image_env},
        tmp_path / "log",
        cwd=app,
    )
    try:
        reply = server.post_json("/predict", [example_record(signature)] * 2)
        assert reply.status == 200
        assert len(reply.json()["predictions"]) == 2
        healthcheck = exec_form(dockerfile, "HEALTHCHECK")
        assert healthcheck[0] == "python", healthcheck
        port = server.url.rsplit(":", 1)[1]
        healthy = subprocess.run(
            [str(python), *healthcheck[1:]],
            env={**os.environ, **image_env, "CONVEYOR_PORT": port},
            cwd=app,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert healthy.returncode == 0, healthy.stderr
    finally:
        stop_server(server)
