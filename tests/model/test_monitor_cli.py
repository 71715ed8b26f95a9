"""`conveyor monitor` on the team's own model, packed as the released one: its held-out test
set is no drop (each recorded metric inside its interval), the same rows with many labels
flipped are a drop named by metric, and a file it cannot judge is refused by name.

Everything is read from params.yaml and the pipeline's outputs: the label column from
`data.target`, the classes from signature.json, the recorded metrics from metrics.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conveyor.config import load_settings
from conveyor.evaluate.registry import METRICS
from conveyor.paths import ProjectPaths
from conveyor.serve.signature import load_signature
from tests.conftest import ROOT, CliResult, run_conveyor


@pytest.fixture(scope="module")
def released(pipeline_outputs: ProjectPaths, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's model as a release would attach it (`conveyor champion pack`)."""
    folder = tmp_path_factory.mktemp("released") / "champion"
    packed = run_conveyor("champion", "pack", "--output", str(folder), "--label", "rel", cwd=ROOT)
    assert packed.code == 0, packed.stderr
    return folder


def _monitor(labelled: Path, model_dir: Path, output: Path) -> CliResult:
    return run_conveyor(
        "monitor", "--labelled", str(labelled), "--model-dir", str(model_dir),
        "--output", str(output), cwd=ROOT,
    )  # fmt: skip


def _run(frame: pd.DataFrame, released: Path, tmp_path: Path) -> tuple[CliResult, Any]:
    labelled = tmp_path / "labelled.parquet"
    frame.to_parquet(labelled)
    result = _monitor(labelled, released, tmp_path / "monitor.json")
    assert result.code in (0, 1), result.stderr
    return result, json.loads((tmp_path / "monitor.json").read_text())


def test_the_held_out_test_set_is_no_drop(
    pipeline_outputs: ProjectPaths, released: Path, tmp_path: Path
) -> None:
    frame = pd.read_parquet(pipeline_outputs.test_data)
    result, document = _run(frame, released, tmp_path)
    assert result.code == 0, result.stdout
    assert document["dropped"] == [] and document["rows"] == len(frame)
    recorded = json.loads((released / "metrics.json").read_text())
    assert set(document["metrics"]) == {name for name in recorded if name in METRICS}
    for name, entry in document["metrics"].items():
        assert entry["at_release"] == recorded[name]
        assert entry["ci_low"] <= recorded[name] <= entry["ci_high"], (name, entry)
    table = (tmp_path / "monitor.md").read_text()
    assert table.startswith("### Performance of rel on `labelled.parquet`")
    assert "0 metric(s) of rel dropped" in result.stdout


def test_many_flipped_labels_are_a_drop_named_by_metric(
    pipeline_outputs: ProjectPaths, released: Path, tmp_path: Path
) -> None:
    target = load_settings(ROOT / "params.yaml").data.target
    first, second = load_signature(released / "signature.json").classes
    frame = pd.read_parquet(pipeline_outputs.test_data)
    flip = np.random.default_rng(0).uniform(size=len(frame)) < 0.4
    labels = frame[target].astype(str)
    frame[target] = labels.where(~flip, labels.map({first: second, second: first}))
    result, document = _run(frame, released, tmp_path)
    assert result.code == 1, result.stdout
    assert {"roc_auc", "accuracy"} <= set(document["dropped"])
    for name in document["dropped"]:
        assert document["metrics"][name]["status"] == "fail"
        assert f"FAIL         {name} " in result.stdout
    assert f"dropped by more than monitor.max_drop {document['max_drop']:g}" in result.stdout
    assert "🔴 fail (dropped)" in (tmp_path / "monitor.md").read_text()


def test_input_it_cannot_judge_is_refused_by_name(
    pipeline_outputs: ProjectPaths, released: Path, tmp_path: Path
) -> None:
    target = load_settings(ROOT / "params.yaml").data.target
    frame = pd.read_parquet(pipeline_outputs.test_data)
    frame.drop(columns=[target]).to_csv(tmp_path / "unlabelled.csv", index=False)
    output = tmp_path / "out.json"
    result = _monitor(tmp_path / "unlabelled.csv", released, output)
    assert result.code == 2, result.stderr
    assert f"lacks column(s) {target} (the label, data.target)" in result.stderr
    absent = tmp_path / "no-champion"
    result = _monitor(tmp_path / "unlabelled.csv", absent, output)
    assert result.code == 2 and str(absent) in result.stderr
    assert "run `conveyor champion fetch` (or `make champion`) first" in result.stderr
    assert not output.exists() and not output.with_suffix(".md").exists()
