"""The servers `bench/serve.py` measures conveyor-serve against; nothing ships them.

Each peer module offers `peer(scratch, root) -> Peer`: it prepares what the server needs
(a throwaway virtual environment for servers that are not the project's dependencies, the
model in the form that server loads) under `scratch`, and says how to start it and how to
talk to it. A peer that cannot be installed or started here raises `PeerUnavailableError` with
the reason, which the benchmark prints in its results instead of a row.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

# The project's versions, installed beside a peer that loads the pipeline: the pipeline is
# pickled here, so unpickling it there needs the same scikit-learn (pickles are not portable
# across its versions), and the same pandas and numpy make the DataFrame it builds behave as
# the naive server's.
SAME_AS_PROJECT = ("scikit-learn", "pandas", "numpy")


class PeerUnavailableError(RuntimeError):
    """This peer cannot run on this machine; the message says why."""


def records_body(records: list[dict[str, Any]]) -> bytes:
    """conveyor-serve's request body: the records as a JSON list."""
    return json.dumps(records).encode()


def predictions_probabilities(body: bytes) -> list[float]:
    """The probabilities of conveyor-serve's reply body (`{"predictions": [{"probability"}]}`),
    the shape every peer but MLServer answers in."""
    return [float(p["probability"]) for p in json.loads(body)["predictions"]]


def uvicorn_command(target: str) -> list[str]:
    """One uvicorn worker serving `target` (module:attribute) on the benchmark's port."""
    return [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", "{port}",
            "--log-level", "warning", "--no-access-log"]  # fmt: skip


@dataclass(frozen=True)
class Peer:
    """A server to measure: how to start it and what to send it.

    `command` and `env` values may hold `{port}`, replaced with the port to listen on
    (127.0.0.1 only). `encode` turns records (the dicts conveyor-serve takes) into this
    server's request body; `probabilities` reads the positive-class probabilities back from
    its response body, so the benchmark checks that every server gives the same answers
    before it measures any of them. Both default to conveyor-serve's own contract.
    """

    name: str
    command: list[str]
    encode: Callable[[list[dict[str, Any]]], bytes] = records_body
    probabilities: Callable[[bytes], list[float]] = predictions_probabilities
    predict_path: str = "/predict"
    health_path: str = "/health"
    env: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def throwaway_environment(directory: Path, uv: Path, packages: list[str], who: str) -> Path:
    """A venv at `directory` with `packages` and the project's scikit-learn, pandas and numpy,
    installed by the project's pinned uv (never into the project's lock); its python."""
    pins = [f"{name}=={version(name)}" for name in SAME_AS_PROJECT]
    _install_step([str(uv), "venv", "--quiet", "--python", sys.executable, str(directory)], who)
    python = directory / "bin" / "python"
    _install_step(
        [str(uv), "pip", "install", "--quiet", "--python", str(python), *packages, *pins], who
    )
    return python


def _install_step(command: list[str], who: str) -> None:
    """Run an install step; a failure makes the peer unavailable, with the tool's last line."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:  # no uv at root/.tools/bin
        raise PeerUnavailableError(f"{who}: cannot run {command[0]}: {error}") from None
    if completed.returncode != 0:
        lines = (completed.stderr or completed.stdout).strip().splitlines() or ["no output"]
        raise PeerUnavailableError(f"{who}: `{Path(command[0]).name}` failed: {lines[-1]}")
