"""The model's provenance is a function of the export stage's inputs only: its data, the params
DVC tracks for it, and the code it imports. No commit, so `dvc.lock` does not churn."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from conveyor.config import parse_settings
from conveyor.provenance import (
    SOURCE_ROOT,
    code_sha256,
    params_sha256,
    stage_code,
    tracked_values,
)
from conveyor.stages import export as export_stage
from tests.conftest import ROOT, churn_params


def _export_stage() -> dict[str, Any]:
    stage: dict[str, Any] = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["export"]
    return stage


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_closure_follows_imports_inside_functions_and_skips_the_rest(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "conveyor/__init__.py": "",
            "conveyor/stage.py": "def run():\n    from conveyor.core import work\n",
            "conveyor/core.py": "import os\nimport conveyor.util\n",
            "conveyor/util.py": "",
            "conveyor/unused.py": "",
        },
    )
    files = {p.relative_to(root).as_posix() for p in stage_code("conveyor.stage", root)}
    assert files == {
        "conveyor/__init__.py",
        "conveyor/stage.py",
        "conveyor/core.py",
        "conveyor/util.py",
    }


def test_the_code_hash_is_what_sha256sum_prints_hashed(tmp_path: Path) -> None:
    root = _package(tmp_path, {"conveyor/b.py": "b\n", "conveyor/a.py": "a\n"})
    files = list((root / "conveyor").glob("*.py"))
    listing = "".join(
        f"{hashlib.sha256(text.encode()).hexdigest()}  conveyor/{name}\n"
        for name, text in (("a.py", "a\n"), ("b.py", "b\n"))
    )
    assert code_sha256(files, root) == hashlib.sha256(listing.encode()).hexdigest()
    assert code_sha256(reversed(files), root) == code_sha256(files, root)
    (root / "conveyor" / "b.py").write_text("b changed\n")
    assert code_sha256(files, root) != hashlib.sha256(listing.encode()).hexdigest()


def test_the_code_hash_covers_exactly_the_code_dvc_tracks_for_export() -> None:
    tracked = {
        SOURCE_ROOT.parent / dep for dep in _export_stage()["deps"] if dep.startswith("src/")
    }
    assert stage_code(export_stage.__name__) == tracked


def test_the_params_hash_covers_exactly_the_params_dvc_tracks_for_export() -> None:
    assert list(export_stage.TRACKED_PARAMS) == _export_stage()["params"]


def _params_hash(edit: tuple[str, Any] | None = None) -> str:
    params = churn_params()
    if edit:
        section, key = edit[0].split(".")
        params[section][key] = edit[1]
    return export_stage.provenance(parse_settings(params), "d" * 64)["params_sha256"]


@pytest.mark.parametrize(
    ("tracked", "value"),
    [("model.threshold", 0.4), ("model.estimator", "random_forest"), ("data.deduplicate", False)],
)
def test_a_tracked_setting_changes_the_params_hash(tracked: str, value: Any) -> None:
    assert _params_hash((tracked, value)) != _params_hash()


@pytest.mark.parametrize(("untracked", "value"), [("model.seed", 9), ("split.seed", 9)])
def test_a_setting_export_does_not_track_leaves_the_params_hash(untracked: str, value: Any) -> None:
    assert _params_hash((untracked, value)) == _params_hash()


def test_the_params_hash_is_canonical_json() -> None:
    values = {"b": [1, 2], "a": {"y": 0.5, "x": "é"}}
    canonical = '{"a":{"x":"\\u00e9","y":0.5},"b":[1,2]}'
    assert params_sha256(values) == hashlib.sha256(canonical.encode()).hexdigest()
    assert params_sha256(dict(reversed(values.items()))) == params_sha256(values)
    assert tracked_values({"m": {"t": 0.5, "s": 1}, "d": [1]}, ["m.t", "d"]) == {
        "m.t": 0.5,
        "d": [1],
    }


def test_provenance_holds_hashes_and_no_commit() -> None:
    provenance = export_stage.provenance(parse_settings(churn_params()), "d" * 64)
    assert set(provenance) == {"data_sha256", "params_sha256", "code_sha256"}
    assert all(len(value) == 64 for value in provenance.values())
