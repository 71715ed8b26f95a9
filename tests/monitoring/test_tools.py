"""scripts/monitoring-tools.sh: names the promtool it settled on, or says why there is none.

A fresh clone's first monitoring test runs it (tests/monitoring/conftest.py); here it runs in
the three situations it must tell apart: promtool available, a PROMTOOL that is no program,
and no promtool with no means to install one.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import ROOT
from tests.monitoring.promtool import MONITORING_TOOLS


def run_tools(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(MONITORING_TOOLS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def test_it_names_a_promtool_that_runs(promtool_path: str) -> None:
    done = run_tools(dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"promtool={promtool_path}"
    version = subprocess.run(
        [promtool_path, "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0 and "promtool" in version.stdout + version.stderr


def test_a_promtool_setting_that_is_no_program_stops_it(tmp_path: Path) -> None:
    done = run_tools({**os.environ, "PROMTOOL": str(tmp_path / "promtool")})
    assert done.returncode == 1
    assert f"PROMTOOL={tmp_path / 'promtool'} is not an executable file" in done.stderr
    assert "promtool=" not in done.stdout


def test_without_promtool_or_apt_it_says_what_to_install(tmp_path: Path) -> None:
    """An empty PATH: no promtool and no apt-get (as on macOS), so nothing can be
    installed and the message must say what to do instead."""
    env = {key: value for key, value in os.environ.items() if key != "PROMTOOL"}
    done = run_tools({**env, "PATH": str(tmp_path)})
    assert done.returncode == 1
    assert "no promtool on PATH, and apt-get cannot install it here" in done.stderr
    assert "PROMTOOL=/path/to/promtool" in done.stderr
