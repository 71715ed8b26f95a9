"""Run the real workflow files with nektos/act in host mode, offline.

Third-party actions are replaced by the stand-ins under `standins/actions` (matched by their
exact pinned SHA, so a re-pinned action without a stand-in fails loudly), and `docker`, `gh`
and `npx` by recording stand-ins on PATH. Each run works on a fresh copy of the project with
its own git history, so act sees committed files only, as GitHub would.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import BIN, ROOT, copy_repository

STANDINS = ROOT / "tests" / "workflows" / "standins"
REPOSITORY = "conveyor-ml/conveyor"
# The Makefile's SUITES: what CI's test step (`make suites`) selects; test_static ties them.
SUITES = "not workflows and not container"
USES = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})")
ACTION_DIRS = {
    "actions/setup-python": "setup-python",
    "actions/cache": "cache",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "actions/attest": "attest",
    "docker/setup-buildx-action": "setup-buildx-action",
    "docker/login-action": "login-action",
    "docker/metadata-action": "metadata-action",
    "docker/build-push-action": "build-push-action",
    "aquasecurity/trivy-action": "trivy-action",
}


def pinned_actions() -> set[tuple[str, str]]:
    """Every (action, sha) the workflows and local actions use, except actions/checkout."""
    found = set()
    for path in (ROOT / ".github").rglob("*.yml"):
        for name, sha in USES.findall(path.read_text()):
            if name != "actions/checkout":
                found.add((name, sha))
    return found


def make_project(destination: Path, edit: Mapping[str, str] | None = None) -> Path:
    """A copy of the project in its own repository, with a GitHub origin for act to read."""
    copy_repository(destination, dict(edit or {}))
    subprocess.run(
        ["git", "remote", "add", "origin", f"https://github.com/{REPOSITORY}.git"],
        cwd=destination, check=True,
    )  # fmt: skip
    return destination


def hash_files(path: Path) -> str:
    """GitHub's `hashFiles()` of one file: the SHA-256 of the file's SHA-256 digest."""
    return hashlib.sha256(hashlib.sha256(path.read_bytes()).digest()).hexdigest()


def uv_cache() -> str:
    return os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv")


def head_sha(project: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()


@dataclass(frozen=True)
class ActRun:
    code: int
    output: str
    calls: list[dict[str, Any]]
    artifacts: Path

    def called(self, tool: str, *prefix: str) -> list[dict[str, Any]]:
        """What the stand-in for `tool` recorded, only the calls whose arguments start so."""
        return [
            c for c in self.calls
            if c["tool"] == tool and c["args"][: len(prefix)] == list(prefix)
        ]  # fmt: skip


def run_act(
    project: Path,
    scratch: Path,
    *,
    event: str,
    workflow: str,
    payload: Mapping[str, Any],
    job: str | None = None,
    env: Mapping[str, str] | None = None,
    pulls: Mapping[str, str] | None = None,
    timeout: float = 900,
    pull_requests: Mapping[str, Mapping[str, Any]] | None = None,
    github_instance: str | None = None,
) -> ActRun:
    """One act run of `workflow` on `event`; returns its output and what the stand-ins saw.

    `pulls` gives the gh stand-in pull requests by their head SHA alone; `pull_requests`, the
    pull requests as the API shows them (`head.sha`, `head.ref`, `head.repo.full_name`).
    `github_instance` (`HOST:PORT`) makes act present that server as GitHub, as GitHub
    Enterprise Server would be: `github.server_url` is then `https://HOST:PORT`.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    log, artifacts = scratch / "calls.jsonl", scratch / "artifacts"
    artifacts.mkdir(exist_ok=True)
    event_file = scratch / "event.json"
    event_file.write_text(json.dumps(payload))
    pulls_file = scratch / "pulls.json"
    pulls_file.write_text(json.dumps({**(pulls or {}), **(pull_requests or {})}))
    command = [
        str(BIN / "act"), event,
        "-W", f".github/workflows/{workflow}",
        "-e", str(event_file),
        "-P", "ubuntu-latest=-self-hosted",
        "--action-offline-mode",
        "-s", "GITHUB_TOKEN=standin-token",
        "--env", f"STANDIN_DIR={STANDINS}",
        "--env", f"STANDIN_LOG={log}",
        "--env", f"STANDIN_ARTIFACTS={artifacts}",
        "--env", f"STANDIN_PULLS={pulls_file}",
        "--env", f"STANDIN_STATE={scratch}",
        "--env", f"PATH={STANDINS / 'bin'}{os.pathsep}{os.environ['PATH']}",
        # The runner's own caches stay where they are, as on a warm self-hosted runner.
        "--env", f"UV_CACHE_DIR={uv_cache()}",
        "--env", f"PIP_CACHE_DIR={Path.home() / '.cache' / 'pip'}",
    ]  # fmt: skip
    # The runner's thread budget, as a runner's own environment would set it (`make test`: one
    # OpenMP thread per process, since two lanes share the cores).
    threads = (
        {"OMP_NUM_THREADS": os.environ["OMP_NUM_THREADS"]}
        if "OMP_NUM_THREADS" in os.environ
        else {}
    )
    for name, value in {**threads, **(env or {})}.items():
        command += ["--env", f"{name}={value}"]
    for action, sha in sorted(pinned_actions()):
        command += [
            "--local-repository",
            f"{action}@{sha}={STANDINS / 'actions' / ACTION_DIRS[action]}",
        ]
    if job:
        command += ["-j", job]
    if github_instance:
        command += ["--github-instance", github_instance]
    completed = subprocess.run(
        command, cwd=project, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "HOME": str(scratch / "home")},
    )  # fmt: skip
    (scratch / "act-output.txt").write_text(completed.stdout + completed.stderr)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return ActRun(completed.returncode, completed.stdout + completed.stderr, calls, artifacts)


def manifest_digest(manifest: str) -> str:
    """A manifest's digest, as a registry reports it: the SHA-256 of its bytes."""
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


def registry_digests(remote: Path) -> dict[str, str]:
    """What the registry stand-in (standins/registry.py) serves: reference -> digest."""
    tags = json.loads((remote / "registry.json").read_text())
    return {reference: manifest_digest(manifest) for reference, manifest in tags.items()}


INJECTION_MARKER = "/tmp/conveyor-act-injected"
"""The file a pull request's title or branch would create if any reached a shell."""
INJECTION_TITLE = (
    f'"; touch {INJECTION_MARKER}; echo "$(touch {INJECTION_MARKER})`touch {INJECTION_MARKER}`'
)


def pull_request_event(sha: str, number: int = 7) -> dict[str, Any]:
    """A `pull_request` event whose title and branch name carry shell metacharacters."""
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "title": INJECTION_TITLE,
            "head": {"sha": sha, "ref": f"feature/$(touch {INJECTION_MARKER})"},
            "base": {"ref": "main"},
        },
        "repository": {"default_branch": "main", "full_name": REPOSITORY},
    }


def step_ok(run: ActRun, step: str) -> bool:
    return f"✅  Success - Main {step}" in run.output


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def pytest_outcomes(output: str) -> dict[str, int]:
    """The counts of the last pytest summary line in `output` ("12 passed, 3 deselected")."""
    summaries = re.findall(r"=+ ([^=\n]*?) in [\d.]+s(?: \([^)]*\))? =+", ANSI.sub("", output))
    assert summaries, output[-4000:]
    return {word: int(count) for count, word in re.findall(r"(\d+) (\w+)", summaries[-1])}
