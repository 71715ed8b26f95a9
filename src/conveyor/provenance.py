"""What an exported model is a function of: its data, its parameters and its code, as hashes.

These hashes, not the git commit, travel in `signature.json` and the model card. A commit
changes with every edit anywhere in the repository (a README typo), so recording it made
`dvc.lock` change on every export and impossible to check; the hashes change exactly when
an input DVC tracks for the export stage changes. The commit is stamped on the serving image
instead (`CONVEYOR_GIT_SHA`), where it belongs.

The code a stage runs is computed from its imports (`stage_code`); the test of `dvc.yaml`
uses the same function, so the code hash covers exactly the files DVC tracks as deps.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

PACKAGE = "conveyor"
SOURCE_ROOT = Path(__file__).resolve().parents[1]
"""The folder holding the `conveyor` package (`src/` in a checkout)."""


def _module_file(name: str, source_root: Path) -> Path | None:
    base = source_root.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def stage_code(module: str, source_root: Path = SOURCE_ROOT) -> set[Path]:
    """Every conveyor source file `module` imports, directly or not (packages included).

    Read from the source with `ast`, never by importing: it must also see imports made inside
    functions, which is how the CLI keeps each stage from loading the others' code.
    """
    seen: set[Path] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        path = _module_file(name, source_root)
        if path is None or path in seen:
            continue
        seen.add(path)
        parts = name.split(".")
        for depth in range(1, len(parts)):
            package = _module_file(".".join(parts[:depth]), source_root)
            if package is not None:
                seen.add(package)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
                assert node.module is not None
                pending.append(node.module)
                pending.extend(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                pending.extend(a.name for a in node.names if a.name.startswith(PACKAGE))
    return seen


def code_sha256(files: Iterable[Path], source_root: Path = SOURCE_ROOT) -> str:
    """One hash over the files' paths and contents, order-independent.

    It is the sha256 of what `cd src && sha256sum <files sorted by path>` prints, so anyone
    can recompute it with the shell.
    """
    lines = []
    for path in sorted(files, key=lambda p: p.relative_to(source_root).as_posix()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(source_root).as_posix()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def tracked_values(settings: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The values of dotted `keys` (as DVC names params: `model.threshold`) in the settings."""
    values: dict[str, Any] = {}
    for key in keys:
        value: Any = settings
        for part in key.split("."):
            value = value[part]
        values[key] = value
    return values


def params_sha256(values: Mapping[str, Any]) -> str:
    """The sha256 of the canonical JSON (sorted keys, no spaces) of the given values."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
