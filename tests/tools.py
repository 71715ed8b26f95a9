"""Installing the tools some tests need, the same way for each: a script in scripts/ installs
what is missing (apt packages, npm packages), says what it settled on as `TOOL=PATH`, and
fails with what to install when it cannot. A fresh clone needs nothing set up by hand."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class ToolsError(RuntimeError):
    """A tools script could not install or name its tool."""


def install_tool(script: Path, tool: str, error: type[ToolsError] = ToolsError) -> str:
    """Run `script` and return the path it names for `tool` (its last `tool=PATH` line)."""
    try:
        done = subprocess.run(
            ["bash", str(script)],
            cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as late:
        raise error(f"{script.name} took over {late.timeout:.0f} s") from late
    if done.returncode != 0:
        raise error(f"{script.name} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    found = re.findall(rf"^{re.escape(tool)}=(.+)$", done.stdout, re.MULTILINE)
    if not found:
        raise error(f"{script.name} named no {tool}:\n{done.stdout}")
    return str(found[-1])
