"""Is the committed `dvc.lock` (and the metrics beside it) what the pipeline produced? Pure
comparisons of already-read texts; `conveyor.outputs_check` reads them from git and disk.

`dvc.lock` is compared exactly, with one exception: the hashes of outputs kept in git rather
than the DVC cache (`cache: false` metrics and plots). Those files are compared by value
instead, numbers within an absolute tolerance, so a last-digit difference in a float printed
by another machine's BLAS is not a failure while a changed metric is.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

import yaml

TOLERANCE = 1e-6
LOCK_FILE = "dvc.lock"
MAX_REPORTED = 10
"""Differences listed per file; the rest are counted, so one broken file cannot flood CI."""


def value_outputs(stages: Mapping[str, Any]) -> set[str]:
    """The outputs dvc.yaml keeps out of the DVC cache (`cache: false`): git holds them."""
    found: set[str] = set()
    for definition in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for entry in (definition or {}).get(kind) or []:
                if isinstance(entry, Mapping):
                    for path, options in entry.items():
                        if isinstance(options, Mapping) and options.get("cache") is False:
                            found.add(str(path))
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numbers_match(committed: float, produced: float, tolerance: float) -> bool:
    if math.isnan(committed) or math.isnan(produced):
        return math.isnan(committed) and math.isnan(produced)
    return committed == produced or abs(committed - produced) <= tolerance


def _by_path(items: Sequence[Any]) -> dict[str, Any] | None:
    """dvc.lock lists deps and outs as `{path: ...}` entries: key them by path for messages
    that name the file (and for an order change that is no change)."""
    if items and all(isinstance(i, Mapping) and "path" in i for i in items):
        return {str(i["path"]): i for i in items}
    return None


def diff_values(committed: Any, produced: Any, where: str, tolerance: float) -> list[str]:
    """Every difference between two parsed documents, as `where: committed X, produced Y`."""
    name = where or "(top level)"
    if _is_number(committed) and _is_number(produced):
        if _numbers_match(float(committed), float(produced), tolerance):
            return []
        return [f"{name}: committed {committed!r}, produced {produced!r}"]
    if isinstance(committed, Mapping) and isinstance(produced, Mapping):
        return _diff_entries(
            committed, produced, lambda k: f"{where}.{k}" if where else k, tolerance
        )
    if isinstance(committed, list) and isinstance(produced, list):
        keyed_committed, keyed_produced = _by_path(committed), _by_path(produced)
        if keyed_committed is not None and keyed_produced is not None:
            return _diff_entries(
                keyed_committed, keyed_produced, lambda p: f"{where}[{p}]", tolerance
            )
        differences = []
        if len(committed) != len(produced):
            differences.append(
                f"{name}: committed {len(committed)} items, produced {len(produced)}"
            )
        for index, (old, new) in enumerate(zip(committed, produced, strict=False)):
            differences += diff_values(old, new, f"{where}[{index}]", tolerance)
        return differences
    if committed == produced and type(committed) is type(produced):  # True == 1 is no match
        return []
    return [f"{name}: committed {committed!r}, produced {produced!r}"]


def _diff_entries(
    committed: Mapping[Any, Any],
    produced: Mapping[Any, Any],
    name: Callable[[str], str],
    tolerance: float,
) -> list[str]:
    """Entries on one side only, then the differences of those on both."""
    differences = []
    for key in list(committed) + [k for k in produced if k not in committed]:
        inner = name(str(key))
        if key not in produced:
            differences.append(f"{inner}: committed, no longer produced")
        elif key not in committed:
            differences.append(f"{inner}: produced, not committed")
        else:
            differences += diff_values(committed[key], produced[key], inner, tolerance)
    return differences


def without_value_hashes(lock: Any, value_paths: set[str]) -> Any:
    """The lock with the hashes of `value_paths` entries dropped (they are compared by value)."""
    if isinstance(lock, Mapping):
        if "path" in lock and str(lock["path"]) in value_paths:
            return {k: v for k, v in lock.items() if k in ("path", "hash")}
        return {k: without_value_hashes(v, value_paths) for k, v in lock.items()}
    if isinstance(lock, list):
        return [without_value_hashes(item, value_paths) for item in lock]
    return lock


def diff_lock(committed: str | None, produced: str | None, value_paths: set[str]) -> list[str]:
    """dvc.lock, exactly, except the hashes of the outputs compared by value."""
    if committed is None or produced is None:
        return diff_output(LOCK_FILE, committed, produced)
    try:
        old, new = yaml.safe_load(committed), yaml.safe_load(produced)
    except yaml.YAMLError as error:
        return _named(LOCK_FILE, [f"not valid YAML on one side ({error})"])
    differences = diff_values(
        without_value_hashes(old, value_paths),
        without_value_hashes(new, value_paths),
        "",
        tolerance=0.0,
    )
    return _named(LOCK_FILE, differences)


def diff_csv(committed: str, produced: str, tolerance: float = TOLERANCE) -> list[str]:
    """Two CSV texts: the same header and rows, numeric cells within `tolerance`."""
    old = list(csv.reader(io.StringIO(committed))) or [[]]
    new = list(csv.reader(io.StringIO(produced))) or [[]]
    header, differences = old[0], []
    if header != new[0]:
        return [f"header: committed {header}, produced {new[0]}"]
    if len(old) != len(new):
        differences.append(f"rows: committed {len(old) - 1}, produced {len(new) - 1}")
    for number, (old_row, new_row) in enumerate(zip(old[1:], new[1:], strict=False), start=1):
        for column, old_cell, new_cell in zip(header, old_row, new_row, strict=False):
            if not _cells_match(old_cell, new_cell, tolerance):
                differences.append(
                    f"row {number}, column {column}: committed {old_cell!r}, produced {new_cell!r}"
                )
        if len(old_row) != len(new_row):
            differences.append(
                f"row {number}: committed {len(old_row)} cells, produced {len(new_row)}"
            )
    return differences


def _cells_match(old: str, new: str, tolerance: float) -> bool:
    if old == new:
        return True
    try:
        return _numbers_match(float(old), float(new), tolerance)
    except ValueError:
        return False


def diff_output(path: str, committed: str | None, produced: str | None) -> list[str]:
    """One file kept in git: absent on either side, or different by value (by its suffix)."""
    if committed is None and produced is None:
        return []
    if committed is None:
        return [f"{path}: produced, but not committed"]
    if produced is None:
        return [f"{path}: committed, but the pipeline did not produce it"]
    suffix = PurePosixPath(path).suffix.lower()
    if suffix == ".json":
        try:
            differences = diff_values(json.loads(committed), json.loads(produced), "", TOLERANCE)
        except json.JSONDecodeError as error:
            differences = [f"not valid JSON on one side ({error})"]
    elif suffix == ".csv":
        differences = diff_csv(committed, produced)
    else:
        differences = [] if committed == produced else ["the text differs"]
    return _named(path, differences)


def _named(path: str, differences: list[str]) -> list[str]:
    shown = [f"{path}: {line}" for line in differences[:MAX_REPORTED]]
    hidden = len(differences) - MAX_REPORTED
    return shown + ([f"{path}: ... and {hidden} more difference(s)"] if hidden > 0 else [])


def failure_message(differences: Sequence[str]) -> str:
    """What CI prints when the check fails: every difference, then what to do."""
    lines = [
        "the committed pipeline outputs are not what the pipeline produced:",
        *(f"  {line}" for line in differences),
        "run `make run` and commit dvc.lock and metrics/",
    ]
    return "\n".join(lines)
