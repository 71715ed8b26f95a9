"""Scoring a table as the server scores requests, on the hand-written two-input model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conveyor.scoring import ScoringError, score
from tests.serve.tiny_model import positive_probability, write_model_files


def test_rows_score_as_the_graph_computes_them(tmp_path: Path) -> None:
    files = write_model_files(tmp_path)
    frame = pd.DataFrame(
        {
            "tenure": pd.array([12.0, None, 3.5], dtype="Float32"),
            "plan": pd.array(["basic", None, " plus "], dtype="string"),
            "unused": [1, 2, 3],  # the table may hold more than the model reads
        }
    )
    scores = score(files.model, files.signature, frame)
    expected = [positive_probability(12.0, "basic"), positive_probability(None, None),
                positive_probability(3.5, "plus")]  # fmt: skip
    np.testing.assert_allclose(scores, expected, rtol=1e-6)


def test_a_missing_input_column_is_named(tmp_path: Path) -> None:
    files = write_model_files(tmp_path)
    with pytest.raises(ScoringError, match=r"needs input column\(s\) plan, which this data"):
        score(files.model, files.signature, pd.DataFrame({"tenure": [1.0]}))


def test_a_column_of_another_type_is_named(tmp_path: Path) -> None:
    """A team that turned a number into a category: the champion cannot take it."""
    files = write_model_files(tmp_path)
    frame = pd.DataFrame({"tenure": ["long"], "plan": ["basic"]})
    with pytest.raises(ScoringError, match="record 0: field tenure must be a number or null"):
        score(files.model, files.signature, frame)


def test_an_unreadable_model_is_named(tmp_path: Path) -> None:
    files = write_model_files(tmp_path)
    files.model.write_bytes(b"not onnx")
    with pytest.raises(ScoringError, match="cannot be loaded"):
        score(files.model, files.signature, pd.DataFrame({"tenure": [1.0], "plan": ["x"]}))


def test_compare_skips_a_champion_that_cannot_read_this_data(tmp_path: Path) -> None:
    """The team renamed a column the champion reads: nothing is judged, the reason is
    written for the report, and no margin blocks (the fixed bounds still apply)."""
    import json

    from conveyor.challenge import run_comparison
    from conveyor.paths import ProjectPaths
    from tests.conftest import churn_frame
    from tests.unit.verdicts import settings

    paths = ProjectPaths(tmp_path)
    paths.prepared_dir.mkdir(parents=True)
    frame = churn_frame(50).assign(record_id=[f"{i:016x}" for i in range(50)])
    frame.to_parquet(paths.test_data)
    write_model_files(tmp_path / "champion")
    margins = {"champion": {"overall": {"roc_auc": {"max_drop": 0.0}}}}
    document, verdict = run_comparison(
        settings(margins), paths, tmp_path / "champion", paths.comparison
    )
    assert document["skipped"] == (
        "the champion cannot score this branch's test set: the model "
        f"{tmp_path / 'champion' / 'model.onnx'} needs input column(s) tenure, which this "
        "data does not have"
    )
    assert not verdict.gates and not verdict.blocked
    assert json.loads(paths.comparison.read_text())["skipped"] == document["skipped"]
