"""Every params key `dvc.yaml` tracks must be written in `params.yaml`, default or not.

Conveyor's settings have defaults, so a `params.yaml` without `evaluate:` is valid to Conveyor;
but DVC reads the raw file, and a stage that tracks `evaluate` stops `dvc repro` with
"Parameters 'evaluate' are missing from 'params.yaml'". Checked here, `conveyor check` and every
stage refuse such a file first, saying what to write. An empty mapping (`evaluate: {}`)
satisfies DVC's params tracking (verified with dvc 3.67, and by tests/pipeline/test_dvc.py)
and keeps Conveyor's defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conveyor.errors import ConfigError

DVC_DEFAULT_PARAMS = Path("params.yaml")
"""The file DVC reads a stage's plain `params:` entries from."""

_ABSENT = object()


@dataclass(frozen=True)
class MissingKey:
    """A key DVC tracks that the params file lacks, who tracks it, and what to write."""

    key: str
    stages: tuple[str, ...]
    fix: str

    def describe(self) -> str:
        plural = "s" if len(self.stages) > 1 else ""
        return f"{self.key} (tracked by stage{plural} {', '.join(self.stages)}): {self.fix}"


def tracked_keys(stages: Mapping[str, Any], params_file: Path) -> dict[str, tuple[str, ...]]:
    """The dotted keys the stages track in `params_file` (relative to dvc.yaml), with the
    stages that track each, in dvc.yaml's order. A file listed without keys is tracked
    whole, which asks for no particular key."""
    tracked: dict[str, tuple[str, ...]] = {}
    for stage, definition in stages.items():
        entries = (definition or {}).get("params") or []
        for entry in entries:
            if isinstance(entry, str):
                pairs: list[tuple[Path, Any]] = [(DVC_DEFAULT_PARAMS, [entry])]
            elif isinstance(entry, Mapping):
                pairs = [(Path(str(name)), keys) for name, keys in entry.items()]
            else:
                continue
            for file, keys in pairs:
                if file != params_file:
                    continue
                for key in keys or []:
                    tracked[str(key)] = (*tracked.get(str(key), ()), stage)
    return tracked


def _lookup(node: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def fix_for(key: str, raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """What to write so that `key` exists: `{}` for a section (Conveyor fills in its defaults),
    the default value for a leaf, nested under the deepest section that already exists."""
    parts = key.split(".")
    present = 0
    while present < len(parts) and _lookup(raw, parts[: present + 1]) is not _ABSENT:
        present += 1
    parent, remainder = parts[:present], parts[present:]
    where = f" under `{'.'.join(parent)}`" if parent else ""
    default = _lookup(defaults, parts)
    if default is _ABSENT:
        return (
            f"add `{_nested(remainder, '<value>')}`{where}; Conveyor has no default for it "
            "(or remove it from the stage's params in dvc.yaml)"
        )
    if isinstance(default, Mapping):
        return f"add `{_nested(remainder, '{}')}`{where} to use the defaults"
    return f"add `{_nested(remainder, json.dumps(default))}`{where} (the default)"


def _nested(parts: list[str], value: str) -> str:
    """`a: {b: value}` for parts [a, b]: one line of YAML flow style."""
    text = value
    for part in reversed(parts[1:]):
        text = f"{{{part}: {text}}}"
    return f"{parts[0]}: {text}"


def missing_keys(
    raw: Mapping[str, Any], defaults: Mapping[str, Any], tracked: Mapping[str, tuple[str, ...]]
) -> list[MissingKey]:
    """The tracked keys absent from the raw params, each with its fix."""
    return [
        MissingKey(key, stages, fix_for(key, raw, defaults))
        for key, stages in tracked.items()
        if _lookup(raw, key.split(".")) is _ABSENT
    ]


def check_tracked_params(
    raw: Mapping[str, Any],
    defaults: Mapping[str, Any],
    stages: Mapping[str, Any],
    params_path: Path,
    dvc_path: Path,
) -> None:
    """Refuse params that DVC would refuse: one message naming every missing key."""
    relative = Path(params_path.name)
    missing = missing_keys(raw, defaults, tracked_keys(stages, relative))
    if missing:
        lines = "\n".join(f"  {item.describe()}" for item in missing)
        raise ConfigError(
            f"{params_path} lacks keys that the stages in {dvc_path} track, so `dvc repro` "
            f'would stop with "Parameters ... are missing"; write them out even to keep '
            f"Conveyor's defaults:\n{lines}"
        )


def read_dvc_stages(path: Path) -> Mapping[str, Any]:
    """The `stages:` of a dvc.yaml, or a ConfigError naming the file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    stages = document.get("stages") if isinstance(document, Mapping) else None
    if stages is None:
        return {}
    if not isinstance(stages, Mapping):
        raise ConfigError(f"{path}: `stages` must be a mapping of stage names to definitions")
    return stages
