"""Load the two sides of the report: the working tree, and a git revision of it.

Metrics, gates and params are committed files, so the base branch's numbers come straight
from git: no cache, no remote and no second pipeline run is needed to compare with `main`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from conveyor.errors import ConveyorError
from conveyor.paths import ProjectPaths
from conveyor.report import ModelState
from conveyor.verdict import Verdict, load_verdict


def _load(text: str | None, parse: Any) -> Any:
    return None if text is None else parse(text)


def _verdict(text: str | None, where: str) -> Verdict | None:
    """gates.json read into the shared type; a file it cannot read is named, not a crash."""
    if text is None:
        return None
    try:
        document: Any = json.loads(text)
    except ValueError:
        document = text  # not JSON at all: `load_verdict` names the file like any other misfit
    return load_verdict(document, where)


def _base_verdict(text: str | None, where: str) -> Verdict | None:
    """The base's gates serve only the "(was ...)" notes: a file an older or newer version
    wrote must not stop the report of this branch, so one this version cannot read counts
    as absent."""
    try:
        return _verdict(text, where)
    except ConveyorError:
        return None


def data_hash(lock_text: str | None) -> str | None:
    """The hash dvc.lock records for the prepare stage's raw data (its first dependency that
    is not code): the same data gives the same hash on both sides."""
    lock = _load(lock_text, yaml.safe_load) or {}
    deps = ((lock.get("stages") or {}).get("prepare") or {}).get("deps") or []
    for dep in deps:
        path = str(dep.get("path", ""))
        if not path.startswith("src/") and (dep.get("md5") or dep.get("hash")):
            return str(dep.get("md5") or dep.get("hash"))
    return None


def from_tree(paths: ProjectPaths, params: Path, label: str) -> ModelState:
    """This checkout's outputs."""

    def read(path: Path) -> str | None:
        return path.read_text(encoding="utf-8") if path.exists() else None

    return ModelState(
        label=label,
        metrics=_load(read(paths.metrics), json.loads) or {},
        params=_load(read(params), yaml.safe_load) or {},
        gates=_verdict(read(paths.gates), str(paths.gates)),
        slices=_load(read(paths.slices), json.loads) or {},
        fairness=_load(read(paths.fairness), json.loads) or {},
        data_hash=data_hash(read(paths.root / "dvc.lock")),
    )


def from_git(paths: ProjectPaths, params: Path, revision: str) -> ModelState:
    """The same files as committed at `revision` (absent files give empty sections)."""

    def show(path: Path) -> str | None:
        relative = path.resolve().relative_to(paths.root.resolve())
        completed = subprocess.run(
            ["git", "show", f"{revision}:{relative.as_posix()}"],
            cwd=paths.root,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode == 0:
            return completed.stdout
        if "invalid object name" in completed.stderr or "unknown revision" in completed.stderr:
            raise ConveyorError(
                f"git revision {revision!r} is not known here; fetch it first "
                f"(e.g. `git fetch origin {revision}`)"
            )
        return None

    return ModelState(
        label=revision,
        metrics=_load(show(paths.metrics), json.loads) or {},
        params=_load(show(params), yaml.safe_load) or {},
        gates=_base_verdict(show(paths.gates), f"{revision}:{paths.gates.name}"),
        data_hash=data_hash(show(paths.root / "dvc.lock")),
    )


def _git(root: Path, *args: str) -> str | None:
    completed = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=False
    )
    return completed.stdout if completed.returncode == 0 else None


def code_changes(root: Path, revision: str) -> tuple[str, ...] | None:
    """Files under src/ this checkout changed since it left `revision` (the merge base, as
    GitHub's pull request diff counts them); None when the history is not here."""
    listed = _git(root, "diff", "--name-only", f"{revision}...HEAD", "--", "src")
    return None if listed is None else tuple(line for line in listed.splitlines() if line)


def head_commit(root: Path) -> str | None:
    found = _git(root, "rev-parse", "HEAD")
    return found.strip() if found else None


def model_digest(path: Path) -> str | None:
    """A model file's sha256: the comparison records the challenger's, and the report warns
    when this checkout's differs (a comparison of another model must not pass for this one's)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def monitoring_sections(reports: Iterable[Path]) -> tuple[str, ...]:
    """The markdown `conveyor drift` and `conveyor monitor` wrote beside their JSON, for the
    report to include when present (a retrain pull request carries its drift this way)."""
    found = (report.with_suffix(".md") for report in reports)
    return tuple(path.read_text(encoding="utf-8") for path in found if path.is_file())


def read_comparison(path: Path) -> dict[str, Any] | None:
    """`reports/comparison.json`, when `conveyor compare` wrote one."""
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise ConveyorError(f"{path} is not valid JSON: run `make compare` again") from None
    if not isinstance(document, dict) or document.get("schema_version") != 1:
        raise ConveyorError(f"{path} was written by another version: run `make compare` again")
    load_verdict(document.get("verdict"), str(path))  # a malformed verdict: named, exit 2
    return document
