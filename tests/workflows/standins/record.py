"""Shared by the stand-ins: append one JSON line describing a call to $STANDIN_LOG; where the
services' state lives (the registry, releases, attestations, deployments): $STANDIN_REMOTE,
a folder a test shares between runs as GitHub and a registry outlive a workflow run, else
$STANDIN_STATE."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def record(tool: str, args: list[str], **extra: Any) -> None:
    log = os.environ.get("STANDIN_LOG")
    if not log:
        return
    entry = {"tool": tool, "args": args, "cwd": str(Path.cwd()), **extra}
    with Path(log).open("a", encoding="utf-8") as sink:
        sink.write(json.dumps(entry) + "\n")


def remote_state(name: str) -> Path:
    """The file (or folder) `name` of the services' state."""
    folder = os.environ.get("STANDIN_REMOTE") or os.environ.get("STANDIN_STATE", "/tmp")
    return Path(folder) / name


def load_json(name: str, default: Any) -> Any:
    path = remote_state(name)
    return json.loads(path.read_text()) if path.exists() else default


def save_json(name: str, value: Any) -> None:
    remote_state(name).write_text(json.dumps(value, indent=1, sort_keys=True))


if __name__ == "__main__":
    record(sys.argv[1], sys.argv[2:])
