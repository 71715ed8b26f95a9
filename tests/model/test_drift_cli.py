"""`conveyor drift` on the team's own data: its test set does not drift from its training data,
and input it cannot judge is refused by name. And `conveyor simulate`, the demo's batch maker:
its covariate shift on one input drifts that input most (its control, `--kind none`, and its
refusals are unit tests: tests/unit/test_simulate.py).

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


def _run(batch: pd.DataFrame, tmp_path: Path, name: str = "batch.csv") -> tuple[int, Any]:
    source = tmp_path / name
    batch.to_csv(source, index=False)
    return _judge(source, tmp_path)


def _judge(source: Path, tmp_path: Path) -> tuple[int, Any]:
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
    assert document["two_sample"]["skipped"] is None, "the pipeline's training data is there"
    assert all(e["p_value"] is not None for e in document["features"].values())
    prediction = document["prediction"]  # scored by the model, as the server scores
    assert prediction["skipped"] is None
    assert prediction["psi"] < settings.monitor.psi_threshold
    assert prediction["reference_positive_rate"] is not None
    assert (tmp_path / "drift.md").read_text().startswith("### Data drift of `batch.csv`")


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


def _simulated(kind: str, tmp_path: Path, *options: str) -> Path:
    output = tmp_path / f"{kind}.csv"
    result = run_conveyor("simulate", "--kind", kind, *options, "--output", str(output), cwd=ROOT)
    assert result.code == 0, result.stderr
    return output


def test_a_simulated_covariate_shift_drifts_the_shifted_input_most(
    pipeline_outputs: ProjectPaths, tmp_path: Path
) -> None:
    """The first numeric input the signature names (with training bins: an input without
    any has a single bucket, which no shift can move)."""
    settings = load_settings(ROOT / "params.yaml")
    signature = json.loads(pipeline_outputs.signature.read_text())
    reference = signature["reference"]
    name = next(
        i["name"] for i in signature["inputs"]
        if i["type"] == "number" and reference[i["name"]]["bin_edges"]
    )  # fmt: skip
    code, document = _judge(_simulated("covariate", tmp_path, "--column", name), tmp_path)
    assert code == 1 and name in document["drifted"], document["features"][name]
    moved = document["features"][name]
    assert moved["psi"] == max(e["psi"] for e in document["features"].values())
    assert moved["p_value"] < settings.monitor.p_value
    columns = set(pd.read_csv(tmp_path / "covariate.csv", nrows=1).columns)
    assert columns == {*settings.data.model_features, settings.data.target}
