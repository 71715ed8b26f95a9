"""scripts/kubernetes-tools.sh: names the kubectl it settled on, or says why there is none.

A fresh clone's first manifest test runs it (tests/deploy/kubernetes.py); here it runs in the
three situations it must tell apart: kubectl available, a KUBECTL that is no program, and no
kubectl with no means to install one.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.deploy.kubernetes import KUBERNETES_TOOLS, KubernetesToolsError, ensure_kubectl


def run_tools(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(KUBERNETES_TOOLS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def test_it_names_a_kubectl_that_renders_kustomizations() -> None:
    try:
        kubectl = ensure_kubectl()
    except KubernetesToolsError as error:  # never a skip: the reason is the failure
        pytest.fail(str(error))
    done = run_tools(dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"kubectl={kubectl}"
    rendered = subprocess.run(
        [kubectl, "kustomize", "--help"], capture_output=True, text=True, check=False
    )
    assert rendered.returncode == 0 and "kustomization" in rendered.stdout


def test_a_kubectl_setting_that_is_no_program_stops_it(tmp_path: Path) -> None:
    done = run_tools({**os.environ, "KUBECTL": str(tmp_path / "kubectl")})
    assert done.returncode == 1
    assert f"KUBECTL={tmp_path / 'kubectl'} is not an executable file" in done.stderr
    assert "kubectl=" not in done.stdout


def test_without_kubectl_or_apt_it_says_what_to_install(tmp_path: Path) -> None:
    """An empty PATH: no kubectl and no apt-get (as on macOS), so nothing can be installed and
    the message must say what to do instead."""
    env = {key: value for key, value in os.environ.items() if key != "KUBECTL"}
    done = run_tools({**env, "PATH": str(tmp_path)})
    assert done.returncode == 1
    assert "apt-get is not here: install kubernetes-client yourself" in done.stderr
    assert "no kubectl on PATH, and it could not be installed here" in done.stderr
    assert "KUBECTL=/path/to/kubectl" in done.stderr
