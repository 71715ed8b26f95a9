"""`conveyor drift` on the team's own data: its test set does not drift from its training data,
the same rows resampled on one input do, and input it cannot judge is refused by name.

Everything is read from params.yaml and the pipeline's outputs: the inputs and their training
reference from signature.json, the threshold and the minimum rows from `monitor:`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from conveyor.config import load_settings
from conveyor.drift import references
from conveyor.paths import ProjectPaths
from tests.conftest import ROOT, run_conveyor


def _reference(paths: ProjectPaths) -> dict[str, dict[str, object]]:
    return dict(json.loads(paths.signature.read_text())["reference"])


def _shifted(
    frame: pd.DataFrame, reference: dict[str, dict[str, object]]
) -> tuple[pd.DataFrame, str]:
    """The rows resampled on one input: numbers at or above their median (the input with the
    most training bins), else the most frequent category alone."""
    numeric = [n for n, e in reference.items() if e["kind"] == "numeric" and e["bin_edges"]]
    if numeric:
        name = max(numeric, key=lambda n: len(reference[n]["bin_edges"]))  # type: ignore[arg-type]
        values = frame[name].astype(float)
        return frame[values >= values.median()], name
    name = next(iter(reference))
    top = frame[name].astype(str).value_counts().index[0]
    return frame[frame[name].astype(str) == top], name


def _run(batch: pd.DataFrame, tmp_path: Path, name: str = "batch.csv") -> tuple[int, Any]:
    source = tmp_path / name
    batch.to_csv(source, index=False)
    output = tmp_path / "drift.json"
    result = run_conveyor("drift", "--current", str(source), "--output", str(output), cwd=ROOT)
    assert result.code in (0, 1), result.stderr
    return result.code, json.loads(output.read_text())


def test_the_test_set_does_not_drift(pipeline_outputs: ProjectPaths, tmp_path: Path) -> None:
    settings = load_settings(ROOT / "params.yaml")
    frame = pd.read_parquet(pipeline_outputs.test_data)
    if len(frame) < settings.monitor.min_rows:
        pytest.fail(f"the test set has {len(frame)} rows, under monitor.min_rows")
    code, document = _run(frame, tmp_path)
    assert code == 0, document["drifted"]
    assert set(document["features"]) == set(_reference(pipeline_outputs))
    assert (tmp_path / "drift.md").read_text().startswith("### Data drift of `batch.csv`")


def test_rows_resampled_on_one_input_drift(pipeline_outputs: ProjectPaths, tmp_path: Path) -> None:
    settings = load_settings(ROOT / "params.yaml")
    reference = _reference(pipeline_outputs)
    shifted, name = _shifted(pd.read_parquet(pipeline_outputs.test_data), reference)
    code, document = _run(shifted, tmp_path)
    moved = document["features"][name]["psi"]
    others = [e["psi"] for n, e in document["features"].items() if n != name]
    assert moved > max(others, default=0.0)
    assert moved > settings.monitor.psi_threshold, (name, moved)
    assert code == 1 and name in document["drifted"]
    assert "🔴 drifted" in (tmp_path / "drift.md").read_text()


def test_input_it_cannot_judge_is_refused_by_name(
    pipeline_outputs: ProjectPaths, tmp_path: Path
) -> None:
    settings = load_settings(ROOT / "params.yaml")
    frame = pd.read_parquet(pipeline_outputs.test_data)
    first = next(iter(references(_reference(pipeline_outputs))))
    cases = {
        "missing.csv": (frame.drop(columns=[first]), f"lacks the model's input column(s) {first}"),
        "few.csv": (frame.head(settings.monitor.min_rows - 1), "drift is judged on at least"),
    }
    for name, (batch, message) in cases.items():
        batch.to_csv(tmp_path / name, index=False)
        result = run_conveyor("drift", "--current", str(tmp_path / name),
                              "--output", str(tmp_path / "out.json"), cwd=ROOT)  # fmt: skip
        assert result.code == 2, (name, result.stderr)
        assert message in result.stderr, name
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    result = run_conveyor("drift", "--current", str(tmp_path / "bad.parquet"), cwd=ROOT)
    assert result.code == 2 and "cannot be read as CSV or Parquet" in result.stderr
    assert not (tmp_path / "out.json").exists(), "a refused batch writes nothing"
