"""conveyor-serve itself, as a peer: this checkout's, and an earlier commit's for comparison.

The earlier commit runs from a git worktree with its own runtime environment, installed
from that commit's lock file (`uv sync --frozen --no-dev`), so "before" is the server as it
shipped then, not today's dependencies under yesterday's code. It serves the same fitted model
(this checkout's `model.skops`) as that commit's export code converts it: the graph is part of
what a commit ships, and the export's lookup encoding is part of what is measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.peers import Peer, PeerUnavailableError
from conveyor.paths import ProjectPaths


def peer(scratch: Path, root: Path) -> Peer:
    """This checkout's server, from the project's environment."""
    return _server("conveyor-serve", Path(sys.executable))


def columnar_peer(scratch: Path, root: Path) -> Peer:
    """This checkout's server, sent the rows in the columnar form."""
    columnar = _server("conveyor-serve, columnar bodies", Path(sys.executable))
    return replace(columnar, encode=columns_body)


def columns_body(records: list[dict[str, Any]]) -> bytes:
    """The same rows as `records_body`, as `{"columns": {input: [values]}}`."""
    return json.dumps(
        {"columns": {name: [r[name] for r in records] for name in records[0]}}
    ).encode()


def baseline_peer(scratch: Path, root: Path, revision: str) -> Peer:
    """The server at `revision`, in a worktree under `scratch` with that commit's runtime."""
    tree = scratch / "baseline"
    try:
        commit = _git(root, "rev-parse", "--short", f"{revision}^{{commit}}")
        _git(root, "worktree", "add", "--detach", str(tree), commit)
    except subprocess.CalledProcessError as error:
        raise PeerUnavailableError(f"no worktree of {revision}: {error.stderr.strip()}") from None
    uv = root / ".tools" / "bin" / "uv"
    venv = scratch / "baseline-venv"
    installed = subprocess.run(
        [str(uv), "sync", "--frozen", "--no-dev", "--quiet", "--project", str(tree)],
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON": sys.executable},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if installed.returncode != 0:
        lines = installed.stderr.strip().splitlines() or ["(no output)"]
        raise PeerUnavailableError(f"{commit}'s runtime did not install: {lines[-1]}")
    server = _server(f"conveyor-serve at {commit} (before)", venv / "bin" / "python")
    model = baseline_export(tree, ProjectPaths(root).model, baseline_model(scratch))
    return replace(server, env={**server.env, "CONVEYOR_MODEL_PATH": str(model)})


_EXPORT = """
import sys
from pathlib import Path
from conveyor.config import load_settings
from conveyor.export import to_onnx
from conveyor.modelio import load_model
tree, fitted, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
settings = load_settings(tree / "params.yaml")
out.write_bytes(to_onnx(load_model(fitted), settings.data, settings.export))
"""
"""This checkout's fitted model through `to_onnx` as the worktree's code (and params, which
its settings reader knows) define it."""


def baseline_model(scratch: Path) -> Path:
    """Where the baseline peer keeps its commit's export (the benchmark's floor reads it)."""
    return scratch / "model.onnx"


def baseline_export(tree: Path, fitted: Path, out: Path) -> Path:
    """The fitted model exported by the worktree's commit (its `src` first on the path, in
    the project's environment, which has the converter the serving runtime lacks)."""
    exported = subprocess.run(
        [sys.executable, "-c", _EXPORT, str(tree), str(fitted), str(out)],
        env={**os.environ, "PYTHONPATH": str(tree / "src")},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if exported.returncode != 0:
        lines = exported.stderr.strip().splitlines() or ["(no output)"]
        raise PeerUnavailableError(f"{tree.name}'s export did not run: {lines[-1]}")
    return out


def _server(name: str, python: Path) -> Peer:
    """`python -m conveyor.serve` on the benchmark's port, logging warnings only."""
    return Peer(
        name=name,
        command=[str(python), "-m", "conveyor.serve"],
        env={
            "CONVEYOR_PORT": "{port}",
            "CONVEYOR_HOST": "127.0.0.1",
            "CONVEYOR_LOG_LEVEL": "warning",
        },
    )


def remove_baseline(scratch: Path, root: Path) -> None:
    """Drop the worktree again, so the repository keeps no trace of the run."""
    tree = scratch / "baseline"
    if tree.exists():
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)],
                       capture_output=True, check=False)  # fmt: skip
    # And any worktree an interrupted run left registered under a deleted scratch directory.
    subprocess.run(["git", "-C", str(root), "worktree", "prune"], capture_output=True, check=False)


def _git(root: Path, *arguments: str) -> str:
    completed = subprocess.run(
        ["git", "-C", str(root), *arguments], capture_output=True, text=True, check=True
    )
    return completed.stdout.strip()
