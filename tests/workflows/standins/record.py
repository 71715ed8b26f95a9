"""Shared by the stand-ins: append one JSON line describing a call to $STANDIN_LOG."""

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


if __name__ == "__main__":
    record(sys.argv[1], sys.argv[2:])
