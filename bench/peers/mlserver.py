"""MLServer with its stock scikit-learn runtime, serving the project's pipeline.

The pipeline is exported with joblib (what `mlserver_sklearn.SKLearnModel` loads) into a
throwaway virtual environment holding MLServer and the project's own scikit-learn, pandas and
numpy, so the pickle loads and predicts exactly as it does here. Requests use the V2 inference
protocol with the pandas codec: one input per column, the request's `pd` content type makes the
runtime build a DataFrame, and asking for the `predict_proba` output makes it call
`Pipeline.predict_proba` on it, the same work as `bench/naive_server.py`.

The server runs as ONE process (`parallel_workers=0`); on SIGTERM it stops with no child left
behind (checked when this module was written).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]  # no stubs; the project's mypy config lists none

from bench.peers import Peer, throwaway_environment
from conveyor.modelio import load_model
from conveyor.paths import ProjectPaths

MLSERVER = "1.7.1"
MODEL_NAME = "conveyor"


def peer(scratch: Path, root: Path) -> Peer:
    """Install MLServer under `scratch`, export the model there, and say how to serve it."""
    uv = root / ".tools" / "bin" / "uv"
    python = throwaway_environment(
        scratch / "venv", uv, [f"mlserver=={MLSERVER}", f"mlserver-sklearn=={MLSERVER}"], "MLServer"
    )
    repository = scratch / "models"
    _export_model(ProjectPaths(root).model, repository / MODEL_NAME)
    signature = json.loads(ProjectPaths(root).signature.read_text(encoding="utf-8"))
    inputs: list[dict[str, Any]] = signature["inputs"]
    positive_index: int = signature["output"]["positive_index"]

    def encode(records: list[dict[str, Any]]) -> bytes:
        return json.dumps(v2_request(records, inputs)).encode()

    def probabilities(body: bytes) -> list[float]:
        return positive_probabilities(json.loads(body), positive_index)

    return Peer(
        name=f"MLServer {MLSERVER} (scikit-learn runtime)",
        command=[str(python.parent / "mlserver"), "start", str(repository)],
        encode=encode,
        probabilities=probabilities,
        predict_path=f"/v2/models/{MODEL_NAME}/infer",
        health_path=f"/v2/models/{MODEL_NAME}/ready",
        env=_server_environment(scratch),
    )


def _export_model(skops_file: Path, folder: Path) -> None:
    """The pipeline as `model.joblib` beside the model-settings.json MLServer discovers.

    No `predict_fn` default is set: each request names `predict_proba` as its output, so the
    body says what is computed.
    """
    folder.mkdir(parents=True)
    joblib.dump(load_model(skops_file), folder / "model.joblib")
    settings = {
        "name": MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }
    (folder / "model-settings.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")


def _server_environment(scratch: Path) -> dict[str, str]:
    """MLServer's settings, as MLSERVER_* variables (its settings.json would ignore them).

    - `parallel_workers=0`: inference runs in the server process itself. With 1 (the default)
      MLServer forks a worker and ships every request to it over a queue: two processes and an
      IPC hop per request, where the naive server has one uvicorn process.
    - gRPC cannot be switched off in 1.7.1 and the metrics server, kept because its middleware
      is part of MLServer's default request path, listens on its own port; both take port 0
      (the kernel picks a free one) since `{port}` is the only port the benchmark hands out.
    - `debug` is on by default (DEBUG logging); production deployments turn it off.
    - The metrics and environments folders default to the working directory (the project
      root under the benchmark); they go to `scratch` instead.
    """
    return {
        "MLSERVER_HOST": "127.0.0.1",
        "MLSERVER_HTTP_PORT": "{port}",
        "MLSERVER_GRPC_PORT": "0",
        "MLSERVER_METRICS_PORT": "0",
        "MLSERVER_PARALLEL_WORKERS": "0",
        "MLSERVER_DEBUG": "false",
        "MLSERVER_METRICS_DIR": str(scratch / "metrics"),
        "MLSERVER_ENVIRONMENTS_DIR": str(scratch / "envs"),
    }


def v2_request(records: list[dict[str, Any]], inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """A V2 inference request for `records`, as MLServer's own `PandasCodec.encode_request`.

    Numbers go as FP32 (the runtime builds float32 columns, as `model_inputs` does; null
    becomes NaN). A V2 BYTES tensor cannot hold null, so a missing category is sent as the
    signature's `missing_value` (""), which is what `model_inputs` turns it into on the naive
    server; the pipeline imputes it.
    """
    columns = []
    for field in inputs:
        name = field["name"]
        column: dict[str, Any] = {"name": name, "shape": [len(records), 1]}
        if field["type"] == "number":
            column |= {"datatype": "FP32", "data": [r[name] for r in records]}
        else:
            missing = field.get("missing_value", "")
            column |= {
                "datatype": "BYTES",
                "parameters": {"content_type": "str"},
                "data": [missing if r[name] is None else r[name] for r in records],
            }
        columns.append(column)
    return {
        "parameters": {"content_type": "pd"},
        "inputs": columns,
        "outputs": [{"name": "predict_proba"}],
    }


def positive_probabilities(response: dict[str, Any], positive_index: int) -> list[float]:
    """The positive column of the `predict_proba` output (row-major, one row per record)."""
    (output,) = response["outputs"]
    rows, classes = output["shape"]
    data: list[float] = output["data"]
    return [float(data[row * classes + positive_index]) for row in range(rows)]
